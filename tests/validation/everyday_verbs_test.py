#!/usr/bin/python3
"""Everyday verbs through the daemon and the CLI:

  - `dynclamp check PROTOCOL [--spec]` validates a protocol as `run` would,
    without running it, also while a run is active: a good one is described
    (sweeps, duration, what is recorded); a bad one is refused with the
    field path and reason; the running experiment and the loaded spec are
    untouched either way;
  - `dynclamp stream` says that it waits when no run is active, and its
    t_s is the time in the run (from 0 at each run);
  - `dynclamp hold CELL PA` holds a cell at a current, live, delivered and
    recorded like any current (a protocol adds to it); a bad cell or a
    current beyond the limit is refused, naming the field, and changes
    nothing; 0 releases it;
  - `dynclamp unload` leaves no conductance: the signals are the cells' own
    and the passive cell returns to rest, while the run goes on.

Usage: everyday_verbs_test.py --bin build/bin --examples examples
"""
import os
import re
import subprocess
import sys
import time
import unittest

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, write  # noqa: E402
import protocol_run_test  # noqa: E402

EXAMPLES = None
PULSE = """
name: pulse
sweeps:
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.01, hold: {value: 0}}, {duration_s: 0.01, hold: {value: 50}}]
"""


def example(*parts):
    return os.path.join(EXAMPLES, *parts)


class EverydayVerbsTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon("--sim_cells=passive")

    def tearDown(self):
        self.d.stop()

    def cli_ok(self, *args):
        out = self.d.cli(*args)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout

    def generation(self):
        return int(re.search(r"# generation (\d+)", self.cli_ok("spec")).group(1))

    def test_check_during_a_run_changes_nothing(self):
        self.cli_ok("load", example("tonic_gaba.yaml"))
        self.cli_ok("start")
        generation = self.generation()
        titration = example("protocols", "gaba_titration.yaml")
        out = self.cli_ok("check", titration)
        self.assertRegex(out, r"valid; protocol gaba_titration, 4 sweeps, "
                              r"1\.500 s, against the loaded spec")
        self.assertIn("records: V and I of every cell, gaba.g_ns, gaba.i_pa", out)
        self.assertIn("subject simulated-rig", out)

        with open(example("protocols", "test_pulse.yaml")) as f:
            text = f.read().replace("cell0", "cell9")
        bad = write(os.path.join(self.d.dir, "bad.yaml"), text)
        out = self.d.cli("check", bad)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("sweeps[0].stimuli[0].cell: 'cell9' is not a recorded "
                      "cell", out.stderr)
        # Against another spec: checked against it, nothing loaded.
        out = self.d.cli("check", titration, "--spec", example("gaba_step.yaml"))
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("'gaba' has no parameter 'g_ns'", out.stderr)

        status = self.cli_ok("status")
        self.assertIn("RUNNING", status)
        self.assertEqual(self.generation(), generation)
        self.cli_ok("stop")

    def test_stream_waits_for_a_run_and_keeps_the_runs_time(self):
        for run in range(2):  # each run's samples start at t = 0
            stream = subprocess.Popen(
                [os.path.join(protocol_run_test.BIN, "dynclamp"),
                 f"--server={self.d.server}", "stream", "--signals",
                 "cell0.v_mv", "--samples", "200", "--duration", "30"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
            self.cli_ok("start", "--duration", "0.2", "--wait")
            out, err = stream.communicate(timeout=30)
            self.assertIn("no run is active: waiting for the next one", err)
            rows = out.strip().split("\n")
            self.assertEqual(rows[0], "t_s,cell0.v_mv")
            t = [float(r.split(",")[0]) for r in rows[1:]]
            self.assertEqual(len(t), 200, err)
            self.assertEqual(t[0], 0.0, f"run {run + 1}")
            self.assertAlmostEqual(t[-1], 199 * 50e-6, places=9)

    def stream_v_i(self, n=100):
        out = self.cli_ok("stream", "--signals", "cell0.v_mv,cell0.i_pa",
                          "--samples", str(n))
        rows = [list(map(float, line.split(",")))
                for line in out.strip().split("\n")[1:]]
        self.assertEqual(len(rows), n)
        return rows

    def test_hold_a_cell_at_a_current(self):
        self.cli_ok("start")
        out = self.cli_ok("hold", "cell0", "100")
        self.assertIn("cell0: held at 100 pA", out)
        self.assertRegex(self.cli_ok("status"), r"cell0 .* held at 100 pA")
        time.sleep(0.3)  # tau 10 ms
        # 100 pA into 10 nS: 10 mV above rest, and it is what is delivered.
        for _, v, i in self.stream_v_i():
            self.assertAlmostEqual(v, -55.0, delta=0.05)
            self.assertAlmostEqual(i, 100.0, delta=0.5)
        bad = self.d.cli("hold", "cell9", "10")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("cell: no cell named 'cell9' (cell0)", bad.stderr)
        bad = self.d.cli("hold", "cell0", "5000")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("current_pa: 5000 pA is beyond cell0's current limit "
                      "of 2000 pA", bad.stderr)
        for _, v, i in self.stream_v_i(10):  # refused: still 100 pA
            self.assertAlmostEqual(i, 100.0, delta=0.5)
        # A protocol adds to it, and the file holds what was delivered.
        path = write(os.path.join(self.d.dir, "p.yaml"), PULSE)
        self.cli_ok("stop")
        out = self.cli_ok("run", path, "--wait")
        nwb = re.search(r"^file: (.*\.nwb)$", out, re.M).group(1)
        with h5py.File(nwb, "r") as f:
            i = f["stimulus/presentation/cell0_stimulus_sweep_0001/data"]
            i = i[:] * i.attrs["conversion"] * 1e12
        self.assertAlmostEqual(i[10], 100.0, delta=0.5)
        self.assertAlmostEqual(i[-10], 150.0, delta=0.5)
        self.cli_ok("start")
        self.assertIn("holding current released",
                      self.cli_ok("hold", "cell0", "0"))
        time.sleep(0.3)
        for _, v, i in self.stream_v_i():
            self.assertAlmostEqual(v, -65.0, delta=0.05)
            self.assertEqual(i, 0.0)
        self.cli_ok("stop")

    def test_unload_leaves_no_conductance(self):
        self.cli_ok("load", example("tonic_gaba.yaml"))
        self.cli_ok("start")
        before = self.generation()
        out = self.cli_ok("unload")
        self.assertIn("spec unloaded", out)
        self.assertEqual(self.generation(), before + 1)
        signals = self.cli_ok("signals")
        self.assertNotIn("gaba", signals)
        self.assertIn("cell0.v_mv", signals)
        time.sleep(0.5)  # the passive cell (tau 10 ms) back at rest
        out = self.cli_ok("stream", "--signals", "cell0.v_mv,cell0.i_pa",
                          "--samples", "100")
        rows = [list(map(float, line.split(",")))
                for line in out.strip().split("\n")[1:]]
        self.assertEqual(len(rows), 100)
        for _, v, i in rows:
            self.assertAlmostEqual(v, -65.0, delta=0.05)
            self.assertEqual(i, 0.0)
        self.assertIn("RUNNING", self.cli_ok("status"))
        self.cli_ok("stop")


if __name__ == "__main__":
    protocol_run_test.main(globals(), "examples")
