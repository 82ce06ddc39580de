"""The dynclamp Python package against the real daemon on loopback (the
default simulated rig: two cells at 20 kHz): every call, its error path, and
the numbers a user would see."""
import filecmp
import hashlib
import os
import re
import subprocess
import time

import grpc
import numpy as np
import pytest

import conftest
from conftest import EXAMPLES, Daemon

import dynclamp
from dynclamp import runs_pb2

GABA = os.path.join(EXAMPLES, "gaba_step.yaml")
TEST_PULSE = os.path.join(EXAMPLES, "protocols", "test_pulse.yaml")
FI_CURVE = os.path.join(EXAMPLES, "protocols", "fi_curve.yaml")
RATE_HZ = 20000.0


def spike_count(v, threshold=0.0):
    return int(np.count_nonzero((v[1:] >= threshold) & (v[:-1] < threshold)))


def short_protocol(seconds=0.2, sweeps=2, name="py_short"):
    return {"name": name, "sweeps": [
        {"name": f"s{k}", "stimuli": [{"cell": "cell0", "epochs": [
            {"duration_s": seconds, "hold": {"value": 50.0 * k}}]}]}
        for k in range(sweeps)]}


# ---- the rig, specs, parameters ---------------------------------------------

def test_rig_mechanisms_and_signals(rig):
    r = rig.rig()
    assert r.backend == "sim"
    assert r.period_ns == 50000
    assert [c.name for c in r.channels] == ["cell0", "cell1"]
    # One version, from CMake's project(): the daemon's and the package's.
    assert r.daemon_version == dynclamp.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", r.daemon_version)
    kinds = rig.mechanisms()
    assert len(kinds.ListFields()) > 0
    rig.load_spec(GABA)
    names = {s.name: s.unit for s in rig.signals()}
    assert names["cell0.v_mv"] == "mV"
    assert names["gaba.g_ns"] == "nS"


def test_specs_from_a_file_a_dict_and_a_message(rig):
    as_file = rig.validate_spec(GABA)
    assert "gaba.g_ns" in as_file.signals
    import yaml
    with open(GABA) as f:
        d = yaml.safe_load(f)
    assert list(rig.validate_spec(d).signals) == list(as_file.signals)
    message, _ = dynclamp.files.spec(d)
    assert list(rig.validate_spec(message).signals) == list(as_file.signals)
    loaded = rig.load_spec(d)
    assert rig.loaded_spec().generation == loaded.generation > 0


def test_a_bad_spec_names_its_field_and_changes_nothing(rig):
    rig.load_spec(GABA)
    before = rig.loaded_spec().generation
    bad = {"conductances": [{"name": "gaba", "cell": "cell0", "ligand_gated": {
        "mode": "CONTINUOUS", "g_max_ns": -20, "e_rev_mv": -75,
        "tau_rise_ms": 20, "tau_decay_ms": 60}}]}
    with pytest.raises(dynclamp.InvalidArgument) as e:
        rig.load_spec(bad)
    assert e.value.field == "conductances[0].ligand_gated.g_max_ns"
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rig.loaded_spec().generation == before
    # A field that does not exist is refused before it is sent.
    with pytest.raises(dynclamp.InvalidArgument) as e:
        rig.validate_spec({"conductances": [{"name": "x", "g_maxx": 1}]})
    assert e.value.field == "conductances[0].g_maxx"
    with pytest.raises(FileNotFoundError):
        rig.load_spec("/nonexistent/spec.yaml")


def test_set_parameter_live_and_its_errors(rig):
    rig.load_spec(GABA)
    rig.set_parameter("gaba.g_max_ns", 35.0)
    changes = rig.loaded_spec().live_changes
    assert changes[-1].value == 35.0
    with pytest.raises(dynclamp.NotFound):
        rig.set_parameter("nope.g_max_ns", 1.0)
    with pytest.raises(dynclamp.InvalidArgument):
        rig.set_parameter("gaba.g_max_ns", -5.0)


def test_live_parameters_are_the_loaded_specs_with_their_values_now(rig):
    rig.load_spec(GABA)
    params = {p.name: p for p in rig.live_parameters()}
    g = params["gaba.g_max_ns"]
    assert (g.unit, g.value) == ("nS", 20.0) and g.min == 0 and g.max > 20
    kinds = {m.name: m for m in rig.mechanisms().mechanisms}
    live = {p.name for p in kinds["ligand_gated"].parameters if p.live}
    assert set(params) == {f"gaba.{n}" for n in live}
    rig.set_parameter("gaba.g_max_ns", 35.0)
    assert {p.name: p.value for p in rig.live_parameters()}[
        "gaba.g_max_ns"] == 35.0
    # A preset's own defaults, as the daemon lists them.
    rig.load_spec({"model_cells": [{"name": "m", "capacitance_pf": 100,
                                    "conductance_based": {}}],
                   "conductances": [{"name": "leak", "cell": "m",
                                     "preset": {"preset": "hh_leak"}}]})
    leak = {p.name: p for p in rig.live_parameters()}["leak.g_ns"]
    preset = next(p for p in kinds["hh_leak"].parameters if p.name == "g_ns")
    assert leak.value == preset.default_value > 0
    rig.unload_spec()
    assert rig.live_parameters() == []


def test_holding_current_depolarizes_the_cell(rig):
    rest = rig.record(["cell0.v_mv"], 0.3, start_run=True)["cell0.v_mv"]
    rig.hold("cell0", 100.0)
    try:
        assert [c.holding_pa for c in rig.rig().channels] == [100.0, 0.0]
        held = rig.record(["cell0.v_mv"], 0.3, start_run=True)["cell0.v_mv"]
    finally:
        rig.hold("cell0", 0.0)
    # 100 pA into the passive-ish cell below threshold: ~10 mV up.
    assert np.mean(held[-1000:]) > np.mean(rest[-1000:]) + 5
    with pytest.raises(dynclamp.DynclampError) as e:
        rig.hold("cell9", 10.0)
    assert e.value.code in (grpc.StatusCode.NOT_FOUND,
                            grpc.StatusCode.INVALID_ARGUMENT)


# ---- streams as numpy -------------------------------------------------------

def test_a_2_s_run_streams_exactly_its_samples_and_times(rig):
    rig.load_spec(GABA)
    trace = rig.record(["cell0.v_mv", "gaba.g_ns", "cell0.i_pa"], 2.0,
                       start_run=True)
    n = int(2.0 * RATE_HZ)
    assert len(trace.t) == n
    np.testing.assert_allclose(trace.t, np.arange(n) / RATE_HZ, atol=1e-9)
    assert trace.samples_lost == 0
    assert not trace.skipped.any()
    assert trace.units == {"cell0.v_mv": "mV", "gaba.g_ns": "nS",
                           "cell0.i_pa": "pA"}
    for name in trace.values:
        assert np.isfinite(trace[name]).all(), name
    g, v = trace["gaba.g_ns"], trace["cell0.v_mv"]
    # gaba_step.yaml: 20 nS from 0.5 s for 1 s, reversal -75 mV.
    assert g[trace.t < 0.49].max() == 0
    assert 19 < g[(trace.t > 1.3) & (trace.t < 1.5)].mean() <= 20.0
    assert v[(trace.t > 1.3) & (trace.t < 1.5)].mean() < v[trace.t < 0.49].mean()
    run = rig.run()
    assert run.state == runs_pb2.COMPLETED
    assert run.timing.cycles == n
    # The period's distribution, binned: every cycle's period is in it.
    period = run.timing.period
    bins = list(period.histogram)
    assert abs(sum(b.count for b in bins) - n) <= 1
    assert all(b.lower_us < b.upper_us <= c.lower_us
               for b, c in zip(bins, bins[1:]))
    assert bins[0].lower_us <= period.p50_us <= bins[-1].upper_us
    assert any(b.lower_us <= 50.0 < b.upper_us for b in bins), "20 kHz"


def test_record_without_a_run_gives_up_at_its_timeout(rig):
    assert rig.run().state != runs_pb2.RUNNING
    started = time.monotonic()
    with pytest.raises(dynclamp.DeadlineExceeded) as e:
        rig.record(["cell0.v_mv"], 0.2, timeout=1.0)
    waited = time.monotonic() - started
    assert "0 of 4000 samples came in 1.0 s" in e.value.message
    assert 1.0 <= waited < 5.0  # 4 s of margin for a loaded machine
    # Closed by the caller meanwhile: Cancelled, not a short trace.
    s = rig.stream(["cell0.v_mv"])
    import threading
    threading.Timer(0.3, s.close).start()
    with pytest.raises(dynclamp.Cancelled):
        s.collect(100)


def test_blocks_have_named_columns_times_and_runs(rig):
    rig.load_spec(GABA)
    with rig.stream(["cell0.v_mv", "gaba.g_ns"], decimation=10) as s:
        assert s.signals == ["cell0.v_mv", "gaba.g_ns"]
        assert s.units == ["mV", "nS"]
        assert s.sample_period_s == pytest.approx(10 / RATE_HZ)
        rig.start(0.5)
        blocks, n = [], 0
        while n < 1000:
            b = next(s)
            blocks.append(b)
            n += len(b)
        assert blocks[0].new_run and not any(b.new_run for b in blocks[1:])
        t = np.concatenate([b.t for b in blocks])
        np.testing.assert_allclose(np.diff(t), 10 / RATE_HZ, atol=1e-9)
        assert t[0] == 0
        b = blocks[-1]
        np.testing.assert_array_equal(b["gaba.g_ns"], b.values[:, 1])
        assert s.samples_lost == 0
    assert rig.wait(timeout=10).state == runs_pb2.COMPLETED
    with pytest.raises(dynclamp.DynclampError) as e:
        rig.stream(["cell0.v_mv", "no_such.signal"])
    assert "no_such.signal" in e.value.message


def test_the_envelope_keeps_every_spike(rig):
    rig.hold("cell0", 400.0)
    try:
        tr = rig.record(["cell0.v_mv"], 1.0, start_run=True)
    finally:
        rig.hold("cell0", 0.0)
    v = tr["cell0.v_mv"]
    spikes = spike_count(v)
    assert spikes >= 20, "400 pA makes the simulated cell fire"
    t, lo, hi = dynclamp.envelope(tr.t, v, 50)  # 2.5 ms bins
    assert len(t) == len(v) // 50
    assert hi.max() == v.max() and lo.min() == v.min()
    # A spike may straddle two bins: count runs of bins above 0 mV.
    assert spike_count(np.r_[-100.0, hi]) == spikes
    # Keeping every 50th sample loses most of them.
    assert spike_count(np.r_[-100.0, v[::50]]) < spikes / 2


def test_stream_envelopes_bin_live_blocks(rig):
    rig.hold("cell0", 400.0)
    try:
        with rig.stream(["cell0.v_mv"]) as s:
            rig.start(0.5)
            got = 0
            peaks = []
            for t, lo, hi in s.envelopes(100):
                got += len(t)
                peaks.append(hi[:, 0].max())
                np.testing.assert_array_less(lo[:, 0], hi[:, 0] + 1e-12)
                if got >= 90:
                    break
    finally:
        rig.hold("cell0", 0.0)
        rig.wait()
    assert max(peaks) > 20, "a spike's peak survives binning by 100"


# ---- runs and protocols -----------------------------------------------------

def test_run_protocol_waits_with_progress(rig):
    check = rig.validate_protocol(TEST_PULSE)
    seen = []
    run = rig.run_protocol(TEST_PULSE, wait=True, timeout=60,
                           progress=lambda r: seen.append(r.sweeps_completed))
    assert run.state == runs_pb2.COMPLETED
    assert run.sweeps_completed == run.sweeps_total == check.sweeps
    assert seen == sorted(seen) and seen[-1] == check.sweeps
    assert len(set(seen)) > 2, "progress came sweep by sweep"
    with pytest.raises(dynclamp.InvalidArgument) as e:
        rig.validate_protocol({"name": "bad", "sweeps": [{"stimuli": [{
            "cell": "cell0", "epochs": [{"duration_s": -1}]}]}]})
    assert e.value.field == "sweeps[0].stimuli[0].epochs[0].duration_s"


def test_watch_follows_one_run_to_its_end(rig):
    run = rig.start(0.3)
    states = [r.state for r in rig.watch(run.run_id, timeout=30)]
    assert states[0] == runs_pb2.RUNNING and states[-1] == runs_pb2.COMPLETED
    with pytest.raises(dynclamp.FailedPrecondition):
        rig.stop()  # nothing runs now
    later = rig.start(0.05)
    rig.wait(later.run_id, timeout=30)
    with pytest.raises(dynclamp.NotFound):
        list(rig.watch(run.run_id, timeout=30))
    with pytest.raises(dynclamp.DeadlineExceeded):
        rig.start(0)
        try:
            rig.wait(timeout=0.5)
        finally:
            rig.stop()


def test_pause_and_resume(rig):
    run = rig.run_protocol(short_protocol(0.3, 4), session={
        "experimenter": ["Doe, Jane"]})
    paused = rig.pause()
    assert paused.paused or paused.state == runs_pb2.RUNNING
    deadline = time.monotonic() + 10
    while not rig.run().paused and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rig.run().paused
    done_while_paused = rig.run().sweeps_completed
    time.sleep(0.5)
    assert rig.run().sweeps_completed == done_while_paused
    rig.resume()
    end = rig.wait(run.run_id, timeout=30)
    assert end.state == runs_pb2.COMPLETED and end.sweeps_completed == 4
    with pytest.raises(dynclamp.FailedPrecondition):
        rig.pause()


# ---- the queue, history, the rig lock --------------------------------------

def test_the_queue_runs_items_in_order_into_the_history(rig):
    a = rig.queue_add(short_protocol(0.1, 1, "py_a"))
    b = rig.queue_add(short_protocol(0.1, 1, "py_b"))
    c = rig.queue_add(short_protocol(0.1, 1, "py_c"), position="front")
    assert [i.id for i in rig.queue()] == [c.id, a.id, b.id]
    rig.queue_move(b.id, ("before", c.id))
    rig.queue_remove(a.id)
    assert [i.name for i in rig.queue()] == ["py_b", "py_c"]
    assert rig.queue_item(c.id).name == "py_c"
    with pytest.raises(dynclamp.NotFound):
        rig.queue_remove(999999)
    with pytest.raises(ValueError):
        rig.queue_add(TEST_PULSE, position="middle")
    rig.queue_start()
    deadline = time.monotonic() + 60
    while (rig.queue() or rig.queue_status().current_item) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    history = rig.history(limit=2)
    assert [h.name for h in history] == ["py_c", "py_b"]
    assert all(h.status == dynclamp.queue_pb2.COMPLETED_ITEM for h in history)
    for h in history:
        [r] = rig.recordings(run_id=h.run_id)
        assert r.protocol_name == h.name and os.path.basename(h.nwb_path) == r.name
    rig.queue_stop()
    assert rig.queue_status().state == dynclamp.queue_pb2.QueueStatus.STOPPED


def test_the_rig_lock_keeps_others_to_watching(daemon, rig):
    with dynclamp.Client(daemon.address, operator="alice") as alice, \
            dynclamp.Client(daemon.address, operator="bob") as bob:
        held = alice.acquire_lock()
        try:
            assert held.held and held.owner == "alice"
            assert bob.lock_status().owner == "alice"
            with pytest.raises(dynclamp.DynclampError) as e:
                bob.load_spec(GABA)
            assert e.value.code in (grpc.StatusCode.PERMISSION_DENIED,
                                    grpc.StatusCode.FAILED_PRECONDITION)
            assert "alice" in e.value.message
            bob.rig()  # reading is fine
            alice.load_spec(GABA)
        finally:
            alice.unload_spec()
            alice.release_lock()
        assert not bob.lock_status().held


# ---- recordings -------------------------------------------------------------

@pytest.fixture(scope="module")
def recorded(daemon):
    with dynclamp.Client(daemon.address) as c:
        run = c.run_protocol(FI_CURVE, wait=True, timeout=120)
    assert run.state == runs_pb2.COMPLETED
    return run


def test_recordings_are_listed_with_their_run_and_checksum(daemon, rig,
                                                           recorded):
    [r] = rig.recordings(run_id=recorded.run_id)
    assert r.path == recorded.nwb_path
    assert r.name == os.path.basename(recorded.nwb_path)
    assert r.protocol_name == "fi_curve"
    assert r.state == runs_pb2.COMPLETED and not r.in_progress
    assert r.sweeps_total == r.sweeps_recorded == recorded.sweeps_total == 11
    assert r.qc_pass == all(s.qc_pass for s in recorded.sweeps)
    assert r.size_bytes == os.path.getsize(recorded.nwb_path)
    with open(recorded.nwb_path, "rb") as f:
        assert r.sha256 == hashlib.sha256(f.read()).hexdigest()
    assert r.started_unix_ns <= r.ended_unix_ns
    everything = rig.recordings()
    started = [x.started_unix_ns for x in everything]
    assert started == sorted(started, reverse=True)
    with pytest.raises(dynclamp.InvalidArgument):
        rig.recordings(limit=10 ** 6)


def test_any_protocol_name_records_into_the_data_directory(daemon, rig,
                                                          tmp_path):
    # A name is anyone's text: a '/' or markup must neither fail the run nor
    # put its file elsewhere; the listing keeps the name as written.
    name = "F/I ../../<b>cell 3</b>"
    run = rig.run_protocol(short_protocol(0.05, 1, name), wait=True,
                           timeout=30)
    assert run.state == runs_pb2.COMPLETED, run.error
    assert os.path.dirname(run.nwb_path) == daemon.data
    assert os.path.basename(run.nwb_path).endswith(
        f"_run{run.run_id}_F_I_.._..__b_cell_3__b_.nwb")
    [r] = rig.recordings(run_id=run.run_id)
    assert r.protocol_name == name and r.path == run.nwb_path
    assert os.path.getsize(rig.download(r, str(tmp_path / "x.nwb"))) == \
        r.size_bytes


def test_a_download_is_the_file_byte_for_byte(rig, recorded, tmp_path):
    out = tmp_path / "fi.nwb"
    seen = []
    path = rig.download(recorded.run_id, str(out),
                        progress=lambda done, total: seen.append((done, total)))
    assert path == str(out)
    assert filecmp.cmp(out, recorded.nwb_path, shallow=False)
    size = os.path.getsize(recorded.nwb_path)
    assert seen[-1] == (size, size)
    assert not os.path.exists(str(out) + ".part")
    # By name, to the current directory by default.
    os.chdir(tmp_path)
    name = rig.download(os.path.basename(recorded.nwb_path))
    assert filecmp.cmp(tmp_path / name, recorded.nwb_path, shallow=False)


def test_a_cut_download_resumes(rig, recorded, tmp_path):
    out = str(tmp_path / "cut.nwb")

    class Cut(Exception):
        pass

    def cut_after_three(done, total):
        if done >= 3 * 65536:
            raise Cut()

    with pytest.raises(Cut):
        rig.download(recorded.run_id, out, chunk_bytes=65536,
                     progress=cut_after_three)
    had = os.path.getsize(out + ".part")
    assert had == 3 * 65536 and not os.path.exists(out)
    firsts = []
    rig.download(recorded.run_id, out, chunk_bytes=65536,
                 progress=lambda done, total: firsts.append(done))
    assert firsts[0] == had + 65536, "it went on from the part"
    assert filecmp.cmp(out, recorded.nwb_path, shallow=False)


def test_a_corrupted_chunk_is_detected(rig, recorded, tmp_path):
    real = rig._recordings.DownloadRecording

    class Corrupting:
        def __init__(self, call):
            self.call = call

        def __iter__(self):
            for k, chunk in enumerate(self.call):
                if k == 2:
                    chunk.data = bytes([chunk.data[0] ^ 0x01]) + chunk.data[1:]
                yield chunk

        def cancel(self):
            self.call.cancel()

    rig._recordings.DownloadRecording = \
        lambda request, **kw: Corrupting(real(request, **kw))
    out = str(tmp_path / "bad.nwb")
    try:
        with pytest.raises(dynclamp.DataLoss) as e:
            rig.download(recorded.run_id, out, chunk_bytes=65536)
    finally:
        rig._recordings.DownloadRecording = real
    assert "checksum mismatch" in e.value.message
    assert not os.path.exists(out) and not os.path.exists(out + ".part")


def test_download_errors(rig, recorded, tmp_path):
    with pytest.raises(dynclamp.NotFound):
        rig.download("no_such_recording.nwb", str(tmp_path / "x"))
    with pytest.raises(dynclamp.NotFound) as e:
        rig.download("../log", str(tmp_path / "x"))
    assert e.value.field is None and "../log" in e.value.message
    with pytest.raises(dynclamp.NotFound):
        rig.download(999999, str(tmp_path / "x"))
    stub = rig._recordings
    req = dynclamp.recordings_pb2.DownloadRecordingRequest
    with pytest.raises(grpc.RpcError) as e:
        list(stub.DownloadRecording(req(run_id=recorded.run_id,
                                        offset=1 << 40)))
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert dynclamp.errors.from_rpc_error(e.value).message.startswith("offset:")
    with pytest.raises(grpc.RpcError) as e:
        list(stub.DownloadRecording(req(run_id=recorded.run_id,
                                        chunk_bytes=8 << 20)))
    assert dynclamp.errors.from_rpc_error(e.value).field == "chunk_bytes"
    # A recording being written is listed, not downloadable.
    run = rig.run_protocol(short_protocol(2.0, 1, "py_long"))
    try:
        [r] = rig.recordings(run_id=run.run_id)
        assert r.in_progress and r.sha256 == ""
        with pytest.raises(dynclamp.FailedPrecondition) as e:
            rig.download(run.run_id, str(tmp_path / "x"))
        assert "being written" in e.value.message
    finally:
        rig.stop()
    [r] = rig.recordings(run_id=run.run_id)
    assert not r.in_progress and r.state == runs_pb2.STOPPED and r.sha256
    assert not r.qc_pass


def test_nwb_reads_the_sweeps_into_numpy(rig, recorded, tmp_path):
    path = rig.download(recorded.run_id, str(tmp_path / "fi.nwb"))
    rec = dynclamp.nwb.read(path)
    assert rec.cells == ["cell0", "cell1"]
    assert len(rec.sweeps) == 11
    rates = []
    for k, s in enumerate(rec.sweeps):
        assert s.number == k + 1 and s.protocol_sweep == k
        assert s.rate_hz == RATE_HZ
        assert len(s.v_mv["cell0"]) == len(s.t) == int(1.2 * RATE_HZ)
        assert s.amplitude_pa["cell0"] == pytest.approx(100.0 * k)
        assert s.complete
        # The step is 0.1 s to 1.1 s of the sweep; the current is delivered.
        i = s.i_pa["cell0"]
        assert np.median(i[int(0.2 * RATE_HZ):int(1.0 * RATE_HZ)]) == \
            pytest.approx(100.0 * k, abs=0.5)
        rates.append(spike_count(s.v_mv["cell0"]))
    assert rates[0] == 0 and rates[-1] > 50
    assert rates == sorted(rates), "the F-I curve rises"


# ---- tokens and roles -------------------------------------------------------

def test_tokens_and_roles(tmp_path):
    tokens = str(tmp_path / "tokens")
    observer = conftest.issue_token(tokens, "olga", "observer")
    operator = conftest.issue_token(tokens, "otto", "operator")
    d = Daemon(f"--token_file={tokens}")
    try:
        with pytest.raises(dynclamp.Unauthenticated):
            with dynclamp.Client(d.address) as anonymous:
                anonymous.rig()
        token_file = tmp_path / "otto.token"
        token_file.write_text(operator + "\n")
        with dynclamp.Client(d.address, token_file=str(token_file)) as otto:
            run = otto.run_protocol(short_protocol(0.1, 1), wait=True,
                                    timeout=30)
        with dynclamp.Client(d.address, token=observer) as olga:
            assert olga.rig().period_ns == 50000
            [r] = olga.recordings(run_id=run.run_id)
            got = olga.download(r, str(tmp_path / "r.nwb"))
            assert filecmp.cmp(got, r.path, shallow=False)
            with olga.stream(["cell0.v_mv"]) as s:
                assert s.units == ["mV"]
            with pytest.raises(dynclamp.PermissionDenied):
                olga.load_spec(GABA)
            with pytest.raises(dynclamp.PermissionDenied):
                olga.start(1)
        with pytest.raises(dynclamp.Unauthenticated):
            with dynclamp.Client(d.address, token="dct_wrong") as wrong:
                wrong.recordings()
    finally:
        d.remove()


def test_a_stale_rig_lock_is_broken_only_by_an_admin(tmp_path):
    tokens = str(tmp_path / "tokens")
    alice = conftest.issue_token(tokens, "alice", "operator")
    bob = conftest.issue_token(tokens, "bob", "operator")
    root = conftest.issue_token(tokens, "root", "admin")
    d = Daemon(f"--token_file={tokens}")
    try:
        with dynclamp.Client(d.address, token=alice) as a:
            a.acquire_lock()
        with dynclamp.Client(d.address, token=bob) as b:
            with pytest.raises(dynclamp.FailedPrecondition) as e:
                b.release_lock()
            assert "alice" in e.value.message and "force" in e.value.message
            with pytest.raises(dynclamp.PermissionDenied) as e:
                b.release_lock(force=True)
            assert "admin" in e.value.message
            assert b.lock_status().owner == "alice"
        # The CLI, as the rig's administrator would type it.
        token_file = tmp_path / "root.token"
        token_file.write_text(root + "\n")
        token_file.chmod(0o600)
        released = d.cli("lock", "release", "--force",
                         env={"DYNCLAMP_TOKEN_FILE": str(token_file)})
        assert released.returncode == 0, released.stderr
        assert released.stdout.strip() == "unlocked"
        with dynclamp.Client(d.address, token=bob) as b:
            assert not b.lock_status().held
            b.acquire_lock()
            assert b.lock_status().owner == "bob"
    finally:
        d.remove()


# ---- the CLI's recordings verbs, and run ids across restarts ---------------

def test_cli_recordings_list_and_get(daemon, recorded, tmp_path):
    listed = daemon.cli("recordings", "list")
    assert listed.returncode == 0, listed.stderr
    name = os.path.basename(recorded.nwb_path)
    line = [l for l in listed.stdout.splitlines() if name in l][0]
    assert line.split()[0] == str(recorded.run_id)
    assert "completed" in line and "11/11" in line
    out = str(tmp_path / "cli.nwb")
    got = daemon.cli("recordings", "get", str(recorded.run_id), "-o", out)
    assert got.returncode == 0, got.stderr
    assert filecmp.cmp(out, recorded.nwb_path, shallow=False)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert got.stdout.split()[0] == digest
    # Resumed from a part another attempt left.
    part = str(tmp_path / "resumed.nwb.part")
    with open(recorded.nwb_path, "rb") as src, open(part, "wb") as dst:
        dst.write(src.read(1000000))
    got = daemon.cli("recordings", "get", name, "-o",
                     str(tmp_path / "resumed.nwb"))
    assert got.returncode == 0, got.stderr
    assert "resuming" in got.stderr and "1.0 MB" in got.stderr
    assert filecmp.cmp(tmp_path / "resumed.nwb", recorded.nwb_path,
                       shallow=False)
    # A corrupt part is caught by the checksum and removed.
    with open(part, "wb") as dst:
        dst.write(b"\0" * 1000)
    bad = daemon.cli("recordings", "get", name, "-o",
                     str(tmp_path / "resumed.nwb"))
    assert bad.returncode == 1 and "checksum mismatch" in bad.stderr
    assert not os.path.exists(part)
    missing = daemon.cli("recordings", "get", "12345", "-o", out)
    assert missing.returncode == 1 and "no recording" in missing.stderr


def test_run_ids_go_on_after_a_restart(tmp_path):
    data = str(tmp_path / "data")
    first = Daemon(data=data)
    try:
        with dynclamp.Client(first.address) as c:
            a = c.run_protocol(short_protocol(0.05, 1), wait=True, timeout=30)
    finally:
        first.stop()
    second = Daemon(data=data)
    try:
        with dynclamp.Client(second.address) as c:
            b = c.run_protocol(short_protocol(0.05, 1), wait=True, timeout=30)
            assert b.run_id > a.run_id
            assert [r.run_id for r in c.recordings()] == [b.run_id, a.run_id]
    finally:
        second.remove()


def test_a_client_is_back_soon_after_its_daemon_restarts(tmp_path):
    first = Daemon()
    port = first.address.rsplit(":", 1)[1]
    with dynclamp.Client(first.address, timeout=1) as c:
        assert c.run().state == runs_pb2.IDLE
        first.stop()
        # 8 s down, calls failing: gRPC's own backoff would have grown to
        # 6-10 s between attempts by now.
        down_until = time.monotonic() + 8
        while time.monotonic() < down_until:
            with pytest.raises(dynclamp.Unavailable):
                c.run()
            time.sleep(0.5)
        second = Daemon(f"--listen=127.0.0.1:{port}", data=first.data)
        try:
            back = time.monotonic()
            while True:
                try:
                    c.rig()
                    break
                except dynclamp.Unavailable:
                    assert time.monotonic() - back < 30
                    time.sleep(0.05)
            waited = time.monotonic() - back
            # At most one backoff (RECONNECT_MAX_S with gRPC's 20 % jitter)
            # plus a connection; 2 s of margin for a loaded machine.
            assert waited < 1.2 * dynclamp.client.RECONNECT_MAX_S + 2, waited
        finally:
            second.remove()
    first.remove()


def test_a_file_nobody_saw_end_is_listed_and_downloadable(tmp_path):
    d = Daemon()
    try:
        with dynclamp.Client(d.address) as c:
            run = c.run_protocol(short_protocol(5.0, 1))
            time.sleep(1.0)
        d.proc.kill()
        d.proc.wait()
        d.stop()
        again = Daemon(data=d.data)
        try:
            with dynclamp.Client(again.address) as c:
                [r] = c.recordings(run_id=run.run_id)
                assert r.state == runs_pb2.RUN_STATE_UNSPECIFIED
                assert "stopped while this run recorded" in r.error
                assert not r.in_progress and r.sha256
                got = c.download(r, str(tmp_path / "cut.nwb"))
                assert filecmp.cmp(got, r.path, shallow=False)
        finally:
            again.remove()
    finally:
        d.remove()


# ---- installed as users install things -------------------------------------

def test_the_package_builds_a_wheel_that_installs_offline(tmp_path):
    build_python = os.path.dirname(os.path.dirname(dynclamp.__file__))
    # Built from a copy: pip leaves its build files beside the sources.
    import shutil
    src = tmp_path / "src"
    shutil.copytree(build_python, src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                  "__pycache__"))
    wheel = subprocess.run(
        ["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps",
         "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
         str(src)], capture_output=True, text=True, timeout=300)
    assert wheel.returncode == 0, wheel.stdout + wheel.stderr
    [whl] = os.listdir(tmp_path / "dist")
    assert whl == f"dynclamp-{dynclamp.__version__}-py3-none-any.whl"
    site = tmp_path / "site"
    install = subprocess.run(
        ["/usr/bin/python3", "-m", "pip", "install", "--no-deps", "--no-index",
         "--target", str(site), str(tmp_path / "dist" / whl)],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    probe = subprocess.run(
        ["/usr/bin/python3", "-c",
         "import dynclamp, dynclamp.v1.runs_pb2 as r, os; "
         "print(dynclamp.__file__); print(r.COMPLETED); "
         "print(os.path.exists(os.path.join(os.path.dirname(dynclamp.__file__),"
         " 'py.typed')))"],
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": str(site)})
    assert probe.returncode == 0, probe.stderr
    where, completed, typed = probe.stdout.split()
    assert where.startswith(str(site))
    assert int(completed) == runs_pb2.COMPLETED and typed == "True"
    # As docs/python.md says: a virtual environment that sees Debian's
    # grpcio, protobuf, numpy and yaml, with the wheel, or with the folder.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for name, what in (("wheel", [str(tmp_path / "dist" / whl)]),
                       ("folder", ["--no-build-isolation", str(src)])):
        venv = tmp_path / f"venv-{name}"
        made = subprocess.run(["/usr/bin/python3", "-m", "venv",
                               "--system-site-packages", str(venv)],
                              capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stderr
        got = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-deps",
                              "--no-index", *what], capture_output=True,
                             text=True, timeout=300, env=env)
        assert got.returncode == 0, got.stdout + got.stderr
        used = subprocess.run(
            [str(venv / "bin" / "python"), "-c",
             "import dynclamp; print(dynclamp.__file__, dynclamp.__version__)"],
            capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
            env=env)
        assert used.returncode == 0, used.stderr
        where, version = used.stdout.split()
        assert where.startswith(str(venv)) and version == dynclamp.__version__


def test_queue_pause_resume_abort_clear(rig):
    first = rig.queue_add(short_protocol(0.4, 3, "py_abort"))
    rig.queue_add(short_protocol(0.05, 1, "py_after"))
    rig.queue_add(short_protocol(0.05, 1, "py_cleared"), position="back")
    assert rig.queue_status().items_waiting == 3
    rig.queue_start()
    deadline = time.monotonic() + 20
    while rig.queue_status().current_item != first.id and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    paused = rig.queue_pause(immediately=True)
    deadline = time.monotonic() + 10
    while rig.queue_status().state != dynclamp.queue_pb2.QueueStatus.PAUSED \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rig.queue_status().state == dynclamp.queue_pb2.QueueStatus.PAUSED
    rig.queue_resume()
    rig.queue_stop()  # after the current item: py_after and py_cleared wait
    rig.queue_abort()
    deadline = time.monotonic() + 20
    while rig.queue_status().current_item and time.monotonic() < deadline:
        time.sleep(0.05)
    [entry] = rig.history(limit=1)
    assert entry.name == "py_abort"
    assert entry.status == dynclamp.queue_pb2.ABORTED_ITEM
    assert [i.name for i in rig.queue()] == ["py_after", "py_cleared"]
    rig.queue_clear()
    assert rig.queue() == []
    assert paused.state in (dynclamp.queue_pb2.QueueStatus.RUNNING,
                            dynclamp.queue_pb2.QueueStatus.PAUSED)


def test_clear_fault_outside_fault_is_refused(rig):
    with pytest.raises(dynclamp.FailedPrecondition) as e:
        rig.clear_fault()
    assert "FAULT" in e.value.message


def test_an_unreachable_daemon_is_unavailable():
    with pytest.raises(dynclamp.Unavailable) as e:
        dynclamp.Client("127.0.0.1:1", timeout=0.5)
    assert "127.0.0.1:1" in e.value.message


def test_blocks_flag_the_cycles_after_an_overrun():
    # A board whose reads and writes sometimes take up to 200 us: at 20 kHz
    # (50 us) some cycles overrun; on the nominal clock none is skipped.
    d = Daemon("--sim_io_jitter_us=200")
    try:
        with dynclamp.Client(d.address) as c:
            flagged = 0
            with c.stream(["cell0.v_mv"]) as s:
                run = c.start(0.5)
                got = 0
                while got < 10000:
                    b = next(s)
                    got += len(b)
                    flagged += int(b.overrun.sum())
                    assert not b.skipped.any()
                    assert len(b.overrun) == len(b.clipped) == len(b)
            end = c.wait(run.run_id, timeout=30)
        assert end.timing.overruns > 0
        # Every counted overrun flags the next cycle's sample; the run's
        # last cycle may overrun with no cycle after it.
        assert end.timing.overruns - 1 <= flagged <= end.timing.overruns
    finally:
        d.remove()
