#!/usr/bin/python3
"""Rig files and --rig through the real daemon: a good file configures the
rig (names, gains, period; returned by the rig API); a bad one (a gain of
zero, an absurd current limit, an unknown backend, a missing comedi device)
stops the daemon before it starts, with the field and the reason.

Usage: rig_file_test.py --bin build/bin
"""
import os
import subprocess
import tempfile
import time
import unittest

import test_main

BIN = None

GOOD = """
backend: sim
period_us: 40
sim_cells: [hh, passive]
channels:
  - name: pyramidal
    input: {channel: 0, range: 0}
    output: {channel: 0}
    input_gain_mv_per_v: 100
    output_gain_pa_per_v: 400
    current_limit_pa: 2000
  - name: interneuron
    input: {channel: 1}
    output: {channel: 1}
    input_gain_mv_per_v: 50
    output_gain_pa_per_v: 2000
    current_limit_pa: 5000
"""


def start(*flags, wait=True):
    d = tempfile.mkdtemp(prefix="dynclamp_rig_")
    proc = subprocess.Popen(
        [os.path.join(BIN, "dynclampd"), "--listen=127.0.0.1:0",
         "--metrics_listen=127.0.0.1:0", f"--port_file={d}/port",
         f"--data_dir={d}/data", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return d, proc


class RigFileTest(unittest.TestCase):
    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        f.write(text)
        f.close()
        return f.name

    def refused(self, *flags):
        d, proc = start(*flags)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.fail("the daemon started")
        self.assertNotEqual(proc.returncode, 0)
        self.assertFalse(os.path.exists(f"{d}/port") and os.path.getsize(f"{d}/port"),
                         "the daemon listened")
        return err

    def test_a_good_rig_file_configures_the_rig(self):
        d, proc = start(f"--rig_file={self.write(GOOD)}")
        try:
            for _ in range(100):
                if os.path.exists(f"{d}/port") and os.path.getsize(f"{d}/port"):
                    break
                time.sleep(0.05)
            with open(f"{d}/port") as f:
                server = f"127.0.0.1:{f.read().strip()}"
            out = subprocess.run([os.path.join(BIN, "dynclamp"), f"--server={server}",
                                  "status"], capture_output=True, text=True).stdout
            self.assertIn("period: 40.0 us", out)
            self.assertIn("pyramidal in 100 mV/V  out 400 pA/V  limit 2000 pA", out)
            self.assertIn("interneuron in 50 mV/V  out 2000 pA/V  limit 5000 pA", out)
            self.assertIn("(hh, passive)", out)
        finally:
            proc.terminate()
            proc.communicate(timeout=20)

    def test_bad_rig_files_stop_the_daemon_with_the_field(self):
        cases = [
            (GOOD.replace("output_gain_pa_per_v: 2000", "output_gain_pa_per_v: 0"),
             "channels[1].output_gain_pa_per_v: must be > 0"),
            (GOOD.replace("current_limit_pa: 5000", "current_limit_pa: 5e9"),
             "channels[1].current_limit_pa: must be in (0, 100000] pA"),
            (GOOD.replace("backend: sim", "backend: ni"),
             "backend: 'sim' or 'comedi', got 'ni'"),
            (GOOD.replace("backend: sim", "backend: comedi\ndevice: /dev/comedi9"),
             "device '/dev/comedi9'"),
            (GOOD.replace("period_us: 40", "period_us: 1"),
             "period_us: must be in [5, 10000] us"),
            (GOOD + "\nbogus: 1\n", "bogus"),
        ]
        for text, expected in cases:
            err = self.refused(f"--rig_file={self.write(text)}")
            self.assertIn(expected, err)

    def test_the_example_rig_file_is_valid_up_to_the_board(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.path.join(root, "examples", "rigs", "multiclamp_two_cells.yaml")
        if os.path.exists("/dev/comedi0"):
            self.skipTest("a board is present")
        err = self.refused(f"--rig_file={path}")
        # Everything in the file is valid: only the board is missing.
        self.assertIn("device '/dev/comedi0'", err)
        self.assertNotIn("channels[", err)

    def test_a_missing_comedi_device_is_refused(self):
        err = self.refused("--rig=comedi:/dev/comedi9")
        self.assertIn("device '/dev/comedi9'", err)
        self.assertIn("docs/rig-setup.md", err)


if __name__ == "__main__":
    test_main.main(["bin"], [globals()])
