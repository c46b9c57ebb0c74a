"""Time rules (linear, clamped, cyclic), CF calendars and the record window."""

from __future__ import annotations

import warnings

import cftime
import numpy as np
import pytest

from popstransport.io.errors import InputError
from popstransport.io.met.timeseries import (
    RecordTimes,
    RecordWindow,
    cf_times_to_datetime64,
    decode_cf_time,
    interpolate_records,
    monthly_mid_times,
    to_datetime64,
    year_fraction,
)

T = np.array(["2005-01-01T00", "2005-01-01T06", "2005-01-01T12"], dtype="datetime64[s]")


def test_linear_brackets_and_keys():
    rt = RecordTimes(T, "linear")
    assert rt.bracket(np.datetime64("2005-01-01T03")) == (0, 1, 0.5, 0)
    k0, k1, w, key = rt.bracket(np.datetime64("2005-01-01T09"))
    assert (k0, k1, key) == (1, 2, 1) and w == pytest.approx(0.5)
    assert rt.bracket(T[-1])[:3] == (1, 2, 1.0)
    with pytest.raises(InputError, match=r"records cover 2005-01-01..2005-01-01T12:00:00 but the run needs"):
        rt.bracket(np.datetime64("2005-01-01T13"))
    rt.check_covers(T[0], T[-1])


def test_clamped_holds_the_end_records():
    rt = RecordTimes(T, "clamped")
    assert rt.bracket(np.datetime64("2004-06-01"))[:3] == (0, 0, 0.0)
    assert rt.bracket(np.datetime64("2006-06-01"))[:3] == (2, 2, 0.0)
    rt.check_covers(np.datetime64("1900-01-01"), np.datetime64("2100-01-01"))
    single = RecordTimes(T[:1], "clamped")
    assert single.bracket(np.datetime64("2030-01-01"))[:3] == (0, 0, 0.0)
    # the key changes exactly when the bracketing pair changes (fields computed once per key are then refreshed):
    # held first record, first pair, second pair, held last record
    times = ["2004-06-01", "2005-01-01T03", "2005-01-01T09", "2006-06-01"]
    keys = [rt.bracket(np.datetime64(t))[3] for t in times]
    assert len(set(keys)) == 4
    assert rt.bracket(np.datetime64("2004-01-01"))[3] == keys[0]
    assert rt.bracket(np.datetime64("2005-01-01T01"))[3] == keys[1]


def test_cyclic_climatology_wraps_the_year():
    rt = RecordTimes(monthly_mid_times(2001), "cyclic")
    k0, k1, w, key_a = rt.bracket(np.datetime64("2010-01-01T00"))
    assert (k0, k1) == (11, 0) and 0.4 < w < 0.6
    _, _, _, key_b = rt.bracket(np.datetime64("2010-01-20"))
    _, _, _, key_c = rt.bracket(np.datetime64("2011-01-20"))
    assert key_a != key_b != key_c
    # leap and non-leap years: the same date maps to the same position
    assert rt.bracket(np.datetime64("2012-07-16T12"))[2] == pytest.approx(rt.bracket(np.datetime64("2011-07-16T12"))[2],
                                                                            abs=0.02)
    two = RecordTimes(monthly_mid_times(2001, np.array([1, 7])), "cyclic")
    assert two.bracket(np.datetime64("2005-04-16"))[:2] == (0, 1)
    assert two.bracket(np.datetime64("2005-10-16"))[:2] == (1, 0)


def test_bad_time_axes():
    with pytest.raises(InputError, match="not strictly increasing"):
        RecordTimes(T[::-1], "linear")
    with pytest.raises(InputError, match="same day of the year"):
        RecordTimes(np.array(["2001-01-15", "2002-01-15"], dtype="datetime64[s]"), "cyclic")
    with pytest.raises(InputError, match="is not a time rule"):
        RecordTimes(T, "nearest")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"met input: time: no records"):
        RecordTimes(T[:0], "clamped")
    with pytest.raises(InputError, match=r"a single record \(2005-01-01\) cannot be interpolated linearly"):
        RecordTimes(T[:1], "linear")


@pytest.mark.parametrize("calendar", ["360_day", "noleap", "all_leap", "julian"])
def test_non_gregorian_calendars_map_by_year_fraction(calendar):
    d = [cftime.datetime(2005, m, 15, calendar=calendar) for m in range(1, 13)]
    t = cf_times_to_datetime64(np.array(d, dtype=object))
    assert np.all(np.diff(t) > np.timedelta64(0, "s"))
    assert str(t[0])[:7] == "2005-01" and str(t[-1])[:7] == "2005-12"
    if calendar == "360_day":
        feb30 = cf_times_to_datetime64(np.array([cftime.datetime(2005, 2, 30, calendar="360_day")]))[0]
        assert str(feb30)[:7] == "2005-03"  # 59/360 of the year
        assert year_fraction(feb30) == pytest.approx(59 / 360, abs=1e-6)


def test_gregorian_dates_map_exactly():
    d = [cftime.datetime(1999, 12, 31, 23, 0, 0, calendar="proleptic_gregorian")]
    assert str(cf_times_to_datetime64(np.array(d, dtype=object))[0]) == "1999-12-31T23:00:00"
    assert to_datetime64("2005-03-01") == np.datetime64("2005-03-01T00:00:00")


def test_decode_months_since_and_bad_units():
    t = decode_cf_time(np.array([0, 1, 13]), "months since 2000-01-01", "standard", "f.nc", "time")
    assert [str(x)[:7] for x in t] == ["2000-01", "2000-02", "2001-02"]
    t = decode_cf_time(np.array([0.5, 1.5]), "days since 2005-01-01", "noleap", "f.nc", "time")
    assert str(t[0]) == "2005-01-01T12:00:00"
    with pytest.raises(InputError, match=r"f.nc: time variable 'time': units 'months' are not of the CF form"):
        decode_cf_time(np.array([0]), "months", None, "f.nc", "time")
    with pytest.raises(InputError, match=r"units 'months since 2000-01-01' with fractional values \[0.5\]"):
        decode_cf_time(np.array([0, 0.5, 2]), "months since 2000-01-01", "standard", "f.nc", "time")


def test_record_window_keeps_few_records():
    loaded = []

    def load(k):
        loaded.append(k)
        return {"x": np.full((2, 2), float(k))}

    win = RecordWindow(load, capacity=3)
    for k in (0, 1, 0, 1, 2, 3, 2, 3, 4):
        win.get(k)
    assert len(win) == 3 and loaded == [0, 1, 2, 3, 4]
    mix = interpolate_records(win.get(3), win.get(4), 0.25)
    np.testing.assert_allclose(mix["x"], 3.25)
    assert mix["x"].flags.c_contiguous and mix["x"].dtype == np.float64


def test_missing_records_of_a_regular_series_are_warned_about():
    daily = np.arange(np.datetime64("2010-01-01T12:00"), np.datetime64("2010-01-11T12:00"), np.timedelta64(1, "D"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RecordTimes(daily, "linear", "days.nc")  # regular: no warning
        RecordTimes(monthly_mid_times(2010), "linear", "months.nc")  # months of 28 to 31 days: no warning
    gap = np.delete(daily, [4, 5])
    with pytest.warns(UserWarning, match=r"days\.nc: time: records are missing between 2010-01-04T12:00:00 and "
                                         r"2010-01-07T12:00:00 \(3 times the usual spacing of 24 h\)"):
        RecordTimes(gap, "linear", "days.nc")
