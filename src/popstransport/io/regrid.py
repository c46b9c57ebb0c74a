"""Regridding from a rectilinear longitude-latitude source grid onto the model grid.

Two methods, both separable in latitude and longitude (so a regridding is two small matrix products,
``W_lat @ field @ W_lon.T``, applied to a window of the source that covers the model domain):

``bilinear``
    Linear interpolation in latitude and in longitude (periodic when the source spans 360 degrees) to the target cell
    centres. For winds, temperature, pressure and other intensive fields. Target centres beyond the outermost source
    centres take the outermost value (no extrapolation).
``conservative``
    First-order conservative remapping (Jones 1999, Mon. Weather Rev. 127:2204, eq. 2 with first-order terms): the
    target value is the area-weighted mean of the overlapping source cells, with exact spherical overlap areas
    (``R^2 dlambda d(sin phi)`` for longitude-latitude rectangles). For fluxes per area (precipitation, emission
    fluxes) and fractions. :meth:`Conservative.amounts` maps amounts per cell (kg per cell) so that the total inside
    the target domain is kept to round-off.

Source longitudes may be 0..360 or -180..180 and in any order, latitudes ascending or descending; the matrices refer
to the source's own index order, so the arrays read from a file need no reordering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..grid import LatLonGrid
from .errors import InputError

_TOL_DEG = 1e-6


@dataclass(frozen=True)
class SourceGrid:
    """A rectilinear source grid, described in its own index order.

    Attributes
    ----------
    lon_deg, lat_deg
        Cell-centre coordinates as stored in the source (any order), shapes ``(nx,)`` and ``(ny,)``.
    lon_edges_deg, lat_edges_deg
        Edges of the cells sorted ascending, shapes ``(nx + 1,)`` and ``(ny + 1,)``; cell ``lon_order[k]`` of the
        source spans ``lon_edges_deg[k]..lon_edges_deg[k + 1]`` (same for latitude).
    lon_order, lat_order
        Source indices in ascending coordinate order.
    periodic
        True when the cells span 360 degrees of longitude.
    source
        Name of the input (for messages).
    """

    lon_deg: np.ndarray
    lat_deg: np.ndarray
    lon_edges_deg: np.ndarray
    lat_edges_deg: np.ndarray
    lon_order: np.ndarray
    lat_order: np.ndarray
    periodic: bool
    source: str = "input"

    @property
    def nx(self) -> int:
        return self.lon_deg.size

    @property
    def ny(self) -> int:
        return self.lat_deg.size

    @classmethod
    def from_coords(
        cls,
        lon_deg: np.ndarray,
        lat_deg: np.ndarray,
        lon_bounds: np.ndarray | None = None,
        lat_bounds: np.ndarray | None = None,
        source: object = "input",
    ) -> SourceGrid:
        """Build from 1-D centre coordinates, with optional ``(n, 2)`` CF bounds (else midpoints between centres)."""
        lon = np.asarray(lon_deg, dtype=np.float64)
        lat = np.asarray(lat_deg, dtype=np.float64)
        if lon.ndim != 1 or lat.ndim != 1:
            raise InputError(
                source,
                "coordinates",
                f"longitude/latitude are {lon.ndim}-D/{lat.ndim}-D; only rectilinear grids (1-D coordinates) are read",
                "regrid the file to a regular longitude-latitude grid first (e.g. cdo remapbil,r360x180)",
            )
        if lon.size < 1 or lat.size < 2 or not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
            raise InputError(source, "coordinates", "need finite longitudes and at least two latitudes", "fix them")
        lon_order = np.argsort(lon, kind="stable")
        lat_order = np.argsort(lat, kind="stable")
        ls, ps = lon[lon_order], lat[lat_order]
        if np.any(np.diff(ls) <= 0) or np.any(np.diff(ps) <= 0):
            raise InputError(source, "coordinates", "repeated longitude or latitude values", "remove duplicates")
        if np.any(np.abs(ps) > 90.0 + _TOL_DEG):
            raise InputError(source, "latitude", f"values {ps[0]:g}..{ps[-1]:g} leave -90..90", "fix the latitudes")
        lon_edges = _edges(ls, None if lon_bounds is None else np.asarray(lon_bounds, float)[lon_order])
        lat_edges = _edges(ps, None if lat_bounds is None else np.asarray(lat_bounds, float)[lat_order])
        lat_edges = np.clip(lat_edges, -90.0, 90.0)
        # a source whose outer cells reach within one cell of a pole covers the polar cap
        dlat0, dlat1 = lat_edges[1] - lat_edges[0], lat_edges[-1] - lat_edges[-2]
        if lat_edges[0] - dlat0 <= -90.0 + _TOL_DEG:
            lat_edges[0] = -90.0
        if lat_edges[-1] + dlat1 >= 90.0 - _TOL_DEG:
            lat_edges[-1] = 90.0
        span = lon_edges[-1] - lon_edges[0]
        periodic = bool(abs(span - 360.0) < 1e-3 * max(np.min(np.diff(lon_edges)), 1e-9) + _TOL_DEG)
        if span > 360.0 + 1e-3:
            raise InputError(source, "longitude", f"cells span {span:g} degrees", "remove repeated columns")
        if periodic:
            lon_edges[-1] = lon_edges[0] + 360.0
        return cls(lon, lat, lon_edges, lat_edges, lon_order, lat_order, periodic, str(source))

    def describe(self) -> str:
        return (
            f"{self.nx} x {self.ny} cells, lon {self.lon_edges_deg[0]:g}..{self.lon_edges_deg[-1]:g} E"
            f"{' (periodic)' if self.periodic else ''}, lat {self.lat_edges_deg[0]:g}..{self.lat_edges_deg[-1]:g} N"
        )

    def check_covers(self, grid: LatLonGrid) -> None:
        """Raise :class:`InputError` when the model grid reaches outside this source grid."""
        lat_ok = (grid.lat_edges_deg[0] >= self.lat_edges_deg[0] - _TOL_DEG) and (
            grid.lat_edges_deg[-1] <= self.lat_edges_deg[-1] + _TOL_DEG
        )
        lon_ok = self.periodic or self._lon_shift(grid) is not None
        if not (lat_ok and lon_ok):
            raise InputError(
                self.source,
                "grid",
                f"the input grid ({self.describe()}) does not cover the model domain "
                f"(lon {grid.lon_edges_deg[0]:g}..{grid.lon_edges_deg[-1]:g} E, "
                f"lat {grid.lat_edges_deg[0]:g}..{grid.lat_edges_deg[-1]:g} N)",
                "give an input that covers the whole domain (a global file, or a larger area), or shrink the domain",
            )

    def _lon_shift(self, grid: LatLonGrid) -> float | None:
        """Multiple of 360 to add to target longitudes so they fall inside a non-periodic source."""
        for k in (0.0, -360.0, 360.0, -720.0, 720.0):
            if grid.lon_edges_deg[0] + k >= self.lon_edges_deg[0] - _TOL_DEG and (
                grid.lon_edges_deg[-1] + k <= self.lon_edges_deg[-1] + _TOL_DEG
            ):
                return k
        return None

    def cell_area_m2(self, radius_m: float) -> np.ndarray:
        """Cell areas (m2) in the source's own index order, ``(ny, nx)``."""
        dsin = np.empty(self.ny)
        dsin[self.lat_order] = np.diff(np.sin(np.deg2rad(self.lat_edges_deg)))
        dlon = np.empty(self.nx)
        dlon[self.lon_order] = np.deg2rad(np.diff(self.lon_edges_deg))
        return radius_m**2 * np.outer(dsin, dlon)


def _edges(centres: np.ndarray, bounds: np.ndarray | None) -> np.ndarray:
    if bounds is not None:
        b = np.sort(bounds, axis=1)
        if np.all(np.abs(b[1:, 0] - b[:-1, 1]) < 1e-6):
            return np.concatenate([b[:, 0], b[-1:, 1]])
    n = centres.size
    if n == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[centres[0] - (mid[0] - centres[0])], mid, [centres[-1] + (centres[-1] - mid[-1])]])


def _interp_matrix(src_sorted: np.ndarray, order: np.ndarray, targets: np.ndarray, periodic: bool) -> np.ndarray:
    """Linear-interpolation weights ``(n_target, n_source)`` in source index order."""
    n = src_sorted.size
    w = np.zeros((targets.size, n))
    if periodic:
        ext = np.concatenate([src_sorted, [src_sorted[0] + 360.0]])
        t = src_sorted[0] + np.mod(targets - src_sorted[0], 360.0)
        k = np.clip(np.searchsorted(ext, t, side="right") - 1, 0, n - 1)
        f = (t - ext[k]) / (ext[k + 1] - ext[k])
        rows = np.arange(targets.size)
        np.add.at(w, (rows, order[k]), 1.0 - f)
        np.add.at(w, (rows, order[(k + 1) % n]), f)
        return w
    t = np.clip(targets, src_sorted[0], src_sorted[-1])
    if n == 1:
        w[:, order[0]] = 1.0
        return w
    k = np.clip(np.searchsorted(src_sorted, t, side="right") - 1, 0, n - 2)
    f = (t - src_sorted[k]) / (src_sorted[k + 1] - src_sorted[k])
    rows = np.arange(targets.size)
    np.add.at(w, (rows, order[k]), 1.0 - f)
    np.add.at(w, (rows, order[k + 1]), f)
    return w


def _overlap_matrix(src_edges: np.ndarray, order: np.ndarray, tgt_edges: np.ndarray, period: float | None) -> np.ndarray:
    """Overlap lengths ``(n_target, n_source)`` of 1-D intervals, in source index order (periodic if ``period``)."""
    n = src_edges.size - 1
    a0, a1 = tgt_edges[:-1, None], tgt_edges[1:, None]
    out = np.zeros((tgt_edges.size - 1, n))
    shifts = (0.0,) if period is None else tuple(k * period for k in range(-2, 3))
    for s in shifts:
        b0, b1 = src_edges[None, :-1] + s, src_edges[None, 1:] + s
        out += np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0.0, None)
    res = np.zeros_like(out)
    res[:, order] = out
    return res


def _column_window(used: np.ndarray, n: int) -> slice | np.ndarray:
    """The shortest run of columns (cyclically) that contains every used column."""
    if used.size == 0:
        return slice(0, 0)
    gaps = np.diff(np.concatenate([used, [used[0] + n]]))
    k = int(np.argmax(gaps))
    if k == used.size - 1:  # the largest gap wraps around the end: a plain slice
        return slice(int(used[0]), int(used[-1]) + 1)
    start, stop = int(used[k + 1]), int(used[k])
    return np.concatenate([np.arange(start, n), np.arange(0, stop + 1)])


class _Separable:
    """Common part: two weight matrices and the source window they use."""

    def __init__(self, wy: np.ndarray, wx: np.ndarray):
        rows = np.flatnonzero(np.any(wy != 0.0, axis=0))
        r0, r1 = (int(rows.min()), int(rows.max()) + 1) if rows.size else (0, 0)
        #: Rows (a slice) and columns (a slice, or an index array when the window wraps around the end of a
        #: periodic source) of the source, in its own index order, that the regridding reads.
        self.rows = slice(r0, r1)
        self.cols = _column_window(np.flatnonzero(np.any(wx != 0.0, axis=0)), wx.shape[1])
        self.wy = np.ascontiguousarray(wy[:, self.rows])
        self.wx = np.ascontiguousarray(wx[:, self.cols])

    def _apply(self, a: np.ndarray, window: bool) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if not window:
            a = a[..., self.rows, self.cols]
        out = np.matmul(np.matmul(self.wy, a), self.wx.T)
        return np.ascontiguousarray(out)


class Bilinear(_Separable):
    """Bilinear interpolation from ``source`` to the cell centres of ``grid`` (periodic in longitude if the source
    is).

    Call it on an array ``(..., ny, nx)`` in the source's index order (or, with ``window=True``, on the window
    ``a[..., rows, cols]``) to get ``(..., J, I)``.
    """

    def __init__(self, source: SourceGrid, grid: LatLonGrid):
        source.check_covers(grid)
        ys = source.lat_deg[source.lat_order]
        xs = source.lon_deg[source.lon_order]
        tx = grid.lon_deg + (0.0 if source.periodic else (source._lon_shift(grid) or 0.0))
        super().__init__(
            _interp_matrix(ys, source.lat_order, grid.lat_deg, False),
            _interp_matrix(xs, source.lon_order, tx, source.periodic),
        )

    def __call__(self, a: np.ndarray, window: bool = False) -> np.ndarray:
        return self._apply(a, window)


class Conservative(_Separable):
    """First-order conservative remapping from ``source`` to ``grid`` with exact spherical overlap areas.

    ``__call__`` maps a density (a quantity per unit area, or a fraction) to the area-weighted mean over every
    target cell; :meth:`amounts` maps amounts per source cell to amounts per target cell, keeping the total of the
    part of the source inside the target domain.
    """

    def __init__(self, source: SourceGrid, grid: LatLonGrid, require_cover: bool = True):
        if require_cover:
            source.check_covers(grid)
        sy = np.sin(np.deg2rad(source.lat_edges_deg))
        ty = np.sin(np.deg2rad(grid.lat_edges_deg))
        oy = _overlap_matrix(sy, source.lat_order, ty, None)
        # Overlaps are summed over the source shifted by multiples of 360 degrees, periodic or not: a source that
        # spans at most 360 degrees meets each target cell at most once per degree of longitude, and a partial source
        # in another longitude convention (-170..-120 for a domain 100..250 E) is found at its shifted place.
        ox = _overlap_matrix(source.lon_edges_deg, source.lon_order, grid.lon_edges_deg, 360.0)
        self._oy, self._ox = oy, ox
        dty = np.diff(ty)
        dtx = np.diff(grid.lon_edges_deg)
        dsy = np.empty(source.ny)
        dsy[source.lat_order] = np.diff(sy)
        dsx = np.empty(source.nx)
        dsx[source.lon_order] = np.diff(source.lon_edges_deg)
        super().__init__(oy / dty[:, None], ox / dtx[:, None])
        self._amount = _Separable(oy / dsy[None, :], ox / dsx[None, :])
        #: Fraction of every target cell covered by the source, ``(J, I)``.
        self.coverage = np.ascontiguousarray(np.outer(oy.sum(1) / dty, ox.sum(1) / dtx))

    def __call__(self, a: np.ndarray, window: bool = False) -> np.ndarray:
        return self._apply(a, window)

    def amounts(self, a: np.ndarray) -> np.ndarray:
        """Map amounts per source cell ``(..., ny, nx)`` to amounts per target cell ``(..., J, I)``."""
        return self._amount._apply(a, False)

    def fraction_kept(self, a: np.ndarray) -> float:
        """Fraction of the total of amounts ``a`` (per source cell) that falls inside the target domain."""
        tot = float(np.sum(a))
        return float(np.sum(self.amounts(a)) / tot) if tot != 0.0 else 1.0


def regrid(a: np.ndarray, source: SourceGrid, grid: LatLonGrid, method: str = "bilinear") -> np.ndarray:
    """One-off regridding of ``a`` ``(..., ny, nx)`` with ``method`` ``"bilinear"`` or ``"conservative"``."""
    if method == "bilinear":
        return Bilinear(source, grid)(a)
    if method == "conservative":
        return Conservative(source, grid)(a)
    raise ValueError(f"regridding method {method!r}: use 'bilinear' or 'conservative'")


__all__ = ["Bilinear", "Conservative", "SourceGrid", "regrid"]
