#!/usr/bin/python3
"""The same network at the same dt in NEURON and in dynclamp's engine, in one
run: prints both run times, their ratio, and whether the spike times agree.

The network: N Hodgkin-Huxley point neurons (1e-4 cm^2, NEURON's hh without
rate tables, E_L = -54.387 mV), steady currents from 600 to 1200 pA so they
fire, and per neuron 10 ExpSyn synapses (tau 2 ms, E 0 or -80 mV) fed by
NetCons from random other neurons (threshold -20 mV, delays 1-5 ms, weight
0.5 nS). Connectivity comes from one seed. NEURON runs its fixed step
(backward Euler) at dt; the engine its equivalent scheme.

Usage: bench/network_vs_neuron.py [--n 100] [--ms 200] [--dt 0.025]
         [--trace build/bin/circuit_trace]
"""
import argparse
import math
import os
import random
import subprocess
import tempfile
import time

from neuron import h


def build(n, seed):
    rng = random.Random(seed)
    cells = []
    for i in range(n):
        syns = []
        for s in range(10):
            syns.append((rng.randrange(n), 0.0 if s % 4 else -80.0,
                         1.0 + rng.randrange(160) * 0.025))
        cells.append({"bias": 600 + (i * 53) % 601, "syns": syns})
    return cells


def engine_yaml(cells):
    lines = ["model_cells:"]
    for i, c in enumerate(cells):
        lines.append(f"  - {{name: n{i}, capacitance_pf: 100, bias_pa: {c['bias']}, "
                     "conductance_based: {}}")
    lines.append("conductances:")
    for i in range(len(cells)):
        for p in ("hh_na", "hh_k", "hh_leak"):
            lines.append(f"  - {{name: n{i}_{p}, cell: n{i}, preset: {{preset: {p}}}}}")
    lines.append("synapses:")
    for i, c in enumerate(cells):
        for s, (_, e, _) in enumerate(c["syns"]):
            lines.append(f"  - {{name: n{i}_s{s}, cell: n{i}, exp_syn: {{tau_ms: 2, e_rev_mv: {e}}}}}")
    lines.append("connections:")
    for i, c in enumerate(cells):
        for s, (src, _, delay) in enumerate(c["syns"]):
            lines.append(f"  - {{name: n{i}_c{s}, source: n{src}, target: n{i}_s{s}, "
                         f"weight: 0.5, delay_ms: {delay}, threshold_mv: -20}}")
    for i in range(len(cells)):  # spike recording only: an unconnected detector
        pass
    lines.append('published_signals: ["n0.v_mv"]')
    return "\n".join(lines) + "\n"


def run_engine(trace, cells, ms, dt):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(engine_yaml(cells))
        path = f.name
    out = subprocess.run([trace, f"--spec={path}", f"--duration_ms={ms}",
                          f"--dt_us={dt * 1000}", "--timing"],
                         check=True, capture_output=True, text=True).stdout
    os.unlink(path)
    wall, spikes = None, {}
    for line in out.splitlines():
        if line.startswith("# wall_s"):
            wall = float(line.split()[2])
        elif line.startswith("# spike"):
            _, _, name, t = line.split()
            cell = int(name.split("@")[0][1:])
            spikes.setdefault(cell, []).append(float(t))
    return wall, spikes


def run_neuron(cells, ms, dt):
    h.load_file("stdrun.hoc")
    h.usetable_hh = 0
    h.celsius = 6.3
    secs, stims, syns, ncs, recs = [], [], [], [], []
    for i, c in enumerate(cells):
        sec = h.Section(name=f"n{i}")
        sec.L = sec.diam = math.sqrt(1e4 / math.pi)
        sec.insert("hh")
        sec.el_hh = -54.387
        st = h.IClamp(sec(0.5))
        st.delay, st.dur, st.amp = 0, 1e9, c["bias"] * 1e-3
        secs.append(sec)
        stims.append(st)
    for i, c in enumerate(cells):
        for (src, e, delay) in c["syns"]:
            syn = h.ExpSyn(secs[i](0.5))
            syn.tau, syn.e = 2.0, e
            nc = h.NetCon(secs[src](0.5)._ref_v, syn, sec=secs[src])
            nc.threshold, nc.delay, nc.weight[0] = -20, delay, 0.5e-3
            syns.append(syn)
            ncs.append(nc)
    spikes = {}
    for i, sec in enumerate(secs):
        v = h.Vector()
        nc = h.NetCon(sec(0.5)._ref_v, None, sec=sec)
        nc.threshold = -20
        nc.record(v)
        recs.append((i, v, nc))
    h.cvode.active(0)
    h.secondorder = 0
    h.dt = dt
    h.finitialize(-65)
    start = time.perf_counter()
    h.continuerun(ms)
    wall = time.perf_counter() - start
    for i, v, _ in recs:
        spikes[i] = list(v)
    return wall, spikes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--ms", type=float, default=200.0)
    ap.add_argument("--dt", type=float, default=0.025)
    ap.add_argument("--seed", type=int, default=1)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--trace", default=os.path.join(here, "..", "build", "bin", "circuit_trace"))
    a = ap.parse_args()
    cells = build(a.n, a.seed)
    t_neuron, s_neuron = run_neuron(cells, a.ms, a.dt)
    t_engine, s_engine = run_engine(a.trace, cells, a.ms, a.dt)
    total = matched = 0
    worst = 0.0
    for i in range(a.n):
        ref, got = s_neuron.get(i, []), s_engine.get(i, [])
        total += len(ref)
        for t in ref:
            d = min((abs(t - x) for x in got), default=1e9)
            if d <= a.dt:
                matched += 1
            worst = max(worst, d)
    steps = round(a.ms / a.dt)
    print(f"{a.n} HH neurons, {10 * a.n} ExpSyn synapses, {a.ms} ms at dt {a.dt} ms "
          f"({steps} steps)")
    print(f"NEURON {t_neuron:.3f} s ({1e6 * t_neuron / steps:.1f} us/step); "
          f"dynclamp {t_engine:.3f} s ({1e6 * t_engine / steps:.1f} us/step); "
          f"ratio NEURON/dynclamp {t_neuron / t_engine:.1f}")
    print(f"spikes: NEURON {total}, dynclamp {sum(len(v) for v in s_engine.values())}; "
          f"{matched} of NEURON's within one step of a dynclamp spike "
          f"({100.0 * matched / max(total, 1):.1f} %); worst {worst:.4f} ms")


if __name__ == "__main__":
    main()
