#!/usr/bin/python3
"""The knock-in examples do what their comments say, each on the rig its
comment tells the user to start (the `dynclampd ...` line is read from the
example itself):

  - examples/bettencourt2008_na_knockin.yaml on a CA1 cell without Na+ and
    examples/prinz2004_fig2_k_addback.yaml on one without its K+ channels:
    a 300 pA step for 0.5 s gives the native cell's spikes (29, counted
    here on the native cell) within one, and no output is clipped;
  - without its spec the K+-blocked cell fires one broad spike and stays
    depolarized; the currents the clamp delivers are beyond the default
    2 nA limit (why the comment raises it).

Usage: knock_in_examples_test.py --bin build/bin --examples examples
"""
import os
import re
import shlex
import sys
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, run_protocol  # noqa: E402
import protocol_run_test  # noqa: E402

EXAMPLES = None
STEP = """
name: step
sweeps:
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.1, hold: {value: 0}}, {duration_s: 0.5, hold: {value: 300}}]
"""


def rig_flags(example):
    """The daemon flags of the example's '#   dynclampd ...' line."""
    with open(os.path.join(EXAMPLES, example)) as f:
        for line in f:
            m = re.match(r"#\s+dynclampd (.*)$", line)
            if m:
                return shlex.split(m.group(1))
    raise AssertionError(f"{example}: no 'dynclampd ...' line")


def step_run(flags, spec=None):
    """Runs the 300 pA step; returns (spikes, V, I, run output)."""
    d = Daemon(*flags)
    try:
        extra = ["--spec", os.path.join(EXAMPLES, spec)] if spec else []
        path, out = run_protocol(d, STEP, *extra)
        with h5py.File(path, "r") as f:
            v = f["acquisition/cell0_sweep_0001/data"]
            v = v[:] * v.attrs["conversion"] * 1e3
            i = f["stimulus/presentation/cell0_stimulus_sweep_0001/data"]
            i = i[:] * i.attrs["conversion"] * 1e12
        spikes = int(np.count_nonzero((v[1:] >= 0) & (v[:-1] < 0)))
        return spikes, v, i, out
    finally:
        d.stop()


class KnockInExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.native, _, _, _ = step_run(["--sim_cells=ca1"])

    def check(self, example):
        flags = rig_flags(example)
        spikes, v, i, out = step_run(flags, example)
        print(f"{example} on dynclampd {' '.join(flags)}: {spikes} spikes "
              f"(native {self.native}); peak |I| {np.abs(i).max():.0f} pA")
        self.assertIn("clipped 0", out)
        self.assertLessEqual(abs(spikes - self.native), 1, out)
        return flags, i

    def test_na_knock_in(self):
        self.assertGreater(self.native, 20)
        self.check("bettencourt2008_na_knockin.yaml")

    def test_k_add_back(self):
        flags, i = self.check("prinz2004_fig2_k_addback.yaml")
        self.assertGreater(np.abs(i).max(), 2000,
                           "beyond the default limit, as the comment says")
        blocked, v, _, _ = step_run(flags)
        print(f"K+ blocked, no spec: {blocked} spikes, V at the end "
              f"{v[-1]:.1f} mV")
        self.assertLessEqual(blocked, 1)
        self.assertGreater(v[-1], -40.0, "stays depolarized")


if __name__ == "__main__":
    protocol_run_test.main(globals(), "examples")
