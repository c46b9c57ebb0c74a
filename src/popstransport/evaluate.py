"""Evaluation against station observations: the model sampled at every station's cell and period, statistics.

Observation file (CSV, ``#`` comment lines allowed, column names case-insensitive):

============== =========================================================================================
column         content
============== =========================================================================================
``site_id``    station identifier (also ``site``, ``station``, ``station_id``)
``lon``        longitude, degrees east (also ``longitude``)
``lat``        latitude, degrees north (also ``latitude``)
``time``       an instant (``2010-01-15`` or ``2010-01-15T12:00``): the output period containing it is used; a
               year (``2010``), a month (``2010-01``) or ``START/END`` here is a sampling period, as in ``period``
``period``     or a sampling period: ``2010`` (a year), ``2010-01`` (a month), ``2010-01-15`` (a day) or
               ``START/END`` (``2010-01-01/2010-03-01``: from the start of START to the start of END, so END
               is not in it; a sampler that ran through 20 January ends at ``2010-01-21``); the model value is the
               overlap-weighted mean of the output periods covering it. One of ``time`` and ``period`` is needed
               per row (``period`` wins).
``value``      the observed value, >= 0
``unit``       its unit (also ``units``), see below
``compartment`` ``air``, ``deposition`` or ``soil`` (also ``medium``)
============== =========================================================================================

Model quantities:

- ``air``: time-mean concentration of the lowest air layer (gas + particle), kg m-3;
- ``deposition``: bulk deposition, wet + dry (``wet_deposition_flux + dry_deposition_flux``), kg m-2 s-1. The net
  diffusive air-surface exchange is left out: deposition samplers collect wet and dry deposition, not the net
  gas exchange of the ground;
- ``soil``: soil burden per unit area of soil, kg m-2: ``soil_burden / soil_area_fraction`` (the cell fraction
  the soil compartment covers, land without fresh water), since a soil sample measures the soil, not the cell (a
  coastal cell's burden per cell area would be low by its soil fraction). A station in a cell without soil is an
  error (left out with ``skip_unusable``); a run without ``soil_area_fraction`` in ``fields.nc`` (the ``simple``
  fate, whose soil takes the whole cell's deposition) is compared per cell area.

Units are parsed as products of powers of mass (``fg pg ng ug µg mg g kg``), length (``mm cm m km``), area
(``ha``), volume (``L``, ``l``) and time (``s min h d day wk month yr y a``; a year of 365 days and a month of
1/12 year, as in the model; symbols are case-sensitive, so ``Mg`` is not ``mg``), written ``ng m-2 yr-1``,
``ng/m2/yr``, ``ng m^-2 a^-1``, ``ng m⁻² a⁻¹`` or ``kg m-2 s-1``. Air accepts mass per volume (``fg m-3``, ``pg m-3``, ``ng m-3``,
``kg m-3``); deposition mass per area and time; soil mass per area (``ng m-2``) or a mass fraction (``ng g-1``,
``ng/g dw``, ``ug kg-1``). A mass fraction is converted to mass per area with a soil bulk density and a mixing
depth that the model does not define: they must be given (``soil_bulk_density_kg_m3`` and ``soil_depth_m``,
``--soil-bulk-density`` and ``--soil-depth`` on the command line; for example 1300 kg m-3 and 0.1 m), else
evaluation stops with an error that says so:

    burden (kg m-2) = mass fraction (kg kg-1) x bulk density (kg m-3) x depth (m)

Statistics per compartment, over the pairs (M modelled, O observed), in the display units (air pg m-3,
deposition ng m-2 yr-1, soil ng m-2):

- bias = mean(M - O);
- normalised mean bias NMB = sum(M - O) / sum(O);
- correlation: Pearson's r (NaN with fewer than two pairs or a constant series);
- FAC2 (FAC10): fraction of pairs with 1/2 <= M/O <= 2 (1/10 <= M/O <= 10); a pair with O = 0 counts only if
  M = 0 as well (Chang and Hanna, 2004, Meteorol. Atmos. Phys. 87, 167-196, section 4).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import __version__
from .constants import SECONDS_PER_DAY, SECONDS_PER_YEAR
from .io.errors import InputError, read_utf8_text
from .results import RunResults, calendar_interval, open_run

COMPARTMENTS = ("air", "deposition", "soil")

#: (factor to SI, dimension exponents (mass, length, time)) of every unit symbol.
_UNITS: dict[str, tuple[float, tuple[int, int, int]]] = {
    "fg": (1e-18, (1, 0, 0)), "pg": (1e-15, (1, 0, 0)), "ng": (1e-12, (1, 0, 0)), "ug": (1e-9, (1, 0, 0)),
    "mg": (1e-6, (1, 0, 0)), "g": (1e-3, (1, 0, 0)), "kg": (1.0, (1, 0, 0)), "t": (1e3, (1, 0, 0)),
    "mm": (1e-3, (0, 1, 0)), "cm": (1e-2, (0, 1, 0)), "m": (1.0, (0, 1, 0)), "km": (1e3, (0, 1, 0)),
    "ha": (1e4, (0, 2, 0)), "l": (1e-3, (0, 3, 0)),
    "s": (1.0, (0, 0, 1)), "min": (60.0, (0, 0, 1)), "h": (3600.0, (0, 0, 1)), "hr": (3600.0, (0, 0, 1)),
    "d": (SECONDS_PER_DAY, (0, 0, 1)), "day": (SECONDS_PER_DAY, (0, 0, 1)), "wk": (7 * SECONDS_PER_DAY, (0, 0, 1)),
    "week": (7 * SECONDS_PER_DAY, (0, 0, 1)), "month": (SECONDS_PER_YEAR / 12, (0, 0, 1)),
    "mon": (SECONDS_PER_YEAR / 12, (0, 0, 1)), "yr": (SECONDS_PER_YEAR, (0, 0, 1)), "y": (SECONDS_PER_YEAR, (0, 0, 1)),
    "a": (SECONDS_PER_YEAR, (0, 0, 1)), "year": (SECONDS_PER_YEAR, (0, 0, 1)),
}
#: Superscript exponents (``m³``, ``m⁻²``) as plain characters.
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
#: Annotations allowed in a unit string that change nothing (dry weight).
_IGNORED = {"dw", "d.w.", "dry", "weight", "dwt"}

_EXPECTED = {
    "air": ((1, -3, 0), "a mass per volume such as pg m-3, ng m-3 or kg m-3"),
    "deposition": ((1, -2, -1), "a mass per area and time such as ng m-2 yr-1, ng m-2 d-1 or kg m-2 s-1"),
    "soil": ((1, -2, 0), "a mass per area such as ng m-2, or a mass fraction such as ng g-1"),
}
#: SI unit and display unit (factor from SI) per compartment.
_DISPLAY = {
    "air": ("kg m-3", "pg m-3", 1e15),
    "deposition": ("kg m-2 s-1", "ng m-2 yr-1", 1e12 * SECONDS_PER_YEAR),
    "soil": ("kg m-2", "ng m-2", 1e12),
}

_ALIASES = {
    "site_id": ("site_id", "site", "station", "station_id", "id"),
    "lon": ("lon", "longitude", "lon_deg"),
    "lat": ("lat", "latitude", "lat_deg"),
    "time": ("time", "date", "datetime"),
    "period": ("period",),
    "value": ("value", "observed", "observation"),
    "unit": ("unit", "units"),
    "compartment": ("compartment", "medium"),
}


class ObservationError(InputError):
    """An observation file that cannot be used; the message names the file, the line and column, and the fix."""


@dataclass(frozen=True)
class ParsedUnit:
    """A unit as a factor to SI and dimension exponents (mass, length, time)."""

    text: str
    factor: float
    dims: tuple[int, int, int]
    mass_fraction: bool


def parse_unit(text: str) -> ParsedUnit:
    """Parse a unit string (``"ng m-2 yr-1"``, ``"pg/m3"``, ``"ng g-1"``) into a factor to SI and dimensions.

    A unit whose mass exponents cancel (``ng g-1``) is a mass fraction: ``factor`` is then in kg kg-1.

    Raises
    ------
    ValueError
        For an unknown symbol, with the symbols that are known.
    """
    raw = str(text).strip()
    if not raw:
        raise ValueError("the unit is empty")
    s = raw.replace("µ", "u").replace("μ", "u").replace("**", "").replace("^", "").replace("·", " ")
    s = s.replace("*", " ").translate(_SUPERSCRIPTS)
    factor = 1.0
    dims = [0, 0, 0]
    mass_powers: list[int] = []
    groups = s.split("/")
    for gi, group in enumerate(groups):
        sign = 1 if gi == 0 else -1
        for token in group.split():
            if token.lower() in _IGNORED:
                continue
            m = re.fullmatch(r"([A-Za-z]+)(-?\d+)?", token)
            if not m:
                raise ValueError(f"cannot read {token!r} in unit {raw!r}")
            sym, power = m.group(1), int(m.group(2)) if m.group(2) else 1
            key = "l" if sym == "L" else sym
            if key not in _UNITS:
                raise ValueError(f"unknown unit symbol {sym!r} in {raw!r} (known: {', '.join(sorted(_UNITS))})")
            f, d = _UNITS[key]
            p = sign * power
            factor *= f ** p
            dims = [dims[k] + d[k] * p for k in range(3)]
            if d[0]:
                mass_powers.append(p)
    fraction = dims == [0, 0, 0] and any(p > 0 for p in mass_powers) and any(p < 0 for p in mass_powers)
    return ParsedUnit(raw, factor, (dims[0], dims[1], dims[2]), fraction)


def statistics(modelled: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Bias, normalised mean bias, Pearson correlation, FAC2 and FAC10 of paired values (see the module doc)."""
    m = np.asarray(modelled, dtype=float)
    o = np.asarray(observed, dtype=float)
    n = m.size
    out: dict[str, float] = {"n": float(n)}
    if n == 0:
        return {**out, "bias": np.nan, "normalised_mean_bias": np.nan, "correlation": np.nan, "fac2": np.nan,
                "fac10": np.nan, "mean_observed": np.nan, "mean_modelled": np.nan}
    out["mean_observed"] = float(o.mean())
    out["mean_modelled"] = float(m.mean())
    out["bias"] = float(np.mean(m - o))
    so = float(o.sum())
    out["normalised_mean_bias"] = float((m - o).sum() / so) if so != 0 else np.nan
    if n >= 2 and np.std(m) > 0 and np.std(o) > 0:
        dm, do = m - m.mean(), o - o.mean()
        out["correlation"] = float((dm * do).sum() / np.sqrt((dm**2).sum() * (do**2).sum()))
    else:
        out["correlation"] = np.nan
    for name, f in (("fac2", 2.0), ("fac10", 10.0)):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(o > 0, m / np.where(o > 0, o, 1.0), np.nan)
        within = np.where(o > 0, (r >= 1.0 / f) & (r <= f), m == o)
        out[name] = float(np.mean(within))
    return out


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    pairs
        One entry per observation along ``observation``: ``site_id``, ``compartment``, ``lon``, ``lat``,
        ``cell_lon``, ``cell_lat``, ``start``, ``end``, ``observed``, ``modelled`` (both in the observation's
        ``unit``), ``observed_si``, ``modelled_si`` (``si_unit``), ``observed_display``, ``modelled_display``
        (``display_unit``), ``line`` (line in the file).
    statistics
        Per compartment: ``n``, ``bias`` (display unit), ``normalised_mean_bias``, ``correlation``, ``fac2``,
        ``fac10``, ``mean_observed``, ``mean_modelled``.
    out_dir
        Folder of the written files, or ``None``.
    """

    pairs: xr.Dataset
    statistics: dict[str, dict[str, float]]
    out_dir: Path | None = None
    #: ``(line, reason)`` of the rows left out (``skip_unusable``), in file order
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        """The statistics as text, one line per compartment."""
        lines = []
        for comp, s in self.statistics.items():
            unit = _DISPLAY[comp][1]
            lines.append(
                f"{comp}: n = {int(s['n'])}, bias = {s['bias']:+.4g} {unit}, NMB = {s['normalised_mean_bias']:+.3f}, "
                f"r = {s['correlation']:.3f}, FAC2 = {s['fac2']:.2f}, FAC10 = {s['fac10']:.2f} "
                f"(mean observed {s['mean_observed']:.4g}, modelled {s['mean_modelled']:.4g} {unit})")
        return "\n".join(lines)


def _parse_interval(text: str) -> tuple[np.datetime64, np.datetime64]:
    interval = calendar_interval(text)
    if interval is None:
        raise ValueError("expected a year (2010), a month (2010-01), a day (2010-01-15) or START/END")
    return interval


def read_observations(path: str | Path, skipped: list[tuple[int, str]] | None = None) -> list[dict[str, Any]]:
    """Read and check an observation CSV (see the module documentation); returns one dict per row. With a list
    ``skipped``, a row without a value (empty, ``NaN``, ``NA`` or ``N/A``) is left out and ``(line, reason)`` appended to it
    instead of being an error.

    Raises
    ------
    ObservationError
        Naming the file, the line and column, and the fix: missing columns, unreadable numbers or times, unknown
        compartments or units, units that do not fit the compartment.
    """
    path = Path(path)
    if not path.is_file():
        raise ObservationError(path, "observation file", "not found", "give the path of a CSV file")
    try:
        text = read_utf8_text(path, "CSV")
    except InputError as exc:
        raise ObservationError(path, exc.field, exc.problem, exc.fix) from None
    numbered = [(k + 1, line) for k, line in enumerate(io.StringIO(text, newline=""))
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise ObservationError(path, "header", "the file is empty", "add a header line and one row per observation")
    reader = csv.reader([line for _, line in numbered])
    header = [h.strip().lower() for h in next(reader)]
    columns: dict[str, int] = {}
    for key, aliases in _ALIASES.items():
        for a in aliases:
            if a in header:
                columns[key] = header.index(a)
                break
    required = ["site_id", "lon", "lat", "value", "unit", "compartment"]
    missing = [k for k in required if k not in columns]
    if "time" not in columns and "period" not in columns:
        missing.append("time or period")
    if missing:
        raise ObservationError(
            path, f"header (line {numbered[0][0]})", f"missing column(s) {', '.join(missing)}; found {header}",
            "name the columns site_id, lon, lat, time or period, value, unit, compartment")
    rows = []
    for (line_no, _), fields in zip(numbered[1:], reader):
        if not any(f.strip() for f in fields):
            continue

        def cell(key: str, fields=fields) -> str:
            k = columns.get(key)
            return fields[k].strip() if k is not None and k < len(fields) else ""

        count = ("" if len(fields) == len(header) else
                 f" (the line has {len(fields)} fields, the header {len(header)}: "
                 + ("quote a value that contains a comma, such as \"Beijing, China\")" if len(fields) > len(header)
                    else "a field is missing)"))

        def fail(column: str, problem: str, fix: str, line_no=line_no, count=count) -> ObservationError:
            return ObservationError(path, f"line {line_no}, column {column!r}", problem + count, fix)

        row: dict[str, Any] = {"line": line_no, "site_id": cell("site_id")}
        if skipped is not None and cell("value").lower() in ("", "nan", "na", "n/a"):
            skipped.append((line_no, "no value"))
            continue
        for key in ("lon", "lat", "value"):
            text = cell(key)
            try:
                row[key] = float(text)
            except ValueError:
                raise fail(key, f"{text!r} is not a number", "write a decimal number") from None
            if not np.isfinite(row[key]):
                raise fail(key, f"{text!r} is not a finite number", "write a decimal number or remove the row")
        if not -90.0 <= row["lat"] <= 90.0:
            raise fail("lat", f"latitude {row['lat']:g} is outside -90..90", "give the latitude in degrees north")
        if row["value"] < 0:
            raise fail("value", f"negative value {row['value']:g}", "observations must be >= 0; correct or remove it")
        comp = cell("compartment").lower()
        if comp not in COMPARTMENTS:
            raise fail("compartment", f"{cell('compartment')!r} is not a compartment",
                       f"use one of {', '.join(COMPARTMENTS)}")
        row["compartment"] = comp
        try:
            unit = parse_unit(cell("unit"))
        except ValueError as exc:
            raise fail("unit", str(exc), f"use {_EXPECTED[comp][1]}") from None
        dims, what = _EXPECTED[comp]
        if not (unit.dims == dims or (comp == "soil" and unit.mass_fraction)):
            raise fail("unit", f"{unit.text!r} is not a unit of {comp} observations", f"use {what}")
        row["unit"] = unit
        period_text, time_text = cell("period"), cell("time")
        try:
            if period_text:
                row["start"], row["end"] = _parse_interval(period_text)
            elif re.fullmatch(r"\d{4}(-\d{2})?", time_text) or "/" in time_text:
                row["start"], row["end"] = _parse_interval(time_text)
            elif time_text:
                t = np.datetime64(time_text, "s")
                row["start"] = row["end"] = t
            else:
                raise ValueError("neither a time nor a period is given")
            row["time_column"] = "period" if period_text else "time"
        except ValueError as exc:
            col = "period" if period_text else "time"
            raise fail(col, f"{(period_text or time_text)!r}: {exc}",
                       "give an ISO time (2010-01-15T12:00) or a period (2010-01, 2010-01-01/2010-03-01)") from None
        rows.append(row)
    if not rows and not skipped:
        raise ObservationError(path, "rows", "the file has a header but no observations", "add one row per observation")
    _warn_duplicates(path, rows)
    return rows


def _warn_duplicates(path: Path, rows: list[dict[str, Any]]) -> None:
    """Warn of rows that repeat an earlier row exactly (site, place, time, compartment, value and unit): each counts
    in the statistics, which is right for repeated measurements but not for a row entered twice."""
    import warnings

    first: dict[tuple, int] = {}
    pairs: list[str] = []
    for r in rows:
        key = (r["site_id"], r["lon"], r["lat"], r["start"], r["end"], r["compartment"], r["value"], r["unit"].text)
        if key in first:
            pairs.append(f"{first[key]} and {r['line']}")
        else:
            first[key] = r["line"]
    if pairs:
        shown = "; ".join(pairs[:5]) + (f" and {len(pairs) - 5} more" if len(pairs) > 5 else "")
        warnings.warn(f"{path}: {len(pairs)} row(s) repeat an earlier row exactly (lines {shown}); each counts in the "
                      "statistics: remove the repeats if they were entered twice", stacklevel=3)


def _skipped_counts(skipped: list[tuple[int, str]]) -> str:
    """``"3 outside the domain (lines 4, 9, 12), 1 no value (line 7)"``."""
    by_reason: dict[str, list[int]] = {}
    for line, reason in sorted(skipped):
        by_reason.setdefault(reason, []).append(line)
    parts = []
    for reason, lines in by_reason.items():
        shown = ", ".join(map(str, lines[:8])) + (", ..." if len(lines) > 8 else "")
        parts.append(f"{len(lines)} {reason} (line{'s' if len(lines) > 1 else ''} {shown})")
    return ", ".join(parts)


def _warn_skipped(path: Path, skipped: list[tuple[int, str]], used: int) -> None:
    import warnings

    if not used:
        raise ObservationError(path, "rows", f"no row can be compared with the run: {_skipped_counts(skipped)}",
                               "evaluate a run whose domain and period cover the stations, or give other observations")
    warnings.warn(f"{path}: {len(skipped)} of {len(skipped) + used} rows left out: {_skipped_counts(skipped)}",
                  stacklevel=3)


def _model_weights(bnds: np.ndarray, start: np.datetime64, end: np.datetime64) -> np.ndarray | None:
    n = bnds.shape[0]
    w = np.zeros(n)
    if start == end:
        for k in range(n):
            if bnds[k, 0] <= start < bnds[k, 1] or (k == n - 1 and start == bnds[k, 1]):
                w[k] = 1.0
                return w
        return None
    if start < bnds[0, 0] or end > bnds[-1, 1]:
        return None
    for k in range(n):
        lo, hi = max(bnds[k, 0], start), min(bnds[k, 1], end)
        if hi > lo:
            w[k] = (hi - lo) / np.timedelta64(1, "s")
    return w / w.sum() if w.sum() > 0 else None


def evaluate(
    run: RunResults | str | Path,
    observations: str | Path,
    out_dir: str | Path | None = None,
    soil_bulk_density_kg_m3: float | None = None,
    soil_depth_m: float | None = None,
    skip_unusable: bool = False,
) -> Evaluation:
    """Sample the model at every observation's cell and period and compute statistics per compartment.

    Parameters
    ----------
    run
        A run directory or :class:`RunResults`.
    observations
        The observation CSV (see the module documentation).
    out_dir
        Where to write ``evaluation.csv``, ``evaluation_statistics.csv`` and ``evaluation_scatter.png``
        (``None``: nothing is written). Existing files of these names are replaced.
    soil_bulk_density_kg_m3, soil_depth_m
        Needed only for soil observations given as mass fractions (``ng g-1``).
    skip_unusable
        Leave out, instead of stopping at, the rows that the run cannot be compared with: no value (empty, ``NaN``,
        ``NA``), a station outside the domain, a time outside the simulated period, a soil station in a cell without
        soil. They are listed in :attr:`Evaluation.skipped`, counted in a warning and in ``evaluation.csv``'s
        header. Rows with errors (a bad number, unit or compartment) still stop the evaluation.

    Raises
    ------
    ObservationError
        For unusable rows (also stations outside the domain and periods outside the run), naming the line.
    """
    results = run if isinstance(run, RunResults) else open_run(run)
    skipped: list[tuple[int, str]] | None = [] if skip_unusable else None
    rows = read_observations(observations, skipped)
    path = Path(observations)
    f = results.fields
    lon_e, lat_e = results.lon_edges, results.lat_edges
    bnds = results.time_bnds
    series = {
        "air": np.asarray(f["air_concentration"].isel(layer=0).values, dtype=float),
        "deposition": np.asarray(f["wet_deposition_flux"].values + f["dry_deposition_flux"].values, dtype=float),
        "soil": np.asarray(f["soil_burden"].values, dtype=float),
    }
    soil_fraction = np.asarray(f["soil_area_fraction"].values, dtype=float) if "soil_area_fraction" in f else None
    if soil_fraction is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            series["soil"] = np.where(soil_fraction > 0, series["soil"] / soil_fraction, np.nan)
    out: dict[str, list] = {k: [] for k in ("line", "site_id", "compartment", "lon", "lat", "cell_lon", "cell_lat",
                                            "start", "end", "observed", "modelled", "unit", "observed_si",
                                            "modelled_si", "si_unit", "observed_display", "modelled_display",
                                            "display_unit")}
    for r in rows:
        where = f"line {r['line']}"
        lon = lon_e[0] + (r["lon"] - lon_e[0]) % 360.0
        if not (lon <= lon_e[-1] and lat_e[0] <= r["lat"] <= lat_e[-1]):
            if skipped is not None:
                skipped.append((r["line"], "outside the domain"))
                continue
            raise ObservationError(
                path, f"{where}, columns 'lon', 'lat'",
                f"station {r['site_id']!r} at lon {r['lon']:g}, lat {r['lat']:g} is outside the model domain (lon "
                f"{lon_e[0]:g}..{lon_e[-1]:g}, lat {lat_e[0]:g}..{lat_e[-1]:g})",
                "remove the row, or evaluate a run whose domain covers the station")
        i = min(int(np.searchsorted(lon_e, lon, side="right")) - 1, lon_e.size - 2)
        j = min(int(np.searchsorted(lat_e, r["lat"], side="right")) - 1, lat_e.size - 2)
        w = _model_weights(bnds, r["start"], r["end"])
        if w is None:
            if skipped is not None:
                skipped.append((r["line"], "outside the simulated period"))
                continue
            when = str(r["start"]) if r["start"] == r["end"] else f"{r['start']} to {r['end']}"
            raise ObservationError(
                path, f"{where}, column {r['time_column']!r}",
                f"{when} is not inside the simulated period {bnds[0, 0]} to {bnds[-1, 1]}",
                "remove the row, or evaluate a run that covers it")
        comp = r["compartment"]
        if comp == "soil" and soil_fraction is not None and not soil_fraction[j, i] > 0:
            if skipped is not None:
                skipped.append((r["line"], "soil station in a cell without soil"))
                continue
            raise ObservationError(
                path, f"{where}, columns 'lon', 'lat'",
                f"soil station {r['site_id']!r} at lon {r['lon']:g}, lat {r['lat']:g} lies in a model cell without soil "
                f"(cell centre lon {0.5 * (lon_e[i] + lon_e[i + 1]):g}, lat {0.5 * (lat_e[j] + lat_e[j + 1]):g}: land "
                "fraction 0)", "remove the row, or evaluate a run on a finer grid")
        model_si = float(np.dot(w, series[comp][:, j, i]))
        unit: ParsedUnit = r["unit"]
        if unit.mass_fraction:
            if soil_bulk_density_kg_m3 is None or soil_depth_m is None:
                raise ObservationError(
                    path, f"{where}, column 'unit'",
                    f"soil value in {unit.text!r} (a mass fraction) cannot be compared with the model's soil burden "
                    "(kg m-2) without a soil bulk density and depth, which the model does not define",
                    "pass --soil-bulk-density KG_M3 and --soil-depth M (e.g. 1300 and 0.1; soil_bulk_density_kg_m3, "
                    "soil_depth_m in Python), or give soil values per area (ng m-2)")
            per_obs_unit = unit.factor * soil_bulk_density_kg_m3 * soil_depth_m
        else:
            per_obs_unit = unit.factor
        obs_si = r["value"] * per_obs_unit
        si_unit, display_unit, display = _DISPLAY[comp]
        out["line"].append(r["line"])
        out["site_id"].append(r["site_id"])
        out["compartment"].append(comp)
        out["lon"].append(r["lon"])
        out["lat"].append(r["lat"])
        out["cell_lon"].append(0.5 * (lon_e[i] + lon_e[i + 1]))
        out["cell_lat"].append(0.5 * (lat_e[j] + lat_e[j + 1]))
        out["start"].append(r["start"])
        out["end"].append(r["end"])
        out["observed"].append(r["value"])
        out["modelled"].append(model_si / per_obs_unit)
        out["unit"].append(unit.text)
        out["observed_si"].append(obs_si)
        out["modelled_si"].append(model_si)
        out["si_unit"].append(si_unit)
        out["observed_display"].append(obs_si * display)
        out["modelled_display"].append(model_si * display)
        out["display_unit"].append(display_unit)
    n = len(out["line"])
    if skipped:
        _warn_skipped(path, skipped, n)
    pairs = xr.Dataset({k: ("observation", np.asarray(v)) for k, v in out.items()},
                       coords={"observation": np.arange(n)})
    from .io.writers import git_commit, this_code

    pairs.attrs.update(run=str(results.path), observations=str(path), popstransport_version=__version__,
                       source=this_code(), **({"popstransport_git_commit": git_commit()} if git_commit() else {}),
                       soil_bulk_density_kg_m3=soil_bulk_density_kg_m3 if soil_bulk_density_kg_m3 is not None else "",
                       soil_depth_m=soil_depth_m if soil_depth_m is not None else "")
    stats = {}
    for comp in COMPARTMENTS:
        sel = pairs["compartment"].values == comp
        if sel.any():
            stats[comp] = statistics(pairs["modelled_display"].values[sel], pairs["observed_display"].values[sel])
    result = Evaluation(pairs, stats, None, sorted(skipped or []))
    if out_dir is not None:
        result.out_dir = _write(result, Path(out_dir), results)
    return result


def _write(ev: Evaluation, out: Path, run: RunResults) -> Path:
    from .io.writers import this_code
    from .plotting import plot_evaluation, save_figure

    out.mkdir(parents=True, exist_ok=True)
    p = ev.pairs
    header = ["line", "site_id", "compartment", "lon", "lat", "cell_lon", "cell_lat", "start", "end", "observed",
              "modelled", "unit", "observed_si", "modelled_si", "si_unit"]
    comment = (f"# {p.attrs.get('source') or this_code()} evaluation of {run.path} against {p.attrs['observations']}; model "
               "values: lowest-layer air concentration, wet + dry deposition, soil burden per "
               + ("area of soil" if "soil_area_fraction" in run.fields else "cell area"))
    if ev.skipped:
        comment += f"; {len(ev.skipped)} rows left out: {_skipped_counts(ev.skipped)}"
    if p.attrs.get("soil_depth_m", "") != "":
        comment += (f"; soil mass fractions converted with bulk density {p.attrs['soil_bulk_density_kg_m3']} kg m-3 "
                    f"and depth {p.attrs['soil_depth_m']} m")
    tmp = out / ".evaluation.csv.partial"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        fh.write(comment + "\n")
        w = csv.writer(fh)
        w.writerow(header)
        for k in range(p.sizes["observation"]):
            vals = []
            for h in header:
                v = p[h].values[k]
                vals.append(f"{float(v):.6e}" if h in ("observed", "modelled", "observed_si", "modelled_si") else
                            str(v) if not isinstance(v, (np.floating, float)) else f"{float(v):g}")
            w.writerow(vals)
    os.replace(tmp, out / "evaluation.csv")
    tmp = out / ".evaluation_statistics.csv.partial"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        fh.write(f"# {p.attrs.get('source') or this_code()} evaluation statistics (bias and means in the display unit)\n")
        w = csv.writer(fh)
        w.writerow(["compartment", "display_unit", "n", "bias", "normalised_mean_bias", "correlation", "fac2", "fac10",
                    "mean_observed", "mean_modelled"])
        for comp, s in ev.statistics.items():
            w.writerow([comp, _DISPLAY[comp][1], int(s["n"]), *[f"{s[k]:.6g}" for k in (
                "bias", "normalised_mean_bias", "correlation", "fac2", "fac10", "mean_observed", "mean_modelled")]])
    os.replace(tmp, out / "evaluation_statistics.csv")
    fig = plot_evaluation(p, ev.statistics, title=f"{run.chemical}: model against observations")
    save_figure(fig, out / "evaluation_scatter.png", "model against observations")
    return out


__all__ = ["Evaluation", "ObservationError", "evaluate", "parse_unit", "read_observations", "statistics"]
