"""The dynclamp client: every call of the daemon's gRPC API, in Python.

>>> import dynclamp
>>> with dynclamp.Client("127.0.0.1:50051") as rig:
...     rig.load_spec("examples/gaba_step.yaml")
...     trace = rig.record(["cell0.v_mv", "gaba.g_ns"], seconds=2,
...                        start_run=True)

Units are the daemon's: mV, pA, nS, ms, s. Calls raise the typed errors of
:mod:`dynclamp.errors`. A Client may be used from several threads.
"""
from __future__ import annotations

import getpass
import hashlib
import os
from typing import (Callable, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import dataclasses

import grpc
from google.protobuf import json_format

from . import files
from .errors import DataLoss, NotFound, Unavailable, from_rpc_error
from .stream import Stream, Trace
from .v1 import (models_pb2, models_pb2_grpc, queue_pb2,
                 queue_pb2_grpc, recordings_pb2, recordings_pb2_grpc, rig_pb2,
                 rig_pb2_grpc, runs_pb2, runs_pb2_grpc, spec_pb2, stream_pb2,
                 stream_pb2_grpc)

#: Run states after which a run does not change any more.
ENDED = frozenset({runs_pb2.STOPPED, runs_pb2.COMPLETED, runs_pb2.ABORTED,
                   runs_pb2.FAILED})

#: Seconds between attempts to reach a daemon that went away, at most.
RECONNECT_MAX_S = 2.0

Position = Union[str, Tuple[str, int], None]
ProgressCallback = Callable[[runs_pb2.Run], None]


class Client:
    """A connection to one dynclampd.

    Args:
        address: "host:port" of the daemon.
        token: an access token; default: the file named by
            $DYNCLAMP_TOKEN_FILE, if set.
        token_file: a file holding the token.
        tls: use TLS (implied by ``ca``, ``cert``).
        ca: PEM file of the CA that signed the daemon's certificate
            (default: the system's roots).
        cert, key: PEM files of a client certificate, for daemons that
            require one.
        server_name: the name checked against the daemon's certificate.
        operator: who you are, for the rig lock when the daemon has no
            tokens (default: your login name).
        timeout: seconds for each call (not streams), and for connecting.
    """

    def __init__(self, address: str = "127.0.0.1:50051", *,
                 token: Optional[str] = None, token_file: Optional[str] = None,
                 tls: bool = False, ca: Optional[str] = None,
                 cert: Optional[str] = None, key: Optional[str] = None,
                 server_name: Optional[str] = None,
                 operator: Optional[str] = None, timeout: float = 10.0):
        self.address = address
        self.timeout = timeout
        if token is None:
            token_file = token_file or os.environ.get("DYNCLAMP_TOKEN_FILE")
            if token_file:
                with open(token_file, encoding="utf-8") as f:
                    token = f.read().strip()
        self._metadata: List[Tuple[str, str]] = [
            ("dynclamp-operator", operator or _login())]
        if token:
            self._metadata.append(("authorization", f"Bearer {token}"))
        options = [("grpc.max_receive_message_length", 64 << 20),
                   # A daemon that restarts (an upgrade, the rig's reboot) is
                   # seen again within about RECONNECT_MAX_S: gRPC's own
                   # backoff grows to 120 s, and after a failure it resolves
                   # the address again no sooner than 30 s after the last
                   # time (measured: 10 s to see a daemon back after 8 s
                   # away; 0.6-1.5 s with these).
                   ("grpc.initial_reconnect_backoff_ms", 250),
                   ("grpc.min_reconnect_backoff_ms", 250),
                   ("grpc.max_reconnect_backoff_ms",
                    int(RECONNECT_MAX_S * 1000)),
                   ("grpc.dns_min_time_between_resolutions_ms", 500)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if tls or ca or cert:
            read = lambda p: open(p, "rb").read() if p else None  # noqa: E731
            creds = grpc.ssl_channel_credentials(read(ca), read(key),
                                                 read(cert))
            self._channel = grpc.secure_channel(address, creds, options)
        else:
            self._channel = grpc.insecure_channel(address, options)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            self._channel.close()
            raise Unavailable(
                grpc.StatusCode.UNAVAILABLE,
                f"cannot reach dynclampd at {address} within {timeout} s "
                "(is it running? is the address right? does it want "
                "TLS?)") from None
        self._rig = rig_pb2_grpc.RigServiceStub(self._channel)
        self._models = models_pb2_grpc.ModelServiceStub(self._channel)
        self._runs = runs_pb2_grpc.RunServiceStub(self._channel)
        self._streams = stream_pb2_grpc.StreamServiceStub(self._channel)
        self._queue = queue_pb2_grpc.QueueServiceStub(self._channel)
        self._recordings = recordings_pb2_grpc.RecordingServiceStub(
            self._channel)

    # ---- plumbing ---------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (and every stream on it)."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, timeout: Optional[float] = None):
        try:
            return method(request, metadata=self._metadata,
                          timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _stream(self, method, request):
        return method(request, metadata=self._metadata)

    # ---- the rig ----------------------------------------------------------

    def rig(self) -> rig_pb2.Rig:
        """The rig: period, cells, channels, holding currents, health."""
        return self._call(self._rig.GetRig, rig_pb2.GetRigRequest())

    def hold(self, cell: str, current_pa: float) -> rig_pb2.Rig:
        """Holds ``cell`` at ``current_pa`` pA (added to what is injected)."""
        return self._call(self._rig.SetHolding, rig_pb2.SetHoldingRequest(
            cell=cell, current_pa=current_pa))

    # ---- specs and parameters -----------------------------------------------

    def mechanisms(self) -> models_pb2.ListMechanismsResponse:
        """Every model kind with its parameters: units, ranges, defaults."""
        return self._call(self._models.ListMechanisms,
                          models_pb2.ListMechanismsRequest())

    def signals(self) -> List[models_pb2.Signal]:
        """The signals that can be streamed now (name, unit)."""
        return list(self._call(self._models.ListSignals,
                               models_pb2.ListSignalsRequest()).signals)

    def validate_spec(self, spec: files.Source
                      ) -> models_pb2.ValidateSpecResponse:
        """Checks a spec (file, dict or message) without loading it.

        Raises:
            InvalidArgument: with ``field`` the path of the refused field.
        """
        message, _ = files.spec(spec)
        return self._call(self._models.ValidateSpec,
                          models_pb2.ValidateSpecRequest(spec=message))

    def load_spec(self, spec: files.Source) -> models_pb2.LoadSpecResponse:
        """Loads a spec; it takes effect at the next cycle, also mid-run."""
        message, text = files.spec(spec)
        return self._call(self._models.LoadSpec, models_pb2.LoadSpecRequest(
            spec=message, spec_source=text))

    def unload_spec(self) -> models_pb2.LoadSpecResponse:
        """Loads the empty spec: nothing is injected but holding currents
        and protocol stimuli."""
        return self._call(self._models.LoadSpec,
                          models_pb2.LoadSpecRequest(spec=spec_pb2.Spec()))

    def loaded_spec(self) -> models_pb2.LoadedSpec:
        """The loaded spec, its generation and the latest live changes."""
        return self._call(self._models.GetLoadedSpec,
                          models_pb2.GetLoadedSpecRequest())

    def live_parameters(self) -> List["LiveParameter"]:
        """Every parameter of the loaded spec that may be changed while the
        clamp runs ("gaba.g_max_ns"), with its unit, range and value now
        (the spec's, or the latest live change the daemon accepted)."""
        loaded = self.loaded_spec()
        kinds = {m.name: m for m in self.mechanisms().mechanisms}
        latest = {c.parameter: c.value for c in loaded.live_changes}
        spec = json_format.MessageToDict(loaded.spec,
                                         preserving_proto_field_name=True)
        out: List[LiveParameter] = []
        for list_name, items in spec.items():
            if not isinstance(items, list):
                continue
            for item in items:
                name = item.get("name") if isinstance(item, dict) else None
                if not name:
                    continue
                # Its parameters sit in a message named after its kind
                # ("ligand_gated", a preset's "preset"), or on the item
                # itself for kinds named after the list ("gap_junctions").
                places = [(kinds.get(list_name.rstrip("s")), item)]
                for key, sub in item.items():
                    if isinstance(sub, dict):
                        kind = sub.get("preset") if key == "preset" else key
                        places.append((kinds.get(kind), sub))
                for kind, holder in places:
                    if kind is None:
                        continue
                    for p in kind.parameters:
                        if not p.live:
                            continue
                        full = f"{name}.{p.name}"
                        value = latest.get(full, holder.get(p.name,
                                                            p.default_value))
                        out.append(LiveParameter(full, p.unit, p.min, p.max,
                                                 float(value), p.help))
        return out

    def set_parameter(self, name: str, value: float) -> None:
        """Changes a live parameter ("gaba.g_max_ns") at the next cycle.

        Raises:
            NotFound: no such parameter in the loaded spec.
            InvalidArgument: the value is out of its range.
        """
        self._call(self._models.SetParameter, models_pb2.SetParameterRequest(
            parameter=name, value=value))

    # ---- runs ---------------------------------------------------------------

    def start(self, duration_s: float = 0) -> runs_pb2.Run:
        """Starts the clamp for ``duration_s`` seconds (0: until stop())."""
        return self._call(self._runs.StartRun,
                          runs_pb2.StartRunRequest(duration_s=duration_s))

    def stop(self) -> runs_pb2.Run:
        """Stops the active run; the outputs go to 0."""
        return self._call(self._runs.StopRun, runs_pb2.StopRunRequest())

    def run(self) -> runs_pb2.Run:
        """The active run, or the last one."""
        return self._call(self._runs.GetRun, runs_pb2.GetRunRequest())

    def clear_fault(self) -> runs_pb2.Run:
        """Acknowledges a FAULT (the outputs are at 0) so runs may start
        again. Raises FailedPrecondition outside FAULT."""
        return self._call(self._runs.ClearFault, runs_pb2.ClearFaultRequest())

    def _protocol_request(self, protocol, spec, session
                          ) -> runs_pb2.RunProtocolRequest:
        p, p_text = files.protocol(protocol)
        r = runs_pb2.RunProtocolRequest(protocol=p, protocol_source=p_text)
        if spec is not None:
            s, s_text = files.spec(spec)
            r.spec.CopyFrom(s)
            r.spec_source = s_text
        if session is not None:
            r.session.CopyFrom(files.session(session))
        return r

    def validate_protocol(self, protocol: files.Source,
                          spec: Optional[files.Source] = None,
                          session: Optional[files.Source] = None
                          ) -> runs_pb2.ProtocolCheck:
        """What a protocol run would do (sweeps, duration, recorded signals,
        session metadata the DANDI archive would miss), without running."""
        return self._call(self._runs.ValidateProtocol,
                          self._protocol_request(protocol, spec, session))

    def run_protocol(self, protocol: files.Source,
                     spec: Optional[files.Source] = None,
                     session: Optional[files.Source] = None, *,
                     wait: bool = False,
                     progress: Optional[ProgressCallback] = None,
                     timeout: Optional[float] = None) -> runs_pb2.Run:
        """Plays a protocol (loading ``spec`` first if given) on a new run,
        recorded to an NWB file. With ``wait``, returns when the run ends
        (see :meth:`wait`)."""
        run = self._call(self._runs.RunProtocol,
                         self._protocol_request(protocol, spec, session))
        if wait:
            run = self.wait(run.run_id, timeout=timeout, progress=progress)
        return run

    def pause(self, immediately: bool = False) -> runs_pb2.Run:
        """Pauses the protocol after the current sweep (or at once)."""
        return self._call(self._runs.PauseRun,
                          runs_pb2.PauseRunRequest(immediately=immediately))

    def resume(self) -> runs_pb2.Run:
        """Resumes a paused protocol at its next sweep (a sweep cut short by
        ``pause(immediately=True)`` is played again)."""
        return self._call(self._runs.ResumeRun, runs_pb2.ResumeRunRequest())

    def watch(self, run_id: Optional[int] = None,
              timeout: Optional[float] = None) -> Iterator[runs_pb2.Run]:
        """One run's state now and at each change, until it ends (the last
        item is the ended run). ``run_id`` None: the current or next run.

        Raises:
            NotFound: that run is over and a later one has started.
            DeadlineExceeded: it has not ended within ``timeout`` s.
        """
        call = self._runs.WatchRun(runs_pb2.WatchRunRequest(),
                                   metadata=self._metadata, timeout=timeout)
        try:
            for run in call:
                if run_id is None and run.run_id != 0:
                    run_id = run.run_id
                if run.run_id != run_id:
                    if run_id is not None and run.run_id > run_id:
                        raise NotFound(grpc.StatusCode.NOT_FOUND,
                                       f"run {run_id} is over and run "
                                       f"{run.run_id} has started")
                    continue  # an earlier run: ours has not started yet
                yield run
                if run.state in ENDED:
                    return
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()

    def wait(self, run_id: Optional[int] = None,
             timeout: Optional[float] = None,
             progress: Optional[ProgressCallback] = None) -> runs_pb2.Run:
        """Waits until a run ends and returns it; ``progress(run)`` is called
        at each change (sweeps completed, pause, FAULT...).

        Raises:
            DeadlineExceeded: it has not ended within ``timeout`` s.
        """
        last = None
        for run in self.watch(run_id, timeout):
            last = run
            if progress is not None:
                progress(run)
        return last

    # ---- streams ------------------------------------------------------------

    def stream(self, signals: Sequence[str], decimation: int = 1,
               samples_per_chunk: int = 0) -> Stream:
        """Subscribes to signals ("cell0.v_mv", "gaba.g_ns"...); iterate the
        result for numpy blocks. Keep every Nth sample with ``decimation``
        (for spikes, prefer :meth:`Stream.envelopes`).

        Raises:
            NotFound / InvalidArgument: an unknown signal.
            ResourceExhausted: too many streams for this client.
        """
        call = self._stream(self._streams.Subscribe,
                            stream_pb2.SubscribeRequest(
                                signals=list(signals), decimation=decimation,
                                samples_per_chunk=samples_per_chunk))
        return Stream(call, decimation)

    def record(self, signals: Sequence[str], seconds: float, *,
               decimation: int = 1, start_run: bool = False,
               timeout: Optional[float] = None) -> Trace:
        """``seconds`` of signals as arrays (a :class:`Trace`).

        With ``start_run``, starts a run of exactly that length and returns
        all of it (t from 0) once the run has ended; otherwise records the
        active run's next ``seconds`` (or the next run's, if none is active).

        Raises:
            DeadlineExceeded: the samples did not come within ``timeout`` s
                (default: ``seconds`` + 10).
        """
        if timeout is None:
            timeout = seconds + 10
        with self.stream(signals, decimation) as s:
            samples = int(round(seconds / s.sample_period_s))
            run = self.start(seconds) if start_run else None
            trace = s.collect(samples, timeout=timeout)
        if run is not None:
            # Its last sample is in; the run ends a moment later.
            self.wait(run.run_id, timeout=timeout)
        return trace

    # ---- the queue, its history, the rig lock -----------------------------

    def queue_add(self, protocol: files.Source,
                  spec: Optional[files.Source] = None,
                  session: Optional[files.Source] = None, *,
                  keep_loaded_spec: bool = False, position: Position = None,
                  request_id: str = "") -> queue_pb2.QueueItem:
        """Queues a protocol run. It runs with ``spec``, or with the spec
        loaded now if ``keep_loaded_spec``, or with none. ``position``:
        "back" (default), "front", ("before", id) or ("after", id)."""
        return self._call(self._queue.AddItem, queue_pb2.AddItemRequest(
            request_id=request_id,
            run=self._protocol_request(protocol, spec, session),
            position=_position(position), keep_loaded_spec=keep_loaded_spec))

    def queue(self) -> List[queue_pb2.QueueItem]:
        """The items waiting, in order."""
        return list(self._call(self._queue.ListItems,
                               queue_pb2.ListItemsRequest()).items)

    def queue_item(self, item_id: int) -> queue_pb2.QueueItem:
        """One waiting item. Raises NotFound if it is not waiting."""
        return self._call(self._queue.GetItem,
                          queue_pb2.GetItemRequest(id=item_id))

    def queue_move(self, item_id: int, position: Position
                   ) -> queue_pb2.QueueItem:
        """Moves a waiting item: "front", "back", ("before", id) or
        ("after", id)."""
        return self._call(self._queue.MoveItem, queue_pb2.MoveItemRequest(
            id=item_id, position=_position(position)))

    def queue_remove(self, item_id: int) -> queue_pb2.QueueItem:
        """Takes a waiting item out of the queue; returns it."""
        return self._call(self._queue.RemoveItem,
                          queue_pb2.RemoveItemRequest(id=item_id))

    def queue_clear(self) -> queue_pb2.QueueStatus:
        """Removes every waiting item (the current one runs on)."""
        return self._call(self._queue.ClearQueue,
                          queue_pb2.ClearQueueRequest())

    def queue_start(self) -> queue_pb2.QueueStatus:
        """Runs the items one after another until the queue is empty."""
        return self._call(self._queue.StartQueue,
                          queue_pb2.StartQueueRequest())

    def queue_stop(self) -> queue_pb2.QueueStatus:
        """Stops after the current item."""
        return self._call(self._queue.StopQueue, queue_pb2.StopQueueRequest())

    def queue_pause(self, immediately: bool = False) -> queue_pb2.QueueStatus:
        """Pauses the current item after its sweep (or at once)."""
        return self._call(self._queue.PauseQueue,
                          queue_pb2.PauseQueueRequest(immediately=immediately))

    def queue_resume(self) -> queue_pb2.QueueStatus:
        """Resumes the paused item."""
        return self._call(self._queue.ResumeQueue,
                          queue_pb2.ResumeQueueRequest())

    def queue_abort(self) -> queue_pb2.QueueStatus:
        """Aborts the current item; the queue goes on."""
        return self._call(self._queue.AbortCurrent,
                          queue_pb2.AbortCurrentRequest())

    def queue_status(self) -> queue_pb2.QueueStatus:
        """The queue's state, current item and items waiting."""
        return self._call(self._queue.GetQueueStatus,
                          queue_pb2.GetQueueStatusRequest())

    def history(self, limit: int = 0) -> List[queue_pb2.HistoryEntry]:
        """Finished queue items, newest first (0: the last 100)."""
        return list(self._call(self._queue.ListHistory,
                               queue_pb2.ListHistoryRequest(
                                   limit=limit)).entries)

    def acquire_lock(self) -> queue_pb2.LockStatus:
        """Owns the rig: others can watch but not change anything."""
        return self._call(self._queue.AcquireLock,
                          queue_pb2.AcquireLockRequest())

    def release_lock(self, force: bool = False) -> queue_pb2.LockStatus:
        """Gives the rig lock back. ``force``: releases another operator's
        lock (a stale one); needs the admin role."""
        return self._call(self._queue.ReleaseLock,
                          queue_pb2.ReleaseLockRequest(force=force))

    def lock_status(self) -> queue_pb2.LockStatus:
        """Who holds the rig lock, and since when."""
        return self._call(self._queue.GetLock, queue_pb2.GetLockRequest())

    # ---- recordings -------------------------------------------------------

    def recordings(self, run_id: int = 0, limit: int = 0
                   ) -> List[recordings_pb2.Recording]:
        """The NWB recordings in the daemon's data directory, newest first:
        run, protocol, times, size, sweeps, QC, SHA-256; ``in_progress``
        while a run writes one."""
        return list(self._call(self._recordings.ListRecordings,
                               recordings_pb2.ListRecordingsRequest(
                                   run_id=run_id, limit=limit)).recordings)

    def download(self, which: Union[int, str, recordings_pb2.Recording],
                 path: Optional[str] = None, *, resume: bool = True,
                 progress: Optional[Callable[[int, int], None]] = None,
                 chunk_bytes: int = 0) -> str:
        """Downloads a recording (a run id, a recording's name, or a
        Recording) to ``path`` (default: its name, here) and returns the path.

        The bytes go to ``path + ".part"`` first; with ``resume``, a part
        left by a cut download is continued. The file is renamed to ``path``
        only when its SHA-256 matches the daemon's. ``progress(done, total)``
        is called with bytes after each chunk.

        Raises:
            DataLoss: the checksum does not match (the part is removed).
            FailedPrecondition: the run is still writing it.
            NotFound: no such recording.
        """
        request = recordings_pb2.DownloadRecordingRequest(
            chunk_bytes=chunk_bytes)
        if isinstance(which, recordings_pb2.Recording):
            which = which.name
        if isinstance(which, int):
            if path is None:
                found = self.recordings(run_id=which, limit=1)
                if not found:
                    raise NotFound(grpc.StatusCode.NOT_FOUND,
                                   f"run {which} has no recording")
                request.name = found[0].name
            else:
                request.run_id = which
        else:
            request.name = which
        if path is None:
            path = os.path.basename(request.name)
        part = path + ".part"
        digest = hashlib.sha256()
        have = 0
        if resume and os.path.exists(part):
            with open(part, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    have += len(block)
        request.offset = have
        sha256 = ""
        total = 0
        with open(part, "ab" if have else "wb") as out:
            call = self._stream(self._recordings.DownloadRecording, request)
            try:
                for chunk in call:
                    if chunk.size_bytes:
                        total = chunk.size_bytes
                    if chunk.offset != have:
                        raise DataLoss(grpc.StatusCode.DATA_LOSS,
                                       f"the daemon sent bytes from "
                                       f"{chunk.offset}, not {have}")
                    out.write(chunk.data)
                    digest.update(chunk.data)
                    have += len(chunk.data)
                    if chunk.sha256:
                        sha256 = chunk.sha256
                    if progress is not None:
                        progress(have, total)
            except grpc.RpcError as e:
                raise from_rpc_error(e) from None
            finally:
                call.cancel()
        if not sha256:
            raise DataLoss(grpc.StatusCode.DATA_LOSS,
                           "the download ended without its checksum; call "
                           "download() again to resume")
        if digest.hexdigest() != sha256:
            os.remove(part)
            raise DataLoss(grpc.StatusCode.DATA_LOSS,
                           f"checksum mismatch: the daemon's file has SHA-256 "
                           f"{sha256}, the bytes received "
                           f"{digest.hexdigest()}; the partial file was "
                           "removed")
        os.replace(part, path)
        return path


@dataclasses.dataclass
class LiveParameter:
    """A parameter SetParameter may change now (see Client.live_parameters).

    Attributes:
        name: "<object>.<parameter>", e.g. "gaba.g_max_ns".
        unit: "nS", "mV", ... ("" for dimensionless).
        min, max: its range (as ListMechanisms gives it).
        value: its value now.
    """
    name: str
    unit: str
    min: float
    max: float
    value: float
    help: str = ""


def _position(p: Position) -> queue_pb2.Position:
    if p is None or p == "back":
        return queue_pb2.Position(back=True)
    if p == "front":
        return queue_pb2.Position(front=True)
    if isinstance(p, tuple) and len(p) == 2 and p[0] in ("before", "after"):
        return queue_pb2.Position(**{p[0]: int(p[1])})
    raise ValueError(f"position: 'back', 'front', ('before', id) or "
                     f"('after', id), got {p!r}")


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container
        return "python"

