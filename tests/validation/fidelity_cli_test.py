#!/usr/bin/python3
"""`dynclamp fidelity` through the real daemon: the lab's tables, CSV files
and figures for the paper's families and for a user's spec file; bad input
refused with the field named, the daemon still serving afterwards.

Usage: fidelity_cli_test.py --bin build/bin --examples examples
"""
import csv
import os
import subprocess
import tempfile
import time
import unittest

import test_main

BIN = None
EXAMPLES = None


class FidelityCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="dynclamp_fidelity_")
        cls.daemon = subprocess.Popen(
            [os.path.join(BIN, "dynclampd"), "--listen=127.0.0.1:0",
             "--metrics_listen=", f"--port_file={cls.dir}/port",
             f"--data_dir={cls.dir}/data", "--lab_threads=2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(f"{cls.dir}/port") and \
                    open(f"{cls.dir}/port").read().strip():
                break
            time.sleep(0.05)
        cls.server = "127.0.0.1:" + open(f"{cls.dir}/port").read().strip()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.terminate()
        cls.daemon.wait(timeout=20)

    def dc(self, *args):
        return subprocess.run(
            [os.path.join(BIN, "dynclamp"), "--server", self.server, *args],
            capture_output=True, text=True, timeout=600)

    def rows(self, path):
        with open(path, newline="") as f:
            return {r["label"]: r for r in csv.DictReader(f)}

    def test_paper_families_give_tables_csv_and_figures(self):
        out = os.path.join(self.dir, "paper")
        r = self.dc("fidelity", "--family", "na,k", "--steps", "25,200",
                    "--jitter", "200", "--latency", "0,50",
                    "--fi-currents", "0,800,1400", "--fi-duration", "0.3",
                    "--trials", "3", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("step 200 us", r.stdout)
        self.assertIn("DISTORTED", r.stdout)
        na = self.rows(os.path.join(out, "na_errors.csv"))
        k = self.rows(os.path.join(out, "k_errors.csv"))
        self.assertEqual(len(na), 5)
        e = lambda rows, label: float(rows[label]["mean_error_v2"])
        self.assertLess(e(na, "step 25 us"), e(na, "step 200 us"))
        self.assertLessEqual(e(na, "jitter 25-200 us"), e(na, "step 200 us"))
        self.assertLess(e(na, "latency 0 us at 50 us"),
                        e(na, "latency 50 us at 50 us"))
        self.assertLess(e(k, "step 200 us"), e(na, "step 200 us"))
        self.assertEqual(na["step 200 us"]["distorted"], "1")
        self.assertEqual(k["step 25 us"]["distorted"], "0")
        with open(os.path.join(out, "na_fi.csv")) as f:
            fi = list(csv.reader(f))
        self.assertEqual(fi[0][:2], ["current_pa", "control"])
        self.assertEqual(len(fi), 4)  # header + 3 currents
        with open(os.path.join(out, "na_spikes.csv")) as f:
            spikes = list(csv.reader(f))
        self.assertEqual(len(spikes), 1 + 1001)  # 10 ms on a 10 us grid
        for png in ["error_vs_step.png", "error_vs_jitter.png",
                    "error_vs_latency.png", "spikes_na_step.png",
                    "spikes_k_latency.png", "fi_na_step.png"]:
            path = os.path.join(out, png)
            self.assertTrue(os.path.exists(path), png)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)

    def test_a_users_spec_is_clamped_against_its_ideal_clamp(self):
        out = os.path.join(self.dir, "spec")
        r = self.dc("fidelity", "--family", "na", "--spec",
                    os.path.join(EXAMPLES, "bettencourt2008_na_knockin.yaml"),
                    "--block", "na", "--steps", "25,250", "--trials", "2",
                    "--no-plot", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = self.rows(os.path.join(out, "na_errors.csv"))
        self.assertLess(float(rows["step 25 us"]["mean_error_v2"]),
                        float(rows["step 250 us"]["mean_error_v2"]))
        with open(os.path.join(out, "na_fi.csv")) as f:
            self.assertEqual(len(list(csv.reader(f))), 1 + 11)  # 0..2000 pA

    def test_bad_input_names_the_field_and_the_daemon_goes_on(self):
        r = self.dc("fidelity", "--steps", "0", "--no-plot", "-o",
                    os.path.join(self.dir, "bad"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("INVALID_ARGUMENT", r.stderr)
        self.assertIn("conditions[0].step_us", r.stderr)
        r = self.dc("fidelity", "--family", "ca", "--no-plot", "-o",
                    os.path.join(self.dir, "bad"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("family", r.stderr)
        self.assertEqual(self.dc("status").returncode, 0)


if __name__ == "__main__":
    test_main.main(["bin", "examples"], [globals()])
