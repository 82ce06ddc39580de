#!/usr/bin/python3
"""Every example says which rig it needs (its '# rig: dynclampd ...' line)
and what the user should see (its '# see:' lines); here the examples that no
other test runs are run on that rig through the daemon and the CLI, as
their comments tell it, and their claims are checked:

  - every spec and protocol example has one rig line the daemon accepts
    and says what to see, and some test under tests/ names it;
  - prinz2004_fig1b_gaba: the conductance peaks at 10 nS 8.2 s after its
    onset and pulls the passive cell to -70.0 mV there;
  - prinz2004_fig3_half_center: coupled, cell1 fires once per cycle of
    cell0 at phase 0.50 +- 0.05; uncoupled (live), the phase drifts;
  - hybrid_circuit: each cell0 spike opens `excite` 2.0 ms later and the
    model cell fires for it; each model spike opens `inhibit` 2.0 ms later;
  - custom_hh_channel: with ks at 0 the Na+-blocked HH cell fires as the
    native one, spike for spike; with ks it adapts;
  - tonic_gaba: -70.0 mV; gaba_titration, step_series, test_pulse: the
    passive cell's predicted voltages; fi_curve: silent at 0 pA, a rate
    that never falls as the current rises.

Usage: examples_test.py --bin build/bin --examples examples --tests tests
"""
import glob
import math
import os
import re
import subprocess
import sys
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import (Daemon, count_spikes, example_claims,  # noqa: E402
                               example_rig, run_protocol, sweep_traces)
import protocol_run_test  # noqa: E402

EXAMPLES = None
TESTS = None
RATE_HZ = 20_000  # the default rig's


def example(*parts):
    return os.path.join(EXAMPLES, *parts)


def experiments():
    """The spec and protocol examples (not the session or rig files)."""
    specs = [p for p in glob.glob(example("*.yaml"))
             if os.path.basename(p) != "session.yaml"]
    return sorted(specs + glob.glob(example("protocols", "*.yaml")))


def up_crossings(t, v, level=-20.0):
    """Times of the first samples at or above `level` after one below."""
    i = np.where((v[1:] >= level) & (v[:-1] < level))[0] + 1
    return t[i]


def onsets(t, g):
    """Times where `g` starts to rise after not rising."""
    rising = np.diff(g) > 1e-9
    starts = np.where(rising & ~np.concatenate(([False], rising[:-1])))[0] + 1
    return t[starts]


def next_after(events, times):
    """For each of `times`, the first event at or after it minus it."""
    k = np.searchsorted(events, times)
    ok = k < len(events)
    return events[k[ok]] - times[ok]


class Rig:
    """The daemon an example names, with the CLI steps its comment shows."""

    def __init__(self, name=None, flags=None):
        """The rig of example `name`, or one started with `flags`."""
        self.path = example(name) if name else None
        self.d = Daemon(*(flags if flags is not None else example_rig(self.path)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.d.stop()

    def ok(self, *args):
        out = self.d.cli(*args)
        if out.returncode != 0:
            raise AssertionError(f"dynclamp {' '.join(args)}:\n{out.stdout}{out.stderr}")
        return out.stdout

    def stream_run(self, seconds, *signals):
        """Streams `signals` over a run of `seconds`; returns t and columns."""
        out = os.path.join(self.d.dir, f"stream{time.monotonic_ns()}.csv")
        n = int(round(seconds * RATE_HZ))
        stream = subprocess.Popen(
            [os.path.join(protocol_run_test.BIN, "dynclamp"),
             f"--server={self.d.server}", "stream", "--signals",
             ",".join(signals), "--samples", str(n), "-o", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        self.ok("start", "--duration", str(seconds), "--wait")
        _, err = stream.communicate(timeout=120)
        assert stream.returncode == 0, err
        data = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=2)
        assert data.shape == (n, 1 + len(signals)), (data.shape, err)
        return data[:, 0], [data[:, 1 + k] for k in range(len(signals))]


class ExamplesDeclareTheirRigAndClaims(unittest.TestCase):
    def test_every_example_names_a_rig_the_daemon_accepts(self):
        named = ""
        for path in glob.glob(os.path.join(TESTS, "**", "*.py"), recursive=True):
            with open(path) as f:
                named += f.read()
        for path in experiments():
            name = os.path.relpath(path, EXAMPLES)
            with self.subTest(example=name):
                flags = example_rig(path)
                self.assertTrue(example_claims(path), f"{name}: no '# see:'")
                self.assertIn(os.path.basename(path), named,
                              f"{name}: no test runs it")
                d = Daemon(*flags)
                try:
                    out = d.cli("status")
                    self.assertEqual(out.returncode, 0,
                                     f"dynclampd {' '.join(flags)}: {out.stderr}")
                finally:
                    d.stop()


class SpecExamplesTest(unittest.TestCase):
    def test_prinz2004_fig1b_gaba(self):
        with Rig("prinz2004_fig1b_gaba.yaml") as r:
            self.assertIn("-70.0 mV", example_claims(r.path))
            r.ok("load", r.path)
            t, (v, g) = r.stream_run(11, "cell0.v_mv", "gaba.g_ns")
        k = int(np.argmax(g))
        print(f"fig1b: g peaks at {g[k]:.3f} nS at {t[k]:.3f} s; V there "
              f"{v[k]:.2f} mV; V before onset {v[t < 1.9][-1]:.2f} mV")
        self.assertAlmostEqual(g[k], 10.0, delta=0.01)
        # Difference of exponentials: the peak at ln(15/5) * 5 * 15 / 10 s.
        self.assertAlmostEqual(t[k], 2.0 + 7.5 * math.log(3), delta=0.05)
        self.assertAlmostEqual(v[k], -70.0, delta=0.05)
        self.assertAlmostEqual(v[t < 1.9][-1], -65.0, delta=0.05)

    def phase(self, t, a, b):
        """Phases of cell1's spikes in cell0's cycles, after the first second."""
        sa, sb = up_crossings(t, a), up_crossings(t, b)
        sa, sb = sa[sa > t[0] + 1.0], sb[sb > t[0] + 1.0]
        k = np.searchsorted(sa, sb) - 1
        ok = (k >= 0) & (k + 1 < len(sa))
        k, sb = k[ok], sb[ok]
        return (sb - sa[k]) / (sa[k + 1] - sa[k]), len(sa)

    def test_prinz2004_fig3_half_center(self):
        with Rig("prinz2004_fig3_half_center.yaml") as r:
            self.assertIn("phase 0.50 +- 0.05", example_claims(r.path))
            r.ok("load", r.path)
            t, (a, b) = r.stream_run(3, "cell0.v_mv", "cell1.v_mv")
            coupled, cycles = self.phase(t, a, b)
            r.ok("set", "a_to_b.g_max_ns", "0")
            r.ok("set", "b_to_a.g_max_ns", "0")
            t, (a, b) = r.stream_run(3, "cell0.v_mv", "cell1.v_mv")
            free, _ = self.phase(t, a, b)
        print(f"half-center: coupled phase {coupled.mean():.3f} +- "
              f"{coupled.std():.3f} over {len(coupled)} spikes in {cycles} "
              f"cycles; uncoupled {free.mean():.3f} +- {free.std():.3f}")
        self.assertGreaterEqual(len(coupled), cycles - 2, "once per cycle")
        self.assertLess(np.abs(coupled - 0.5).max(), 0.05)
        self.assertGreater(free.std(), 0.1, "uncoupled, the phase drifts")

    def test_hybrid_circuit(self):
        with Rig("hybrid_circuit.yaml") as r:
            claims = example_claims(r.path)
            self.assertIn("excite 2.0 ms later", claims)
            self.assertIn("inhibit 2.0 ms", claims)
            r.ok("load", r.path)
            t, (v, vm, ge, gi) = r.stream_run(
                2, "cell0.v_mv", "model.v_mv", "excite.g_ns", "inhibit.g_ns")
        real, model = up_crossings(t, v), up_crossings(t, vm)
        to_excite = next_after(onsets(t, ge), real)
        to_inhibit = next_after(onsets(t, gi), model)
        to_model = next_after(model, real)
        print(f"hybrid: {len(real)} cell0 spikes, {len(model)} model spikes; "
              f"excite {np.median(to_excite) * 1e3:.3f} ms after, model spike "
              f"{np.median(to_model) * 1e3:.2f} ms after; inhibit "
              f"{np.median(to_inhibit) * 1e3:.3f} ms after a model spike")
        self.assertGreater(len(real), 20)
        self.assertEqual(len(model), len(real), "the model fires for each")
        step = 1.0 / RATE_HZ
        # The last spike's event may fall after the stream's end.
        self.assertGreaterEqual(len(to_excite), len(real) - 1)
        self.assertGreaterEqual(len(to_inhibit), len(model) - 1)
        self.assertLessEqual(np.abs(to_excite - 0.002).max(), step)
        self.assertLessEqual(np.abs(to_inhibit - 0.002).max(), step)
        self.assertLess(to_model.max(), 0.005)

    def test_custom_hh_channel(self):
        with Rig(flags=["--sim_cells=hh@800"]) as native:
            t, (vn,) = native.stream_run(1, "cell0.v_mv")
        with Rig("custom_hh_channel.yaml") as r:
            r.ok("load", r.path)
            r.ok("set", "ks.g_max_ns", "0")
            t, (v0,) = r.stream_run(1, "cell0.v_mv")
            r.ok("load", r.path)  # ks back at its 20 nS, from rest
            t2, (v20,) = r.stream_run(2, "cell0.v_mv")
            status = r.ok("status")
        sn, s0 = up_crossings(t, vn), up_crossings(t, v0)
        s20 = up_crossings(t2, v20)
        isi = np.diff(s20)
        print(f"custom HH: native {len(sn)} spikes, Na+ knocked in "
              f"{len(s0)}, max shift {np.abs(s0 - sn).max() * 1e3 if len(s0) == len(sn) else float('nan'):.3f} ms; "
              f"with ks 20 nS {len(s20)} spikes in 2 s, first interval "
              f"{isi[0] * 1e3:.1f} ms, last {isi[-1] * 1e3:.1f} ms")
        self.assertEqual(len(s0), len(sn))
        self.assertLessEqual(np.abs(s0 - sn).max(), 0.001)
        self.assertGreater(len(sn), 50)
        self.assertLess(len(s20), 2 * len(sn) - 5, "ks adapts the firing")
        self.assertGreater(isi[-1], isi[0] + 0.0005)
        self.assertIn("clipped 0", status)

    def test_tonic_gaba(self):
        with Rig("tonic_gaba.yaml") as r:
            self.assertIn("-70.0 mV", example_claims(r.path))
            r.ok("load", r.path)
            _, (v,) = r.stream_run(0.5, "cell0.v_mv")
        print(f"tonic GABA: V {v[-1]:.3f} mV")
        self.assertAlmostEqual(v[-1], -70.0, delta=0.05)


class ProtocolExamplesTest(unittest.TestCase):
    def run_example(self, name, *extra):
        path = example("protocols", name)
        d = Daemon(*example_rig(path))
        try:
            with open(path) as f:
                nwb, _ = run_protocol(d, f.read(), *extra)
            return sweep_traces(nwb), example_claims(path)
        finally:
            d.stop()

    def test_gaba_titration(self):
        traces, claims = self.run_example(
            "gaba_titration.yaml", "--spec", example("tonic_gaba.yaml"))
        want = [(10 * -65 - g * 75 + 200) / (10 + g) for g in (0, 5, 10, 20)]
        self.assertIn(", ".join(f"{w:.1f}" for w in want) + " mV", claims)
        ends = [v[int(0.25 * RATE_HZ) - 1] for v in traces]  # step's last sample
        print("gaba titration: " + ", ".join(f"{x:.2f}" for x in ends) + " mV")
        for got, w in zip(ends, want):
            self.assertAlmostEqual(got, w, delta=0.1)

    def test_step_series(self):
        traces, claims = self.run_example("step_series.yaml")
        self.assertIn("-55.0, -45.0, -35.0 mV", claims)
        ends = [v[int(0.12 * RATE_HZ) - 1] for v in traces]
        print("step series: " + ", ".join(f"{x:.2f}" for x in ends) + " mV")
        for got, w in zip(ends, (-55.0, -45.0, -35.0)):
            self.assertAlmostEqual(got, w, delta=0.1)

    def test_test_pulse(self):
        traces, claims = self.run_example("test_pulse.yaml")
        self.assertIn("-68.16 mV", claims)
        v = np.concatenate(traces)
        first = v[: int(0.02 * RATE_HZ)]
        print(f"test pulse: from {first[0]:.2f} to {first.min():.2f} mV")
        self.assertAlmostEqual(first[0], -65.0, delta=0.05)
        self.assertAlmostEqual(first.min(), -70 + 5 * math.exp(-1), delta=0.05)

    def test_fi_curve(self):
        traces, claims = self.run_example("fi_curve.yaml")
        self.assertIn("silent at 0 pA", claims)
        counts = [count_spikes(v) for v in traces]
        print(f"F-I curve, 0 to 1000 pA: {counts} spikes per second")
        self.assertEqual(len(counts), 11)
        self.assertEqual(counts[0], 0)
        self.assertEqual(counts, sorted(counts), "never falls")
        self.assertGreaterEqual(counts[-1], 10)


if __name__ == "__main__":
    protocol_run_test.main(globals(), "examples", "tests")
