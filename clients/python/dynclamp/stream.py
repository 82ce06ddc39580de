"""Live signals as numpy arrays.

A :class:`Stream` yields :class:`Block` objects: a few milliseconds of every
subscribed signal as columns of one array, with the time of each sample in the
run (seconds since the run started, on the loop's schedule), and which samples
are missing. :func:`envelope` and :meth:`Stream.envelopes` decimate for display
without losing spikes: each bin keeps its minimum and maximum.
"""
from __future__ import annotations

import dataclasses
import threading
import warnings
from typing import Dict, Iterator, List, Optional, Tuple

import grpc
import numpy as np

from .errors import Cancelled, DeadlineExceeded, from_rpc_error
from .v1 import stream_pb2


@dataclasses.dataclass
class Block:
    """Consecutive samples of the subscribed signals.

    Attributes:
        signals: the signal names, in column order.
        units: their units ("mV", "pA", "nS", ...).
        values: float64 array (samples, signals). NaN where a signal did not
            exist in the running spec, and at skipped cycles.
        t: float64 array (samples,): each sample's time in its run, s.
        first_index: the first sample's slot: loop periods since the run
            started.
        sample_period_s: time between samples (loop period x decimation).
        skipped: bool array (samples,): cycles the loop skipped after an
            overrun (no sample was taken; the values are NaN).
        overrun: bool array (samples,): the sample's cycle came after an
            overrun (late; with decimation, or a cycle between samples).
        clipped: bool array (samples,): an output hit its current limit at
            the sample's cycle (or a cycle between samples).
        lost_before: samples this subscriber lost just before this block
            (its queue was full); 0 normally.
        new_run: the first block of a run (``t`` starts again near 0).
        monotonic_ns: CLOCK_MONOTONIC time of the first sample on the daemon.
    """
    signals: List[str]
    units: List[str]
    values: np.ndarray
    t: np.ndarray
    first_index: int
    sample_period_s: float
    skipped: np.ndarray
    lost_before: int
    new_run: bool
    monotonic_ns: int
    overrun: np.ndarray = None
    clipped: np.ndarray = None

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, signal: str) -> np.ndarray:
        """One signal's column, by name."""
        return self.values[:, self.signals.index(signal)]

    @property
    def gap_before(self) -> bool:
        """Samples are missing between the previous block and this one."""
        return self.lost_before > 0


@dataclasses.dataclass
class Trace:
    """What :meth:`dynclamp.Client.record` returns.

    Attributes:
        t: (samples,) time in the run, s.
        values: signal name -> (samples,) array in ``units[name]``.
        units: signal name -> unit.
        samples_lost: samples lost on the way (0 normally).
        skipped: (samples,) bool, cycles the loop skipped.
    """
    t: np.ndarray
    values: Dict[str, np.ndarray]
    units: Dict[str, str]
    samples_lost: int
    skipped: np.ndarray

    def __getitem__(self, signal: str) -> np.ndarray:
        return self.values[signal]


class Stream:
    """An open subscription; iterate it for :class:`Block` objects.

    Use it as a context manager, or call :meth:`close`, to end it. It outlives
    runs: between runs it waits, and the next run's first block has
    ``new_run`` set.
    """

    def __init__(self, call, decimation: int):
        self._call = call
        self._decimation = max(1, decimation)
        self._lost = 0
        self._next_index: Optional[int] = None
        try:
            header = next(call)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        self.signals: List[str] = list(header.signals)
        self.units: List[str] = list(header.units)
        #: Seconds between samples (the loop period x decimation).
        self.sample_period_s: float = header.sample_period_ns * 1e-9
        self.loop_period_s: float = self.sample_period_s / self._decimation

    @property
    def samples_lost(self) -> int:
        """Samples this subscriber has lost so far."""
        return self._lost

    def close(self) -> None:
        """Ends the subscription (the daemon gives back its slot)."""
        self._call.cancel()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Block]:
        return self

    def __next__(self) -> Block:
        try:
            chunk = next(self._call)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise from_rpc_error(e) from None
        return self._block(chunk)

    def _block(self, chunk: stream_pb2.Chunk) -> Block:
        n = chunk.num_samples
        k = len(self.signals)
        values = np.array(chunk.values, dtype=np.float64).reshape(n, k)
        skipped, overrun, clipped = (_mask(n, chunk.skipped_samples),
                                     _mask(n, chunk.overrun_samples),
                                     _mask(n, chunk.clipped_samples))
        first = chunk.first_sample_index
        new_run = self._next_index is None or first < self._next_index
        lost_before = chunk.samples_lost - self._lost
        self._lost = chunk.samples_lost
        self._next_index = first + n * self._decimation
        t = first * self.loop_period_s + np.arange(n) * self.sample_period_s
        return Block(self.signals, self.units, values, t, first,
                     self.sample_period_s, skipped, lost_before, new_run,
                     chunk.first_sample_monotonic_ns, overrun, clipped)

    def collect(self, samples: int, timeout: Optional[float] = None,
                same_run: bool = True) -> Trace:
        """The next ``samples`` samples as one :class:`Trace`.

        With ``same_run``, samples of a previous run still in the stream's
        queue are dropped: the trace starts with the first block of a run
        seen after this call, or with the current run's next block.

        Raises:
            DeadlineExceeded: fewer samples came within ``timeout`` seconds
                (the stream is closed then).
            Cancelled: the stream was closed meanwhile.
        """
        blocks: List[Block] = []
        have = 0
        lost_at_start = self._lost
        # Between runs no block comes at all: the deadline closes the stream
        # rather than waiting for a block that may never arrive.
        expired = threading.Event()
        timer = None
        if timeout is not None:
            timer = threading.Timer(timeout, lambda: (expired.set(),
                                                      self.close()))
            timer.daemon = True
            timer.start()
        try:
            while have < samples:
                try:
                    b = next(self)
                except StopIteration:
                    if expired.is_set():
                        raise DeadlineExceeded(
                            grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"{have} of {samples} samples came in {timeout} s"
                            " (is a run active?)") from None
                    raise Cancelled(grpc.StatusCode.CANCELLED,
                                    f"the stream was closed after {have} of "
                                    f"{samples} samples") from None
                if same_run and b.new_run and blocks:
                    blocks, have = [], 0  # a new run started: keep only it
                    lost_at_start = self._lost - b.lost_before
                blocks.append(b)
                have += len(b)
        finally:
            if timer is not None:
                timer.cancel()
        values = np.concatenate([b.values for b in blocks])[:samples]
        t = np.concatenate([b.t for b in blocks])[:samples]
        skipped = np.concatenate([b.skipped for b in blocks])[:samples]
        return Trace(t=t,
                     values={s: values[:, i].copy()
                             for i, s in enumerate(self.signals)},
                     units=dict(zip(self.signals, self.units)),
                     samples_lost=self._lost - lost_at_start,
                     skipped=skipped)

    def envelopes(self, bin_samples: int
                  ) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Blocks decimated by ``bin_samples`` keeping spikes: yields
        (t, lo, hi) with each bin's start time and its minimum and maximum
        of every signal (arrays (bins,) and (bins, signals)). Bins never span
        a gap or two runs; a partial bin at one is dropped."""
        carry: Optional[Block] = None
        for b in self:
            if carry is not None and not (b.new_run or b.gap_before):
                b = dataclasses.replace(
                    b, values=np.concatenate([carry.values, b.values]),
                    t=np.concatenate([carry.t, b.t]))
            t, lo, hi, rest = _bins(b.t, b.values, bin_samples)
            carry = None if rest == len(b) else dataclasses.replace(
                b, values=b.values[rest:], t=b.t[rest:])
            if len(t):
                yield t, lo, hi


def _mask(n: int, indices) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    if len(indices):
        m[np.asarray(indices, dtype=np.intp)] = True
    return m


def _bins(t: np.ndarray, values: np.ndarray, n: int):
    whole = (len(t) // n) * n
    if whole == 0:
        return t[:0], values[:0], values[:0], 0
    v = values[:whole].reshape(whole // n, n, -1)
    with warnings.catch_warnings():  # a bin of only NaN stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return t[:whole:n], np.nanmin(v, axis=1), np.nanmax(v, axis=1), whole


def envelope(t: np.ndarray, values: np.ndarray, bin_samples: int
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decimates by ``bin_samples`` keeping every spike: (t, lo, hi), each
    bin's start time, minimum and maximum. ``values`` is (samples,) or
    (samples, signals); a last partial bin is dropped."""
    squeeze = values.ndim == 1
    v = values[:, None] if squeeze else values
    tb, lo, hi, _ = _bins(t, v, bin_samples)
    return (tb, lo[:, 0], hi[:, 0]) if squeeze else (tb, lo, hi)
