#!/usr/bin/python3
"""A run's figures are that run's.

  - stopped in its second sweep, a protocol run reports 1 sweep completed
    (not 0), and the next run records only its own sweeps, each of its
    exact length (no leftover sweep of the stopped protocol in its file);
  - a run with an empty spec loaded gets no fidelity warning (there is no
    conductance to distort), and `dynclamp run --wait` does not wait for a
    replay that will not come.

Usage: run_figures_test.py --bin build/bin
"""
import os
import sys
import time
import unittest

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, run_protocol, write  # noqa: E402
import protocol_run_test  # noqa: E402

SLOW = """
name: slow
interval_s: 0.05
sweeps:
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.4, hold: {value: 30}}]
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.4, hold: {value: 60}}]
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.4, hold: {value: 90}}]
"""
SHORT = """
name: short
sweeps:
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.05, hold: {value: 10}}]
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.05, hold: {value: 20}}]
"""


class RunFiguresTest(unittest.TestCase):
    def test_a_stop_keeps_the_count_and_leaves_nothing_to_the_next_run(self):
        d = Daemon("--sim_cells=passive")
        try:
            slow = write(os.path.join(d.dir, "slow.yaml"), SLOW)
            for attempt in range(5):  # a stop inside sweep 2, several times
                out = d.cli("run", slow)
                self.assertEqual(out.returncode, 0, out.stderr)
                deadline = time.time() + 20
                while time.time() < deadline:
                    status = d.cli("status").stdout
                    if "protocol slow: 1 of 3 sweeps completed" in status:
                        break
                    time.sleep(0.01)
                # Inside the second sweep (0.45 to 0.85 s into the run).
                time.sleep(0.1)
                self.assertEqual(d.cli("stop").returncode, 0)
                status = d.cli("status").stdout
                self.assertRegex(status, r"protocol slow: 1 of 3 sweeps completed", status)
                path, out = run_protocol(d, SHORT)
                with h5py.File(path, "r") as f:
                    names = sorted(n for n in f["acquisition"] if n.startswith("cell0_"))
                    self.assertEqual(names, ["cell0_sweep_0001", "cell0_sweep_0002"], out)
                    for n in names:
                        self.assertEqual(len(f["acquisition"][n]["data"]), 1000, n)
                    qc = f["processing/dynamic_clamp/sweep_timing"]
                    self.assertEqual(list(qc["protocol_sweep"][:]), [0, 1])
        finally:
            d.stop()

    def test_no_conductance_no_warning(self):
        d = Daemon("--sim_cells=passive")
        try:
            empty = write(os.path.join(d.dir, "empty.yaml"), "{}\n")
            self.assertEqual(d.cli("load", empty).returncode, 0)
            t0 = time.time()
            _, out = run_protocol(d, SHORT)
            self.assertLess(time.time() - t0, 8, "waited for a replay")
            self.assertNotIn("WARNING", out)
            self.assertNotIn("fidelity", out)
        finally:
            d.stop()


if __name__ == "__main__":
    protocol_run_test.main(globals())
