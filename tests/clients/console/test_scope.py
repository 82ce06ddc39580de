"""The console's scope pipeline (clients/console/dynclamp_console/scope.py):
columns keep every extreme, markers land in their columns, triggers place
the crossing where the pre-trigger fraction says."""
import os
import struct
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                "clients", "console"))
from dynclamp_console.scope import (  # noqa: E402
    Scope, Trigger, decode_frame, encode_frame)

RATE = 20000.0


def blocks(t, v, skipped=None, n=200):
    skipped = np.zeros(len(t), bool) if skipped is None else skipped
    for i in range(0, len(t), n):
        yield t[i:i + n], v[i:i + n], skipped[i:i + n]


def test_free_run_columns_keep_every_extreme():
    t = np.arange(int(0.35 * RATE)) / RATE
    v = np.stack([np.sin(2 * np.pi * 7 * t), np.cos(2 * np.pi * 3 * t)], 1)
    v[3456, 0] = 50.0  # a one-sample spike
    s = Scope(2, 0.1, 100)
    screens = []
    for bt, bv, bs in blocks(t, v):
        s.feed(bt, bv, bs)
        if s.completed and (not screens or
                            s.completed["screen"] != screens[-1]["screen"]):
            screens.append(s.completed)
    assert [round(x["t0"], 9) for x in screens] == [0.0, 0.1, 0.2]
    per_col = int(RATE * 0.1 / 100)
    for k, scr in enumerate(screens):
        raw = v[k * 2000:(k + 1) * 2000].reshape(100, per_col, 2)
        np.testing.assert_array_equal(scr["hi"], raw.max(axis=1).T)
        np.testing.assert_array_equal(scr["lo"], raw.min(axis=1).T)
    # The spike (sample 3456: screen 1, column 72) survives.
    assert screens[1]["hi"][0][(3456 - 2000) // per_col] == 50.0
    f = s.frame()
    assert f["filled"] == 50 and not f["complete"]


def test_markers_land_in_their_columns():
    t = np.arange(2000) / RATE
    v = np.zeros((2000, 1))
    skipped = np.zeros(2000, bool)
    skipped[1010] = True
    v[1010] = np.nan
    overrun = np.zeros(2000, bool)
    overrun[[5, 1500]] = True
    clipped = np.zeros(2000, bool)
    clipped[1999] = True
    s = Scope(1, 0.1, 100)
    s.feed(t[:1000], v[:1000], skipped[:1000], overrun=overrun[:1000],
           clipped=clipped[:1000])
    s.feed(t[1000:], v[1000:], skipped[1000:], lost_before=30,
           overrun=overrun[1000:], clipped=clipped[1000:])
    f = s.completed or s.frame()
    assert f["skipped"] == [50] and f["lost"] == [50]
    assert f["overrun"] == [0, 75] and f["clipped"] == [99]
    assert f["hi"][0][50] == 0.0  # the NaN of the skipped cycle is no extreme


def test_the_trigger_puts_the_crossing_at_the_pre_fraction():
    t = np.arange(int(1.0 * RATE)) / RATE
    v = np.where(t >= 0.537, 10.0, -10.0)[:, None]
    s = Scope(1, 0.1, 200, Trigger(signal=0, level=0.0, rising=True, pre=0.25))
    for bt, bv, bs in blocks(t, v, n=137):
        s.feed(bt, bv, bs)
    scr = s.completed
    assert scr is not None and s.armed
    assert scr["t0"] == pytest.approx(0.537 - 0.025)
    hi = np.array(scr["hi"][0])
    first_high = int(np.flatnonzero(hi > 0)[0])
    assert first_high == 50  # 0.25 x 200 columns
    assert np.isfinite(hi).all(), "the pre-trigger columns are filled"
    # Falling edges do not trigger a rising trigger: one screen only.
    assert scr["screen"] == s.screen_id


def test_a_new_run_starts_a_new_screen():
    s = Scope(1, 0.05, 50)
    t = np.arange(500) / RATE
    s.feed(t, np.ones((500, 1)), np.zeros(500, bool))
    first = s.screen_id
    s.feed(t[:10], np.ones((10, 1)), np.zeros(10, bool), new_run=True)
    assert s.screen_id > first and s.frame()["t0"] == 0.0


def test_a_frame_travels_as_binary_with_its_gaps_and_fields():
    s = Scope(2, 0.05, 50)
    t = np.arange(1500) / RATE  # a full screen, then sweeping over it
    v = np.column_stack([np.sin(t * 300) * 40 - 60, t * 100])
    s.feed(t, v, np.zeros(1500, bool))
    f = s.frame()
    f["id"] = 7
    data = encode_frame(f)
    g = decode_frame(data)
    assert len(data) == 4 + struct.unpack_from("<I", data)[0] + \
        (-(4 + struct.unpack_from("<I", data)[0]) % 4) + 2 * 2 * 50 * 4
    assert g["id"] == 7 and g["t0"] == f["t0"] and g["sweep"] == f["sweep"]
    for k in ("lo", "hi"):
        assert g[k].shape == (2, 50)
        np.testing.assert_array_equal(np.isnan(g[k]), np.isnan(f[k]))
        np.testing.assert_allclose(g[k], f[k], rtol=1e-6, atol=1e-5)
    assert np.isnan(g["lo"][0, f["sweep"]]), "the sweep's blank is a gap"
    assert not np.isnan(g["lo"][0, -1]), "the last screen after it"
    assert decode_frame(encode_frame({"armed": True, "last_t": 0.5})) == \
        {"armed": True, "last_t": 0.5}


@pytest.mark.parametrize("args,field", [
    ((1, 0.001, 100), "timebase_s"), ((1, 20.0, 100), "timebase_s"),
    ((1, 0.1, 5), "columns"), ((1, 0.1, 100, Trigger(0, 0, pre=1.5)), "pre")])
def test_bad_settings_name_their_field(args, field):
    with pytest.raises(ValueError) as e:
        Scope(*args)
    assert str(e.value).startswith(field)
