#!/usr/bin/env bash
# Installs what the build needs (Debian packages; needs root or sudo) and
# builds everything into ./build. Safe to run again: it installs only what is
# missing and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libabsl-dev libmuparser-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libcli11-dev libhdf5-dev libsqlite3-dev python3-h5py
  prometheus-cpp-dev prometheus rt-tests libcomedi-dev
  python3 python3-neuron neuron-dev python3-numpy python3-matplotlib
  libssl-dev openssl clang libclang-rt-14-dev
  python3-grpcio python3-protobuf python3-yaml
  # the Python client's tests, and its wheel built offline
  python3-pytest python3-pip python3-setuptools python3-wheel python3-venv
  # the web console, and its tests in a real (headless) browser
  python3-aiohttp chromium chromium-driver python3-selenium
  # ../shared/reference/nwb-tools/nwb-check (pynwb and the NWB Inspector)
  python3-hdmf python3-pandas python3-ruamel.yaml python3-scipy
  python3-dateutil python3-natsort python3-click python3-tqdm
  python3-isodate python3-jsonschema
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the console's front-end libraries (package-lock.json) at build
# time; a Node.js that brings its own npm is kept.
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || echo "apt-get update failed; trying the cached package lists"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
echo "Python client (docs/python.md): export PYTHONPATH=$PWD/build/python"
