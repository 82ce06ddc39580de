#!/usr/bin/python3
"""A full disk and failing writes, through the real daemon and CLI.

The data directory is on a small tmpfs (mounted here: needs root; the test
is skipped, exit 77, without it):

  - a protocol whose recording cannot fit is refused before it starts,
    with both numbers, and nothing changes;
  - a disk filled by someone else while a queued protocol records: the
    recording goes on in the space reserved for it and its file passes
    nwb-check; if the queue's database cannot be written while the disk is
    full, the item's result waits (queue status says why) and nothing else
    starts; once space is freed the history has it and the queue goes on;
    free space is a metric;
  - a write the system refuses mid-run (the daemon under a file size
    limit, EFBIG as a failing disk gives EIO; on the build tree's disk):
    the run ends at once as FAILED, naming the OS's reason and the file;
    the queue records the item FAILED and goes on;
  - SIGTERM afterwards is clean, and a restart finds the history intact.

Prints FIGURES: lines for the closing note.
Usage: full_disk_test.py --bin build/bin
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_test  # noqa: E402
from fault_test import Daemon  # noqa: E402
from protocol_run_test import write  # noqa: E402

NWB_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "..", "..", "..", "shared", "reference", "nwb-tools",
                         "nwb-check")


def figure(text):
    print(f"FIGURES: {text}", flush=True)


def hold(seconds, name="hold"):
    return (f"name: {name}\nsweeps:\n  - name: {name}\n    stimuli:\n"
            f"      - cell: cell0\n        epochs:\n"
            f"          - {{duration_s: {seconds}, hold: {{value: 0}}}}\n")


def wait_for(what, predicate, timeout):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def fill(path):
    """Writes zeros to `path` until the disk refuses; returns bytes."""
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M"],
                   capture_output=True)
    return os.path.getsize(path)


class FullDiskTest(unittest.TestCase):
    SIZE_MB = 100

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="dynclamp_disk_")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            f"size={self.SIZE_MB}m", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.mnt)
            raise unittest.SkipTest(f"cannot mount a tmpfs: {r.stderr}")
        self.addCleanup(self.unmount)
        self.data = os.path.join(self.mnt, "data")

    def unmount(self):
        subprocess.run(["umount", "-l", self.mnt])
        os.rmdir(self.mnt)

    def history(self, d):
        return d.cli("history").stdout

    def test_refused_before_reserved_during_and_recorded_after(self):
        d = Daemon(data=self.data)
        try:
            # A recording that cannot fit: refused with both numbers.
            big = write(os.path.join(d.dir, "big.yaml"), hold(400, "big"))
            r = d.cli("run", big)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("RESOURCE_EXHAUSTED", r.stderr)
            m = re.search(r"has ([\d.]+) MB free; this protocol's recording "
                          r"needs up to ([\d.]+) MB", r.stderr)
            self.assertTrue(m, r.stderr)
            figure(f"refused before it starts: {r.stderr.strip()}")
            self.assertIn("run: none yet", d.cli("status").stdout,
                          "nothing started")
            free = d.metric("dynclamp_data_dir_free_bytes")
            st = os.statvfs(self.data)
            self.assertAlmostEqual(free, st.f_bavail * st.f_frsize,
                                   delta=1 << 20)

            # A disk filled by someone else mid-recording.
            long = write(os.path.join(d.dir, "long.yaml"), hold(6, "long"))
            step = write(os.path.join(d.dir, "step.yaml"), hold(0.5, "step"))
            for p in (long, step):
                self.assertEqual(d.cli("queue", "add", p).returncode, 0)
            self.assertEqual(d.cli("queue", "start").returncode, 0)
            wait_for("the long item to run",
                     lambda: "RUNNING" in d.cli("status").stdout, 10)
            time.sleep(1.0)
            filler = os.path.join(self.mnt, "filler")
            filled = fill(filler)
            self.assertEqual(os.statvfs(self.data).f_bavail, 0)
            # The long item records on in its reservation. Its result goes
            # to the queue's database, which may or may not have room left
            # in its write-ahead log: either the history has it, or the
            # queue says why it waits and starts nothing meanwhile.
            def settled():
                h = self.history(d)
                if re.search(r"item 1\s+long\s+COMPLETED", h):
                    return ("history", h)
                q = d.cli("queue", "status").stdout
                m = re.search(r"waiting: .*cannot be written.*", q)
                return ("waiting", m.group(0)) if m else None
            how, what = wait_for("item 1 to end", settled, 20)
            figure(f"disk filled ({filled >> 20} MB) mid-recording; item 1 "
                   f"{'recorded at once' if how == 'history' else what}")
            if how == "waiting":
                time.sleep(2)
                self.assertNotIn("step", self.history(d),
                                 "nothing starts before the result is kept")
            os.remove(filler)
            hist = wait_for(
                "both items in the history",
                lambda: (lambda h: h if "long" in h and "step" in h else "")(
                    self.history(d)), 30)
            self.assertRegex(hist, r"item 1\s+long\s+COMPLETED")
            # Item 2 ran once there was room, or was refused before it
            # started because there was none (with both numbers).
            self.assertRegex(hist, r"item 2\s+step\s+(COMPLETED|FAILED .*"
                                   r"MB free; this protocol's recording)")
            path = re.search(r"(\S+_long\.nwb)", hist).group(1)
            check = subprocess.run([NWB_CHECK, path], capture_output=True,
                                   text=True, timeout=300)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            figure(f"the recording under way when the disk filled: "
                   f"COMPLETED, nwb-check passes ({os.path.getsize(path)} "
                   f"bytes)")

            # SIGTERM is clean; a restart finds the history.
            d.proc.send_signal(signal.SIGTERM)
            self.assertEqual(d.proc.wait(timeout=15), 0)
            d.log.close()
            d = Daemon(data=self.data)
            self.assertEqual(self.history(d), hist)
        finally:
            d.stop()

    def test_a_refused_write_ends_the_run_at_once(self):
        # 3 MB per file: the 20 s recording crosses it after about 8 s. On
        # the build tree's file system (ext4), where a reservation is not
        # held against the file size limit (tmpfs refuses it up front).
        data = tempfile.mkdtemp(prefix="dynclamp_efbig_",
                                dir=os.path.dirname(fault_test.BIN))
        self.addCleanup(shutil.rmtree, data, True)
        d = Daemon(data=data, prefix=("prlimit", "--fsize=3000000"))
        try:
            long = write(os.path.join(d.dir, "long.yaml"), hold(20, "long"))
            step = write(os.path.join(d.dir, "step.yaml"), hold(0.5, "step"))
            for p in (long, step):
                self.assertEqual(d.cli("queue", "add", p).returncode, 0)
            self.assertEqual(d.cli("queue", "start").returncode, 0)
            t0 = time.monotonic()
            hist = wait_for(
                "both items in the history",
                lambda: (lambda h: h if "long" in h and "step" in h else "")(
                    self.history(d)), 60)
            seconds = time.monotonic() - t0
            self.assertRegex(hist, r"item 1\s+long\s+FAILED")
            self.assertRegex(hist, r"item 2\s+step\s+COMPLETED")
            error = re.search(r"item 1 .*error: (.*)", hist).group(1)
            self.assertIn("File too large", error)
            path = re.search(r"(\S+_long\.nwb)", error).group(1)
            self.assertTrue(path.startswith(data))
            self.assertIn("outputs at 0", error)
            # The samples written before can be read once the file is
            # extended as the message says.
            size = int(re.search(r"truncate -s (\d+) ", error).group(1))
            os.truncate(path, size)
            import h5py
            with h5py.File(path, "r") as f:
                kept = f["acquisition/cell0_sweep_0001/data"].shape[0]
            self.assertGreater(kept, 20_000 * 5)
            # Ended at once: the run's time is when the write failed, well
            # before the protocol's 20 s.
            show = d.cli("status").stdout
            figure(f"refused write: item 1 FAILED ({error}); {kept} samples "
                   f"readable after the truncate it names; the queue went "
                   f"on; {seconds:.1f} s for both")
            self.assertLess(seconds, 16)
            d.proc.send_signal(signal.SIGTERM)
            self.assertEqual(d.proc.wait(timeout=15), 0, show)
        finally:
            d.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args, rest = parser.parse_known_args()
    fault_test.BIN = os.path.abspath(args.bin)
    if os.geteuid() != 0:
        print("SKIP: mounting a small file system needs root")
        sys.exit(77)
    result = unittest.main(argv=[sys.argv[0], *rest], verbosity=2, exit=False)
    sys.exit(0 if result.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
