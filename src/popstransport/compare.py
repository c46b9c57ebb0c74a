"""Differences between two runs (B minus A): fields, receptor tables and budgets, as NetCDF and CSV, with a summary.

Files written to the output folder:

- ``fields_difference.nc``: for every gridded variable ``X`` of ``fields.nc`` present in both runs, ``X_a``,
  ``X_b``, ``X_difference`` (B - A, in the variable's units) and ``X_relative_difference`` ((B - A) / |A|,
  dimensionless; NaN where A is zero, or below 1e-12 of the largest magnitude of A, where the ratio is noise);
- ``receptor_difference.csv`` (both runs tagged): net deposition (kg) and lowest-layer air concentration
  (kg m-3) per receptor and source, and per receptor in total (``source = ALL``), in A and B, with absolute and
  relative differences;
- ``budget_difference.csv``: every budget term summed over the compared periods (kg) in A and B, with differences;
- ``summary.txt``: the printed summary.

Periods: when both runs have the same output periods, fields are compared period by period; otherwise the periods
present in both runs (same start and end) are compared; if there are none, the whole-run means are compared (and
the summary says so), which needs both runs to simulate the same span (from the same start to the same end; runs of
different spans without a common period are refused). Both runs must be on the same grid.

Scenarios: either side may be a scenario folder of a tagged run (``RUN/scenarios/NAME``, written by
``popstransport scenario`` or a run's ``[[scenarios]]``), for example a scenario against its own run to see what it
changes. A scenario holds weighted sums of the run's tags: the net deposition flux (wet + dry + net air-surface
exchange) and the lowest layer's air concentration, and the receptor tables; it has no budget. Such a comparison
compares those two fields (a run's from its ``fields.nc``: the sum of its three deposition fluxes and the lowest
layer of its air concentration) and the receptor tables, and no budget.
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from .attribution import name_list
from .io.writers import GRID_VARIABLES, cf_encoding
from .results import RunResults, RunResultsError, open_run


class CompareError(ValueError):
    """Two runs that cannot be compared, or an output folder that already holds a comparison."""


@dataclass
class Comparison:
    """The result of :func:`compare_runs`.

    Attributes
    ----------
    out_dir
        Folder of the written files (``None`` if nothing was written).
    fields
        ``fields_difference.nc`` as a Dataset.
    receptors
        Rows of ``receptor_difference.csv`` (dicts), empty when a run is untagged.
    budget
        Rows of ``budget_difference.csv``.
    summary
        The summary text.
    """

    out_dir: Path | None
    fields: xr.Dataset
    receptors: list[dict]
    budget: list[dict]
    summary: str


_RELATIVE_FLOOR = 1e-12


def _relative(a: np.ndarray | float, b: np.ndarray | float, scale: float | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ref = float(np.nanmax(np.abs(a))) if scale is None and a.size else (scale or 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(a) > _RELATIVE_FLOOR * ref, (b - a) / np.abs(a), np.nan)


#: The fields of a scenario folder, and the variables of a run's ``fields.nc`` they are formed from.
_SCENARIO_FIELDS = ("deposition_flux", "air_concentration")
_NET_DEPOSITION_PARTS = ("wet_deposition_flux", "dry_deposition_flux", "air_surface_exchange_flux")


def _grid_of(fields: xr.Dataset) -> xr.Dataset:
    """The grid and period variables of a run's ``fields.nc``, without its results."""
    return fields[[v for v in GRID_VARIABLES if v in fields]]


def _is_scenario(r: RunResults) -> bool:
    return "scenario_scale" in r.fields.attrs


def _open(run: RunResults | str | Path) -> RunResults:
    """A run, or a scenario folder as a run's results with the scenario's fields, tables and no budget."""
    if isinstance(run, RunResults):
        return run
    path = Path(run)
    fields_path = path / "fields.nc"
    if (path / "budget.nc").is_file() or not fields_path.is_file():
        return open_run(path)  # (a run, or the error that says what is missing)
    with xr.open_dataset(fields_path) as f:
        scale = f.attrs.get("scenario_scale")
    if scale is None:
        return open_run(path)
    base_path = path.resolve().parent.parent  # (RUN of RUN/scenarios/NAME, also for a relative path such as '.')
    try:
        base = open_run(base_path)
    except RunResultsError as exc:
        raise CompareError(f"{path} is a scenario folder (scale {scale}) and its tagged run {str(base_path)!r} cannot be "
                           f"read ({exc}); compare needs the run's grid") from exc
    scen = xr.load_dataset(fields_path)
    missing = [v for v in _SCENARIO_FIELDS if v not in scen]
    if missing or not (path / "attribution.nc").is_file():
        raise CompareError(f"{path}: the scenario folder is incomplete (missing {missing or ['attribution.nc']}); "
                           f"write it again with popstransport scenario {base_path} --scale {scale} --overwrite")
    same = all(scen.sizes.get(d) == base.fields.sizes.get(d) for d in ("time", "lat", "lon")) and np.array_equal(
        scen["time"].values, base.fields["time"].values)
    if not same:
        raise CompareError(f"{path}: the scenario's grid or output periods are not those of its run ({base_path}); "
                           f"write it again with popstransport scenario {base_path} --scale {scale} --overwrite")
    r = copy.copy(base)
    r.path = path
    r.fields = _grid_of(base.fields).assign({v: (scen[v].dims, scen[v].values, dict(scen[v].attrs)) for v in _SCENARIO_FIELDS})
    r.fields.attrs = dict(scen.attrs)
    r.budget = None  # type: ignore[assignment]
    r.attribution = xr.load_dataset(path / "attribution.nc")
    r.tag_fields = None
    r.config_text = f"# scenario {scale} of the run in {base_path}\n" + base.config_text
    return r


def _as_scenario_fields(r: RunResults) -> RunResults:
    """A run with the fields a scenario has, formed from its ``fields.nc`` (see the module documentation)."""
    if _is_scenario(r):
        return r
    f = r.fields
    missing = [v for v in (*_NET_DEPOSITION_PARTS, "air_concentration") if v not in f]
    if missing:
        raise CompareError(f"{r.path / 'fields.nc'}: no {missing}; compare cannot form the fields of a scenario")
    dep = sum(f[v] for v in _NET_DEPOSITION_PARTS)
    dep.attrs = {"units": "kg m-2 s-1", "long_name": "net deposition flux (wet + dry + net air-surface exchange)"}
    conc = f["air_concentration"].isel(layer=0, drop=True) if "layer" in f["air_concentration"].dims \
        else f["air_concentration"]
    conc.attrs = {"units": "kg m-3", "long_name": "time-mean air concentration of the lowest layer"}
    out = copy.copy(r)
    out.fields = _grid_of(f).assign(deposition_flux=dep, air_concentration=conc)
    return out


def _check_grid(a: RunResults, b: RunResults) -> None:
    for coord in ("lat", "lon"):
        va, vb = a.fields[coord].values, b.fields[coord].values
        if coord == "lon" and va.shape == vb.shape and va.size:
            # the same domain written in other longitudes (150..210 and -210..-150) is the same grid
            vb = vb + 360.0 * np.round((va[0] - vb[0]) / 360.0)
        if va.shape != vb.shape or not np.allclose(va, vb, rtol=0, atol=1e-9):
            raise CompareError(
                f"{a.path} and {b.path} are on different grids ({a.fields.sizes['lon']} x {a.fields.sizes['lat']} "
                f"cells from lon {a.lon_edges[0]:g}, lat {a.lat_edges[0]:g} against {b.fields.sizes['lon']} x "
                f"{b.fields.sizes['lat']} from lon {b.lon_edges[0]:g}, lat {b.lat_edges[0]:g}); compare needs the "
                "same domain and resolution: rerun one of them with the other's [domain] section"
            )


def _span(r: RunResults) -> str:
    bnds = r.time_bnds
    return f"{str(bnds[0, 0]).replace('T00:00:00', '')} to {str(bnds[-1, 1]).replace('T00:00:00', '')}"


def _check_same_span(a: RunResults, b: RunResults) -> None:
    """Runs without a common output period are compared by their whole-run means: refuse them unless both simulate
    the same span (say monthly against whole-run output of one year), or the means would be of different periods."""
    ba, bb = a.time_bnds, b.time_bnds
    if ba[0, 0] == bb[0, 0] and ba[-1, 1] == bb[-1, 1]:
        return
    raise CompareError(
        f"{a.path} ({_span(a)}, {ba.shape[0]} output periods) and {b.path} ({_span(b)}, {bb.shape[0]} output periods) "
        "have no output period in common and simulate different spans, so their whole-run means would compare different "
        "periods; compare runs of the same period: rerun one of them with the other's time.start and time.stop (and "
        "output.frequency for a period-by-period comparison)")


def _common_periods(a: RunResults, b: RunResults) -> tuple[list[int], list[int]]:
    ba, bb = a.time_bnds, b.time_bnds
    ia, ib = [], []
    for i, (s, e) in enumerate(ba):
        hits = np.flatnonzero((bb[:, 0] == s) & (bb[:, 1] == e))
        if hits.size:
            ia.append(i)
            ib.append(int(hits[0]))
    return ia, ib


def _field_differences(a: RunResults, b: RunResults) -> tuple[xr.Dataset, str]:
    ia, ib = _common_periods(a, b)
    fa, fb = a.fields, b.fields
    names = [str(v) for v in fa.data_vars if str(v) in fb.data_vars and {"lat", "lon"} <= set(fa[v].dims)
             and "time" in fa[v].dims]
    # (run A's grid with its coordinates' attributes and bounds, so that CF tools see the grid and the periods)
    grid = _grid_of(fa)
    if ia:
        sa, sb = fa.isel(time=ia), fb.isel(time=ib)
        how = (f"{len(ia)} common output periods" if len(ia) < max(fa.sizes["time"], fb.sizes["time"])
               else f"all {len(ia)} output periods")
        out = grid.isel(time=ia)
    else:
        sa = xr.Dataset({n: a.field_mean(n) for n in names})
        sb = xr.Dataset({n: b.field_mean(n) for n in names})
        how = "whole-run means (the runs have no output period in common)"
        out = grid.drop_dims("time") if "time" in grid.dims else grid
        out.encoding.pop("unlimited_dims", None)  # (fields.nc's unlimited time, which this file no longer has)
    if "lat" not in out.coords:
        out = out.assign_coords(lat=fa["lat"], lon=fa["lon"])
    for n in names:
        va = sa[n].values
        vb = sb[n].values
        if va.shape != vb.shape:
            continue
        dims = sa[n].dims
        units = str(fa[n].attrs.get("units", ""))
        if "layer" in dims and "layer" not in out.coords:
            out = out.assign_coords(layer=fa["layer"])
        # (how the values were formed, and the cell areas if they are in the file)
        kept = {k: fa[n].attrs[k] for k in ("cell_methods", "cell_measures") if k in fa[n].attrs
                and (k != "cell_measures" or "cell_area" in out)}
        out[f"{n}_a"] = (dims, va, {"units": units, "long_name": f"{n} in run A", **kept})
        out[f"{n}_b"] = (dims, vb, {"units": units, "long_name": f"{n} in run B", **kept})
        out[f"{n}_difference"] = (dims, vb - va, {"units": units, "long_name": f"{n}: run B minus run A", **kept})
        out[f"{n}_relative_difference"] = (dims, _relative(va, vb), {
            "units": "1", "long_name": f"{n}: (B - A) / |A|; NaN where A is zero", **kept})
    from .io.writers import REFERENCES, git_commit, this_code

    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    out.attrs = {}
    out.attrs.update({
        "Conventions": "CF-1.10",
        "title": "popstransport comparison of two runs (B minus A)",
        "run_a": str(a.path.resolve()),
        "run_b": str(b.path.resolve()),
        "compared": how,
        "popstransport_version": __version__,
        "source": this_code(),
        "created": created,
        "history": f"{created} {this_code()} compare {a.path.resolve()} {b.path.resolve()}",
        "references": REFERENCES,
        "configuration_a": a.config_text,
        "configuration_b": b.config_text,
    })
    if git_commit():
        out.attrs["popstransport_git_commit"] = git_commit()
    return out, how


def _receptor_rows(a: RunResults, b: RunResults, ia: list[int], ib: list[int]) -> list[dict]:
    if a.attribution is None or b.attribution is None:
        return []
    rows: list[dict] = []
    aa = a.attribution.isel(time=ia) if ia else a.attribution
    ab = b.attribution.isel(time=ib) if ib else b.attribution
    receptors = list(dict.fromkeys([str(r) for r in aa["receptor"].values] + [str(r) for r in ab["receptor"].values]))
    sources = list(dict.fromkeys([str(s) for s in aa["source"].values] + [str(s) for s in ab["source"].values]))

    def value(att: xr.Dataset, var: str, rec: str, src: str | None) -> float:
        if rec not in att["receptor"].values or (src is not None and src not in att["source"].values):
            return float("nan")
        da = att[var].sel(receptor=rec)
        da = da.sum("source") if src is None else da.sel(source=src)
        if var == "deposition":
            return float(da.sum("time"))
        w = (att["time_bnds"].values[:, 1] - att["time_bnds"].values[:, 0]) / np.timedelta64(1, "s")
        return float((da.values * w).sum() / w.sum())

    for var, quantity in (("deposition", "net_deposition_kg"), ("air_concentration", "air_concentration_kg_m3")):
        for rec in receptors:
            for src in [None, *sources]:
                va, vb = value(aa, var, rec, src), value(ab, var, rec, src)
                if src is not None and va == 0 and vb == 0:
                    continue
                rows.append({"quantity": quantity, "receptor": rec, "source": "ALL" if src is None else src,
                             "a": va, "b": vb, "difference": vb - va,
                             "relative_difference": float(_relative(va, vb, abs(va)))})
    return rows


def _budget_rows(a: RunResults, b: RunResults, ia: list[int], ib: list[int]) -> list[dict]:
    if _is_scenario(a) or _is_scenario(b):
        return []
    ba = a.budget.isel(time=ia) if ia else a.budget
    bb = b.budget.isel(time=ib) if ib else b.budget
    names = list(dict.fromkeys([str(v) for v in ba.data_vars if str(v).endswith("_kg")]
                               + [str(v) for v in bb.data_vars if str(v).endswith("_kg")]))
    rows = []
    def pick(ds: xr.Dataset, n: str) -> float:
        if n not in ds:
            return float("nan")
        if n.startswith("burden_start_"):
            return float(ds[n].values[0])
        if n.startswith("burden_end_"):
            return float(ds[n].values[-1])
        return float(ds[n].sum())

    for n in names:
        va, vb = pick(ba, n), pick(bb, n)
        rows.append({"term": n, "a": va, "b": vb, "difference": vb - va,
                     "relative_difference": float(_relative(va, vb, abs(va)))})
    return rows


def _input_digests(r: RunResults, builtin: bool = True) -> dict[str, str] | None:
    """``{path: SHA-256}`` of the input files a run recorded (``input_files``), without the package data files marked
    built-in unless ``builtin``, or None for a run that did not record them."""
    text = r.fields.attrs.get("input_files")
    if text is None:
        return None
    lines = [line.rpartition(": ") for line in str(text).splitlines()]
    return {path: fingerprint.rpartition("sha256 ")[2] for path, sep, fingerprint in lines
            if "sha256 " in fingerprint and (builtin or not fingerprint.startswith("built-in "))}


def _records_package_data(r: RunResults) -> bool:
    """Whether a run's ``input_files`` names the package data files it read (runs of earlier versions did not)."""
    return any(line.rpartition(": ")[2].startswith("built-in ")
               for line in str(r.fields.attrs.get("input_files", "")).splitlines())


#: How many of each run's input files that the other run did not read the summary names.
_LISTED_INPUT_FILES = 4


def _summary(a: RunResults, b: RunResults, fields: xr.Dataset, how: str, receptors: list[dict],
             budget: list[dict]) -> str:
    from .simulation import _differing_keys

    lines = [f"comparison of run B {b.path} against run A {a.path} (B minus A), {how}"]
    chem_a, chem_b = getattr(a, "chemical", None), getattr(b, "chemical", None)
    if chem_a != chem_b:
        lines.append(f"  note: the runs simulate different chemicals (A {chem_a}, B {chem_b})")
    config_a, config_b = getattr(a, "config_text", ""), getattr(b, "config_text", "")
    differ = _differing_keys(config_a, config_b, labels=("in A", "in B")) if config_a and config_b else []
    differ = [d for d in differ if not d.startswith(("output.directory ", "output.overwrite "))]
    if differ:
        lines.append(f"  note: the configurations differ: {'; '.join(differ)}")
    # (package data files only when both runs record them: a run of an earlier version read them without a word)
    both = _records_package_data(a) and _records_package_data(b)
    inputs_a, inputs_b = _input_digests(a, both), _input_digests(b, both)
    if inputs_a is not None and inputs_b is not None and set(inputs_a.values()) != set(inputs_b.values()):
        only = []
        for name, mine, theirs in (("A", inputs_a, inputs_b), ("B", inputs_b, inputs_a)):
            files = [f"{name} {p} (sha256 {d[:12]})" for p, d in mine.items() if d not in theirs.values()]
            # (decades of CMIP files, one per variable and year, would make this line hundreds of files long)
            more = len(files) - _LISTED_INPUT_FILES
            only += files[:_LISTED_INPUT_FILES] + ([f"{name} {more} more (the runs' input_files attribute lists them)"]
                                                   if more > 0 else [])
        lines.append(f"  note: the runs read different input files: {'; '.join(only)}")
    area = a.fields["cell_area"].values if "cell_area" in a.fields else None
    for v in [str(k)[:-len("_difference")] for k in fields.data_vars if str(k).endswith("_difference")
              and not str(k).endswith("_relative_difference")]:
        d = fields[f"{v}_difference"]
        units = d.attrs.get("units", "")
        vals = np.asarray(d.values, dtype=float)
        if not np.any(np.isfinite(vals)):
            continue
        k = int(np.nanargmax(np.abs(vals)))
        idx = np.unravel_index(k, vals.shape)
        where = dict(zip(d.dims, idx))
        lat = float(fields["lat"].values[where["lat"]])
        lon = float(fields["lon"].values[where["lon"]])
        when = f", {str(fields['time'].values[where['time']])[:10]}" if "time" in where else ""
        va = np.asarray(fields[f"{v}_a"].values, dtype=float)
        vb = np.asarray(fields[f"{v}_b"].values, dtype=float)
        if area is not None and v != "air_particle_fraction":
            # (per-layer fields weighted by the layers' thickness too: a concentration's total is then the air's mass)
            weight = area
            if "layer" in d.dims and "layer_bnds" in a.fields:
                thick = np.diff(np.asarray(a.fields["layer_bnds"].values, dtype=float), axis=-1)[:, 0]
                weight = area * thick.reshape((-1,) + (1,) * (vals.ndim - 1 - d.dims.index("layer")))
            if "time" in d.dims and "time_bnds" in fields:
                # (and by the periods' lengths: a flux's total is then the mass moved, a concentration's the mean)
                seconds = np.diff(fields["time_bnds"].values, axis=-1)[:, 0] / np.timedelta64(1, "s")
                weight = weight * seconds.reshape((-1,) + (1,) * (vals.ndim - 1 - d.dims.index("time")))
            sa, sb = float((va * weight).sum()), float((vb * weight).sum())
        else:
            sa, sb = float(va.sum()), float(vb.sum())
        total = f"{100 * (sb - sa) / abs(sa):+.3g}%" if sa != 0 else ("no change" if sb == 0 else "A is zero")
        if np.all(vals == 0):
            lines.append(f"  {v}: identical")
        else:
            lines.append(f"  {v}: largest |B - A| = {abs(vals[idx]):.3e} {units} at lat {lat:g}, lon {lon:g}{when}; "
                         f"domain total change {total}")
    dep = [r for r in receptors if r["quantity"] == "net_deposition_kg" and r["source"] == "ALL"
           and np.isfinite(r["difference"])]
    if dep:
        dep.sort(key=lambda r: -abs(r["difference"]))
        lines.append("  receptors with the largest change in net deposition:")
        for r in dep[:5]:
            rel = f"{100 * r['relative_difference']:+.3g}%" if np.isfinite(r["relative_difference"]) else "n/a"
            lines.append(f"    {r['receptor']}: {r['a']:.4g} -> {r['b']:.4g} kg ({r['difference']:+.4g} kg, {rel})")
    elif a.attribution is None or b.attribution is None:
        lines.append("  receptor tables not compared: a run is untagged")
    elif receptors:
        only = {side: sorted({r["receptor"] for r in receptors if np.isfinite(r[side])}) for side in ("a", "b")}
        lines.append(f"  receptor tables not compared: the runs have no receptor in common (A: {name_list(only['a'])}; "
                     f"B: {name_list(only['b'])}); receptor_difference.csv has each run's rows, NaN in the other's "
                     "column")
    if _is_scenario(a) or _is_scenario(b):
        lines.append("  budget not compared: a scenario is a weighted sum of a run's tags, with no budget of its own")
    for side, other, name in (("a", "b", "A"), ("b", "a", "B")):
        only = [r["term"] for r in budget if np.isnan(r[other]) and not np.isnan(r[side])]
        if only:
            lines.append(f"  budget terms only run {name} has (NaN in the other's column of budget_difference.csv; the "
                         f"other run has no such process or was made by another version): {', '.join(only)}")
    emitted = [r for r in budget if r["term"].startswith("emitted_")]
    if emitted:
        ea = sum(r["a"] for r in emitted)
        eb = sum(r["b"] for r in emitted)
        lines.append(f"  emitted: {ea:.4g} -> {eb:.4g} kg")
    return "\n".join(lines)


def _write_csv(path: Path, header: list[str], rows: list[dict], comment: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(f"# {comment}\n")
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([repr(r[h]) if isinstance(r[h], float) else r[h] for h in header])


def compare_runs(run_a: RunResults | str | Path, run_b: RunResults | str | Path, out_dir: str | Path | None = None,
                 overwrite: bool = False) -> Comparison:
    """Compare run B with run A (B minus A) and write the difference files to ``out_dir``.

    Parameters
    ----------
    run_a, run_b
        Run directories, scenario folders (see the module documentation) or :class:`RunResults`.
    out_dir
        Output folder (``None``: nothing is written). Existing comparison files are not replaced unless
        ``overwrite``.

    Returns
    -------
    Comparison
        The differences as xarray / rows and the summary text.
    """
    a = _open(run_a)
    b = _open(run_b)
    if _is_scenario(a) or _is_scenario(b):
        a, b = _as_scenario_fields(a), _as_scenario_fields(b)
    _check_grid(a, b)
    ia, ib = _common_periods(a, b)
    if not ia:
        _check_same_span(a, b)
    fields, how = _field_differences(a, b)
    receptors = _receptor_rows(a, b, ia, ib)
    budget = _budget_rows(a, b, ia, ib)
    summary = _summary(a, b, fields, how, receptors, budget)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        names = ("fields_difference.nc", "receptor_difference.csv", "budget_difference.csv", "summary.txt")
        if out.exists() and not out.is_dir():
            raise CompareError(f"output path {str(out)!r} exists and is not a directory; choose another --out")
        existing = [n for n in names if (out / n).exists()]
        if existing and not overwrite:
            raise CompareError(f"output directory {str(out)!r} already holds a comparison ({', '.join(existing)}); "
                               "choose another --out or pass --overwrite")
        out.mkdir(parents=True, exist_ok=True)
        comment = (f"{fields.attrs['source']} comparison, B minus A; A = {a.path}, B = {b.path}; "
                   f"created {fields.attrs['created']}")
        partial = {n: out / f".{n}.partial" for n in names}
        try:
            fields.to_netcdf(partial["fields_difference.nc"], encoding=cf_encoding(fields))
            _write_csv(partial["receptor_difference.csv"],
                       ["quantity", "receptor", "source", "a", "b", "difference", "relative_difference"], receptors,
                       comment + "; net_deposition_kg summed, air_concentration_kg_m3 averaged over the periods")
            _write_csv(partial["budget_difference.csv"], ["term", "a", "b", "difference", "relative_difference"],
                       budget, comment + "; kg; burdens at the first start and last end, other terms summed")
            partial["summary.txt"].write_text(summary + "\n", encoding="utf-8")
            for n in names:
                os.replace(partial[n], out / n)
        finally:
            for p in partial.values():
                p.unlink(missing_ok=True)
    return Comparison(out, fields, receptors, budget, summary)


__all__ = ["CompareError", "Comparison", "compare_runs"]
