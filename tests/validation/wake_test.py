#!/usr/bin/python3
"""How the loop wakes up, through the daemon, the CLI and the metrics:

  - by default (--cpu=auto, --wake=adaptive) on a machine with two CPUs or
    more the loop has the last CPU to itself and spins a measured margin
    before each deadline: `dynclamp status` says so and why, the run's
    summary gives the margin and what it cost (spinning, the RT thread's
    CPU), and the metrics carry the same;
  - on one CPU (taskset) it has no CPU of its own and only sleeps: no spin;
  - --wake=spin and --wake=sleep force either and say "as asked";
  - bad flags are refused, naming the flag.

Runs alone (RUN_SERIAL): another test's real-time loop on the same CPU
would, rightly, keep this daemon's loop from pinning there.

Usage: wake_test.py --bin build/bin
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_main  # noqa: E402
import fault_test  # noqa: E402
from fault_test import Daemon  # noqa: E402

WAKE_LINE = re.compile(
    r"wake\s+(\w+), margin ([\d.]+) us; spinning ([\d.]+) % of the time, "
    r"RT thread CPU ([\d.]+) %; host timer late p99 ([\d.]+) us")


class WakeTest(unittest.TestCase):
    def run_one_second(self, d):
        """Runs 1 s; returns (status text, the run summary's wake figures)."""
        r = d.cli("start", "--duration", "1", "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status = d.cli("status")
        self.assertEqual(status.returncode, 0, status.stderr)
        m = WAKE_LINE.search(status.stdout)
        self.assertIsNotNone(m, status.stdout)
        return status.stdout, (m.group(1), float(m.group(2)),
                               float(m.group(3)), float(m.group(4)))

    def test_default_spins_a_measured_margin_on_its_own_cpu(self):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.skipTest("needs two CPUs")
        d = Daemon("--sim_cells=passive")
        try:
            status, (strategy, margin_us, spin_pct, cpu_pct) = \
                self.run_one_second(d)
            self.assertIn(f"cpu {cpus[-1]}", status)
            self.assertIn(f"wake: adaptive on CPU {cpus[-1]} (its own)", status)
            self.assertEqual(strategy, "adaptive")
            # The margin is measured, so between nothing and the 50 us period.
            self.assertGreater(margin_us, 0.0)
            self.assertLessEqual(margin_us, 50.0)
            self.assertGreater(spin_pct, 0.0)
            self.assertGreaterEqual(cpu_pct, spin_pct)
            self.assertLessEqual(cpu_pct, 101.0)
            text = fault_test.urllib.request.urlopen(d.metrics).read().decode()
            self.assertIn('wake="adaptive"', text)
            self.assertGreater(d.metric("dynclamp_loop_wake_margin_seconds"), 0)
            self.assertGreater(d.metric("dynclamp_loop_spin_seconds_total"), 0)
            self.assertGreater(d.metric("dynclamp_loop_cpu_seconds_total"),
                               d.metric("dynclamp_loop_spin_seconds_total"))
            self.assertGreater(
                d.metric("dynclamp_loop_timer_lateness_seconds_count"), 1000)
        finally:
            d.stop()

    def test_on_one_cpu_it_sleeps_and_never_spins(self):
        cpus = sorted(os.sched_getaffinity(0))
        d = Daemon("--sim_cells=passive", prefix=["taskset", "-c", str(cpus[0])])
        try:
            status, (strategy, margin_us, spin_pct, _) = self.run_one_second(d)
            self.assertEqual(strategy, "sleep")
            self.assertIn("no CPU of its own", status)
            self.assertEqual(margin_us, 0.0)
            self.assertEqual(spin_pct, 0.0)
            self.assertEqual(d.metric("dynclamp_loop_spin_seconds_total"), 0)
            with open(d.log_path) as f:
                self.assertIn("one CPU only", f.read())
        finally:
            d.stop()

    def test_forced_strategies_are_kept_and_say_so(self):
        for flags, strategy in ((["--wake=spin"], "spin"),
                                (["--wake=sleep"], "sleep")):
            d = Daemon("--sim_cells=passive", *flags)
            try:
                status, (got, margin_us, spin_pct, _) = self.run_one_second(d)
                self.assertEqual(got, strategy, status)
                self.assertIn("(as asked)", status)
                if strategy == "spin":
                    self.assertEqual(margin_us, 50.0)  # the whole period
                    self.assertGreater(spin_pct, 0.0)
                else:
                    self.assertEqual(spin_pct, 0.0)
            finally:
                d.stop()

    def test_bad_flags_are_refused_naming_the_flag(self):
        for flags, expected in (
                (["--wake=fast"], "--wake: 'fast' is not a wake strategy"),
                (["--busy_wait_us=10"], "--busy_wait_us: a fixed spin needs "
                                        "--wake=spin"),
                (["--wake=spin", "--busy_wait_us=80"],
                 "--busy_wait_us: must be in [0, --period_us]"),
                (["--cpu=99999"], "--cpu: '99999' is not auto, none or a CPU")):
            r = subprocess.run(
                [os.path.join(fault_test.BIN, "dynclampd"),
                 "--listen=127.0.0.1:0", "--metrics_listen=", *flags],
                capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, flags)
            self.assertIn(expected, r.stderr, flags)


if __name__ == "__main__":
    test_main.main(["bin"], [vars(fault_test)])
