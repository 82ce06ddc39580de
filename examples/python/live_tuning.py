#!/usr/bin/python3
"""Live tuning from Python: step a dynamic-clamp conductance while the clamp
runs, stream the cell's V, and plot V against g.

rig: dynclampd (the default simulated rig)
    /usr/bin/python3 examples/python/live_tuning.py [--server HOST:PORT] [-o DIR]

It loads a constant conductance "drive" on cell0 reversing at 0 mV (an
excitatory, AMPA-like tonic conductance, written here as a dict), starts the
clamp, and every 0.5 s sets drive.g_ns to the next of 0, 0.5, ... 5 nS with
dynclamp's SetParameter, while the stream (a min/max envelope, so no spike is
lost) is read. For each g it prints the mean V of the step's last 0.25 s, the
lowest and highest V, and the firing rate; it saves DIR/live_tuning.png (V against
g, and the whole trace) and DIR/live_tuning.csv.

see: on the default simulated rig the cell rests near -73 mV at 0 nS; below
see: threshold V rises by 2 to 6 mV with each 0.5 nS (0.5 nS x 73 mV into the
see: cell's ~9 nS predicts ~4 mV), from 1.5 to 3 nS on the cell fires, and
see: it fires faster with every step of g.
see: (tests/clients/python/test_examples.py checks these.)
"""
import argparse
import os
import threading
import time

import numpy as np

import dynclamp

SPEC = {"conductances": [{"name": "drive", "cell": "cell0",
                          "constant": {"g_ns": 0.0, "e_rev_mv": 0.0}}]}
G_NS = np.arange(0.0, 5.01, 0.5)
STEP_S = 0.5


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default=os.environ.get("DYNCLAMP_SERVER",
                                                       "127.0.0.1:50051"))
    ap.add_argument("-o", "--out", default=".", help="directory for the files")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    with dynclamp.Client(args.server) as rig:
        rig.load_spec(SPEC)
        seconds = STEP_S * len(G_NS)
        # The stream at full rate, read on this thread while another one
        # turns the knob: the clamp applies each change at its next cycle.
        with rig.stream(["cell0.v_mv", "drive.g_ns"]) as stream:
            run = rig.start(seconds)

            def tune():
                for g in G_NS:
                    rig.set_parameter("drive.g_ns", float(g))
                    time.sleep(STEP_S)

            knob = threading.Thread(target=tune)
            knob.start()
            trace = stream.collect(int(round(seconds / stream.sample_period_s)),
                                   timeout=seconds + 10)
            knob.join()
        rig.wait(run.run_id)
        rig.unload_spec()

    t, v, g = trace.t, trace["cell0.v_mv"], trace["drive.g_ns"]
    trace_period = t[1] - t[0]
    rows = []
    print(f"{'g (nS)':>7} {'mean V (mV)':>12} {'min':>7} {'max':>7} "
          f"{'rate (Hz)':>9}")
    for value in G_NS:
        # The samples the engine computed with this g (as it reports it).
        at = np.flatnonzero(np.isclose(g, value))
        if len(at) == 0:
            continue
        seg = v[at]
        tail = seg[len(seg) // 2:]  # the step's settled half
        spikes = int(np.count_nonzero((seg[1:] >= 0) & (seg[:-1] < 0)))
        # Per second: the knob's steps are timed by this machine, not by the
        # loop, so their lengths differ a little.
        rate = spikes / (len(seg) * trace_period)
        rows.append((value, float(tail.mean()), float(seg.min()),
                     float(seg.max()), rate))
        print(f"{value:7.1f} {tail.mean():12.2f} {seg.min():7.1f} "
              f"{seg.max():7.1f} {rate:9.1f}")
    with open(os.path.join(args.out, "live_tuning.csv"), "w") as f:
        f.write("g_ns,mean_v_mv,min_v_mv,max_v_mv,rate_hz\n")
        for r in rows:
            f.write(",".join(f"{x:g}" for x in r) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    gs = [r[0] for r in rows]
    a.fill_between(gs, [r[2] for r in rows], [r[3] for r in rows],
                   alpha=0.3, label="min to max")
    a.plot(gs, [r[1] for r in rows], "o-", label="mean, settled half")
    a.set_xlabel("drive.g_ns (nS), E_rev 0 mV")
    a.set_ylabel("V (mV)")
    a.legend()
    tb, lo, hi = dynclamp.envelope(t, v, 20)  # 1 ms bins keep every spike
    b.fill_between(tb, lo, hi, lw=0.5)
    b.set_xlabel("time in run (s)")
    b.set_ylabel("V (mV)")
    b2 = b.twinx()
    b2.plot(t, g, color="k", lw=0.8)
    b2.set_ylabel("g (nS)")
    fig.tight_layout()
    png = os.path.join(args.out, "live_tuning.png")
    fig.savefig(png, dpi=100)
    print(f"figure: {png}")


if __name__ == "__main__":
    main()
