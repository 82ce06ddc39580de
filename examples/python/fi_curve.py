#!/usr/bin/python3
"""An F-I curve from Python: run the protocol on the rig, download its
recording, and analyse it here (firing rates, rheobase, spike threshold).

rig: dynclampd (the default simulated rig: two spiking cells at 20 kHz)
    /usr/bin/python3 examples/python/fi_curve.py [--server HOST:PORT] [-o DIR]

It plays examples/protocols/fi_curve.yaml (1 s steps of 0 to 1000 pA by 100
pA into cell0), downloads the NWB file (its SHA-256 checked), reads the sweeps
with dynclamp.nwb and prints one line per step, then saves DIR/fi_curve.png
(the F-I curve and the traces) and DIR/fi_curve.csv.

see: on the default simulated rig, no spikes at 0 and 100 pA, firing from
see: 200 pA (the rheobase is between 100 and 200 pA), the rate rises with
see: every step to 120-170 Hz at 1000 pA, and spikes start near -50 mV
see: (dV/dt crossing 10 mV/ms) and peak near +40 mV.
see: (tests/clients/python/test_examples.py checks these.)
"""
import argparse
import os
import sys

import numpy as np

import dynclamp

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOL = os.path.join(HERE, "..", "protocols", "fi_curve.yaml")


def spikes(t, v, threshold_mv=0.0):
    """Times of the upward crossings of threshold_mv."""
    up = np.flatnonzero((v[1:] >= threshold_mv) & (v[:-1] < threshold_mv))
    return t[up + 1]


def spike_threshold(v, rate_hz, dvdt_mv_per_ms=10.0):
    """V where dV/dt first exceeds dvdt_mv_per_ms before each spike."""
    dvdt = np.diff(v) * rate_hz / 1e3  # mV/ms
    peaks = np.flatnonzero((v[1:] >= 0) & (v[:-1] < 0))
    found = []
    for p in peaks:
        k = p
        while k > 0 and dvdt[k - 1] > dvdt_mv_per_ms:
            k -= 1
        found.append(v[k])
    return float(np.median(found)) if found else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default=os.environ.get("DYNCLAMP_SERVER",
                                                       "127.0.0.1:50051"))
    ap.add_argument("-o", "--out", default=".", help="directory for the files")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    with dynclamp.Client(args.server) as rig:
        def progress(run):
            print(f"\r  sweep {run.sweeps_completed}/{run.sweeps_total}",
                  end="", file=sys.stderr, flush=True)

        run = rig.run_protocol(PROTOCOL, wait=True, progress=progress)
        print(file=sys.stderr)
        if run.state != dynclamp.runs_pb2.COMPLETED:
            sys.exit(f"the run ended {dynclamp.runs_pb2.RunState.Name(run.state)}"
                     f": {run.error}")
        path = rig.download(run.run_id, os.path.join(args.out,
                                                     f"fi_run{run.run_id}.nwb"))
    print(f"recording: {path}")

    rec = dynclamp.nwb.read(path)
    step = (0.1, 1.1)  # the protocol's step, s into each sweep (pre_s, step_s)
    rows = []
    traces = []
    for s in rec.sweeps:
        t = s.t - s.t[0]
        v = s.v_mv["cell0"]
        during = (t >= step[0]) & (t < step[1])
        n = len(spikes(t[during], v[during]))
        rows.append((s.amplitude_pa["cell0"], n / (step[1] - step[0]),
                     spike_threshold(v[during], s.rate_hz),
                     float(v[during].max()), s.qc_pass))
        traces.append((t, v))
    print(f"{'I (pA)':>8} {'rate (Hz)':>10} {'threshold (mV)':>15} "
          f"{'peak (mV)':>10}  QC")
    for i, rate, thr, peak, qc in rows:
        print(f"{i:8.0f} {rate:10.1f} {thr:15.1f} {peak:10.1f}  "
              f"{'pass' if qc else 'FAIL'}")
    currents = np.array([r[0] for r in rows])
    rates = np.array([r[1] for r in rows])
    firing = np.flatnonzero(rates > 0)
    if len(firing):
        k = firing[0]
        low = currents[k - 1] if k > 0 else 0.0
        print(f"rheobase: between {low:.0f} and {currents[k]:.0f} pA")
        print(f"spike threshold: {np.nanmedian([r[2] for r in rows]):.1f} mV")
    with open(os.path.join(args.out, "fi_curve.csv"), "w") as f:
        f.write("current_pa,rate_hz,threshold_mv,peak_mv,qc_pass\n")
        for i, rate, thr, peak, qc in rows:
            f.write(f"{i:g},{rate:g},{thr:.3f},{peak:.3f},{int(qc)}\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(currents, rates, "o-")
    a.set_xlabel("step current (pA)")
    a.set_ylabel("firing rate (Hz)")
    a.set_title("F-I curve, cell0")
    for (t, v), i in zip(traces, currents):
        if i in (currents[firing[0]] if len(firing) else -1, currents[-1]):
            b.plot(t, v, lw=0.6, label=f"{i:.0f} pA")
    b.set_xlabel("time in sweep (s)")
    b.set_ylabel("V (mV)")
    b.legend()
    fig.tight_layout()
    png = os.path.join(args.out, "fi_curve.png")
    fig.savefig(png, dpi=100)
    print(f"figure: {png}")


if __name__ == "__main__":
    main()
