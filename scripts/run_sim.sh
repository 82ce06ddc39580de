#!/usr/bin/env bash
# Quick start: installs the packages, builds, starts dynclampd on the
# simulated rig, loads the GABA example, runs it for 2 s while streaming the
# membrane potential, and shows what happened (every 100 ms, three numbers
# and a plot, build/quick_start.png). Then stops the daemon.
# (Tests run it as it is, with DYNCLAMP_NO_SETUP=1, the binaries' directory
# in DYNCLAMP_BIN_DIR and extra daemon flags in DYNCLAMPD_FLAGS, e.g. a slow
# simulated board.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${DYNCLAMP_NO_SETUP:-}" ] || bash scripts/setup.sh
bin="${DYNCLAMP_BIN_DIR:-build/bin}"

work=$(mktemp -d)
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; rm -rf "$work"' EXIT

echo
echo "== starting dynclampd on the simulated rig (a passive cell and a CA1 cell)"
"$bin/dynclampd" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --port_file="$work/port" \
  --data_dir="$work/data" --sim_cells=passive,ca1 ${DYNCLAMPD_FLAGS:-} 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { cat "$work/daemon.log"; echo "dynclampd did not start"; exit 1; }
dc() { "$bin/dynclamp" --server "127.0.0.1:$(cat "$work/port")" "$@"; }

dc status
echo
echo "== loading examples/gaba_step.yaml: 20 nS at -75 mV on cell0, applied 0.5-1.5 s"
dc load examples/gaba_step.yaml
echo
echo "== running 2 s and streaming cell0's V and the GABA conductance"
# 400 samples at every 100th of 20 kHz: the whole 2 s run, however long the
# host takes to run it (the 60 s is only a safety net).
dc stream --signals cell0.v_mv,gaba.g_ns --decimate 100 --samples 400 --duration 60 \
  -o "$work/trace.csv" 2>/dev/null &
streamer=$!
sleep 0.3
dc start --duration 2 --wait
wait "$streamer"

echo
echo "== what happened (every 100 ms)"
awk -F, 'NR == 1 { next }
  { if (t0 == "") t0 = $1; t = $1 - t0
    if (t >= next_t - 1e-9) {
      bar = ""; n = int(($2 + 76) * 4); for (i = 0; i < n; ++i) bar = bar "#"
      printf "  t=%4.1f s   V=%7.2f mV   g_GABA=%5.1f nS  %s\n", t, $2, $3, bar
      next_t += 0.1 } }' "$work/trace.csv"
awk -F, 'NR == 1 { next }
  { if (t0 == "") t0 = $1; t = $1 - t0
    if (t > 0.3 && t < 0.5) { b += $2; nb++ }
    if ($3 > 19.9) { d += $2; nd++ }
    last = $2 }
  END {
    printf "\nrest before GABA:          %.2f mV\n", b / nb
    printf "with 20 nS GABA at -75 mV: %.2f mV (a 10 nS, -65 mV cell: (10*-65 + 20*-75)/30 = %.2f mV)\n", d / nd, (10*-65 + 20*-75)/30
    printf "after washout:             %.2f mV\n", last }' "$work/trace.csv"

plot="$(cd "$bin/.." && pwd)/quick_start.png"
/usr/bin/python3 scripts/plot_trace.py "$work/trace.csv" "$plot" --window 0.5 1.5 \
  --title "20 nS GABA at -75 mV on the passive cell (examples/gaba_step.yaml)"
echo "plot: $plot"
