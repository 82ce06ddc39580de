"""The console in a real browser (headless Chromium) against the real daemon
on the simulated rig: what the page shows is read back from the page."""
import os
import time

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import SOURCE, Console, Daemon, chrome, issue_token

import dynclamp

EXAMPLES = os.path.join(SOURCE, "examples")
DRIVE = {"conductances": [{"name": "drive", "cell": "cell0",
                           "constant": {"g_ns": 0.0, "e_rev_mv": 0.0}}]}


def wait(driver, condition, timeout=20, what="the page"):
    return WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(condition), f"{what}: {condition}")


def screen(driver):
    """The scope's screen on the page: (t0, col_s, lo, hi) of signal 0."""
    f = driver.execute_script("return window.dynclampConsole.frame")
    lo = np.array([np.nan if v is None else v for v in f["lo"][0]])
    hi = np.array([np.nan if v is None else v for v in f["hi"][0]])
    return f, lo, hi


def open_page(driver, console, frames=True):
    """Loads the page; with `frames`, until the scope draws (a run must be
    active)."""
    driver.get(console.url)
    wait(driver, "return window.dynclampConsole.booted === true", 30,
         "the page's first status")
    if frames:
        wait(driver, "return window.dynclampConsole.framesPainted > 3", 30,
             "scope frames painted")


def choose_file(driver, input_id, path, enables):
    """Chooses a file in the page's file input; waits until the button
    `enables` can be pressed (the page has read it)."""
    driver.find_element(By.ID, input_id).send_keys(str(path))
    wait(driver, f"return !document.getElementById('{enables}').disabled")


FULL_SCREEN = ("const f = window.dynclampConsole.frame;"
               "return f && f.lo && Math.abs(f.col_s * f.lo[0].length - {tb})"
               " < 1e-9 && f.lo[0].filter(v => v !== null).length >="
               " 0.97 * f.lo[0].length")


def test_the_scope_shows_the_cells_spikes(console, browser, rig):
    rig.hold("cell0", 400.0)
    rig.start(0)
    open_page(browser, console)
    Select(browser.find_element(By.ID, "timebase")).select_by_value("0.2")
    # A full screen of 200 ms after the change.
    wait(browser, FULL_SCREEN.format(tb=0.2), 30, "a full 200 ms screen")
    f, lo, hi = screen(browser)
    assert browser.execute_script(
        "return window.dynclampConsole.configured.signals") == ["cell0.v_mv"]
    # 400 pA: the simulated cell fires ~70 Hz, so 10-20 spikes per screen;
    # every one reaches its column (min/max per pixel column).
    hi = hi[np.isfinite(hi)]
    spikes = int(np.count_nonzero((hi[1:] > 0) & (hi[:-1] <= 0)) + (hi[0] > 0))
    assert 8 <= spikes <= 25, spikes
    assert 35 < np.nanmax(hi) < 45 and -80 < np.nanmin(lo) < -60
    shown = browser.find_element(
        By.CSS_SELECTOR, '#signal-table tr[data-signal="cell0.v_mv"] .range').text
    assert "…" in shown and float(shown.split("…")[1]) > 30
    # Freeze holds the picture while the cell goes on firing.
    browser.find_element(By.ID, "freeze").click()
    time.sleep(0.2)
    frozen = browser.execute_script("return window.dynclampConsole.framesPainted")
    time.sleep(0.5)
    assert browser.execute_script(
        "return window.dynclampConsole.framesPainted") == frozen
    # The cursor reads time and value where the mouse is.
    from selenium.webdriver.common.action_chains import ActionChains
    f, _, _ = screen(browser)
    over = browser.find_element(By.CSS_SELECTOR, "#scope .u-over")
    ActionChains(browser).move_to_element_with_offset(over, 40, 0).perform()
    readout = WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "readout").text.startswith("t ")
        and d.find_element(By.ID, "readout").text)
    t_read = float(readout.split()[1])
    assert f["t0"] + 0.1 <= t_read <= f["t0"] + 0.2  # right of the middle
    assert "cell0.v_mv" in readout and "mV" in readout
    browser.find_element(By.ID, "freeze").click()


def test_a_trigger_puts_each_spike_at_the_pre_trigger_mark(console, browser,
                                                          rig):
    rig.hold("cell0", 300.0)
    rig.start(0)
    open_page(browser, console)
    Select(browser.find_element(By.ID, "timebase")).select_by_value("0.02")
    pre = browser.find_element(By.ID, "trigger-pre")
    pre.clear()
    pre.send_keys("25")
    Select(browser.find_element(By.ID, "trigger-signal")).select_by_value(
        "cell0.v_mv")
    Select(browser.find_element(By.ID, "trigger-mode")).select_by_value("signal")
    wait(browser, "const f = window.dynclampConsole.frame;"
         "return f && f.complete && Math.abs(f.col_s * f.lo[0].length - 0.02) < 1e-9",
         30, "a triggered 20 ms screen")
    f, lo, hi = screen(browser)
    cross = int(np.flatnonzero(hi >= 0)[0])
    assert abs(cross - 0.25 * len(hi)) <= 2, (cross, len(hi))


def test_a_slider_changes_the_parameter_and_the_trace_follows(console, browser,
                                                             rig):
    rig.load_spec(DRIVE)
    rig.start(0)
    open_page(browser, console)
    row = wait(browser, "return document.querySelector("
               "'.param[data-parameter=\"drive.g_ns\"]')", 20, "the slider")
    time.sleep(0.6)
    _, lo, hi = screen(browser)
    before = np.nanmean(hi)
    field = row.find_element(By.CSS_SELECTOR, "input[type=number]")
    field.clear()
    field.send_keys("1.5\n")
    wait(browser, "return document.querySelector('.param[data-parameter="
         "\"drive.g_ns\"]').dataset.value == '1.5'", 10, "the reported value")
    assert rig.loaded_spec().live_changes[-1].parameter == "drive.g_ns"
    assert rig.loaded_spec().live_changes[-1].value == 1.5
    slider = row.find_element(By.CSS_SELECTOR, "input[type=range]")
    assert float(slider.get_attribute("value")) == 1.5
    # 1.5 nS at 0 mV depolarizes the cell by ~10 mV (live_tuning.py's table).
    time.sleep(1.5)
    _, lo, hi = screen(browser)
    assert np.nanmean(hi[-50:]) > before + 5
    # Moving the slider itself (as a drag ends: a change event).
    moved = browser.execute_script(
        "const s = arguments[0];"
        "s.value = Number(s.min) + 0.25 * (Number(s.max) - Number(s.min));"
        "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));"
        "return Number(s.value);", slider)
    assert 0 < moved < 1.5
    wait(browser, "return Number(document.querySelector('.param[data-parameter="
         f"\"drive.g_ns\"]').dataset.value) == {moved}", 10,
         "the slider's value")
    assert rig.loaded_spec().live_changes[-1].value == pytest.approx(moved)
    assert float(field.get_attribute("value")) == pytest.approx(moved)


def test_live_parameters_show_whole_names_units_and_readable_values(
        console, browser, rig):
    # The hybrid circuit's model cell: long names ("model_leak.g_ns"), and a
    # preset default computed in floating point (hh_leak's 29.999999...).
    rig.load_spec(os.path.join(EXAMPLES, "hybrid_circuit.yaml"))
    open_page(browser, console, frames=False)
    wait(browser, "return document.querySelectorAll('.param').length > 5", 20,
         "the parameters")
    rows = browser.execute_script(
        "return [...document.querySelectorAll('.param')].map(r => {"
        "  const [name, unit] = [r.querySelector('.name'),"
        "                        r.querySelector('span:last-child')];"
        "  const box = r.getBoundingClientRect(), u = unit.getBoundingClientRect();"
        "  return {parameter: r.dataset.parameter, name: name.innerText,"
        "          clipped: name.scrollWidth > name.clientWidth,"
        "          unit: unit.innerText, unit_inside: u.right <= box.right + 1,"
        "          field: r.querySelector('input[type=number]').value}; })")
    expected = {p.name: p for p in rig.live_parameters()}
    assert sorted(r["parameter"] for r in rows) == sorted(expected)
    for r in rows:
        p = expected[r["parameter"]]
        assert r["name"] == p.name and not r["clipped"], r
        assert r["unit"] == p.unit and r["unit_inside"], r
        assert float(r["field"]) == pytest.approx(p.value, rel=1e-6), r
        assert len(r["field"].replace("-", "").replace(".", "")) <= 7, r
    leak = next(r for r in rows if r["parameter"] == "model_leak.g_ns")
    assert leak["field"] == "30"
    width = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], "the page fits its window's width"


def test_the_queue_and_history_from_the_page(console, browser, rig):
    short = {"name": "page_short", "sweeps": [{"stimuli": [{"cell": "cell0",
             "epochs": [{"duration_s": 0.05, "hold": {"value": 0}}]}]}]}
    # Pause waits for the end of the sweep: many short ones.
    long = {"name": "page_long", "sweeps": [{"stimuli": [{"cell": "cell0",
            "epochs": [{"duration_s": 0.5, "hold": {"value": 0}}]}]}] * 60}
    # Anyone may name a protocol; the page shows the name as text.
    marked = dict(short, name="<img src=x onerror=window.injected=1>")
    open_page(browser, console, frames=False)
    choose_file(browser, "protocol-file",
                os.path.join(EXAMPLES, "protocols", "test_pulse.yaml"),
                "queue-add")
    browser.find_element(By.ID, "queue-add").click()
    wait(browser, "return document.querySelectorAll('#queue tr[data-item]')"
         ".length == 1", 10, "the item added from the page")
    [pulse] = rig.queue()
    assert pulse.name == "test_pulse" and pulse.added_by == "console"
    a = rig.queue_add(short)
    b = rig.queue_add(marked)
    c = rig.queue_add(long)
    rows = "return [...document.querySelectorAll('#queue tr[data-item]')]" \
           ".map(r => Number(r.dataset.item))"

    def order():
        return [i.id for i in rig.queue()]

    def click(item, action):
        browser.find_element(By.CSS_SELECTOR, f"#queue tr[data-item='{item}'] "
                             f"button[data-action='{action}']").click()

    wait(browser, f"{rows}.join() == '{pulse.id},{a.id},{b.id},{c.id}'", 10,
         "four items")
    assert browser.execute_script(
        "return document.querySelector('#queue img') === null && "
        "window.injected === undefined")
    assert marked["name"] in browser.find_element(By.ID, "queue").text
    click(c.id, "up")
    wait(browser, f"{rows}.join() == '{pulse.id},{a.id},{c.id},{b.id}'", 10,
         "one place up")
    assert order() == [pulse.id, a.id, c.id, b.id]
    click(c.id, "first")
    wait(browser, f"{rows}[0] == {c.id}", 10, "first")
    click(pulse.id, "down")
    wait(browser, f"{rows}.join() == '{c.id},{a.id},{pulse.id},{b.id}'", 10,
         "one place down")
    click(a.id, "last")
    wait(browser, f"{rows}.join() == '{c.id},{pulse.id},{b.id},{a.id}'", 10,
         "last")
    click(pulse.id, "remove")
    wait(browser, f"{rows}.join() == '{c.id},{b.id},{a.id}'", 10, "removed")
    assert order() == [c.id, b.id, a.id]
    # Start: the long item runs; pause, resume, abort it from the page.
    queue_button = "#runs-panel button[data-queue='{}']"
    browser.find_element(By.CSS_SELECTOR, queue_button.format("start")).click()
    deadline = time.monotonic() + 20
    while rig.queue_status().current_item != c.id and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert rig.queue_status().current_item == c.id
    browser.find_element(By.CSS_SELECTOR, queue_button.format("pause")).click()
    wait(browser, "return /PAUSED/.test(document.getElementById("
         "'queue-state').textContent)", 10, "the queue paused")
    browser.find_element(By.CSS_SELECTOR, queue_button.format("resume")).click()
    wait(browser, "return /RUNNING/.test(document.getElementById("
         "'queue-state').textContent)", 10, "the queue running again")
    browser.find_element(By.CSS_SELECTOR, queue_button.format("abort")).click()
    # The rest run; the history lists each with its end and run.
    history = ("[...document.querySelectorAll('#history tr')]"
               ".map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent)")
    wait(browser, f"const h = {history}; return h.length >= 3 && "
         "h[0].startsWith('page_short')", 60, "the history")
    shown = browser.execute_script(f"return {history}")[:3]
    assert shown == ["page_short COMPLETED", marked["name"] + " COMPLETED",
                     "page_long ABORTED"]
    browser.find_element(By.CSS_SELECTOR, queue_button.format("stop")).click()
    for entry in rig.history(limit=2):
        wait(browser, "return document.querySelector('#recordings a[href$="
             f"\"{os.path.basename(entry.nwb_path)}\"]')", 10,
             "the recording's link")


def test_a_bad_spec_shows_its_field(console, browser, rig, tmp_path):
    bad = tmp_path / "bad_gaba.yaml"
    bad.write_text("conductances:\n  - name: gaba\n    cell: cell0\n"
                   "    ligand_gated:\n      mode: CONTINUOUS\n"
                   "      g_max_ns: -20\n      e_rev_mv: -75\n"
                   "      tau_rise_ms: 20\n      tau_decay_ms: 60\n")
    open_page(browser, console, frames=False)
    choose_file(browser, "spec-file", bad, "spec-validate")
    browser.find_element(By.ID, "spec-validate").click()
    field = WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#spec-result .field"))
    assert field.text == "conductances[0].ligand_gated.g_max_ns"
    marked = browser.find_elements(By.CSS_SELECTOR, "#spec-text .bad")
    assert [m.text.strip() for m in marked] == ["g_max_ns: -20"]
    browser.find_element(By.ID, "spec-load").click()
    time.sleep(0.5)
    assert rig.loaded_spec().generation == 0 or \
        not rig.loaded_spec().spec.conductances, "nothing was loaded"


def test_a_spec_dropped_on_the_page_loads_with_its_text(console, browser,
                                                       rig):
    with open(os.path.join(EXAMPLES, "gaba_step.yaml")) as f:
        text = f.read()
    open_page(browser, console, frames=False)
    # A file dropped as the browser delivers one (a DataTransfer's File).
    browser.execute_script(
        "const t = new DataTransfer();"
        "t.items.add(new File([arguments[0]], 'gaba_step.yaml'));"
        "const zone = document.getElementById('spec-drop');"
        "zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: t,"
        "                                               cancelable: true}));"
        "zone.dispatchEvent(new DragEvent('drop', {dataTransfer: t,"
        "                                           cancelable: true}));",
        text)
    wait(browser, "return !document.getElementById('spec-load').disabled",
         10, "the dropped file read")
    browser.find_element(By.ID, "spec-load").click()
    wait(browser, "return /loaded: generation/.test(document.getElementById("
         "'spec-result').textContent)", 10, "the load")
    loaded = rig.loaded_spec()
    assert [c.name for c in loaded.spec.conductances] == ["gaba"]
    assert loaded.spec_source == text
    wait(browser, "return document.querySelector("
         "'.param[data-parameter=\"gaba.g_max_ns\"]')", 10,
         "its live parameters")


def test_the_rig_lock_is_honoured(console, browser, rig):
    rig.acquire_lock()  # operator "tester"
    open_page(browser, console, frames=False)
    browser.find_element(By.ID, "start").click()
    msg = WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "message").text or None)
    assert "tester" in msg
    assert rig.run().state != dynclamp.runs_pb2.RUNNING
    # Releasing it is the owner's; breaking it, an admin's (every caller is
    # an admin on a daemon without tokens), after a confirmation.
    browser.find_element(By.ID, "lock-release").click()
    wait(browser, "return /only they can release/.test("
         "document.getElementById('message').textContent)", 10,
         "the refused release")
    assert rig.lock_status().owner == "tester"
    browser.find_element(By.ID, "lock-break").click()
    WebDriverWait(browser, 5).until(lambda d: d.switch_to.alert).accept()
    deadline = time.monotonic() + 10
    while rig.lock_status().held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not rig.lock_status().held


def test_an_observer_token_cannot_change_anything(tmp_path):
    tokens = str(tmp_path / "tokens")
    observer = issue_token(tokens, "olga", "observer")
    operator = issue_token(tokens, "otto", "operator")
    d = Daemon(f"--token_file={tokens}")
    console = Console(d.address)
    driver = chrome()
    try:
        with dynclamp.Client(d.address, token=operator) as otto:
            otto.load_spec(DRIVE)
            otto.start(0)
            driver.get(console.url)
            wait(driver, "return document.getElementById('login').open", 20,
                 "the login dialog")
            driver.find_element(By.ID, "login-token").send_keys(observer)
            driver.find_element(By.ID, "login-go").click()
            wait(driver, "return window.dynclampConsole.framesPainted > 3", 30,
                 "the scope, as an observer")
            row = wait(driver, "return document.querySelector("
                       "'.param[data-parameter=\"drive.g_ns\"]')")
            field = row.find_element(By.CSS_SELECTOR, "input[type=number]")
            field.clear()
            field.send_keys("3\n")
            msg = WebDriverWait(driver, 10).until(
                lambda d: d.find_element(By.ID, "message").text or None)
            assert "PERMISSION_DENIED" in msg
            driver.find_element(By.ID, "stop").click()
            time.sleep(0.5)
            assert otto.run().state == dynclamp.runs_pb2.RUNNING
            assert not otto.loaded_spec().live_changes
            otto.stop()
        os.makedirs(os.environ.get("DYNCLAMP_ARTIFACTS", str(tmp_path)),
                    exist_ok=True)
    finally:
        driver.save_screenshot(os.path.join(
            os.environ.get("DYNCLAMP_ARTIFACTS", str(tmp_path)),
            "console_observer.png"))
        driver.quit()
        console.stop()
        d.remove()


def test_the_page_says_the_daemon_is_away_and_comes_back_with_it(tmp_path):
    first = Daemon()
    port = first.address.rsplit(":", 1)[1]
    console = Console(first.address)
    driver = chrome()
    second = None
    try:
        with dynclamp.Client(first.address) as c:
            c.start(0)
        open_page(driver, console)
        first.stop()
        wait(driver, "return document.getElementById('run-state').textContent"
             " == 'daemon unreachable' && /UNAVAILABLE/.test(document."
             "getElementById('message').textContent)", 10, "the daemon away")
        # The rig's daemon restarts (same address and data): the page reads
        # it again and the scope subscribes again by itself.
        second = Daemon(f"--listen=127.0.0.1:{port}", data=first.data)
        with dynclamp.Client(second.address) as c:
            c.start(0)
        painted = driver.execute_script(
            "return window.dynclampConsole.framesPainted")
        wait(driver, "return /RUNNING/.test(document.getElementById("
             "'run-state').textContent) && document.getElementById('message')"
             f".textContent == '' && window.dynclampConsole.framesPainted > "
             f"{painted} + 10", 20, "the page back with the daemon")
        _, lo, hi = screen(driver)
        assert np.isfinite(hi).any()
    finally:
        driver.save_screenshot(os.path.join(
            os.environ.get("DYNCLAMP_ARTIFACTS", str(tmp_path)),
            "console_daemon_restart.png"))
        driver.quit()
        console.stop()
        if second is not None:
            second.remove()
        first.remove()


def test_a_protocol_runs_from_the_page_with_qc_timing_and_download(
        console, browser, rig):
    open_page(browser, console, frames=False)
    choose_file(browser, "protocol-file",
                os.path.join(EXAMPLES, "protocols", "test_pulse.yaml"),
                "protocol-run")
    browser.find_element(By.ID, "protocol-check").click()
    wait(browser, "return /10 sweeps/.test("
         "document.getElementById('protocol-result').textContent)", 10,
         "the check")
    browser.find_element(By.ID, "protocol-run").click()
    wait(browser, "return document.querySelectorAll('#sweeps tbody tr')"
         ".length == 10 && /COMPLETED/.test("
         "document.getElementById('run-state').textContent)", 60,
         "ten sweeps and the run's end")
    # Read at once: the page redraws the table at every status poll.
    qc = browser.execute_script(
        "return [...document.querySelectorAll('#sweeps tbody tr td:last-child')]"
        ".map(td => td.textContent)")
    run = rig.run()
    assert qc == ["pass" if s.qc_pass else "fail: " + s.qc_reason
                  for s in run.sweeps]
    assert browser.find_element(By.ID, "progress-bar").get_attribute(
        "style").replace(" ", "") == "width:100%;"
    bars = browser.execute_script(
        "return document.querySelectorAll("
        "'svg.histogram[data-name=\"period\"] rect').length")
    assert bars == len(run.timing.period.histogram) > 0
    # The recording, downloaded through the page, is the daemon's file.
    name = os.path.basename(run.nwb_path)
    link = wait(browser, "return document.querySelector("
                f"'#recordings a[href$=\"{name}\"]')", 10, "the download link")
    size = browser.execute_script(
        "return fetch(arguments[0]).then(r => r.arrayBuffer())"
        ".then(b => b.byteLength)", link.get_attribute("href"))
    assert size == os.path.getsize(run.nwb_path)


def test_clipped_current_is_marked_on_the_trace(console, browser, rig):
    limit = rig.rig().channels[0].current_limit_pa
    # 1000 nS at +100 mV asks for far more than the channel may inject.
    rig.load_spec({"conductances": [{"name": "huge", "cell": "cell0",
                                     "constant": {"g_ns": 1000,
                                                  "e_rev_mv": 100}}]})
    rig.start(0)
    open_page(browser, console)
    browser.execute_script(
        "const s = window.dynclampConsole;"
        "s.on.clear(); s.on.set('cell0.i_pa', {scale: 1000, offset: 0});"
        "document.getElementById('timebase').value = '0.1';"
        "configureScope();")
    wait(browser, "const s = window.dynclampConsole, f = s.frame;"
         "return s.configured.signals[0] == 'cell0.i_pa' && f &&"
         " (f.clipped || []).length > 50 &&"
         " Math.max(...f.hi[0].filter(v => v !== null)) > 1000", 20,
         "the clipped current, marked")
    f, lo, hi = screen(browser)
    assert np.nanmax(hi) == pytest.approx(limit, rel=1e-3)
    assert "clipped 0" not in browser.find_element(By.ID, "scope-flags").text


def test_other_sites_cannot_drive_the_rig(console, rig):
    # A page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding), or
    # that posts across sites, gets nothing; the console's own page does.
    import http.client
    import json
    import urllib.parse
    where = urllib.parse.urlsplit(console.url)

    def ask(method, path, headers, body=None):
        conn = http.client.HTTPConnection(where.hostname, where.port,
                                          timeout=10)
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        out = (r.status, r.read().decode(), r.getheader("Set-Cookie"))
        conn.close()
        return out

    own = where.netloc
    login = json.dumps({"operator": "mallory"})
    status, text, _ = ask("POST", "/api/login",
                          {"Host": "evil.example:80",
                           "Content-Type": "application/json"}, login)
    assert status == 403 and "evil.example" in text
    status, _, _ = ask("GET", "/", {"Host": "rebound.example"})
    assert status == 403
    status, text, _ = ask("POST", "/api/login",
                          {"Host": own, "Origin": "http://evil.example",
                           "Content-Type": "application/json"}, login)
    assert status == 403 and "evil.example" in text
    # The same calls from the console's own origin go through.
    status, _, cookie = ask("POST", "/api/login",
                            {"Host": own, "Origin": f"http://{own}",
                             "Content-Type": "application/json"}, login)
    assert status == 200
    session = cookie.split(";", 1)[0]
    status, _, _ = ask("POST", "/api/start",
                       {"Host": own, "Origin": "http://evil.example",
                        "Cookie": session, "Content-Type": "application/json"},
                       "{}")
    assert status == 403
    assert rig.run().state != dynclamp.runs_pb2.RUNNING
    status, _, _ = ask("GET", "/api/scope",
                       {"Host": own, "Origin": "http://evil.example",
                        "Cookie": session, "Connection": "Upgrade",
                        "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert status == 403
    status, _, _ = ask("GET", "/api/status", {"Host": own, "Cookie": session})
    assert status == 200


def test_the_console_wants_tls_beyond_loopback(daemon, tmp_path):
    import subprocess
    import ssl
    import urllib.request
    from conftest import PYTHON
    refused = subprocess.run(
        ["/usr/bin/python3", "-m", "dynclamp_console",
         f"--server={daemon.address}", "--listen=0.0.0.0:0"],
        capture_output=True, text=True, timeout=30,
        env={**os.environ, "PYTHONPATH": PYTHON})
    assert refused.returncode != 0 and "--tls_cert" in refused.stderr
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1",
                    "-subj", "/CN=localhost"], check=True,
                   capture_output=True, timeout=60)
    c = Console(daemon.address, f"--tls_cert={cert}", f"--tls_key={key}")
    try:
        assert c.url.startswith("http://")  # the port file has the port only
        url = c.url.replace("http://", "https://")
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        page = urllib.request.urlopen(url, context=ctx, timeout=10).read()
        assert b"dynclamp console" in page
    finally:
        c.stop()


def test_scripts_console_sh_starts_both_and_prints_the_url(tmp_path):
    import re
    import signal
    import socket
    import subprocess
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["bash", os.path.join(SOURCE, "scripts", "console.sh"),
         f"--server=127.0.0.1:{port}", "--listen=127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DYNCLAMP_NO_SETUP": "1",
             "DYNCLAMP_BIN_DIR": os.environ.get(
                 "DYNCLAMP_BIN", os.path.join(SOURCE, "build", "bin")),
             "DYNCLAMPD_FLAGS": "--metrics_listen=127.0.0.1:0 "
                                f"--data_dir={tmp_path}/data"},
        start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.match(r"dynclamp console: (http://127\.0\.0\.1:\d+/) ", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        assert any("starting dynclampd" in l for l in lines)
        assert b"dynclamp console" in urllib.request.urlopen(url, timeout=10).read()
        with dynclamp.Client(f"127.0.0.1:{port}") as c:
            assert c.rig().backend == "sim"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    with pytest.raises(dynclamp.Unavailable):
        dynclamp.Client(f"127.0.0.1:{port}", timeout=1)
