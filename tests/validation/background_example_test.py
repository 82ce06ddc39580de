#!/usr/bin/python3
"""examples/invivo_background.yaml does what its comments say, through the
daemon and the CLI on the rig it names (dynclampd --sim_cells=ca1@500):

  - with the background the CA1 cell fires about 40 spikes in 2 s, and the
    conductances it delivers are never negative (rectified OU processes);
  - the "compare" step (means and SDs set to 0, live) switches it off: no
    conductance, and the cell fires about 170 spikes in 2 s.

Usage: background_example_test.py --bin build/bin --examples examples
"""
import os
import subprocess
import sys
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, example_rig  # noqa: E402
import protocol_run_test  # noqa: E402

EXAMPLES = None


def spikes(v_mv):
    return int(np.count_nonzero((v_mv[1:] >= 0) & (v_mv[:-1] < 0)))


class BackgroundExampleTest(unittest.TestCase):
    def stream_run(self, d, name):
        """Runs 2 s while streaming; returns V, ge and gi (40 000 samples)."""
        path = os.path.join(d.dir, name)
        stream = subprocess.Popen(
            [os.path.join(protocol_run_test.BIN, "dynclamp"),
             f"--server={d.server}", "stream",
             "--signals", "cell0.v_mv,bg.ge_ns,bg.gi_ns",
             "--samples", "40000", "--duration", "60", "-o", path],
            stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        out = d.cli("start", "--duration", "2", "--wait")
        self.assertEqual(out.returncode, 0, out.stderr)
        _, err = stream.communicate(timeout=60)
        self.assertEqual(stream.returncode, 0, err)
        data = np.loadtxt(path, delimiter=",", skiprows=1)
        self.assertEqual(data.shape, (40_000, 4), err)
        return data[:, 1], data[:, 2], data[:, 3]

    def test_with_and_without_the_background(self):
        path = os.path.join(EXAMPLES, "invivo_background.yaml")
        d = Daemon(*example_rig(path))
        try:
            out = d.cli("load", path)
            self.assertEqual(out.returncode, 0, out.stderr)
            v, ge, gi = self.stream_run(d, "with.csv")
            n_with = spikes(v)
            print(f"with the background: {n_with} spikes in 2 s; ge mean "
                  f"{ge.mean():.2f} nS (min {ge.min():.2f}), gi mean "
                  f"{gi.mean():.2f} nS (min {gi.min():.2f})")
            self.assertGreaterEqual(ge.min(), 0.0)
            self.assertGreaterEqual(gi.min(), 0.0)
            self.assertAlmostEqual(ge.mean(), 12.05, delta=1.5)
            self.assertAlmostEqual(gi.mean(), 78.0, delta=6.0)
            self.assertTrue(30 <= n_with <= 50, n_with)

            for p in ("ge0_ns", "sigma_e_ns", "gi0_ns", "sigma_i_ns"):
                out = d.cli("set", f"bg.{p}", "0")
                self.assertEqual(out.returncode, 0, out.stderr)
            v, ge, gi = self.stream_run(d, "without.csv")
            n_without = spikes(v)
            print(f"without: {n_without} spikes in 2 s; ge max "
                  f"{ge[6000:].max():.2g} nS, gi max {gi[6000:].max():.2g} nS")
            # Off within a few tau (10.5 ms): under 1e-6 nS after 300 ms.
            self.assertLess(ge[6000:].max(), 1e-6)
            self.assertLess(gi[6000:].max(), 1e-6)
            self.assertTrue(140 <= n_without <= 200, n_without)
        finally:
            d.stop()


if __name__ == "__main__":
    protocol_run_test.main(globals(), "examples")
