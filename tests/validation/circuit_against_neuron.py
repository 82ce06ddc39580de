#!/usr/bin/python3
"""Circuit mechanisms against NEURON 8.2, run here at test time.

Each case builds the same circuit twice: as a dynclamp spec run through
build/bin/circuit_trace, and in NEURON. Nothing is copied by hand.

  - Event synapses (ExpSyn, Exp2Syn, alpha, GSyn, AMPA_S) on a passive
    model cell, driven by given event times: conductance traces sampled at
    every step agree within 0.5 % of their peak. NEURON runs with CVODE
    (events land at their exact times) and the book's mechanisms for alpha,
    GSyn and AMPA_S are NMODL in mod/. Event times fall between steps, so
    the engine's sub-step delivery is what is tested.
  - IntFire1, IntFire2 and IntFire4 driven by given excitatory and
    inhibitory events: the same output spikes within 0.025 ms.
  - A Hodgkin-Huxley model neuron under a current step, at the same dt as
    NEURON's fixed step: spike times within 0.025 ms.

Usage: circuit_against_neuron.py --trace build/bin/circuit_trace
"""
import math
import os
import subprocess
import sys
import tempfile
import unittest

from neuron import h

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_main  # noqa: E402
import neuron_mechanisms  # noqa: E402

TRACE = None
AREA_UM2 = 1e4  # 1e-4 cm^2: 100 pF
DT = 0.025


def run_engine(yaml, duration_ms, dt_ms=DT, signals=()):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(yaml)
        path = f.name
    args = [TRACE, f"--spec={path}", f"--duration_ms={duration_ms}",
            f"--dt_us={dt_ms * 1000}"]
    if signals:
        args.append("--signals=" + ",".join(signals))
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    os.unlink(path)
    lines = out.splitlines()
    header = lines[0].split(",")
    cols = {name: [] for name in header}
    spikes = {}
    for line in lines[1:]:
        if line.startswith("# spike"):
            _, _, name, t = line.split()
            spikes.setdefault(name, []).append(float(t))
            continue
        for name, value in zip(header, line.split(",")):
            cols[name].append(float(value))
    return cols, spikes


def passive_section():
    h.load_file("stdrun.hoc")
    sec = h.Section(name="pas")
    sec.L = sec.diam = math.sqrt(AREA_UM2 / math.pi)
    sec.cm = 1.0
    sec.insert("pas")
    sec.g_pas = 10e-9 / 1e-4  # 10 nS over 1e-4 cm^2
    sec.e_pas = -65.0
    return sec


def deliver(netcon, times, delay):
    """Queues the events a spike train would send through `netcon` (this
    NEURON build has no VecStim): call after finitialize."""
    for t in times:
        netcon.event(t + delay)


PASSIVE = """
model_cells:
  - {name: pas, capacitance_pf: 100, conductance_based: {}}
conductances:
  - {name: leak, cell: pas, constant: {g_ns: 10, e_rev_mv: -65}}
"""

# Two streams; the second has a 200 Hz burst (use-dependence, saturation).
STREAM1 = [5.0125, 25.0125, 45.0125]
STREAM2 = [15.0125, 20.0125, 22.5125, 60.0125]


class SynapsesAgainstNeuron(unittest.TestCase):
    def compare(self, kind_yaml, make_neuron_syn, g_of, duration=80.0):
        yaml = PASSIVE + f"""
synapses:
  - {{name: syn, cell: pas, {kind_yaml}}}
artificial_cells:
  - {{name: s1, vec_stim: {{spike_times_ms: {STREAM1}}}}}
  - {{name: s2, vec_stim: {{spike_times_ms: {STREAM2}}}}}
connections:
  - {{name: c1, source: s1, target: syn, weight: 2.0, delay_ms: 1}}
  - {{name: c2, source: s2, target: syn, weight: 3.0, delay_ms: 1.5}}
"""
        cols, _ = run_engine(yaml, duration, signals=("syn.g_ns",))
        g_engine = cols["syn.g_ns"]

        neuron_mechanisms.load(h)
        sec = passive_section()
        syn, recs = make_neuron_syn(sec)
        nc1 = h.NetCon(None, syn, 0, 1.0, 2.0e-3)  # uS
        nc2 = h.NetCon(None, syn, 0, 1.5, 3.0e-3)
        vectors = [h.Vector().record(r, DT) for r in recs]
        cvode = h.CVode()
        cvode.active(1)
        cvode.atol(1e-10)
        cvode.rtol(1e-10)
        h.finitialize(-65)
        deliver(nc1, STREAM1, 1.0)
        deliver(nc2, STREAM2, 1.5)
        h.continuerun(duration)
        g_neuron = [g_of(*vals) * 1e3 for vals in zip(*[list(v) for v in vectors])]
        n = min(len(g_engine), len(g_neuron))
        peak = max(abs(x) for x in g_neuron[:n])
        worst = max(abs(g_engine[k] - g_neuron[k]) for k in range(n))
        print(f"{kind_yaml.split(':')[0]}: peak {peak:.4f} nS, worst |dg| "
              f"{worst:.2e} nS ({100 * worst / peak:.4f} % of peak)")
        self.assertGreater(peak, 0.5)
        self.assertLess(worst, 0.005 * peak)
        del nc1, nc2, syn

    def test_exp_syn(self):
        def make(sec):
            syn = h.ExpSyn(sec(0.5))
            syn.tau, syn.e = 2.0, 0.0
            return syn, [syn._ref_g]
        self.compare("exp_syn: {tau_ms: 2, e_rev_mv: 0}", make, lambda g: g)

    def test_exp2_syn(self):
        def make(sec):
            syn = h.Exp2Syn(sec(0.5))
            syn.tau1, syn.tau2, syn.e = 0.5, 5.0, 0.0
            return syn, [syn._ref_A, syn._ref_B]
        self.compare("exp2_syn: {tau1_ms: 0.5, tau2_ms: 5, e_rev_mv: 0}", make,
                     lambda a, b: b - a)

    def test_alpha_syn(self):
        def make(sec):
            syn = h.DcAlpha(sec(0.5))
            syn.tau, syn.e = 2.0, 0.0
            return syn, [syn._ref_g]
        self.compare("alpha_syn: {tau_ms: 2, e_rev_mv: 0}", make, lambda g: g)

    def test_gsyn(self):
        def make(sec):
            syn = h.DcGSyn(sec(0.5))
            syn.tau1, syn.tau2, syn.e = 1.0, 1.05, 0.0
            syn.Gtau1, syn.Gtau2, syn.Ginc = 20.0, 21.0, 1.0
            return syn, [syn._ref_A, syn._ref_B]
        self.compare("gsyn: {tau1_ms: 1, tau2_ms: 1.05, gtau1_ms: 20, "
                     "gtau2_ms: 21, ginc: 1, e_rev_mv: 0}", make,
                     lambda a, b: b - a)

    def test_ampa_s(self):
        def make(sec):
            syn = h.DcAmpa(sec(0.5))
            h.Cdur_DcAmpa, h.Alpha_DcAmpa, h.Beta_DcAmpa = 1.0, 1.1, 0.19
            return syn, [syn._ref_Ron, syn._ref_Roff]
        self.compare("ampa_s: {cdur_ms: 1, alpha_per_ms: 1.1, beta_per_ms: 0.19, "
                     "e_rev_mv: 0}", make, lambda a, b: a + b)


EXC = [2.0, 4.0, 5.0, 6.0, 7.5, 30.0, 31.0, 32.0, 33.0, 60.0, 61.0]
INH = [20.0, 31.5, 62.0]


class ArtificialCellsAgainstNeuron(unittest.TestCase):
    def compare(self, kind_yaml, make_cell, w_exc, w_inh, duration=120.0):
        yaml = f"""
artificial_cells:
  - {{name: cell, {kind_yaml}}}
  - {{name: exc, vec_stim: {{spike_times_ms: {EXC}}}}}
  - {{name: inh, vec_stim: {{spike_times_ms: {INH}}}}}
connections:
  - {{name: ce, source: exc, target: cell, weight: {w_exc}, delay_ms: 1}}
  - {{name: ci, source: inh, target: cell, weight: {w_inh}, delay_ms: 1}}
"""
        _, spikes = run_engine(yaml, duration)
        engine = spikes.get("cell", [])

        h.load_file("stdrun.hoc")
        cell = make_cell()
        nce = h.NetCon(None, cell, 0, 1.0, w_exc)
        nci = h.NetCon(None, cell, 0, 1.0, w_inh)
        out = h.Vector()
        rec = h.NetCon(cell, None)
        rec.record(out)
        h.cvode.active(0)
        h.dt = DT
        h.finitialize()
        deliver(nce, EXC, 1.0)
        deliver(nci, INH, 1.0)
        h.continuerun(duration)
        ref = list(out)
        print(f"{kind_yaml.split(':')[0]}: NEURON {[round(t, 4) for t in ref]}"
              f" engine {[round(t, 4) for t in engine]}")
        self.assertGreater(len(ref), 1, "the reference must fire")
        self.assertEqual(len(engine), len(ref))
        worst = max(abs(a - b) for a, b in zip(engine, ref))
        self.assertLess(worst, 0.025)
        del nce, nci, rec, cell

    def test_int_fire1(self):
        def make():
            c = h.IntFire1()
            c.tau, c.refrac = 10.0, 5.0
            return c
        self.compare("int_fire1: {tau_ms: 10, refrac_ms: 5}", make, 0.45, -0.3)

    def test_int_fire2(self):
        def make():
            c = h.IntFire2()
            c.taum, c.taus, c.ib = 10.0, 20.0, 0.3
            return c
        self.compare("int_fire2: {taum_ms: 10, taus_ms: 20, ib: 0.3}", make, 0.9, -0.6)

    def test_int_fire4(self):
        def make():
            c = h.IntFire4()
            c.taue, c.taui1, c.taui2, c.taum = 5.0, 10.0, 20.0, 50.0
            return c
        self.compare("int_fire4: {taue_ms: 5, taui1_ms: 10, taui2_ms: 20, taum_ms: 50}",
                     make, 0.6, -0.5)


class HhModelNeuronAgainstNeuron(unittest.TestCase):
    def test_spike_times_at_the_same_dt(self):
        yaml = """
model_cells:
  - {name: hh, capacitance_pf: 100, v_init_mv: -65, bias_pa: 1000, conductance_based: {}}
conductances:
  - {name: na, cell: hh, preset: {preset: hh_na}}
  - {name: k, cell: hh, preset: {preset: hh_k}}
  - {name: leak, cell: hh, preset: {preset: hh_leak}}
"""
        cols, _ = run_engine(yaml, 100.0, signals=("hh.v_mv",))
        t, v = cols["t_ms"], cols["hh.v_mv"]

        h.load_file("stdrun.hoc")
        sec = h.Section(name="hh")
        sec.L = sec.diam = math.sqrt(AREA_UM2 / math.pi)
        sec.cm = 1.0
        sec.insert("hh")
        sec.el_hh = -54.387
        h.usetable_hh = 0
        h.celsius = 6.3
        stim = h.IClamp(sec(0.5))
        stim.delay, stim.dur, stim.amp = 0, 1e9, 1.0
        h.cvode.active(0)
        h.secondorder = 0
        h.dt = DT
        tv = h.Vector().record(h._ref_t)
        vv = h.Vector().record(sec(0.5)._ref_v)
        h.finitialize(-65)
        h.continuerun(100.0)

        def crossings(ts, vs):
            out = []
            for k in range(1, len(vs)):
                if vs[k - 1] < 0 <= vs[k]:
                    f = (0 - vs[k - 1]) / (vs[k] - vs[k - 1])
                    out.append(ts[k - 1] + f * (ts[k] - ts[k - 1]))
            return out

        ref, got = crossings(list(tv), list(vv)), crossings(t, v)
        worst = max(abs(a - b) for a, b in zip(got, ref)) if ref else 0
        print(f"HH model neuron: {len(ref)} spikes, worst difference {worst:.5f} ms")
        self.assertGreater(len(ref), 3)
        self.assertEqual(len(got), len(ref))
        self.assertLess(worst, 0.025)
        del stim


if __name__ == "__main__":
    test_main.main(["trace"], [globals()])
