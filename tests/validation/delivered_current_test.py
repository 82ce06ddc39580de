#!/usr/bin/python3
"""What is recorded is the current the cell received.

  - a 5000 pA hold on the simulated passive cell (10 nS, -65 mV) with the
    default 2000 pA limit delivers 2000 pA: the cell settles at
    -65 + 2000 pA / 10 nS = +135 mV, the file's stimulus says 2000 pA (to
    the DAC's step), and every sample of the hold counts as clipped in the
    sweep's QC, the file and the run's summary;
  - a current limit beyond what the output can reach (its +-10 V DAC at
    20 nA/V: 200 nA) stops the daemon at start with both numbers.

Usage: delivered_current_test.py --bin build/bin
"""
import os
import subprocess
import sys
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, run_protocol  # noqa: E402
import protocol_run_test  # noqa: E402

HOLD = """
name: big_hold
sweeps:
  - stimuli:
      - cell: cell0
        epochs:
          - {duration_s: 0.05, hold: {value: 0}}
          - {duration_s: 0.3, hold: {value: 5000}}
"""


class DeliveredCurrentTest(unittest.TestCase):
    def test_a_hold_beyond_the_limit_is_recorded_as_delivered_and_clipped(self):
        d = Daemon("--sim_cells=passive", "--sim_noise_mv=0")
        try:
            path, out = run_protocol(d, HOLD)
            samples = int(0.3 * 20000)
            self.assertRegex(out, rf"clipped {samples}\b")  # run summary
            self.assertRegex(out, rf"sweep +1 .*clipped {samples}\b")  # sweep QC
            with h5py.File(path, "r") as f:
                i = f["stimulus/presentation/cell0_stimulus_sweep_0001/data"]
                pa = i[:] * i.attrs["conversion"] * 1e12
                v = f["acquisition/cell0_sweep_0001/data"]
                mv = v[:] * v.attrs["conversion"] * 1e3
                qc = f["processing/dynamic_clamp/sweep_timing"]
                self.assertEqual(int(qc["clipped_outputs"][0]), samples)
            step = 20.0 / 2**20 * 20000  # one DAC code, pA
            hold = pa[1000 + 10:]
            np.testing.assert_allclose(hold, 2000.0, atol=step)
            self.assertLess(abs(float(np.mean(mv[-200:])) - 135.0), 0.5,
                            f"V at the end of the hold: {np.mean(mv[-200:]):.2f} mV")
        finally:
            d.stop()

    def test_a_limit_beyond_the_outputs_reach_is_refused(self):
        out = subprocess.run(
            [os.path.join(protocol_run_test.BIN, "dynclampd"), "--listen=127.0.0.1:0",
             "--metrics_listen=", "--current_limit_pa=300000"],
            capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("channels[0].current_limit_pa: 300000 pA is beyond what the "
                      "output can deliver", out.stderr)
        self.assertIn("at most 200000 pA", out.stderr)


if __name__ == "__main__":
    protocol_run_test.main(globals())
