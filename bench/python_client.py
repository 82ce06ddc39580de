#!/usr/bin/python3
"""The Python client's two heavy paths, measured against references run in
the same script:

1. Streaming into numpy: 8 signals at 50 kHz (dynclampd --period_us=20) for
   --seconds, read with dynclamp.Client.stream() into arrays. Prints the
   samples received against the run's cycles, the samples lost, and the
   client's CPU per second of data, next to `dynclamp stream` (the C++ CLI,
   writing CSV to /dev/null) on the same run length: the ratio is Python's
   CPU over the CLI's.
2. Downloading a recording over loopback: a --gigabytes file of random bytes
   named as the daemon names recordings, placed in its data directory (the
   download path reads bytes, not HDF5), fetched with Client.download() and
   with `dynclamp recordings get`, both checking the SHA-256. Reference:
   reading and hashing the same file locally (hashlib), warm page cache.

Each figure is the median of --repeats runs.
Usage: bench/python_client.py [--bin build/bin] [--python build/python]
                              [--seconds 10] [--gigabytes 1] [--repeats 3]
"""
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import bench_common

SIGNALS = ["cell0.v_mv", "cell0.i_pa", "cell1.v_mv", "cell1.i_pa",
           "gaba.g_ns", "gaba.i_pa", "leak.g_ns", "leak.i_pa"]
SPEC = {"conductances": [
    {"name": "gaba", "cell": "cell0", "constant": {"g_ns": 2, "e_rev_mv": -75}},
    {"name": "leak", "cell": "cell1", "constant": {"g_ns": 1, "e_rev_mv": -65}},
]}


def start_daemon(bin_dir, data, *flags):
    port_file = os.path.join(data, "..", f"port{time.monotonic_ns()}")
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "dynclampd"), "--listen=127.0.0.1:0",
         "--metrics_listen=127.0.0.1:0", f"--port_file={port_file}",
         f"--data_dir={data}", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        if os.path.exists(port_file) and os.path.getsize(port_file):
            with open(port_file) as f:
                return proc, f"127.0.0.1:{f.read().strip()}"
        time.sleep(0.05)
    proc.kill()
    sys.exit("dynclampd did not start")


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def stream_python(dynclamp, address, seconds):
    with dynclamp.Client(address) as rig:
        rig.load_spec(SPEC)
        received = 0
        with rig.stream(SIGNALS) as s:
            run = rig.start(seconds)
            c0, t0 = cpu_s(), time.monotonic()
            for block in s:
                received += len(block)
                _ = block.values  # (n, 8) float64, ready for analysis
                if block.t[-1] >= seconds - s.sample_period_s * 1.5:
                    break
            cpu, wall = cpu_s() - c0, time.monotonic() - t0
            lost = s.samples_lost
        end = rig.wait(run.run_id, timeout=seconds + 30)
        return received, end.timing.cycles, lost, cpu, wall


def stream_cli(bin_dir, address, dynclamp, seconds):
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "dynclamp"), f"--server={address}", "stream",
         "--signals", ",".join(SIGNALS), "--format", "csv",
         "--duration", str(seconds + 1), "-o", "/dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    with dynclamp.Client(address) as rig:
        rig.load_spec(SPEC)
        run = rig.start(seconds)
        rig.wait(run.run_id, timeout=seconds + 30)
    _, status, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def download_bench(dynclamp, bin_dir, address, data, gigabytes, repeats,
                   work):
    name = "20261130-000000_run999999_bench_download.nwb"
    path = os.path.join(data, name)
    size = int(gigabytes * (1 << 30))
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)
    with dynclamp.Client(address, timeout=600) as rig:
        [listed] = [r for r in rig.recordings() if r.name == name]
        local, py, cli = [], [], []
        for _ in range(repeats):
            t0 = time.monotonic()
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            local.append(size / (time.monotonic() - t0) / 1e6)
            assert h.hexdigest() == listed.sha256
            out = os.path.join(work, "py.nwb")
            t0 = time.monotonic()
            rig.download(name, out)
            py.append(size / (time.monotonic() - t0) / 1e6)
            os.remove(out)
            out = os.path.join(work, "cli.nwb")
            t0 = time.monotonic()
            r = subprocess.run(
                [os.path.join(bin_dir, "dynclamp"), f"--server={address}",
                 "recordings", "get", name, "-o", out, "--no-progress"],
                capture_output=True, text=True)
            cli.append(size / (time.monotonic() - t0) / 1e6)
            assert r.returncode == 0, r.stderr
            os.remove(out)
    os.remove(path)
    return local, py, cli


def main():
    ap = bench_common.parser(__doc__)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--gigabytes", type=float, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, args.python)
    import dynclamp

    work = tempfile.mkdtemp(prefix="dynclamp_bench_py_")
    data = os.path.join(work, "data")
    os.makedirs(data)
    proc, address = start_daemon(args.bin, data, "--period_us=20")
    try:
        rows = []
        for _ in range(args.repeats):
            got, cycles, lost, cpu, wall = stream_python(dynclamp, address,
                                                         args.seconds)
            cli_cpu = stream_cli(args.bin, address, dynclamp, args.seconds)
            rows.append((got, cycles, lost, cpu / args.seconds,
                         cli_cpu / args.seconds))
        med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
        print(f"streaming 8 signals at 50 kHz for {args.seconds:g} s "
              f"({args.repeats} runs, medians):")
        for got, cycles, lost, cpu, cli in rows:
            print(f"  received {got} of {cycles} samples, lost {lost}; "
                  f"client CPU {cpu:.3f} s per s of data (CLI {cli:.3f})")
        print(f"  median: lost {med(2):.0f}; Python client "
              f"{med(3):.3f} CPU-s per s of data; dynclamp stream "
              f"{med(4):.3f}; ratio {med(3) / med(4):.2f}")
        local, py, cli = download_bench(dynclamp, args.bin, address, data,
                                        args.gigabytes, args.repeats, work)
        gb = f"{args.gigabytes:g} GiB"
        print(f"download of a {gb} recording on loopback "
              f"({args.repeats} runs, medians, MB/s):")
        print(f"  Python Client.download   {statistics.median(py):7.0f}  "
              f"({', '.join(f'{x:.0f}' for x in py)})")
        print(f"  dynclamp recordings get  {statistics.median(cli):7.0f}  "
              f"({', '.join(f'{x:.0f}' for x in cli)})")
        print(f"  local read + SHA-256     {statistics.median(local):7.0f}  "
              f"(reference)")
        print(f"  ratio Python / local: "
              f"{statistics.median(py) / statistics.median(local):.2f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
