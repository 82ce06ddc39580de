#!/usr/bin/python3
"""Abusive clients against the real daemon, from an independent gRPC client
(the generated Python stubs), loopback only, bounded in time and count.

  - the memory attack: streams naming a signal 10 000 times (and one
    100 000 times) that never read. Duplicates collapse, a client holds at
    most --max_streams_per_client streams, what waits for a slow subscriber
    is bounded in bytes; the daemon's RSS stays under a stated bound, a
    well-behaved stream loses nothing, and memory comes back after cancel.
  - SIGTERM with a stream that never reads: the daemon waits 2 s for its
    streams, cancels that one and exits 0; a watcher that reads gets the
    last run and UNAVAILABLE.
  - a 20 000-character parameter name: NOT_FOUND with a bounded message; a
    stream on the same connection carries on.
  - 200 000 live changes: GetLoadedSpec lists the latest
    --max_live_changes and counts the rest.
  - INVALID_ARGUMENT carries a google.rpc.BadRequest whose field is a path
    that exists in the file or message the client sent.
  - with tokens: reflection and metrics need one, health does not.
  - a subscriber frozen (SIGSTOP) for 30 s keeps its stream and is told
    what it lost.
  - the fidelity lab as a guest: over budget refused, a deadline frees it
    for the next lab, refused during a run without the rig lock, workers
    at nice 10 off the RT CPU, SIGTERM mid-lab exits promptly.

Prints FIGURES: lines for the closing note.
Usage: abuse_test.py --bin build/bin --python build/python
"""
import argparse
import os
import re
import signal
import sys
import threading
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_test  # noqa: E402
from fault_test import Daemon, stream_summary  # noqa: E402

pb = None  # the generated modules, imported in main()


def figure(text):
    print(f"FIGURES: {text}", flush=True)


def bad_request(error):
    """The BadRequest field violations of an RpcError: [(field, reason)]."""
    from google.rpc import error_details_pb2
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = error_details_pb2.Status.FromString(value)
            out = []
            for any_ in status.details:
                bad = error_details_pb2.BadRequest()
                if any_.Unpack(bad):
                    out += [(v.field, v.description)
                            for v in bad.field_violations]
            return out
    return None


def path_exists(descriptor, path):
    """Whether "a.b[3].c" names fields of `descriptor`, message by message."""
    for part in path.split("."):
        name = part.split("[", 1)[0]
        if descriptor is None or name not in descriptor.fields_by_name:
            return False
        field = descriptor.fields_by_name[name]
        descriptor = field.message_type
    return True


class StreamBudgetTest(unittest.TestCase):
    # The daemon's budgets here, small so that a 10 s attack reaches them.
    QUEUE_BYTES = 2 << 20
    TOTAL_BYTES = 8 << 20
    # RSS bound: what the budgets let wait, plus gRPC's own buffers for 8
    # streams (flow-control windows and in-flight messages), plus margin.
    RSS_MARGIN_KB = 96 << 10

    def started_for_attackers(self, d):
        """Starts a run on `d`; returns a channel for clients that never
        read, a StreamService stub on it and the signals there are."""
        # An attacker that never reads keeps its receive windows small: with
        # gRPC's bandwidth-delay probing on, the client's own transport can
        # grow each window to tens of MB on loopback and take in a whole
        # 15 s attack, so whether the daemon's budgets engage would depend
        # on the machine (0 samples lost on one CI machine).
        ch = grpc.insecure_channel(d.server, options=[
            ("grpc.http2.bdp_probe", 0),
            ("grpc.http2.lookahead_bytes", 64 << 10)])
        self.assertEqual(d.cli("start").returncode, 0)
        signals = [s.name for s in pb.models_grpc.ModelServiceStub(ch)
                   .ListSignals(pb.models.ListSignalsRequest()).signals]
        return ch, pb.stream_grpc.StreamServiceStub(ch), signals

    def attack(self, d, stub, signals, seconds):
        """Seven streams that never read, a canary beside them; returns
        (peak RSS kB, canary samples, canary lost)."""
        attackers = []
        for k in range(8):
            names = ["cell0.v_mv"] * (100_000 if k == 0 else 10_000)
            call = stub.Subscribe(pb.stream.SubscribeRequest(
                signals=names + signals))
            header = next(call)  # then never read again
            self.assertEqual(list(header.signals), signals,
                             "duplicates collapse, order kept")
            attackers.append(call)
        # The ninth stream of this client is refused, naming the limit.
        with self.assertRaises(grpc.RpcError) as refused:
            next(stub.Subscribe(pb.stream.SubscribeRequest(
                signals=["cell0.v_mv"])))
        self.assertEqual(refused.exception.code(),
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("--max_streams_per_client", refused.exception.details())
        # One attacker goes; a well-behaved stream takes its place.
        attackers.pop().cancel()
        time.sleep(0.2)
        canary = d.stream(os.path.join(d.dir, "canary.csv"),
                          "cell0.v_mv", "cell0.i_pa", duration=seconds)
        peak, queued = 0, 0
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            peak = max(peak, d.rss_kb())
            queued = max(queued, d.metric("dynclamp_stream_queued_bytes"))
            time.sleep(0.25)
        samples, lost = stream_summary(canary)
        attackers_lost = d.metric("dynclamp_subscriber_samples_lost_total")
        for call in attackers:
            call.cancel()
        time.sleep(1.0)
        return peak, samples, lost, attackers_lost, queued

    def test_memory_attack_is_bounded_and_others_lose_nothing(self):
        d = Daemon(f"--max_stream_queue_bytes={self.QUEUE_BYTES}",
                   f"--max_stream_bytes_total={self.TOTAL_BYTES}",
                   "--max_streams_per_client=8")
        ch, stub, signals = self.started_for_attackers(d)
        try:
            time.sleep(0.5)
            rss0 = d.rss_kb()
            # The attackers' own client takes a few MB per stream before
            # its flow-control windows close; then the daemon's budgets
            # engage: 15 s covers both.
            seconds, rounds = 15, 2
            results = [self.attack(d, stub, signals, seconds)
                       for _ in range(rounds)]
            after = d.rss_kb()
            peaks = [r[0] for r in results]
            bound = rss0 + (self.TOTAL_BYTES >> 10) + self.RSS_MARGIN_KB
            figure(f"memory attack (7 streams x 10 000-100 000 names, never "
                   f"read, {seconds} s, {rounds} times): RSS {rss0 // 1024} "
                   f"MB -> peaks {[p // 1024 for p in peaks]} MB (bound "
                   f"{bound // 1024} MB), {after // 1024} MB after; "
                   f"attackers lost {[int(r[3]) for r in results]} samples; "
                   f"canaries {[r[1] for r in results]} samples, "
                   f"{[r[2] for r in results]} lost; queued at most "
                   f"{[int(r[4]) for r in results]} bytes (budget "
                   f"{self.TOTAL_BYTES})")
            self.assertLess(max(peaks), bound)
            for peak, samples, lost, attackers_lost, queued in results:
                self.assertEqual(lost, 0)
                self.assertGreater(samples, seconds * 20_000 * 0.9)
                self.assertGreater(attackers_lost, 0,
                                   "the attackers lose their own samples")
                # Each attack, the second as much as the first, is held to
                # the daemon's budget by its own accounting; RSS alone
                # cannot tell a leak between rounds from the allocator's
                # arenas (12 MB apart on one CI machine).
                self.assertLessEqual(queued, self.TOTAL_BYTES)
                self.assertGreater(queued, self.QUEUE_BYTES,
                                   "the attackers filled their queues")
            self.assertEqual(d.metric("dynclamp_stream_queued_bytes"), 0,
                             "nothing waits for streams that have ended")
            status = d.cli("status")
            self.assertEqual(status.returncode, 0, status.stderr)
        finally:
            ch.close()
            d.stop()


    def test_sigterm_waits_for_streams_but_not_for_one_that_never_reads(self):
        d = Daemon()
        ch, stub, signals = self.started_for_attackers(d)
        try:
            stuck = stub.Subscribe(pb.stream.SubscribeRequest(
                signals=signals))
            next(stuck)  # the header; then never read again
            watch = pb.runs_grpc.RunServiceStub(ch).WatchRun(
                pb.runs.WatchRunRequest())
            runs, ended = [], []

            def read_runs():
                try:
                    runs.extend(r.state for r in watch)
                    ended.append(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    ended.append(e.code())
            reader = threading.Thread(target=read_runs, daemon=True)
            reader.start()
            # Its windows are full when chunks wait in the daemon.
            for _ in range(100):
                if d.metric("dynclamp_stream_queued_bytes") > 0:
                    break
                time.sleep(0.1)
            self.assertGreater(d.metric("dynclamp_stream_queued_bytes"), 0)
            t_term = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            code = d.proc.wait(timeout=10)
            exit_s = time.monotonic() - t_term
            reader.join(timeout=10)
            with open(d.log_path) as f:
                log = f.read()
            figure(f"SIGTERM with a stream that never reads: exit {code} "
                   f"after {exit_s:.2f} s; the watcher saw "
                   f"{[pb.runs.RunState.Name(s) for s in runs]}, then "
                   f"{ended}")
            self.assertEqual(code, 0)
            # The daemon waits 2 s for streams to finish, then cancels
            # them (and its metrics server takes up to 2 s to stop): the
            # margin covers a loaded machine.
            self.assertLess(exit_s, 8.0)
            self.assertIn("a client not reading): cancelled", log)
            # A stream that reads gets the last run and the reason.
            self.assertEqual(runs[-1], pb.runs.ABORTED)
            self.assertEqual(ended, [grpc.StatusCode.UNAVAILABLE])
        finally:
            ch.close()
            d.stop()


class RequestBudgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        spec = os.path.join(cls.d.dir, "tonic.yaml")
        with open(spec, "w") as f:
            f.write("conductances:\n  - {name: gaba, cell: cell0, constant: "
                    "{g_ns: 10, e_rev_mv: -75}}\n")
        r = cls.d.cli("load", spec)
        assert r.returncode == 0, r.stderr
        cls.ch = grpc.insecure_channel(cls.d.server)
        cls.models = pb.models_grpc.ModelServiceStub(cls.ch)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.d.stop()

    def test_a_huge_name_is_not_found_briefly_and_spares_other_streams(self):
        self.assertEqual(self.d.cli("start").returncode, 0)
        stream = pb.stream_grpc.StreamServiceStub(self.ch).Subscribe(
            pb.stream.SubscribeRequest(signals=["cell0.v_mv"]))
        next(stream)
        with self.assertRaises(grpc.RpcError) as e:
            self.models.SetParameter(pb.models.SetParameterRequest(
                parameter="x" * 20_000, value=1))
        err = e.exception
        self.assertEqual(err.code(), grpc.StatusCode.NOT_FOUND)
        self.assertLess(len(err.details()), 400)
        self.assertIn("20000 characters", err.details())
        # The same connection's stream still delivers.
        samples = sum(next(stream).num_samples for _ in range(20))
        self.assertGreater(samples, 0)
        stream.cancel()
        figure(f"a 20 000-character parameter name: {err.code().name}, "
               f"{len(err.details())}-character message")
        self.assertEqual(self.d.cli("stop").returncode, 0)

    def test_live_changes_keep_the_latest_and_count_the_rest(self):
        # Live changes are made while the clamp runs: it applies what is
        # pending every cycle.
        self.assertEqual(self.d.cli("start").returncode, 0)
        self.addCleanup(self.d.cli, "stop")
        n, kept = 200_000, 1000
        t0 = time.monotonic()
        pending = []
        for k in range(n):
            pending.append(self.models.SetParameter.future(
                pb.models.SetParameterRequest(parameter="gaba.g_ns",
                                              value=k % 50)))
            if len(pending) == 100:
                for f in pending:
                    f.result(timeout=60)
                pending = []
        for f in pending:
            f.result(timeout=60)
        # Pipelined calls may be served out of order; the last one is not.
        self.models.SetParameter(pb.models.SetParameterRequest(
            parameter="gaba.g_ns", value=42.5))
        n += 1
        seconds = time.monotonic() - t0
        loaded = self.models.GetLoadedSpec(pb.models.GetLoadedSpecRequest())
        figure(f"{n} live changes in {seconds:.1f} s: GetLoadedSpec lists "
               f"{len(loaded.live_changes)}, counts "
               f"{loaded.live_changes_dropped} earlier, "
               f"{loaded.ByteSize()} bytes")
        self.assertEqual(len(loaded.live_changes), kept)
        self.assertEqual(loaded.live_changes_dropped, n - kept)
        self.assertEqual(loaded.live_changes[-1].value, 42.5)
        self.assertLess(loaded.ByteSize(), 100_000)

    def test_invalid_arguments_carry_a_field_path_that_exists(self):
        # A path names a field of the request, or of the file the user
        # wrote (a spec, a protocol).
        spec_paths = [pb.models.LoadSpecRequest.DESCRIPTOR,
                      pb.spec.Spec.DESCRIPTOR]
        protocol_paths = [pb.runs.RunProtocolRequest.DESCRIPTOR,
                          pb.protocol.Protocol.DESCRIPTOR]
        runs = pb.runs_grpc.RunServiceStub(self.ch)

        def epoch(duration_s):
            return pb.protocol.Epoch(duration_s=duration_s,
                                     wait=pb.protocol.Epoch.Wait())

        def protocol(epochs, **kw):
            return pb.runs.RunProtocolRequest(protocol=pb.protocol.Protocol(
                sweeps=[pb.protocol.Sweep(stimuli=[pb.protocol.Stimulus(
                    cell="cell0", epochs=epochs)])], **kw))

        def spec(name, cell):
            return pb.spec.Spec(conductances=[pb.spec.Conductance(
                name=name, cell=cell,
                constant=pb.spec.ConstantConductance(g_ns=1))])

        cases = [
            ("ValidateSpec", self.models.ValidateSpec,
             pb.models.ValidateSpecRequest(spec=spec("x" * 300, "cell0")),
             spec_paths),
            ("LoadSpec", self.models.LoadSpec,
             pb.models.LoadSpecRequest(spec=spec("g", "cell9")), spec_paths),
            ("ValidateProtocol", runs.ValidateProtocol,
             protocol([epoch(1), epoch(1e300)]), protocol_paths),
            ("ValidateProtocol", runs.ValidateProtocol,
             protocol([epoch(1)], qc=pb.protocol.TimingQc(
                 max_step_us=float("nan"))), protocol_paths),
        ]
        for name, method, request, descriptors in cases:
            with self.assertRaises(grpc.RpcError) as e:
                method(request)
            err = e.exception
            self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT,
                             err.details())
            violations = bad_request(err)
            self.assertTrue(violations, f"no BadRequest: {err.details()}")
            field, reason = violations[0]
            self.assertTrue(field and reason, violations)
            self.assertTrue(err.details().endswith(": " + reason),
                            (reason, err.details()))
            self.assertLess(len(err.details()), 1100)
            self.assertTrue(any(path_exists(d, field) for d in descriptors),
                            f"{name}: '{field}' is not a field of "
                            f"{[d.full_name for d in descriptors]}: "
                            f"{err.details()}")
            figure(f"{name}: INVALID_ARGUMENT with BadRequest field "
                   f"'{field}'")


class TokensCoverEverythingTest(unittest.TestCase):
    REFLECTION = ("/grpc.reflection.v1alpha.ServerReflection/"
                  "ServerReflectionInfo")
    LIST_SERVICES = b"\x3a\x00"  # ServerReflectionRequest{list_services: ""}

    def test_reflection_and_metrics_need_a_token_health_does_not(self):
        import subprocess
        import urllib.error
        import urllib.request
        d0 = fault_test.tempfile.mkdtemp(prefix="dynclamp_tokens_")
        tokens = os.path.join(d0, "tokens")
        issued = subprocess.run(
            [os.path.join(fault_test.BIN, "dynclampd"),
             f"--token_file={tokens}", "--issue_token=olga:observer"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(issued.returncode, 0, issued.stderr)
        token = [w for w in issued.stdout.split() if w.startswith("dct_")][0]
        d = None
        try:
            d = Daemon(f"--token_file={tokens}")
            with grpc.insecure_channel(d.server) as ch:
                reflect = ch.stream_stream(self.REFLECTION)
                got = []
                with self.assertRaises(grpc.RpcError) as e:
                    for message in reflect(iter([self.LIST_SERVICES]),
                                           timeout=5):
                        got.append(message)
                self.assertEqual(e.exception.code(),
                                 grpc.StatusCode.UNAUTHENTICATED)
                self.assertFalse(any(got), f"reflection answered: {got}")
                # With an observer token it answers, naming our services.
                answer = b"".join(reflect(
                    iter([self.LIST_SERVICES]), timeout=5,
                    metadata=[("authorization", f"Bearer {token}")]))
                self.assertIn(b"dynclamp.v1.RunService", answer)
                health = ch.unary_unary("/grpc.health.v1.Health/Check")
                self.assertEqual(health(b"", timeout=5), b"\x08\x01",
                                 "SERVING, and nothing else")
            # Metrics follow the same rule, on loopback too.
            with self.assertRaises(urllib.error.HTTPError) as http:
                urllib.request.urlopen(d.metrics, timeout=5)
            self.assertEqual(http.exception.code, 401)
            figure(f"with tokens: reflection without one "
                   f"{e.exception.code().name} after {len(got)} messages "
                   f"({sum(len(m) for m in got)} bytes); health SERVING; "
                   f"metrics HTTP {http.exception.code}")
        finally:
            if d is not None:
                d.stop()


class FrozenSubscriberTest(unittest.TestCase):
    FROZEN_S = 30

    def test_a_subscriber_frozen_for_30_s_keeps_its_stream(self):
        d = Daemon()
        try:
            self.assertEqual(d.cli("start").returncode, 0)
            seconds = self.FROZEN_S + 10
            p = d.stream(os.path.join(d.dir, "frozen.csv"), "cell0.v_mv",
                         duration=seconds)
            time.sleep(1.0)
            p.send_signal(signal.SIGSTOP)  # reads nothing, answers nothing
            time.sleep(self.FROZEN_S)
            self.assertEqual(d.metric("dynclamp_subscribers"), 1,
                             "the frozen subscriber's stream was dropped")
            p.send_signal(signal.SIGCONT)
            samples, lost = stream_summary(p)
            figure(f"a subscriber frozen (SIGSTOP) for {self.FROZEN_S} s: "
                   f"stream intact, {samples} samples received, {lost} "
                   f"counted lost")
            self.assertGreater(lost, 0)
            # It received what came before, after, and what its queue held.
            self.assertGreater(samples, (seconds - self.FROZEN_S) * 20_000 *
                               0.8)
            self.assertLessEqual(samples + lost, seconds * 20_000 * 1.02)
        finally:
            d.stop()


class LabGuestTest(unittest.TestCase):
    """The fidelity lab is a guest: refused during a run without the rig
    lock, bounded, low in priority and off the RT thread's CPU, and stopped
    promptly by a deadline or SIGTERM."""

    def lab_stub(self, ch):
        return pb.fidelity_grpc.FidelityServiceStub(ch)

    def wait_idle_lab(self, lab, t_from):
        """Seconds from `t_from` until a small lab is accepted."""
        small = pb.fidelity.RunLabRequest(
            family="na", trials=1, fi_currents_pa=[0],
            conditions=[pb.fidelity.LabCondition(step_us=50)])
        while True:
            try:
                lab.RunLab(small, timeout=60)
                return time.monotonic() - t_from
            except grpc.RpcError as e:
                if "already running" not in (e.details() or ""):
                    raise
            time.sleep(0.005)

    def test_the_lab_is_a_guest(self):
        d = Daemon("--lab_threads=2")
        ch = grpc.insecure_channel(d.server)
        try:
            lab = self.lab_stub(ch)
            whole = pb.fidelity.RunLabRequest(family="na")  # the paper's lab
            # Over the budget: named, refused before anything runs.
            with self.assertRaises(grpc.RpcError) as e:
                lab.RunLab(pb.fidelity.RunLabRequest(
                    family="na", trials=100, fi_duration_s=10), timeout=30)
            self.assertEqual(e.exception.code(),
                             grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("--max_lab_seconds", e.exception.details())

            # A deadline stops it: the next lab is accepted promptly.
            with self.assertRaises(grpc.RpcError) as e:
                lab.RunLab(whole, timeout=1.0)
            t_deadline = time.monotonic()
            self.assertEqual(e.exception.code(),
                             grpc.StatusCode.DEADLINE_EXCEEDED)
            freed_s = self.wait_idle_lab(lab, t_deadline)

            # During a run: refused without the lock, accepted with it.
            self.assertEqual(d.cli("start").returncode, 0)
            with self.assertRaises(grpc.RpcError) as e:
                lab.RunLab(whole, timeout=30)
            self.assertEqual(e.exception.code(),
                             grpc.StatusCode.FAILED_PRECONDITION)
            self.assertIn("rig lock", e.exception.details())
            r = d.cli("--operator", "olga", "lock", "acquire")
            self.assertEqual(r.returncode, 0, r.stderr)
            running = lab.RunLab.future(
                whole, timeout=60, metadata=[("dynclamp-operator", "olga")])
            time.sleep(1.0)
            # Its workers: 10 nice levels below the daemon's threads, and
            # off the RT thread's CPU.
            with open(f"/proc/{d.proc.pid}/stat") as f:
                base_nice = int(f.read().rsplit(")", 1)[1].split()[16])
            workers = []
            rt_cpu = None
            for tid in os.listdir(f"/proc/{d.proc.pid}/task"):
                try:
                    with open(f"/proc/{d.proc.pid}/task/{tid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    with open(f"/proc/{d.proc.pid}/task/{tid}/status") as f:
                        allowed = re.search(r"Cpus_allowed_list:\s+(\S+)",
                                            f.read()).group(1)
                except FileNotFoundError:
                    continue
                policy = int(fields[38])  # SCHED_FIFO = 1
                if policy == 1:
                    rt_cpu = allowed
                elif int(fields[16]) == min(base_nice + 10, 19):  # nice
                    workers.append(allowed)
            self.assertEqual(len(workers), 2,
                             f"two lab workers at nice {base_nice} + 10")
            if rt_cpu is not None and "," not in rt_cpu and "-" not in rt_cpu:
                for allowed in workers:
                    self.assertNotIn(rt_cpu, allowed.replace("-", ","),
                                     "a lab worker may run on the RT CPU")
            # SIGTERM stops it and the daemon exits promptly.
            t_term = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            code = d.proc.wait(timeout=10)
            exit_s = time.monotonic() - t_term
            with self.assertRaises(grpc.RpcError):
                running.result(timeout=10)
            figure(f"lab: over budget refused naming --max_lab_seconds; "
                   f"next lab accepted {freed_s * 1e3:.0f} ms after a 1 s "
                   f"deadline; refused during a run without the lock; 2 "
                   f"workers 10 nice levels down, off CPU {rt_cpu}; SIGTERM "
                   f"mid-lab: "
                   f"exit {code} after {exit_s:.2f} s")
            self.assertEqual(code, 0)
            self.assertLess(exit_s, 3.0)
            # A small lab takes ~0.1 s itself; the stop within 100 ms is
            # asserted by the lab's unit test, with margin for load here.
            self.assertLess(freed_s, 2.0)
        finally:
            ch.close()
            d.stop()


def main():
    global pb
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--python", required=True)
    args, rest = parser.parse_known_args()
    fault_test.BIN = os.path.abspath(args.bin)
    sys.path.insert(0, os.path.abspath(args.python))
    from dynclamp.v1 import (fidelity_pb2, fidelity_pb2_grpc, models_pb2,
                             models_pb2_grpc, protocol_pb2, runs_pb2,
                             runs_pb2_grpc, spec_pb2, stream_pb2,
                             stream_pb2_grpc)

    class Modules:
        fidelity, fidelity_grpc = fidelity_pb2, fidelity_pb2_grpc
        models, models_grpc = models_pb2, models_pb2_grpc
        protocol = protocol_pb2
        runs, runs_grpc = runs_pb2, runs_pb2_grpc
        spec = spec_pb2
        stream, stream_grpc = stream_pb2, stream_pb2_grpc
    pb = Modules
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
