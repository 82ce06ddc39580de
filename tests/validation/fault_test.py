#!/usr/bin/python3
"""Faults and load on loopback, bounded in time and count.

  - misbehaving clients: streams that vanish mid-stream (SIGKILL), streams
    that stall without reading (SIGSTOP), a flood of requests, oversized
    messages. Meanwhile a well-behaved stream loses nothing, calls are
    answered, and the loop's overruns are compared with a quiet window of
    the same length.
  - kill -9 of the daemon during a queued run, then a restart on the same
    data directory: queue and history intact, the partial NWB file readable
    with at most 0.5 s of the samples the loop produced lost, and the rig's
    outputs at 0; and kill -9 at 10 random moments of a recording on a
    loaded machine: at most 0.5 s lost each time, every file passes
    nwb-check.

Prints the figures (FIGURES: ...) for the closing note.
Usage: fault_test.py --bin build/bin
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc
import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_main  # noqa: E402
from queue_test import SHORT  # noqa: E402

BIN = None
NWB_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "..", "..", "shared", "reference", "nwb-tools",
                         "nwb-check")


class Daemon:
    """dynclampd on a free loopback port; its log goes to a file."""

    def __init__(self, *flags, data=None, keep_dir=None, prefix=()):
        self.dir = keep_dir or tempfile.mkdtemp(prefix="dynclamp_fault_")
        self.data = data or os.path.join(self.dir, "data")
        tag = str(time.monotonic_ns())
        port_file = os.path.join(self.dir, f"port{tag}")
        metrics_file = os.path.join(self.dir, f"metrics{tag}")
        self.log_path = os.path.join(self.dir, f"log{tag}")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [*prefix, os.path.join(BIN, "dynclampd"), "--listen=127.0.0.1:0",
             "--metrics_listen=127.0.0.1:0", f"--port_file={port_file}",
             f"--metrics_port_file={metrics_file}", f"--data_dir={self.data}",
             *flags],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.server = self.metrics = None
        for _ in range(200):
            if os.path.exists(metrics_file) and os.path.getsize(metrics_file):
                with open(port_file) as f:
                    self.server = f"127.0.0.1:{f.read().strip()}"
                with open(metrics_file) as f:
                    self.metrics = f"http://127.0.0.1:{f.read().strip()}/metrics"
                break
            time.sleep(0.05)
        assert self.server, open(self.log_path).read()

    def cli(self, *args, timeout=60):
        return subprocess.run(
            [os.path.join(BIN, "dynclamp"), f"--server={self.server}", *args],
            capture_output=True, text=True, timeout=timeout)

    def stream(self, out, *signals, duration=0):
        return subprocess.Popen(
            [os.path.join(BIN, "dynclamp"), f"--server={self.server}",
             "stream", "--signals", ",".join(signals), "--format", "csv",
             "--duration", str(duration), "-o", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def metric(self, name):
        text = urllib.request.urlopen(self.metrics, timeout=5).read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


def stream_summary(proc):
    """(samples, lost) from a finished `dynclamp stream`."""
    err = proc.stderr.read()
    proc.wait(timeout=30)
    proc.stderr.close()
    m = re.search(r"(\d+) samples, (\d+) lost", err)
    assert m, err
    return int(m.group(1)), int(m.group(2))


class MisbehavingClientsTest(unittest.TestCase):
    WINDOW_S = 6.0

    def test_misbehaving_clients_cost_the_loop_and_the_others_nothing(self):
        # As on a rig, and the daemon's default: the loop on its own CPU,
        # spinning up to its deadlines (so the idle CPU's wake-up delays do
        # not blur the comparison), the daemon's other threads and the
        # clients' traffic on the others.
        # Here the clients are local, so they are kept off the loop's CPU
        # as a remote client's packets are by IRQ affinity.
        cpus = sorted(os.sched_getaffinity(0))
        flags = ["--period_us=100", "--sim_cells=ca1,passive",
                 "--max_subscribers=32"]
        if len(cpus) > 1:
            flags.append(f"--cpu={cpus[-1]}")
            os.sched_setaffinity(0, cpus[:-1])
        d = Daemon(*flags)
        try:
            self.assertEqual(d.cli("start").returncode, 0)
            time.sleep(0.5)
            # A quiet window, for the machine's own overruns.
            o0 = d.metric("dynclamp_loop_overruns_total")
            time.sleep(self.WINDOW_S)
            o1 = d.metric("dynclamp_loop_overruns_total")

            good_out = os.path.join(d.dir, "good.csv")
            good = d.stream(good_out, "cell0.v_mv", "cell0.i_pa",
                            duration=self.WINDOW_S)
            stalled = [d.stream(os.path.join(d.dir, f"stall{i}.csv"),
                                "cell0.v_mv") for i in range(3)]
            time.sleep(0.3)
            for p in stalled:
                p.send_signal(signal.SIGSTOP)  # stops reading, keeps the socket

            stop = threading.Event()
            counts = {"flood": 0, "oversized": 0, "vanished": 0, "slow": 0}
            errors = []

            def flood():
                with grpc.insecure_channel(d.server) as ch:
                    get_run = ch.unary_unary("/dynclamp.v1.RunService/GetRun")
                    while not stop.is_set():
                        get_run(b"", timeout=5)
                        counts["flood"] += 1

            def oversized():
                with grpc.insecure_channel(d.server) as ch:
                    load = ch.unary_unary("/dynclamp.v1.ModelService/LoadSpec")
                    huge = b"\x0a" + b"\x80\x80\x80\x04" + b"x" * (8 << 20)
                    while not stop.is_set():
                        try:
                            load(huge, timeout=5)
                            errors.append("an 8 MB message was accepted")
                        except grpc.RpcError as e:
                            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                                errors.append(f"oversized: {e.code()}")
                        counts["oversized"] += 1
                        time.sleep(0.1)

            def vanish():
                while not stop.is_set():
                    p = d.stream(os.devnull, "cell0.v_mv", "cell1.v_mv")
                    time.sleep(0.3)
                    p.kill()  # gone mid-stream, no goodbye
                    p.wait()
                    p.stderr.close()
                    counts["vanished"] += 1

            def well_behaved_calls():
                while not stop.is_set():
                    t = time.monotonic()
                    r = d.cli("status", timeout=30)
                    if r.returncode != 0:
                        errors.append(f"status failed: {r.stderr}")
                    counts["slow"] = max(counts["slow"], time.monotonic() - t)
                    time.sleep(0.2)

            threads = [threading.Thread(target=f) for f in
                       (flood, flood, flood, oversized, vanish, vanish,
                        well_behaved_calls)]
            for t in threads:
                t.start()
            o2 = d.metric("dynclamp_loop_overruns_total")
            good.wait(timeout=60)
            o3 = d.metric("dynclamp_loop_overruns_total")
            stop.set()
            for t in threads:
                t.join(timeout=30)
            for p in stalled:
                p.kill()
                p.wait()
                p.stderr.close()

            samples, lost = stream_summary(good)
            quiet, loaded = o1 - o0, o3 - o2
            print(f"FIGURES misbehaving clients ({self.WINDOW_S:.0f} s, 10 kHz): "
                  f"{counts['flood']} flood calls, {counts['oversized']} "
                  f"oversized refused, {counts['vanished']} streams vanished, "
                  f"3 stalled; well-behaved stream {samples} samples, {lost} "
                  f"lost; slowest status call {counts['slow']:.2f} s; overruns "
                  f"{quiet:.0f} quiet vs {loaded:.0f} under abuse")
            self.assertEqual(errors, [])
            self.assertGreater(counts["flood"], 100)
            self.assertGreater(counts["vanished"], 5)
            self.assertEqual(lost, 0)
            # The stream saw the whole window (10 kHz), give or take startup.
            self.assertGreater(samples, 0.9 * self.WINDOW_S * 10_000)
            self.assertLess(counts["slow"], 5.0)
            # What keeps the clients' load off the loop: no thread of the
            # daemon but the loop's may run on its CPU.
            if len(cpus) > 1:
                on_rt_cpu = []
                for tid in os.listdir(f"/proc/{d.proc.pid}/task"):
                    try:
                        with open(f"/proc/{d.proc.pid}/task/{tid}/status") as f:
                            allowed = re.search(
                                r"Cpus_allowed_list:\s*(\S+)",
                                f.read()).group(1)
                    except (FileNotFoundError, ProcessLookupError):
                        continue  # a thread that has just ended
                    if allowed == str(cpus[-1]) or \
                            str(cpus[-1]) in allowed.replace("-", ","):
                        on_rt_cpu.append(allowed)
                self.assertEqual(on_rt_cpu, [str(cpus[-1])])
            # And the overruns stay near the machine's own. On this VM they
            # come in bursts from the host (equal windows gave 6 to 500), so
            # only a gross excess fails: more than 3x the quiet window plus
            # 1 % of the window's cycles.
            cycles = self.WINDOW_S * 10_000
            self.assertLessEqual(loaded, 3 * quiet + 0.01 * cycles)
            # The daemon is still whole: the stalled and vanished streams
            # are gone, and it serves.
            time.sleep(0.5)
            self.assertEqual(d.metric("dynclamp_subscribers"), 0)
            self.assertEqual(d.cli("stop").returncode, 0)
            self.assertIsNone(d.proc.poll())
        finally:
            os.sched_setaffinity(0, cpus)
            d.stop()
            shutil.rmtree(d.dir, ignore_errors=True)


ONE_LONG_SWEEP = """
name: long_sweep
sweeps:
  - stimuli:
      - cell: cell0
        epochs:
          - {duration_s: 60, hold: {value: 200}}
"""


# What kill -9 may lose of a recording: the recorder hands samples to the
# system at least every 200 ms (--recorder_flush_ms); 0.5 s leaves a margin
# for a loaded machine.
KILL_LOSS_BOUND_S = 0.5


def cycles_at_kill(d):
    """Kills the daemon with SIGKILL; returns the cycles its loop had run,
    from the metric read just before, plus the time to the kill at 20 kHz
    (the simulated rig's nominal clock runs that many)."""
    before = time.monotonic()
    cycles = d.metric("dynclamp_loop_cycles_total")
    d.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    d.proc.wait()
    # The metric was read somewhere between `before` and the kill.
    return int(cycles + (killed - before) * 20_000)


def recorded_samples(path):
    """Samples of cell0 in a (partial) recording, read whole."""
    with h5py.File(path, "r") as f:
        series = [n for n in f["acquisition"] if n.startswith("cell0_")]
        assert series, list(f["acquisition"])
        total = 0
        for n in series:
            data = f["acquisition"][n]["data"][:]
            assert (abs(data) < 1e6).all()
            total += data.shape[0]
        return total


class Load:
    """One busy process per CPU at normal priority while alive."""

    def __enter__(self):
        self.procs = [subprocess.Popen(
            [sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


class RandomKillNineTest(unittest.TestCase):
    """kill -9 at random moments of a recording, 10 times, on a loaded
    machine: each time at most KILL_LOSS_BOUND_S of the samples the loop
    produced are missing from the file, and every file passes nwb-check."""
    KILLS = 10

    def test_kill_9_at_random_moments_loses_at_most_half_a_second(self):
        rng = random.Random(19)
        losses, paths = [], []
        work = tempfile.mkdtemp(prefix="dynclamp_kill_")
        try:
            with Load():
                for k in range(self.KILLS):
                    d = Daemon(data=os.path.join(work, f"data{k}"))
                    try:
                        p = os.path.join(d.dir, "long.yaml")
                        with open(p, "w") as f:
                            f.write(ONE_LONG_SWEEP)
                        r = d.cli("run", p)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        path = re.search(r"recording to (\S+\.nwb)",
                                         r.stdout).group(1)
                        time.sleep(rng.uniform(1.0, 4.0))
                        produced = cycles_at_kill(d)
                    finally:
                        d.stop()
                    recorded = recorded_samples(path)
                    losses.append((produced - recorded) / 20_000.0)
                    paths.append(path)
            check = subprocess.run([NWB_CHECK, *paths], capture_output=True,
                                   text=True, timeout=600)
            print(f"FIGURES kill -9 x{self.KILLS} under load: lost "
                  f"{', '.join(f'{x:.3f}' for x in losses)} s (max "
                  f"{max(losses):.3f} s); nwb-check: "
                  f"{check.stdout.strip().splitlines()[-1]}", flush=True)
            self.assertLessEqual(max(losses), KILL_LOSS_BOUND_S)
            self.assertGreaterEqual(min(losses), -0.01,
                                    "more samples than the loop produced")
            self.assertEqual(check.returncode, 0, check.stdout)
        finally:
            shutil.rmtree(work, ignore_errors=True)


class KillNineTest(unittest.TestCase):
    def test_kill_9_mid_run_loses_at_most_a_second(self):
        d = Daemon("--sim_cells=ca1,passive")
        d2 = None
        try:
            long_path = os.path.join(d.dir, "long.yaml")
            short_path = os.path.join(d.dir, "short.yaml")
            with open(long_path, "w") as f:
                f.write(ONE_LONG_SWEEP)
            with open(short_path, "w") as f:
                f.write(SHORT)
            for p in (long_path, short_path):
                self.assertEqual(d.cli("queue", "add", p).returncode, 0)
            self.assertEqual(d.cli("queue", "start").returncode, 0)
            deadline = time.time() + 20
            while "(long_sweep): sweep" not in d.cli("queue", "status").stdout:
                self.assertLess(time.time(), deadline, "the run did not start")
                time.sleep(0.05)
            time.sleep(3.3)  # into the run, between two flushes
            produced = cycles_at_kill(d)

            d2 = Daemon("--sim_cells=ca1,passive", data=d.data, keep_dir=d.dir)
            history = d2.cli("history").stdout
            self.assertRegex(history, r"long_sweep\s+INTERRUPTED", history)
            listing = d2.cli("queue", "list").stdout
            self.assertIn("1 waiting", listing)
            self.assertIn("short", listing)
            path = re.search(r"(\S+long_sweep\.nwb)", history).group(1)

            recorded = recorded_samples(path)
            lost_s = (produced - recorded) / 20_000.0
            print(f"FIGURES kill -9: the loop produced {produced} samples, "
                  f"the partial file holds {recorded}, lost {lost_s:.3f} s")
            self.assertGreater(recorded, 20_000)
            self.assertLessEqual(lost_s, KILL_LOSS_BOUND_S)

            # After the restart the rig injects nothing: a clamp run with no
            # spec streams a current of exactly 0 and the cell rests.
            self.assertEqual(d2.cli("start", "--duration", "0.5").returncode, 0)
            out = os.path.join(d.dir, "after.csv")
            p = d2.stream(out, "cell0.i_pa", "cell0.v_mv", duration=0.3)
            samples, lost = stream_summary(p)
            self.assertGreater(samples, 1000)
            with open(out) as f:
                rows = [line.split(",") for line in f.read().splitlines()[1:]]
            currents = [float(r[1]) for r in rows if len(r) >= 3]
            self.assertTrue(currents)
            self.assertEqual(max(abs(c) for c in currents), 0.0)
        finally:
            if d2:
                d2.stop()
            d.stop()
            shutil.rmtree(d.dir, ignore_errors=True)


if __name__ == "__main__":
    test_main.main(["bin"], [globals()])
