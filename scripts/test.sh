#!/usr/bin/env bash
# Sets up (packages, build) and runs every test: unit tests, the RT boundary
# check, the validation of the models against NEURON, the security, fault
# and soak tests, and a bounded run of the fuzzers (FUZZ_SECONDS each,
# default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd build && ctest --output-on-failure -j2 --timeout 600)
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
