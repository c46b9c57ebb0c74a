"""Horizontal transport processes: flux-form advection on the C grid and optional horizontal diffusion.

:class:`HorizontalAdvection` advances the chemical mass of every tag and air layer with the air-mass fluxes of
the step, using the dimension-split finite-volume remap of :mod:`popstransport.kernels.advection`: by default
piecewise-parabolic fluxes (Colella & Woodward 1984) limited by flux-corrected transport (Zalesak 1979); PPM with
the Colella-Woodward limiter, van Leer (1977) and first-order upwind are options. Every 1-D sweep works in the
air-mass coordinate (Easter 1993) and is flux-form semi-Lagrangian (Lin & Rood 1996), so zonal Courant numbers far
above one (polar rows) need no sub-stepping; meridional sweeps run along great circles through both poles, and the
polar rows turn round the poles half before and half after every meridional sweep, so flow across the poles needs no
more sub-steps than the rest of the globe.

What is guaranteed (see the kernel module for the argument):

- chemical mass is conserved to round-off; with open boundaries, initial = final + outflow - inflow, and the
  chemical flux through every face has the direction of the air flux;
- a uniform mixing ratio stays uniform for any fluxes, divergent or not (the air mass is advected with the same
  fluxes; :class:`popstransport.processes.vertical.VerticalExchange` then returns every layer to its fixed air
  mass with the diagnosed vertical flux);
- with every scheme except ``"ppm_unlimited"``, each 1-D sweep keeps the mixing ratio ``q = m / M`` of every cell
  inside the range of old values around its departure interval, also for divergent layer fluxes, as long as the
  intermediate air masses stay positive: no negative values and no new extrema. Sub-steps are added so that the
  meridional Courant number stays below ``max_courant`` and no sweep removes more than ``max_air_loss`` of a
  cell's air before the other direction refills it.

Tags (source attribution): all tags are advanced in one kernel call. Every sweep computes the limited fluxes of the
total over tags, exactly as for a single tracer, and splits each face's flux among the tags by their shares of its
donor region (whole cells passed: their exact tag masses; the partial donor cell: each tag's share of it; inflow
through an open boundary: the tags' boundary mixing ratios, whose sum is the total's). Hence, for every scheme:

- the tags add up to an untagged run of their total to round-off (cells, ``face_mass_u_kg``/``face_mass_v_kg`` and
  inflow/outflow), and with one tag the result is the single-tracer scheme, bit for bit;
- every tag stays non-negative, and its share of a cell's chemical is a convex combination of its shares around
  the departure interval.

What is and is not linear: ``"upwind"`` (where the split equals advecting each tag alone) and ``"ppm_unlimited"``
(each tag is advected alone) are linear, so a run with one source removed equals the base run minus that source's
tag to round-off. The limited schemes (``"ppm"``, the default, ``"ppm_cw84"``, ``"vanleer"``) are not: the tags
still add up exactly, but a brute-force run without a source differs from base minus its tag by the limiter's
non-linearity (on a 10-day regional run with two emitting regions: up to 4 % of the tag's largest value, 2 % in
the l2 norm, 1 % of its burden), and a tag's own mixing ratio is not kept within its old range (only its share of
the total is), so a uniform tag next to a non-uniform one need not stay uniform.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit, prange

from ..kernels.advection import (
    STATUS_EMPTY_CELL,
    STATUS_ROW_OVERRUN,
    AdvectionKernelOptions,
    geometry,
    horizontal_diffusion,
    make_horizontal_advection,
)
from ..kernels.workspace import LastShape
from .base import Process

Scheme = Literal["ppm", "ppm_cw84", "vanleer", "upwind", "ppm_unlimited"]
Splitting = Literal["alternating", "strang"]

#: Kernel order of every scheme name (see :mod:`popstransport.kernels.advection`).
SCHEMES: dict[str, int] = {"upwind": 0, "vanleer": 1, "ppm_cw84": 2, "ppm": 3, "ppm_unlimited": 4}


#: Problems with fewer tag-layer-cells than this run serially (thread wake-up costs more than it saves).
PARALLEL_MIN_CELLS = 256


class AdvectionError(RuntimeError):
    """Horizontal transport cannot proceed with the given fluxes and time step."""


def _pole_outflow(P: np.ndarray, ni: int) -> np.ndarray:
    """Net air leaving every polar cell across the pole (kg s-1), ``(L, 2, I)``."""
    return np.ascontiguousarray(np.concatenate([P, -P], axis=2)) if P.shape[2] * 2 == ni else np.zeros(
        (P.shape[0], 2, ni)
    )


@njit(cache=True, parallel=True, error_model="numpy")
def _step_limits(M, U, V, PO, gy, dt, strang, polar, out, tmp):
    """Per-row maxima ``(courant_y, air_loss, courant_x, end_ratio, not_finite)`` of a step ``dt`` without sub-steps.

    ``courant_y``: the meridional Courant number ``|v| dt / dy`` of the faces through which air leaves the row's
    cells: the air through the face over the cell's air (the smaller of its start and end air mass) times
    ``gy (J, 2)``, the row's mean width over its width at its south and north face, which turns the ratio of air
    masses into the distance the air travels, in cells (ones without a grid; near the poles a cell's poleward face
    is narrower than the cell, so the ratio of air masses exceeds the Courant number; the flux-form
    semi-Lagrangian sweeps take the excess from the next cell without harm). ``air_loss``: the largest net air a
    cell loses before the end of a sweep sequence (x or y first for alternating splitting; y/2, then x, for
    Strang), over the same; ``courant_x``: air leaving through meridional walls over the start air mass
    (informational: x sweeps accept any value); ``end_ratio``: smallest end-of-step over start air mass;
    ``not_finite``: 1 where a flux of the row's cells is NaN or infinite (checked first by the caller).

    With ``polar`` (global grids) the two polar rows turn zonally half before and half after every meridional
    sweep: their air loss is the larger of what the first half-turn and then the meridional sweep take, and their
    Courant number is the air leaving through their equatorward face over the air they hold when the meridional
    sweep starts. ``PO (L, 2, I)``: net air leaving the polar cells across the pole (kg s-1).

    Written to ``out (L J, 5)``, with the scratch ``tmp (chunks, 4, I)``, both made once by the caller (no allocation
    in the time loop, and none inside the parallel loop).
    """
    nl, nj, ni = M.shape
    half = 0.5 if strang else 1.0
    nrow = nl * nj
    nchunk = min(nrow, tmp.shape[0])
    for k in prange(nchunk):
        # every cell's candidates in a loop without reductions (it vectorises, divisions included), then the row's
        # maxima in four independent chains (a running maximum is one chain of dependent operations)
        cand_y = tmp[k, 0]
        cand_loss = tmp[k, 1]
        cand_x = tmp[k, 2]
        neg_ratio = tmp[k, 3]
        for p in range(k * nrow // nchunk, (k + 1) * nrow // nchunk):
            l = p // nj
            j = p % nj
            m_row = M[l, j]
            u_row = U[l, j]
            v_s = V[l, j]
            v_n = V[l, j + 1]
            po_s = PO[l, 0]
            po_n = PO[l, 1]
            south = j == 0
            north = j == nj - 1
            finite = True
            for i in range(ni + 1):
                finite &= abs(u_row[i]) < np.inf
            for i in range(ni):
                finite &= abs(v_s[i]) < np.inf
            if north:
                for i in range(ni):
                    finite &= abs(v_n[i]) < np.inf
            if polar and (south or north):
                hy = half * dt
                for i in range(ni):
                    m0 = m_row[i]
                    dx = u_row[i + 1] - u_row[i]
                    dy = v_n[i] - v_s[i]
                    out_y = max(v_n[i], 0.0) + max(-v_s[i], 0.0)
                    if south:
                        dy += po_s[i]
                        out_y += max(po_s[i], 0.0)
                    if north:
                        dy += po_n[i]
                        out_y += max(po_n[i], 0.0)
                    inv0 = 1.0 / m0
                    neg_ratio[i] = -((m0 - dt * (dx + dy)) * inv0)
                    cand_x[i] = dt * (max(u_row[i + 1], 0.0) + max(-u_row[i], 0.0)) * inv0
                    start = m0 - 0.5 * hy * dx
                    cand_loss[i] = max(max(0.5 * hy * dx, 0.5 * hy * dx + hy * dy), 0.0) / m0
                    cand_y[i] = hy * out_y / max(start, 0.2 * m0)  # the air-loss limit keeps start >= 0.2 m0
            else:
                g_s = gy[j, 0]
                g_n = gy[j, 1]
                for i in range(ni):
                    m0 = m_row[i]
                    dx = u_row[i + 1] - u_row[i]
                    dy = v_n[i] - v_s[i]
                    dy = dy + po_s[i] if south else dy
                    dy = dy + po_n[i] if north else dy
                    mh = m0 - dt * (dx + dy)
                    inv0 = 1.0 / m0
                    neg_ratio[i] = -(mh * inv0)
                    cand_x[i] = dt * (max(u_row[i + 1], 0.0) + max(-u_row[i], 0.0)) * inv0
                    base = min(m0, mh)
                    if strang:
                        lost = max(max(0.5 * dy, 0.5 * dy + dx), 0.0)
                    else:
                        lost = max(max(dx, dy), 0.0)
                    # a cell emptied within the step (base <= 0) adds nothing here: the end ratio reports it
                    inv = dt / base if base > 0.0 else 0.0
                    c = max(max(-v_s[i], 0.0) * g_s, max(v_n[i], 0.0) * g_n)
                    cand_y[i] = half * c * inv
                    cand_loss[i] = lost * inv
            out[p, 0] = max(_max4(cand_y, ni), 0.0)
            out[p, 1] = max(_max4(cand_loss, ni), 0.0)
            out[p, 2] = max(_max4(cand_x, ni), 0.0)
            out[p, 3] = -_max4(neg_ratio, ni)
            out[p, 4] = 0.0 if finite else 1.0


@njit(cache=True, error_model="numpy", inline="always")
def _max4(x, n):
    """``max(x[:n])`` (``-inf`` for ``n = 0``) in four independent chains."""
    a0 = -np.inf
    a1 = -np.inf
    a2 = -np.inf
    a3 = -np.inf
    n4 = n - n % 4
    for i in range(0, n4, 4):
        a0 = max(a0, x[i])
        a1 = max(a1, x[i + 1])
        a2 = max(a2, x[i + 2])
        a3 = max(a3, x[i + 3])
    for i in range(n4, n):
        a0 = max(a0, x[i])
    return max(max(a0, a1), max(a2, a3))


@njit(cache=True, error_model="numpy")
def _reduce_limits(lim):
    """``(any not finite, row of the smallest end ratio, largest courant_y, air_loss, courant_x)`` of
    :func:`_step_limits`' rows (one call instead of five numpy reductions on a small array)."""
    bad = False
    k = 0
    cy = 0.0
    dr = 0.0
    cx = 0.0
    for p in range(lim.shape[0]):
        bad = bad or lim[p, 4] != 0.0
        if lim[p, 3] < lim[k, 3]:
            k = p
        cy = max(cy, lim[p, 0])
        dr = max(dr, lim[p, 1])
        cx = max(cx, lim[p, 2])
    return bad, k, cy, dr, cx


def _as_array(name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.shape != shape:
        got = getattr(a, "shape", type(a).__name__)
        raise ValueError(f"{name} has shape {got}; expected {shape}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _face_index(name: str, index: np.ndarray, shape: tuple[int, int], acc: np.ndarray) -> np.ndarray:
    """``index`` as C-contiguous int64 after checking its shape and that its slots fit the accumulator ``acc``."""
    a = np.ascontiguousarray(index, dtype=np.int64)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}; expected {shape} (the slot of every face, -1 for none)")
    if a.size and (a.min() < -1 or a.max() >= acc.shape[3]):
        raise ValueError(f"{name} holds slots outside -1 .. {acc.shape[3] - 1} (the accumulator's last axis)")
    used = a[a >= 0]
    if used.size and np.bincount(used).max() > 1:
        raise ValueError(f"{name} gives two faces one slot; every booked face needs its own")
    return a


class HorizontalAdvection(Process):
    """Horizontal advection of all tags and air layers in flux form on the C grid.

    Parameters
    ----------
    scheme
        ``"ppm"`` (default: piecewise-parabolic fluxes of Colella & Woodward 1984 limited by flux-corrected
        transport, Zalesak 1979), ``"ppm_cw84"`` (PPM with the Colella & Woodward monotonicity limiter),
        ``"vanleer"`` (monotonised-central piecewise linear, van Leer 1977) or ``"upwind"`` (first order, for
        reference); ``"ppm_unlimited"`` (not monotone, for accuracy comparisons only).
    max_courant
        Largest meridional Courant number ``|v| dt / dy`` of a sub-step; sub-steps are added above it. Zonal sweeps
        accept any Courant number (flux-form semi-Lagrangian, Lin & Rood 1996). The remap is least diffusive near
        Courant number one: fewer, longer sub-steps are more accurate.
    boundary_mixing_ratio
        Mixing ratio (kg chemical per kg air) of air entering a regional domain: a number, one value per tag
        ``(T,)``, or a dict with arrays ``west``/``east`` ``(T, L, J)`` and ``south``/``north`` ``(T, L, I)``. A zonal
        band (a regional grid of 360 degrees) is periodic in longitude: air enters it only through its south and
        north edges, and ``west``/``east`` are not used.
    grid
        The grid (set by :meth:`setup` when the process belongs to a model).
    max_substeps
        Upper limit of automatic sub-steps per call; above it an :class:`AdvectionError` is raised.
    max_air_loss
        Largest fraction of a cell's air (the smaller of its start and end air mass) that the zonal or meridional
        divergence of one sub-step may remove before the other direction refills it; sub-steps are added above it.
    splitting
        ``"alternating"`` (x-y, then y-x on the next sub-step or call) or ``"strang"`` (y/2, x, y/2: three sweeps,
        but half the intermediate air loss of polar cells in cross-polar flow).
    """

    name = "advection"
    reads = ("eastward_wind_m_s", "northward_wind_m_s")

    def __init__(
        self,
        scheme: Scheme = "ppm",
        max_courant: float = 1.0,
        boundary_mixing_ratio: float | np.ndarray | dict[str, np.ndarray] = 0.0,
        grid: object | None = None,
        max_substeps: int = 1000,
        max_air_loss: float = 0.8,
        splitting: Splitting = "alternating",
    ):
        if scheme not in SCHEMES:
            raise ValueError(f"advection scheme {scheme!r} is not known; valid schemes: {sorted(SCHEMES)}")
        if not 0.0 < max_courant <= 1.0:
            raise ValueError(f"max_courant must be in (0, 1], got {max_courant!r}")
        if not 0.0 < max_air_loss < 1.0:
            raise ValueError(f"max_air_loss must be in (0, 1), got {max_air_loss!r}")
        if splitting not in ("alternating", "strang"):
            raise ValueError(f"splitting {splitting!r} is not known; valid: ['alternating', 'strang']")
        self.scheme = scheme
        self.splitting = splitting
        self.max_courant = float(max_courant)
        self.boundary_mixing_ratio = boundary_mixing_ratio
        self.grid = grid
        self.max_substeps = int(max_substeps)
        self.max_air_loss = float(max_air_loss)
        #: Split sweep pairs done so far; its parity picks the sweep order (x-y or y-x) of the next sub-step.
        #: Part of the model state: saved in checkpoints and reset at the start of every spin-up year.
        self.sweep_pairs_done = 0
        self.last_substeps = 0
        self.last_courant = (0.0, 0.0)
        # the rows' limits and each work item's candidates (see _step_limits), made once for a grid
        self._limits_workspace = LastShape()
        # the sub-steps of the current met record (see advect's record_key)
        self._record = LastShape()
        # the face indices last given to advect, checked
        self._face_index_checked = LastShape()

    def setup(self, model: object) -> None:
        """Take the grid of ``model``."""
        self.grid = model.grid  # type: ignore[attr-defined]

    # ---------------------------------------------------------------------------------------------------------
    def _topology(self, periodic: bool | None, V: np.ndarray) -> tuple[bool, bool]:
        if self.grid is not None:
            topo = self.grid.topology  # type: ignore[attr-defined]
            # (a zonal band is periodic in longitude with open south and north edges: no cross-polar lines)
            is_periodic = bool(self.grid.is_periodic)  # type: ignore[attr-defined]
            if periodic is not None and bool(periodic) != is_periodic:
                raise ValueError(f"periodic={periodic} contradicts the {topo} grid of the advection process")
            is_global = topo == "global"
        else:
            is_periodic = bool(periodic)
            is_global = is_periodic and not np.any(V[:, 0, :]) and not np.any(V[:, -1, :])
        ni = V.shape[2]
        return is_periodic, is_global and ni % 2 == 0

    def _width_ratios(self, nj: int) -> np.ndarray:
        """``(J, 2)``: every row's mean width over its width at its south and north face (ones without a grid)."""
        g = self.grid
        if g is None:
            return np.ones((nj, 2))
        if getattr(self, "_ratios_key", None) == (id(g), nj):
            return self._ratios
        out = np.ones((nj, 2))
        phi = np.deg2rad(np.asarray(g.lat_edges_deg, dtype=float))  # type: ignore[attr-defined]
        c = np.cos(phi)
        c[np.abs(np.asarray(g.lat_edges_deg)) >= 90.0 - 1e-12] = 0.0  # type: ignore[attr-defined]
        mean = np.diff(np.sin(phi)) / np.diff(phi)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, 0] = np.where(c[:-1] > 0.0, mean / c[:-1], 1.0)
            out[:, 1] = np.where(c[1:] > 0.0, mean / c[1:], 1.0)
        self._ratios, self._ratios_key = out, (id(g), nj)
        return out

    def _geometry(self, nj: int, ni: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = self.grid
        if g is None:
            return np.ones(ni), np.ones(nj), np.zeros(nj)
        if (g.nlat, g.nlon) != (nj, ni):  # type: ignore[attr-defined]
            raise ValueError(f"air_kg has {nj} x {ni} cells but the advection grid has {g.nlat} x {g.nlon}")  # type: ignore[attr-defined]
        key = id(g)
        if getattr(self, "_geom_key", None) != key:
            self._geom = geometry(g.lon_edges_deg, g.lat_edges_deg)  # type: ignore[attr-defined]
            self._geom_key = key
        return self._geom

    def _boundary(self, ntag: int, nl: int, nj: int, ni: int, value) -> tuple[np.ndarray, ...]:
        if isinstance(value, dict):
            want = {"west": (ntag, nl, nj), "east": (ntag, nl, nj), "south": (ntag, nl, ni), "north": (ntag, nl, ni)}
            unknown = set(value) - set(want)
            if unknown:
                raise ValueError(f"boundary mixing ratio sides {sorted(unknown)} unknown; valid: {sorted(want)}")
            out = []
            for side, shape in want.items():
                a = value.get(side, 0.0)
                out.append(np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=float), shape)))
            return tuple(out)
        if isinstance(value, (int, float)):
            # a plain number (the usual case): the arrays are read-only in the kernel, so they are kept between calls
            key = (ntag, nl, nj, ni, float(value))
            if getattr(self, "_bc_key", None) != key:
                self._bc = self._boundary(ntag, nl, nj, ni, np.asarray(float(value)))
                self._bc_key = key
            return self._bc
        v = np.asarray(value, dtype=float)
        if v.ndim == 0:
            v = np.full(ntag, float(v))
        if v.shape != (ntag,):
            raise ValueError(
                f"boundary_mixing_ratio has shape {v.shape}; expected a number, ({ntag},) per tag, or a dict of sides"
            )
        if np.any(v < 0) or not np.all(np.isfinite(v)):
            raise ValueError(f"boundary_mixing_ratio must be finite and >= 0, got {v}")
        we = np.ascontiguousarray(np.broadcast_to(v[:, None, None], (ntag, nl, nj)))
        sn = np.ascontiguousarray(np.broadcast_to(v[:, None, None], (ntag, nl, ni)))
        return we, we, sn, sn

    def substeps(self, air_mass_kg: np.ndarray, mass_flux_u_kg_s: np.ndarray, mass_flux_v_kg_s: np.ndarray,
                 dt_s: float, pole_flux_kg_s: np.ndarray | None = None, polar: bool | None = None) -> int:
        """Number of equal sub-steps needed for ``dt_s`` (meridional Courant and intermediate air-mass limits).

        The meridional Courant number is ``|v| dt / dy``, the distance the air travels in a sweep in cells (see
        ``_step_limits``). ``pole_flux_kg_s (L, 2, I/2)``: air-mass fluxes across the south and north pole between
        opposite cells of the polar rows (kg s-1; None for none). ``polar``: the meridional sweeps run through the
        poles and the polar rows turn round them inside the meridional sweeps (by default on global grids).
        """
        nl, nj, ni = air_mass_kg.shape
        PO = np.zeros((nl, 2, ni)) if pole_flux_kg_s is None else _pole_outflow(pole_flux_kg_s, ni)
        if polar is None:
            polar = self._topology(None if self.grid is None else self.grid.is_periodic,  # type: ignore[attr-defined]
                                   mass_flux_v_kg_s)[1]
        ws = self._limits_workspace.get((nl, nj, ni), lambda: (np.empty((nl * nj, 5)), np.empty((64, 4, ni))))
        lim = ws[0]
        _step_limits(
            air_mass_kg, mass_flux_u_kg_s, mass_flux_v_kg_s, PO, self._width_ratios(nj), float(dt_s),
            self.splitting == "strang", bool(polar), lim, ws[1],
        )
        bad, k, cy, dr, cx = _reduce_limits(lim)
        if bad:
            raise ValueError("the air-mass fluxes contain NaN or infinite values")
        if not lim[k, 3] > 0.0:
            nj = air_mass_kg.shape[1]
            l, j = divmod(k, nj)
            raise AdvectionError(
                f"the horizontal air-mass fluxes remove all air from a cell of layer {l}, latitude row {j} within "
                f"dt = {dt_s:g} s (end-of-step air mass ratio {lim[k, 3]:.3g}); balance the fluxes "
                "(popstransport.massflux.balance_mass_fluxes) or reduce the time step"
            )
        self.last_courant = (cx, cy)
        n = max(1, int(np.ceil(cy / self.max_courant - 1e-12)), int(np.ceil(dr / self.max_air_loss - 1e-12)))
        if not polar and self.grid is not None and self.grid.is_periodic:  # type: ignore[attr-defined]
            # periodic rows swept whole with the full sub-step (a zonal band's, the polar row of a band that reaches
            # a pole among them, whose cells are narrow): no face may pass more air than its row holds, which
            # ``cx`` cells' worth of air stays below with 10 % to spare (a row's cells hold the same air)
            n = max(n, int(np.ceil(cx / (0.9 * ni) - 1e-12)))
        if n > self.max_substeps:
            raise AdvectionError(
                f"dt = {dt_s:g} s needs {n} advection sub-steps (meridional Courant number {cy:.3g}, air loss "
                f"ratio {dr:.3g}), more than max_substeps = {self.max_substeps}; reduce the time step"
            )
        return n

    def advect(
        self,
        air_kg: np.ndarray,
        air_mass_kg: np.ndarray,
        mass_flux_u_kg_s: np.ndarray,
        mass_flux_v_kg_s: np.ndarray,
        dt_s: float,
        periodic: bool | None = None,
        *,
        face_mass_u_kg: np.ndarray | None = None,
        face_mass_v_kg: np.ndarray | None = None,
        boundary_mixing_ratio: float | np.ndarray | dict[str, np.ndarray] | None = None,
        substeps: int | None = None,
        record_key: object | None = None,
        face_index_u: np.ndarray | None = None,
        face_index_v: np.ndarray | None = None,
    ) -> dict[str, np.ndarray | int]:
        """Advance ``air_kg`` in place by ``dt_s`` seconds.

        Parameters
        ----------
        air_kg
            Chemical mass (kg), shape ``(T, L, J, I)``, C-contiguous float64; updated in place.
        air_mass_kg
            Air mass per cell (kg), ``(L, J, I)``, at the start of the step.
        mass_flux_u_kg_s, mass_flux_v_kg_s
            Air-mass fluxes (kg s-1) through the meridional walls ``(L, J, I + 1)`` (positive eastward; on a
            grid periodic in longitude, global or a zonal band, face ``I`` must equal face ``0``) and the zonal
            walls ``(L, J + 1, I)`` (positive northward; zero at the poles).
        dt_s
            Step (s).
        periodic
            Optional check of the topology (the model passes ``grid.is_periodic``); taken from the grid if None.
        face_mass_u_kg, face_mass_v_kg
            Optional accumulators, shapes ``(2, T, L, J, I + 1)`` and ``(2, T, L, J + 1, I)``: the chemical mass
            (kg) crossing every face towards east/north ([0]) and towards west/south ([1]) is added to them, for
            border-flux attribution. With 1 in place of ``T`` they take the total over tags, which costs one booking
            per face instead of one per tag and face (the border fluxes of all sources together need no more).
        face_index_u, face_index_v
            Optional: book only some faces. Int arrays ``(J, I + 1)`` and ``(J + 1, I)`` give every face its slot in
            the accumulators, which are then ``(2, T, L, slots)`` (-1: a face that is not booked). A run that needs
            the fluxes over region borders only books those, and its accumulators cost that much memory and memory
            traffic. They are checked when first given; the same arrays given again are not checked again (do not
            change them in place).
        boundary_mixing_ratio
            Overrides the constructor's inflow mixing ratio for this call.
        substeps
            Force this many sub-steps instead of the automatic choice.
        record_key
            Identifies the met record of the air mass and fluxes (the model passes its forcing key). The automatic
            sub-steps and their checks (finite fluxes, step limits), which depend only on the forcing and ``dt_s``,
            are then worked out once per record: they are kept while the key, ``dt_s`` and the three arrays stay
            the same. The caller must not change the arrays in place under one key.

        Returns
        -------
        dict
            ``outflow_kg`` and ``inflow_kg`` per tag ``(T,)`` through open boundaries, ``substeps``.
        """
        if not (isinstance(air_kg, np.ndarray) and air_kg.ndim == 4 and air_kg.dtype in (np.float64, np.float32)
                and air_kg.flags.c_contiguous):
            raise ValueError("air_kg must be a C-contiguous float64 or float32 array shaped (tag, layer, lat, lon)")
        nt, nl, nj, ni = air_kg.shape
        M = _as_array("air_mass_kg", air_mass_kg, (nl, nj, ni))
        U = _as_array("mass_flux_u_kg_s", mass_flux_u_kg_s, (nl, nj, ni + 1))
        V = _as_array("mass_flux_v_kg_s", mass_flux_v_kg_s, (nl, nj + 1, ni))
        if not dt_s > 0:
            raise ValueError(f"dt_s must be positive, got {dt_s!r}")
        is_periodic, cross_pole = self._topology(periodic, V)
        if is_periodic and not (U[:, :, 0] == U[:, :, ni]).all():
            raise ValueError(
                "mass_flux_u_kg_s: on a periodic grid face I is face 0 and must carry the same flux; "
                "set mass_flux_u_kg_s[:, :, -1] = mass_flux_u_kg_s[:, :, 0]"
            )
        if cross_pole and V[:, ::nj, :].any():  # (rows 0 and J)
            raise ValueError("mass_flux_v_kg_s must be zero at the pole walls (faces 0 and J) of a global grid")
        if substeps is not None and not (np.all(np.isfinite(U)) and np.all(np.isfinite(V))):
            raise ValueError("the air-mass fluxes contain NaN or infinite values")  # (else checked by substeps())
        P = np.zeros((nl, 2, max(ni // 2, 1)))
        if substeps is not None:
            nsub = int(substeps)
        elif record_key is None:
            nsub = self.substeps(M, U, V, dt_s, polar=cross_pole)
        else:
            nsub, self.last_courant = self._record.get(
                (record_key, dt_s, cross_pole),
                lambda: (self.substeps(M, U, V, dt_s, polar=cross_pole), self.last_courant),
                same=(M, U, V),
            )
        bmr = self.boundary_mixing_ratio if boundary_mixing_ratio is None else boundary_mixing_ratio
        qbc = self._boundary(nt, nl, nj, ni, bmr)
        accumulate = face_mass_u_kg is not None or face_mass_v_kg is not None
        if accumulate:
            if face_mass_u_kg is None or face_mass_v_kg is None:
                raise ValueError("give both face_mass_u_kg and face_mass_v_kg, or neither")
            compact = face_index_u is not None
            # (per tag, or one row for the total over tags)
            nft = 1 if face_mass_u_kg.ndim > 1 and face_mass_u_kg.shape[1] == 1 else nt
            for name, a, shape in (
                ("face_mass_u_kg", face_mass_u_kg, (2, nft, nl, -1) if compact else (2, nft, nl, nj, ni + 1)),
                ("face_mass_v_kg", face_mass_v_kg, (2, nft, nl, -1) if compact else (2, nft, nl, nj + 1, ni)),
            ):
                if compact and a.ndim == 4 and a.shape[:3] == shape[:3]:
                    shape = a.shape
                if a.shape != shape or a.dtype != np.float64 or not a.flags.c_contiguous:
                    raise ValueError(f"{name} must be a C-contiguous float64 array of shape {shape}, got {a.shape}")
            fu, fv = face_mass_u_kg, face_mass_v_kg
            if (face_index_u is None) != (face_index_v is None):
                raise ValueError("give both face_index_u and face_index_v, or neither")
            if face_index_u is not None:
                # (checked when first given: the model passes the same arrays in every step)
                iu, iv = face_index_u, face_index_v
                face_index_u, face_index_v = self._face_index_checked.get(
                    (fu.shape[3], fv.shape[3], nj, ni),
                    lambda: (_face_index("face_index_u", iu, (nj, ni + 1), fu),
                             _face_index("face_index_v", iv, (nj + 1, ni), fv)),
                    same=(iu, iv),
                )
        else:
            fu = np.zeros((2, 1, 1, 1, 1))
            fv = fu
        kernel = make_horizontal_advection(
            AdvectionKernelOptions(
                order=SCHEMES[self.scheme],
                periodic_x=is_periodic,
                cross_pole=cross_pole,
                splitting=self.splitting,
                parallel=nt * nl * nj * ni >= PARALLEL_MIN_CELLS,
            )
        )
        boundary = np.zeros((nt, nl, 4))
        status = np.zeros((nl, 4), dtype=np.int64)
        x_first = self.sweep_pairs_done % 2 == 0
        dlon, dlat, beta = self._geometry(nj, ni)
        kernel(air_kg, M, U, V, P, dlon, dlat, beta, float(dt_s), nsub, x_first, *qbc, accumulate, fu, fv, boundary,
               status, face_index_u if accumulate else None, face_index_v if accumulate else None)
        self.sweep_pairs_done += nsub
        self.last_substeps = nsub
        if status[:, 0].any():
            l = int(np.flatnonzero(status[:, 0])[0])
            code, a, b, s = (int(x) for x in status[l])
            if code == STATUS_EMPTY_CELL:
                raise AdvectionError(
                    f"advection emptied the air of cell (layer {l}, lat row {a}, lon column {b}) in sub-step {s} of "
                    f"{nsub}; the fluxes diverge too strongly for dt = {dt_s:g} s: balance them or "
                    "reduce the time step"
                )
            if code == STATUS_ROW_OVERRUN:
                raise AdvectionError(
                    f"the air swept through u face {b} of layer {l}, lat row {a} in one sub-step exceeds the air of "
                    f"the whole latitude row (zonal Courant number {self.last_courant[0]:.3g}); reduce the time step"
                )
            raise AdvectionError(f"advection kernel returned unknown status {code} for layer {l}")
        return {
            "outflow_kg": (boundary[:, :, 1] - boundary[:, :, 3]).sum(axis=1),
            "inflow_kg": (boundary[:, :, 0] - boundary[:, :, 2]).sum(axis=1),
            "substeps": nsub,
        }


class HorizontalDiffusion(Process):
    """Optional explicit horizontal diffusion of the mixing ratio with a constant eddy diffusivity.

    The diffusive air-mass exchange rate of a wall is ``D = sigma K L / d`` (kg s-1) with ``sigma`` the layer's
    air mass per unit area at the wall (mean of the two cells), ``K`` the diffusivity (m2 s-1), ``L`` the wall
    length and ``d`` the distance between the cell centres; walls at open boundaries and poles exchange nothing.
    The chemical mass moved is ``D (q_a - q_b)`` per second. Sub-steps keep each one a convex combination (no new
    extrema, mass conserved to round-off).
    """

    name = "horizontal_diffusion"

    def __init__(self, diffusivity_m2_s: float, grid: object | None = None):
        if not diffusivity_m2_s >= 0:
            raise ValueError(f"horizontal diffusivity must be >= 0, got {diffusivity_m2_s!r} m2 s-1")
        self.diffusivity_m2_s = float(diffusivity_m2_s)
        self.grid = grid

    def setup(self, model: object) -> None:
        """Take the grid of ``model``."""
        self.grid = model.grid  # type: ignore[attr-defined]

    def exchange_rates_kg_s(self, air_mass_kg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Diffusive air-mass exchange rates ``(Du (L, J, I + 1), Dv (L, J + 1, I))`` in kg s-1."""
        g = self.grid
        if g is None:
            raise ValueError("HorizontalDiffusion needs a grid: pass grid= or add it to a model")
        sigma = air_mass_kg / g.cell_area_m2[None]  # type: ignore[attr-defined]
        K = self.diffusivity_m2_s
        nl, nj, ni = air_mass_kg.shape
        dx = g.dx_m  # type: ignore[attr-defined]
        Du = np.zeros((nl, nj, ni + 1))
        Lu = g.u_face_length_m  # type: ignore[attr-defined]
        Du[:, :, 1:ni] = 0.5 * (sigma[:, :, 1:] + sigma[:, :, :-1]) * K * Lu[None, :, 1:ni] / dx[None, :, 1:]
        if g.is_periodic:  # type: ignore[attr-defined]
            Du[:, :, 0] = 0.5 * (sigma[:, :, 0] + sigma[:, :, -1]) * K * Lu[None, :, 0] / dx[None, :, 0]
            Du[:, :, ni] = Du[:, :, 0]
        Dv = np.zeros((nl, nj + 1, ni))
        dy = g.radius_m * np.deg2rad(np.diff(g.lat_deg))  # type: ignore[attr-defined]
        Lv = g.v_face_length_m  # type: ignore[attr-defined]
        Dv[:, 1:nj, :] = 0.5 * (sigma[:, 1:] + sigma[:, :-1]) * K * Lv[None, 1:nj] / dy[None, :, None]
        return Du, Dv

    def diffuse(self, air_kg: np.ndarray, air_mass_kg: np.ndarray, dt_s: float) -> dict[str, int]:
        """Advance ``air_kg (T, L, J, I)`` in place by ``dt_s``; returns the number of sub-steps used."""
        M = np.ascontiguousarray(air_mass_kg, dtype=np.float64)
        Du, Dv = self.exchange_rates_kg_s(M)
        out = Du[:, :, 1:] + Du[:, :, :-1] + Dv[:, 1:] + Dv[:, :-1]
        nsub = max(1, int(np.ceil(float(np.max(dt_s * out / M)) / 0.95)))
        status = np.zeros(1, dtype=np.int64)
        horizontal_diffusion(air_kg, M, Du, Dv, float(dt_s), nsub, bool(self.grid.is_periodic), status)  # type: ignore[attr-defined]
        if status[0]:
            raise AdvectionError("horizontal diffusion sub-step exceeded its stability limit (internal error)")
        return {"substeps": nsub}


__all__ = ["AdvectionError", "HorizontalAdvection", "HorizontalDiffusion", "SCHEMES", "Scheme"]
