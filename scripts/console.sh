#!/usr/bin/env bash
# The web console: installs and builds (scripts/setup.sh), starts dynclampd
# on the default simulated rig if none answers at --server, then serves the
# console on loopback and prints its URL. Ctrl-C stops both (a daemon it did
# not start is left running).
#   bash scripts/console.sh [--server HOST:PORT] [--listen HOST:PORT] [console flags]
# (DYNCLAMP_NO_SETUP=1 skips the set-up; DYNCLAMP_BIN_DIR names the binaries;
# DYNCLAMPD_FLAGS are added to the daemon it starts.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${DYNCLAMP_NO_SETUP:-}" ] || bash scripts/setup.sh
bin="${DYNCLAMP_BIN_DIR:-build/bin}"
python_dir="$(cd "$bin/.." && pwd)/python"

server=127.0.0.1:50051
args=()
while (($#)); do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --server=*) server="${1#--server=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

daemon=""
trap '[ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; } || true' EXIT
if ! "$bin/dynclamp" --server "$server" --timeout 2 health >/dev/null 2>&1; then
  echo "starting dynclampd on the simulated rig at $server (data and log in ./dynclamp-data)"
  mkdir -p dynclamp-data
  "$bin/dynclampd" --listen="$server" --data_dir=./dynclamp-data ${DYNCLAMPD_FLAGS:-} \
    2>dynclamp-data/dynclampd.log &
  daemon=$!
  for _ in $(seq 100); do
    "$bin/dynclamp" --server "$server" --timeout 1 health >/dev/null 2>&1 && break
    kill -0 "$daemon" 2>/dev/null || { cat dynclamp-data/dynclampd.log; exit 1; }
    sleep 0.1
  done
fi
PYTHONPATH="$python_dir" /usr/bin/python3 -m dynclamp_console --server "$server" "${args[@]}"
