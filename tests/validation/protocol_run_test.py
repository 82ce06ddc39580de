#!/usr/bin/python3
"""Protocol runs end to end: dynclampd on the simulated rig, driven by the
dynclamp CLI, recorded to NWB, read back with h5py.

  - a 3-sweep protocol gives an NWB file with 3 sweeps of the exact sample
    count that passes check_nwb.py (the schema's attributes and links);
  - an F-I curve on the simulated HH cell is monotonic and matches NEURON's
    (the same HH compartment, run here with CVODE): spike counts within one
    at every current and the same threshold current for repetitive firing.

Usage: protocol_run_test.py --bin build/bin
"""
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import unittest

import h5py
import numpy as np

import test_main

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = None


class Daemon:
    def __init__(self, *flags):
        self.dir = tempfile.mkdtemp(prefix="dynclamp_protocol_")
        self.data = os.path.join(self.dir, "data")
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "dynclampd"), "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
             f"--port_file={port_file}", f"--data_dir={self.data}", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = ""
        for _ in range(200):
            if os.path.exists(port_file):
                with open(port_file) as f:
                    port = f.read().strip()
                if port:
                    break
            time.sleep(0.05)
        self.server = f"127.0.0.1:{port}"

    def cli(self, *args, timeout=120):
        return subprocess.run(
            [os.path.join(BIN, "dynclamp"), f"--server={self.server}", *args],
            capture_output=True, text=True, timeout=timeout)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stderr.close()


def main(module_globals, *dirs):
    """Runs a test module of this directory: --bin (the daemon and the CLI)
    and, for each of `dirs` (e.g. "examples"), --DIR set as the module's
    DIR.upper()."""
    test_main.main(["bin", *dirs], [globals(), module_globals])


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def example_rig(path):
    """The daemon flags an example names on its '# rig: dynclampd ...' line
    (there is exactly one)."""
    with open(path) as f:
        rigs = [line.split("dynclampd", 1)[1] for line in f
                if line.startswith("# rig: dynclampd")]
    if len(rigs) != 1:
        raise AssertionError(f"{path}: {len(rigs)} '# rig: dynclampd' lines")
    return shlex.split(rigs[0])


def example_claims(path):
    """What an example says the user should see: its '# see:' lines, joined."""
    with open(path) as f:
        return " ".join(line[len("# see:"):].strip() for line in f
                        if line.startswith("# see:"))


def run_protocol(daemon, protocol_text, *extra):
    path = write(os.path.join(daemon.dir, "protocol.yaml"), protocol_text)
    out = daemon.cli("run", path, "--wait", *extra)
    if out.returncode != 0:
        raise AssertionError(f"dynclamp run failed:\n{out.stdout}\n{out.stderr}")
    m = re.search(r"^file: (.*\.nwb)$", out.stdout, re.M)
    if not m:
        raise AssertionError(f"no file in:\n{out.stdout}")
    return m.group(1), out.stdout


def sweep_traces(path, cell="cell0"):
    with h5py.File(path, "r") as f:
        acq = f["acquisition"]
        names = sorted(n for n in acq if n.startswith(f"{cell}_sweep_"))
        return [acq[n]["data"][:] * acq[n]["data"].attrs["conversion"] * 1e3
                for n in names]


def count_spikes(v_mv, threshold=0.0):
    above = v_mv >= threshold
    return int(np.count_nonzero(above[1:] & ~above[:-1]))


def neuron_counts(currents_pa, pre_ms, step_ms, post_ms):
    from neuron import h
    h.load_file("stdrun.hoc")
    counts = []
    for i_pa in currents_pa:
        sec = h.Section(name="soma")
        sec.L = sec.diam = math.sqrt(1e4 / math.pi)  # 1e-4 cm^2, 100 pF
        sec.cm = 1.0
        sec.insert("hh")
        sec.el_hh = -54.387  # the presets' exact -65 mV rest
        h.usetable_hh = 0
        h.celsius = 6.3
        stim = h.IClamp(sec(0.5))
        stim.delay, stim.dur, stim.amp = pre_ms, step_ms, i_pa * 1e-3
        nc = h.NetCon(sec(0.5)._ref_v, None, sec=sec)
        nc.threshold = 0.0
        spikes = h.Vector()
        nc.record(spikes)
        cvode = h.CVode()
        cvode.active(1)
        cvode.atol(1e-8)
        cvode.rtol(1e-8)
        h.finitialize(-65.0)
        h.continuerun(pre_ms + step_ms + post_ms)
        counts.append(len(spikes))
    return counts


class ProtocolRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("--sim_cells=hh,passive", "--sim_clock=nominal",
                            "--sim_noise_mv=0")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_three_sweeps_make_a_valid_nwb_file(self):
        steps = "\n".join(f"""
  - stimuli:
      - cell: cell0
        epochs:
          - {{duration_s: 0.01, hold: {{value: 0}}}}
          - {{duration_s: 0.05, hold: {{value: {amp}}}}}
          - {{duration_s: 0.01, hold: {{value: 0}}}}""" for amp in (100, 200, 300))
        path, _ = run_protocol(self.daemon, f"""
name: three_steps
interval_s: 0.02
sweeps:{steps}
""")
        # 70 ms at the default 50 us step: 1400 samples per sweep.
        check = subprocess.run(
            ["/usr/bin/python3", os.path.join(HERE, "check_nwb.py"), path,
             "--sweeps", "3", "--samples", "1400", "1400", "1400",
             "--cells", "cell0", "cell1"], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # The stimulus is in the file as delivered: within half a step of
        # the simulated rig's DAC (20 V / 2^20 at 20 nA/V: 0.38 pA).
        step = 20.0 / 2**20 * 20000
        with h5py.File(path, "r") as f:
            i = f["stimulus/presentation/cell0_stimulus_sweep_0002/data"]
            pa = i[:] * i.attrs["conversion"] * 1e12
            self.assertAlmostEqual(float(pa[199]), 0.0, delta=step / 2)
            self.assertAlmostEqual(float(pa[200]), 200.0, delta=step / 2)
            self.assertAlmostEqual(float(pa[1199]), 200.0, delta=step / 2)
            self.assertAlmostEqual(float(pa[1200]), 0.0, delta=step / 2)
            self.assertNotEqual(float(pa[200]), 200.0)  # really the DAC's value

    def test_a_bad_protocol_changes_nothing(self):
        # A daemon of its own: this test loads a spec.
        d = Daemon("--sim_cells=hh,passive")
        try:
            root = os.path.dirname(os.path.dirname(HERE))
            self.assertEqual(d.cli(
                "load", os.path.join(root, "examples", "tonic_gaba.yaml")).returncode, 0)
            before = d.cli("spec").stdout
            path = write(os.path.join(d.dir, "bad.yaml"), """
name: bad
sweeps:
  - stimuli:
      - parameter: nope.g_ns
        epochs: [{duration_s: 0.01, hold: {value: 1}}]
""")
            out = d.cli("run", path, "--spec",
                        os.path.join(root, "examples", "gaba_step.yaml"))
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("sweeps[0].stimuli[0].parameter", out.stderr)
            self.assertEqual(d.cli("spec").stdout, before)
            self.assertIn("run: none yet", d.cli("status").stdout)
            self.assertFalse(os.path.exists(d.data) and os.listdir(d.data) and
                             any(f.endswith(".nwb") for f in os.listdir(d.data)))
        finally:
            d.stop()

    def test_fi_curve_of_the_hh_cell_matches_neuron(self):
        pre, step, post = 0.05, 0.5, 0.05
        start, stop, inc = 300, 800, 50
        path, _ = run_protocol(self.daemon, f"""
name: fi
interval_s: 0.02
fi_curve: {{cell: cell0, start_pa: {start}, stop_pa: {stop}, step_pa: {inc},
           pre_s: {pre}, step_s: {step}, post_s: {post}}}
""")
        currents = list(range(start, stop + 1, inc))
        counts = [count_spikes(v) for v in sweep_traces(path)]
        self.assertEqual(len(counts), len(currents))
        reference = neuron_counts(currents, pre * 1e3, step * 1e3, post * 1e3)
        msg = f"currents {currents}\ndynclamp {counts}\nNEURON   {reference}"
        print(msg, file=sys.stderr)
        self.assertEqual(counts, sorted(counts), "not monotonic\n" + msg)
        for c, r in zip(counts, reference):
            self.assertLessEqual(abs(c - r), 1, msg)

        def threshold(cs):  # first current with repetitive firing
            return next((i for i, c in zip(currents, cs) if c >= 3), None)
        self.assertIsNotNone(threshold(reference), msg)
        self.assertEqual(threshold(counts), threshold(reference), msg)


class TimingQcTest(unittest.TestCase):
    """A run on a jittery (slow) simulated board is flagged by the QC; a
    clean one is not. p99.9 and latency thresholds: the worst step of a
    clean run on a shared VM can be a stall of milliseconds."""

    PROTOCOL = """
name: qc_drill
qc: {max_p999_step_us: 400, max_latency_fraction: 8.0}
sweeps:
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.2, hold: {value: 50}}]
  - stimuli:
      - cell: cell0
        epochs: [{duration_s: 0.2, hold: {value: 50}}]
"""

    def run_with(self, io_jitter_us):
        d = Daemon("--sim_cells=hh,passive", f"--sim_io_jitter_us={io_jitter_us}")
        try:
            path, out = run_protocol(d, self.PROTOCOL)
            with h5py.File(path, "r") as f:
                qc = f["processing/dynamic_clamp/sweep_timing"]
                passed = [int(x) for x in qc["qc_pass"][:]]
                reasons = [r.decode() if isinstance(r, bytes) else r
                           for r in qc["qc_reason"][:]]
            return out, passed, reasons
        finally:
            d.stop()

    def test_jitter_is_flagged_and_a_clean_run_is_not(self):
        out, passed, reasons = self.run_with(0)
        self.assertEqual(passed, [1, 1], out)
        self.assertNotIn("QC FAIL", out)
        out, passed, reasons = self.run_with(1000)
        self.assertEqual(passed, [0, 0], out)
        self.assertIn("QC FAIL", out)
        self.assertTrue(all("p99.9 step" in r for r in reasons), reasons)


if __name__ == "__main__":
    main(globals())
