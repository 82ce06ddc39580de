"""The console's oscilloscope: streamed blocks in, screens out.

A screen is ``columns`` pixel columns over ``timebase_s`` seconds; each column
keeps the minimum and maximum of every signal over its time (so a spike that
lasts one sample still reaches its column), and which columns hold a skipped
cycle or follow lost samples. Free run starts a new screen when one is full;
a trigger (a signal crossing a level, rising or falling) starts one
``pre`` x timebase before the crossing, from the samples kept for it.

Pure numpy, no I/O: the server feeds it :class:`dynclamp.Block` objects and
sends :meth:`Scope.frame` to the browser, packed by :func:`encode_frame`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import struct
from typing import Dict, Optional

import numpy as np

MIN_TIMEBASE_S = 0.010
MAX_TIMEBASE_S = 10.0
MAX_COLUMNS = 4096


@dataclasses.dataclass
class Trigger:
    signal: int           # column of the block's values
    level: float
    rising: bool = True
    pre: float = 0.1      # fraction of the screen before the crossing


class Scope:
    """Screens of min/max columns from consecutive blocks of one stream."""

    def __init__(self, n_signals: int, timebase_s: float, columns: int,
                 trigger: Optional[Trigger] = None):
        if not MIN_TIMEBASE_S <= timebase_s <= MAX_TIMEBASE_S:
            raise ValueError(f"timebase_s: {timebase_s} s is outside "
                             f"[{MIN_TIMEBASE_S}, {MAX_TIMEBASE_S}] s")
        if not 16 <= columns <= MAX_COLUMNS:
            raise ValueError(f"columns: {columns} is outside [16, "
                             f"{MAX_COLUMNS}]")
        if trigger is not None and not 0 <= trigger.pre < 1:
            raise ValueError(f"pre: {trigger.pre} is outside [0, 1)")
        self.n = n_signals
        self.timebase_s = timebase_s
        self.columns = columns
        self.col_s = timebase_s / columns
        self.trigger = trigger
        self.screen_id = 0
        self._start: Optional[float] = None  # the screen's t at column 0
        self._new_screen()
        self.completed: Optional[Dict] = None  # the last full screen
        # Samples kept for the pre-trigger part (and the crossing's
        # previous sample): at most pre x timebase.
        self._history_t = np.zeros(0)
        self._history_v = np.zeros((0, n_signals))
        self._last_trigger_value: Optional[float] = None
        self.last_t = math.nan
        self.last_monotonic_ns = 0
        self.samples = 0
        self.changed = False

    def _new_screen(self, start: Optional[float] = None) -> None:
        self._start = start
        self.lo = np.full((self.columns, self.n), np.nan)
        self.hi = np.full((self.columns, self.n), np.nan)
        self.skipped = np.zeros(self.columns, dtype=bool)
        self.lost = np.zeros(self.columns, dtype=bool)
        self.overrun = np.zeros(self.columns, dtype=bool)
        self.clipped = np.zeros(self.columns, dtype=bool)
        self.filled = 0
        self.screen_id += 1

    @property
    def armed(self) -> bool:
        """Triggered mode, waiting for the crossing."""
        return self.trigger is not None and self._start is None

    def feed(self, t: np.ndarray, values: np.ndarray, skipped: np.ndarray,
             lost_before: int = 0, new_run: bool = False,
             monotonic_ns: int = 0, period_s: float = 0.0,
             overrun: np.ndarray = None, clipped: np.ndarray = None) -> None:
        """Adds a block: t (n,), values (n, signals), and per sample (n,)
        bool: skipped, overrun, clipped (see dynclamp.Block)."""
        if len(t) == 0:
            return
        # One mask per sample: bit 0 skipped, 1 after an overrun, 2 clipped.
        marks = skipped.astype(np.uint8)
        if overrun is not None:
            marks |= overrun.astype(np.uint8) << 1
        if clipped is not None:
            marks |= clipped.astype(np.uint8) << 2
        if new_run:
            self._new_screen()
            self._history_t = self._history_t[:0]
            self._history_v = self._history_v[:0]
            self._last_trigger_value = None
        self.last_t = float(t[-1])
        self.last_monotonic_ns = monotonic_ns + int(
            round((len(t) - 1) * period_s * 1e9))
        self.samples += len(t)
        self.changed = True
        if self.trigger is None:
            self._feed_free(t, values, marks, lost_before > 0)
        else:
            self._feed_triggered(t, values, marks, lost_before > 0)

    # ---- free run ----------------------------------------------------------

    def _feed_free(self, t, values, marks, lost) -> None:
        while len(t):
            if self._start is None or t[0] < self._start:
                self._new_screen(float(t[0]))
            end = self._start + self.timebase_s - 1e-6 * self.col_s
            inside = int(np.searchsorted(t, end, side="left"))
            if inside:
                self._bin(t[:inside], values[:inside], marks[:inside], lost)
                lost = False
            if inside == len(t):
                return
            self._complete()
            # The next screen follows on (or starts at the sample after a
            # gap longer than a screen).
            end = self._start + self.timebase_s
            nxt = end if t[inside] < end + self.timebase_s else float(t[inside])
            self._new_screen(nxt)
            t, values, marks = t[inside:], values[inside:], marks[inside:]

    # ---- triggered ---------------------------------------------------------

    def _feed_triggered(self, t, values, marks, lost) -> None:
        trig = self.trigger
        while len(t):
            if self._start is not None:  # filling a screen
                end = self._start + self.timebase_s - 1e-6 * self.col_s
                inside = int(np.searchsorted(t, end, side="left"))
                if inside:
                    self._bin(t[:inside], values[:inside], marks[:inside],
                              lost)
                    lost = False
                self._keep(t[:inside], values[:inside])
                if inside == len(t):
                    return
                self._complete()
                self._start = None  # armed again, from the end of this one
                t, values, marks = (t[inside:], values[inside:],
                                      marks[inside:])
                continue
            # Armed: find the first crossing in this block.
            v = values[:, trig.signal]
            prev = np.empty_like(v)
            prev[0] = (self._last_trigger_value
                       if self._last_trigger_value is not None else np.nan)
            prev[1:] = v[:-1]
            if trig.rising:
                hits = np.flatnonzero((prev < trig.level) & (v >= trig.level))
            else:
                hits = np.flatnonzero((prev > trig.level) & (v <= trig.level))
            if len(hits) == 0:
                self._keep(t, values)
                self._last_trigger_value = float(v[-1])
                return
            k = int(hits[0])
            start = float(t[k]) - trig.pre * self.timebase_s
            self._new_screen(start)
            # The pre-trigger part from what was kept, then this block on.
            ht, hv = self._history_t, self._history_v
            keep = ht >= start
            if keep.any():
                self._bin(ht[keep], hv[keep],
                          np.zeros(int(keep.sum()), np.uint8), False)
            self._history_t = ht[:0]
            self._history_v = hv[:0]
            self._last_trigger_value = None
            # Samples before the crossing in this block belong to the screen
            # too (they are after `start` if pre covers them).
            first = int(np.searchsorted(t, start, side="left"))
            t, values, marks = t[first:], values[first:], marks[first:]

    def _keep(self, t, values) -> None:
        if self.trigger is None or len(t) == 0:
            return
        horizon = float(t[-1]) - self.trigger.pre * self.timebase_s
        ht = np.concatenate([self._history_t, t])
        hv = np.concatenate([self._history_v, values])
        first = int(np.searchsorted(ht, horizon, side="left"))
        self._history_t, self._history_v = ht[first:], hv[first:]
        self._last_trigger_value = float(values[-1, self.trigger.signal])

    # ---- columns -----------------------------------------------------------

    def _bin(self, t, values, marks, lost) -> None:
        # A sample on a column's boundary (to rounding) starts that column.
        cols = np.floor((t - self._start) / self.col_s + 1e-6).astype(np.int64)
        np.clip(cols, 0, self.columns - 1, out=cols)
        starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        which = cols[starts]
        lo = np.fmin.reduceat(values, starts, axis=0)
        hi = np.fmax.reduceat(values, starts, axis=0)
        self.lo[which] = np.fmin(self.lo[which], lo)
        self.hi[which] = np.fmax(self.hi[which], hi)
        for bit, columns in ((1, self.skipped), (2, self.overrun),
                             (4, self.clipped)):
            hit = (marks & bit) != 0
            if hit.any():
                columns[cols[hit]] = True
        if lost:
            self.lost[cols[0]] = True
        self.filled = max(self.filled, int(cols[-1]) + 1)

    def _complete(self) -> None:
        self.completed = self._snapshot(complete=True)

    def _snapshot(self, complete: bool) -> Dict:
        return {
            "screen": self.screen_id,
            "complete": complete,
            "t0": self._start,
            "col_s": self.col_s,
            "filled": self.columns if complete else self.filled,
            "lo": self.lo.T.copy(),
            "hi": self.hi.T.copy(),
            "skipped": np.flatnonzero(self.skipped).tolist(),
            "lost": np.flatnonzero(self.lost).tolist(),
            "overrun": np.flatnonzero(self.overrun).tolist(),
            "clipped": np.flatnonzero(self.clipped).tolist(),
        }

    def frame(self) -> Optional[Dict]:
        """The screen being filled (or, armed, the last full one), if
        anything changed since the last call; None otherwise."""
        if not self.changed:
            return None
        self.changed = False
        if self._start is None:  # armed
            shot = dict(self.completed) if self.completed else None
            if shot is None:
                return {"screen": self.screen_id, "armed": True,
                        "last_t": self.last_t,
                        "monotonic_ns": self.last_monotonic_ns}
        else:
            shot = self._snapshot(complete=False)
            if self.trigger is None and self.completed is not None:
                # Free run sweeps over the last screen, as a scope does: the
                # new trace up to the sweep point, a short blank, then the
                # rest of the previous screen.
                blank = self.filled + max(1, self.columns // 100)
                for k in ("lo", "hi"):
                    shot[k][:, blank:] = self.completed[k][:, blank:]
                shot["sweep"] = self.filled
        shot["armed"] = self.armed
        shot["last_t"] = self.last_t
        shot["monotonic_ns"] = self.last_monotonic_ns
        return shot


def encode_frame(frame: Dict) -> bytes:
    """A frame as one binary WebSocket message: a little-endian uint32 n,
    n bytes of JSON (every field but lo and hi), zero padding to a multiple
    of 4, then lo and hi as float32 little-endian, each signals x columns,
    row by row; NaN is a gap. Binary because JSON spent milliseconds per
    frame writing (and the browser reading) thousands of decimals."""
    header = {k: v for k, v in frame.items() if k not in ("lo", "hi")}
    arrays = [frame[k] for k in ("lo", "hi") if k in frame]
    if arrays:
        header["shape"] = list(arrays[0].shape)
    text = json.dumps(header).encode()
    pad = -(4 + len(text)) % 4
    parts = [struct.pack("<I", len(text)), text, b"\0" * pad]
    parts += [np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays]
    return b"".join(parts)


def decode_frame(data: bytes) -> Dict:
    """The inverse of :func:`encode_frame` (lo and hi as float32 arrays)."""
    (n,) = struct.unpack_from("<I", data)
    frame = json.loads(data[4:4 + n])
    offset = 4 + n + (-(4 + n) % 4)
    if "shape" in frame:
        rows, cols = frame.pop("shape")
        for k in ("lo", "hi"):
            frame[k] = np.frombuffer(data, "<f4", rows * cols,
                                     offset).reshape(rows, cols)
            offset += 4 * rows * cols
    return frame
