"""Reading a run directory back: :func:`open_run` returns its datasets and tables as xarray objects, with plots.

>>> run = open_run("runs/asia_pacific")            # doctest: +SKIP
>>> run.fields["air_concentration"]                # the fields.nc variables (SI units)
>>> run.source_receptor                            # receptor x source deposition (kg), shares, foreign share
>>> run.plot_deposition(period="2010-07")          # a matplotlib Figure
>>> run.fields["soil_burden"].isel(time=0).pops.map()   # any (lat, lon) field, via the "pops" accessor

Periods (``period=`` here, ``--period`` on the command line) select whole output periods:

- ``None`` or ``"all"``: every period of the run;
- ``"2010"``, ``"2010-07"``, ``"2010-07-15"``: the periods overlapping that year, month or day;
- ``"2010-03-01/2010-06-01"``: the periods overlapping that interval;
- ``"0"``, ``"-1"``: a period by its index (the first, the last).

Maps show the duration-weighted mean of the selected periods; tables (deposition, border fluxes, kg) their sum.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .constants import SECONDS_PER_YEAR


class RunResultsError(ValueError):
    """A run directory or a period selection that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class PeriodSelection:
    """Whole output periods selected by a period specification.

    Attributes
    ----------
    indices
        Indices of the selected periods along ``time``.
    start, end
        The interval they cover.
    seconds
        Length of every selected period (s), the weights of time means.
    """

    indices: tuple[int, ...]
    start: np.datetime64
    end: np.datetime64
    seconds: np.ndarray
    whole_run: bool

    @property
    def label(self) -> str:
        """``2010-07``, ``2010``, or ``2010-01-01 to 2010-03-01``."""
        from .plotting import period_label

        return period_label(self.start, self.end)


def parse_period(spec: str | int | None) -> tuple[np.datetime64, np.datetime64] | int | None:
    """A period specification as an interval ``[start, end)``, an index, or ``None`` (everything).

    A string of digits is an index, except four digits, which are a year (``"2010"``); a negative string (``"-1"``,
    ``"-1200"``) is always an index. So an index of four digits (an hourly run's period 1000..9999) is given as a
    number in Python, or counted from the end."""
    if spec is None:
        return None
    if isinstance(spec, (bool, np.bool_)):
        raise RunResultsError(f"period {spec!r}: a truth value is not a period; use 'all', a year (2010), a month "
                              "(2010-07), an interval (2010-03-01/2010-06-01) or an index (0, -1)")
    if isinstance(spec, (int, np.integer)):
        return int(spec)
    text = str(spec).strip()
    if text in ("", "all"):
        return None
    if re.fullmatch(r"-\d+|\d{1,3}|\d{5,}", text):
        return int(text)
    try:
        interval = calendar_interval(text)
        if interval is None:
            t = np.datetime64(text, "s")
            return t, t
    except EmptyIntervalError:
        raise RunResultsError(f"period {text!r}: the end must be later than the start") from None
    except ValueError:
        raise RunResultsError(
            f"period {text!r} is not understood; use 'all', a year (2010), a month (2010-07), a day (2010-07-15), "
            "an interval (2010-03-01/2010-06-01) or an index (0, -1)"
        ) from None
    return interval


class EmptyIntervalError(ValueError):
    """An interval ``START/END`` whose end is not later than its start."""


def calendar_interval(text: str) -> tuple[np.datetime64, np.datetime64] | None:
    """The interval ``[start, end)`` (datetime64 in s) of a year (``2010``), a month (``2010-07``), a day
    (``2010-07-15``) or ``START/END`` (END not included), or ``None`` for any other text (an instant, say). Raises
    :class:`ValueError` for a date that does not exist and :class:`EmptyIntervalError` for an end not after its
    start."""
    t = text.strip()
    if "/" in t:
        a, b = t.split("/", 1)
        start, end = np.datetime64(a.strip(), "s"), np.datetime64(b.strip(), "s")
        if not end > start:
            raise EmptyIntervalError("the end of the period must be later than its start")
        return start, end
    for pattern, unit in ((r"\d{4}", "Y"), (r"\d{4}-\d{2}", "M"), (r"\d{4}-\d{2}-\d{2}", "D")):
        if re.fullmatch(pattern, t):
            first = np.datetime64(t, unit)
            return np.datetime64(first, "s"), np.datetime64(first + np.timedelta64(1, unit), "s")
    return None


def select_periods(time_bnds: np.ndarray, spec: str | int | None) -> PeriodSelection:
    """The output periods (rows of ``time_bnds``, ``(N, 2)`` datetime64) chosen by ``spec`` (see the module doc)."""
    b = np.asarray(time_bnds).astype("datetime64[s]")
    n = b.shape[0]
    if n == 0:
        raise RunResultsError("the run has no output periods")
    parsed = parse_period(spec)
    available = f"the run has {n} periods from {b[0, 0]} to {b[-1, 1]}"
    if parsed is None:
        idx = list(range(n))
    elif isinstance(parsed, int):
        if not -n <= parsed < n:
            raise RunResultsError(f"period index {parsed} is out of range: {available} (indices 0..{n - 1})")
        idx = [parsed % n]
    else:
        a, e = parsed
        if a == e:
            idx = [k for k in range(n) if b[k, 0] <= a < b[k, 1] or (k == n - 1 and a == b[k, 1])]
        else:
            idx = [k for k in range(n) if b[k, 0] < e and b[k, 1] > a]
        if not idx:
            raise RunResultsError(f"period {spec!r} lies outside the run: {available}")
    seconds = np.array([(b[k, 1] - b[k, 0]) / np.timedelta64(1, "s") for k in idx], dtype=float)
    return PeriodSelection(tuple(idx), b[idx[0], 0], b[idx[-1], 1], seconds, whole_run=len(idx) == n)


def _load(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def _weighted_mean(da: xr.DataArray, sel: PeriodSelection) -> xr.DataArray:
    part = da.isel(time=list(sel.indices))
    w = xr.DataArray(sel.seconds / sel.seconds.sum(), dims="time", coords={"time": part["time"]})
    out = (part * w).sum("time")
    out.attrs.update(da.attrs)
    out.attrs["period"] = f"{sel.start} to {sel.end}"
    return out


class RunResults:
    """The outputs of one run directory as xarray objects, with plotting methods.

    Use :func:`open_run`. Datasets are read into memory (the files are closed at once).

    Attributes
    ----------
    path
        The run directory.
    fields
        ``fields.nc``: period means on the grid (SI units; see :class:`popstransport.io.writers.FieldsWriter`).
    budget
        ``budget.nc``: every budget term per period (kg) and the relative closure error.
    attribution
        ``attribution.nc`` of a tagged run (``None`` for an untagged run).
    tag_fields
        ``tag_fields.nc`` (per-source maps) of a tagged run, or ``None``.
    config
        The resolved configuration (``config.toml``) as nested dicts; :attr:`config_text` is the file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise RunResultsError(f"run directory {str(self.path)!r} does not exist; give the --out folder of a run")
        from .io.writers import OutputExistsError, RunDirectory

        try:
            RunDirectory.recover(self.path)  # (a run that stopped while putting its files in place)
        except OutputExistsError as exc:
            raise RunResultsError(str(exc)) from exc
        fields = self.path / "fields.nc"
        if not fields.is_file():
            if any((self.path / n).is_file() for n in RunDirectory.ENSEMBLE_FILES):
                members = sorted(p.name for p in (self.path / "members").glob("member_*") if (p / "fields.nc").is_file())
                first = f" ({self.path / 'members' / members[0]} .. {members[-1]})" if members else ""
                raise RunResultsError(
                    f"{self.path}: an ensemble folder, not a run: open one of its members{first}, or read "
                    "ensemble_summary.nc (the members' median and percentiles) and ensemble_members.csv with xarray")
            partial = sorted(p.name for p in self.path.glob(".*.partial"))
            hint = (f" (only partial files {partial}: the run did not finish)" if partial else
                    "; give the --out folder of a finished popstransport run")
            raise RunResultsError(f"{self.path}: fields.nc not found{hint}")
        self.fields: xr.Dataset = _load(fields)
        budget = self.path / "budget.nc"
        if not budget.is_file():
            if "scenario_scale" in self.fields.attrs:
                raise RunResultsError(
                    f"{self.path}: a scenario folder (scale {self.fields.attrs['scenario_scale']}) holds weighted sums of "
                    "a tagged run's deposition and air concentration, not a run: compare it with its run (popstransport "
                    f"compare {self.path.resolve().parent.parent} {self.path}), or read its files (fields.nc, "
                    "attribution.nc, source_receptor_deposition.csv) with xarray or pandas")
            raise RunResultsError(f"{self.path}: budget.nc not found; the run directory is incomplete, run it again")
        self.budget: xr.Dataset = _load(budget)
        att = self.path / "attribution.nc"
        self.attribution: xr.Dataset | None = _load(att) if att.is_file() else None
        tf = self.path / "tag_fields.nc"
        self.tag_fields: xr.Dataset | None = _load(tf) if tf.is_file() else None
        cfg = self.path / "config.toml"
        self.config_text = cfg.read_text(encoding="utf-8") if cfg.is_file() else str(
            self.fields.attrs.get("configuration", ""))
        try:
            self.config: dict[str, Any] = tomllib.loads(self.config_text)
        except tomllib.TOMLDecodeError:
            self.config = {}

    # basic facts ----------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        n = self.fields.sizes.get("time", 0)
        tagged = "tagged" if self.attribution is not None else "untagged"
        return f"<RunResults {str(self.path)!r}: {n} periods, {tagged}, chemical {self.chemical}>"

    def __enter__(self) -> RunResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the datasets."""
        for ds in (self.fields, self.budget, self.attribution, self.tag_fields):
            if ds is not None:
                ds.close()

    @property
    def chemical(self) -> str:
        """Name of the simulated chemical (from the configuration)."""
        return str(self.config.get("chemical", {}).get("name", "unknown chemical"))

    @property
    def version(self) -> str:
        """Version of popstransport that wrote the run."""
        return str(self.fields.attrs.get("popstransport_version", "unknown"))

    @property
    def created(self) -> str:
        """Creation time of the run's files."""
        return str(self.fields.attrs.get("created", "unknown"))

    @property
    def lon_edges(self) -> np.ndarray:
        """Longitudes of the cell edges (degrees east), length ``nlon + 1``."""
        b = self.fields["lon_bnds"].values
        return np.append(b[:, 0], b[-1, 1])

    @property
    def lat_edges(self) -> np.ndarray:
        """Latitudes of the cell edges (degrees north), length ``nlat + 1``."""
        b = self.fields["lat_bnds"].values
        return np.append(b[:, 0], b[-1, 1])

    @property
    def time_bnds(self) -> np.ndarray:
        """Start and end of every output period, ``(N, 2)`` datetime64[s]."""
        return self.fields["time_bnds"].values.astype("datetime64[s]")

    def select(self, period: str | int | None = None) -> PeriodSelection:
        """The whole output periods chosen by ``period`` (see the module documentation)."""
        return select_periods(self.time_bnds, period)

    # fields in display units ----------------------------------------------------------------------------------
    def field_mean(self, name: str, period: str | int | None = None) -> xr.DataArray:
        """Duration-weighted mean of a ``fields.nc`` variable over the selected periods (SI units)."""
        if name not in self.fields:
            found = [v for v in self.fields.data_vars if "time" in self.fields[v].dims]
            raise RunResultsError(f"{self.path / 'fields.nc'}: no variable {name!r}; it has {found}")
        if "time" not in self.fields[name].dims:
            raise RunResultsError(f"{self.path / 'fields.nc'}: {name!r} does not change with time (no output periods "
                                  f"to average); read it as run.fields[{name!r}]")
        return _weighted_mean(self.fields[name], self.select(period))

    def air_concentration_pg_m3(self, period: str | int | None = None, layer: int = 0) -> xr.DataArray:
        """Mean air concentration of one layer (0: the lowest) in pg m-3, ``(lat, lon)``."""
        nlayer = self.fields.sizes.get("layer", 1)
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -nlayer <= layer < nlayer:
            raise RunResultsError(f"layer {layer!r}: the run has {nlayer} air layers, 0 (the lowest) to {nlayer - 1}")
        da = self.field_mean("air_concentration", period).isel(layer=layer) * 1e15
        da.attrs = {"units": "pg m-3", "long_name": f"air concentration, layer {layer}"}
        return da

    def deposition_ng_m2_yr(self, period: str | int | None = None) -> xr.DataArray:
        """Mean net deposition flux (wet + dry + net air-surface exchange, downward positive), ng m-2 yr-1."""
        sel = self.select(period)
        f = self.fields
        total = sum(_weighted_mean(f[v], sel) for v in ("wet_deposition_flux", "dry_deposition_flux",
                                                        "air_surface_exchange_flux") if v in f)
        da = total * 1e12 * SECONDS_PER_YEAR
        da.attrs = {"units": "ng m-2 yr-1", "long_name": "net deposition flux (wet + dry + air-surface exchange)"}
        return da

    def soil_burden_ng_m2(self, period: str | int | None = None) -> xr.DataArray:
        """Mean soil burden per unit cell area, ng m-2, ``(lat, lon)``."""
        da = self.field_mean("soil_burden", period) * 1e12
        da.attrs = {"units": "ng m-2", "long_name": "soil burden per unit cell area"}
        return da

    # tables ---------------------------------------------------------------------------------------------------
    def _need_attribution(self, what: str) -> xr.Dataset:
        if self.attribution is None:
            raise RunResultsError(
                f"{self.path}: {what} needs a tagged run (attribution.nc is absent); run again with "
                "--set attribution.tags=countries (or 'list' with attribution.regions)"
            )
        return self.attribution

    def source_receptor_for(self, period: str | int | None = None) -> xr.Dataset:
        """Source-receptor deposition over the selected periods.

        Returns
        -------
        xarray.Dataset
            ``deposition`` (kg, ``receptor x source``: net deposition onto the receptor from each source),
            ``share`` (fraction of the receptor's total), ``total`` (kg per receptor), ``foreign_share`` (fraction
            of the receptor's deposition from other sources than itself and the initial burden),
            ``foreign_share_lower`` (equal to ``foreign_share`` except for receptors that are not source tags in a
            run with ``attribution.tags = "list"``: their own emissions are inside ``OTHER``, so the foreign share
            lies between the share of the named sources and ``foreign_share``), ``emission``
            (kg per source), ``air_concentration`` (kg m-3, ``receptor x source``, duration-weighted mean).
        """
        from .io.attribution_writer import foreign_share, foreign_share_lower, own_emissions_in_other

        att = self._need_attribution("a source-receptor table")
        sel = select_periods(att["time_bnds"].values, period)
        part = att.isel(time=list(sel.indices))
        dep = part["deposition"].sum("time").transpose("receptor", "source")
        total = dep.sum("source")
        sources = [str(s) for s in dep["source"].values]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = xr.where(total != 0, dep / total, np.nan)
        fshare = [foreign_share(str(r), sources, dep.sel(receptor=r).values) for r in dep["receptor"].values]
        own_in_other = own_emissions_in_other({"configuration": self.config_text})
        lower = [foreign_share_lower(str(r), sources, dep.sel(receptor=r).values, own_in_other)
                 for r in dep["receptor"].values]
        out = xr.Dataset({
            "deposition": dep.assign_attrs(units="kg", long_name="net deposition onto the receptor by source"),
            "share": share.assign_attrs(units="1", long_name="share of the receptor's deposition"),
            "total": total.assign_attrs(units="kg", long_name="total net deposition onto the receptor"),
            "foreign_share": xr.DataArray(fshare, dims="receptor", coords={"receptor": dep["receptor"]},
                                          attrs={"units": "1", "long_name": "share from other sources than the "
                                                 "receptor itself (and the initial burden)"}),
            "foreign_share_lower": xr.DataArray(lower, dims="receptor", coords={"receptor": dep["receptor"]},
                                                attrs={"units": "1", "long_name": "lower bound of the foreign share: "
                                                       "for a receptor that is not a source tag its own emissions "
                                                       "are in OTHER, so only named sources count as foreign"}),
            "emission": part["emission"].sum("time").assign_attrs(units="kg", long_name="emission by source"),
            "air_concentration": _weighted_mean(part["air_concentration"], select_periods(
                part["time_bnds"].values, None)).transpose("receptor", "source"),
        })
        out.attrs.update(period=f"{sel.start} to {sel.end}", period_label=sel.label)
        return out

    @property
    def source_receptor(self) -> xr.Dataset | None:
        """Source-receptor deposition of the whole run (see :meth:`source_receptor_for`); ``None`` if untagged."""
        return None if self.attribution is None else self.source_receptor_for(None)

    def border_flux_for(self, period: str | int | None = None) -> xr.Dataset:
        """Gross and net border fluxes over the selected periods: ``gross``, ``net`` (kg, ``region_from x
        region_to``)."""
        att = self._need_attribution("border fluxes")
        if "border_flux" not in att:
            raise RunResultsError(f"{self.path}: the run has no border fluxes; run with attribution.border_fluxes = true")
        sel = select_periods(att["time_bnds"].values, period)
        gross = att["border_flux"].isel(time=list(sel.indices)).sum("time")
        net = gross - gross.rename(region_from="region_to", region_to="region_from").transpose(*gross.dims)
        out = xr.Dataset({"gross": gross.assign_attrs(units="kg"), "net": net.assign_attrs(units="kg")})
        out.attrs.update(period=f"{sel.start} to {sel.end}", period_label=sel.label)
        return out

    @property
    def border_fluxes(self) -> xr.Dataset | None:
        """Border fluxes of the whole run (see :meth:`border_flux_for`); ``None`` without them."""
        if self.attribution is None or "border_flux" not in self.attribution:
            return None
        return self.border_flux_for(None)

    def region_air_budget_for(self, period: str | int | None = None) -> xr.Dataset:
        """The air budget of every region (the receptors and ``OTHER``) over the selected periods: one ``(region,)``
        variable per term (kg): ``burden_start`` (at the start of the first period), ``emitted``, ``net_inflow``
        (across the region's borders, from the border-flux matrices), ``wet_deposition``, ``dry_deposition``,
        ``air_surface_exchange`` (net, downward), ``degraded`` (summed over the periods), ``burden_end`` (at the end
        of the last), ``residual`` (summed) and ``relative_residual`` (to the largest term); see
        :func:`popstransport.attribution.region_air_budget`."""
        from .io.attribution_writer import relative_residual

        att = self._need_attribution("region air budgets")
        if "region_air_budget" not in att:
            raise RunResultsError(f"{self.path}: the run has no region air budgets; they come with the border fluxes: "
                                  "run with attribution.border_fluxes = true")
        sel = select_periods(att["time_bnds"].values, period)
        part = att["region_air_budget"].isel(time=list(sel.indices))
        terms = [str(t) for t in att["air_budget_term"].values]
        out = xr.Dataset()
        for t in terms:
            v = part.sel(air_budget_term=t, drop=True)
            v = v.isel(time=0) if t == "burden_start" else v.isel(time=-1) if t == "burden_end" else v.sum("time")
            out[t] = v.drop_vars("time", errors="ignore").assign_attrs(units="kg")
        values = np.stack([out[t].values for t in terms], axis=-1)
        out["relative_residual"] = xr.DataArray(relative_residual(values), dims="region",
                                                coords={"region": out["region"]},
                                                attrs={"units": "1", "long_name": "|residual| / largest term"})
        out.attrs.update(period=f"{sel.start} to {sel.end}", period_label=sel.label)
        return out

    @property
    def region_air_budgets(self) -> xr.Dataset | None:
        """Region air budgets of the whole run (see :meth:`region_air_budget_for`); ``None`` without them."""
        if self.attribution is None or "region_air_budget" not in self.attribution:
            return None
        return self.region_air_budget_for(None)

    def largest_border_fluxes(self, n: int = 15, period: str | int | None = None) -> list[dict[str, Any]]:
        """The ``n`` ordered region pairs with the largest gross flux: dicts with ``region_from``, ``region_to``,
        ``gross_kg``, ``net_kg``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise RunResultsError(f"n = {n!r}: expected the number of region pairs to list, a whole number >= 0")
        bf = self.border_flux_for(period)
        regions = [str(r) for r in bf["region_from"].values]
        g, net = bf["gross"].values, bf["net"].values
        rows = [{"region_from": a, "region_to": b, "gross_kg": float(g[i, j]), "net_kg": float(net[i, j])}
                for i, a in enumerate(regions) for j, b in enumerate(regions) if i != j and g[i, j] > 0]
        rows.sort(key=lambda r: -r["gross_kg"])
        return rows[:n]

    def warnings(self) -> list[str]:
        """Warnings of the run: the lines of ``warnings.txt`` (if the run wrote one) and checks of the outputs."""
        return run_warnings(self)

    # plots ----------------------------------------------------------------------------------------------------
    def _subtitle(self, sel: PeriodSelection, extra: str = "") -> str:
        text = f"{self.chemical}, {sel.label}"
        return f"{text}, {extra}" if extra else text

    def plot_air_concentration(self, period: str | int | None = None, layer: int = 0, ax=None):
        """Map of the mean air concentration (pg m-3) of a layer over the selected periods."""
        from .plotting import MAP_QUANTITIES, plot_map

        sel = self.select(period)
        _, unit, name, cmap = MAP_QUANTITIES["air_concentration"]
        if layer:
            name = f"Air concentration (layer {layer + 1})"
        b = self.fields["layer_bnds"].values[layer] if "layer_bnds" in self.fields else None
        extra = f"layer {b[0]:g}-{b[1]:g} m above ground" if b is not None else ""
        return plot_map(self.air_concentration_pg_m3(period, layer), self.lon_edges, self.lat_edges, name, unit,
                        cmap, self._subtitle(sel, extra), ax=ax)

    def plot_deposition(self, period: str | int | None = None, ax=None):
        """Map of the mean net deposition flux (ng m-2 yr-1) over the selected periods."""
        from .plotting import MAP_QUANTITIES, plot_map

        sel = self.select(period)
        _, unit, name, cmap = MAP_QUANTITIES["deposition"]
        return plot_map(self.deposition_ng_m2_yr(period), self.lon_edges, self.lat_edges, name, unit, cmap,
                        self._subtitle(sel), ax=ax)

    def plot_soil_burden(self, period: str | int | None = None, ax=None):
        """Map of the mean soil burden (ng m-2 of cell area) over the selected periods."""
        from .plotting import MAP_QUANTITIES, plot_map

        sel = self.select(period)
        _, unit, name, cmap = MAP_QUANTITIES["soil_burden"]
        return plot_map(self.soil_burden_ng_m2(period), self.lon_edges, self.lat_edges, name, unit, cmap,
                        self._subtitle(sel), ax=ax)

    def plot_source_receptor(self, period: str | int | None = None, max_receptors: int = 20, max_sources: int = 12):
        """Heatmap of source shares in every receptor's deposition (needs a tagged run)."""
        from .plotting import plot_source_receptor

        sr = self.source_receptor_for(period)
        return plot_source_receptor(sr, subtitle=f"{self.chemical}, {sr.attrs['period_label']}",
                                    max_receptors=max_receptors, max_sources=max_sources)

    def plot_budget(self, period: str | int | None = None):
        """Stacked bars of the mass budget of every selected period."""
        from .plotting import plot_budget

        sel = self.select(period)
        return plot_budget(self.budget.isel(time=list(sel.indices)), subtitle=self._subtitle(sel))

    def plot_region_air_budget(self, period: str | int | None = None, n: int = 12):
        """Stacked bars of the air budgets of the ``n`` regions with the largest emitted + net inflow (needs a run
        with border fluxes)."""
        from .plotting import plot_region_air_budget

        sel = self.select(period)
        return plot_region_air_budget(self.region_air_budget_for(period), subtitle=self._subtitle(sel), n=n)

    def plot_border_fluxes(self, period: str | int | None = None, max_arrows: int = 12):
        """Arrows of the largest net border fluxes and the gross flux matrix (needs a tagged run)."""
        from .plotting import plot_border_fluxes

        bf = self.border_flux_for(period)
        return plot_border_fluxes(bf["gross"], self.lon_edges, self.lat_edges, geometries=self.region_geometries(),
                                  subtitle=f"{self.chemical}, {bf.attrs['period_label']}", max_arrows=max_arrows)

    def region_geometries(self) -> dict[str, list] | None:
        """The run's regions as shapely geometries by code, for maps: ``None`` for the Natural Earth countries (the
        plotting functions' default); for a region file, read again from the path the run's configuration names
        (as given, then relative to the run directory); ``{}`` when that file is gone, so maps name no region."""
        from .io.regions import region_file_geometries

        regions = self.config.get("regions", {})
        source = str(regions.get("source", "natural_earth"))
        if source == "natural_earth":
            return None
        for path in (Path(source), self.path / source):
            if path.is_file():
                with warnings.catch_warnings():  # (the run gave them; a figure need not repeat them)
                    warnings.simplefilter("ignore")
                    return region_file_geometries(path, str(regions.get("name_attribute", "")), warn=False)
        return {}

    def figures(self, period: str | int | None = None) -> dict[str, Any]:
        """Every figure the run supports, by name (``air_concentration``, ``deposition``, ``soil_burden``,
        ``budget``, and for tagged runs ``source_receptor``, ``border_fluxes``)."""
        out = {
            "air_concentration": self.plot_air_concentration(period),
            "deposition": self.plot_deposition(period),
            "soil_burden": self.plot_soil_burden(period),
            "budget": self.plot_budget(period),
        }
        if self.attribution is not None:
            out["source_receptor"] = self.plot_source_receptor(period)
            if "border_flux" in self.attribution:
                out["border_fluxes"] = self.plot_border_fluxes(period)
        return out

    def plot_all(self, out_dir: str | Path | None = None, period: str | int | None = None) -> list[Path]:
        """Write every figure as PNG to ``out_dir`` (default ``RUN_DIR/plots``); returns the paths.

        File names are the figure names (``deposition.png``), with ``_PERIOD`` appended when a period other than
        the whole run is selected. ``period="each"`` writes the maps of every period and the whole-run figures.
        Existing figures of the same name are replaced (they are derived from the run and can be redrawn).
        """
        from .plotting import save_figure

        out = Path(out_dir) if out_dir is not None else self.path / "plots"
        paths: list[Path] = []
        if period == "each":
            paths += self.plot_all(out, None)
            for k in range(self.fields.sizes["time"]):
                sel = self.select(k)
                for name, fn in (("air_concentration", self.plot_air_concentration),
                                 ("deposition", self.plot_deposition), ("soil_burden", self.plot_soil_burden)):
                    paths.append(save_figure(fn(k), out / f"{name}_{_safe(sel.label)}.png", f"{name} {sel.label}"))
            return paths
        sel = self.select(period)
        suffix = "" if sel.whole_run and period in (None, "all", "") else f"_{_safe(sel.label)}"
        names = ["air_concentration", "deposition", "soil_burden", "budget"]
        if self.attribution is not None:
            names.append("source_receptor")
            if "border_flux" in self.attribution:
                names.append("border_fluxes")
            if "region_air_budget" in self.attribution:
                names.append("region_air_budget")
        for name in names:
            fig = getattr(self, f"plot_{name}")(period)
            paths.append(save_figure(fig, out / f"{name}{suffix}.png", f"{name} of {self.path.name}, {sel.label}"))
        return paths

    def report(self, out: str | Path | None = None) -> Path:
        """Write the HTML report (see :func:`popstransport.report.write_report`); returns its path."""
        from .report import write_report

        return write_report(self, out)


def _safe(label: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", label)


def open_run(path: str | Path) -> RunResults:
    """Open a run directory: its fields, budget, attribution tables and configuration as xarray objects.

    Parameters
    ----------
    path
        The ``--out`` folder of a finished run.

    Returns
    -------
    RunResults
        With ``.fields``, ``.budget``, ``.attribution``, ``.tag_fields`` (xarray Datasets), ``.source_receptor``,
        ``.border_fluxes``, ``.config``, ``.warnings()`` and ``.plot_*`` methods.
    """
    return RunResults(path)


# ----------------------------------------------------------------------------------------------------------------
# checks
# ----------------------------------------------------------------------------------------------------------------
#: Largest acceptable relative budget closure error (DESIGN.md section 1).
CLOSURE_TOLERANCE = 1e-9
#: The same for a ``float32`` state, whose budgets close to about 2e-8 (6e-8 over 17 months; README).
CLOSURE_TOLERANCE_FLOAT32 = 1e-6
#: Fields that may legitimately be negative (net upward exchange).
_SIGNED_FIELDS = ("air_surface_exchange_flux",)


def run_warnings(run: RunResults) -> list[str]:
    """Warnings of a run: lines of ``RUN_DIR/warnings.txt`` (if present) followed by checks of the outputs.

    Checks: budget closure error above :data:`CLOSURE_TOLERANCE` per period (:data:`CLOSURE_TOLERANCE_FLOAT32` for a
    ``float32`` state); NaN or infinite values and negative
    values beyond round-off (below -1e-9 of the field's largest magnitude) in ``fields.nc`` (the net air-surface
    exchange may be negative) and in the budget burdens; a run without emissions; for tagged runs, the sum of the
    tagged emissions against the budget's emitted mass (relative difference above 1e-6), and a configuration that
    says tagged in a folder without ``attribution.nc``.
    """
    out: list[str] = []
    wfile = run.path / "warnings.txt"
    if wfile.is_file():
        out += [line.strip() for line in wfile.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    b = run.budget
    bnds = b["time_bnds"].values.astype("datetime64[s]") if "time_bnds" in b else None
    if "relative_closure_error" in b:
        err = np.asarray(b["relative_closure_error"].values, dtype=float)
        float32 = run.config.get("processes", {}).get("state_precision") == "float32"
        tolerance = CLOSURE_TOLERANCE_FLOAT32 if float32 else CLOSURE_TOLERANCE
        for k in np.flatnonzero(~(np.abs(err) <= tolerance)):
            when = f"{bnds[k, 0]} to {bnds[k, 1]}" if bnds is not None else f"period {k}"
            out.append(f"budget: relative closure error {err[k]:.2e} in {when} exceeds {tolerance:g}"
                       + (" (float32 state)" if float32 else ""))
    for name in [str(v) for v in b.data_vars if str(v).startswith("burden_")]:
        v = np.asarray(b[name].values, dtype=float)
        if np.any(v < -1e-9 * max(float(np.nanmax(np.abs(v))), 1e-300)):
            out.append(f"budget: {name} is negative ({float(v.min()):.3e} kg)")
    f = run.fields
    for name in [str(v) for v in f.data_vars if "time" in f[v].dims and str(v) != "time_bnds"]:
        v = np.asarray(f[name].values, dtype=float)
        bad = ~np.isfinite(v)
        if bad.any():
            out.append(f"fields.nc: {name} has {int(bad.sum())} NaN or infinite values")
            continue
        if name in _SIGNED_FIELDS or v.size == 0:
            continue
        floor = -1e-9 * max(float(np.max(np.abs(v))), 1e-300)
        neg = v < floor
        if neg.any():
            idx = np.unravel_index(int(np.argmin(v)), v.shape)
            out.append(f"fields.nc: {name} has {int(neg.sum())} negative values (lowest {float(v.min()):.3e} "
                       f"{f[name].attrs.get('units', '')} at index {tuple(int(i) for i in idx)})")
    emitted = sum(float(np.sum(b[v].values)) for v in b.data_vars if str(v).startswith("emitted_"))
    if emitted == 0:
        out.append("budget: nothing was emitted in this run (all results come from initial or boundary mass)")
    tags = str(run.config.get("attribution", {}).get("tags", "none"))
    if run.attribution is None and tags != "none":
        out.append(f"attribution: config.toml says the run was tagged (attribution.tags = {tags!r}) but attribution.nc "
                   "is missing; the run directory is incomplete: run it again to get the source-receptor tables")
    if run.attribution is not None and "emission" in run.attribution:
        tagged = float(run.attribution["emission"].sum())
        if emitted > 0 and abs(tagged - emitted) > 1e-6 * emitted:
            out.append(f"attribution: tagged emissions sum to {tagged:.6e} kg but the budget has {emitted:.6e} kg "
                       "emitted (relative difference above 1e-6)")
    return out


# ----------------------------------------------------------------------------------------------------------------
# xarray accessor: plots on any DataArray of a run
# ----------------------------------------------------------------------------------------------------------------
@xr.register_dataarray_accessor("pops")
class PopsAccessor:
    """``da.pops.map()``: a map of a ``(lat, lon)`` field; ``da.pops.heatmap()``: a receptor x source matrix.

    Available on every DataArray once :mod:`popstransport.results` is imported (``open_run`` does it).
    """

    def __init__(self, da: xr.DataArray):
        self._da = da

    def map(self, title: str | None = None, units: str | None = None, cmap: str = "viridis", ax=None):
        """Draw a ``(lat, lon)`` field on a map with borders and coastlines (values as they are, no conversion).

        Cell edges are taken from ``lat_bnds``/``lon_bnds`` coordinates if present, else from the centres
        (assumed regular).
        """
        from .plotting import plot_map

        da = self._da.squeeze(drop=True)
        if set(da.dims) != {"lat", "lon"}:
            raise RunResultsError(f"map() needs a (lat, lon) field; this one has dimensions {da.dims}: select the "
                                  "other dimensions first, e.g. .isel(time=0, layer=0)")
        lon_e = _edges(da["lon"].values)
        lat_e = np.clip(_edges(da["lat"].values), -90.0, 90.0)
        name = title or str(da.attrs.get("long_name", da.name or "field"))
        return plot_map(da, lon_e, lat_e, name, units or str(da.attrs.get("units", "")), cmap, ax=ax)

    def heatmap(self, title: str = "Source-receptor deposition"):
        """Draw a ``(receptor, source)`` matrix (kg) as a share heatmap."""
        from .io.attribution_writer import foreign_share
        from .plotting import plot_source_receptor

        da = self._da
        if not {"receptor", "source"} <= set(da.dims):
            raise RunResultsError(f"heatmap() needs receptor and source dimensions; this one has {da.dims}")
        other = [d for d in da.dims if d not in ("receptor", "source")]
        dep = da.sum(other) if other else da
        dep = dep.transpose("receptor", "source")
        sources = [str(s) for s in dep["source"].values]
        total = dep.sum("source")
        fs = [foreign_share(str(r), sources, dep.sel(receptor=r).values) for r in dep["receptor"].values]
        ds = xr.Dataset({"deposition": dep, "total": total,
                         "foreign_share": xr.DataArray(fs, dims="receptor", coords={"receptor": dep["receptor"]})})
        return plot_source_receptor(ds, title=title)


def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


__all__ = ["PeriodSelection", "RunResults", "RunResultsError", "open_run", "parse_period", "run_warnings",
           "select_periods"]
