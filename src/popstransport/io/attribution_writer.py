"""Writers of source-attribution outputs and scenario results from a tagged run.

Files in the run directory:

- ``attribution.nc``: dimensions ``time``, ``source``, ``receptor``, ``region_from``, ``region_to``; variables
  ``deposition`` (net: wet + dry + net air-surface exchange), ``wet_deposition``, ``dry_deposition``,
  ``air_surface_exchange`` (kg per period, source x receptor), ``air_concentration`` (kg m-3, lowest layer,
  area-weighted mean over the receptor), ``emission`` (kg per period per source), ``border_flux`` (kg per period,
  gross, region_from x region_to) and ``net_border_flux``; with border fluxes also ``region_air_budget`` (kg per
  period, region x air_budget_term: the air compartment's budget of every region, the receptors and OTHER, see
  :func:`popstransport.attribution.region_air_budget`);
- ``tag_fields.nc``: per-source maps (``deposition_flux``, ``air_concentration`` of the lowest layer) per period,
  from which scenario fields are weighted sums;
- ``source_receptor_deposition.csv``: the deposition matrix of the whole run for spreadsheets: receptors in rows,
  the total, the kg from each source, the share of each source, and the foreign share (everything not from the
  receptor's own tag nor from the initial burden);
- ``border_flux.csv``: gross and net flux of every ordered region pair over the whole run;
- ``region_air_budget.csv``: the air budget of every region (receptors and OTHER) in every period: burdens at the
  start and end, emission, net horizontal inflow across its borders, wet and dry deposition, net air-surface
  exchange, degradation, the residual and the residual relative to the largest term.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import xarray as xr

from ..attribution import (
    INITIAL,
    OTHER,
    OUTSIDE,
    REGION_AIR_BUDGET_TERMS,
    AttributionError,
    apply_scenario,
    border_flux_by_tag,
    border_flux_matrix,
    border_fraction,
    receptor_deposition_kg,
    receptor_mean_concentration,
    region_air_budget,
    scenario_weights,
)
from ..config import scenario_name_problem
from .writers import (
    NetCDFParts,
    OutputExistsError,
    RunDirectory,
    _days,
    add_history,
    cf_encoding,
    create_time_and_grid,
    limit_chunk_cache,
    written_by,
)

KINDS = ("wet_deposition", "dry_deposition", "air_surface_exchange")


class AttributionWriter:
    """Collects receptor statistics and border fluxes per period and writes the attribution files on success.

    Parameters
    ----------
    run_dir
        The run directory.
    sources
        Tag names (first axis of the model state).
    receptor_codes, receptor_fraction
        Receptor regions and their area fractions ``(R, J, I)``.
    attributes
        Global attributes (version, configuration, creation time).
    border_fluxes, border_fluxes_by_source
        Track border fluxes (needs face accumulation in the simulation), and per source tag.
    receptor_area_m2, receptor_whole_area_m2
        Every receptor's area in the domain and its whole area on the sphere, its parts outside the domain included
        (m2, ``(R,)``; either may be ``None``; :func:`popstransport.run.receptor_areas`): ``attribution.nc`` then
        gives them, so that the row of a receptor the domain cuts, or of a sub-grid island, can be read per area.
    """

    TAG_FIELDS = "tag_fields.nc"
    ATTRIBUTION = "attribution.nc"

    def __init__(
        self,
        run_dir: RunDirectory,
        sources: tuple[str, ...],
        receptor_codes: list[str],
        receptor_fraction: np.ndarray,
        attributes: dict[str, str],
        border_fluxes: bool = True,
        border_fluxes_by_source: bool = False,
        receptor_area_m2: np.ndarray | None = None,
        receptor_whole_area_m2: np.ndarray | None = None,
    ):
        self.run_dir = run_dir
        self.receptor_area_m2 = receptor_area_m2
        self.receptor_whole_area_m2 = receptor_whole_area_m2
        self.sources = tuple(sources)
        self.receptors = list(receptor_codes)
        self.receptor_fraction = receptor_fraction
        self.border_regions = [*self.receptors, OTHER]
        self.border_fraction = border_fraction(receptor_fraction)
        self.attributes = attributes
        self.border_fluxes = border_fluxes
        self.by_source = border_fluxes_by_source
        self.periods: list[dict[str, Any]] = []
        #: the parts of ``tag_fields.nc`` (see :meth:`checkpoint`), on the grid of the periods written
        self.tag_fields = NetCDFParts(run_dir, self.TAG_FIELDS, self._create_tag_fields)
        self._grid: Any = None
        #: periods of :attr:`periods` in the tables file, and its length in bytes (see :meth:`checkpoint`)
        self._tables_count, self._tables_bytes = 0, 0

    def write_period(self, period: Any, model: Any) -> None:
        """Reduce one period's per-tag fields to receptor tables and border fluxes."""
        if period.tag_mean_air_kg is None:
            raise AttributionError("attribution needs per-tag accumulations: run the simulation with per_tag=True")
        grid = model.grid
        area = grid.cell_area_m2
        rec: dict[str, Any] = {"start": period.start, "end": period.end}
        for kind in KINDS:
            rec[kind] = receptor_deposition_kg(period.tag_deposition_kg[kind], self.receptor_fraction)
        rec["deposition"] = sum(rec[k] for k in KINDS)
        conc0 = period.tag_mean_air_kg[:, 0] / grid.air_volume_m3()[0][None]
        rec["air_concentration"] = receptor_mean_concentration(conc0, self.receptor_fraction, area)
        rec["emission"] = period.tag_emission_kg.sum(axis=(1, 2))
        if self.border_fluxes:
            if period.face_mass_kg is None:
                raise AttributionError("border fluxes need face accumulation: run the simulation with track_faces=True")
            fm = period.face_mass_kg
            args = (fm["u_east"], fm["u_west"], fm["v_north"], fm["v_south"])
            faces = getattr(period, "face_index", None)
            rec["border_flux"] = border_flux_matrix(self.border_fraction, *args, periodic=grid.is_periodic, faces=faces)
            cells = getattr(period, "air_cell_budget_kg", None)
            if cells is not None:
                terms = region_air_budget(self.border_fraction, cells, rec["border_flux"])
                rec["region_air_budget"] = np.stack([terms[k] for k in REGION_AIR_BUDGET_TERMS], axis=1)
            if self.by_source:
                if not getattr(period, "face_mass_per_tag", True):
                    raise AttributionError("border fluxes by source need face accumulation per tag: run the "
                                           "simulation with faces_per_tag=True")
                rec["border_flux_by_source"] = border_flux_by_tag(self.border_fraction, *args, periodic=grid.is_periodic,
                                                                  faces=faces)
        dep_field = sum(period.tag_deposition_kg[k] for k in KINDS) / (area[None] * period.seconds)
        self._grid = grid
        ds = self.tag_fields.open()
        n = len(ds.dimensions["time"])
        ds["time"][n] = 0.5 * (_days(period.start) + _days(period.end))
        ds["time_bnds"][n, :] = [_days(period.start), _days(period.end)]
        ds["deposition_flux"][n] = dep_field
        ds["air_concentration"][n] = conc0
        self.periods.append(rec)

    def _create_tag_fields(self, path: Path) -> netCDF4.Dataset:
        """A new part of ``tag_fields.nc`` with the grid, the sources and the variables, and no period yet."""
        grid = self._grid
        ds = netCDF4.Dataset(path, "w")
        ds.Conventions = "CF-1.10"
        ds.title = "popstransport per-source fields (lowest-layer air concentration and net deposition flux)"
        for k, v in self.attributes.items():
            ds.setncattr(k, v)
        create_time_and_grid(ds, grid)
        ds.createDimension("source", len(self.sources))
        # (names as a UTF-8 character array, which CDO reads, not as netCDF-4 strings, as cf_encoding writes them)
        width = max(len(name.encode("utf-8")) for name in self.sources)
        ds.createDimension("source_strlen", width)
        s = ds.createVariable("source", "S1", ("source", "source_strlen"))
        s._Encoding = "utf-8"
        s.long_name = "source tag (region of emission, OTHER, BOUNDARY or INITIAL)"
        s[:] = np.array(self.sources, dtype=f"U{width}")
        v = limit_chunk_cache(ds.createVariable("deposition_flux", "f8", ("time", "source", "lat", "lon"), zlib=True,
                                               complevel=1))
        v.units, v.long_name = "kg m-2 s-1", "net deposition flux (wet + dry + net air-surface exchange) by source"
        v.cell_methods = "time: mean area: mean"
        v = limit_chunk_cache(ds.createVariable("air_concentration", "f8", ("time", "source", "lat", "lon"),
                                               zlib=True, complevel=1))
        v.units, v.long_name = "kg m-3", "time-mean air concentration of the lowest layer by source"
        v.cell_methods = "time: mean area: mean"
        return ds

    def dataset(self) -> xr.Dataset:
        """The attribution results as an xarray Dataset."""
        p = self.periods
        time = np.array([np.datetime64(r["start"], "s") + (np.datetime64(r["end"], "s") - np.datetime64(r["start"], "s")) / 2
                         for r in p])
        bnds = np.array([[np.datetime64(r["start"], "s"), np.datetime64(r["end"], "s")] for r in p])
        ds = xr.Dataset(coords={"time": time, "source": list(self.sources), "receptor": self.receptors})
        ds["time_bnds"] = (("time", "bnds"), bnds)
        ds["time"].attrs.update(bounds="time_bnds", standard_name="time", long_name="middle of the period")
        ds["source"].attrs.update(long_name="source tag (region of emission, OTHER, BOUNDARY or INITIAL)")
        ds["receptor"].attrs.update(long_name="receptor region")
        for kind in ("deposition", *KINDS):
            ds[kind] = (("time", "source", "receptor"), np.stack([r[kind] for r in p]))
            ds[kind].attrs.update(units="kg", long_name=f"{kind.replace('_', ' ')} onto the receptor per period by source"
                                  + (" (net: wet + dry + net air-surface exchange)" if kind == "deposition" else ""),
                                  cell_methods="time: sum")
        ds["air_concentration"] = (("time", "source", "receptor"), np.stack([r["air_concentration"] for r in p]))
        ds["air_concentration"].attrs.update(units="kg m-3", long_name="area-weighted mean lowest-layer air "
                                             "concentration over the receptor by source", cell_methods="time: mean")
        ds["emission"] = (("time", "source"), np.stack([r["emission"] for r in p]))
        ds["emission"].attrs.update(units="kg", long_name="emission per period by source", cell_methods="time: sum")
        if self.receptor_area_m2 is not None:
            ds["receptor_area"] = (("receptor",), self.receptor_area_m2)
            ds["receptor_area"].attrs.update(units="m2", long_name="area of the receptor in the model domain (the "
                                             "area over which its deposition is summed)")
        if self.receptor_whole_area_m2 is not None:
            ds["receptor_whole_area"] = (("receptor",), self.receptor_whole_area_m2)
            ds["receptor_whole_area"].attrs.update(units="m2", long_name="whole area of the receptor region, its "
                                                   "parts outside the model domain included")
        if self.border_fluxes:
            regions = [*self.border_regions, OUTSIDE]
            ds = ds.assign_coords(region_from=regions, region_to=regions)
            ds["region_from"].attrs.update(long_name="region the flux leaves (OTHER: the rest of the domain, OUTSIDE: "
                                           "beyond its edge)")
            ds["region_to"].attrs.update(long_name="region the flux enters (OTHER: the rest of the domain, OUTSIDE: "
                                         "beyond its edge)")
            gross = np.stack([r["border_flux"] for r in p])
            ds["border_flux"] = (("time", "region_from", "region_to"), gross)
            ds["border_flux"].attrs.update(units="kg", long_name="gross advective flux from region_from to region_to "
                                           "per period", cell_methods="time: sum")
            ds["net_border_flux"] = (("time", "region_from", "region_to"), gross - np.swapaxes(gross, 1, 2))
            ds["net_border_flux"].attrs.update(units="kg", long_name="net advective flux from region_from to region_to "
                                               "per period", cell_methods="time: sum")
            if all("region_air_budget" in r for r in p):
                ds = ds.assign_coords(region=self.border_regions, air_budget_term=list(REGION_AIR_BUDGET_TERMS))
                ds["region"].attrs.update(long_name="region of the air budget (a receptor, or OTHER: the rest of the "
                                          "domain)")
                ds["air_budget_term"].attrs.update(long_name="term of the air budget: burden at the start, emission into "
                                                   "air, net horizontal inflow across the region's borders, wet and dry "
                                                   "deposition, net air-surface exchange (downward), degradation in "
                                                   "air, burden at the end, and the residual (start + emitted + "
                                                   "net_inflow - the losses - end)")
                ds["region_air_budget"] = (("time", "region", "air_budget_term"), np.stack([r["region_air_budget"] for r in p]))
                ds["region_air_budget"].attrs.update(units="kg", long_name="air budget of the region per period (all "
                                                     "layers; cells shared among regions by their area fractions)")
            if self.by_source:
                ds["border_flux_by_source"] = (("time", "source", "region_from", "region_to"),
                                               np.stack([r["border_flux_by_source"] for r in p]))
                ds["border_flux_by_source"].attrs.update(units="kg", long_name="gross border flux by source tag",
                                                         cell_methods="time: sum")
        ds.attrs.update(Conventions="CF-1.10", title="popstransport source-receptor and border-flux matrices",
                        **self.attributes)
        return ds

    @classmethod
    def tables_path(cls, run_dir: RunDirectory) -> Path:
        """The finished periods' tables in ``run_dir``, appended at each checkpoint (``.attribution.nc.partial.records``)."""
        return run_dir.path / f".{cls.ATTRIBUTION}.partial.records"

    def checkpoint(self) -> dict[str, Any]:
        """Close the part of ``tag_fields.nc`` being written and append the receptor tables and border fluxes of the
        periods since the last checkpoint to the records file; return what :meth:`resume` needs (the number of
        parts, of periods and of the records file's bytes). So neither a checkpoint nor its cost grows with the
        length of the run (the tables are a few kilobytes a period, up to a megabyte with border fluxes by source
        of many tags), and the next period starts a new part, so that no part a checkpoint counts is written again
        (see :meth:`popstransport.io.writers.FieldsWriter.checkpoint`)."""
        from ..simulation import append_pickles

        parts = self.tag_fields.checkpoint()
        # (tables appended after the checkpoint before, by a run stopped since, are cut off first)
        self._tables_bytes = append_pickles(self.tables_path(self.run_dir), self._tables_bytes, self.periods[self._tables_count:])
        self._tables_count = len(self.periods)
        return {**parts, "tables": self._tables_count, "tables_bytes": self._tables_bytes}

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after the periods of a checkpoint (from :meth:`checkpoint`)."""
        import pickle

        from ..simulation import CheckpointError, read_pickles

        count, nbytes = state["tables"], state["tables_bytes"]
        path = self.tables_path(self.run_dir)
        try:
            periods = list(read_pickles(path, count, nbytes))
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            raise CheckpointError(f"{path}: the receptor tables of the periods the checkpoint counts cannot be read "
                                  f"({exc}); the run cannot be resumed, run it again from the start") from None
        self.tag_fields.resume(state)
        self.periods = periods
        self._tables_count, self._tables_bytes = count, nbytes

    def suspend(self) -> None:
        """Close ``tag_fields.nc``, keeping its parts for a resumed run (a run stopped after a checkpoint)."""
        self.tag_fields.suspend()

    def close(self, success: bool) -> None:
        """Write all attribution files (only on success)."""
        names = ("attribution.nc", "source_receptor_deposition.csv", "border_flux.csv", "region_air_budget.csv",
                 self.TAG_FIELDS)
        self.suspend()
        if not success or not self.periods:
            for n in names:
                self.run_dir.discard(n)
            return
        self.tag_fields.finish(self.attributes)
        ds = self.dataset()
        ds.to_netcdf(self.run_dir.partial("attribution.nc"), encoding=cf_encoding(ds))
        write_source_receptor_csv(self.run_dir.partial("source_receptor_deposition.csv"), ds, self.attributes)
        if self.border_fluxes:
            write_border_flux_csv(self.run_dir.partial("border_flux.csv"), ds, self.attributes)
            if "region_air_budget" in ds:
                write_region_air_budget_csv(self.run_dir.partial("region_air_budget.csv"), ds, self.attributes)
        for n in names:
            if self.run_dir.partial(n).exists():
                self.run_dir.commit(n)


def foreign_share(receptor: str, sources: list[str], deposition_kg: np.ndarray) -> float:
    """Share of a receptor's deposition that came from other sources than itself (and not from the initial burden)."""
    total = float(np.sum(deposition_kg))
    if total == 0:
        return float("nan")
    own = sum(float(deposition_kg[k]) for k, s in enumerate(sources) if s in (receptor, INITIAL))
    return (total - own) / total


def foreign_share_lower(receptor: str, sources: list[str], deposition_kg: np.ndarray, own_in_other: bool) -> float:
    """Lower bound of :func:`foreign_share`: with ``own_in_other`` (tags of a list of regions) a receptor that is
    not a source tag has its own emissions inside ``OTHER``, so only the named sources count as foreign; otherwise
    the foreign share itself."""
    total = float(np.sum(deposition_kg))
    if not own_in_other or receptor in sources or OTHER not in sources or total == 0:
        return foreign_share(receptor, sources, deposition_kg)
    return sum(float(deposition_kg[k]) for k, s in enumerate(sources) if s not in (receptor, OTHER, INITIAL)) / total


def own_emissions_in_other(attributes: dict[str, str]) -> bool:
    """Whether the run of these output attributes tagged a list of regions (``attribution.tags = "list"``), so
    that the emissions of a region without a tag of its own are inside ``OTHER``."""
    import tomllib

    try:
        cfg = tomllib.loads(attributes.get("configuration", ""))
    except tomllib.TOMLDecodeError:
        return True  # (unknown: the lower bound is the safe statement)
    return str(cfg.get("attribution", {}).get("tags", "")) != "countries"


def _number(value: float) -> str:
    """A table's number as the shortest text that reads back as the same float (as ``budget.csv`` writes them): the
    tables had 7 significant digits, which hid a distant source's small share (0.000000) and the differences between
    scenarios and runs below 1e-7."""
    return repr(float(value))


def write_source_receptor_csv(path: Path, ds: xr.Dataset, attributes: dict[str, str]) -> None:
    """Deposition matrix of the whole run: a row per receptor, kg and shares per source, foreign share (and its
    lower bound, which differs from it for receptors without a tag of their own in a run that tags a list of
    regions: their own emissions are inside ``OTHER``)."""
    dep = ds["deposition"].sum("time")
    sources = [str(s) for s in ds["source"].values]
    own_in_other = own_emissions_in_other(attributes)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(f"# {written_by(attributes)} source-receptor deposition "
                 f"(net deposition, kg over the whole run; shares of the receptor total); created "
                 f"{attributes.get('created', '')}\n")
        w = csv.writer(fh)
        w.writerow(["receptor", "total_kg", *[f"from_{s}_kg" for s in sources], *[f"share_{s}" for s in sources],
                    "foreign_share", "foreign_share_lower"])
        for r in ds["receptor"].values:
            row = dep.sel(receptor=r).values
            total = float(row.sum())
            shares = [float(v) / total if total else float("nan") for v in row]
            w.writerow([str(r), _number(total), *map(_number, row), *map(_number, shares),
                        _number(foreign_share(str(r), sources, row)),
                        _number(foreign_share_lower(str(r), sources, row, own_in_other))])
        totals = dep.sum("receptor").values
        w.writerow(["ALL_RECEPTORS", _number(totals.sum()), *map(_number, totals),
                    *[_number(float(v) / float(totals.sum()) if totals.sum() else float("nan")) for v in totals], "", ""])


def write_border_flux_csv(path: Path, ds: xr.Dataset, attributes: dict[str, str]) -> None:
    """Gross and net flux of every ordered region pair over the whole run, largest gross first."""
    gross = ds["border_flux"].sum("time")
    rows = []
    regions = [str(v) for v in ds["region_from"].values]
    for a_i, a in enumerate(regions):
        for b_i, b in enumerate(regions):
            g = float(gross.values[a_i, b_i])
            if a != b and (g > 0 or float(gross.values[b_i, a_i]) > 0):
                rows.append((a, b, g, g - float(gross.values[b_i, a_i])))
    rows.sort(key=lambda r: -r[2])
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(f"# {written_by(attributes)} border fluxes (kg over the whole run); "
                 f"created {attributes.get('created', '')}\n")
        w = csv.writer(fh)
        w.writerow(["region_from", "region_to", "gross_kg", "net_kg"])
        for a, b, g, n in rows:
            w.writerow([a, b, _number(g), _number(n)])


def relative_residual(budget_kg: np.ndarray) -> np.ndarray:
    """The residual of region air budgets ``(..., air_budget_term)`` (terms in the order of
    :data:`~popstransport.attribution.REGION_AIR_BUDGET_TERMS`) relative to their largest term (0 where all are 0)."""
    budget_kg = np.asarray(budget_kg, dtype=float)
    largest = np.abs(budget_kg[..., :-1]).max(axis=-1)
    residual = budget_kg[..., -1]
    return np.divide(np.abs(residual), largest, out=np.zeros_like(residual), where=largest > 0)


def write_region_air_budget_csv(path: Path, ds: xr.Dataset, attributes: dict[str, str]) -> None:
    """The air budget of every region in every period: a row per period and region, a column per term (kg), and the
    residual relative to the largest term."""
    values = ds["region_air_budget"].transpose("time", "region", "air_budget_term").values
    terms = [str(t) for t in ds["air_budget_term"].values]
    relative = relative_residual(values)
    bnds = ds["time_bnds"].values
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(f"# {written_by(attributes)} air budget of every region (kg per period, all air layers; inputs "
                 "burden_start, emitted, net_inflow; outputs wet_deposition, dry_deposition, air_surface_exchange, "
                 f"degraded, burden_end; residual = inputs - outputs); created {attributes.get('created', '')}\n")
        w = csv.writer(fh)
        w.writerow(["period_start", "period_end", "region", *[f"{t}_kg" for t in terms], "relative_residual"])
        for n in range(values.shape[0]):
            for k, region in enumerate(ds["region"].values):
                w.writerow([str(np.datetime64(bnds[n, 0], "s")), str(np.datetime64(bnds[n, 1], "s")), str(region),
                            *map(_number, values[n, k]), _number(relative[n, k])])


def write_scenario(run_dir: str | Path, scale: dict[str, float], name: str = "", overwrite: bool = False) -> Path:
    """Scenario results from a tagged run: tables and fields as weighted sums of the tag results; no model run.

    Writes ``RUN_DIR/scenarios/NAME/`` with ``attribution.nc`` (scaled matrices), ``fields.nc`` (net deposition
    flux and lowest-layer air concentration maps) and ``source_receptor_deposition.csv``.
    """
    run_dir = Path(run_dir)
    RunDirectory.recover(run_dir)  # (a run that stopped while putting its files in place)
    att_path = run_dir / "attribution.nc"
    if not att_path.exists():
        raise AttributionError(
            f"{att_path} not found: scenarios need a tagged run (set attribution.tags = 'countries' or 'list')"
        )
    att = xr.load_dataset(att_path)
    sources = [str(s) for s in att["source"].values]
    w = scenario_weights(sources, scale)
    label = name or "_".join(f"{k}{v:g}" for k, v in sorted(scale.items()))
    problem = scenario_name_problem(label)
    if problem:
        raise AttributionError(f"scenario name {label!r}: {problem}")
    try:
        out = RunDirectory(run_dir / "scenarios" / label, overwrite=overwrite)
    except OutputExistsError as exc:
        raise OutputExistsError(f"{run_dir / 'scenarios' / label}: scenario {label!r} of this run exists already; give "
                                "the new one another name (--name) or pass --overwrite to replace it") from exc
    wa = xr.DataArray(w, dims="source", coords={"source": att["source"]})
    scen = att.copy()
    for var in ("deposition", "wet_deposition", "dry_deposition", "air_surface_exchange", "air_concentration", "emission"):
        scen[var] = att[var] * wa
    if "border_flux_by_source" in att:
        scen["border_flux_by_source"] = att["border_flux_by_source"] * wa
        scen["border_flux"] = scen["border_flux_by_source"].sum("source")
        scen["net_border_flux"] = scen["border_flux"] - scen["border_flux"].rename(
            region_from="region_to", region_to="region_from").transpose(*scen["border_flux"].dims)
        for var in ("border_flux", "net_border_flux"):
            scen[var].attrs = dict(att[var].attrs)  # (not those of border_flux_by_source they are formed from)
    elif "border_flux" in att:
        scen = scen.drop_vars(["border_flux", "net_border_flux"])
        scen.attrs["note"] = "border fluxes need attribution.border_fluxes_by_source to be scaled by source"
    if "region_air_budget" in scen:
        # (the regions' air budgets are of all sources together: a scenario has none)
        scen = scen.drop_vars(["region_air_budget", "region", "air_budget_term"])
    scen.attrs["scenario_scale"] = ",".join(f"{k}={v:g}" for k, v in sorted(scale.items()))
    scen.attrs["history"] = add_history(att.attrs, f"scenario {scen.attrs['scenario_scale']} ({label})")
    try:
        scen.to_netcdf(out.partial("attribution.nc"), encoding=cf_encoding(scen))
        write_source_receptor_csv(out.partial("source_receptor_deposition.csv"), scen, dict(att.attrs))
        tf_path = run_dir / "tag_fields.nc"
        if tf_path.exists():
            with xr.load_dataset(tf_path) as tf:
                fields = xr.Dataset({
                    "deposition_flux": apply_scenario_da(tf["deposition_flux"], wa),
                    "air_concentration": apply_scenario_da(tf["air_concentration"], wa),
                })
                for var in ("deposition_flux", "air_concentration"):
                    # (a weighted sum over the sources, no longer a field 'by source')
                    fields[var].attrs["long_name"] = (str(fields[var].attrs.get("long_name", var)).removesuffix(
                        " by source") + ", sum over the sources weighted by the scenario's scales")
                for var in ("time_bnds", "lat_bnds", "lon_bnds"):
                    if var in tf:
                        fields[var] = tf[var]
                fields.attrs.update(dict(tf.attrs), scenario_scale=scen.attrs["scenario_scale"],
                                    history=add_history(tf.attrs, f"scenario {scen.attrs['scenario_scale']} ({label})"),
                                    title="popstransport scenario fields (lowest-layer air concentration and net "
                                          "deposition flux: the tags' fields weighted by the scenario's scales)")
                fields.to_netcdf(out.partial("fields.nc"),
                                 encoding=cf_encoding(fields, compress=("deposition_flux", "air_concentration")))
        with out.committing():
            for n in ("attribution.nc", "source_receptor_deposition.csv", "fields.nc"):
                if out.partial(n).exists():
                    out.commit(n)
    except BaseException:
        for n in ("attribution.nc", "source_receptor_deposition.csv", "fields.nc"):
            out.discard(n)
        out.cleanup_if_empty()
        raise
    return out.path


def check_scenarios(scenarios: Sequence[dict[str, Any]], sources: Sequence[str], where: str = "") -> None:
    """Refuse ``[[scenarios]]`` that scale a source which is not a tag of the run, before the run.

    Parameters
    ----------
    scenarios
        The ``[[scenarios]]`` tables of the configuration (``name``, ``scale``).
    sources
        The run's source tag names (``RunSetup.tags.names``), which the scales may name.
    where
        Prefix of the message (the configuration file).

    Raises
    ------
    ConfigError
        Naming the scenario, the unknown source and the run's tags.
    """
    from ..attribution import boundary_hint
    from ..config import ConfigError, scenario_name

    sources = list(sources)
    for k, sc in enumerate(scenarios):
        unknown = [code for code in sc["scale"] if code not in sources]
        if unknown:
            raise ConfigError(
                f"{where}scenarios[{k}].scale (scenario {scenario_name(sc, k)!r}) names {', '.join(map(repr, unknown))}, "
                f"which is not a source tag of this run; the tags are {', '.join(sources)} (set by attribution.tags "
                "and attribution.regions): scale one of them or tag that region" + boundary_hint(unknown)
            )


def apply_scenario_da(field: xr.DataArray, weights: xr.DataArray) -> xr.DataArray:
    """Weighted sum over the ``source`` dimension, keeping attributes."""
    out = (field * weights).sum("source")
    out.attrs.update(field.attrs)
    return out


__all__ = ["AttributionWriter", "apply_scenario", "check_scenarios", "write_scenario"]
