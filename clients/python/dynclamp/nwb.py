"""Reads a dynclamp recording (NWB 2.x) into numpy arrays with h5py.

>>> rec = dynclamp.nwb.read("20261130-101500_run3_fi_curve.nwb")
>>> for sweep in rec.sweeps:
...     print(sweep.number, sweep.amplitude_pa["cell0"], sweep.v_mv["cell0"].max())

The files are standard NWB: to work with pynwb instead, open one with
``pynwb.NWBHDF5IO(path, "r", load_namespaces=True).read()``; the membrane
potentials are ``nwbfile.acquisition``, the delivered currents
``nwbfile.stimulus``, and the intracellular recordings table groups them by
sweep.

Units here are the daemon's: mV, pA, s; every other recorded signal is in the
unit its ``units`` entry names.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Dict, List

import numpy as np

_SERIES = re.compile(r"^(.+)_sweep_(\d+)$")
_STIMULUS = re.compile(r"^(.+)_stimulus_sweep_(\d+)$")


@dataclasses.dataclass
class Sweep:
    """One sweep of a recording.

    Attributes:
        number: the sweep's number in the file (1, 2, ...).
        protocol_sweep: which of the protocol's sweeps it played.
        t: (samples,) time since the recording started, s.
        rate_hz: samples per second.
        v_mv: cell -> membrane potential, mV.
        i_pa: cell -> the current delivered to the cell, pA (protocol and
            dynamic clamp, after clipping).
        signals: name -> every other recorded signal ("gaba.g_ns"...).
        units: name -> unit of ``signals``.
        amplitude_pa: cell -> the largest stimulus level of the sweep.
        complete: played to its end (False: cut by a pause, abort, fault).
        qc_pass: within the run's timing QC.
        qc_reason: why not.
        overruns: cycles after an overrun in the sweep.
    """
    number: int
    protocol_sweep: int
    t: np.ndarray
    rate_hz: float
    v_mv: Dict[str, np.ndarray]
    i_pa: Dict[str, np.ndarray]
    signals: Dict[str, np.ndarray]
    units: Dict[str, str]
    amplitude_pa: Dict[str, float]
    complete: bool = True
    qc_pass: bool = True
    qc_reason: str = ""
    overruns: int = 0


@dataclasses.dataclass
class Recording:
    """A recording: its session, protocol text and sweeps in order."""
    identifier: str
    session_description: str
    protocol: str
    cells: List[str]
    sweeps: List[Sweep]


def _text(v) -> str:
    if isinstance(v, np.ndarray):
        v = v.item() if v.shape == () else v[0]
    return v.decode() if isinstance(v, bytes) else str(v)


def _series(ds_group, scale: float):
    data = ds_group["data"]
    values = data[()].astype(np.float64) * float(data.attrs["conversion"])
    values *= scale
    start = float(ds_group["starting_time"][()])
    rate = float(ds_group["starting_time"].attrs["rate"])
    return values, start, rate


def read(path: str) -> Recording:
    """Every sweep of the recording at ``path`` (a file the daemon wrote,
    also one cut short by a crash)."""
    import h5py

    with h5py.File(path, "r") as f:
        sweeps: Dict[int, Sweep] = {}
        cells: List[str] = []

        def sweep(n: int, start: float, rate: float, length: int) -> Sweep:
            if n not in sweeps:
                sweeps[n] = Sweep(number=n, protocol_sweep=-1,
                                  t=start + np.arange(length) / rate,
                                  rate_hz=rate, v_mv={}, i_pa={}, signals={},
                                  units={}, amplitude_pa={})
            return sweeps[n]

        for name, g in f["acquisition"].items():
            m = _SERIES.match(name)
            if not m:
                continue
            cell = m.group(1)
            if cell not in cells:
                cells.append(cell)
            v, start, rate = _series(g, 1e3)  # V -> mV
            sweep(int(m.group(2)), start, rate, len(v)).v_mv[cell] = v
        for name, g in f["stimulus/presentation"].items():
            m = _STIMULUS.match(name)
            if not m:
                continue
            i, start, rate = _series(g, 1e12)  # A -> pA
            sweep(int(m.group(2)), start, rate, len(i)).i_pa[m.group(1)] = i
        processing = f.get("processing/dynamic_clamp")
        for name, g in (processing.items() if processing is not None else ()):
            m = _SERIES.match(name)
            if not m or "data" not in g:
                continue
            unit = _text(g["data"].attrs.get("unit", ""))
            values, start, rate = _series(g, 1.0)
            s = sweep(int(m.group(2)), start, rate, len(values))
            s.signals[m.group(1)] = values
            s.units[m.group(1)] = unit
        if processing is not None and "sweep_timing" in processing:
            _timing(processing["sweep_timing"], sweeps)
        _amplitudes(f, sweeps, cells)
        return Recording(
            identifier=_text(f["identifier"][()]),
            session_description=_text(f["session_description"][()]),
            protocol=_text(f["general/protocol"][()])
            if "general/protocol" in f else "",
            cells=cells, sweeps=[sweeps[k] for k in sorted(sweeps)])


def _timing(table, sweeps: Dict[int, Sweep]) -> None:
    numbers = table["sweep_number"][()]
    for row, n in enumerate(numbers):
        s = sweeps.get(int(n))
        if s is None:
            continue
        s.protocol_sweep = int(table["protocol_sweep"][row])
        s.complete = bool(table["complete"][row])
        s.qc_pass = bool(table["qc_pass"][row])
        s.qc_reason = _text(table["qc_reason"][row])
        s.overruns = int(table["overruns"][row])


def _amplitudes(f, sweeps: Dict[int, Sweep], cells: List[str]) -> None:
    # The stimulus table's amplitude (A) of each recording row, whose
    # stimulus series names its cell and sweep.
    ice = "general/intracellular_ephys/intracellular_recordings/stimuli"
    if ice not in f:
        return
    stimuli = f[ice]
    refs = stimuli["stimulus"][()]
    amplitudes = stimuli["amplitude"][()]
    for row, ref in enumerate(refs):
        target = f[ref[2]] if len(ref) >= 3 else None
        if target is None:
            continue
        m = _STIMULUS.match(target.name.rsplit("/", 1)[-1])
        if m and int(m.group(2)) in sweeps:
            sweeps[int(m.group(2))].amplitude_pa[m.group(1)] = \
                float(amplitudes[row]) * 1e12
