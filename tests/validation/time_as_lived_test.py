#!/usr/bin/python3
"""Time as lived: what the cell lived and when each sample was taken.

  - on the simulated rig's nominal clock, with the loop forced to overrun by
    a slow simulated board, the README's quick start (scripts/run_sim.sh, run
    as it is) still runs 40 000 cycles for its 2 s at 20 kHz, streams 400
    samples at 1/100, and prints the right three values: rest, V under 20 nS
    of GABA at -75 mV as the conductances predict, and back to rest within
    0.1 mV after washout (the GABA switch-off at 1.5 s happens), and writes
    its plot (a PNG, this run's);
  - on the wall clock, where a late loop skips deadlines, a recorded sweep
    still spans its duration in samples, the skipped cycles are NaN in the
    file, and a stream counts them as skipped (not lost): samples received
    plus cycles skipped make the run's duration.

Usage: time_as_lived_test.py --bin build/bin --source .
"""
import os
import re
import subprocess
import sys
import time
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, run_protocol  # noqa: E402
import protocol_run_test  # noqa: E402

SOURCE = None
# A slow simulated board: each input read busy-waits U(0, j) us of real time.
# At a 50 us period, j = 150 keeps the loop behind for most of the run.
SLOW_BOARD_US = 150


class QuickStartTest(unittest.TestCase):
    def run_quick_start(self, *daemon_flags):
        self.started = time.time() - 1
        env = dict(os.environ, DYNCLAMP_NO_SETUP="1",
                   DYNCLAMP_BIN_DIR=protocol_run_test.BIN,
                   DYNCLAMPD_FLAGS=" ".join(daemon_flags))
        out = subprocess.run(["bash", os.path.join(SOURCE, "scripts/run_sim.sh")],
                             cwd=SOURCE, env=env, capture_output=True, text=True,
                             timeout=240)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout

    def check(self, out):
        cycles = int(re.search(r"cycles (\d+)", out).group(1))
        self.assertEqual(cycles, 40_000, out)
        rows = re.findall(r"t=\s*([\d.]+) s\s+V=\s*(-?[\d.]+) mV", out)
        self.assertEqual(len(rows), 20, out)  # every 100 ms of the 2 s
        rest = float(re.search(r"rest before GABA:\s+(-?[\d.]+)", out).group(1))
        gaba, want = map(float, re.search(
            r"with 20 nS GABA at -75 mV: (-?[\d.]+) mV .* = (-?[\d.]+) mV",
            out).groups())
        after = float(re.search(r"after washout:\s+(-?[\d.]+)", out).group(1))
        self.assertAlmostEqual(rest, -65.0, delta=0.1, msg=out)
        self.assertAlmostEqual(gaba, want, delta=0.05, msg=out)
        self.assertAlmostEqual(after, rest, delta=0.1, msg=out)
        # And a picture of it, written by this run.
        plot = re.search(r"^plot: (.*\.png)$", out, re.M).group(1)
        with open(plot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getmtime(plot), self.started)
        self.assertGreater(os.path.getsize(plot), 10_000)

    def test_quick_start(self):
        self.check(self.run_quick_start())

    def test_quick_start_on_a_slow_board(self):
        out = self.run_quick_start(f"--sim_io_jitter_us={SLOW_BOARD_US}")
        overruns = int(re.search(r"overruns (\d+)", out).group(1))
        self.assertGreater(overruns, 1000, "the board did slow the loop:\n" + out)
        self.assertIn("skipped 0", out)
        self.check(out)


PROTOCOL = """
name: half_second
sweeps:
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.5, hold: {value: 50}}]
"""


class WallClockTest(unittest.TestCase):
    def test_skipped_cycles_are_marked_in_files_and_streams(self):
        d = Daemon("--sim_cells=passive", "--sim_clock=wall",
                   f"--sim_io_jitter_us={2 * SLOW_BOARD_US}")
        try:
            path, out = run_protocol(d, PROTOCOL)
            skipped_run = int(re.search(r"skipped (\d+)", out).group(1))
            self.assertGreater(skipped_run, 100, out)
            with h5py.File(path, "r") as f:
                data = f["acquisition/cell0_sweep_0001/data"][:]
            # The sweep spans its 0.5 s in samples; the skipped ones are NaN.
            self.assertEqual(len(data), 10_000)
            missing = int(np.count_nonzero(np.isnan(data)))
            self.assertGreater(missing, 100)
            self.assertLessEqual(missing, skipped_run)

            stream = subprocess.Popen(
                [os.path.join(protocol_run_test.BIN, "dynclamp"),
                 f"--server={d.server}", "stream", "--signals", "cell0.v_mv",
                 "--duration", "8", "-o", os.path.join(d.dir, "s.csv")],
                stderr=subprocess.PIPE, text=True)
            time.sleep(1.0)
            run = d.cli("start", "--duration", "1", "--wait")
            self.assertEqual(run.returncode, 0, run.stderr)
            _, err = stream.communicate(timeout=30)
            m = re.search(r"(\d+) samples, (\d+) lost, (\d+) skipped by the loop",
                          err)
            self.assertIsNotNone(m, err)
            samples, lost, skipped = map(int, m.groups())
            self.assertEqual(lost, 0, err + run.stdout)
            self.assertGreater(skipped, 100, err)
            # Every slot of the 1 s is a sample or a skipped cycle (the loop
            # may end on a skip, which no later sample reports).
            self.assertLessEqual(samples + skipped, 20_000)
            self.assertGreater(samples + skipped, 19_900, err)
            t = np.loadtxt(os.path.join(d.dir, "s.csv"), delimiter=",",
                           skiprows=1)[:, 0]
            steps = np.round(np.diff(t) / 50e-6).astype(int)
            self.assertTrue(np.all(steps >= 1))
            self.assertEqual(int(np.sum(steps - 1)), skipped,
                             "the gaps in t_s are the skipped cycles")
        finally:
            d.stop()


if __name__ == "__main__":
    protocol_run_test.main(globals(), "source")
