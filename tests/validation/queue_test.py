#!/usr/bin/python3
"""The overnight queue through the daemon and the CLI.

  - the queue survives kill -9 of the daemon in the middle of an item: after
    a restart the item is in the history as INTERRUPTED with its NWB file,
    which h5py reads (with the sweeps recorded before the kill), the rest of
    the queue is intact and waits for a start;
  - adding twice with the same request id adds once;
  - a second operator is refused while the lock is held, and can still
    watch; nothing changes.

Usage: queue_test.py --bin build/bin
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
import unittest

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, write  # noqa: E402
import protocol_run_test  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

LONG = """
name: long_steps
interval_s: 0.05
repetitions: 20
sweeps:
  - stimuli:
      - cell: cell0
        epochs:
          - {duration_s: 0.05, hold: {value: 0}}
          - {duration_s: 0.2, hold: {value: 300}}
"""
SHORT = """
name: short
sweeps:
  - stimuli:
      - cell: cell0
        epochs:
          - {duration_s: 0.02, hold: {value: 50}}
"""


def cli(daemon, *args, operator="tester"):
    return daemon.cli(f"--operator={operator}", *args)


class QueueTest(unittest.TestCase):
    def test_queue_survives_kill_9_in_the_middle_of_an_item(self):
        d = Daemon("--sim_cells=hh,passive")
        long_path = write(os.path.join(d.dir, "long.yaml"), LONG)
        short_path = write(os.path.join(d.dir, "short.yaml"), SHORT)
        for p in (long_path, short_path, short_path):
            out = cli(d, "queue", "add", p)
            self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(cli(d, "queue", "start").returncode, 0)
        # Wait until the long item has recorded a few sweeps.
        deadline = time.time() + 30
        while time.time() < deadline:
            status = cli(d, "queue", "status").stdout
            m = re.search(r"sweep (\d+) of", status)
            if m and int(m.group(1)) >= 3:
                break
            time.sleep(0.1)
        else:
            self.fail(f"the long item did not get going: {status}")
        time.sleep(0.7)  # past a flush of the file
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        d.proc.stderr.close()

        # Restart on the same data directory.
        d2 = Daemon.__new__(Daemon)
        d2.dir, d2.data = d.dir, d.data
        port_file = os.path.join(d.dir, "port2")
        d2.proc = subprocess.Popen(
            [os.path.join(protocol_run_test.BIN, "dynclampd"),
             "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", f"--port_file={port_file}",
             f"--data_dir={d.data}", "--sim_cells=hh,passive"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(200):
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            time.sleep(0.05)
        with open(port_file) as f:
            d2.server = f"127.0.0.1:{f.read().strip()}"
        try:
            history = cli(d2, "history").stdout
            self.assertRegex(history, r"long_steps\s+INTERRUPTED", history)
            path = re.search(r"(\S+long_steps\.nwb)", history).group(1)
            listing = cli(d2, "queue", "list").stdout
            self.assertIn("queue: STOPPED, 2 waiting", listing)
            self.assertEqual(listing.count("short"), 2, listing)
            # The file of the interrupted item reads, with whole sweeps.
            with h5py.File(path, "r") as f:
                sweeps = [n for n in f["acquisition"] if n.startswith("cell0_sweep_")]
                self.assertGreaterEqual(len(sweeps), 3)
                first = f["acquisition"][sorted(sweeps)[0]]["data"]
                self.assertEqual(first.shape[0], 5000)  # 0.25 s at 20 kHz
            check = subprocess.run(
                ["/usr/bin/python3", os.path.join(HERE, "check_nwb.py"), path],
                capture_output=True, text=True)
            # The tables written before the kill hold whole sweeps only; the
            # sweep being written may be missing from them: structure only.
            self.assertNotIn("Traceback", check.stdout + check.stderr,
                             check.stdout + check.stderr)
            # The rest of the queue still runs.
            self.assertEqual(cli(d2, "queue", "start").returncode, 0)
            deadline = time.time() + 20
            while time.time() < deadline:
                if "queue: RUNNING, 0 waiting" in cli(d2, "queue", "status").stdout \
                        and cli(d2, "history").stdout.count("COMPLETED") == 2:
                    break
                time.sleep(0.2)
            self.assertEqual(cli(d2, "history").stdout.count("COMPLETED"), 2,
                             cli(d2, "history").stdout)
        finally:
            d2.stop()

    def test_a_failing_item_is_recorded_and_the_queue_goes_on(self):
        for policy, runs_next in (("continue", True), ("stop", False)):
            d = Daemon("--sim_cells=hh,passive", f"--queue_on_failure={policy}")
            try:
                bad = write(os.path.join(d.dir, "bad.yaml"),
                            SHORT.replace("cell: cell0", "cell: cell9"))
                good = write(os.path.join(d.dir, "short.yaml"), SHORT)
                for p in (bad, good):
                    self.assertEqual(cli(d, "queue", "add", p).returncode, 0)
                self.assertEqual(cli(d, "queue", "start").returncode, 0)
                deadline = time.time() + 10
                while time.time() < deadline:
                    history = cli(d, "history").stdout
                    if "FAILED" in history and (not runs_next or "COMPLETED" in history):
                        break
                    time.sleep(0.1)
                time.sleep(0.5)
                history = cli(d, "history").stdout
                self.assertRegex(history, r"short\s+FAILED.*'cell9' is not a recorded cell",
                                 history)
                self.assertEqual("COMPLETED" in history, runs_next, policy + history)
                if not runs_next:
                    self.assertIn("queue: STOPPED, 1 waiting",
                                  cli(d, "queue", "status").stdout)
            finally:
                d.stop()

    def test_same_request_id_adds_once(self):
        d = Daemon("--sim_cells=hh,passive")
        try:
            p = write(os.path.join(d.dir, "short.yaml"), SHORT)
            a = cli(d, "queue", "add", p, "--request-id", "night-1")
            b = cli(d, "queue", "add", p, "--request-id", "night-1")
            c = cli(d, "queue", "add", p, "--request-id", "night-2")
            ids = [re.search(r"item (\d+)", o.stdout).group(1) for o in (a, b, c)]
            self.assertEqual(ids[0], ids[1])
            self.assertNotEqual(ids[0], ids[2])
            self.assertIn("2 waiting", cli(d, "queue", "list").stdout)
        finally:
            d.stop()

    def test_a_second_operator_is_refused_but_can_watch(self):
        d = Daemon("--sim_cells=hh,passive")
        try:
            p = write(os.path.join(d.dir, "short.yaml"), SHORT)
            self.assertEqual(cli(d, "lock", "acquire", operator="alice").returncode, 0)
            for args in (("queue", "add", p), ("queue", "start"), ("run", p),
                         ("start",), ("lock", "release")):
                out = cli(d, *args, operator="bob")
                self.assertNotEqual(out.returncode, 0, args)
                self.assertRegex(out.stderr, "locked by 'alice'|held by 'alice'",
                                 args)
            # Bob can watch.
            self.assertEqual(cli(d, "status", operator="bob").returncode, 0)
            self.assertIn("0 waiting", cli(d, "queue", "list", operator="bob").stdout)
            # Alice can act, and release.
            self.assertEqual(cli(d, "queue", "add", p, operator="alice").returncode, 0)
            self.assertEqual(cli(d, "lock", "release", operator="alice").returncode, 0)
            self.assertEqual(cli(d, "queue", "add", p, operator="bob").returncode, 0)
            self.assertIn("2 waiting", cli(d, "queue", "list").stdout)
        finally:
            d.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    args, rest = ap.parse_known_args()
    protocol_run_test.BIN = os.path.abspath(args.bin)
    unittest.main(argv=[sys.argv[0], *rest])
