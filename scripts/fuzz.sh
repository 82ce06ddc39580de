#!/usr/bin/env bash
# Bounded fuzzing of what clients control: specs, protocols and rig files
# (tests/fuzz). Builds the libFuzzer targets with clang, AddressSanitizer and
# UBSan in build-fuzz/, then runs each for SECONDS (default 60), seeded with
# the corpus of malformed inputs and the examples. A crash, a hang, a leak or
# a rejection that names no field fails; the input is kept in
# build-fuzz/artifacts/ (add it to tests/fuzz/corpus/ as a regression test).
#   bash scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DDYNCLAMP_FUZZ=ON \
  -DDYNCLAMP_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build build-fuzz -j2 --target spec_fuzzer protocol_fuzzer rig_file_fuzzer
mkdir -p build-fuzz/artifacts
status=0
for target in spec protocol rig_file; do
  case "$target" in
    spec) seeds=(tests/fuzz/corpus/spec examples) ;;
    protocol) seeds=(tests/fuzz/corpus/protocol examples/protocols) ;;
    rig_file) seeds=(tests/fuzz/corpus/rig_file examples/rigs) ;;
  esac
  # The fuzzer adds what it finds to its working corpus, not to the repo's.
  work="build-fuzz/corpus/$target"
  mkdir -p "$work"
  find "${seeds[@]}" -maxdepth 1 -type f -exec cp -f {} "$work/" \;
  log="build-fuzz/$target.log"
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
     "build-fuzz/bin/${target}_fuzzer" "$work" \
       -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/artifacts/${target}-" > "$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "fuzz $target: ${seconds}s, $runs inputs, coverage $cov edges, no failure"
  else
    echo "fuzz $target: FAILED (see $log and build-fuzz/artifacts/)" >&2
    # -m, not head: under pipefail a closed pipe would end the script (141).
    grep -m 20 -E "ERROR|abort|rejection|SUMMARY|Test unit written" "$log" >&2 || true
    status=1
  fi
done
exit "$status"
