"""Time axes of forcing records and the rule that turns records into a value at any model time.

Model times are ``numpy.datetime64`` on the proleptic Gregorian calendar. Records of a file may use any CF
calendar; :func:`cf_times_to_datetime64` maps them onto model time.

Time rules (:data:`TimeRule`):

``"linear"``
    Records are a time series; a model time between two records gets the linear interpolation of the two. A time
    outside the first..last record is an error (:meth:`RecordTimes.check_covers` says so before the run starts).
``"clamped"``
    As ``"linear"``, but before the first record the first record holds, after the last the last one holds. A single
    record is constant in time.
``"cyclic"``
    Records are a climatology: only their position within the year counts (fraction of the year elapsed, so that
    leap years and every calendar map Jan 1 to 0 and Dec 31 24:00 to 1). The year repeats; a time between the last
    record of a year and the first of the next interpolates across the new year.

Only the two records bracketing the current time (and a few recently used ones) are held in memory, by
:class:`RecordWindow`.
"""

from __future__ import annotations

import datetime as _dt
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

import numpy as np

from ..errors import InputError

TimeRule = Literal["linear", "cyclic", "clamped"]
TIME_RULES: tuple[str, ...] = ("linear", "cyclic", "clamped")

#: Calendars whose dates are the model's proleptic Gregorian dates (mapped date by date).
_GREGORIAN_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")


def to_datetime64(t: object) -> np.datetime64:
    """A model time as ``numpy.datetime64`` with second resolution.

    Accepts ``numpy.datetime64``, ``datetime.datetime``/``date``, ISO strings and cftime dates (mapped by their year
    fraction when their calendar is not Gregorian).
    """
    if isinstance(t, np.datetime64):
        return t.astype("datetime64[s]")
    if isinstance(t, str):
        return np.datetime64(t, "s")
    if isinstance(t, _dt.datetime | _dt.date):
        return np.datetime64(t, "s")
    if hasattr(t, "calendar") and hasattr(t, "year"):
        return cf_times_to_datetime64(np.array([t], dtype=object))[0]
    raise TypeError(f"cannot use {t!r} ({type(t).__name__}) as a model time; pass numpy.datetime64('2005-01-01')")


def year_fraction(t: np.ndarray | np.datetime64) -> np.ndarray:
    """Fraction of its year elapsed at ``t`` (0 at Jan 1 00:00, towards 1 at Dec 31 24:00), proleptic Gregorian."""
    t = np.asarray(t).astype("datetime64[s]")
    year = t.astype("datetime64[Y]")
    start = year.astype("datetime64[s]")
    end = (year + 1).astype("datetime64[s]")
    return (t - start).astype(np.float64) / (end - start).astype(np.float64)


def _cf_year_fraction(d: object) -> float:
    """Year fraction of one cftime date in its own calendar."""
    import cftime

    cal = d.calendar or "standard"  # type: ignore[attr-defined]
    y = d.year  # type: ignore[attr-defined]
    start = cftime.datetime(y, 1, 1, calendar=cal)
    end = cftime.datetime(y + 1, 1, 1, calendar=cal)
    return float((d - start) / (end - start))


def cf_times_to_datetime64(values: np.ndarray) -> np.ndarray:
    """Map an array of cftime (or datetime) dates onto model time (``datetime64[s]``).

    Gregorian-type calendars map date by date. Other calendars (``noleap``/``365_day``, ``all_leap``/``366_day``,
    ``360_day``, ``julian``) map by the fraction of the year elapsed, so that the seasonal position is kept and
    every date of the file has a model time (``360_day`` has a 30 February; the model calendar does not).
    """
    out = np.empty(len(values), dtype="datetime64[s]")
    for n, d in enumerate(values):
        cal = getattr(d, "calendar", None) or "standard"
        if cal in _GREGORIAN_CALENDARS or not hasattr(d, "calendar"):
            out[n] = np.datetime64(
                f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}", "s"
            )
        else:
            f = _cf_year_fraction(d)
            start = np.datetime64(f"{d.year:04d}-01-01", "s")
            end = np.datetime64(f"{d.year + 1:04d}-01-01", "s")
            out[n] = start + np.timedelta64(int(round(f * float((end - start).astype(np.int64)))), "s")
    return out


def decode_cf_time(values: np.ndarray, units: str, calendar: str | None, source: object, name: str) -> np.ndarray:
    """Decode numeric CF time values (``"<unit> since <date>"``) into model times (``datetime64[s]``).

    Besides what cftime decodes, ``"months since"`` and ``"years since"`` are accepted on every calendar (whole
    calendar months / years added to the reference date; fractions of a month are refused).
    """
    import cftime

    cal = (calendar or "standard").lower()
    if not isinstance(units, str) or " since " not in units:
        raise InputError(
            source,
            f"time variable {name!r}",
            f"units {units!r} are not of the CF form '<unit> since <date>'",
            "give the time variable units such as 'days since 2000-01-01' or pass an xarray Dataset with decoded "
            "times",
        )
    unit, ref = units.split(" since ", 1)
    unit = unit.strip().lower()
    vals = np.asarray(values, dtype=np.float64)
    if unit in ("month", "months", "year", "years"):
        step = 12 if unit.startswith("year") else 1
        if np.any(vals != np.round(vals)):
            raise InputError(
                source,
                f"time variable {name!r}",
                f"units {units!r} with fractional values {vals[vals != np.round(vals)][:3]}",
                "use whole months/years or days since a reference date",
            )
        ref_date = cftime.num2date(0, f"days since {ref}", calendar=cal)
        dates = []
        for v in vals.astype(int) * step:
            m0 = ref_date.month - 1 + int(v)
            y = ref_date.year + m0 // 12
            dates.append(cftime.datetime(y, m0 % 12 + 1, min(ref_date.day, 28), calendar=cal))
        return cf_times_to_datetime64(np.array(dates, dtype=object))
    try:
        dates = cftime.num2date(vals, units, calendar=cal, only_use_cftime_datetimes=True)
    except Exception as err:  # cftime raises ValueError/TypeError with terse text
        raise InputError(
            source,
            f"time variable {name!r}",
            f"cannot decode units {units!r} with calendar {cal!r} ({err})",
            "fix the time units/calendar attributes",
        ) from None
    return cf_times_to_datetime64(np.atleast_1d(dates))


def monthly_mid_times(year: int = 2001, months: np.ndarray | None = None) -> np.ndarray:
    """Mid-points of calendar months of ``year`` (``datetime64[s]``), months numbered 1..12."""
    months = np.arange(1, 13) if months is None else np.asarray(months, dtype=int)
    out = []
    for m in months:
        a = np.datetime64(f"{year:04d}-{m:02d}", "M")
        start, end = a.astype("datetime64[s]"), (a + 1).astype("datetime64[s]")
        out.append(start + (end - start) // 2)
    return np.array(out, dtype="datetime64[s]")


def _fmt(t: np.datetime64) -> str:
    return str(np.datetime64(t, "s")).replace("T00:00:00", "")


#: A spacing of records more than this many times their median spacing means records are missing (monthly means
#: differ by at most 31/28; a missing record of a regular series doubles a spacing).
MISSING_RECORD_FACTOR = 1.5


class RecordTimes:
    """The time axis of a series of records and the rule that brackets any model time.

    Parameters
    ----------
    times
        Valid time of every record (``datetime64``), strictly increasing.
    rule
        ``"linear"``, ``"clamped"`` or ``"cyclic"`` (see the module docstring).
    source
        Name of the input, for error messages.
    """

    def __init__(self, times: np.ndarray, rule: TimeRule = "linear", source: object = "met input"):
        times = np.asarray(times).astype("datetime64[s]")
        if rule not in TIME_RULES:
            raise InputError(source, "time rule", f"{rule!r} is not a time rule", f"use one of {TIME_RULES}")
        if times.ndim != 1 or times.size == 0:
            raise InputError(source, "time", "no records", "give at least one time record")
        if times.size > 1 and np.any(np.diff(times) <= np.timedelta64(0, "s")):
            bad = int(np.argmax(np.diff(times) <= np.timedelta64(0, "s")))
            raise InputError(
                source,
                "time",
                f"times are not strictly increasing ({_fmt(times[bad])} is followed by {_fmt(times[bad + 1])})",
                "sort the records by time and remove duplicates",
            )
        self.times = times
        self.rule: TimeRule = rule
        self.source = source
        if rule == "linear" and times.size > 2:
            # a record missing from a regular series (a file left out of a glob): the values in the gap are then
            # interpolated across it, which the user should know about
            step = np.diff(times).astype(np.int64)
            usual = float(np.median(step))
            worst = int(np.argmax(step))
            if step[worst] > MISSING_RECORD_FACTOR * usual:
                import warnings

                warnings.warn(
                    f"{source}: time: records are missing between {_fmt(times[worst])} and {_fmt(times[worst + 1])} "
                    f"({step[worst] / usual:.3g} times the usual spacing of {usual / 3600:g} h); values in the gap are "
                    "interpolated across it. Add the missing records if this is not meant.",
                    stacklevel=2,
                )
        if rule == "cyclic":
            frac = year_fraction(times)
            order = np.argsort(frac, kind="stable")
            if np.any(np.diff(frac[order]) <= 0):
                raise InputError(
                    source,
                    "time",
                    "two records of a cyclic climatology fall on the same day of the year",
                    "give one record per position in the year (e.g. 12 monthly means), or set met.time_rule = 'linear'",
                )
            self._order = order
            self._frac = frac[order]
        if rule == "linear" and times.size < 2:
            raise InputError(
                source,
                "time",
                f"a single record ({_fmt(times[0])}) cannot be interpolated linearly in time",
                "set met.time_rule = 'clamped' to hold it constant, or met.time_rule = 'cyclic' for a climatology",
            )

    @property
    def n(self) -> int:
        """Number of records."""
        return int(self.times.size)

    def bracket(self, t: object) -> tuple[int, int, float, int]:
        """Records around ``t``: ``(k0, k1, w, key)``, value = ``(1 - w) rec[k0] + w rec[k1]``.

        ``key`` is an integer that changes exactly when the bracketing pair changes (for ``"cyclic"``, also from one
        year to the next).
        """
        t = to_datetime64(t)
        n = self.n
        if self.rule == "cyclic":
            if n == 1:
                return 0, 0, 0.0, int(t.astype("datetime64[Y]").astype(np.int64))
            f = float(year_fraction(t))
            year = int(t.astype("datetime64[Y]").astype(np.int64))
            pos = int(np.searchsorted(self._frac, f, side="right"))
            if pos == 0:
                i0, i1, year = n - 1, 0, year - 1
                span = self._frac[0] + 1.0 - self._frac[-1]
                w = (f + 1.0 - self._frac[-1]) / span
            elif pos == n:
                i0, i1 = n - 1, 0
                span = self._frac[0] + 1.0 - self._frac[-1]
                w = (f - self._frac[-1]) / span
            else:
                i0, i1 = pos - 1, pos
                w = (f - self._frac[i0]) / (self._frac[i1] - self._frac[i0])
            return int(self._order[i0]), int(self._order[i1]), float(w), year * n + i0
        times = self.times
        if t < times[0] or t > times[-1]:
            if self.rule == "linear":
                self._raise_outside(t, t)
            k = 0 if t < times[0] else n - 1
            return k, k, 0.0, (-1 if t < times[0] else n - 1)
        if n == 1:
            return 0, 0, 0.0, 0
        k1 = int(np.searchsorted(times, t, side="right"))
        k1 = min(max(k1, 1), n - 1)
        k0 = k1 - 1
        span = (times[k1] - times[k0]).astype(np.float64)
        w = float((t - times[k0]).astype(np.float64) / span)
        return k0, k1, w, k0

    def check_covers(self, start: object, stop: object) -> None:
        """Raise :class:`InputError` when the records do not cover ``start..stop`` under the time rule."""
        start, stop = to_datetime64(start), to_datetime64(stop)
        if self.rule != "linear":
            return
        if start < self.times[0] or stop > self.times[-1]:
            self._raise_outside(start, stop)

    def _raise_outside(self, start: np.datetime64, stop: np.datetime64) -> None:
        raise InputError(
            self.source,
            "time",
            f"records cover {_fmt(self.times[0])}..{_fmt(self.times[-1])} but the run needs "
            + (f"{_fmt(start)}..{_fmt(stop)}" if stop > start else f"a value at {_fmt(start)}"),
            "add files covering the whole run (including one record before the start and one after the stop), "
            "shorten the run, or set met.time_rule = 'cyclic' (climatology) or 'clamped' (hold the end records)",
        )


class RecordWindow:
    """A small least-recently-used store of loaded records: the whole file is never held in memory.

    Parameters
    ----------
    load
        ``load(k)`` returns record ``k`` as a dict of arrays on the model grid.
    capacity
        How many records to keep (the two bracketing ones plus a spare).
    """

    def __init__(self, load: Callable[[int], dict[str, np.ndarray]], capacity: int = 3):
        self._load = load
        self._capacity = max(2, int(capacity))
        self._store: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self.loads = 0

    def get(self, k: int) -> dict[str, np.ndarray]:
        """Record ``k`` (loaded on first use)."""
        if k in self._store:
            self._store.move_to_end(k)
            return self._store[k]
        rec = self._load(k)
        self.loads += 1
        self._store[k] = rec
        while len(self._store) > self._capacity:
            self._store.popitem(last=False)
        return rec

    def __len__(self) -> int:
        return len(self._store)


def interpolate_records(a: dict[str, np.ndarray], b: dict[str, np.ndarray], w: float) -> dict[str, np.ndarray]:
    """``(1 - w) a + w b`` for every field, as new C-contiguous float64 arrays."""
    if w == 0.0:
        return {k: np.array(v, dtype=np.float64, order="C", copy=True) for k, v in a.items()}
    if w == 1.0:
        return {k: np.array(b[k], dtype=np.float64, order="C", copy=True) for k in a}
    return {k: np.ascontiguousarray((1.0 - w) * a[k] + w * b[k], dtype=np.float64) for k in a}


__all__ = [
    "TIME_RULES",
    "RecordTimes",
    "RecordWindow",
    "TimeRule",
    "cf_times_to_datetime64",
    "decode_cf_time",
    "interpolate_records",
    "monthly_mid_times",
    "to_datetime64",
    "year_fraction",
]
