#!/usr/bin/python3
"""Metrics through a real Prometheus server (Debian `prometheus`), on
loopback with a temporary config and data directory: the daemon is scraped,
the cycle counter increases, and the period histogram's median bucket holds
the configured period. Also checks the deploy/ files: `promtool check config`
and `promtool check rules` pass, and the Grafana dashboard parses and names
only metrics the daemon exposes.

Usage: prometheus_test.py --bin build/bin --deploy deploy
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

BIN = DEPLOY = None
PERIOD_S = 50e-6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class PrometheusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="dynclamp_prom_")
        cls.metrics_port = free_port()
        cls.daemon = subprocess.Popen(
            [os.path.join(BIN, "dynclampd"), "--listen=127.0.0.1:0",
             f"--port_file={cls.dir}/port", f"--data_dir={cls.dir}/data",
             f"--metrics_listen=127.0.0.1:{cls.metrics_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(f"{cls.dir}/port") and os.path.getsize(f"{cls.dir}/port"):
                break
            time.sleep(0.05)
        with open(f"{cls.dir}/port") as f:
            cls.server = f"127.0.0.1:{f.read().strip()}"
        subprocess.run([os.path.join(BIN, "dynclamp"), f"--server={cls.server}",
                        "start"], check=True, capture_output=True)
        cls.prom_port = free_port()
        config = os.path.join(cls.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dynclamp
    static_configs:
      - targets: ["127.0.0.1:{cls.metrics_port}"]
""")
        cls.prom = subprocess.Popen(
            ["prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={cls.dir}/tsdb",
             f"--web.listen-address=127.0.0.1:{cls.prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        cls.prom.terminate()
        cls.prom.wait(timeout=20)
        cls.daemon.terminate()
        cls.daemon.wait(timeout=20)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def query(self, expr):
        url = (f"http://127.0.0.1:{self.prom_port}/api/v1/query?" +
               urllib.parse.urlencode({"query": expr}))
        body = json.loads(get(url))
        self.assertEqual(body["status"], "success", body)
        return body["data"]["result"]

    def wait_for(self, expr, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                result = self.query(expr)
                if result:
                    return result
            except OSError:
                pass  # Prometheus still starting
            time.sleep(0.5)
        self.fail(f"no result for {expr} within {timeout} s")

    def test_prometheus_scrapes_the_daemon(self):
        first = float(self.wait_for("dynclamp_loop_cycles_total")[0]["value"][1])
        deadline = time.time() + 30
        later = first
        while time.time() < deadline and later <= first:
            time.sleep(1)
            later = float(self.query("dynclamp_loop_cycles_total")[0]["value"][1])
        self.assertGreater(later, first, "the cycle counter did not increase")
        up = self.query('up{job="dynclamp"}')
        self.assertEqual(up[0]["value"][1], "1")

    def test_period_histogram_median_bucket_holds_the_period(self):
        self.wait_for("dynclamp_loop_period_seconds_bucket")
        median = float(self.wait_for(
            "histogram_quantile(0.5, dynclamp_loop_period_seconds_bucket)")[0]["value"][1])
        # Interpolated inside 1 %-wide buckets around the period.
        self.assertAlmostEqual(median, PERIOD_S, delta=0.05 * PERIOD_S)
        buckets = {float(r["metric"]["le"]): float(r["value"][1]) for r in
                   self.query("dynclamp_loop_period_seconds_bucket")}
        total = buckets[float("inf")]
        bounds = sorted(buckets)
        median_bucket = next(b for b in bounds if buckets[b] >= total / 2)
        lower = bounds[bounds.index(median_bucket) - 1]
        self.assertTrue(lower < PERIOD_S <= median_bucket,
                        f"median bucket ({lower}, {median_bucket}]")

    def test_deploy_files_pass_promtool(self):
        for kind, name in (("config", "prometheus.yml"), ("rules", "alerts.yml")):
            out = subprocess.run(["promtool", "check", kind,
                                  os.path.join(DEPLOY, "prometheus", name)],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_grafana_dashboard_names_only_existing_metrics(self):
        with open(os.path.join(DEPLOY, "grafana", "dynclamp.json")) as f:
            dashboard = json.load(f)
        exprs = []

        def walk(node):
            if isinstance(node, dict):
                if "expr" in node:
                    exprs.append(node["expr"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(dashboard)
        self.assertTrue(exprs, "the dashboard has no queries")
        exposed = set(re.findall(r"^(dynclamp_\w+?)(?:_bucket|_sum|_count)?[{ ]",
                                 get(f"http://127.0.0.1:{self.metrics_port}/metrics"),
                                 re.M))
        families = set(re.findall(r"^# TYPE (dynclamp_\w+)",
                                  get(f"http://127.0.0.1:{self.metrics_port}/metrics"),
                                  re.M))
        for expr in exprs:
            for name in re.findall(r"dynclamp_\w+", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertTrue(name in exposed or base in families,
                                f"{name} (in {expr!r}) is not exposed")
        # The alert rules too.
        with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
            for name in re.findall(r"dynclamp_\w+", f.read()):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertIn(base, families, f"alert uses unknown {name}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--deploy", required=True)
    args, rest = ap.parse_known_args()
    BIN = os.path.abspath(args.bin)
    DEPLOY = os.path.abspath(args.deploy)
    unittest.main(argv=[sys.argv[0], *rest])
