#!/usr/bin/python3
"""The console's scope from a signal at 50 kHz to pixels, in headless
Chromium on this machine.

dynclampd runs at 50 kHz (--period_us=20) with cell0 held at 400 pA (it
fires); `dynclamp stream` subscribes to 4 signals for the whole time (the
other subscriber: it must lose nothing). Phase 1, --seconds without the
console: the daemon's CPU. Phase 2, the same with the console serving a page
in headless Chromium that shows 4 traces at 1 s per screen: frames painted
per second, the display latency of each painted frame (from the CLOCK_
MONOTONIC time of its newest sample's cycle to the browser's report that it
was painted, both on this host), the console's CPU and the daemon's extra CPU.

Usage: bench/console_scope.py [--bin build/bin] [--python build/python]
                              [--seconds 20] [--timebase 1]
"""
import http.cookiejar
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench_common

SIGNALS = ["cell0.v_mv", "cell0.i_pa", "cell1.v_mv", "cell1.i_pa"]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_file(path, proc, what):
    for _ in range(400):
        if os.path.exists(path) and os.path.getsize(path):
            with open(path) as f:
                return f.read().strip()
        if proc.poll() is not None:
            sys.exit(f"{what} exited")
        time.sleep(0.05)
    sys.exit(f"{what} did not start")


def main():
    ap = bench_common.parser(__doc__)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--timebase", default="1")
    args = ap.parse_args()
    sys.path.insert(0, args.python)
    import dynclamp
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    work = tempfile.mkdtemp(prefix="dynclamp_bench_console_")
    procs = []
    try:
        daemon = subprocess.Popen(
            [os.path.join(args.bin, "dynclampd"), "--listen=127.0.0.1:0",
             "--metrics_listen=127.0.0.1:0", "--period_us=20",
             f"--port_file={work}/port", f"--data_dir={work}/data"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(daemon)
        address = f"127.0.0.1:{wait_file(f'{work}/port', daemon, 'dynclampd')}"
        rig = dynclamp.Client(address)
        rig.hold("cell0", 400)
        total = 2 * args.seconds + 30
        other = subprocess.Popen(
            [os.path.join(args.bin, "dynclamp"), f"--server={address}",
             "stream", "--signals", ",".join(SIGNALS), "--format", "csv",
             "--duration", str(total), "-o", "/dev/null"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(other)
        time.sleep(0.5)
        rig.start(total)
        time.sleep(1)

        c0, t0 = cpu_s(daemon.pid), time.monotonic()
        time.sleep(args.seconds)
        daemon_alone = (cpu_s(daemon.pid) - c0) / (time.monotonic() - t0)

        console = subprocess.Popen(
            ["/usr/bin/python3", "-m", "dynclamp_console",
             f"--server={address}", "--listen=127.0.0.1:0",
             f"--port_file={work}/console_port"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": args.python})
        procs.append(console)
        url = f"http://127.0.0.1:{wait_file(f'{work}/console_port', console, 'the console')}/"
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=1400,1000"):
            options.add_argument(a)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                                  options=options)
        try:
            driver.get(url)
            deadline = time.monotonic() + 30
            while not driver.execute_script(
                    "return (window.dynclampConsole.signals || []).length"):
                if time.monotonic() > deadline:
                    sys.exit("the page did not load its signals")
                time.sleep(0.1)
            driver.execute_script(
                "const s = window.dynclampConsole;"
                f"for (const n of {json.dumps(SIGNALS)})"
                "  if (!s.on.has(n)) s.on.set(n, {scale: 20, offset: 0});"
                f"document.getElementById('timebase').value = '{args.timebase}';"
                "configureScope();")
            time.sleep(3)
            shown = driver.execute_script(
                "return window.dynclampConsole.configured.signals")
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(jar))
            opener.open(urllib.request.Request(
                url + "api/login", data=b'{"operator": "bench"}',
                headers={"Content-Type": "application/json"}))
            before = json.load(opener.open(url + "api/latency"))
            painted0 = driver.execute_script(
                "return window.dynclampConsole.framesPainted")
            c0, d0, t0 = cpu_s(console.pid), cpu_s(daemon.pid), time.monotonic()
            time.sleep(args.seconds)
            wall = time.monotonic() - t0
            console_cpu = (cpu_s(console.pid) - c0) / wall
            daemon_with = (cpu_s(daemon.pid) - d0) / wall
            painted = driver.execute_script(
                "return window.dynclampConsole.framesPainted") - painted0
            after = json.load(opener.open(url + "api/latency"))
        finally:
            driver.quit()
        rig.stop()
        _, err = other.communicate(timeout=60)
        lat = after["latencies_ms"][len(before["latencies_ms"]):] \
            if len(after["latencies_ms"]) < 5000 else after["latencies_ms"]
        lat = sorted(lat)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        print(f"scope: {len(shown)} traces ({', '.join(shown)}), "
              f"{args.timebase} s per screen, 50 kHz, {args.seconds:g} s")
        print(f"  frames painted: {painted} = {painted / wall:.1f} per s")
        print(f"  display latency (newest sample's cycle to painted), "
              f"{len(lat)} frames: p50 {statistics.median(lat):.1f} ms, "
              f"p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms")
        print(f"  console CPU: {console_cpu:.3f} s per s; daemon CPU "
              f"{daemon_alone:.3f} without the console, {daemon_with:.3f} "
              f"with it (extra {daemon_with - daemon_alone:+.3f})")
        last = err.replace("\r", "\n").strip().splitlines()[-1]
        print(f"  other subscriber (dynclamp stream): {last.strip()}")
        rig.close()
    finally:
        for p_ in procs:
            if p_.poll() is None:
                p_.terminate()
                p_.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
