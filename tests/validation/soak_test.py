#!/usr/bin/python3
"""Soak: the clamp at 50 kHz for --minutes (10 in CI) while a protocol
records every sample to NWB and a client streams the whole time.

Asserts: no frame dropped between the loop and the recorder, no sample lost
by the stream, the file holds every sweep in full, and the daemon's memory
does not creep after the first minute's warm-up: it rises in under a
quarter of the 10 s intervals (a creep rises in nearly all) and by under
10 % overall.
Prints the figures (FIGURES: ...) for the closing note.

Usage: soak_test.py --bin build/bin [--minutes 10]
"""
import glob
import os
import shutil
import sys
import time
import unittest

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_main  # noqa: E402
import fault_test  # noqa: E402
from fault_test import Daemon, stream_summary  # noqa: E402

MINUTES = 10.0
SWEEP_S = 10.0


class SoakTest(unittest.TestCase):
    def test_soak_at_50_khz_with_streaming_and_recording(self):
        total_s = MINUTES * 60
        sweeps = max(1, int(round(total_s / SWEEP_S)))
        warmup_s = min(60.0, total_s / 3)
        # 50 kHz leaves 20 us a cycle: the loop keeps a CPU of its own (the
        # default, --cpu=auto) and spins up to its deadlines there; the rest
        # of the daemon (recorder, streams) and this test use the others.
        cpus = sorted(os.sched_getaffinity(0))
        flags = ["--period_us=20", "--sim_cells=ca1"]
        if len(cpus) > 1:
            flags.append(f"--cpu={cpus[-1]}")
            os.sched_setaffinity(0, cpus[:-1])
        d = Daemon(*flags)
        try:
            protocol = os.path.join(d.dir, "soak.yaml")
            with open(protocol, "w") as f:
                f.write(f"""
name: soak
repetitions: {sweeps}
sweeps:
  - stimuli:
      - cell: cell0
        epochs:
          - {{duration_s: {SWEEP_S}, sine: {{offset: 50, amplitude: 150,
                                          frequency_hz: 2}}}}
""")
            r = d.cli("run", protocol)
            self.assertEqual(r.returncode, 0, r.stderr)
            stream = d.stream(os.devnull, "cell0.v_mv", "cell0.i_pa",
                              duration=total_s - 5)
            start = time.monotonic()
            rss = []  # (seconds, kB)
            while True:
                state = d.cli("status").stdout
                rss.append((time.monotonic() - start, d.rss_kb()))
                if "COMPLETED" in state or "ABORTED" in state or \
                        "FAULT" in state:
                    break
                self.assertLess(time.monotonic() - start, total_s + 120,
                                "the soak run did not end")
                time.sleep(10)
            samples, lost = stream_summary(stream)
            dropped = d.metric("dynclamp_dropped_frames_total")
            overruns = d.metric("dynclamp_loop_overruns_total")
            cycles = d.metric("dynclamp_loop_cycles_total")
            sub_lost = d.metric("dynclamp_subscriber_samples_lost_total")
            self.assertIn("COMPLETED", state, state)
            path = glob.glob(os.path.join(d.data, "*_soak.nwb"))
            warm = [kb for t, kb in rss if t >= warmup_s]
            growth_mb = (warm[-1] - warm[0]) / 1024 if len(warm) > 1 else 0.0
            # How often memory grew: a creep grows in (nearly) every 10 s
            # interval, a buffer or thread pool reaching a new size in a few.
            rises = sum(1 for a, b in zip(warm, warm[1:]) if b - a > 50)
            intervals = max(1, len(warm) - 1)
            print(f"FIGURES soak {MINUTES:g} min at 50 kHz: {cycles:.0f} cycles, "
                  f"{overruns:.0f} overruns, {dropped:.0f} frames dropped; "
                  f"stream {samples} samples, {lost} lost; subscriber losses "
                  f"{sub_lost:.0f}; RSS {rss[0][1] / 1024:.1f} MB at start, "
                  f"{warm[0] / 1024:.1f} MB after {warmup_s:.0f} s, "
                  f"{rss[-1][1] / 1024:.1f} MB at the end "
                  f"(+{growth_mb:.2f} MB after warm-up, rising in {rises} "
                  f"of {intervals} 10 s intervals)")
            print("RSS MB over time:", " ".join(
                f"{t:.0f}s:{kb / 1024:.1f}" for t, kb in rss))
            self.assertEqual(dropped, 0)
            self.assertEqual(lost, 0)
            self.assertEqual(sub_lost, 0)
            # It streamed the whole time (the loop's clock runs behind the
            # wall's by its overruns, so not exactly 50 000 a second).
            self.assertGreater(samples, 0.8 * (total_s - 5) * 50_000)
            # No creep: memory rises (by more than 50 kB) in under a quarter
            # of the 10 s intervals after warm-up, and by under 10 % in all.
            # Before HDF5 evicted closed sweeps' metadata the daemon crept
            # up by about 0.75 MB a minute while recording, rising in
            # nearly every interval; a leak of 4 bytes a sample would be
            # +120 MB. A few steps up are not a leak: CI runs saw steps of
            # exactly 8 MB, one or two a run, flat before and after (a
            # buffer or a thread's allocator arena reaching a new size; the
            # cause is not yet pinned down).
            warm_mb = warm[0] / 1024
            self.assertLess(rises, intervals / 4, rss)
            self.assertLess(growth_mb, 0.10 * warm_mb)
            self.assertTrue(path, state)
            with h5py.File(path[0], "r") as f:
                series = sorted(n for n in f["acquisition"]
                                if n.startswith("cell0_"))
                recorded = sum(f["acquisition"][n]["data"].shape[0]
                               for n in series)
            expected = int(sweeps * SWEEP_S * 50_000)
            print(f"FIGURES soak file: {len(series)} sweeps, {recorded} "
                  f"samples of cell0's V (expected {expected})")
            # Every sample of every sweep.
            self.assertEqual(len(series), sweeps)
            self.assertEqual(recorded, expected)
        finally:
            os.sched_setaffinity(0, cpus)
            d.stop()
            shutil.rmtree(d.dir, ignore_errors=True)


if __name__ == "__main__":
    test_main.main(["bin"], [globals(), vars(fault_test)],
                   options={"minutes": 10.0})
