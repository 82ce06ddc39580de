// The dynclamp console's page: it talks to the console server only
// (/api/...), which talks to dynclampd through its gRPC API.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  signals: [],          // [{name, unit}]
  on: new Map(),        // name -> {scale, offset}
  configured: null,     // what the server's scope streams now
  frame: null,          // the frame on screen
  frozen: false,
  plot: null,
  ws: null,
  framesPainted: 0,
  run: null,
  specText: null, specName: null,
  protocolText: null, protocolName: null,
};
// For tests and curious users: what the page shows, read back from it.
window.dynclampConsole = state;

// ---- calls ---------------------------------------------------------------

async function api(path, opts = {}) {
  const r = await fetch(path, {credentials: "same-origin", ...opts});
  const text = await r.text();
  const body = text ? JSON.parse(text) : {};
  if (r.status === 401 && state.booted) showLogin(body.message);
  if (!r.ok) throw body;
  return body;
}
const post = (path, body) => api(path, {method: "POST",
  headers: {"Content-Type": "application/json"}, body: JSON.stringify(body ?? {})});
const postText = (path, text) => api(path, {method: "POST",
  headers: {"Content-Type": "text/plain"}, body: text});

function say(err, where = $("message")) {
  if (!err) { where.textContent = ""; return; }
  where.className = "error";
  where.innerHTML = "";
  if (err.field) {
    const f = document.createElement("span");
    f.className = "field"; f.textContent = err.field;
    where.append(f, " ");
  }
  where.append(`${err.code || "ERROR"}: ${err.message || err}`);
}

// ---- login ---------------------------------------------------------------

function showLogin(why) {
  if (!$("login").open) $("login").showModal();
  if (why) $("login-why").textContent = why;
}
async function login(token, operator) {
  try {
    const r = await post("/api/login", {token, operator});
    $("login").close();
    $("who").textContent = r.operator;
    $("logout").hidden = false;
    await boot();
  } catch (e) {
    showLogin();
    say(e, $("login-error"));
  }
}
$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  login($("login-token").value, $("login-operator").value);
});
$("logout").onclick = async () => { await post("/api/logout"); location.reload(); };

// ---- status, polled ------------------------------------------------------

function fmt(x, d = 1) { return (x === undefined || x === null) ? "-" : Number(x).toFixed(d); }
// Text from the daemon (names in specs, protocols and queue items, reasons)
// as text, never as markup: a protocol named "<img onerror=...>" queued by
// anyone must not run in everyone's console.
function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) =>
    ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}
// A parameter's value as a person reads it: 7 significant digits, so that a
// default computed in floating point (29.999999999999996) shows as 30.
function shown(x) { return String(Number(Number(x).toPrecision(7))); }

async function pollStatus() {
  const s = await api("/api/status");
  const rig = s.rig, run = s.run;
  state.run = run;
  state.channels = rig.channels;
  $("rig-line").textContent = `${rig.backend} rig, ${rig.channels.length} cells, ` +
    `${fmt(1e9 / rig.period_ns / 1e3, 0)} kHz, dynclampd ${rig.daemon_version} at ${s.server}`;
  $("run-state").textContent = run.run_id ? `run ${run.run_id} ${run.state}` : "IDLE";
  $("run-state").className = `badge ${run.state}`;
  $("lock-line").textContent = s.lock.held ? `rig lock: ${s.lock.owner}` : "rig unlocked";
  $("queue-state").textContent = s.queue.state + (s.queue.error ? ` (${s.queue.error})` : "");
  if (!state.holdingDrawn) drawHolding(rig.channels);
  drawRun(run);
  drawTiming(run);
  const clipped = rig.channels.reduce((a, c) => a + Number(c.clipped_samples || 0), 0);
  state.clipped = clipped;
  if (state.generation !== s.loaded.generation) {
    state.generation = s.loaded.generation;
    await Promise.all([loadSignals(), loadParameters()]);
  }
}

// The daemon (or the console) may go away: a restart, the network. The page
// says so, and when the daemon answers again it reads its spec and signals
// afresh (the scope's server side subscribes again by itself).
async function watchStatus() {
  try {
    await pollStatus();
    if (state.unreachable) { state.unreachable = false; say(null); }
  } catch (e) {
    const down = e instanceof TypeError ?
      {code: "UNAVAILABLE", message: "the console does not answer"} : e;
    if (down && down.code === "UNAVAILABLE") {
      state.unreachable = true;
      state.generation = undefined;
      $("run-state").textContent = "daemon unreachable";
      $("run-state").className = "badge FAULT";
      say(down);
    }
  }
}

function drawHolding(channels) {
  const box = $("holding");
  box.innerHTML = "";
  for (const ch of channels) {
    const row = document.createElement("div");
    row.className = "row";
    row.innerHTML = `<label>hold ${esc(ch.name)} <input type="number" step="any" size="6" ` +
      `value="${Number(ch.holding_pa)}" data-cell="${esc(ch.name)}"> pA</label>`;
    const btn = document.createElement("button");
    btn.textContent = "apply";
    btn.onclick = async () => {
      const v = row.querySelector("input").value;
      try { await post("/api/hold", {cell: ch.name, current_pa: Number(v)}); say(null); }
      catch (e) { say(e); }
    };
    row.append(btn);
    box.append(row);
  }
  state.holdingDrawn = true;
}

function drawRun(run) {
  const total = run.sweeps_total || 0, done = run.sweeps_completed || 0;
  $("progress-bar").style.width = total ? `${100 * done / total}%` : "0";
  const body = $("sweeps").tBodies[0];
  body.innerHTML = "";
  for (const s of run.sweeps || []) {
    const tr = body.insertRow();
    tr.innerHTML = `<td>${s.sweep_number}</td><td>${s.samples}</td><td>${s.overruns}</td>` +
      `<td>${fmt(s.worst_period_us)}</td><td>${fmt(s.worst_latency_us)}</td>` +
      `<td class="${s.qc_pass ? "ok" : "error"}">${s.qc_pass ? "pass" : "fail: " + esc(s.qc_reason)}</td>`;
  }
  if (run.error) $("protocol-result").textContent = run.error;
}

function drawTiming(run) {
  const t = run.timing || {};
  const q = (name, x) => {
    if (!x) return "";
    const max = Math.max(Number(x.max_us) || 1, 1);
    const bar = (v) => `<span class="bar" style="width:${Math.max(1, 120 * v / max)}px"></span> ${fmt(v)}`;
    return `<tr><th colspan="2">${name} (µs)</th></tr>` +
      ["p50_us", "p99_us", "p999_us", "max_us"].map((k) =>
        `<tr><td>${k.replace("_us", "").replace("p999", "p99.9")}</td><td>${bar(Number(x[k]) || 0)}</td></tr>`).join("");
  };
  // The distribution itself: one bar per bin (8 per doubling), log counts.
  const hist = (name, x) => {
    const bins = (x && x.histogram) || [];
    if (!bins.length) return "";
    const w = 300, h = 60, bw = w / bins.length;
    const top = Math.log10(Math.max(...bins.map((b) => Number(b.count))) + 1);
    const bars = bins.map((b, i) => {
      const bh = h * Math.log10(Number(b.count) + 1) / top;
      return `<rect x="${i * bw}" y="${h - bh}" width="${Math.max(bw - 1, 1)}" height="${bh}">` +
        `<title>${fmt(b.lower_us)}–${fmt(b.upper_us)} µs: ${b.count}</title></rect>`;
    }).join("");
    return `<tr><td colspan="2"><svg class="histogram" data-name="${name}" width="${w}" height="${h + 14}">` +
      `${bars}<text x="0" y="${h + 12}">${fmt(bins[0].lower_us)} µs</text>` +
      `<text x="${w}" y="${h + 12}" text-anchor="end">${fmt(bins[bins.length - 1].upper_us)} µs</text></svg></td></tr>`;
  };
  $("timing").innerHTML = `<table>` +
    `<tr><td>cycles</td><td>${t.cycles || 0}</td></tr>` +
    `<tr><td>overruns</td><td class="${Number(t.overruns) ? "error" : ""}">${t.overruns || 0}</td></tr>` +
    `<tr><td>skipped cycles</td><td>${t.skipped_cycles || 0}</td></tr>` +
    `<tr><td>clipped outputs</td><td>${t.clipped_outputs || 0}</td></tr>` +
    q("period", t.period) + hist("period", t.period) +
    q("latency", t.latency) + hist("latency", t.latency) + `</table>`;
  const f = run.fidelity || {};
  $("fidelity").innerHTML = f.pending ? "fidelity: being replayed…" :
    f.computed ? (f.warning ? `<span class="error">fidelity: ${esc(f.warning)}</span>` :
      `<span class="ok">fidelity: within tolerance (RMS ${fmt(f.rms_error_mv, 2)} mV)</span>`) : "";
}

// ---- signals and the scope ------------------------------------------------

async function loadSignals() {
  state.signals = await api("/api/signals");
  const names = state.signals.map((s) => s.name);
  if (![...state.on.keys()].some((n) => names.includes(n))) {
    state.on.clear();
    const first = names.find((n) => n.endsWith(".v_mv"));
    if (first) state.on.set(first, {scale: 20, offset: -50});
  }
  for (const n of [...state.on.keys()]) if (!names.includes(n)) state.on.delete(n);
  drawSignalTable();
  configureScope();
}

function defaultScale(unit) {
  return {mV: [20, -50], pA: [100, 0], nS: [10, 0]}[unit] || [1, 0];
}

function drawSignalTable() {
  const body = $("signal-table").tBodies[0];
  body.innerHTML = "";
  const trig = $("trigger-signal");
  const keep = trig.value;
  trig.innerHTML = "";
  for (const s of state.signals) {
    const on = state.on.get(s.name);
    const tr = body.insertRow();
    tr.dataset.signal = s.name;
    const [sc, off] = on ? [on.scale, on.offset] : defaultScale(s.unit);
    tr.innerHTML = `<td><input type="checkbox" ${on ? "checked" : ""}></td><td>${esc(s.name)}</td>` +
      `<td>${esc(s.unit)}</td><td><input class="scale" type="number" step="any" size="5" value="${sc}"></td>` +
      `<td><input class="offset" type="number" step="any" size="5" value="${off}"></td><td class="range"></td>`;
    const [box, scale, offset] = tr.querySelectorAll("input");
    box.onchange = () => {
      if (box.checked) state.on.set(s.name, {scale: Number(scale.value), offset: Number(offset.value)});
      else state.on.delete(s.name);
      configureScope();
    };
    const restyle = () => {
      if (state.on.has(s.name)) {
        state.on.set(s.name, {scale: Number(scale.value) || 1, offset: Number(offset.value)});
        drawFrame(state.frame);
      }
    };
    scale.onchange = restyle; offset.onchange = restyle;
    trig.add(new Option(s.name, s.name));
  }
  if (keep) trig.value = keep;
}

function scopeConfig() {
  const trigger = $("trigger-mode").value === "signal" ? {
    signal: $("trigger-signal").value, level: Number($("trigger-level").value),
    edge: $("trigger-edge").value, pre: Number($("trigger-pre").value) / 100} : null;
  const columns = Math.max(100, Math.min(2000, Math.floor($("scope").clientWidth || 800)));
  return {type: "configure", signals: [...state.on.keys()],
          timebase_s: Number($("timebase").value), columns, trigger};
}

function configureScope() {
  if (!state.ws || state.ws.readyState !== 1) return;
  const cfg = scopeConfig();
  if (!cfg.signals.length) return;
  if (cfg.trigger && !cfg.signals.includes(cfg.trigger.signal)) {
    say({code: "INVALID_ARGUMENT", field: "trigger.signal",
         message: "show the trigger signal on the scope"});
    return;
  }
  state.ws.send(JSON.stringify(cfg));
}
for (const id of ["timebase", "trigger-mode", "trigger-signal", "trigger-level",
                  "trigger-edge", "trigger-pre"]) $(id).onchange = configureScope;

$("freeze").onclick = () => {
  state.frozen = !state.frozen;
  $("freeze").textContent = state.frozen ? "run" : "freeze";
  if (state.ws) state.ws.send(JSON.stringify({type: "freeze", frozen: state.frozen}));
};

function openScope() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/scope`);
  state.ws = ws;
  ws.onopen = configureScope;
  ws.onclose = () => setTimeout(openScope, 1000);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (ev) => {
    const m = typeof ev.data === "string" ? JSON.parse(ev.data) : decodeFrame(ev.data);
    if (m.type === "frame") {
      // Only the newest frame is drawn, at the browser's next paint: a slow
      // paint skips frames rather than falling behind.
      state.pending = m;
      if (!state.frozen && !state.paintQueued) {
        state.paintQueued = true;
        requestAnimationFrame(() => {
          state.paintQueued = false;
          const f = state.pending;
          if (state.frozen || !f) return;
          drawFrame(f);
          state.framesPainted += 1;
          ws.send(JSON.stringify({type: "painted", id: f.id}));
        });
      }
    } else if (m.type === "configured") {
      state.configured = m;
      say(null);
    } else if (m.type === "error") {
      say(m);
    }
  };
}

// A binary frame (dynclamp_console/scope.py, encode_frame): uint32 n, n bytes
// of JSON, padding to 4, then lo and hi as float32 rows; NaN becomes null,
// which uPlot draws as a gap.
function decodeFrame(buf) {
  const n = new DataView(buf).getUint32(0, true);
  const f = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  if (f.shape) {
    const [rows, cols] = f.shape;
    let offset = 4 + n + ((4 - (4 + n) % 4) % 4);
    for (const k of ["lo", "hi"]) {
      const all = new Float32Array(buf, offset, rows * cols);
      f[k] = [];
      for (let r = 0; r < rows; r++) {
        f[k].push(Array.from(all.subarray(r * cols, (r + 1) * cols),
                             (v) => (Number.isNaN(v) ? null : v)));
      }
      offset += 4 * rows * cols;
    }
  }
  return f;
}

function makePlot(n) {
  const series = [{}];
  const colors = ["#c33", "#26a", "#2a7", "#a6c", "#e80", "#099", "#555", "#b58"];
  const bands = [];
  for (let k = 0; k < n; k++) {
    const c = colors[k % colors.length];
    series.push({label: `${k}lo`, stroke: c, width: 1, points: {show: false}, spanGaps: false});
    series.push({label: `${k}hi`, stroke: c, width: 1, points: {show: false}, spanGaps: false});
    bands.push({series: [2 * k + 2, 2 * k + 1], fill: c + "55"});
  }
  const opts = {
    width: $("scope").clientWidth || 800, height: 380, legend: {show: false},
    scales: {x: {time: false}, y: {auto: false, range: [-5, 5]}},
    axes: [{label: "s"}, {label: "divisions", values: (u, v) => v}],
    series, bands,
    cursor: {drag: {x: false, y: false}},
    hooks: {
      setCursor: [(u) => readCursor(u)],
      draw: [(u) => drawMarkers(u)],
    },
  };
  if (state.plot) state.plot.destroy();
  state.plot = new uPlot(opts, [[], ...series.slice(1).map(() => [])], $("scope"));
  state.plotSignals = n;
}

function drawFrame(f) {
  if (!f || !f.lo || !state.configured) return;
  state.frame = f;
  const names = state.configured.signals;
  if (state.plotSignals !== names.length) makePlot(names.length);
  const cols = f.lo[0].length;
  const x = new Array(cols);
  for (let i = 0; i < cols; i++) x[i] = f.t0 + (i + 0.5) * f.col_s;
  const data = [x];
  names.forEach((name, k) => {
    const st = state.on.get(name) || {scale: 1, offset: 0};
    const tf = (v) => (v === null ? null : (v - st.offset) / st.scale);
    data.push(f.lo[k].map(tf), f.hi[k].map(tf));
    const lo = Math.min(...f.lo[k].filter((v) => v !== null));
    const hi = Math.max(...f.hi[k].filter((v) => v !== null));
    const row = document.querySelector(`#signal-table tr[data-signal="${name}"] .range`);
    if (row) row.textContent = Number.isFinite(lo) ? `${fmt(lo, 2)} … ${fmt(hi, 2)}` : "";
  });
  state.plot.batch(() => {
    state.plot.setScale("x", {min: f.t0, max: f.t0 + cols * f.col_s});
    state.plot.setData(data, false);
  });
  const flags = [];
  const bad = (text, n) => `<span class="${n ? "flag-bad" : "flag-ok"}">${text} ${n}</span>`;
  flags.push(bad("lost", f.lost_total || 0));
  flags.push(bad("overruns", (state.run && state.run.timing && state.run.timing.overruns) || 0));
  flags.push(bad("clipped", state.clipped || 0));
  flags.push(`<span>${f.armed ? "armed" : f.complete ? "" : "sweeping"}</span>`);
  $("scope-flags").innerHTML = flags.join("");
}

// Ticks over the columns: red, a cycle after an overrun (dark red: skipped);
// orange, samples lost on the way; purple, an output clipped at its limit.
function drawMarkers(u) {
  const f = state.frame;
  if (!f || !f.t0 && f.t0 !== 0) return;
  const ctx = u.ctx;
  ctx.save();
  for (const [cols, color] of [[f.overrun || [], "#f44"], [f.skipped || [], "#800"],
                               [f.lost || [], "#e80"], [f.clipped || [], "#90c"]]) {
    ctx.fillStyle = color;
    for (const c of cols) {
      const px = u.valToPos(f.t0 + (c + 0.5) * f.col_s, "x", true);
      ctx.fillRect(px - 1, u.bbox.top, 3, 10);
    }
  }
  ctx.restore();
}

function readCursor(u) {
  const i = u.cursor.idx;
  const f = state.frame;
  if (i === null || i === undefined || !f || !f.lo) return;
  const t = f.t0 + (i + 0.5) * f.col_s;
  const parts = state.configured.signals.map((n, k) => {
    const unit = state.configured.units[k];
    const lo = f.lo[k][i], hi = f.hi[k][i];
    return lo === null ? `${n} -` : lo === hi ? `${n} ${fmt(lo, 2)} ${unit}` :
      `${n} ${fmt(lo, 2)}…${fmt(hi, 2)} ${unit}`;
  });
  $("readout").textContent = `t ${fmt(t, 4)} s   ${parts.join("   ")}`;
}

// ---- live parameters ----------------------------------------------------------

async function loadParameters() {
  const params = await api("/api/parameters");
  const box = $("parameters");
  box.innerHTML = params.length ? "" : `<p class="muted">no live parameters</p>`;
  for (const p of params) {
    const row = document.createElement("div");
    row.className = "param";
    row.dataset.parameter = p.name;
    const lo = Math.max(p.min, Math.min(0, p.value));
    const hi = Math.min(p.max, Math.max(2 * Math.abs(p.value), p.value + 1, lo + 1));
    row.innerHTML = `<span class="name" title="${esc(p.help)}">${esc(p.name)}</span>` +
      `<input type="range" min="${lo}" max="${hi}" step="${(hi - lo) / 200}" value="${p.value}">` +
      `<input type="number" step="any" value="${shown(p.value)}"><span>${esc(p.unit)}</span>`;
    const [slider, field] = row.querySelectorAll("input");
    const send = async (v) => {
      try {
        const now = await post("/api/parameter", {name: p.name, value: Number(v)});
        // What the daemon reports; the slider's range grows to hold it.
        if (now.value > Number(slider.max)) slider.max = Math.min(p.max, 2 * now.value);
        if (now.value < Number(slider.min)) slider.min = Math.max(p.min, 2 * now.value);
        slider.step = (Number(slider.max) - Number(slider.min)) / 200;
        slider.value = now.value; field.value = shown(now.value);
        row.dataset.value = now.value;
        say(null);
      } catch (e) {
        say(e);
        row.dataset.error = e.message;
      }
    };
    slider.oninput = () => { field.value = shown(slider.value); };
    slider.onchange = () => send(slider.value);
    field.onchange = () => send(field.value);
    row.dataset.value = p.value;
    box.append(row);
  }
}

// ---- files: drag and drop ---------------------------------------------------------

function dropZone(zone, input, onText) {
  const read = (file) => file.text().then((t) => onText(t, file.name));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer.files.length) read(e.dataTransfer.files[0]);
  });
  input.onchange = () => { if (input.files.length) read(input.files[0]); };
}

function showSpecText(text, badField) {
  const pre = $("spec-text");
  pre.innerHTML = "";
  const leaf = badField ? badField.split(".").pop().replace(/\[\d+\]$/, "") : null;
  text.split("\n").forEach((line, i) => {
    const span = document.createElement("span");
    span.textContent = line + "\n";
    if (leaf && new RegExp(`\\b${leaf}\\b\\s*:`).test(line)) span.className = "bad";
    pre.append(span);
  });
}

dropZone($("spec-drop"), $("spec-file"), (text, name) => {
  state.specText = text; state.specName = name;
  $("spec-validate").disabled = $("spec-load").disabled = false;
  $("spec-result").textContent = `${name}: ${text.length} bytes`;
  showSpecText(text);
});
async function specAction(action) {
  try {
    const r = await api(`/api/spec/${action}?name=${encodeURIComponent(state.specName || "spec")}`,
      {method: "POST", headers: {"Content-Type": "text/plain"}, body: state.specText || ""});
    $("spec-result").className = "ok";
    $("spec-result").textContent = action === "validate" ?
      `valid: ${r.signals.length} signals` : `loaded: generation ${r.generation}`;
    if (state.specText) showSpecText(state.specText);
  } catch (e) {
    say(e, $("spec-result"));
    if (state.specText) showSpecText(state.specText, e.field);
  }
}
$("spec-validate").onclick = () => specAction("validate");
$("spec-load").onclick = () => specAction("load");
$("spec-unload").onclick = () => specAction("unload");

dropZone($("protocol-drop"), $("protocol-file"), (text, name) => {
  state.protocolText = text; state.protocolName = name;
  for (const b of ["protocol-check", "protocol-run", "queue-add"]) $(b).disabled = false;
  $("protocol-result").textContent = `${name}: ${text.length} bytes`;
});
async function protocolAction(path) {
  try {
    const r = await api(`${path}${path.includes("?") ? "&" : "?"}name=${encodeURIComponent(state.protocolName)}`,
      {method: "POST", headers: {"Content-Type": "text/plain"}, body: state.protocolText});
    $("protocol-result").className = "ok";
    $("protocol-result").textContent = r.sweeps !== undefined && r.duration_s !== undefined && !r.run_id ?
      `${r.name}: ${r.sweeps} sweeps, ${fmt(r.duration_s, 1)} s` :
      r.run_id ? `run ${r.run_id}: ${r.nwb_path}` : `queued as item ${r.id}`;
  } catch (e) { say(e, $("protocol-result")); }
}
$("protocol-check").onclick = () => protocolAction("/api/protocol?check=1");
$("protocol-run").onclick = () => protocolAction("/api/protocol");
$("queue-add").onclick = () => protocolAction("/api/queue");
$("run-pause").onclick = () => post("/api/run/pause").catch(say);
$("run-resume").onclick = () => post("/api/run/resume").catch(say);
$("start").onclick = () => post("/api/start", {duration_s: Number($("run-seconds").value)})
  .then(() => say(null)).catch(say);
$("stop").onclick = () => post("/api/stop").then(() => say(null)).catch(say);
$("lock-acquire").onclick = () => post("/api/lock/acquire").catch(say);
$("lock-release").onclick = () => post("/api/lock/release").catch(say);
$("lock-break").onclick = () => {
  if (confirm("Release another operator's lock? (needs the admin role)"))
    post("/api/lock/break").catch(say);
};
document.querySelectorAll("[data-queue]").forEach((b) => {
  b.onclick = () => post(`/api/queue/${b.dataset.queue}`).catch(say);
});

// ---- queue, history, recordings ----------------------------------------------

async function pollLists() {
  const [queue, history, recs] = await Promise.all([
    api("/api/queue"), api("/api/history"), api("/api/recordings")]);
  const q = $("queue").tBodies[0];
  q.innerHTML = queue.length ? "" : `<tr><td class="muted">empty</td></tr>`;
  queue.forEach((item, i) => {
    const tr = q.insertRow();
    tr.dataset.item = item.id;
    tr.innerHTML = `<td>${item.id}</td><td>${esc(item.name)}</td><td>${esc(item.added_by)}</td>`;
    const before = queue[i - 1], after = queue[i + 1];
    // [label, action, body of the request (null: DELETE), possible here]
    for (const [label, action, body, possible] of [
      ["↑", "up", {position: ["before", before && before.id]}, !!before],
      ["↓", "down", {position: ["after", after && after.id]}, !!after],
      ["first", "first", {position: "front"}, !!before],
      ["last", "last", {position: "back"}, !!after],
      ["remove", "remove", null, true]]) {
      const td = tr.insertCell();
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset.action = action;
      b.disabled = !possible;
      b.onclick = () => api(`/api/queue/${item.id}`, body ? {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)} :
        {method: "DELETE"}).catch(say);
      td.append(b);
    }
  });
  const h = $("history").tBodies[0];
  h.innerHTML = "";
  for (const e of history.slice(0, 15)) {
    h.insertRow().innerHTML = `<td>${esc(e.name)}</td><td>${esc(e.status.replace("_ITEM", ""))}</td>` +
      `<td>${e.sweeps_completed}/${e.sweeps_total}</td><td>run ${e.run_id}</td><td class="error">${esc(e.error || "")}</td>`;
  }
  const r = $("recordings").tBodies[0];
  r.innerHTML = "";
  for (const rec of recs.slice(0, 20)) {
    const size = (Number(rec.size_bytes) / 1e6).toFixed(1);
    const link = rec.in_progress ? "recording…" :
      `<a href="/api/recordings/${encodeURIComponent(rec.name)}" download>${esc(rec.name)}</a>`;
    r.insertRow().innerHTML = `<td>run ${rec.run_id}</td><td>${link}</td><td>${size} MB</td>` +
      `<td>${rec.sweeps_recorded}/${rec.sweeps_total}</td><td>${rec.qc_pass ? "QC pass" : ""}</td>`;
  }
}

// ---- start --------------------------------------------------------------------

function every(ms, fn) {
  const tick = async () => { try { await fn(); } catch (e) { /* shown already */ } setTimeout(tick, ms); };
  tick();
}

async function boot() {
  if (state.booted) return;
  await pollStatus();
  state.booted = true;
  openScope();
  every(500, watchStatus);
  every(2000, pollLists);
}

// A daemon without tokens lets the console in at once; one with tokens gets
// the login dialog.
(async () => {
  try { await boot(); } catch (e) { await login("", "console"); }
})();
