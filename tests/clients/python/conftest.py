"""pytest fixtures: dynclampd on a free loopback port (the simulated rig) and
the dynclamp package from the build tree.

ctest sets DYNCLAMP_BIN (build/bin) and PYTHONPATH (build/python)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BIN = os.environ.get("DYNCLAMP_BIN", os.path.join(SOURCE, "build", "bin"))
sys.path.insert(0, os.environ.get("DYNCLAMP_PYTHON",
                                  os.path.join(SOURCE, "build", "python")))
EXAMPLES = os.path.join(SOURCE, "examples")


class Daemon:
    """dynclampd with its own data directory; its log goes to a file."""

    def __init__(self, *flags, data=None):
        self.dir = tempfile.mkdtemp(prefix="dynclamp_py_")
        self.data = data or os.path.join(self.dir, "data")
        port_file = os.path.join(self.dir, "port")
        metrics_file = os.path.join(self.dir, "metrics")
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "dynclampd"), "--listen=127.0.0.1:0",
             "--metrics_listen=127.0.0.1:0", f"--port_file={port_file}",
             f"--metrics_port_file={metrics_file}", f"--data_dir={self.data}",
             *flags],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.address = None
        for _ in range(400):
            if os.path.exists(metrics_file) and os.path.getsize(metrics_file):
                with open(port_file) as f:
                    self.address = f"127.0.0.1:{f.read().strip()}"
                break
            assert self.proc.poll() is None, open(self.log_path).read()
            time.sleep(0.05)
        assert self.address, open(self.log_path).read()

    def cli(self, *args, timeout=120, cwd=None, env=None):
        return subprocess.run(
            [os.path.join(BIN, "dynclamp"), f"--server={self.address}", *args],
            capture_output=True, text=True, timeout=timeout, cwd=cwd,
            env=None if env is None else {**os.environ, **env})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.log.close()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def issue_token(token_file, name, role):
    out = subprocess.run(
        [os.path.join(BIN, "dynclampd"), f"--token_file={token_file}",
         f"--issue_token={name}:{role}"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.split() if w.startswith("dct_")][0]


@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    d.remove()


def leave_idle(c):
    """Leaves the rig as the next test expects it: no run, no holding
    current, no lock, nothing loaded."""
    import dynclamp
    if c.run().state in (dynclamp.runs_pb2.RUNNING, dynclamp.runs_pb2.FAULT):
        try:
            c.stop()
        except dynclamp.FailedPrecondition:
            pass  # the run ended meanwhile
    for ch in c.rig().channels:
        if ch.holding_pa:
            c.hold(ch.name, 0)
    if c.lock_status().held:
        c.release_lock(force=True)
    c.unload_spec()


@pytest.fixture
def rig(daemon):
    import dynclamp
    with dynclamp.Client(daemon.address) as c:
        yield c
        leave_idle(c)
