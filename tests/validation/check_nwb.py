#!/usr/bin/python3
"""Checks a dynclamp NWB file with h5py against what the NWB 2.x schema
requires, and against what the run should contain.

Usage: check_nwb.py FILE [--sweeps N] [--samples S [S ...]] [--cells C ...]
                         [--signals NAME ...] [--incomplete K ...]

Checks: the file opens with h5py; the root is an NWBFile with nwb_version and
the required datasets; every object with a neurodata_type has namespace and a
UUID object_id; every TimeSeries has data with unit and conversion and a
starting_time with rate; every CurrentClampSeries / CurrentClampStimulusSeries
has sweep_number, stimulus_description and an electrode link resolving to an
IntracellularElectrode whose device link resolves to a Device; units are SI;
the intracellular recordings tables are aligned and their references resolve
to the series of the right sweep; the timing table has a row per sweep.
Prints a JSON summary; exits 1 listing every problem.
"""
import argparse
import json
import re
import sys

import h5py
import numpy as np

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SI_UNITS = {"volts", "amperes", "siemens", "seconds", "farads", "1"}


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--sweeps", type=int)
    ap.add_argument("--samples", type=int, nargs="*")
    ap.add_argument("--cells", nargs="*", default=[])
    ap.add_argument("--signals", nargs="*", default=[])
    ap.add_argument("--incomplete", type=int, nargs="*", default=[])
    args = ap.parse_args()
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)
        return cond

    f = h5py.File(args.file, "r")
    need(text(f.attrs.get("neurodata_type", "")) == "NWBFile", "root is not an NWBFile")
    need(text(f.attrs.get("namespace", "")) == "core", "root namespace")
    need(text(f.attrs.get("nwb_version", "")).startswith("2."), "nwb_version")
    for d in ("identifier", "session_description", "session_start_time",
              "timestamps_reference_time", "file_create_date"):
        need(d in f, f"missing /{d}")
    for g in ("acquisition", "analysis", "processing", "stimulus",
              "stimulus/presentation", "stimulus/templates", "general"):
        need(g in f and isinstance(f[g], h5py.Group), f"missing group /{g}")
    need("general/protocol" in f, "the protocol is not stored")
    need("general/source_script" in f, "the daemon version is not stored")

    typed = []
    f.visititems(lambda name, obj: typed.append((name, obj))
                 if "neurodata_type" in obj.attrs else None)
    for name, obj in typed:
        need(text(obj.attrs.get("namespace", "")) in ("core", "hdmf-common"),
             f"{name}: namespace")
        need(UUID.match(text(obj.attrs.get("object_id", ""))) is not None,
             f"{name}: object_id is not a UUID")

    series = {}
    for name, obj in typed:
        t = text(obj.attrs["neurodata_type"])
        if t not in ("TimeSeries", "CurrentClampSeries", "CurrentClampStimulusSeries"):
            continue
        series[name] = obj
        if not need("data" in obj, f"{name}: no data"):
            continue
        unit = text(obj["data"].attrs.get("unit", ""))
        need(unit in SI_UNITS, f"{name}: unit '{unit}' is not SI")
        need("conversion" in obj["data"].attrs, f"{name}: no conversion")
        need("starting_time" in obj and "rate" in obj["starting_time"].attrs,
             f"{name}: no starting_time with rate")
        if t == "CurrentClampSeries":
            need(unit == "volts", f"{name}: V must be in volts")
        if t == "CurrentClampStimulusSeries":
            need(unit == "amperes", f"{name}: I must be in amperes")
        if t != "TimeSeries":
            need("sweep_number" in obj.attrs, f"{name}: no sweep_number")
            need("stimulus_description" in obj.attrs, f"{name}: no stimulus_description")
            link = obj.get("electrode", getlink=True)
            if need(isinstance(link, h5py.SoftLink), f"{name}: electrode is not a link"):
                el = obj["electrode"]
                need(text(el.attrs.get("neurodata_type", "")) == "IntracellularElectrode",
                     f"{name}: electrode link does not reach an IntracellularElectrode")
                need("description" in el, f"{name}: electrode has no description")
                dev = el.get("device", getlink=True)
                need(isinstance(dev, h5py.SoftLink) and
                     text(el["device"].attrs.get("neurodata_type", "")) == "Device",
                     f"{name}: electrode's device link does not reach a Device")

    # Sweeps as recorded.
    by_sweep = {}
    for name, obj in series.items():
        if text(obj.attrs["neurodata_type"]) == "CurrentClampSeries":
            by_sweep.setdefault(int(obj.attrs["sweep_number"]), []).append(obj)
    sweeps = sorted(by_sweep)
    lengths = [int(by_sweep[s][0]["data"].shape[0]) for s in sweeps]
    if args.sweeps is not None:
        need(len(sweeps) == args.sweeps, f"{len(sweeps)} sweeps, expected {args.sweeps}")
    if args.samples:
        need(lengths == args.samples, f"sample counts {lengths}, expected {args.samples}")
    for s in sweeps:
        need(len(by_sweep[s]) == len(args.cells) or not args.cells,
             f"sweep {s}: {len(by_sweep[s])} cells, expected {len(args.cells)}")
    for cell in args.cells:
        need(f"general/intracellular_ephys/{cell}" in f, f"no electrode for {cell}")
    for sig in args.signals:
        need(any(n.startswith(f"processing/dynamic_clamp/{sig}_sweep_") for n in series),
             f"signal {sig} not recorded")

    # The intracellular recordings tables.
    ice = f["general/intracellular_ephys"]
    if need("intracellular_recordings" in ice, "no intracellular_recordings table"):
        rec = ice["intracellular_recordings"]
        need(text(rec.attrs["neurodata_type"]) == "IntracellularRecordingsTable", "rec type")
        cats = [text(c) for c in rec.attrs["categories"]]
        need(cats == ["electrodes", "stimuli", "responses"], f"categories {cats}")
        n = rec["id"].shape[0]
        for c in cats:
            need(rec[c]["id"].shape[0] == n, f"category {c} is not aligned")
        need(n == len(sweeps) * max(1, len(args.cells)) or not args.cells,
             f"{n} recordings for {len(sweeps)} sweeps")
        for row in range(n):
            resp = rec["responses/response"][row]
            ts = f[resp["timeseries"]]
            need(text(ts.attrs["neurodata_type"]) == "CurrentClampSeries",
                 f"row {row}: response is not a CurrentClampSeries")
            need(int(resp["count"]) == ts["data"].shape[0], f"row {row}: count")
            stim = f[rec["stimuli/stimulus"][row]["timeseries"]]
            need(text(stim.attrs["neurodata_type"]) == "CurrentClampStimulusSeries",
                 f"row {row}: stimulus type")
            need(int(stim.attrs["sweep_number"]) == int(ts.attrs["sweep_number"]),
                 f"row {row}: stimulus and response of different sweeps")
            el = f[rec["electrodes/electrode"][row]]
            need(el == ts["electrode"], f"row {row}: electrode differs from the series'")
        sim = ice["simultaneous_recordings"]
        need(f[sim["recordings"].attrs["table"]] == rec, "recordings.table")
        need(sim["id"].shape[0] == len(sweeps), "simultaneous_recordings rows")
        index = list(sim["recordings_index"][:])
        need(index == sorted(index) and (not index or index[-1] == n),
             f"recordings_index {index}")

    qc = f.get("processing/dynamic_clamp/sweep_timing")
    timing = []
    if need(qc is not None, "no sweep_timing table"):
        need(qc["id"].shape[0] == len(sweeps), "sweep_timing rows")
        for k in range(qc["id"].shape[0]):
            timing.append({c: float(qc[c][k]) for c in
                           ("sweep_number", "cycles", "overruns", "dropped_frames",
                            "worst_period_s", "p999_period_s", "worst_latency_s",
                            "complete")})
        for k in args.incomplete:
            need(any(t["sweep_number"] == k and t["complete"] == 0 for t in timing),
                 f"sweep {k} should be marked incomplete")

    # Every dataset reads back whole (a file cut short by a failed write
    # can be well-formed on top and unreadable underneath).
    def read(name, obj):
        if isinstance(obj, h5py.Dataset):
            try:
                obj[()]
            except Exception as e:  # noqa: BLE001 - report any reader error
                problems.append(f"{name}: cannot be read: {e}")
    f.visititems(read)

    summary = {"sweeps": sweeps, "samples": lengths, "timing": timing,
               "series": len(series), "problems": problems}
    print(json.dumps(summary))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
