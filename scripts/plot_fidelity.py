#!/usr/bin/python3
"""Draws the fidelity lab's figures from the CSV files `dynclamp fidelity`
writes (FAMILY_errors.csv, FAMILY_spikes.csv, FAMILY_fi.csv) into the same
directory, as PNG:

  error_vs_step.png     error against the fixed step, one line per family
  error_vs_jitter.png   error against the worst-case jittered step, with the
                        fixed worst-case step's error for reference
  error_vs_latency.png  error against latency
  integrators.png       error per integrator and step
  spikes_FAMILY_SERIES.png  overlaid spike shapes of each series
  fi_FAMILY_SERIES.png      F-I curves of each series with F-I data

Usage: /usr/bin/python3 scripts/plot_fidelity.py DIR
"""
import csv
import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_columns(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = [[] for _ in header]
        for row in reader:
            for i, v in enumerate(row):
                cols[i].append(float(v))
    return header, cols


def series_of(errors, name):
    return [r for r in errors if r["series"] == name]


def error_plot(families, series, x_field, xlabel, out, reference=None):
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for fam, errors in families.items():
        rows = series_of(errors, series)
        if not rows:
            continue
        xs = [float(r[x_field]) for r in rows]
        ys = [float(r["mean_error_v2"]) for r in rows]
        line, = ax.plot(xs, ys, "o-", label=f"{fam} ({series})")
        drawn = True
        if reference:
            ref = series_of(errors, reference)
            if ref:
                ax.plot([float(r["step_us"]) for r in ref],
                        [float(r["mean_error_v2"]) for r in ref], "s--",
                        color=line.get_color(), alpha=0.6,
                        label=f"{fam} (fixed step)")
    if not drawn:
        plt.close(fig)
        return
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("error (V$^2$, sum over the spike window)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def integrator_plot(families, out):
    fams = [f for f, e in families.items() if series_of(e, "integrator")]
    if not fams:
        return
    fig, axes = plt.subplots(1, len(fams), figsize=(5 * len(fams), 4),
                             squeeze=False)
    for ax, fam in zip(axes[0], fams):
        rows = series_of(families[fam], "integrator")
        steps = sorted({float(r["step_us"]) for r in rows})
        methods = []
        for r in rows:
            if r["integrator"] not in methods:
                methods.append(r["integrator"])
        width = 0.8 / max(len(methods), 1)
        for k, m in enumerate(methods):
            ys = []
            for s in steps:
                match = [float(r["mean_error_v2"]) for r in rows
                         if r["integrator"] == m and float(r["step_us"]) == s]
                ys.append(match[0] if match else float("nan"))
            ax.bar([i + k * width for i in range(len(steps))], ys, width,
                   label=m)
        ax.set_xticks([i + width * (len(methods) - 1) / 2
                       for i in range(len(steps))])
        ax.set_xticklabels([f"{s:g} us" for s in steps])
        ax.set_yscale("log")
        ax.set_title(f"{fam}: integrators")
        ax.set_ylabel("error (V$^2$)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def spikes_plot(fam, errors, spikes_path, out_dir):
    header, cols = read_columns(spikes_path)
    t = cols[0]
    for series in sorted({r["series"] for r in errors}):
        labels = [r["label"] for r in series_of(errors, series)]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(t, cols[header.index("control")], "k", lw=2, label="control")
        for label in labels:
            if label in header:
                ax.plot(t, cols[header.index(label)], lw=1, label=label)
        ax.set_xlabel("time from threshold crossing (ms)")
        ax.set_ylabel("V (mV)")
        ax.set_title(f"{fam}: spike shapes ({series})")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, f"spikes_{fam}_{series}.png"),
                    dpi=120)
        plt.close(fig)


def fi_plot(fam, errors, fi_path, out_dir):
    header, cols = read_columns(fi_path)
    i_pa = cols[0]
    for series in sorted({r["series"] for r in errors}):
        labels = [r["label"] for r in series_of(errors, series)
                  if r["label"] in header]
        if not labels:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(i_pa, cols[header.index("control")], "ko-", lw=2,
                label="control")
        for label in labels:
            ax.plot(i_pa, cols[header.index(label)], ".-", lw=1, label=label)
        ax.set_xlabel("current (pA)")
        ax.set_ylabel("firing rate (Hz)")
        ax.set_title(f"{fam}: F-I curves ({series})")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, f"fi_{fam}_{series}.png"), dpi=120)
        plt.close(fig)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    families = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "*_errors.csv"))):
        fam = os.path.basename(path)[: -len("_errors.csv")]
        families[fam] = read_rows(path)
    if not families:
        sys.exit(f"no *_errors.csv in {out_dir}")
    error_plot(families, "step", "step_us", "clamp step (us)",
               os.path.join(out_dir, "error_vs_step.png"))
    error_plot(families, "jitter", "worst_step_us",
               "worst-case step (us), steps ~ U(floor, worst)",
               os.path.join(out_dir, "error_vs_jitter.png"), reference="step")
    error_plot(families, "latency", "latency_us", "latency (us)",
               os.path.join(out_dir, "error_vs_latency.png"))
    integrator_plot(families, os.path.join(out_dir, "integrators.png"))
    for fam, errors in families.items():
        spikes = os.path.join(out_dir, f"{fam}_spikes.csv")
        if os.path.exists(spikes):
            spikes_plot(fam, errors, spikes, out_dir)
        fi = os.path.join(out_dir, f"{fam}_fi.csv")
        if os.path.exists(fi):
            fi_plot(fam, errors, fi, out_dir)
    pngs = sorted(glob.glob(os.path.join(out_dir, "*.png")))
    print(f"{len(pngs)} figures in {out_dir}")


if __name__ == "__main__":
    main()
