#!/usr/bin/python3
"""Recordings that the NWB community's tools accept, made as a user makes
them: the default daemon on the simulated rig, the CLI, the example files.

  - every example protocol (run as its comment says) and a queued item give
    files that ../shared/reference/nwb-tools/nwb-check passes: pynwb 2.3.0
    reads them, its schema validation reports nothing, the NWB Inspector
    with the DANDI configuration reports nothing critical;
  - each sweep's stimulus is in the icephys tables: the F-I curve's step
    amplitudes, the titration's parameter and values;
  - the spec and the protocol are stored exactly as the files were written,
    also when the spec was loaded before the run;
  - session metadata from the daemon's file and the run's own file is
    shown by `dynclamp run` and stored (subject, experimenter, electrode);
    a wrong form (sex 'male') is refused naming the field, and no file is
    made.

Usage: nwb_files_test.py --bin build/bin
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
from protocol_run_test import Daemon, write  # noqa: E402
import protocol_run_test  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples")
NWB_CHECK = os.path.join(ROOT, "..", "shared", "reference", "nwb-tools", "nwb-check")


def example(*parts):
    return os.path.join(EXAMPLES, *parts)


def read(path):
    with open(path) as f:
        return f.read()


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def run_file(daemon, *args):
    out = daemon.cli("run", *args, "--wait", timeout=180)
    if out.returncode != 0:
        raise AssertionError(f"dynclamp run {args} failed:\n{out.stdout}\n{out.stderr}")
    return re.search(r"^file: (.*\.nwb)$", out.stdout, re.M).group(1), out.stdout


class ExampleRecordingsTest(unittest.TestCase):
    """One default daemon (no flags but its ports), every example protocol."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        d = cls.d
        cls.files = {}
        cls.outputs = {}
        for name, file in (("test_pulse", "test_pulse.yaml"),
                           ("step_series", "step_series.yaml"),
                           ("fi_curve", "fi_curve.yaml")):
            cls.files[name], cls.outputs[name] = run_file(
                d, example("protocols", file))
        # The titration as its comment says: the spec with the run ...
        cls.files["gaba_titration"], _ = run_file(
            d, example("protocols", "gaba_titration.yaml"),
            "--spec", example("tonic_gaba.yaml"))
        # ... and with the spec loaded before it.
        assert d.cli("load", example("tonic_gaba.yaml")).returncode == 0
        cls.files["titration_after_load"], _ = run_file(
            d, example("protocols", "gaba_titration.yaml"))
        assert d.cli("load", example("gaba_step.yaml")).returncode == 0
        # A queued item.
        out = d.cli("--operator=tester", "queue", "add",
                    example("protocols", "step_series.yaml"))
        assert out.returncode == 0, out.stderr
        assert d.cli("--operator=tester", "queue", "start").returncode == 0
        deadline = time.time() + 60
        history = ""
        while time.time() < deadline:
            history = d.cli("history").stdout
            if "COMPLETED" in history:
                break
            time.sleep(0.2)
        m = re.search(r"(\S+step_series\.nwb)", history)
        assert m, history
        cls.files["queued"] = m.group(1)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_every_file_passes_nwb_check(self):
        paths = list(self.files.values())
        out = subprocess.run([NWB_CHECK, *paths], capture_output=True, text=True,
                             timeout=600)
        print(out.stdout, file=sys.stderr)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(f"nwb-check: {len(paths)} of {len(paths)} file(s) pass", out.stdout)

    def test_the_simulated_rig_says_it_is_no_animal(self):
        out = self.outputs["test_pulse"]
        self.assertIn("subject simulated-rig", out)
        self.assertNotIn("WARNING: the DANDI archive", out)
        with h5py.File(self.files["test_pulse"], "r") as f:
            s = f["general/subject"]
            self.assertEqual(text(s.attrs["neurodata_type"]), "Subject")
            self.assertEqual(text(s["species"][()]),
                             "http://purl.obolibrary.org/obo/NCBITaxon_32630")
            self.assertIn("no animal", text(s["description"][()]))
            self.assertIn("cell0: ca1", text(s["description"][()]))

    def test_fi_sweeps_carry_their_step_amplitude(self):
        with h5py.File(self.files["fi_curve"], "r") as f:
            ice = f["general/intracellular_ephys"]
            rec = ice["intracellular_recordings"]
            sim = ice["simultaneous_recordings"]
            # Rows go cell0, cell1 per sweep; cell1 gets no stimulus.
            amplitude = rec["stimuli/amplitude"][:]
            self.assertEqual(len(amplitude), 22)
            np.testing.assert_allclose(amplitude[0::2] * 1e12,
                                       np.arange(0, 1001, 100), atol=1e-6)
            np.testing.assert_allclose(amplitude[1::2], 0)
            self.assertEqual([text(x) for x in sim["stimulus_family"][:]],
                             ["fi_curve"] * 11)
            self.assertEqual(text(sim["sweep_name"][3]), "300 pA")
            self.assertEqual(list(sim["protocol_sweep"][:]), list(range(11)))
            # The amplifier's gains (sim: 100 mV/V in, 20 nA/V out).
            self.assertAlmostEqual(float(f["acquisition/cell0_sweep_0001/gain"][()]), 10.0)
            self.assertAlmostEqual(
                float(f["stimulus/presentation/cell0_stimulus_sweep_0001/gain"][()]),
                1e12 / 20000, delta=1)

    def test_titration_values_are_columns_and_texts_are_verbatim(self):
        for key in ("gaba_titration", "titration_after_load"):
            with h5py.File(self.files[key], "r") as f:
                sim = f["general/intracellular_ephys/simultaneous_recordings"]
                self.assertEqual(list(sim["titrated_value"][:]), [0, 5, 10, 20], key)
                self.assertEqual({text(x) for x in sim["titrated_parameter"][:]},
                                 {"gaba.g_ns"}, key)
                self.assertEqual(text(f["general/stimulus"][()]),
                                 read(example("tonic_gaba.yaml")), key)
                self.assertEqual(text(f["general/protocol"][()]),
                                 read(example("protocols", "gaba_titration.yaml")), key)


class SessionMetadataTest(unittest.TestCase):
    def test_daemon_defaults_and_the_runs_own_are_shown_and_stored(self):
        d = Daemon(f"--session_file={example('session.yaml')}")
        try:
            override = write(os.path.join(d.dir, "override.yaml"),
                             "subject: {age: P22D}\nexperimenter: ['Roe, Richard']\n")
            path, out = run_file(d, example("protocols", "test_pulse.yaml"),
                                 "--session", override)
            self.assertIn("subject rat-2026-11-30-a: species Rattus norvegicus, "
                          "age P22D, sex M", out)
            self.assertIn("experimenter Roe, Richard; institution Example University", out)
            with h5py.File(path, "r") as f:
                g = f["general"]
                self.assertEqual([text(x) for x in g["experimenter"][:]], ["Roe, Richard"])
                self.assertEqual(text(g["institution"][()]), "Example University")
                self.assertEqual(text(g["subject/age"][()]), "P22D")
                self.assertEqual(text(g["subject/strain"][()]), "Wistar")
                self.assertEqual(text(g["subject/species"][()]), "Rattus norvegicus")
                e = g["intracellular_ephys/cell0"]
                self.assertEqual(text(e["location"][()]),
                                 "hippocampus, CA1 stratum pyramidale")
                self.assertIn("4 MOhm", text(e["description"][()]))
                self.assertIn("regular spiking", text(e["description"][()]))
                self.assertIn("ACSF", text(e["slice"][()]))
                self.assertIn("dynamic clamp", [text(x) for x in g["keywords"][:]])
            check = subprocess.run([NWB_CHECK, "--strict", path], capture_output=True,
                                   text=True, timeout=300)
            # With the lab's metadata only the module name and the one-row
            # sequence table remain as suggestions; and, when a sweep's
            # counts (overruns, clipped samples) happen to be only 0 or 1,
            # the suggestion to make those counts booleans.
            for line in check.stdout.splitlines():
                if "BEST_PRACTICE_SUGGESTION" in line:
                    self.assertRegex(
                        line, "check_processing_module_name|check_single_row|"
                        "check_column_binary_capability: DynamicTable 'sweep_timing'")
        finally:
            d.stop()

    def test_a_wrong_form_is_refused_naming_the_field(self):
        d = Daemon()
        try:
            bad = write(os.path.join(d.dir, "bad.yaml"), "subject: {sex: male}\n")
            out = d.cli("run", example("protocols", "test_pulse.yaml"), "--session", bad)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("session.subject.sex: 'male' is not one of M, F, U", out.stderr)
            self.assertIn("run: none yet", d.cli("status").stdout)
            self.assertFalse(os.path.isdir(d.data) and
                             any(n.endswith(".nwb") for n in os.listdir(d.data)))
        finally:
            d.stop()


if __name__ == "__main__":
    protocol_run_test.main(globals())
