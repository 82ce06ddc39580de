"""The console's web server: pages, a JSON API over the daemon's calls, and a
WebSocket per open scope (scope.py turns the daemon's stream into screens).

Threads: aiohttp's event loop; every gRPC call runs in its thread pool, and
each scope's stream is read on a thread of its own.
"""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
import secrets
import threading
import time
import urllib.parse
from typing import Dict, Optional

import grpc
from aiohttp import web
from google.protobuf import json_format

import dynclamp
from dynclamp import files

from .scope import MAX_COLUMNS, Scope, Trigger, encode_frame

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
COOKIE = "dynclamp_console"
MAX_SESSIONS = 64
SESSION_IDLE_S = 12 * 3600
MAX_BODY_BYTES = 4 << 20     # a spec or protocol file
FRAME_INTERVAL_S = 1 / 35    # at most 35 scope frames a second
MAX_SCOPE_SIGNALS = 8
MAX_QUEUED_BLOCKS = 2000     # ~20 s of blocks waiting for the scope
REOPEN_INTERVAL_S = 1.0      # a scope whose stream ended tries again so often

HTTP_OF_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def message_json(m) -> Dict:
    return json_format.MessageToDict(m, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


def error_response(e: Exception) -> web.Response:
    if isinstance(e, dynclamp.DynclampError):
        body = {"code": e.code.name, "message": e.message, "field": e.field}
        return web.json_response(body, status=HTTP_OF_CODE.get(e.code, 500))
    if isinstance(e, (ValueError, KeyError, TypeError)):
        msg = str(e).strip("'\"")
        field = msg.split(":", 1)[0] if ":" in msg else None
        return web.json_response({"code": "INVALID_ARGUMENT", "message": msg,
                                  "field": field}, status=400)
    return web.json_response({"code": "INTERNAL", "message": str(e),
                              "field": None}, status=500)


@dataclasses.dataclass
class Session:
    client: dynclamp.Client
    operator: str
    token: Optional[str]
    seen: float


class Console:
    """The console's state: the daemon's address and the browser sessions."""

    def __init__(self, server: str, tls: bool = False, ca: str = None,
                 server_name: str = None):
        self.server = server
        self.tls = tls
        self.ca = ca
        self.server_name = server_name
        self.sessions: Dict[str, Session] = {}
        self.lock = threading.Lock()
        #: (daemon monotonic ns of a frame's newest sample, browser-painted
        #: console monotonic ns) per acknowledged frame, for the benchmark.
        self.latencies_ms = []
        self.frames_sent = 0

    def connect(self, token: Optional[str], operator: str) -> dynclamp.Client:
        return dynclamp.Client(self.server, token=token or "",
                               operator=operator, tls=self.tls, ca=self.ca,
                               server_name=self.server_name, timeout=10)

    def new_session(self, token, operator) -> str:
        client = self.connect(token, operator)
        try:
            client.rig()  # the token is checked here
        except Exception:
            client.close()
            raise
        sid = secrets.token_urlsafe(24)
        with self.lock:
            now = time.monotonic()
            for k in [k for k, s in self.sessions.items()
                      if now - s.seen > SESSION_IDLE_S]:
                self.sessions.pop(k).client.close()
            if len(self.sessions) >= MAX_SESSIONS:
                oldest = min(self.sessions, key=lambda k: self.sessions[k].seen)
                self.sessions.pop(oldest).client.close()
            self.sessions[sid] = Session(client, operator, token, now)
        return sid

    def session(self, request: web.Request) -> Session:
        sid = request.cookies.get(COOKIE)
        with self.lock:
            s = self.sessions.get(sid) if sid else None
            if s is not None:
                s.seen = time.monotonic()
        if s is None:
            raise web.HTTPUnauthorized(
                text=json.dumps({"code": "UNAUTHENTICATED",
                                 "message": "log in first", "field": None}),
                content_type="application/json")
        return s


async def call(fn, *args, **kwargs):
    """A blocking client call on the thread pool; errors become responses."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: fn(*args, **kwargs))


def api(handler):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as e:  # noqa: BLE001: every error goes to the page
            return error_response(e)
    return wrapped


def body_limit(request: web.Request) -> None:
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise ValueError(f"file: {request.content_length} bytes is more "
                         f"than the {MAX_BODY_BYTES} a file may have")


# ---- pages and login ---------------------------------------------------------

async def index(request):
    return web.FileResponse(os.path.join(STATIC, "index.html"))


@api
async def login(request):
    console: Console = request.app["console"]
    body = await request.json()
    token = (body.get("token") or "").strip() or None
    operator = (body.get("operator") or "").strip() or "console"
    sid = await call(console.new_session, token, operator)
    resp = web.json_response({"operator": operator})
    resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict",
                    secure=request.app["tls"])
    return resp


@api
async def logout(request):
    console: Console = request.app["console"]
    sid = request.cookies.get(COOKIE)
    with console.lock:
        s = console.sessions.pop(sid, None)
    if s is not None:
        s.client.close()
    resp = web.json_response({})
    resp.del_cookie(COOKIE)
    return resp


# ---- state --------------------------------------------------------------------

@api
async def status(request):
    s = request.app["console"].session(request)
    c = s.client

    def gather():
        return {"rig": message_json(c.rig()), "run": message_json(c.run()),
                "lock": message_json(c.lock_status()),
                "queue": message_json(c.queue_status()),
                "loaded": {"generation": c.loaded_spec().generation},
                "operator": s.operator, "server": request.app["console"].server}
    return web.json_response(await call(gather))


@api
async def signals(request):
    c = request.app["console"].session(request).client
    got = await call(c.signals)
    return web.json_response([{"name": x.name, "unit": x.unit} for x in got])


@api
async def parameters(request):
    c = request.app["console"].session(request).client
    got = await call(c.live_parameters)
    return web.json_response([dataclasses.asdict(p) for p in got])


@api
async def set_parameter(request):
    c = request.app["console"].session(request).client
    body = await request.json()
    name, value = body["name"], float(body["value"])
    await call(c.set_parameter, name, value)
    # The value the daemon now reports for it.
    now = {p.name: p for p in await call(c.live_parameters)}
    return web.json_response(dataclasses.asdict(now[name]))


@api
async def hold(request):
    c = request.app["console"].session(request).client
    body = await request.json()
    rig = await call(c.hold, body["cell"], float(body["current_pa"]))
    return web.json_response(message_json(rig))


@api
async def start(request):
    c = request.app["console"].session(request).client
    body = await request.json() if request.can_read_body else {}
    return web.json_response(message_json(
        await call(c.start, float(body.get("duration_s", 0)))))


@api
async def stop(request):
    c = request.app["console"].session(request).client
    return web.json_response(message_json(await call(c.stop)))


def uploaded(request: web.Request, text: str, default_name: str) -> files.Text:
    """A spec or protocol file as the user dropped it: parsed as the file
    and kept with the recording."""
    return files.Text(text, request.query.get("name", default_name))


@api
async def spec_action(request):
    c = request.app["console"].session(request).client
    body_limit(request)
    action = request.match_info["action"]
    spec = uploaded(request, await request.text(), "spec")
    if action == "validate":
        r = await call(c.validate_spec, spec)
        return web.json_response({"signals": list(r.signals)})
    if action == "load":
        r = await call(c.load_spec, spec)
        return web.json_response({"generation": r.generation,
                                  "signals": list(r.signals)})
    if action == "unload":
        r = await call(c.unload_spec)
        return web.json_response({"generation": r.generation})
    raise web.HTTPNotFound()


# ---- protocols, the queue, history, recordings ---------------------------------

@api
async def run_protocol(request):
    c = request.app["console"].session(request).client
    body_limit(request)
    protocol = uploaded(request, await request.text(), "protocol")
    act = c.validate_protocol if request.query.get("check") else c.run_protocol
    return web.json_response(message_json(await call(act, protocol)))


@api
async def queue_list(request):
    c = request.app["console"].session(request).client
    items = await call(c.queue)
    return web.json_response([{"id": i.id, "name": i.name,
                               "added_by": i.added_by,
                               "position": i.position} for i in items])


@api
async def queue_add(request):
    c = request.app["console"].session(request).client
    body_limit(request)
    protocol = uploaded(request, await request.text(), "protocol")
    return web.json_response(message_json(await call(
        c.queue_add, protocol,
        keep_loaded_spec=request.query.get("keep_loaded_spec") == "1")))


@api
async def queue_item(request):
    c = request.app["console"].session(request).client
    item = int(request.match_info["id"])
    if request.method == "DELETE":
        return web.json_response(message_json(await call(c.queue_remove,
                                                         item)))
    body = await request.json()
    where = body.get("position", "back")
    if isinstance(where, list):
        where = (where[0], int(where[1]))
    return web.json_response(message_json(await call(c.queue_move, item,
                                                     where)))


def verbs(table):
    """A POST route whose {verb} picks one client call from `table` (verb ->
    Client method name, or (name, keyword arguments)); the daemon's answer
    as JSON."""
    @api
    async def handler(request):
        c = request.app["console"].session(request).client
        method = table.get(request.match_info["verb"])
        if method is None:
            raise web.HTTPNotFound()
        name, kwargs = (method, {}) if isinstance(method, str) else method
        return web.json_response(message_json(
            await call(getattr(c, name), **kwargs)))
    return handler


queue_verb = verbs({"start": "queue_start", "stop": "queue_stop",
                    "pause": "queue_pause", "resume": "queue_resume",
                    "abort": "queue_abort", "clear": "queue_clear"})
run_verb = verbs({"pause": "pause", "resume": "resume",
                  "clear-fault": "clear_fault"})
lock_verb = verbs({"acquire": "acquire_lock", "release": "release_lock",
                   "break": ("release_lock", {"force": True})})


@api
async def history(request):
    c = request.app["console"].session(request).client
    entries = await call(c.history, 50)
    return web.json_response([message_json(e) for e in entries])


@api
async def recordings(request):
    c = request.app["console"].session(request).client
    got = await call(c.recordings, 0, 100)
    return web.json_response([message_json(r) for r in got])


@api
async def download(request):
    """A recording, streamed from the daemon to the browser; the connection
    is cut (the browser reports a failed download) if its SHA-256 does not
    match the daemon's."""
    import hashlib
    c = request.app["console"].session(request).client
    name = request.match_info["name"]
    req = dynclamp.recordings_pb2.DownloadRecordingRequest(name=name)
    stream = c._recordings.DownloadRecording(req, metadata=c._metadata)
    it = iter(stream)
    loop = asyncio.get_running_loop()
    try:
        first = await loop.run_in_executor(None, next, it)
    except grpc.RpcError as e:
        return error_response(dynclamp.errors.from_rpc_error(e))
    resp = web.StreamResponse(headers={
        "Content-Type": "application/x-hdf5",
        "Content-Length": str(first.size_bytes),
        "Content-Disposition": f'attachment; filename="{first.name}"'})
    await resp.prepare(request)
    digest = hashlib.sha256()
    chunk, sha = first, ""
    try:
        while chunk is not None:
            digest.update(chunk.data)
            await resp.write(chunk.data)
            sha = chunk.sha256 or sha
            chunk = await loop.run_in_executor(None, next, it, None)
    finally:
        stream.cancel()
    if sha != digest.hexdigest():
        request.transport.close()  # the browser sees a failed download
        return resp
    await resp.write_eof()
    return resp


# ---- the scope -------------------------------------------------------------------

class ScopeSocket:
    """One browser's scope: its stream, its Scope, its frames."""

    def __init__(self, console: Console, session: Session,
                 ws: web.WebSocketResponse):
        self.console = console
        self.client = session.client
        self.ws = ws
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stream = None
        self.scope: Optional[Scope] = None
        self.frozen = False
        self.names = []
        self.units = []
        self.dropped_blocks = 0
        self.sent = {}  # frame id -> daemon monotonic ns of its newest sample
        self.frame_id = 0
        self.generation = 0
        self.reopening: Optional[asyncio.Future] = None

    def reader(self, stream, generation):
        ended = None
        try:
            for block in stream:
                if self.queue.qsize() > MAX_QUEUED_BLOCKS:
                    self.dropped_blocks += 1
                    continue
                self.loop.call_soon_threadsafe(self.queue.put_nowait,
                                               (generation, block))
        except dynclamp.DynclampError as e:
            ended = e
        # The stream ended (the daemon restarted, the rig was reconfigured):
        # the pump opens it again. One the console closed has an old
        # generation and is let go.
        if ended is None or ended.code != grpc.StatusCode.CANCELLED:
            ended = ended or dynclamp.Unavailable(
                grpc.StatusCode.UNAVAILABLE, "the daemon ended the stream")
            self.loop.call_soon_threadsafe(self.queue.put_nowait,
                                           (generation, ended))

    async def open(self, names):
        """Subscribes to `names`; the old subscription's blocks are
        ignored from now on."""
        if self.stream is not None:
            self.stream.close()
        self.stream = await call(self.client.stream, names)
        self.names, self.units = names, list(self.stream.units)
        self.generation += 1
        threading.Thread(target=self.reader,
                         args=(self.stream, self.generation),
                         daemon=True).start()

    async def send_configured(self):
        await self.ws.send_json({"type": "configured", "signals": self.names,
                                 "units": self.units,
                                 "sample_period_s":
                                     self.stream.sample_period_s})

    async def reopen(self, generation, said):
        """After the stream of `generation` ended: subscribes again every
        REOPEN_INTERVAL_S until it works or the page chose other signals;
        tells the page each new reason it does not."""
        while not self.ws.closed and generation == self.generation:
            await asyncio.sleep(REOPEN_INTERVAL_S)
            if generation != self.generation:
                return
            try:
                await self.open(self.names)
                await self.send_configured()
                return
            except dynclamp.DynclampError as e:
                if e.message != said:
                    said = e.message
                    await self.ws.send_json({"type": "error", "field": e.field,
                                             "message": e.message,
                                             "code": e.code.name})

    async def configure(self, msg):
        names = list(msg.get("signals") or [])
        if not names:
            raise ValueError("signals: choose at least one")
        if len(names) > MAX_SCOPE_SIGNALS:
            raise ValueError(f"signals: at most {MAX_SCOPE_SIGNALS}")
        columns = min(int(msg.get("columns", 800)), MAX_COLUMNS)
        trig = msg.get("trigger")
        trigger = None
        if trig:
            if trig["signal"] not in names:
                raise ValueError(f"trigger.signal: {trig['signal']} is not "
                                 "on the scope")
            trigger = Trigger(names.index(trig["signal"]),
                              float(trig["level"]),
                              trig.get("edge", "rising") == "rising",
                              float(trig.get("pre", 0.1)))
        scope = Scope(len(names), float(msg["timebase_s"]), columns, trigger)
        if names != self.names or self.stream is None:
            await self.open(names)
        self.scope = scope
        await self.send_configured()

    async def pump(self):
        """Feeds every waiting block to the scope, then sends a frame if the
        last one is FRAME_INTERVAL_S old."""
        next_frame = 0.0
        while not self.ws.closed:
            try:
                items = [await asyncio.wait_for(self.queue.get(),
                                                timeout=FRAME_INTERVAL_S)]
            except asyncio.TimeoutError:
                items = []
            while not self.queue.empty():
                items.append(self.queue.get_nowait())
            for generation, block in items:
                if isinstance(block, Exception):
                    if generation == self.generation:
                        await self.ws.send_json({"type": "error",
                                                 "message": block.message,
                                                 "code": block.code.name})
                        self.reopening = asyncio.ensure_future(
                            self.reopen(generation, block.message))
                elif generation == self.generation and self.scope is not None:
                    self.scope.feed(block.t, block.values, block.skipped,
                                    block.lost_before, block.new_run,
                                    block.monotonic_ns, block.sample_period_s,
                                    block.overrun, block.clipped)
            now = time.monotonic()
            if now >= next_frame and self.scope is not None and \
                    not self.frozen:
                frame = self.scope.frame()
                if frame is not None:
                    await self.send_frame(frame)
                    next_frame = max(next_frame + FRAME_INTERVAL_S,
                                     now - FRAME_INTERVAL_S)

    async def send_frame(self, frame):
        self.frame_id += 1
        frame.update({"type": "frame", "id": self.frame_id,
                      "lost_total": self.stream.samples_lost,
                      "console_dropped_blocks": self.dropped_blocks})
        self.sent[self.frame_id] = frame.get("monotonic_ns", 0)
        if len(self.sent) > 256:
            self.sent.pop(next(iter(self.sent)))
        self.console.frames_sent += 1
        await self.ws.send_bytes(encode_frame(frame))

    def painted(self, frame_id):
        sample_ns = self.sent.pop(frame_id, None)
        if sample_ns:
            lat = (time.monotonic_ns() - sample_ns) / 1e6
            self.console.latencies_ms.append(lat)
            del self.console.latencies_ms[:-10000]


async def scope_ws(request):
    console: Console = request.app["console"]
    session = console.session(request)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=1 << 16)
    await ws.prepare(request)
    sock = ScopeSocket(console, session, ws)
    pump = asyncio.ensure_future(sock.pump())
    try:
        async for msg in ws:
            if msg.type != web.WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
                kind = data.get("type")
                if kind == "configure":
                    await sock.configure(data)
                elif kind == "freeze":
                    sock.frozen = bool(data.get("frozen"))
                elif kind == "painted":
                    sock.painted(int(data["id"]))
            except Exception as e:  # noqa: BLE001: said to the page
                if isinstance(e, dynclamp.DynclampError):
                    err = {"code": e.code.name, "message": e.message,
                           "field": e.field}
                else:
                    err = {"code": "INVALID_ARGUMENT", "message": str(e),
                           "field": str(e).split(":", 1)[0]}
                await ws.send_json({"type": "error", **err})
    finally:
        pump.cancel()
        if sock.reopening is not None:
            sock.reopening.cancel()
        if sock.stream is not None:
            sock.stream.close()
    return ws


async def latency(request):
    console: Console = request.app["console"]
    console.session(request)
    return web.json_response({"latencies_ms": console.latencies_ms[-5000:],
                              "frames_sent": console.frames_sent})


def is_loopback_host(host: str) -> bool:
    """Whether a Host header's name ("localhost:8080", "[::1]:8080")
    names this machine's loopback."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def guard(loopback: bool):
    """Requests from other web pages are refused: a console on loopback
    answers only to loopback names (a page whose name an attacker points at
    127.0.0.1, DNS rebinding, would otherwise drive the rig), and a change
    or a scope whose Origin is another site is refused (beyond loopback the
    console wants TLS, whose certificate names it)."""
    @web.middleware
    async def middleware(request, handler):
        host = request.headers.get("Host", "")
        if loopback and not is_loopback_host(host):
            raise web.HTTPForbidden(text=f"Host {host!r} is not this "
                                    "console's loopback address")
        origin = request.headers.get("Origin")
        if origin is not None and (request.method != "GET" or
                                   request.path == "/api/scope"):
            if urllib.parse.urlsplit(origin).netloc != host:
                raise web.HTTPForbidden(text=f"Origin {origin!r} is another "
                                        "site")
        return await handler(request)
    return middleware


def make_app(console: Console, tls: bool = False,
             loopback: bool = True) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES,
                          middlewares=[guard(loopback)])
    app["console"] = console
    app["tls"] = tls
    r = app.router
    r.add_get("/", index)
    r.add_static("/static/", STATIC)
    r.add_post("/api/login", login)
    r.add_post("/api/logout", logout)
    r.add_get("/api/status", status)
    r.add_get("/api/signals", signals)
    r.add_get("/api/parameters", parameters)
    r.add_post("/api/parameter", set_parameter)
    r.add_post("/api/hold", hold)
    r.add_post("/api/start", start)
    r.add_post("/api/stop", stop)
    r.add_post("/api/spec/{action}", spec_action)
    r.add_post("/api/protocol", run_protocol)
    r.add_post("/api/run/{verb}", run_verb)
    r.add_post("/api/lock/{verb}", lock_verb)
    r.add_get("/api/queue", queue_list)
    r.add_post("/api/queue", queue_add)
    r.add_post("/api/queue/{verb:[a-z]+}", queue_verb)
    r.add_route("*", "/api/queue/{id:[0-9]+}", queue_item)
    r.add_get("/api/history", history)
    r.add_get("/api/recordings", recordings)
    r.add_get("/api/recordings/{name}", download)
    r.add_get("/api/scope", scope_ws)
    r.add_get("/api/latency", latency)
    return app
