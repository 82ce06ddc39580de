"""examples/python, run headless against the default simulated rig, checked
against what their comments promise ("see:" lines)."""
import csv
import os
import subprocess

import numpy as np

import dynclamp

from conftest import EXAMPLES

PY = os.path.join(EXAMPLES, "python")


def run_example(daemon, name, out):
    # As the README has users do: the package from the build tree.
    package = os.path.dirname(os.path.dirname(dynclamp.__file__))
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": package}
    r = subprocess.run(
        ["/usr/bin/python3", os.path.join(PY, name),
         "--server", daemon.address, "-o", str(out)],
        capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def rows(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_fi_curve(daemon, tmp_path):
    out = run_example(daemon, "fi_curve.py", tmp_path)
    assert "rheobase: between 100 and 200 pA" in out
    table = rows(tmp_path / "fi_curve.csv")
    currents = [r["current_pa"] for r in table]
    rates = [r["rate_hz"] for r in table]
    assert currents == [100.0 * k for k in range(11)]
    # No spikes at 0 and 100 pA, firing from 200 pA, rising every step.
    assert rates[0] == rates[1] == 0 and rates[2] > 0
    assert all(b > a for a, b in zip(rates[2:], rates[3:]))
    assert 120 <= rates[-1] <= 170
    thresholds = [r["threshold_mv"] for r in table if r["rate_hz"] > 0]
    assert all(-55 <= x <= -45 for x in thresholds), thresholds
    peaks = [r["peak_mv"] for r in table if r["rate_hz"] > 0]
    assert all(35 <= x <= 45 for x in peaks)
    assert all(r["qc_pass"] == 1 for r in table)
    png = tmp_path / "fi_curve.png"
    assert png.stat().st_size > 10000
    assert any(p.name.startswith("fi_run") and p.suffix == ".nwb"
               for p in tmp_path.iterdir())


def test_live_tuning(daemon, tmp_path):
    run_example(daemon, "live_tuning.py", tmp_path)
    table = rows(tmp_path / "live_tuning.csv")
    g = [r["g_ns"] for r in table]
    assert g == [0.5 * k for k in range(11)], "every step was seen"
    v = [r["mean_v_mv"] for r in table]
    spikes = [r["rate_hz"] for r in table]
    assert -75 <= v[0] <= -71
    first = next(k for k, s in enumerate(spikes) if s > 0)
    assert 1.5 <= g[first] <= 3.0
    steps = np.diff(v[:first])
    assert len(steps) >= 2 and all(2 <= d <= 6 for d in steps), steps
    assert all(b >= a for a, b in zip(spikes[first:], spikes[first + 1:]))
    assert spikes[-1] > spikes[first]
    assert (tmp_path / "live_tuning.png").stat().st_size > 10000
