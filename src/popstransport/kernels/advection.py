"""Numba kernels of horizontal advection: flux-form, dimension-split, finite-volume remap in air-mass coordinates.

Scheme
------
Every one-dimensional sweep (a latitude row for x, a longitude column for y) is a conservative remap in the
*air-mass coordinate* X (cumulative air mass along the line). A face ``f`` at ``X_f`` passes, during the
(sub-)step, the air mass ``r_f = h F_f`` (``F_f`` the air-mass flux, kg s-1, ``h`` the sub-step, s). The chemical
mass crossing the face is the integral of the reconstructed mixing ratio over the swept air,

    C_f = integral_{X_f - r_f}^{X_f} q(X) dX,

evaluated exactly: whole upstream cells contribute their chemical mass, the partial cell the integral of its
reconstruction. This is the flux-form semi-Lagrangian (FFSL) idea of Lin & Rood (1996, Mon. Wea. Rev. 124:2046),
here in the mass coordinate of Easter (1993, Mon. Wea. Rev. 121:297): the air mass of every cell is advanced with
the same fluxes (``M' = M - (r_{f+1} - r_f)``) and the chemical mass with ``C``, so a uniform mixing ratio stays
uniform for *any* (also divergent) fluxes, and the scheme is exactly conservative. Courant numbers above one need
no sub-stepping in x (the sweep walks over whole upstream cells), which keeps rows near the poles stable at the
time step the mid-latitudes allow.

Reconstructions (chosen by ``order``):

* ``3`` (default): flux-corrected transport (Zalesak 1979, J. Comput. Phys. 31:335) in mass form with the
  unlimited PPM flux (edges by CW84 eq. 1.6 with unlimited slopes) as the high-order flux and the donor-cell flux
  as the low-order one; it clips smooth peaks less than ``2`` while keeping the same kind of bounds;
* ``2``: piecewise parabolic method (PPM) of Colella & Woodward (1984, J. Comput. Phys. 54:174), edge values by
  their eq. (1.6) for non-uniform cell widths (the widths are the cells' air masses), monotonised slopes (1.8),
  edges clipped to the two neighbours, and the monotonicity limiter (1.10);
* ``1``: piecewise linear with the monotonised-central slope of van Leer (1977, J. Comput. Phys. 23:276);
* ``0``: piecewise constant (first-order upwind);
* ``4``: unlimited PPM (third order where smooth, not monotone; a reference for accuracy).

Bounds: with orders 0-2 every sweep gives each cell the mean of the reconstruction over an interval of the mass
coordinate (its departure interval). The limited reconstructions stay inside the range of the cell and its two
neighbours, so the new mixing ratio lies inside the old local range (no new extrema, no negatives) whenever the
intermediate air masses stay positive, whether or not the fluxes of a layer are divergent. With order 3 the FCT
limiter keeps each new mixing ratio inside the range of the old values of the cell and of the partial donor cells of
its two faces and of the donor-cell solution of the cell and its neighbours (itself bounded in the same way), again
for divergent fluxes too. The kernel reports a non-positive intermediate air
mass through its status array; the caller chooses sub-steps so that this does not happen.

Poles
-----
On a global grid the meridional sweeps run along great circles through both poles (column ``i`` up, column
``i + I/2`` down, one periodic line), so reconstructions see across the poles. C-grid fluxes cross no pole wall:
the air that crosses a pole goes round it with the zonal fluxes of the polar row. In a split step the polar cells
on the outflow side would give their equatorward neighbours about twice the meridional Courant number of their
air before the zonal sweep refills them (their poleward face has no length), which would force sub-steps on the
whole globe, and the remaps of a sub-step (at a Courant number below one) diffuse the whole field. So the polar
rows turn zonally half before and half after every meridional sweep, not in the zonal sweeps: a polar cell then
loses at most about the meridional Courant number of its air before it is refilled, and the rest of the globe keeps
one sub-step up to that Courant number. (Every row's zonal sweep is independent of the others, so moving the polar
rows' zonal transport round the meridional sweep is just another operator splitting, conservative and consistent.)

Tags
----
All tags share the air mass and the limiter. In every sweep the fluxes are computed once, exactly as for a single
tracer, for the *total* over tags (its inflow mixing ratio is the sum of the tags'); then each face's chemical flux
is split among the tags by their shares of its donor region (:func:`split_fluxes`): a face whose departure interval
passes whole cells carries each tag's exact mass in those cells, and of the rest, which comes from the partial donor
cell, the fraction ``FRAC`` of the total's mass in that cell, each tag its own share ``m_t / m`` of it (air from
outside an open boundary: the tags' inflow mixing ratios). The work is ordered for memory traffic: a work item of
lines first sweeps the totals of all its lines and keeps the tag-independent part of every split (the weights of the
partial donor cells, and the faces that pass whole cells), then every tag goes through all the lines, so that a tag
is read and written as long streams (consecutive rows are adjacent in memory; consecutive great circles share cache
lines). The total over tags is summed once per call; a call that starts with a zonal sweep sums it row by row inside
that sweep and splits every row right after its sweep, while the row's tags are still in cache. A tag's face fluxes
are a branch-free stencil of its old masses: two points where no face passes a whole cell, up to ``BAND`` points on
each side where none passes more than ``BAND - 1``; a line with longer donor regions takes their whole cells as
differences of its running sum. On global grids the meridional split goes plane by plane: the great circles write
the weights of their faces in grid layout and every tag's layer is updated row by row, with loops over longitude
(:func:`_meridional_plane`). A sub-step that sweeps meridionally first (alternating splitting) sweeps the totals of
both directions first and then takes every tag's plane through its meridional pass, the polar rows' second half-turn
and its zonal split in turn (:func:`_tag_planes`): the plane is read and written once for both sweeps, and the
operations on every tag are those of the sweeps one after the other. So, for every sweep and sub-step:

* the tags add up to the single-tracer run of their total to round-off (cells, face accumulators, inflow and
  outflow); with one tag the kernel *is* the single-tracer scheme, bit for bit;
* ``0 <= FRAC <= 1`` (orders 0-2 by construction; order 3 limits the antidiffusive flux of a face to keep it), so
  the new mass of a tag in a cell is a non-negative combination of its old masses and inflow around the cell's
  departure interval with weights that do not depend on the tag: every tag stays non-negative, and its share
  ``m_t / m`` of the cell is a convex combination of its shares around the departure interval. The *mixing ratio*
  of a tag is bounded that way only for order 0: with a high-order total flux the tags' fluxes follow the total's
  reconstruction, so a tag that is uniform while another tag is not need not stay uniform (the shares are carried
  as by upwind in the total's mass coordinate);
* order 0 split this way equals every tag advected on its own (to round-off); order 4 (linear, not monotone)
  advects every tag on its own. With these two the transport is linear in the tags; with orders 1-3 it is not:
  the limiter acts on the total, so a run with one source removed differs from the base run minus that source's
  tag by the limiter's non-linearity (a few per cent of the tag locally; see ``tests/test_tag_advection.py``).

Status codes written to ``status[l, :] = (code, index_1, index_2, substep)`` for layer ``l`` (all tags share it):

* ``1``: an intermediate air mass is not positive (index_1 = lat row, index_2 = lon column);
* ``2``: in x, the air swept through a face exceeds the air of a whole latitude row (index_1 = row, index_2 = face).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numba import config as numba_config
from numba import njit, prange

from .workspace import LastShape

#: Ghost cells on each side of a line (PPM needs two).
GHOST = 2

STATUS_OK = 0
STATUS_EMPTY_CELL = 1
STATUS_ROW_OVERRUN = 2


@dataclass(frozen=True)
class AdvectionKernelOptions:
    """Options that specialise the advection kernel.

    Attributes
    ----------
    order
        0 piecewise constant (upwind), 1 piecewise linear (van Leer), 2 PPM with the CW84 limiter, 3 unlimited
        PPM fluxes limited by flux-corrected transport (default), 4 unlimited PPM (not monotone; for reference).
    periodic_x
        Longitude is periodic (global grids, and zonal bands: regional grids of 360 degrees): face ``I`` is face
        ``0``. With ``cross_pole`` False (a band) the rows are periodic lines and the columns bounded lines whose
        end faces are the band's open south and north edges (inflow ``qbc_s``/``qbc_n``, booked on ``boundary``);
        an edge at a pole has no length and passes nothing.
    cross_pole
        Global grid with an even number of longitudes: meridional sweeps run along great circles through both
        poles (column ``i`` and column ``i + I/2`` form one periodic line) and air crosses the poles directly
        between opposite cells of the polar rows; the polar rows turn zonally half before and half after every
        meridional sweep instead of in the zonal sweeps (see the module docstring). Otherwise meridional lines
        end at walls or open boundaries and ghost cells copy the edge cell.
    splitting
        ``"alternating"``: each sub-step is x then y or y then x, the order alternating between sub-steps and
        calls (two sweeps); ``"strang"``: each sub-step is y(h/2) x(h) y(h/2) (Strang 1968; three sweeps). With
        y outside, the air a polar cell loses to zonal divergence before the meridional inflow arrives is halved,
        so cross-polar flow needs fewer sub-steps.
    parallel
        Compile with ``prange`` over the lines of every sweep; small problems run faster serially (no thread
        wake-up).
    """

    order: int = 3
    periodic_x: bool = True
    cross_pole: bool = True
    splitting: str = "alternating"
    parallel: bool = True


@njit(cache=True, error_model="numpy")
def reconstruct_line(qp, wp, beta, n, order, aL, aR, a6, slope, edge):
    """Reconstruction of the mixing ratio in the ``n`` cells of one padded line.

    ``qp`` and ``wp`` (length ``n + 2 * GHOST``) hold the mixing ratios and the geometric cell widths (radians of
    longitude or latitude) of the line with ``GHOST`` ghost cells at each end; cell ``i`` is ``qp[i + GHOST]``.
    Writes the left and right edge values ``aL, aR`` and the parabola coefficient ``a6`` of every cell, so that
    inside the cell ``q(x) = aL + x (aR - aL + a6 (1 - x))`` for ``x`` in ``[0, 1]`` (Colella & Woodward 1984,
    eq. 1.5). The air inside a cell has the linear density ``1 + beta (x - 1/2)``; ``a6`` is chosen so that the
    *air-mass weighted* mean of the parabola is the cell's mixing ratio,
    ``a6 = 6 (q - (aL + aR) / 2) - beta (aR - aL) / 2`` (CW84's value for ``beta = 0``), so a cell is exactly the
    sum of its parts (a remap). ``slope`` (length ``n + 2 * GHOST``) and ``edge`` (length ``n + 1``) are scratch.
    """
    g = GHOST
    if order == 0:
        for i in range(n):
            q = qp[i + g]
            aL[i] = q
            aR[i] = q
            a6[i] = 0.0
        return
    # monotonised slopes for padded cells 1 .. n + 2 (cells -1 .. n), CW84 eqs. 1.7-1.8
    slope[0] = 0.0
    slope[n + 2 * g - 1] = 0.0
    if order >= 3:
        uniform = True
        w_0 = wp[0]
        for p in range(1, n + 2 * g):
            uniform &= wp[p] == w_0
        if uniform:
            # equal widths: the slope is the central difference and eq. 1.6 the fourth-order edge value
            # 7/12 (a_j + a_j+1) - 1/12 (a_j-1 + a_j+2), written as a_j + da / 2 + (s_j - s_j+1) / 6
            for p in range(1, n + 2 * g - 1):
                slope[p] = 0.5 * (qp[p + 1] - qp[p - 1])
            for i in range(n):
                p = i + g
                l = qp[p - 1] + 0.5 * (qp[p] - qp[p - 1]) + (slope[p - 1] - slope[p]) / 6.0
                r = qp[p] + 0.5 * (qp[p + 1] - qp[p]) + (slope[p] - slope[p + 1]) / 6.0
                aL[i] = l
                aR[i] = r
                a6[i] = 6.0 * (qp[p] - 0.5 * (l + r)) - 0.5 * beta[i] * (r - l)
            return
    for p in range(1, n + 2 * g - 1):
        dm = wp[p - 1]
        d0 = wp[p]
        dp = wp[p + 1]
        dqr = qp[p + 1] - qp[p]
        dql = qp[p] - qp[p - 1]
        s = d0 / (dm + d0 + dp) * ((2.0 * dm + d0) / (dp + d0) * dqr + (d0 + 2.0 * dp) / (dm + d0) * dql)
        if order >= 3:
            slope[p] = s
        elif dqr * dql > 0.0:
            k = 2.0
            if order == 1 and g <= p < n + g:
                k = 1.0 / (0.5 + abs(beta[p - g]) / 12.0)
            lim = min(abs(s), k * abs(dql), k * abs(dqr))
            slope[p] = lim if s > 0.0 else -lim
        else:
            slope[p] = 0.0
    if order == 1:
        for i in range(n):
            p = i + g
            q = qp[p]
            aL[i] = q - (0.5 + beta[i] / 12.0) * slope[p]
            aR[i] = aL[i] + slope[p]
            a6[i] = 0.0
        return
    # edge values at faces 0 .. n (face f between padded cells f + g - 1 and f + g), CW84 eq. 1.6
    for f in range(n + 1):
        j = f + g - 1
        d1 = wp[j - 1]
        d2 = wp[j]
        d3 = wp[j + 1]
        d4 = wp[j + 2]
        a2 = qp[j]
        a3 = qp[j + 1]
        da = a3 - a2
        e = (
            a2
            + d2 / (d2 + d3) * da
            + (
                2.0 * d3 * d2 / (d2 + d3) * ((d1 + d2) / (2.0 * d2 + d3) - (d4 + d3) / (2.0 * d3 + d2)) * da
                - d2 * (d1 + d2) / (2.0 * d2 + d3) * slope[j + 1]
                + d3 * (d3 + d4) / (d2 + 2.0 * d3) * slope[j]
            )
            / (d1 + d2 + d3 + d4)
        )
        if order >= 3:
            edge[f] = e
        else:
            edge[f] = min(max(e, min(a2, a3)), max(a2, a3))
    if order >= 3:
        for i in range(n):
            l = edge[i]
            r = edge[i + 1]
            aL[i] = l
            aR[i] = r
            a6[i] = 6.0 * (qp[i + g] - 0.5 * (l + r)) - 0.5 * beta[i] * (r - l)
        return
    # monotonicity limiter, CW84 eq. 1.10, generalised to the weighted mean: an overshooting parabola gets the
    # edge value that makes it flat at its other end (a6 = +-(aR - aL)); for beta = 0 these are 3q - 2aR, 3q - 2aL
    for i in range(n):
        q = qp[i + g]
        b = beta[i]
        l = edge[i]
        r = edge[i + 1]
        if (r - q) * (q - l) <= 0.0:
            l = q
            r = q
        else:
            d = r - l
            c6 = 6.0 * (q - 0.5 * (l + r)) - 0.5 * b * d
            if d * c6 > d * d:
                l = (6.0 * q - r * (4.0 + 0.5 * b)) / (2.0 - 0.5 * b)
            elif -d * d > d * c6:
                r = (6.0 * q - l * (4.0 - 0.5 * b)) / (2.0 + 0.5 * b)
        aL[i] = l
        aR[i] = r
        a6[i] = 6.0 * (q - 0.5 * (l + r)) - 0.5 * b * (r - l)


# Inlining: the few-line arithmetic of the inner loops (the means and partial integrals of a cell, ``_max_abs``,
# ``_kadd``, ``_book``) is inlined by Numba (``inline="always"``); every larger helper is an ordinary function that
# LLVM inlines where it pays. Numba inlines by copying and re-typing the callee's IR at every call site, and with the
# larger helpers inlined that way the tagged kernel took 45.6 s instead of 36.6 s to compile, for the same run time
# (in-process A/B 0.97-1.04, bit for bit). Compiling the functions that only kernels call without their Python
# wrappers (``no_cpython_wrapper``) took 2.4 s more off, but a call of such a function from Python crashes the
# interpreter instead of raising, so they keep them.


@njit(cache=True, error_model="numpy", inline="always")
def mean_right(l, r, c6, c):
    """Mean of the cell reconstruction over its right-hand fraction ``c`` (CW84 eq. 1.12)."""
    return r - 0.5 * c * ((r - l) - (1.0 - 2.0 / 3.0 * c) * c6)


@njit(cache=True, error_model="numpy", inline="always")
def mean_left(l, r, c6, c):
    """Mean of the cell reconstruction over its left-hand fraction ``c`` (CW84 eq. 1.12)."""
    return l + 0.5 * c * ((r - l) + (1.0 - 2.0 / 3.0 * c) * c6)


@njit(cache=True, error_model="numpy", inline="always")
def partial_right(l, r, c6, beta, c):
    """Chemical mass per unit cell air mass in the right-hand air-mass fraction ``c`` of a cell.

    Inside the cell (geometric coordinate ``x`` in ``[0, 1]``) the mixing ratio is the parabola
    ``q(x) = l + x (r - l + c6 (1 - x))`` and the air-mass density is linear, ``rho(x) = 1 + beta (x - 1/2)``
    (``|beta| <= 2``; ``beta = 0`` for uniform air). The right-hand part ``[1 - a, 1]`` holding the fraction ``c``
    of the air has ``a (P - beta a / 2) = c`` with ``P = 1 + beta / 2``; the result is the integral of ``q rho``
    over it (for ``beta = 0`` this is ``c`` times CW84's eq. 1.12).
    """
    if beta == 0.0 or c <= 0.0:
        return c * mean_right(l, r, c6, c)
    p = 1.0 + 0.5 * beta
    a = 2.0 * c / (p + np.sqrt(max(p * p - 2.0 * beta * c, 0.0)))
    b = r - l - c6
    return a * (r * p + a * (-0.5 * (r * beta + b * p) + a * ((b * beta - c6 * p) / 3.0 + a * (0.25 * c6 * beta))))


@njit(cache=True, error_model="numpy", inline="always")
def _partial(l, r, c6, beta, c):
    """:func:`partial_right` without branches (the same formula; also for ``beta = 0`` and ``c = 0``), for loops
    that vectorise. The left-hand part of a cell is the right-hand part of its reflection:
    ``partial_left(l, r, c6, beta, c) = _partial(r, l, c6, -beta, c)``."""
    p = 1.0 + 0.5 * beta
    a = 2.0 * c / max(p + np.sqrt(max(p * p - 2.0 * beta * c, 0.0)), 1e-300)
    b = r - l - c6
    return a * (r * p + a * (-0.5 * (r * beta + b * p) + a * ((b * beta - c6 * p) / 3.0 + a * (0.25 * c6 * beta))))


@njit(cache=True, error_model="numpy", inline="always")
def partial_left(l, r, c6, beta, c):
    """Chemical mass per unit cell air mass in the left-hand air-mass fraction ``c`` of a cell (see
    :func:`partial_right`)."""
    if beta == 0.0 or c <= 0.0:
        return c * mean_left(l, r, c6, c)
    p = 1.0 - 0.5 * beta
    a = 2.0 * c / (p + np.sqrt(max(p * p + 2.0 * beta * c, 0.0)))
    b = r - l + c6
    return a * (l * p + a * (0.5 * (l * beta + b * p) + a * ((b * beta - c6 * p) / 3.0 - a * (0.25 * c6 * beta))))


#: Rows of the per-line scratch array ``scr`` (shape ``(N_SCRATCH, n + 2 * GHOST + 1)``).
(QP, WP, R, FLUX, AL, AR, A6, SLOPE, EDGE, FLOW, DONOR, QTD, WNEW, RPLUS, RMINUS, WHOLE, NWHOLE, FRAC, QDON,
 MDON) = range(20)
N_SCRATCH = 20


@njit(cache=True, error_model="numpy")
def _donor_right(f, rf, n, m, w, periodic, q_lo, aL, aR, a6, beta):
    """Chemical mass in the air ``rf >= 0`` swept through face ``f`` from the cells below it, its low-order
    (donor-cell constant) part, the partial donor cell (``-1``: outside the line), and the chemical mass and number
    of the whole cells passed. The caller makes sure that ``rf`` does not exceed the air of a periodic line."""
    acc = 0.0
    low = 0.0
    whole = 0.0
    nw = 0
    kout = -1
    rem = rf
    k = f - 1
    while True:
        if k < 0:
            if not periodic:
                acc += rem * q_lo
                low += rem * q_lo
                kout = -1
                break
            k += n
        wk = w[k]
        if rem <= wk:
            c = rem / wk
            acc += wk * partial_right(aL[k], aR[k], a6[k], beta[k], c)
            low += c * m[k]
            kout = k
            break
        acc += m[k]
        low += m[k]
        whole += m[k]
        nw += 1
        rem -= wk
        k -= 1
    return acc, low, kout, whole, nw


@njit(cache=True, error_model="numpy")
def _donor_left(f, rf, n, m, w, periodic, q_hi, aL, aR, a6, beta):
    """As :func:`_donor_right` for ``rf < 0`` (air from the cells above face ``f``); results are negative."""
    acc = 0.0
    low = 0.0
    whole = 0.0
    nw = 0
    kout = -1
    rem = -rf
    k = f
    while True:
        if k >= n:
            if not periodic:
                acc += rem * q_hi
                low += rem * q_hi
                kout = -1
                break
            k -= n
        wk = w[k]
        if rem <= wk:
            c = rem / wk
            acc += wk * partial_left(aL[k], aR[k], a6[k], beta[k], c)
            low += c * m[k]
            kout = k
            break
        acc += m[k]
        low += m[k]
        whole += m[k]
        nw += 1
        rem -= wk
        k += 1
    return -acc, -low, kout, -whole, nw


@njit(cache=True, error_model="numpy", inline="always")
def _max_abs(x, n):
    """``max(abs(x[:n]))`` (0 for ``n = 0``), in four independent chains."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    n4 = n - n % 4
    for i in range(0, n4, 4):
        a0 = max(a0, abs(x[i]))
        a1 = max(a1, abs(x[i + 1]))
        a2 = max(a2, abs(x[i + 2]))
        a3 = max(a3, abs(x[i + 3]))
    for i in range(n4, n):
        a0 = max(a0, abs(x[i]))
    return max(max(a0, a1), max(a2, a3))


@njit(cache=True, error_model="numpy", inline="always")
def _donor_share(flux, whole, m_donor, air):
    """Share of the partial donor cell's chemical ``m_donor`` (or, outside an open line, of the inflow mixing ratio)
    in a face's chemical flux ``flux`` beyond the whole cells ``whole`` it passed (``FRAC``; 0 without air flux
    ``air`` or without chemical in the donor)."""
    x = (flux - whole) / m_donor
    return x if m_donor > 0.0 and air != 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def sweep_line(n, m, w, beta, periodic, q_lo, q_hi, order, scr, apply=True, split=True):
    """One conservative 1-D remap of a line of ``n`` cells; updates ``m`` and ``w`` in place.

    Parameters
    ----------
    n
        Number of cells.
    m, w
        Chemical mass (kg) and air mass (kg) of the ``n`` cells; replaced by their values after the sweep.
    beta
        Slope of the linear air-mass density inside every cell (see :func:`partial_right`), length ``n``.
    periodic
        The line is periodic (face ``n`` is face ``0``).
    q_lo, q_hi
        Mixing ratio of air entering through face 0 / face n of a non-periodic line.
    order
        0 upwind, 1 van Leer, 2 PPM with the CW84 limiter, 3 PPM limited by flux-corrected transport.
    scr
        Scratch ``(N_SCRATCH, >= n + 2 * GHOST + 1)``. On entry ``scr[QP]``, ``scr[WP]`` hold the padded mixing
        ratios and geometric widths (see :func:`reconstruct_line`) and ``scr[R, :n + 1]`` the air mass (kg) crossing
        every face during the sweep, positive towards higher index. On exit ``scr[FLUX, :n + 1]`` holds the
        chemical mass (kg) that crossed every face, and for every face (``:n``, or ``:n + 1`` for an open line)
        ``scr[DONOR]`` its partial donor cell (``-1``: air from outside an open line), ``scr[NWHOLE]`` the number
        and ``scr[WHOLE]`` the chemical mass (signed like the flux) of the whole cells it passed, and
        ``scr[FRAC]`` (only when ``split``) the signed fraction of the partial donor cell's chemical (or, for air
        from outside, the air mass at the inflow mixing ratio) that made up the rest of the flux:
        ``FLUX = WHOLE + FRAC * m[DONOR]``, with ``scr[MDON]`` the chemical mass of the partial donor cell (the
        inflow mixing ratio for air from outside). :func:`split_fluxes` uses them to split the flux among tags.

    The faces whose air comes from the neighbouring cell alone (Courant number at most one) go through one
    branch-free loop over the line that vectorises; the others (and the end faces) through the donor walk. The
    limiter and the split fractions use the donor values kept per face, so their loops vectorise too.

    Order 3 is the flux-corrected transport of Zalesak (1979, J. Comput. Phys. 31:335) in mass form: the
    high-order flux (unlimited PPM) is the donor-cell flux plus an antidiffusive part that is scaled down so that
    the new mixing ratio of a cell stays within the old values of the cell, of the partial donor cells of its
    faces, and the low-order (donor-cell) values of it and its neighbours, so that the chemical flux never
    runs against the air flux, and so that a face never takes more than all or less than none of its partial
    donor cell's chemical (``0 <= FRAC <= 1``). With orders 0-2 the last holds by construction (non-negative
    reconstructions integrate to the cell's mass).

    Returns
    -------
    int
        ``-1`` on success; otherwise ``STATUS_EMPTY_CELL * 1_000_000 + cell`` for a non-positive new air mass or
        ``STATUS_ROW_OVERRUN * 1_000_000 + face`` when a periodic line is swept more than once around.
    """
    r = scr[R]
    flux = scr[FLUX]
    aL = scr[AL]
    aR = scr[AR]
    a6 = scr[A6]
    reconstruct_line(scr[QP], scr[WP], beta, n, order, aL, aR, a6, scr[SLOPE], scr[EDGE])
    nf = n if periodic else n + 1
    fct = order == 3
    flow = scr[FLOW]
    donor = scr[DONOR]
    # air of the whole periodic line, summed only when a face needs the donor walk (a face that passes the line's
    # whole air is refused: the walk would go round more than once)
    wt = -1.0
    whole = scr[WHOLE]
    nwhole = scr[NWHOLE]
    # the inner faces whose air comes from the neighbouring cell alone (Courant number at most one, the common case)
    # in one branch-free loop that vectorises: the donor's values are selected by the direction of the air flux, and
    # air from the cell above a face is the right-hand part of the reflected cell (:func:`_partial`); the other
    # faces are marked (NWHOLE = -1) for the loop below
    qp = scr[QP]
    qd = scr[QDON]
    mdon = scr[MDON]
    flat = True
    for i in range(n):
        flat &= beta[i] == 0.0
    walk = False
    for i in range(n - 1):
        f = i + 1
        rf = r[f]
        up = rf >= 0.0
        w_lo = w[i]
        w_hi = w[f]
        wk = w_lo if up else w_hi
        ra = abs(rf)
        c = min(ra / wk, 1.0)
        l_lo = aL[i]
        r_lo = aR[i]
        l_hi = aL[f]
        r_hi = aR[f]
        m_lo = m[i]
        m_hi = m[f]
        b_lo = beta[i]
        b_hi = beta[f]
        e6_lo = a6[i]
        e6_hi = a6[f]
        ll = l_lo if up else r_hi
        rr = r_lo if up else l_hi
        c6 = e6_lo if up else e6_hi
        sg = 1.0 if up else -1.0
        if flat:
            part = c * mean_right(ll, rr, c6, c)
        else:
            part = _partial(ll, rr, c6, b_lo if up else -b_hi, c)
        flux[f] = sg * (wk * part)
        flow[f] = sg * (c * (m_lo if up else m_hi))
        donor[f] = i if up else f
        mdon[f] = m_lo if up else m_hi
        q_a = qp[i + GHOST]
        q_b = qp[f + GHOST]
        qd[f] = q_a if up else q_b
        whole[f] = 0.0
        nwhole[f] = 0.0 if ra <= wk else -1.0
        walk |= not ra <= wk
    # the end faces, and the faces marked above: the air comes from a neighbour alone (inline), or, past whole
    # cells or from outside an open line, from the donor walk. (The two directions are written out: one branch that
    # selects either walk makes the loop about twice as slow.) Without marked faces only the end faces.
    step = 1 if walk else max(n, 1)
    for f in range(0, nf, step):
        if 0 < f < n and nwhole[f] == 0.0:
            continue
        rf = r[f]
        if rf >= 0.0:
            k = f - 1
            if k < 0 and periodic:
                k = n - 1
            if k >= 0 and rf <= w[k]:
                wk = w[k]
                c = rf / wk
                flux[f] = wk * partial_right(aL[k], aR[k], a6[k], beta[k], c)
                flow[f] = c * m[k]
                donor[f] = k
                whole[f] = 0.0
                nwhole[f] = 0.0
            else:
                if periodic:
                    if wt < 0.0:
                        wt = w[:n].sum()
                    if rf >= wt:
                        return STATUS_ROW_OVERRUN * 1_000_000 + f
                hi, lo, k, wh, nw = _donor_right(f, rf, n, m, w, periodic, q_lo, aL, aR, a6, beta)
                flux[f] = hi
                flow[f] = lo
                donor[f] = k
                whole[f] = wh
                nwhole[f] = nw
        else:
            k = f
            if k >= n and periodic:
                k = 0
            if k < n and -rf <= w[k]:
                wk = w[k]
                c = -rf / wk
                flux[f] = -(wk * partial_left(aL[k], aR[k], a6[k], beta[k], c))
                flow[f] = -(c * m[k])
                donor[f] = k
                whole[f] = 0.0
                nwhole[f] = 0.0
            else:
                if periodic:
                    if wt < 0.0:
                        wt = w[:n].sum()
                    if -rf >= wt:
                        return STATUS_ROW_OVERRUN * 1_000_000 + f
                hi, lo, k, wh, nw = _donor_left(f, rf, n, m, w, periodic, q_hi, aL, aR, a6, beta)
                flux[f] = hi
                flow[f] = lo
                donor[f] = k
                whole[f] = wh
                nwhole[f] = nw
        # the partial donor's chemical mass and mixing ratio (air from outside: the inflow mixing ratio, for both; an
        # end face of an open line without flow: no donor, and the end cell's own mixing ratio, no further bound)
        k = int(donor[f])
        if k >= 0:
            mdon[f] = m[k]
            qd[f] = qp[k + GHOST]
        elif rf > 0.0:
            mdon[f] = q_lo
            qd[f] = q_lo
        elif rf < 0.0:
            mdon[f] = q_hi
            qd[f] = q_hi
        else:
            mdon[f] = 0.0
            qd[f] = qp[GHOST] if f == 0 else qp[n - 1 + GHOST]
    # the new air masses and, for FCT, the donor-cell solution in the same loop (padded: index i + 1 for cell i; the
    # pads are the periodic neighbours or, at the ends of an open line, the end cell itself, no further bound). The
    # antidiffusive flux of a face, ``flux - flow``, is formed where it is used rather than kept in a row of its own.
    wnew = scr[WNEW]
    qtd = scr[QTD]
    ok = True
    if fct:
        if periodic:
            flow[n] = flow[0]
            flux[n] = flux[0]
            donor[n] = donor[0]
            qd[n] = qd[0]
        for i in range(n):
            wn = w[i] - (r[i + 1] - r[i])
            ok &= wn > 0.0
            wnew[i] = wn
            qtd[i + 1] = (m[i] - (flow[i + 1] - flow[i])) / wn
    else:
        for i in range(n):
            wn = w[i] - (r[i + 1] - r[i])
            ok &= wn > 0.0
            wnew[i] = wn
    if not ok and (apply or fct):
        for i in range(n):
            if not wnew[i] > 0.0:
                return STATUS_EMPTY_CELL * 1_000_000 + i
    frac = scr[FRAC]
    if fct:
        g = GHOST
        if periodic:
            qtd[0] = qtd[n]
            qtd[n + 1] = qtd[1]
        else:
            qtd[0] = qtd[1]
            qtd[n + 1] = qtd[n]
        rp = scr[RPLUS]
        rm = scr[RMINUS]
        for i in range(n):
            q = qp[i + g]
            hi = max(max(max(q, qtd[i + 1]), max(qtd[i], qtd[i + 2])), max(qd[i], qd[i + 1]))
            lo = min(min(min(q, qtd[i + 1]), min(qtd[i], qtd[i + 2])), min(qd[i], qd[i + 1]))
            a0 = flux[i] - flow[i]
            a1 = flux[i + 1] - flow[i + 1]
            ain = max(a0, 0.0) - min(a1, 0.0)
            aout = max(a1, 0.0) - min(a0, 0.0)
            room_up = (hi - qtd[i + 1]) * wnew[i]
            room_dn = (qtd[i + 1] - lo) * wnew[i]
            cp = min(1.0, room_up / ain) if ain > 0.0 else 1.0
            cm = min(1.0, room_dn / aout) if aout > 0.0 else 1.0
            rp[i + 1] = max(cp, 0.0)
            rm[i + 1] = max(cm, 0.0)
        if periodic:
            rp[0] = rp[n]
            rm[0] = rm[n]
            rp[n + 1] = rp[1]
            rm[n + 1] = rm[1]
        else:
            rp[0] = 1.0
            rm[0] = 1.0
            rp[n + 1] = 1.0
            rm[n + 1] = 1.0
        # (branch-free, so that the loop vectorises: every candidate is computed and the right one selected; with
        # ``split`` also the share of the face's partial donor cell, below)
        for f in range(nf):
            a = flux[f] - flow[f]
            rf = r[f]
            # antidiffusive flux from cell f - 1 to cell f (a >= 0) or back (padded indices f and f + 1)
            c_up = min(min(rp[f + 1], rm[f]), 1.0)
            c_dn = min(min(rp[f], rm[f + 1]), 1.0)
            c = c_up if a >= 0.0 else c_dn
            fl = flow[f]
            # the chemical flux keeps the direction of the air flux (meaningful gross fluxes)
            c_dir = -fl / a
            c = c_dir if rf * (fl + c * a) < 0.0 else c
            # the face takes from its partial donor cell between none and all of that cell's chemical, so the flux
            # can be split among tags by their shares of the donor cell (tags stay non-negative)
            sg = 1.0 if rf >= 0.0 else -1.0
            pl = sg * (fl - whole[f])
            sa = sg * a
            room_in = max(mdon[f] - pl, 0.0)
            room_out = max(pl, 0.0)
            room = room_in if sa > 0.0 else room_out
            asa = abs(sa)
            c_room = room / asa
            c = c_room if (donor[f] >= 0.0 and a != 0.0 and c * asa > room) else c
            fx = fl + c * a
            flux[f] = fx
            if split:
                frac[f] = _donor_share(fx, whole[f], mdon[f], rf)
        if not periodic:
            flux[0] = flow[0]  # open boundary: nothing outside can give or take antidiffusive mass
            flux[n] = flow[n]
            if split:
                frac[0] = _donor_share(flux[0], whole[0], mdon[0], r[0])
                frac[n] = _donor_share(flux[n], whole[n], mdon[n], r[n])
    else:
        for f in range(nf if split else 0):
            frac[f] = _donor_share(flux[f], whole[f], mdon[f], r[f])
    if periodic:
        flux[n] = flux[0]
    if apply:
        tiny = _max_abs(m, n) * 1e-13
        for i in range(n):
            mi = m[i] - (flux[i + 1] - flux[i])
            if mi < 0.0 and order < 4 and mi > -tiny:
                mi = 0.0  # rounding below a bound of 0 (the schemes are positive in exact arithmetic)
            m[i] = mi
            w[i] = wnew[i]
    return -1


@njit(cache=True, error_model="numpy", inline="always")
def _kadd(b, k, x):
    """Compensated (Kahan) addition of ``x`` to ``b[k]`` with its rounding carry in ``b[k + 2]``."""
    y = x - b[k + 2]
    t = b[k] + y
    b[k + 2] = (t - b[k]) - y
    b[k] = t


@njit(cache=True, error_model="numpy")
def _book_boundary(bnd, f_lo, f_hi):
    """Add the chemical mass through the low and high end faces of an open line to inflow bnd[0] / outflow bnd[1]."""
    if f_lo > 0.0:
        _kadd(bnd, 0, f_lo)
    else:
        _kadd(bnd, 1, -f_lo)
    if f_hi > 0.0:
        _kadd(bnd, 1, f_hi)
    else:
        _kadd(bnd, 0, -f_hi)


#: Rows of the face tables of :func:`prepare_split`, ``wfi`` (int) and ``wff`` (float). A banded line lists there the
#: faces with air from outside: the face, its inflow end (-1, -2: the low, high end) and ``FRAC`` (signed as the air
#: flux). A line whose faces pass longer runs of whole cells has every face in them, in face order: its partial
#: donor cell (or -1, -2), the running-sum indices ``hi``, ``lo`` whose difference ``ps[hi] - ps[lo]`` is the signed
#: mass of the whole cells passed (the two swapped for air towards lower index), the face's weight of the partial donor
#: and in ``WF_WRAP`` the signed line total to add where the whole cells wrap round a periodic line (+-1, 0 otherwise).
WF_FACE, WF_DONOR, WF_HI, WF_LO = range(4)
WF_FRAC, WF_WRAP = range(2)

#: Rows of the banded split weights: a line whose faces pass at most ``BAND - 1`` whole cells splits its fluxes as a
#: stencil of ``BAND`` or fewer cells on each side of every face (:func:`split_fluxes`); a line with longer donor
#: regions takes the whole cells as differences of its running sum.
BAND = 4


@njit(cache=True, error_model="numpy")
def prepare_split(n, periodic, scr, wd, wfi, wff):
    """Tag-independent part of splitting the fluxes of the last :func:`sweep_line` call among tags.

    Face ``f`` carries the tag's mass in the ``k < NWHOLE`` whole cells it passed and ``FRAC`` times the tag's mass in
    its partial donor cell (offset ``k = NWHOLE``), where offset ``k`` is cell ``f - 1 - k`` for air moving towards
    higher index and cell ``f + k`` otherwise (``m`` periodic on a periodic line). With signed weights ``wd[k, f]``
    (``+-1`` for whole cells, ``FRAC`` for the partial donor, 0 beyond; the sign of the air flux, and a
    rounding-level ``FRAC`` of the other sign counts as zero) the tag's flux is the stencil
    ``sum_k max(wd[k, f], 0) m[f - 1 - k] + min(wd[k, f], 0) m[f + k]``.

    Returns ``(nw, rows)``. If no face passes ``BAND`` or more whole cells (and no face that takes air from outside
    an open line passes any), ``rows`` (1 .. ``BAND``) weight rows are written for faces ``0 .. n`` and the ``nw``
    faces with air from outside are listed in the tables ``wfi``, ``wff`` (see ``WF_*``). Otherwise ``rows`` is 0
    and the tables hold all ``nw`` faces of the line in face order (``n``, or ``n + 1`` for an open line), each with
    its partial donor and weight and its whole cells as a difference of the line's running sum ``ps``,
    ``ps[hi] - ps[lo] + wrap * ps[n]`` (signed as the flux): one branch-free loop over the faces, without the
    stencil. The tables have at least ``n + 1`` columns and ``wd`` at least ``BAND`` rows of ``n + 1``. Everything
    a tag's split needs is then in these arrays, so the scratch can serve the next line before the tags are split.
    """
    r = scr[R]
    donor = scr[DONOR]
    nwhole = scr[NWHOLE]
    frac = scr[FRAC]
    nf = n if periodic else n + 1
    # the longest run of whole cells, and whether air from outside passed any (looked for only where some face passed
    # whole cells: that test vectorises, the running maximum does not)
    kmax = 0.0
    out_whole = False
    some_whole = False
    for f in range(nf):
        some_whole |= nwhole[f] > 0.0
    for f in range(nf if some_whole else 0):
        inside = donor[f] >= 0.0
        kmax = max(kmax, nwhole[f] if inside else 0.0)
        out_whole |= nwhole[f] > 0.0 and not inside
    if kmax >= BAND or out_whole:
        # every face in the tables (a face past no whole cell gets equal running-sum indices, and, from a cell of
        # the line, the weight of the stencil: its own FRAC of the other sign at rounding level counts as zero)
        for f in range(nf):
            k = int(donor[f])
            cnt = int(nwhole[f])
            up = r[f] >= 0.0
            x = frac[f]
            wrap = 0.0
            if up:
                hi = f
                lo = f - cnt  # cells lo .. f - 1
                if lo < 0:
                    lo += n
                    wrap = 1.0
            else:
                lo = f
                hi = f + cnt  # cells f .. hi - 1
                if hi > n:
                    hi -= n
                    wrap = -1.0
            wfi[WF_DONOR, f] = k if k >= 0 else (-1 if up else -2)
            wfi[WF_HI, f] = hi if up else lo
            wfi[WF_LO, f] = lo if up else hi
            wff[WF_FRAC, f] = x if (k < 0 or cnt > 0) else (max(x, 0.0) if up else min(x, 0.0))
            wff[WF_WRAP, f] = wrap
        return nf, 0
    rows = int(kmax) + 1
    # the weights, one loop per offset that vectorises (zero for the faces with air from outside), noting whether
    # there are any
    listed = False
    for k in range(rows):
        wk = wd[k]
        for f in range(nf):
            nw = nwhole[f]
            x = frac[f]
            up = r[f] >= 0.0
            slow = donor[f] < 0.0
            part = max(x, 0.0) if up else min(x, 0.0)
            one = 1.0 if up else -1.0
            v = one if k < nw else (part if k == nw else 0.0)
            wk[f] = 0.0 if slow else v
            listed |= slow
        if periodic:
            wk[n] = wk[0]
    nw = 0
    for f in range(nf if listed else 0):
        if donor[f] < 0.0:
            wfi[WF_FACE, nw] = f
            wfi[WF_DONOR, nw] = -1 if r[f] >= 0.0 else -2
            wff[WF_FRAC, nw] = frac[f]
            nw += 1
    return nw, rows


@njit(cache=True, error_model="numpy", inline="always")
def _tw(w, m_below, m_above):
    """A tag's chemical mass through a face from one offset of its stencil (signed weight ``w``, see
    :func:`prepare_split`)."""
    return max(w, 0.0) * m_below + min(w, 0.0) * m_above


@njit(cache=True, error_model="numpy", inline="always")
def _clip_rounding(v, tiny):
    """A tag's new mass ``v`` with a value between ``-tiny`` and 0 set to 0: rounding below the bound of 0 (a tag is
    a non-negative share of its total, so its exact new mass is not negative)."""
    return 0.0 if (v < 0.0 and v > -tiny) else v


@njit(cache=True, error_model="numpy")
def _pad_line(m, n, periodic, mp):
    """Padded copy of a line's masses for the split stencils: ``mp[BAND + p] = m[p]``, with ``BAND`` periodic copies
    (or zeros, where no weight reaches) at each end."""
    for p in range(n):
        mp[BAND + p] = m[p]
    for j in range(BAND):
        mp[j] = m[(j - BAND) % n] if periodic else 0.0
        mp[BAND + n + j] = m[j % n] if periodic else 0.0


@njit(cache=True, error_model="numpy")
def split_fluxes(n, periodic, m, q_lo, q_hi, wd, rows, wfi, wff, nw, ft, ps):
    """Split the fluxes of a line's sweep on the total over tags for one tag.

    ``m[:n]`` holds the tag's chemical mass in the cells of the line before the sweep (it is only read, so it may
    be the row itself); ``q_lo``, ``q_hi`` are its inflow mixing ratios at the low and high end of an open line;
    ``wd``, ``rows``, ``wfi``, ``wff`` and ``nw`` come from :func:`prepare_split`; ``ps`` (length
    ``n + 2 * BAND``) is scratch. Writes to ``ft[:n + 1]`` the tag's share of the chemical mass through every
    face: the tag's mass in the whole cells the face passed plus ``FRAC`` times the tag's mass in the partial donor
    cell (its inflow mixing ratio for air from outside), so that the tag fluxes add up to the total flux and each is
    the total's donor-region mass weighted by the tag's shares. With weight rows (``rows`` 1 .. ``BAND``) the weights
    make a branch-free stencil of one to ``BAND`` cells on each side of a face, one loop per offset over a padded
    copy of the line, and the listed faces with air from outside follow. Otherwise (``rows`` 0) every face's whole
    cells are a difference of the line's running sum (rounding of the order of the line's mass times the machine
    epsilon), in one loop over the faces.
    """
    if rows == 0:
        # ps[p] = mass of cells 0 .. p - 1: four quarters of the line summed as four independent chains of additions,
        # then the quarters' offsets added
        q = n // 4
        ps[0] = 0.0
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for j in range(q):
            s0 += m[j]
            s1 += m[q + j]
            s2 += m[2 * q + j]
            s3 += m[3 * q + j]
            ps[j + 1] = s0
            ps[q + j + 1] = s1
            ps[2 * q + j + 1] = s2
            ps[3 * q + j + 1] = s3
        for p in range(4 * q, n):
            s3 += m[p]
            ps[p + 1] = s3
        o1 = s0
        o2 = o1 + s1
        o3 = o2 + s2
        for p in range(q + 1, 2 * q + 1):
            ps[p] += o1
        for p in range(2 * q + 1, 3 * q + 1):
            ps[p] += o2
        for p in range(3 * q + 1, n + 1):
            ps[p] += o3
        total = ps[n]
        # (1-D views of the tables: indexing the 2-D tables inside the loop costs more)
        dn = wfi[WF_DONOR]
        hi = wfi[WF_HI]
        lo = wfi[WF_LO]
        fr = wff[WF_FRAC]
        wr = wff[WF_WRAP]
        for f in range(nw):
            k = dn[f]
            d = m[max(k, 0)] if k >= 0 else (q_lo if k == -1 else q_hi)  # (an index that is safe to load either way)
            ft[f] = fr[f] * d + ((ps[hi[f]] - ps[lo[f]]) + wr[f] * total)
        if periodic:
            ft[n] = ft[0]
        return
    w0 = wd[0]
    if rows == 1:
        left = m[n - 1] if periodic else 0.0
        right = m[0] if periodic else 0.0
        ft[0] = _tw(w0[0], left, m[0])
        for f in range(1, n):
            ft[f] = _tw(w0[f], m[f - 1], m[f])
        ft[n] = _tw(w0[n], m[n - 1], right)
    else:
        # the stencil's cells as fixed-offset slices of a padded copy of the line (a loop that vectorises; offsets
        # computed from ``rows`` inside the loop made it four times slower)
        mp = ps
        _pad_line(m, n, periodic, mp)
        dn = mp[BAND - 1 : BAND + n]
        up = mp[BAND : BAND + n + 1]
        for f in range(n + 1):
            ft[f] = _tw(w0[f], dn[f], up[f])
        for k in range(1, rows):
            wk = wd[k]
            dn = mp[BAND - 1 - k : BAND + n - k]
            up = mp[BAND + k : BAND + n + 1 + k]
            for f in range(n + 1):
                ft[f] += _tw(wk[f], dn[f], up[f])
    # the faces with air from outside an open line (their weight rows are zero)
    for w in range(nw):
        d = q_lo if wfi[WF_DONOR, w] == -1 else q_hi
        ft[wfi[WF_FACE, w]] = wff[WF_FRAC, w] * d
    if periodic:
        ft[n] = ft[0]


def split_line(n: int, periodic: bool, scr: np.ndarray, tag_mass_kg: np.ndarray, q_lo: np.ndarray,
               q_hi: np.ndarray) -> np.ndarray:
    """Every tag's chemical mass (kg) through faces ``0 .. n`` of the line last swept with ``scr`` (the total's
    sweep): :func:`prepare_split` and :func:`split_fluxes` for tag masses ``(T, n)`` and inflow mixing ratios
    ``(T,)``, returned as ``(T, n + 1)`` (for checks and diagnostics; the kernel runs the same functions)."""
    wd = np.zeros((BAND, n + 1))
    wfi = np.zeros((4, n + 1), dtype=np.int64)
    wff = np.zeros((2, n + 1))
    nw, rows = prepare_split(n, periodic, scr, wd, wfi, wff)
    out = np.zeros((tag_mass_kg.shape[0], n + 1))
    ps = np.zeros(n + 2 * BAND)
    for t in range(tag_mass_kg.shape[0]):
        m = np.ascontiguousarray(tag_mass_kg[t], dtype=np.float64)
        split_fluxes(n, periodic, m, float(q_lo[t]), float(q_hi[t]), wd, rows, wfi, wff, nw, out[t], ps)
    return out


@njit(cache=True, error_model="numpy")
def _ghosts(qp, wp, n, periodic):
    """Fill the ``GHOST`` ghost cells at both ends of a padded line: periodic copies or copies of the end cell."""
    g = GHOST
    for k in range(g):
        if periodic:
            qp[k] = qp[n + k]
            wp[k] = wp[n + k]
            qp[n + g + k] = qp[g + k]
            wp[n + g + k] = wp[g + k]
        else:
            qp[k] = qp[g]
            wp[k] = wp[g]
            qp[n + g + k] = qp[n + g - 1]
            wp[n + g + k] = wp[n + g - 1]


@njit(cache=True, error_model="numpy")
def _gather(dst, src, cidx, n, contig):
    """``dst[p] = src[cidx[p]]`` for the ``n`` cells of a line (a plain copy where they are consecutive)."""
    if contig:
        seg = src[cidx[0] : cidx[0] + n]
        for p in range(n):
            dst[p] = seg[p]
    else:
        for p in range(n):
            dst[p] = src[cidx[p]]


@njit(cache=True, error_model="numpy")
def _scatter(dst, src, cidx, n, contig):
    """``dst[cidx[p]] = src[p]`` for the ``n`` cells of a line (a plain copy where they are consecutive)."""
    if contig:
        seg = dst[cidx[0] : cidx[0] + n]
        for p in range(n):
            seg[p] = src[p]
    else:
        for p in range(n):
            dst[cidx[p]] = src[p]


@njit(cache=True, error_model="numpy", inline="always")
def _book(pos, neg, k, c):
    """Book the chemical mass ``c`` through a face (slot ``k``) by direction: ``pos`` gets it when positive, ``neg``
    its magnitude otherwise. (Branch-free, adding zero to the other: the direction changes from face to face, and a
    branch on it mispredicted so often that booking the region borders of the default grid doubled the advection
    step.)"""
    pos[k] += max(c, 0.0)
    neg[k] += max(-c, 0.0)


@njit(cache=True, error_model="numpy")
def _book_faces(face, t, l, fidx, fsg, fl, nbook):
    """Add the chemical mass through the first ``nbook`` faces of a line to the face accumulators (gross, by
    direction of the grid axis; ``fsg`` is -1 where the line runs against the axis). ``face`` is ``(acc, fmap)``:
    face ``fidx[f]`` of the grid is booked at ``acc[:, t, l, fmap[fidx[f]]]``, or not at all where ``fmap`` is -1."""
    acc, fmap = face
    pos = acc[0, t, l]
    neg = acc[1, t, l]
    for f in range(nbook):
        k = fmap[fidx[f]]
        if k >= 0:
            _book(pos, neg, k, fsg[f] * fl[f])


@njit(cache=True, error_model="numpy")
def _book_listed(face, t, l, slots, sgn, at, fl, nbook):
    """Add the chemical mass through the ``nbook`` booked faces of a line, listed by :func:`_sweep_lines` (position
    ``at`` on the line, accumulator slot ``slots``, sign ``sgn``), to the face accumulators ``face[0]``."""
    acc = face[0]
    pos = acc[0, t, l]
    neg = acc[1, t, l]
    for w in range(nbook):
        _book(pos, neg, slots[w], sgn[w] * fl[at[w]])


#: Columns (great circles of a global grid, meridional columns of a bounded one) gathered from the grid together,
#: one cache line of doubles across: a column's cells are a row's length apart in memory, so that gathering it
#: alone reads a cache line for every cell (and the next columns find them only if the lines are still cached),
#: while ``GC_BLOCK`` neighbouring columns use every double of each line they read (:func:`_gather_columns`).
GC_BLOCK = 8

#: Rows of the per-line work array ``work`` (shape ``(N_WORK, n + 2 * GHOST + 1)``): the line's own rows
#: (``N_LINE_WORK``, cleared at every call), then rows written before they are read: in the totals' sweeps the air
#: [``W_BLOCK``, ``+ GC_BLOCK``) and the tracer, or the total over tags, [``+ GC_BLOCK``, ``+ 2 GC_BLOCK``) of a
#: block of columns; in the tags' plane pass the south-face fluxes of up to ``PLANE_GROUP`` (``4 GC_BLOCK``) tags.
W_TOTAL, W_AIR, W_TAG, W_TAGFLUX, W_AIR0 = range(5)
N_LINE_WORK = 5
W_BLOCK = N_LINE_WORK
N_WORK = N_LINE_WORK + 4 * GC_BLOCK


@njit(cache=True, error_model="numpy")
def _gather_columns(buf, plane, kind, i0, nb, nj, ni):
    """Lines ``i0 .. i0 + nb - 1`` of ``plane (J * I)`` into rows ``0 .. nb - 1`` of ``buf``, in line order (as
    :func:`_line_setup` orders their cells): ``kind`` 1 great circles (column ``i`` northward, then column
    ``i + I/2`` southward), 2 columns of a bounded grid. Each row of the grid is read once for the ``nb`` lines."""
    if kind == 1:
        n = 2 * nj
        io = i0 + ni // 2
        for j in range(nj):
            a = plane[j * ni + i0 : j * ni + i0 + nb]
            b = plane[j * ni + io : j * ni + io + nb]
            for k in range(nb):
                buf[k, j] = a[k]
                buf[k, n - 1 - j] = b[k]
    else:
        for j in range(nj):
            a = plane[j * ni + i0 : j * ni + i0 + nb]
            for k in range(nb):
                buf[k, j] = a[k]


@njit(cache=True, error_model="numpy")
def _column_weights(wy, lwd, meta, qi0, kind, i0, nb, nj, ni):
    """The meridional face weights ``wy ((J + 1) * I)`` of the lines ``i0 .. i0 + nb - 1`` (tables ``qi0 ..``) for
    the tags' plane pass (:func:`_meridional_plane`), written row by row for the block: a line split plane by plane
    (``meta[., 1] == 0``) gives its faces' donor weights (a great circle's southward half negated, its pole faces
    none), any other line zero weights (:func:`_sweep_lines`)."""
    if kind == 1:
        n = 2 * nj
        io = i0 + ni // 2
        for j in range(nj + 1):
            a = wy[j * ni + i0 : j * ni + i0 + nb]
            b = wy[j * ni + io : j * ni + io + nb]
            for k in range(nb):
                if meta[qi0 + k, 1] == 0 and 0 < j < nj:
                    a[k] = lwd[qi0 + k, 0, j]
                    b[k] = -lwd[qi0 + k, 0, n - j]
                else:
                    a[k] = 0.0
                    b[k] = 0.0
    else:
        for j in range(nj + 1):
            a = wy[j * ni + i0 : j * ni + i0 + nb]
            for k in range(nb):
                a[k] = lwd[qi0 + k, 0, j] if meta[qi0 + k, 1] == 0 else 0.0


@njit(cache=True, error_model="numpy")
def _scatter_columns(plane, buf, kind, i0, nb, nj, ni):
    """The inverse of :func:`_gather_columns`: rows ``0 .. nb - 1`` of ``buf`` back into the lines of ``plane``."""
    if kind == 1:
        n = 2 * nj
        io = i0 + ni // 2
        for j in range(nj):
            a = plane[j * ni + i0 : j * ni + i0 + nb]
            b = plane[j * ni + io : j * ni + io + nb]
            for k in range(nb):
                a[k] = buf[k, j]
                b[k] = buf[k, n - 1 - j]
    else:
        for j in range(nj):
            a = plane[j * ni + i0 : j * ni + i0 + nb]
            for k in range(nb):
                a[k] = buf[k, j]


@njit(cache=True, error_model="numpy")
def advance_line(n, nbook, periodic, order, independent, cidx, contig, fidx, fsg, m3, w2, l, layer, qlo_t, qhi_t, beta,
                 scr, work, acc, face, ends, split):
    """Advance one line of layer ``l`` of a single tracer, or of tags each on its own (``independent``), by one
    1-D sweep; returns a status code or ``-1`` (several tags of a limited scheme go through :func:`_total_line`
    and :func:`split_fluxes` instead).

    The line has ``n`` cells at flat indices ``cidx`` (consecutive when ``contig``) of plane ``l`` of
    ``m3 (T, L, J * I)`` and of the stage air mass ``w2 (L, J * I)`` (updated in place; the planes of a block of
    columns, :func:`_gather_columns`, are its lines and ``l`` the line's), ``layer`` is the line's layer in the grid
    (for the face accumulators); ``scr[R]`` holds the air
    through its faces, ``scr[WP]`` the cell widths (filled by the caller, once for all lines of a kind) and
    ``qlo_t, qhi_t (T,)`` the tags' inflow mixing ratios. The first ``nbook`` faces (grid faces ``fidx``, signs
    ``fsg``) are booked on ``face = (acc, fmap)`` when ``acc`` (see :func:`_book_faces`); the chemical mass through
    the two end faces of an open line is written to ``ends (T, 2)`` (the caller books it, line by line, so that
    parallel lines never add to the same total). ``split`` is passed on to :func:`sweep_line` (False here; a run-time
    value, so that Numba compiles one specialisation of the sweep for this caller and :func:`_total_line`).
    """
    nt = m3.shape[0]
    g = GHOST
    wl = work[W_AIR]
    mg = work[W_TAG]
    w0 = work[W_AIR0]
    qp = scr[QP]
    wp = scr[WP]
    flux = scr[FLUX]
    air = w2[l]
    _gather(w0, air, cidx, n, contig)
    for t in range(nt):
        plane = m3[t, l]
        _gather(mg, plane, cidx, n, contig)
        for p in range(n):
            wl[p] = w0[p]
            qp[p + g] = mg[p] / w0[p]
        _ghosts(qp, wp, n, periodic)
        code = sweep_line(n, mg, wl, beta, periodic, qlo_t[t], qhi_t[t], order, scr, True, split)
        if code >= 0:
            return code
        _scatter(plane, mg, cidx, n, contig)
        if acc:
            # (accumulators with one tag row take the total over tags)
            _book_faces(face, t if face[0].shape[1] == nt else 0, layer, fidx, fsg, flux, nbook)
        if not periodic:
            ends[t, 0] = flux[0]
            ends[t, 1] = flux[n]
    _scatter(air, wl, cidx, n, contig)
    return -1


@njit(cache=True, error_model="numpy")
def _total_line(n, periodic, order, cidx, contig, w2, tot, l, q_lo, q_hi, beta, scr, work, wd, wfi, wff, split):
    """Sweep the total over tags ``tot (L, J * I)`` and the air ``w2`` of one line in place and prepare the split of
    its fluxes (:func:`prepare_split` into ``wd``, ``wfi``, ``wff``); returns ``(code, faces listed, weight rows,
    tiny)`` with ``code`` ``-1`` or a status code and ``tiny`` the rounding threshold of the line's tags (every
    tag's cell masses and face fluxes are bounded by the total's: tags are non-negative shares). ``scr[WP]`` holds
    the cell widths (filled by the caller). ``split`` (True; a run-time value, see :func:`advance_line`) is passed
    on to :func:`sweep_line`."""
    g = GHOST
    mt = work[W_TOTAL]
    wl = work[W_AIR]
    qp = scr[QP]
    wp = scr[WP]
    flux = scr[FLUX]
    air = w2[l]
    total = tot[l]
    _gather(wl, air, cidx, n, contig)
    _gather(mt, total, cidx, n, contig)
    for p in range(n):
        qp[p + g] = mt[p] / wl[p]
    big_old = _max_abs(mt, n)
    _ghosts(qp, wp, n, periodic)
    code = sweep_line(n, mt, wl, beta, periodic, q_lo, q_hi, order, scr, True, split)
    if code >= 0:
        return code, 0, 0, 0.0
    _scatter(total, mt, cidx, n, contig)
    _scatter(air, wl, cidx, n, contig)
    nw, rows = prepare_split(n, periodic, scr, wd, wfi, wff)
    big = max(max(big_old, _max_abs(mt, n)), _max_abs(flux, n + 1))
    # tag fluxes past whole cells are differences of running sums over the line (rounding up to about n eps big)
    return -1, nw, rows, (1e-13 + 1e-15 * n) * big


@njit(cache=True, error_model="numpy")
def _line_setup(kind, q, nline, nj, ni, F, P, hs, periodic, cidx, fidx, fsg, r):
    """Cells ``cidx``, faces ``fidx`` (signs ``fsg``) and air ``r`` through the faces of line ``q`` (see
    :func:`_sweep_lines`); returns ``(layer, cells, faces to book, periodic line, row or column)``."""
    l = q // nline
    ln = q % nline
    if kind == 0 or kind == 3:
        j = ln if kind == 0 else (0 if ln == 0 else nj - 1)
        for p in range(ni):
            cidx[p] = j * ni + p
        for f in range(ni + 1):
            fidx[f] = j * (ni + 1) + f
            fsg[f] = 1.0
            r[f] = hs * F[l, j, f]
        return l, ni, ni + 1, periodic, j
    if kind == 1:
        i = ln
        io = i + ni // 2
        n = 2 * nj
        for p in range(nj):
            cidx[p] = p * ni + i
            cidx[n - 1 - p] = p * ni + io
        r[0] = -hs * P[l, 0, i]
        fidx[0] = i
        fsg[0] = -1.0
        for f in range(1, nj):
            r[f] = hs * F[l, f, i]
            r[n - f] = -hs * F[l, f, io]
            fidx[f] = f * ni + i
            fsg[f] = 1.0
            fidx[n - f] = f * ni + io
            fsg[n - f] = -1.0
        r[nj] = hs * P[l, 1, i]
        fidx[nj] = nj * ni + i
        fsg[nj] = 1.0
        r[n] = r[0]
        return l, n, n, True, i
    i = ln
    for p in range(nj):
        cidx[p] = p * ni + i
    for f in range(nj + 1):
        fidx[f] = f * ni + i
        fsg[f] = 1.0
        r[f] = hs * F[l, f, i]
    return l, nj, nj + 1, False, i


#: Lines per block when the first zonal sweep of a call sums the tags itself (:func:`_sweep_lines`). One row at a
#: time was the fastest (32 tags, 1-degree grid: 0.90 of the time of a separate sum, against 0.92 with 2 rows, 0.93
#: with 4, 0.95 with 8 and 16): a row of 32 tags (92 kB) stays in the core's level-2 cache between the sum and the split.
SUM_BLOCK = 1


@njit(cache=True, error_model="numpy")
def _sum_tags(m3, tot, l, base, n):
    """``tot[l, base:base + n] = sum_t m3[t, l, base:base + n]``, the tags added in order, four per pass over the row
    (``((r + a) + b) + c`` is the sum tag by tag, bit for bit; one tag per pass ran at about 60 % of the speed)."""
    nt = m3.shape[0]
    row = tot[l, base : base + n]
    src = m3[0, l, base : base + n]
    for i in range(n):
        row[i] = src[i]
    t = 1
    while t + 4 <= nt:
        a = m3[t, l, base : base + n]
        b = m3[t + 1, l, base : base + n]
        c = m3[t + 2, l, base : base + n]
        d = m3[t + 3, l, base : base + n]
        for i in range(n):
            row[i] = row[i] + a[i] + b[i] + c[i] + d[i]
        t += 4
    while t < nt:
        src = m3[t, l, base : base + n]
        for i in range(n):
            row[i] += src[i]
        t += 1


@njit(cache=True, error_model="numpy")
def _sweep_lines(kind, lo, hi, nline, nj, ni, m3, w2, tot, F, P, hs, periodic, polar, order, independent, qbc_lo,
                 qbc_hi, width, beta, acc, face, ends, codes, wy, tiny_y, ybc, scr, work, ibuf, fsg, qbuf, tabs, sum_tags,
                 defer):
    """Lines ``lo .. hi - 1`` (index ``layer * nline + line``) of one sweep: ``kind`` 0 zonal rows (without the two
    polar rows when ``polar``), 1 great circles through both poles (column ``i`` and ``i + I/2``), 2 meridional
    columns of a bounded grid, 3 the two polar rows (line 0 south, 1 north).

    Several tags of a limited scheme go in two passes: first the total of every line is swept and its split
    prepared (kept per line), then every tag goes through all the lines, so that a tag's part of the work item is
    read as one stream (consecutive rows are adjacent in memory, and consecutive great circles share cache lines)
    rather than in short pieces interleaved with every other tag's.

    Great circles (``kind`` 1) with several tags leave the second pass to :func:`_meridional_plane`: they write the
    weights of their faces into ``wy (L, (J + 1) * I)`` (northward chemical flux through face ``(j, i)`` =
    ``max(wy, 0) m[j - 1, i] + min(wy, 0) m[j, i]``) and their rounding threshold into ``tiny_y (L, I)``; only a line with
    faces that pass whole cells or cross a pole is split here, and gets zero weights. Meridional columns of a bounded
    grid (``kind`` 2) do the same when their faces pass no whole cell; their end faces' inflow weights (the signed
    share of the air from outside, which carries each tag's inflow mixing ratio) go to ``ybc[l, 0, i]`` (south) and
    ``ybc[l, 1, i]`` (north), and ``ybc[l, 2, i]`` is 1 for a column split plane by plane (0: split here).

    The per-line scratch comes from the caller (made once for a state shape by :func:`advection_workspace`, one set
    per work item): ``scr`` ``(N_SCRATCH, nmax)``, ``work`` ``(N_WORK, nmax + 2 * BAND)``, ``ibuf`` ``(2, nmax)`` int
    (cells, faces), ``fsg`` ``(nmax,)`` and ``qbuf`` ``(2, T)``, with ``nmax = max(2 J, I) + 2 * GHOST + 1``, and so
    do the per-line tables of several tags ``tabs`` (room for ``hi - lo`` lines). With ``sum_tags``
    (rows, several tags) every row's total is first summed from the tags, and the lines go in blocks of
    ``SUM_BLOCK``. With ``defer`` (several tags) only pass 1 runs, and the tables stay for a later pass over the tags
    (:func:`_tag_planes`)."""
    nt = m3.shape[0]
    cidx = ibuf[0]
    fidx = ibuf[1]
    qlo = qbuf[0]
    qhi = qbuf[1]
    r = scr[R]
    tagged = nt > 1 and not independent
    rows = kind == 0 or kind == 3  # the cells of a line are consecutive in the plane
    # the cell widths are the same for every line of a kind: filled once (the ghosts per line)
    wp = scr[WP]
    for p in range(width.size):
        wp[p + GHOST] = width[p]
    # columns go GC_BLOCK at a time through block buffers (_gather_columns): a line then reads its cells from its
    # row of the buffers, which start at 0 (``bidx``: the last, unused entry of the cells' index array)
    cols = kind == 1 or kind == 2
    bw = work[W_BLOCK : W_BLOCK + GC_BLOCK]
    bt = work[W_BLOCK + GC_BLOCK : W_BLOCK + 2 * GC_BLOCK]
    bidx = ibuf[0, ibuf.shape[1] - 1 :]
    bidx[0] = 0
    g0 = lo
    g1 = lo
    if not tagged:
        # (a single tracer; tags each on their own keep the per-line gather)
        cols = cols and nt == 1
        bm = bt.reshape((1, GC_BLOCK, bt.shape[1]))
        for q in range(lo, hi):
            if kind == 0 and polar and (q % nline == 0 or q % nline == nj - 1):
                codes[q] = -1
                continue
            if cols and q == g1:
                g0 = q
                g1 = min(q + GC_BLOCK, hi, (q // nline + 1) * nline)
                _gather_columns(bw, w2[q // nline], kind, q % nline, g1 - g0, nj, ni)
                _gather_columns(bt, m3[0, q // nline], kind, q % nline, g1 - g0, nj, ni)
            l, n, nb, per, idx = _line_setup(kind, q, nline, nj, ni, F, P, hs, periodic, cidx, fidx, fsg, r)
            if not per:
                for t in range(nt):
                    qlo[t] = qbc_lo[t, l, idx]
                    qhi[t] = qbc_hi[t, l, idx]
            # a literal ``periodic`` lets Numba compile a specialisation per topology (several times faster)
            if cols:
                if per:
                    codes[q] = advance_line(n, nb, True, order, independent, bidx, True, fidx, fsg, bm, bw, q - g0, l,
                                            qlo, qhi, beta, scr, work, acc, face, ends[q], tagged)
                else:
                    codes[q] = advance_line(n, nb, False, order, independent, bidx, True, fidx, fsg, bm, bw, q - g0, l,
                                            qlo, qhi, beta, scr, work, acc, face, ends[q], tagged)
                if q == g1 - 1:
                    _scatter_columns(w2[l], bw, kind, g0 % nline, g1 - g0, nj, ni)
                    _scatter_columns(m3[0, l], bt, kind, g0 % nline, g1 - g0, nj, ni)
            elif per:
                codes[q] = advance_line(n, nb, True, order, independent, cidx, rows, fidx, fsg, m3, w2, l, l, qlo, qhi,
                                        beta, scr, work, acc, face, ends[q], tagged)
            else:
                codes[q] = advance_line(n, nb, False, order, independent, cidx, rows, fidx, fsg, m3, w2, l, l, qlo, qhi,
                                        beta, scr, work, acc, face, ends[q], tagged)
        return
    lwd, lwfi, lwff, lcidx, lfidx, lfsg, meta, ltiny, lfat = tabs
    # accumulators with one tag row take the total over tags: its fluxes are booked in pass 1 (the tags' fluxes are
    # its shares and add up to it), and pass 2 books nothing
    book_total = acc and face[0].shape[1] != nt
    # the total of the first zonal sweep of a call summed here, row by row (``sum_tags``): then the lines go in blocks of
    # SUM_BLOCK, both passes block by block, so that the tags' rows just read for the sum are still in the core's
    # cache for their split (otherwise one block: every tag goes through all the lines)
    blk = SUM_BLOCK if sum_tags else max(hi - lo, 1)
    for b0 in range(lo, hi, blk):
        b1 = min(b0 + blk, hi)
        # pass 1: the total of every line, and the tag-independent part of its split
        for q in range(b0, b1):
            qi = q - lo
            if sum_tags:
                _sum_tags(m3, tot, q // nline, (q % nline) * ni, ni)
            meta[qi, 1] = 0
            if kind == 0 and polar and (q % nline == 0 or q % nline == nj - 1):
                codes[q] = -1
                continue
            if cols and q == g1:
                g0 = q
                g1 = min(q + GC_BLOCK, b1, (q // nline + 1) * nline)
                _gather_columns(bw, w2[q // nline], kind, q % nline, g1 - g0, nj, ni)
                _gather_columns(bt, tot[q // nline], kind, q % nline, g1 - g0, nj, ni)
            l, n, nb, per, idx = _line_setup(kind, q, nline, nj, ni, F, P, hs, periodic, cidx, fidx, fsg, r)
            q_lo = 0.0
            q_hi = 0.0
            if not per:
                for t in range(nt):
                    q_lo += qbc_lo[t, l, idx]
                    q_hi += qbc_hi[t, l, idx]
            # (a column's cells from its row of the block buffers; a row's from the grid)
            if cols:
                ci, cg, wa, ta, la = bidx, True, bw, bt, q - g0
            else:
                ci, cg, wa, ta, la = cidx, rows, w2, tot, l
            if per:
                code, nw, nrow, tiny = _total_line(n, True, order, ci, cg, wa, ta, la, q_lo, q_hi, beta, scr, work,
                                                   lwd[qi], lwfi[qi], lwff[qi], tagged)
            else:
                code, nw, nrow, tiny = _total_line(n, False, order, ci, cg, wa, ta, la, q_lo, q_hi, beta, scr, work,
                                                   lwd[qi], lwfi[qi], lwff[qi], tagged)
            codes[q] = code
            if code >= 0:
                return  # the caller reports the error; the state is not used any further
            nbook = 0
            if acc:
                # the faces to book (all of them, or those the map selects), with their accumulator slots
                fmap = face[1]
                for f in range(nb):
                    k = fmap[fidx[f]]
                    if k >= 0:
                        lfidx[qi, nbook] = k
                        lfsg[qi, nbook] = fsg[f]
                        lfat[qi, nbook] = f
                        nbook += 1
                if book_total:
                    _book_listed(face, 0, l, lfidx[qi], lfsg[qi], lfat[qi], scr[FLUX], nbook)
            meta[qi, 0] = l
            meta[qi, 1] = n
            meta[qi, 2] = nbook
            meta[qi, 3] = 1 if per else 0
            meta[qi, 4] = idx
            meta[qi, 5] = nw
            meta[qi, 6] = nrow
            ltiny[qi] = tiny
            if kind == 1:
                # the two columns of the great circle, in grid orientation (face j between rows j - 1 and j; the line
                # runs north up column i and south down column io, where its fluxes are the negative northward ones)
                i = idx
                io = i + ni // 2
                fast = nw == 0 and nrow == 1 and r[0] == 0.0 and r[nj] == 0.0
                # (the weights wy are written for the block of columns at its end, _column_weights)
                tiny_y[l, i] = tiny if fast else 0.0
                tiny_y[l, io] = tiny if fast else 0.0
                if fast:
                    meta[qi, 1] = 0  # split plane by plane
            elif kind == 2:
                # a bounded column: its faces' weights (zero for inflow), and the inflow weights of its end faces
                i = idx
                fast = nrow == 1  # (then the only listed faces are end faces with air from outside)
                ybc[l, 0, i] = 0.0
                ybc[l, 1, i] = 0.0
                for w in range(nw if fast else 0):
                    side = 0 if lwfi[qi, WF_DONOR, w] == -1 else 1
                    ybc[l, side, i] = lwff[qi, WF_FRAC, w]
                ybc[l, 2, i] = 1.0 if fast else 0.0
                tiny_y[l, i] = tiny if fast else 0.0
                if fast:
                    meta[qi, 1] = 0  # split plane by plane
            # the cells of a line split here: a row's first (its cells are consecutive), a column's or great circle's
            # all (copied for these lines only: a copy of every line's cells took 6 % of a meridional sweep)
            if rows:
                lcidx[qi, 0] = cidx[0]
            elif meta[qi, 1] > 0:
                for p in range(n):
                    lcidx[qi, p] = cidx[p]
            if cols and q == g1 - 1:
                # the block's air and total back into the grid, and its faces' weights for the plane pass
                _scatter_columns(w2[l], bw, kind, g0 % nline, g1 - g0, nj, ni)
                _scatter_columns(tot[l], bt, kind, g0 % nline, g1 - g0, nj, ni)
                _column_weights(wy[l], lwd, meta, g0 - lo, kind, g0 % nline, g1 - g0, nj, ni)
        # pass 2: every tag through all the lines
        if not defer:
            t0 = nt - nt  # (0 at run time: a literal would compile _split_lines once more)
            _split_lines(b0 - lo, b1 - lo, lo, rows, m3, qbc_lo, qbc_hi, acc and not book_total, face, ends, meta, lwd,
                         lwfi, lwff, lcidx, lfidx, lfsg, ltiny, lfat, work, t0, nt)


@njit(cache=True, error_model="numpy")
def _split_banded_row(row, n, periodic, wd, rows, ft, mp, tiny):
    """Split and apply in place, for one tag, the fluxes of a row whose faces pass at most ``BAND - 1`` whole cells and
    which has no listed faces (``rows`` weight rows ``wd``, 2 .. ``BAND``; :func:`prepare_split`): bit for bit
    :func:`split_fluxes` followed by the update, in one pass over a padded copy ``mp`` (length ``n + 2 * BAND``) of
    the row's old masses instead of one pass per weight row. The face fluxes go to ``ft[:n + 1]``; new masses above
    ``-tiny`` and below 0 are rounding and set to 0. Each weight row count has its own loop, written out for ``BAND``
    = 4: one loop with the tests on ``rows`` inside it (Numba does not unswitch them) ran 14 times slower."""
    b = BAND
    _pad_line(row, n, periodic, mp)
    w0 = wd[0]
    w1 = wd[1]
    w2 = wd[2]
    w3 = wd[3]
    # face f: offset k takes mp[b - 1 - k + f] (below) and mp[b + k + f] (above), offsets added in order
    if rows == 2:
        f_lo = _tw(w0[0], mp[b - 1], mp[b]) + _tw(w1[0], mp[b - 2], mp[b + 1])
        ft[0] = f_lo
        for p in range(n):
            f = p + 1
            f_hi = _tw(w0[f], mp[b - 1 + f], mp[b + f]) + _tw(w1[f], mp[b - 2 + f], mp[b + 1 + f])
            v = mp[b + p] - (f_hi - f_lo)
            row[p] = _clip_rounding(v, tiny)
            ft[f] = f_hi
            f_lo = f_hi
    elif rows == 3:
        f_lo = (_tw(w0[0], mp[b - 1], mp[b]) + _tw(w1[0], mp[b - 2], mp[b + 1])) + _tw(w2[0], mp[b - 3], mp[b + 2])
        ft[0] = f_lo
        for p in range(n):
            f = p + 1
            f_hi = ((_tw(w0[f], mp[b - 1 + f], mp[b + f]) + _tw(w1[f], mp[b - 2 + f], mp[b + 1 + f]))
                    + _tw(w2[f], mp[b - 3 + f], mp[b + 2 + f]))
            v = mp[b + p] - (f_hi - f_lo)
            row[p] = _clip_rounding(v, tiny)
            ft[f] = f_hi
            f_lo = f_hi
    else:
        f_lo = (((_tw(w0[0], mp[b - 1], mp[b]) + _tw(w1[0], mp[b - 2], mp[b + 1])) + _tw(w2[0], mp[b - 3], mp[b + 2]))
                + _tw(w3[0], mp[b - 4], mp[b + 3]))
        ft[0] = f_lo
        for p in range(n):
            f = p + 1
            f_hi = (((_tw(w0[f], mp[b - 1 + f], mp[b + f]) + _tw(w1[f], mp[b - 2 + f], mp[b + 1 + f]))
                     + _tw(w2[f], mp[b - 3 + f], mp[b + 2 + f])) + _tw(w3[f], mp[b - 4 + f], mp[b + 3 + f]))
            v = mp[b + p] - (f_hi - f_lo)
            row[p] = _clip_rounding(v, tiny)
            ft[f] = f_hi
            f_lo = f_hi


@njit(cache=True, error_model="numpy")
def _split_lines(qa, qb, lo, rows, m3, qbc_lo, qbc_hi, acc, face, ends, meta, lwd, lwfi, lwff, lcidx, lfidx, lfsg, ltiny,
                 lfat, work, t0, t1):
    """Pass 2 of :func:`_sweep_lines` for its lines ``qa .. qb - 1`` (indices into its per-line tables ``meta``,
    ``lwd``, ``lwfi``, ``lwff``, ``lcidx``, ``lfidx``, ``lfsg``, ``ltiny``; line ``lo + qi`` of the sweep): the tags
    ``t0 .. t1 - 1``, each through all these lines. (A function of its own: inside the block loop of
    :func:`_sweep_lines` it made compilation about 12 s longer.)"""
    mg = work[W_TAG]
    ft = work[W_TAGFLUX]
    ps = work[W_AIR0]
    for t in range(t0, t1):
        for qi in range(qa, qb):
            n = meta[qi, 1]
            if n == 0:
                continue
            l = meta[qi, 0]
            per = meta[qi, 3] == 1
            q_lo = 0.0
            q_hi = 0.0
            if not per:
                q_lo = qbc_lo[t, l, meta[qi, 4]]
                q_hi = qbc_hi[t, l, meta[qi, 4]]
            tiny = ltiny[qi]
            cid = lcidx[qi]
            c0 = cid[0]
            # (1-D views: indexing the 3-D array with computed offsets in the inner loops costs several times more)
            plane = m3[t, l]
            # rows are contiguous in memory (direct loops vectorise); great circles go through the index list
            if rows and meta[qi, 5] == 0 and meta[qi, 6] == 1:
                # a row without listed faces in one pass: the flux through each cell's high face from the old values
                # (the next cell is still old), the update, and the flux kept for the next cell (the stencil of
                # split_fluxes)
                row = plane[c0 : c0 + n]
                wd = lwd[qi, 0]
                first = row[0]
                f_lo = _tw(wd[0], row[n - 1] if per else 0.0, first)
                ft[0] = f_lo
                for p in range(n - 1):
                    f_hi = _tw(wd[p + 1], row[p], row[p + 1])
                    v = row[p] - (f_hi - f_lo)
                    row[p] = _clip_rounding(v, tiny)
                    ft[p + 1] = f_hi
                    f_lo = f_hi
                f_hi = _tw(wd[n], row[n - 1], first if per else 0.0)
                v = row[n - 1] - (f_hi - f_lo)
                row[n - 1] = _clip_rounding(v, tiny)
                ft[n] = f_hi
            elif rows and meta[qi, 5] == 0 and meta[qi, 6] >= 2:
                # a banded row without listed faces in one pass over a padded copy of its old values
                _split_banded_row(plane[c0 : c0 + n], n, per, lwd[qi], meta[qi, 6], ft, ps, tiny)
            elif rows:
                # the fluxes are computed from the old row before it is overwritten in place
                row = plane[c0 : c0 + n]
                split_fluxes(n, per, row, q_lo, q_hi, lwd[qi], meta[qi, 6], lwfi[qi], lwff[qi], meta[qi, 5], ft, ps)
                for p in range(n):
                    v = row[p] - (ft[p + 1] - ft[p])
                    row[p] = _clip_rounding(v, tiny)
            else:
                for p in range(n):
                    mg[p] = plane[cid[p]]
                split_fluxes(n, per, mg, q_lo, q_hi, lwd[qi], meta[qi, 6], lwfi[qi], lwff[qi], meta[qi, 5], ft, ps)
                for p in range(n):
                    v = mg[p] - (ft[p + 1] - ft[p])
                    plane[cid[p]] = _clip_rounding(v, tiny)
            if acc:
                _book_listed(face, t, l, lfidx[qi], lfsg[qi], lfat[qi], ft, meta[qi, 2])
            if not per:
                ends[lo + qi, t, 0] = ft[0]
                ends[lo + qi, t, 1] = ft[n]




@njit(cache=True, error_model="numpy")
def _book_row(pos, neg, fmap, base, fl, ni):
    """Book the chemical mass ``fl`` through the faces ``base .. base + ni - 1`` of a plane (slots ``fmap``, -1: not
    booked) on the face accumulators ``pos`` / ``neg`` (northward / southward)."""
    for i in range(ni):
        k = fmap[base + i]
        if k >= 0:
            _book(pos, neg, k, fl[i])


@njit(cache=True, error_model="numpy")
def _meridional_plane(m3, t, l, nj, ni, wy, tiny_y, acc, face, fs, bounded, ybc, qbc_s, qbc_n, ends, j0, j1):
    """Second pass of a meridional sweep of tag ``t`` in layer ``l`` on great circles (or, ``bounded``, on the columns
    of a bounded grid), row by row over rows ``j0 .. j1 - 1`` of the plane (all of them in turn, in blocks of rows
    that follow each other, make the whole pass).

    The northward chemical mass through face ``j`` of column ``i`` is ``max(w, 0) m[j - 1, i] + min(w, 0) m[j, i]``
    with ``w = wy[l, j * I + i]`` (the weights of :func:`prepare_split`, written by :func:`_sweep_lines`; zero at the
    poles and for the lines split there), so every row is updated from its old values and its two neighbours' with
    one loop over longitude per row that vectorises, reading the tag once and writing it once. ``fs`` (length ``I``)
    carries the flux through the south face of row ``j0`` from the block before (set here for ``j0 = 0``). Bit for
    bit the split of the line-by-line pass.

    On a bounded grid the end faces also carry the outflow of the end rows and, with the inflow weights ``ybc[l, 0]``
    (south) and ``ybc[l, 1]`` (north), the air from outside at the tag's inflow mixing ratio ``qbc_s``, ``qbc_n``
    ``(T, L, I)``; the end fluxes of the columns split here (``ybc[l, 2] = 1``) go to ``ends[l * I + i, t]`` for
    the caller's boundary budget, and the end faces are booked too.
    """
    plane = m3[t, l]
    wl = wy[l]
    tin = tiny_y[l]
    facc, fmap = face
    pos = facc[0, t, l]
    neg = facc[1, t, l]
    if j0 == 0 and bounded:
        # the south end face: outflow from row 0, or air from outside
        row = plane[0:ni]
        w = wl[0:ni]
        win = ybc[l, 0]
        qs = qbc_s[t, l]
        for i in range(ni):
            fs[i] = min(w[i], 0.0) * row[i] + win[i] * qs[i]
        for i in range(ni):
            if ybc[l, 2, i] > 0.0:
                ends[l * ni + i, t, 0] = fs[i]
        if acc:
            _book_row(pos, neg, fmap, 0, fs, ni)
    elif j0 == 0:
        for i in range(ni):
            fs[i] = 0.0
    for j in range(j0, j1):
        row = plane[j * ni : (j + 1) * ni]
        if j < nj - 1:
            up = plane[(j + 1) * ni : (j + 2) * ni]
            w = wl[(j + 1) * ni : (j + 2) * ni]
            # one pass: the flux through the row's north face from the old values, the row's update, and the flux
            # kept as the next row's south face
            for i in range(ni):
                f_n = _tw(w[i], row[i], up[i])
                v = row[i] - (f_n - fs[i])
                row[i] = _clip_rounding(v, tin[i])
                fs[i] = f_n
            if acc:
                _book_row(pos, neg, fmap, (j + 1) * ni, fs, ni)
        elif bounded:
            # the north end face: outflow from the last row, or air from outside
            w = wl[nj * ni : (nj + 1) * ni]
            win = ybc[l, 1]
            qn = qbc_n[t, l]
            for i in range(ni):
                f_n = max(w[i], 0.0) * row[i] + win[i] * qn[i]
                v = row[i] - (f_n - fs[i])
                row[i] = _clip_rounding(v, tin[i])
                fs[i] = f_n
            for i in range(ni):
                if ybc[l, 2, i] > 0.0:
                    ends[l * ni + i, t, 1] = fs[i]
            if acc:
                _book_row(pos, neg, fmap, nj * ni, fs, ni)
        else:
            for i in range(ni):
                v = row[i] - (0.0 - fs[i])
                row[i] = _clip_rounding(v, tin[i])


def geometry(lon_edges_deg: np.ndarray, lat_edges_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell widths ``dlon (I,)``, ``dlat (J,)`` (rad) and the in-row air-mass density slope ``beta_y (J,)``.

    The air of a row between latitudes ``phi_1`` and ``phi_2`` is distributed as ``cos(phi)`` (equal air mass per
    unit area); its linear approximation through the edge values, relative to its mean, has the slope
    ``beta = (cos phi_2 - cos phi_1) / ((cos phi_1 + cos phi_2) / 2)``, which is -2 or 2 in a polar row (no air
    at the pole) and near 0 elsewhere.
    """
    lon = np.deg2rad(np.asarray(lon_edges_deg, dtype=float))
    lat = np.deg2rad(np.asarray(lat_edges_deg, dtype=float))
    c = np.cos(lat)
    c[np.abs(np.asarray(lat_edges_deg)) >= 90.0 - 1e-12] = 0.0
    beta = np.clip((c[1:] - c[:-1]) / (0.5 * (c[1:] + c[:-1])), -2.0, 2.0)
    return _equal_widths(np.diff(lon)), _equal_widths(np.diff(lat)), np.ascontiguousarray(beta)


def _equal_widths(width_rad: np.ndarray) -> np.ndarray:
    """The cell widths, with widths that agree to round-off (relative spread below 1e-9) made exactly equal (their
    mean): the differences of a regular grid's edges differ in their last bits (0.25-degree global grid: 11
    distinct values of ``dlon``), and only exactly equal widths take the reconstruction's equal-width path
    (:func:`reconstruct_line`: central slopes and the fourth-order edge value in closed form, no divisions)."""
    width_rad = np.ascontiguousarray(width_rad, dtype=float)
    if width_rad.size and np.ptp(width_rad) <= 1e-9 * abs(float(width_rad.mean())):
        return np.full(width_rad.shape, float(width_rad.mean()))
    return width_rad


@njit(cache=True, error_model="numpy")
def _slot(tabs, k):
    """Slot ``k`` (a work item, or the polar rows) of the per-line tables of :func:`advection_workspace`."""
    return (tabs[0][k], tabs[1][k], tabs[2][k], tabs[3][k], tabs[4][k], tabs[5][k], tabs[6][k], tabs[7][k], tabs[8][k])


def advection_workspace(shape: tuple[int, int, int, int], parallel: bool, max_chunks: int, tagged: bool,
                        accumulate: bool) -> tuple[np.ndarray, ...]:
    """The work arrays of the advection kernel for a state of ``shape (T, L, J, I)``, made once and reused by every
    call (so that the time loop allocates nothing): the air mass and the total over tags as the sweeps carry them,
    the widths and slopes of great circles, the scratch of the lines (one set per work item, ``max_chunks`` with
    ``parallel`` or one, plus one for the polar rows), the lines' codes and end fluxes, the meridional weights of
    great circles or bounded columns and the columns' end terms, the polar rows' codes, and the per-line tables of
    the two-pass split (all of these only with ``tagged``: several tags of a limited scheme; the booked faces only
    with ``accumulate``), sized for the most lines a work item gets, as one tuple of nine arrays with a leading slot
    axis. The order is the one the kernel unpacks."""
    nt, nl, nj, ni = shape
    nslot = (max_chunks if parallel else 1) + 1
    n2 = 2 * nj
    nmax = max(n2, ni) + 2 * GHOST + 1
    nlmax = nl * max(nj, ni)
    # a work item gets at most ceil(lines / work items) lines of a sweep (all of them when serial)
    nq = max(1, -(-nlmax // max_chunks)) if parallel else nlmax
    # (and room in the polar rows' slot for all 2 L of them, whose tables wait for _tag_planes in a sub-step that
    # sweeps meridionally first)
    nq, nmx = (max(nq, 2 * nl), nmax) if tagged else (1, 1)
    nb = nq if accumulate else 1
    return (
        np.empty((nl, nj * ni)),
        np.empty((nl, nj * ni if tagged else 1)),
        np.empty(ni),
        np.empty(n2),
        np.empty(n2),
        np.empty((nslot, N_SCRATCH, nmax)),
        np.empty((nslot, N_WORK, nmax + 2 * BAND)),
        np.empty((nslot, 2, nmax), dtype=np.int64),
        np.empty((nslot, nmax)),
        np.empty((nslot, 2, nt)),
        np.empty(nlmax, dtype=np.int64),
        # the lines' end fluxes: [:nlmax] of the sweep that runs, [nlmax:] of a zonal sweep whose tags wait for a
        # meridional one's (see _tag_planes)
        np.empty((2 * nlmax, nt, 2)),
        np.empty((nl, (nj + 1) * ni) if tagged else (1, 1)),
        np.empty((nl, ni) if tagged else (1, 1)),
        np.zeros((nl, 3, ni) if tagged else (1, 3, 1)),
        np.empty(2 * nl, dtype=np.int64),
        # the per-line tables, one set per slot (see _slot): lwd, lwfi, lwff (the split weights of prepare_split),
        # lcidx (cells), lfidx, lfsg (accumulator slots of the faces to book and their signs), meta (layer, cells,
        # faces to book, periodic, row/column, faces listed, weight rows), ltiny, lfat (the booked faces' positions
        # on the line)
        (
            np.empty((nslot, nq, BAND, nmx)),
            np.empty((nslot, nq, 4, nmx), dtype=np.int64),
            np.empty((nslot, nq, 2, nmx)),
            np.empty((nslot, nq, nmx), dtype=np.int64),
            np.empty((nslot, nb, nmx), dtype=np.int64),
            np.empty((nslot, nb, nmx)),
            np.empty((nslot, nq, 7), dtype=np.int64),
            np.empty((nslot, nq)),
            np.empty((nslot, nb, nmx), dtype=np.int64),
        ),
    )


@njit(cache=True, error_model="numpy")
def _sum_rows(m3, tot, q, q_end, nj, ni):
    """The total over tags of rows ``q .. q_end - 1`` (index ``layer * J + row``; :func:`_sum_tags`), one stretch
    per layer (the rows of a layer are consecutive in memory)."""
    while q < q_end:
        l = q // nj
        e = min(q_end, (l + 1) * nj)
        _sum_tags(m3, tot, l, (q % nj) * ni, (e - q) * ni)
        q = e


# The parallel loops of the advection kernel, each a small function of its own: the kernel's driver is compiled
# without ``parallel`` and calls these, or the serial loops, by its ``parallel`` option, so that the serial build
# contains no parallel loop (it ran about 5 % faster so; the compile time stayed the same).


@njit(cache=True, parallel=True, error_model="numpy")
def _sum_parallel(m3, tot, nrow, nj, ni, nchunk):
    for c in prange(nchunk):
        _sum_rows(m3, tot, c * nrow // nchunk, (c + 1) * nrow // nchunk, nj, ni)


@njit(cache=True, parallel=True, error_model="numpy")
def _lines_parallel(nchunk, kind, ntot, nline, nj, ni, m3, w2, tot, F, P, hs, periodic, polar, order, independent, qlo,
                    qhi, width, beta, acc, face, ends, codes, wy, tiny_y, ybc, scr_s, work_s, ibuf_s, fsg_s, qbuf_s, tabs,
                    sum_tags, defer):
    for c in prange(nchunk):
        _sweep_lines(kind, c * ntot // nchunk, (c + 1) * ntot // nchunk, nline, nj, ni, m3, w2, tot, F, P, hs, periodic,
                     polar, order, independent, qlo, qhi, width, beta, acc, face, ends, codes, wy, tiny_y, ybc, scr_s[c],
                     work_s[c], ibuf_s[c], fsg_s[c], qbuf_s[c], _slot(tabs, c), sum_tags, defer)


#: Tags (planes of one layer) taken together through the plane pass of :func:`_tag_planes` (at most the block rows
#: of the work array), and the cells of a block of rows there (``ROW_BLOCK_CELLS // I`` rows, at least one).
PLANE_GROUP = 4 * GC_BLOCK
ROW_BLOCK_CELLS = 16384


@njit(cache=True, error_model="numpy")
def _tag_planes(k0, k1, m3, nj, ni, wy, tiny_y, acc, fu, fv, work, bounded, ybc, qbc_w, qbc_e, qbc_s, qbc_n,
                ends, ptabs, npolar, nchunk_x, ntot_x, tabs):
    """The tags' meridional pass (:func:`_meridional_plane`): planes ``k0 .. k1 - 1`` (index ``layer * T + tag``).
    In a sub-step that sweeps meridionally first it runs after the zonal sweep's totals, and every plane goes on
    through the second half-turn of its polar rows (``npolar`` lines in ``ptabs``, two a layer) and the zonal split
    of its rows (the zonal sweep's ``ntot_x`` lines in ``nchunk_x`` work items, tables per item in ``tabs``), all
    from the tables the totals' sweeps left, so that a tag is read from memory and written back once for both
    sweeps; otherwise ``npolar`` and ``nchunk_x`` are 0. ``ends[:nlmax]`` takes the meridional end fluxes,
    ``ends[nlmax:]`` the zonal ones.

    The planes go in groups of one layer's tags (at most ``PLANE_GROUP``), and a group through the plane in blocks
    of rows (``ROW_BLOCK_CELLS`` cells): every tag of the group takes a block through the meridional pass and the
    zonal split of its rows before the next tag does, so that the block's weights and tables are read from memory
    once for the group rather than once per tag (on the 0.25-degree grid a layer's weights, 16 MB, do not stay in
    cache from one tag to the next; on the 1-degree grid they do, and its 32-tag step took 7.9 ms with the blocks
    and equal widths, 18d986b, against 9.2 ms before). Each
    tag's rows still see the operations of the sweeps one after the other in their order, so the result is bit for
    bit that of a whole plane at a time.

    (Sub-steps that sweep zonally first keep their split of every row right after the row's total, while the row
    is in cache: taking them here too, with both sweeps' tables kept, made those calls 7 % slower on the 1-degree
    grid, whose state the cache serves.)"""
    nt = m3.shape[0]
    nlmax = ends.shape[0] // 2
    ends_x = ends[nlmax:]
    plwd, plwfi, plwff, plcidx, plfidx, plfsg, pmeta, pltiny, plfat = ptabs
    lwd, lwfi, lwff, lcidx, lfidx, lfsg, meta, ltiny, lfat = tabs
    # (run-time values, not literals, for the polar lines' first index and the rows flag: literals would compile
    # _split_lines once more for each)
    first = k0 - k0
    rows = npolar >= 0
    # the planes go in groups of one layer's tags (at most PLANE_GROUP, each with its south-face fluxes in a row of
    # the work array's block rows), and every group through the plane in blocks of rows: each tag of the group takes
    # the block through the meridional pass and the zonal split, so that the block's weights (meridional, and the
    # zonal tables) are read from memory once for the group, not once per tag
    fsb = work[W_BLOCK : W_BLOCK + PLANE_GROUP]
    nrb = max(ROW_BLOCK_CELLS // ni, 1)
    k = k0
    while k < k1:
        l = k // nt
        ke = min(k1, k + PLANE_GROUP, (l + 1) * nt)
        for j0 in range(0, nj, nrb):
            j1 = min(j0 + nrb, nj)
            for kk in range(k, ke):
                t = kk % nt
                _meridional_plane(m3, t, l, nj, ni, wy, tiny_y, acc, fv, fsb[kk - k], bounded, ybc, qbc_s, qbc_n,
                                  ends, j0, j1)
                for c in range(nchunk_x):
                    lo = c * ntot_x // nchunk_x
                    hi = (c + 1) * ntot_x // nchunk_x
                    a = max(lo, l * nj + j0)
                    b = min(hi, l * nj + j1)
                    if a < b:
                        _split_lines(a - lo, b - lo, lo, rows, m3, qbc_w, qbc_e, acc, fu, ends_x, meta[c], lwd[c],
                                     lwfi[c], lwff[c], lcidx[c], lfidx[c], lfsg[c], ltiny[c], lfat[c], work, t, t + 1)
        if npolar > 0:
            for kk in range(k, ke):
                t = kk % nt
                _split_lines(2 * l, 2 * l + 2, first, rows, m3, qbc_w, qbc_e, acc, fu, ends_x, pmeta, plwd, plwfi,
                             plwff, plcidx, plfidx, plfsg, pltiny, plfat, work, t, t + 1)
        k = ke


@njit(cache=True, error_model="numpy")
def _book_ends(boundary, ends, base, ntot, nline):
    """Book the end fluxes ``ends[base + q]`` of the lines ``q < ntot`` (``nline`` a layer) of a sweep of a bounded
    grid on the boundary budget ``boundary (T, L, 4)``."""
    for q in range(ntot):
        for t in range(boundary.shape[0]):
            _book_boundary(boundary[t, q // nline], ends[base + q, t, 0], ends[base + q, t, 1])


@njit(cache=True, parallel=True, error_model="numpy")
def _tag_planes_parallel(nchunk, nplane, m3, nj, ni, wy, tiny_y, acc, fu, fv, work_s, bounded, ybc, qbc_w,
                         qbc_e, qbc_s, qbc_n, ends, ptabs, npolar, nchunk_x, ntot_x, tabs):
    # the planes are dealt layer by layer, as the lines of the totals' sweeps are (index layer * lines + line, in
    # contiguous work items), so that a thread takes the tags of the layers whose rows and great circles it swept
    # and finds its own writes: where the threads run on cores that share no cache (a 2-vCPU host at the level
    # where its triad reads 84 GB/s), dealing tag by tag made every thread read half of its planes from the other
    # core and cost 13-16 % of a step of 8 and 32 tags (benchmarks/OPTIMISATIONS.md)
    for c in prange(nchunk):
        _tag_planes(c * nplane // nchunk, (c + 1) * nplane // nchunk, m3, nj, ni, wy, tiny_y, acc, fu, fv,
                    work_s[c], bounded, ybc, qbc_w, qbc_e, qbc_s, qbc_n, ends, ptabs, npolar, nchunk_x, ntot_x, tabs)


@cache
def _compiled(parallel: bool):
    """The kernel of :func:`make_horizontal_advection` with its options as run-time arguments, running its lines and
    planes in parallel work items (``_*_parallel``) or serially. (A closure over ``parallel``, so that the serial
    build does not contain the parallel loops; Numba's disk cache keys on the closure's values.)"""

    @njit(cache=True, error_model="numpy")
    def advect(m, M, U, V, P, dlon, dlat, beta_y, dt, nsub, x_first, qbc_w, qbc_e, qbc_s, qbc_n, accumulate, face_u,
               face_v, fmap_u, fmap_v, boundary, status, order, periodic, cross_pole, strang, max_chunks, workspace):
        nstage = 3 if strang else 2
        # (0 at run time, not a literal: a literal argument compiles the function it goes to once more, for the line
        # sweeps about 5 s)
        zero = nsub - nsub
        independent = order == 4
        nt, nl, nj, ni = m.shape
        m3 = m.reshape((nt, nl, nj * ni))
        # the face accumulators with the slot of every face of the grid (-1: not booked)
        fu = (face_u, fmap_u)
        fv = (face_v, fmap_v)
        # the tags' plane passes book only accumulators per tag (with one tag row the totals' sweeps book the total)
        acc_tags = accumulate and face_u.shape[1] == nt
        h = dt / nsub
        half = ni // 2
        n2 = 2 * nj
        # the work arrays come from the caller (advection_workspace), made once for a shape, not in every step
        w2, tot, bx, wg, bg, scr_s, work_s, ibuf_s, fsg_s, qbuf_s, codes, ends, wy, tiny_y, ybc, pcodes, tabs = workspace
        nlmax = nl * max(nj, ni)
        M3 = M.reshape((nl, nj * ni))
        for l in range(nl):
            for p in range(nj * ni):
                w2[l, p] = M3[l, p]
        # the total over tags, summed once per call and then carried by the sweeps (each sweep computes the total's
        # new masses anyway), so that a sweep reads every tag once instead of twice
        tagged = nt > 1 and not independent  # (tags advected each on its own need no total)
        # a call that starts with a zonal sweep sums the tags inside it, row by row (see _sweep_lines)
        sum_in_sweep = tagged and not strang and x_first
        if tagged and not sum_in_sweep:
            nrow = nl * nj
            if parallel:
                _sum_parallel(m3, tot, nrow, nj, ni, min(nrow, max_chunks))
            else:
                _sum_rows(m3, tot, zero, nrow, nj, ni)
        for p in range(ni):
            bx[p] = 0.0
        for p in range(nj):
            wg[p] = dlat[p]
            wg[n2 - 1 - p] = dlat[p]
            bg[p] = beta_y[p]
            bg[n2 - 1 - p] = -beta_y[p]
        # the lines' scratch, one set per work item and one for the polar rows, cleared once per call (so that no
        # call depends on what an earlier one left there)
        nslot = scr_s.shape[0]
        nmax = scr_s.shape[2]
        for k in range(nslot):
            for a in range(N_SCRATCH):
                for p in range(nmax):
                    scr_s[k, a, p] = 0.0
            for a in range(N_LINE_WORK):
                for p in range(nmax + 2 * BAND):
                    work_s[k, a, p] = 0.0
            for p in range(nmax):
                ibuf_s[k, 0, p] = 0
                ibuf_s[k, 1, p] = 0
                fsg_s[k, p] = 1.0
            for t in range(nt):
                qbuf_s[k, 0, t] = 0.0
                qbuf_s[k, 1, t] = 0.0
        pslot = nslot - 1
        for q in range(nlmax):
            codes[q] = -1
        # (the zonal end fluxes of sub-steps that sweep meridionally first are read only on bounded rows)
        for q in range(nlmax if periodic else 2 * nlmax):
            for t in range(nt):
                ends[q, t, 0] = 0.0
                ends[q, t, 1] = 0.0
        # (wy, tiny_y, ybc: the meridional weights of great circles or bounded columns for the plane-by-plane second
        # pass of several tags)
        # the polar rows' lines (run-time values, not literals: Numba would compile _sweep_lines once more for them)
        polar_kind = 3 if cross_pole else 0
        polar_lines = 2 if cross_pole else 1
        no_sum = nsub < 0  # (False, but not a literal: a literal would compile _sweep_lines once more, about 5 s)
        for q in range(2 * nl):
            pcodes[q] = -1
        for s in range(nsub):
            xf = x_first if s % 2 == 0 else not x_first
            # a sub-step that sweeps meridionally first (several tags, alternating splitting) runs the totals of both
            # sweeps first and then the tags of both plane by plane (_tag_planes): the meridional sweep leaves its
            # plane pass and the polar rows' second half-turn of the tags, the zonal sweep its split of the tags
            defer_y = tagged and not strang and not xf
            for stage in range(nstage):
                if strang:
                    is_x = stage == 1
                    hs = h if stage == 1 else 0.5 * h
                else:
                    is_x = (stage == 0) == xf
                    hs = h
                if is_x:
                    kind = 0
                    nline = nj
                    F = U
                    width = dlon
                    beta = bx
                    qlo = qbc_w
                    qhi = qbc_e
                    face = fu
                elif cross_pole:
                    kind = 1
                    nline = half
                    F = V
                    width = wg
                    beta = bg
                    qlo = qbc_s
                    qhi = qbc_n
                    face = fv
                else:
                    kind = 2
                    nline = ni
                    F = V
                    width = dlat
                    beta = beta_y
                    qlo = qbc_s
                    qhi = qbc_n
                    face = fv
                ntot = nl * nline
                nchunk = min(ntot, max_chunks) if parallel else zero + 1  # (a run-time 1: see zero)
                # (the first sweep of a call that starts zonally sums the tags itself)
                sum_tags = sum_in_sweep and s == 0 and stage == 0
                # the tags' second pass plane by plane: great circles of a global grid, columns of a bounded one
                by_plane = tagged and kind != 0
                for half_turn in range(2 if kind == 1 else 1):
                    if kind == 1:
                        # the polar rows turn half before and half after the meridional sweep (serially: four small
                        # lines are not worth waking the threads)
                        # (one line a call; all of them in one call when the tags of the second half-turn wait
                        # for _tag_planes, so that the tables of every line stay: one call a line ran 3 % faster)
                        defer_polar = defer_y and half_turn == 1
                        if parallel and nt > 1 and not defer_polar:
                            # several tags whose split follows at once: the lines in the work items of the other
                            # sweeps (their scratch and tables are free here; no new caller of _sweep_lines, which
                            # would compile it once more)
                            _lines_parallel(min(2 * nl, max_chunks), polar_kind, 2 * nl, polar_lines, nj, ni, m3, w2,
                                            tot, U, P, 0.5 * hs, periodic, cross_pole, order, independent, qbc_w, qbc_e,
                                            dlon, bx, accumulate, fu, ends, pcodes, wy, tiny_y, ybc, scr_s, work_s,
                                            ibuf_s, fsg_s, qbuf_s, tabs, no_sum, defer_polar)
                        else:
                            nper = 2 * nl if defer_polar else 1
                            for c in range(0, 2 * nl, nper):
                                _sweep_lines(polar_kind, c, c + nper, polar_lines, nj, ni, m3, w2, tot, U, P, 0.5 * hs,
                                             periodic, cross_pole, order, independent, qbc_w, qbc_e, dlon, bx, accumulate,
                                             fu, ends, pcodes, wy, tiny_y, ybc, scr_s[pslot], work_s[pslot],
                                             ibuf_s[pslot], fsg_s[pslot], qbuf_s[pslot], _slot(tabs, pslot), no_sum,
                                             defer_polar)
                        for q in range(2 * nl):
                            if pcodes[q] >= 0:
                                status[q // 2, 0] = pcodes[q] // 1_000_000
                                status[q // 2, 1] = 0 if q % 2 == 0 else nj - 1
                                status[q // 2, 2] = pcodes[q] % 1_000_000
                                status[q // 2, 3] = s
                                return
                    if half_turn == 0:
                        defer = defer_y and is_x
                        if parallel:
                            _lines_parallel(nchunk, kind, ntot, nline, nj, ni, m3, w2, tot, F, P, hs, periodic,
                                            cross_pole, order, independent, qlo, qhi, width, beta, accumulate, face, ends,
                                            codes, wy, tiny_y, ybc, scr_s, work_s, ibuf_s, fsg_s, qbuf_s, tabs, sum_tags,
                                            defer)
                        else:
                            _sweep_lines(kind, zero, ntot, nline, nj, ni, m3, w2, tot, F, P, hs, periodic, cross_pole, order,
                                         independent, qlo, qhi, width, beta, accumulate, face, ends, codes, wy, tiny_y,
                                         ybc, scr_s[0], work_s[0], ibuf_s[0], fsg_s[0], qbuf_s[0], _slot(tabs, zero),
                                         sum_tags, defer)
                        ok = True
                        for q in range(ntot):
                            if codes[q] >= 0:
                                ok = False
                        if ok and (defer or (by_plane and not defer_y)):
                            # the tags' meridional pass plane by plane (on a global grid the polar rows' second
                            # half-turn needs it done); after the zonal totals of a sub-step that swept meridionally
                            # first, with that half-turn and the zonal split of the tags
                            nplane = nt * nl
                            npolar = 2 * nl if cross_pole and defer else zero
                            nchunk_x = nchunk if defer else zero
                            if parallel:
                                # (one work item per thread, at least one per layer: an item takes its tags through
                                # every block of rows together and reads the block's weights once, so fewer items
                                # read them fewer times; 32 tags at 0.25 degrees: 148 ms a step against 150-153 with
                                # four items per thread)
                                _tag_planes_parallel(min(nplane, max(nl, max_chunks // 4)), nplane, m3, nj, ni, wy, tiny_y,
                                                     acc_tags, fu, fv, work_s, not cross_pole, ybc, qbc_w, qbc_e, qbc_s,
                                                     qbc_n, ends, _slot(tabs, pslot), npolar, nchunk_x, ntot, tabs)
                            else:
                                _tag_planes(zero, nplane, m3, nj, ni, wy, tiny_y, acc_tags, fu, fv, work_s[0],
                                            not cross_pole, ybc, qbc_w, qbc_e, qbc_s, qbc_n, ends, _slot(tabs, pslot),
                                            npolar, nchunk_x, ntot, tabs)
                for q in range(ntot):
                    code = codes[q]
                    if code >= 0:
                        l = q // nline
                        ln = q % nline
                        pos = code % 1_000_000
                        status[l, 0] = code // 1_000_000
                        if kind == 0:
                            status[l, 1] = ln
                            status[l, 2] = pos
                        elif kind == 1 and pos >= nj:
                            status[l, 1] = n2 - 1 - pos
                            status[l, 2] = ln + half
                        else:
                            status[l, 1] = pos
                            status[l, 2] = ln
                        status[l, 3] = s
                        return
                if defer_y and is_x:
                    # the end fluxes of both sweeps, in their order (the meridional ones of bounded columns first)
                    if not cross_pole:
                        _book_ends(boundary, ends, zero, nl * ni, ni)
                    if not periodic:
                        _book_ends(boundary, ends, nlmax, ntot, nline)
                elif (kind == 2 or (kind == 0 and not periodic)) and not defer_y:
                    _book_ends(boundary, ends, zero, ntot, nline)

    return advect


@cache
def make_horizontal_advection(options: AdvectionKernelOptions):
    """Build the horizontal advection kernel specialised for ``options`` (memoised).

    The returned function is ``advect(m, M, U, V, P, dlon, dlat, beta_y, dt, nsub, x_first, qbc_w, qbc_e, qbc_s,
    qbc_n, accumulate, face_u, face_v, boundary, status)``. It advances the chemical mass ``m (T, L, J, I)`` of all
    tags in place over ``dt`` seconds in ``nsub`` equal sub-steps. With alternating splitting a sub-step is x then y
    when ``x_first`` on even sub-steps, y then x on odd ones (successive calls alternate ``x_first``); with Strang
    splitting it is y/2, x, y/2. Every sweep runs in parallel over the (layer, line) pairs. The function keeps the
    kernel's work arrays for the last state shape and flux accumulation it was called with
    (:func:`advection_workspace`), so that the steps of a run allocate nothing; it is not re-entrant.

    Tags: with the limited schemes (orders 1-3) every sweep computes the fluxes of the total over tags exactly as
    for a single tracer and splits each face's flux among the tags by their shares of its donor region
    (:func:`split_fluxes`): the tags add up to a run of the total to round-off and stay non-negative. Order 0 is
    split the same way, which equals advecting every tag alone; order 4 (linear) advects every tag alone. With one
    tag the total is the tag.

    Arguments:

    - ``M (L, J, I)``: air mass at the start of the step (kg);
    - ``U (L, J, I + 1)``, ``V (L, J + 1, I)``: air-mass fluxes (kg s-1); with ``cross_pole``, ``P (L, 2, I/2)``
      air-mass fluxes across the south and north pole from column ``i`` to column ``i + I/2`` (zero for C-grid
      fluxes, whose pole walls have no length; ignored otherwise);
    - ``dlon (I,)``, ``dlat (J,)``: cell widths (rad) in which the mixing ratio is reconstructed; ``beta_y (J,)``:
      slope of the air-mass density inside every row (:func:`geometry`);
    - ``qbc_w, qbc_e (T, L, J)``, ``qbc_s, qbc_n (T, L, I)``: mixing ratio of air entering through the west, east,
      south and north walls of a regional grid, per tag (the total's is their sum);
    - ``accumulate``, ``face_u (2, T, L, J, I + 1)``, ``face_v (2, T, L, J + 1, I)``: when ``accumulate``, the
      chemical mass (kg) crossing every face in the positive [0] and negative [1] direction is added; with the
      optional ``face_map_u (J, I + 1)``, ``face_map_v (J + 1, I)`` (int64: the slot of every face, -1 for a face
      not booked) only the faces of the maps are booked, on ``face_u (2, T, L, slots_u)`` and ``face_v (2, T, L,
      slots_v)`` (the faces the outputs need, e.g. those on region borders: the rest cost no memory traffic).
      Accumulators with one tag row (``face_u (2, 1, L, ...)``) take the total over tags: several tags of a
      limited scheme book the total's fluxes in its own sweeps, once per face instead of once per tag and face
      (the tags' fluxes are its shares: their sum is the total's to round-off);
    - ``boundary (T, L, 4)``: inflow [0] and outflow [1] through open boundaries (kg, added with compensated
      summation; [2] and [3] hold the rounding carries);
    - ``status (L, 4)`` int64: error codes per layer (see the module docstring).
    """
    order = int(options.order)
    if order not in (0, 1, 2, 3, 4):
        raise ValueError(f"advection order {order} is not one of 0, 1, 2, 3, 4")
    periodic = bool(options.periodic_x)
    cross_pole = bool(options.cross_pole)
    if options.splitting not in ("alternating", "strang"):
        raise ValueError(f"splitting {options.splitting!r} is not 'alternating' or 'strang'")
    strang = options.splitting == "strang"
    parallel = bool(options.parallel)
    kernel = _compiled(parallel)
    # work items per sweep: a few per thread (lines cost different amounts; numba splits the range statically)
    max_chunks = 4 * int(numba_config.NUMBA_NUM_THREADS) if parallel else 1

    workspace = LastShape()

    identity = LastShape()

    def advect(m, M, U, V, P, dlon, dlat, beta_y, dt, nsub, x_first, qbc_w, qbc_e, qbc_s, qbc_n, accumulate, face_u,
               face_v, boundary, status, face_map_u=None, face_map_v=None):
        tagged = m.shape[0] > 1 and order != 4
        acc = bool(accumulate)
        ws = workspace.get((m.shape, acc), lambda: advection_workspace(m.shape, parallel, max_chunks, tagged, acc))
        if face_map_u is None:
            # every face booked: the accumulators in grid layout, and maps that give every face its own slot
            face_u = face_u.reshape(face_u.shape[:3] + (-1,))
            face_v = face_v.reshape(face_v.shape[:3] + (-1,))
            face_map_u, face_map_v = identity.get((face_u.shape[3], face_v.shape[3]), lambda: (
                np.arange(face_u.shape[3], dtype=np.int64), np.arange(face_v.shape[3], dtype=np.int64)))
        kernel(m, M, U, V, P, dlon, dlat, beta_y, dt, nsub, x_first, qbc_w, qbc_e, qbc_s, qbc_n, accumulate, face_u,
               face_v, face_map_u.reshape(-1), face_map_v.reshape(-1), boundary, status, order, periodic, cross_pole,
               strang, max_chunks, ws)

    return advect


@njit(cache=True, parallel=True, error_model="numpy")
def horizontal_diffusion(m, M, Du, Dv, dt, nsub, periodic, status):
    """Explicit horizontal diffusion of the mixing ratio, conservative and monotone for ``dt`` within the limit.

    The chemical mass exchanged through a face during ``h = dt / nsub`` is ``h D (q_a - q_b)`` with ``D`` (kg s-1)
    the diffusive air-mass exchange rate of the face (``Du (L, J, I + 1)``, ``Dv (L, J + 1, I)``; zero at open
    boundaries and poles). Each sub-step is a convex combination of neighbouring mixing ratios when
    ``h sum(D) <= M`` for every cell (the caller chooses ``nsub``); ``status[0] = 1`` flags a violation.
    """
    nt, nl, nj, ni = m.shape
    h = dt / nsub
    # (planes layer by layer, as the advection kernel deals them: a thread takes the layers it has just advected)
    for p in prange(nt * nl):
        l = p // nt
        t = p % nt
        q = np.empty((nj, ni))
        for _ in range(nsub):
            for j in range(nj):
                for i in range(ni):
                    q[j, i] = m[t, l, j, i] / M[l, j, i]
            for j in range(nj):
                for i in range(ni):
                    iw = i - 1
                    ie = i + 1
                    tot = 0.0
                    if iw >= 0:
                        tot += Du[l, j, i] * (q[j, iw] - q[j, i])
                    elif periodic:
                        tot += Du[l, j, i] * (q[j, ni - 1] - q[j, i])
                    if ie < ni:
                        tot += Du[l, j, i + 1] * (q[j, ie] - q[j, i])
                    elif periodic:
                        tot += Du[l, j, i + 1] * (q[j, 0] - q[j, i])
                    if j > 0:
                        tot += Dv[l, j, i] * (q[j - 1, i] - q[j, i])
                    if j < nj - 1:
                        tot += Dv[l, j + 1, i] * (q[j + 1, i] - q[j, i])
                    m[t, l, j, i] += h * tot
                    if h * (Du[l, j, i] + Du[l, j, i + 1] + Dv[l, j, i] + Dv[l, j + 1, i]) > M[l, j, i]:
                        status[0] = 1


__all__ = [
    "advection_workspace",
    "AdvectionKernelOptions",
    "GHOST",
    "STATUS_EMPTY_CELL",
    "STATUS_OK",
    "STATUS_ROW_OVERRUN",
    "horizontal_diffusion",
    "make_horizontal_advection",
    "mean_left",
    "mean_right",
    "advance_line",
    "reconstruct_line",
    "split_fluxes",
    "split_line",
    "prepare_split",
    "sweep_line",
]
