"""Fixtures for the console's tests: dynclampd (the simulated rig), the
console server on a free port, and headless Chromium driven by Selenium
(Debian's chromium, chromium-driver and python3-selenium)."""
import importlib.util
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PYTHON = os.environ.get("DYNCLAMP_PYTHON",
                        os.path.join(SOURCE, "build", "python"))
ARTIFACTS = os.environ.get("DYNCLAMP_ARTIFACTS",
                           os.path.join(SOURCE, "build", "test-artifacts"))
sys.path.insert(0, PYTHON)

# The Python client's fixtures: the daemon helper.
_spec = importlib.util.spec_from_file_location(
    "python_client_conftest", os.path.join(HERE, "..", "python", "conftest.py"))
client_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client_fixtures)
Daemon = client_fixtures.Daemon
issue_token = client_fixtures.issue_token


class Console:
    """python3 -m dynclamp_console for one daemon, on a free port."""

    def __init__(self, daemon_address, *flags):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="dynclamp_console_")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-m", "dynclamp_console",
             f"--server={daemon_address}", "--listen=127.0.0.1:0",
             f"--port_file={port_file}", *flags],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": PYTHON})
        for _ in range(200):
            if os.path.exists(port_file):
                with open(port_file) as f:
                    self.url = f"http://127.0.0.1:{f.read().strip()}/"
                return
            assert self.proc.poll() is None, open(self.log.name).read()
            time.sleep(0.05)
        raise AssertionError(open(self.log.name).read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=options)


@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    d.remove()


@pytest.fixture(scope="module")
def console(daemon):
    c = Console(daemon.address)
    yield c
    c.stop()


@pytest.fixture
def browser(request):
    driver = chrome()
    yield driver
    os.makedirs(ARTIFACTS, exist_ok=True)
    driver.save_screenshot(os.path.join(ARTIFACTS,
                                        f"console_{request.node.name}.png"))
    driver.quit()


@pytest.fixture
def rig(daemon):
    import dynclamp
    with dynclamp.Client(daemon.address, operator="tester") as c:
        yield c
        client_fixtures.leave_idle(c)
