#!/usr/bin/python3
"""The knock-in examples do what their comments say, each on the rig its
comment tells the user to start (its `# rig:` line):

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
import sys
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, example_rig, run_protocol  # noqa: E402
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
    return example_rig(os.path.join(EXAMPLES, example))


def spike_shape(v, dt_ms):
    """Median peak (mV) and half-width (ms) of the spikes in `v`: the width
    at half the height from the lowest V since the previous spike, with the
    crossings interpolated between samples."""
    ups = np.where((v[1:] >= 0) & (v[:-1] < 0))[0] + 1
    peaks, widths = [], []
    for k, up in enumerate(ups):
        start = ups[k - 1] if k else 0
        end = ups[k + 1] if k + 1 < len(ups) else len(v)
        top = up + int(np.argmax(v[up:end]))
        base = v[start:up].min()
        half = (v[top] + base) / 2
        a = top
        while a > start and v[a - 1] >= half:
            a -= 1
        b = top
        while b + 1 < end and v[b + 1] >= half:
            b += 1
        if a == start or b + 1 == end:
            continue
        t_up = a - 1 + (half - v[a - 1]) / (v[a] - v[a - 1])
        t_down = b + (v[b] - half) / (v[b] - v[b + 1])
        peaks.append(v[top])
        widths.append((t_down - t_up) * dt_ms)
    return float(np.median(peaks)), float(np.median(widths))


def period_ms(flags):
    for f in flags:
        if f.startswith("--period_us="):
            return float(f.split("=")[1]) / 1e3
    return 0.05


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
        flags = ["--sim_cells=ca1"]
        cls.native, v, _, _ = step_run(flags)
        cls.native_shape = spike_shape(v, period_ms(flags))

    def check(self, example):
        flags = rig_flags(example)
        spikes, v, i, out = step_run(flags, example)
        peak, width = spike_shape(v, period_ms(flags))
        print(f"{example} on dynclampd {' '.join(flags)}: {spikes} spikes "
              f"(native {self.native}), peak {peak:.1f} mV (native "
              f"{self.native_shape[0]:.1f}), half-width {width:.3f} ms "
              f"(native {self.native_shape[1]:.3f}); peak |I| "
              f"{np.abs(i).max():.0f} pA")
        self.assertIn("clipped 0", out)
        # The tolerances the examples state.
        self.assertLessEqual(abs(spikes - self.native), 1, out)
        self.assertLessEqual(abs(peak - self.native_shape[0]), 5.0)
        self.assertLessEqual(abs(width - self.native_shape[1]), 0.1)
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
