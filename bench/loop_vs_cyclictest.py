#!/usr/bin/python3
"""The clamp loop's wake-up latency next to cyclictest's, in one run.

For each rate (20 and 50 kHz by default) it runs build/bin/bench_loop (the
real loop on the simulated rig, SCHED_FIFO 80, memory locked) with its
default settings (the adaptive wake-up on a CPU of its own), the same with
the adaptive strategy turned off (--wake=sleep, plain clock_nanosleep), and
cyclictest (Debian rt-tests) at the same period and priority for the same
time. It prints the p50/p99/p99.9/max wake-up latency (wake-up minus
deadline) of each, the loop's overruns and CPU use, and the ratio of each
loop to cyclictest. cyclictest sleeps to its deadlines: it is the floor
this machine allows a sleeping thread; a ratio below 1 is the spin's gain.

Usage: bench/loop_vs_cyclictest.py [--bin build/bin] [--seconds 10]
                                   [--rates 20,50] [--loop_flags "..."]
Needs root (or CAP_SYS_NICE and a memlock limit) for real-time priority.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys


def quantiles_from_histogram(hist, total):
    """hist: {latency_us: count}. Returns p50, p99, p99.9 (us)."""
    out = []
    for q in (0.5, 0.99, 0.999):
        need = q * total
        seen = 0
        for us in sorted(hist):
            seen += hist[us]
            if seen >= need:
                out.append(float(us))
                break
        else:
            out.append(float("nan"))
    return out


def run_cyclictest(period_us, seconds, priority):
    loops = int(seconds * 1e6 / period_us)
    out = subprocess.run(
        ["cyclictest", "-m", f"-p{priority}", f"-i{int(period_us)}",
         f"-l{loops}", "-q", "-h", "10000"],
        capture_output=True, text=True, check=True).stdout
    hist = {}
    for line in out.splitlines():
        m = re.match(r"^(\d+)\s+(\d+)\s*$", line)
        if m and int(m.group(2)) > 0:
            hist[int(m.group(1))] = int(m.group(2))
    total = sum(hist.values())
    overflows = int(re.search(r"# Histogram Overflows:\s*(\d+)", out).group(1))
    total += overflows
    p50, p99, p999 = quantiles_from_histogram(hist, total)
    mx = float(re.search(r"# Max Latencies:\s*(\d+)", out).group(1))
    return {"p50_us": p50, "p99_us": p99, "p999_us": p999, "max_us": mx,
            "samples": total}


def run_loop(bin_dir, rate_khz, seconds, flags):
    out = subprocess.run(
        [os.path.join(bin_dir, "bench_loop"), f"--duration_s={seconds}",
         f"--rates_khz={rate_khz}", "--format=json"] + flags,
        capture_output=True, text=True, check=True).stdout
    result = json.loads(out)[0]
    return dict(result["lateness"], samples=result["cycles"],
                overruns=result["overruns"], wake=result["wake"],
                cpu=result["cpu_fraction"], margin_us=result["margin_us"],
                rt=result.get("rt", ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rates", default="20,50")
    ap.add_argument("--loop_flags", default="",
                    help="extra bench_loop flags for the default run")
    ap.add_argument("--priority", type=int, default=80)
    args = ap.parse_args()
    if shutil.which("cyclictest") is None:
        sys.exit("cyclictest not found: apt-get install rt-tests")
    print(f"wake-up latency (us), {args.seconds:g} s per run, SCHED_FIFO "
          f"{args.priority}")
    print(f"{'rate':>7} {'who':<18} {'p50':>8} {'p99':>8} {'p99.9':>8} "
          f"{'max':>8} {'samples':>9} {'overruns':>9} {'CPU':>6}")
    runs = (("dynclamp", args.loop_flags.split()),
            ("dynclamp sleep", ["--wake=sleep"]))
    for rate in [float(r) for r in args.rates.split(",")]:
        period_us = 1000.0 / rate
        loops = [(who, run_loop(args.bin, rate, args.seconds, flags))
                 for who, flags in runs]
        cyc = run_cyclictest(period_us, args.seconds, args.priority)
        for who, r in loops + [("cyclictest", cyc)]:
            extra = ""
            if "overruns" in r:
                extra = (f" {100.0 * r['overruns'] / max(1, r['samples']):>8.3f}%"
                         f" {100.0 * r['cpu']:>5.0f}%  {r['wake']}")
                if r["wake"] == "adaptive":
                    extra += f", margin {r['margin_us']:.1f} us"
            print(f"{rate:>5g}k {who:<18} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} "
                  f"{r['p999_us']:>8.1f} {r['max_us']:>8.1f} {r['samples']:>9}"
                  + extra)
        for who, r in loops:
            ratio = [r[k] / cyc[k] if cyc[k] > 0 else float("nan")
                     for k in ("p50_us", "p99_us", "p999_us", "max_us")]
            print(f"{rate:>5g}k {who + ' / cyc':<18} " +
                  " ".join(f"{x:>8.2f}" for x in ratio))


if __name__ == "__main__":
    main()
