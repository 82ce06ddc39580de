#!/usr/bin/python3
"""Plots a `dynclamp stream` CSV: V (top) and a conductance (bottom) against
time, with a window of interest shaded, into a PNG.

  plot_trace.py TRACE.csv OUT.png [--window START_S END_S] [--title TEXT]

The first column is t_s, the second V in mV, the third a conductance in nS.
"""
import argparse

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--window", nargs=2, type=float, metavar=("START_S", "END_S"))
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    with open(args.trace) as f:
        names = f.readline().strip().split(",")
    data = np.loadtxt(args.trace, delimiter=",", skiprows=1, ndmin=2)
    t = data[:, 0] - data[0, 0]
    fig, (ax_v, ax_g) = plt.subplots(2, 1, sharex=True, figsize=(8, 5),
                                     gridspec_kw={"height_ratios": [2, 1]})
    ax_v.plot(t, data[:, 1], color="black", lw=1)
    ax_v.set_ylabel(f"{names[1]} (mV)")
    ax_g.plot(t, data[:, 2], color="tab:blue", lw=1)
    ax_g.set_ylabel(f"{names[2]} (nS)")
    ax_g.set_xlabel("time in the run (s)")
    if args.window:
        for ax in (ax_v, ax_g):
            ax.axvspan(*args.window, color="tab:orange", alpha=0.15, lw=0)
        ax_v.text(sum(args.window) / 2, 0.98, "ligand applied", ha="center",
                  va="top", transform=ax_v.get_xaxis_transform(),
                  color="tab:orange")
    if args.title:
        ax_v.set_title(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
