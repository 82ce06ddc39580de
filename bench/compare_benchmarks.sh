#!/bin/bash
# Compares the Google Benchmark programs of two builds, run alternately in
# the same script so that the machine's load falls on both: the median of
# each benchmark over ROUNDS rounds (each the median of 3 repetitions), and
# the change of this build against the base.
#
#   bench/compare_benchmarks.sh BASE_BUILD_DIR [ROUNDS] [PROGRAMS...]
#   e.g. git worktree add /tmp/base REV && cmake -S /tmp/base -B /tmp/base/build
#        -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build
#        /tmp/base/build --target bench_models bench_network
#        bench/compare_benchmarks.sh /tmp/base/build 6
set -euo pipefail
base=${1:?base build directory}
rounds=${2:-6}
programs=("${@:3}")
[ ${#programs[@]} -eq 0 ] && programs=(bench_models bench_network)
here=$(cd "$(dirname "$0")/.." && pwd)
for program in "${programs[@]}"; do
  for _ in $(seq "$rounds"); do
    for side in base this; do
      dir="$base/bin"
      [ "$side" = this ] && dir="$here/build/bin"
      "$dir/$program" --benchmark_min_time=0.2 --benchmark_repetitions=3 \
        --benchmark_report_aggregates_only=true --benchmark_format=json \
        2>/dev/null | /usr/bin/python3 -c '
import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    if b.get("aggregate_name") == "median":
        print(sys.argv[1], b["run_name"], b["real_time"], b["time_unit"])
' "$side"
    done
  done
done | /usr/bin/python3 -c '
import collections, statistics, sys
times, units = collections.defaultdict(list), {}
for line in sys.stdin:
    side, name, t, unit = line.split()
    times[(name, side)].append(float(t))
    units[name] = unit
for name in dict.fromkeys(k[0] for k in times):
    b, t = (statistics.median(times[(name, s)]) for s in ("base", "this"))
    print(f"{name:48s} base {b:9.4g} this {t:9.4g} {units[name]:2s} "
          f"{100 * (t / b - 1):+6.1f} %")
'
