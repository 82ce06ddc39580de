#!/usr/bin/env bash
# Sets up (packages, build) and runs every test: unit tests, the RT boundary
# check, and the validation of the models against NEURON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd build
ctest --output-on-failure -j2 --timeout 600
