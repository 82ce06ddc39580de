#!/usr/bin/env bash
# Sets up (packages, build) and runs the clamp on the simulated rig: the
# Bettencourt Na+ knock-in into a simulated CA1 cell, at 20, 50 and 100 kHz,
# printing the loop's timing. Extra arguments go to bench_loop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/bin/bench_loop --duration_s=5 "$@"
