"""Tagged advection: the tags split the fluxes of their total.

Properties (random non-divergent and divergent winds, regional and global grids, 1 to 6 tags):

(a) the tags add up to a single-tracer run of their total to round-off, and so do the face accumulators and the
    open-boundary inflow and outflow;
(b) every tag stays non-negative, and its share ``m_t / m`` of a cell's chemical after a sweep is a convex
    combination of its shares in the cells around the departure interval (with the upwind scheme also its mixing
    ratio ``m_t / M``);
(c) with one tag the kernel is the single-tracer scheme, bit for bit;
(d) with the upwind scheme the tags equal independent runs of every tag (the model stays linear).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.kernels.advection import (
    BAND,
    FLUX,
    GHOST,
    N_SCRATCH,
    NWHOLE,
    QP,
    WP,
    AdvectionKernelOptions,
    R,
    _split_banded_row,
    geometry,
    make_horizontal_advection,
    split_fluxes,
    split_line,
    sweep_line,
)
from popstransport.processes.advection import HorizontalAdvection

SCHEMES = ["ppm", "ppm_cw84", "vanleer", "upwind"]


def _grid(regional: bool) -> LatLonGrid:
    layers = AirLayers((0.0, 1000.0, 4000.0))
    if regional:
        return LatLonGrid.regional(0, 30, -12, 12, 3.0, layers=layers)
    return LatLonGrid.global_grid(22.5, layers=layers)


def _winds(rng, grid, divergent: bool, courant: float):
    """Air-mass fluxes (kg s-1) and a step (s) with the given largest Courant number."""
    M = grid.air_mass_kg()
    nl, nj, ni = M.shape
    if divergent:
        U = rng.normal(0.0, 1.0, (nl, nj, ni + 1))
        V = rng.normal(0.0, 1.0, (nl, nj + 1, ni))
        if not grid.is_periodic:
            U += rng.normal(0.0, 1.5)
    else:
        psi = rng.normal(0.0, 1.0, (nj + 1, ni + 1))
        if grid.is_periodic:
            psi[:, -1] = psi[:, 0]
            psi[0] = psi[0, 0]
            psi[-1] = psi[-1, 0]
        U = np.repeat(-(psi[1:] - psi[:-1])[None], nl, axis=0) + (rng.normal(0.0, 0.5) if not grid.is_periodic else 0)
        V = np.repeat((psi[:, 1:] - psi[:, :-1])[None], nl, axis=0)
    if grid.is_periodic:
        U[:, :, -1] = U[:, :, 0]
        V[:, 0] = V[:, -1] = 0.0
    out = np.maximum(U[..., 1:], 0) - np.minimum(U[..., :-1], 0) + np.maximum(V[:, 1:], 0) - np.minimum(V[:, :-1], 0)
    scale = M.min() / np.abs(np.concatenate([U.ravel(), V.ravel()])).max()
    U, V = U * scale, V * scale
    dt = courant / float(np.max(out * scale / M))
    if divergent:
        dt *= 0.3  # keep the intermediate air masses well away from zero
    return M, np.ascontiguousarray(U), np.ascontiguousarray(V), dt


def _tags(rng, M, ntag: int):
    """Rough, partly empty tag fields (some tags absent from whole regions)."""
    q = rng.uniform(0.0, 1.0, (ntag,) + M.shape) ** 3
    for t in range(ntag):
        if rng.uniform() < 0.5:
            j0 = int(rng.integers(0, M.shape[1]))
            q[t, :, j0:] = 0.0
    return np.ascontiguousarray(q * M[None])


def _run(air, M, U, V, dt, steps, scheme, grid, qbc):
    nt, nl, nj, ni = air.shape
    fu = np.zeros((2, nt, nl, nj, ni + 1))
    fv = np.zeros((2, nt, nl, nj + 1, ni))
    adv = HorizontalAdvection(scheme, grid=grid, boundary_mixing_ratio=qbc)
    inflow = np.zeros(nt)
    outflow = np.zeros(nt)
    for _ in range(steps):
        res = adv.advect(air, M, U, V, dt, face_mass_u_kg=fu, face_mass_v_kg=fv)
        inflow += res["inflow_kg"]
        outflow += res["outflow_kg"]
    return fu, fv, inflow, outflow


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    ntag=st.integers(1, 6),
    scheme=st.sampled_from(SCHEMES),
    regional=st.booleans(),
    divergent=st.booleans(),
    courant=st.floats(0.1, 2.5),
    steps=st.integers(1, 4),
)
def test_tags_add_up_to_the_total_and_stay_non_negative(seed, ntag, scheme, regional, divergent, courant, steps):
    rng = np.random.default_rng(seed)
    grid = _grid(regional)
    M, U, V, dt = _winds(rng, grid, divergent, courant)
    air = _tags(rng, M, ntag)
    qbc = rng.uniform(0.0, 1.0, ntag) * (rng.uniform(size=ntag) < 0.7)
    total = np.ascontiguousarray(air.sum(axis=0, keepdims=True))
    tagged = _run(air, M, U, V, dt, steps, scheme, grid, qbc)
    single = _run(total, M, U, V, dt, steps, scheme, grid, np.array([qbc.sum()]))
    # (a) the tags add up to the single-tracer run of the total
    scale = total.max()
    np.testing.assert_allclose(air.sum(axis=0), total[0], rtol=0, atol=1e-12 * scale)
    for a, b in zip(tagged[:2], single[:2]):
        np.testing.assert_allclose(a.sum(axis=1), b[:, 0], rtol=0, atol=1e-12 * max(b.max(), 1e-300))
    for a, b in zip(tagged[2:], single[2:]):
        np.testing.assert_allclose(a.sum(), b[0], rtol=1e-12, atol=1e-300)
    # (b) non-negative (so no tag holds more than the sum); the local bounds are tested per sweep below
    assert air.min() >= 0.0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    ntag=st.integers(2, 6),
    order=st.sampled_from([0, 1, 2, 3]),
    periodic=st.booleans(),
    courant=st.floats(0.05, 3.5),
    divergence=st.floats(0.0, 0.6),
)
# a cell left with 7e-12 of the line's mass after fluxes of about 0.2: its shares carry the round-off of that
# cancellation (relative 2e-6), which the mass-based tolerance below allows for
@example(seed=99999, ntag=2, order=0, periodic=False, courant=2.0, divergence=0.0)
def test_shares_after_a_sweep_are_convex_combinations_of_the_donor_shares(seed, ntag, order, periodic, courant,
                                                                          divergence):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 20))
    w = rng.uniform(0.5, 1.5, n)
    r = courant * rng.uniform(-1, 1) + divergence * rng.uniform(-0.5, 0.5, n + 1)
    if periodic:
        r[n] = r[0]
    wn = w - np.diff(r)
    if not np.all(wn > 0.05 * w):
        return
    mt = rng.uniform(0, 1, (ntag, n)) ** 3 * w
    mt[rng.integers(0, ntag), : n // 2] = 0.0
    qlo, qhi = rng.uniform(0, 1, ntag), rng.uniform(0, 1, ntag)
    m = mt.sum(axis=0)
    scr = np.zeros((N_SCRATCH, n + 2 * GHOST + 1))
    qp = np.concatenate([(m / w)[-GHOST:], m / w, (m / w)[:GHOST]]) if periodic else np.pad(m / w, GHOST, "edge")
    scr[QP, : n + 2 * GHOST] = qp
    scr[WP, : n + 2 * GHOST] = 1.0
    scr[R, : n + 1] = r
    mk, wk = m.copy(), w.copy()
    assert sweep_line(n, mk, wk, np.zeros(n), periodic, qlo.sum(), qhi.sum(), order, scr) == -1
    new = mt - np.diff(split_line(n, periodic, scr, mt, qlo, qhi), axis=1)
    np.testing.assert_allclose(new.sum(axis=0), mk, rtol=0, atol=1e-13 * m.sum())
    assert new.min() >= -1e-13 * m.sum()
    # the cells (and inflow) around every cell's departure interval [X_i - r_i, X_{i+1} - r_{i+1}]
    X = np.concatenate([[0.0], np.cumsum(w)])
    share = mt / np.where(m > 0, m, 1.0)
    share_in_lo = qlo / qlo.sum() if qlo.sum() > 0 else np.zeros(ntag)
    share_in_hi = qhi / qhi.sum() if qhi.sum() > 0 else np.zeros(ntag)
    for i in range(n):
        if mk[i] <= 1e-12 * m.sum():
            continue
        a, b = X[i] - r[i], X[i + 1] - r[i + 1]
        cand = []
        ks = [k for k in (range(-2 * n, 3 * n) if periodic else range(n))
              if X[k % n] + (k // n) * X[-1] < b and X[k % n + 1] + (k // n) * X[-1] > a]
        ks = [k % n for k in ks]
        if not periodic and a < 0:
            cand.append(share_in_lo)
        if not periodic and b > X[-1]:
            cand.append(share_in_hi)
        cand += [share[:, k] for k in ks if m[k] > 0]
        cand = np.array(cand)
        s_new = new[:, i] / mk[i]
        # (shares are masses over the cell's mass: a share is as exact as the masses, to round-off of the line's mass)
        tol = 1e-10 + 1e-13 * m.sum() / mk[i]
        assert np.all(s_new >= cand.min(axis=0) - tol), (i, s_new, cand)
        assert np.all(s_new <= cand.max(axis=0) + tol), (i, s_new, cand)


def _lines(U, V, h, direction, geom):
    """The lines of one sweep of a layer of a global grid, as the kernel runs them: ``(index, air through the faces,
    widths, density slopes)`` for the zonal rows (``"x"``) or for the great circles with the polar rows turning half
    before and half after (``"y"``)."""
    dlon, dlat, beta = geom
    nj, ni = U.shape[0], U.shape[1] - 1
    half = ni // 2
    polar = [(np.s_[j, :], 0.5 * h * U[j], dlon, np.zeros(ni)) for j in (0, nj - 1)]
    if direction == "x":
        return [(np.s_[j, :], h * U[j], dlon, np.zeros(ni)) for j in range(1, nj - 1)]
    lines = list(polar)
    for i in range(half):
        r = np.concatenate([[0.0], h * V[1:nj, i], [0.0], -h * V[1:nj, i + half][::-1], [0.0]])
        lines.append(((np.r_[np.arange(nj), np.arange(nj)[::-1]], np.r_[[i] * nj, [i + half] * nj]),
                      r, np.r_[dlat, dlat[::-1]], np.r_[beta, -beta[::-1]]))
    return lines + polar


def _sweep_order(U, V, dt, nsub, geom, x_first=True):
    """Every line of a call in the kernel's order (sub-steps, x-y then y-x, or y-x first, layers): ``(layer, index,
    air through the faces, widths, density slopes)``."""
    h = dt / nsub
    for s in range(nsub):
        for d in ("xy" if (s % 2 == 0) == x_first else "yx"):
            for lyr in range(U.shape[0]):
                for idx, r, width, b in _lines(U[lyr], V[lyr], h, d, geom):
                    yield lyr, idx, r, width, b


def _sweep(ml, wl, r, width, b, order):
    """One single-tracer sweep of a periodic line in place (masses ``ml``, air ``wl``); returns its scratch."""
    n = ml.size
    g = GHOST
    scr = np.zeros((N_SCRATCH, n + 2 * g + 1))
    q = ml / wl
    scr[QP, : n + 2 * g] = np.r_[q[-g:], q, q[:g]]
    scr[WP, : n + 2 * g] = np.r_[width[-g:], width, width[:g]]
    scr[R, : n + 1] = r
    assert sweep_line(n, ml, wl, b, True, 0.0, 0.0, order, scr) == -1
    return scr


def _plain_loop(air, M, U, V, dt, nsub, order, geom):
    """The single-tracer scheme as a Python loop over lines (x then y, then y then x; global grid: the polar rows
    turn half before and half after each meridional sweep)."""
    m = air[0].copy()
    w = M.copy()
    for lyr, idx, r, width, b in _sweep_order(U, V, dt, nsub, geom):
        ml = m[lyr][idx].copy()
        wl = w[lyr][idx].copy()
        _sweep(ml, wl, r, width, b, order)
        m[lyr][idx] = ml
        w[lyr][idx] = wl
    return m[None]


def _plain_loop_tags(air, M, U, V, dt, nsub, order, geom, circles_whole=None, x_first=True, clipped=None):
    """Several tags as a Python loop over lines: the total (summed once, then carried) swept by ``sweep_line`` and
    split by ``split_line`` line after line, with the kernel's rounding clip below zero. ``circles_whole`` (a list),
    if given, gets the most whole cells any face of each great circle passed, and ``clipped`` (a dict) the number of
    tag masses the clip set to zero on the great circles (``"circle"``), in a row's last cell (``"row end"``) and in
    its other cells (``"row"``)."""
    m = air.copy()
    w = M.copy()
    tot = m[0].copy()
    for t in range(1, m.shape[0]):
        tot += m[t]
    zero = np.zeros(m.shape[0])
    for lyr, idx, r, width, b in _sweep_order(U, V, dt, nsub, geom, x_first):
        ml = tot[lyr][idx].copy()
        wl = w[lyr][idx].copy()
        old = ml.copy()
        scr = _sweep(ml, wl, r, width, b, order)
        n = ml.size
        if circles_whole is not None and isinstance(idx[0], np.ndarray):
            circles_whole.append(int(scr[NWHOLE, : n + 1].max()))
        tags = np.array([m[t, lyr][idx] for t in range(m.shape[0])])
        new = tags - np.diff(split_line(n, True, scr, tags, zero, zero), axis=1)
        clip = _rounding_below_zero(new, old, ml, scr)
        if clipped is not None:
            for key, count in ((("circle", clip.sum()),) if isinstance(idx[0], np.ndarray) else
                               (("row", clip[:, :-1].sum()), ("row end", clip[:, -1].sum()))):
                clipped[key] = clipped.get(key, 0) + int(count)
        new[clip] = 0.0
        for t in range(m.shape[0]):
            m[t, lyr][idx] = new[t]
        tot[lyr][idx] = ml
        w[lyr][idx] = wl
    return m


def _rounding_below_zero(new, old, ml, scr):
    """The tag masses ``new`` of a line that the kernel's rounding clip sets to zero: below 0 and above the line's
    threshold ``-(1e-13 + 1e-15 n) big`` (``big`` the largest old or new total or total flux, ``old``, ``ml``)."""
    n = ml.size
    big = max(old.max(), ml.max(), np.abs(scr[FLUX, : n + 1]).max())
    return (new < 0.0) & (new > -(1e-13 + 1e-15 * n) * big)


def _kernel_call(kern, m, M, U, V, P, geom, dt, nsub, x_first=True):
    """The tags ``m`` after one call of the kernel ``kern`` (no inflow, every face booked), which must succeed."""
    k, nl, nj, ni = m.shape
    out = m.copy()
    q_we, q_sn = np.zeros((k, nl, nj)), np.zeros((k, nl, ni))
    status = np.zeros((nl, 4), dtype=np.int64)
    fu, fv = np.zeros((2, k, nl, nj, ni + 1)), np.zeros((2, k, nl, nj + 1, ni))
    kern(out, M, U, V, P, *geom, dt, nsub, x_first, q_we, q_we, q_sn, q_sn, True, fu, fv, np.zeros((k, nl, 4)),
         status)
    assert not status.any()
    return out


def _ramp_jets(V, M, ramp, h, north_column, south_column):
    """Add a northward jet up ``north_column`` and a southward one down ``south_column`` whose face fluxes grow along
    the column: each face carries ``ramp`` times the air of the column's cells behind it from row 1 (or row J - 2)
    in a sweep of ``h`` seconds, so that faces near the column's end pass whole cells."""
    nj = M.shape[1]
    column_air = M[0, :, 0]
    for j in range(2, nj):
        V[:, j, north_column] += ramp * column_air[1:j].sum() / h
        V[:, nj - j, south_column] -= ramp * column_air[nj - j : nj - 1].sum() / h


def _drained_cells_winds(M, rng, periodic):
    """Air through the faces ``(U, V)`` (kg per 1-s sweep) that drains cells through both faces (see :func:`_drain`):
    zonal drains in rows 2, 4, 6 (the odd columns, so also each row's last cell), meridional drains in rows 1, 3, 5
    of the even columns, so that neither sweep sends air into a cell that the other drains; no other wind."""
    nl, nj, ni = M.shape
    U, V = np.zeros((nl, nj, ni + 1)), np.zeros((nl, nj + 1, ni))
    for lyr in range(nl):
        for j in (2, 4, 6):
            for i in range(1, ni, 2):
                _drain(U[lyr, j], i, i + 1, M[lyr, j, i], rng)
        if periodic:
            U[lyr, :, 0] = U[lyr, :, ni]
        for i in range(0, ni, 2):
            for j in (1, 3, 5):
                _drain(V[lyr, :, i], j, j + 1, M[lyr, j, i], rng)
    return U, V


def _drain(F, lo, hi, air, rng):
    """Make the air ``air`` of a cell leave through both its faces in one sweep: a random part through face ``lo``
    and all the rest but a rounding unit or two through face ``hi`` (``F``: air through the faces of the line, kg per
    sweep, positive towards higher index)."""
    out_lo = rng.uniform(0.2, 0.8) * air
    out_hi = air - out_lo
    while not air - (out_hi + out_lo) > 0.0:  # (the kernel's new air, which must stay positive)
        out_hi = np.nextafter(out_hi, 0.0)
    F[lo] = -out_lo
    F[hi] = out_hi


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("rows", [2, 3, 4])
def test_the_one_pass_banded_row_split_equals_the_stencil_split_bit_for_bit(rows, periodic):
    """A row whose faces pass up to ``rows - 1`` whole cells, split and updated in one pass (``_split_banded_row``,
    the kernel's path for such rows), gives exactly :func:`split_fluxes` followed by the update: every face's flux and
    every new mass, with the same rounding clip below zero (met in cells whose chemical all leaves, a share ``a``
    through the low face and ``1 - a`` through the high one)."""
    assert rows <= BAND
    rng = np.random.default_rng(10 * rows + periodic)
    n = 97
    up = rng.random(n + 1) < 0.5
    nwhole = rng.integers(0, rows, n + 1)
    nwhole[2] = rows - 1  # (at least one face needs every weight row)
    frac = rng.random(n + 1)
    wd = np.zeros((BAND, n + 1))
    for k in range(rows):
        wd[k] = np.where(k < nwhole, 1.0, np.where(k == nwhole, frac, 0.0)) * np.where(up, 1.0, -1.0)
    m = rng.random(n) * 1e3
    m[rng.integers(0, n, 3)] = 0.0
    drained = np.arange(10, n - BAND - 1, 10)
    for p in drained:
        wd[:, p - BAND + 1 : p + BAND + 1] = 0.0  # (no other face reaches cell p)
        while True:  # (a mass and a share for which the new mass rounds below zero: about one pair in sixteen)
            m[p] = 1.0 + rng.random() * 1e3
            a = rng.uniform(0.2, 0.8)
            if m[p] - ((1.0 - a) * m[p] - (-a * m[p])) < 0.0:
                break
        wd[0, p] = -a
        wd[0, p + 1] = 1.0 - a
    if periodic:
        wd[:, n] = wd[:, 0]
    else:
        # (open ends: faces with air from outside are listed, never banded; the end faces here take from inside)
        wd[:, 0] = np.minimum(wd[:, 0], 0.0)
        wd[:, n] = np.maximum(wd[:, n], 0.0)
    tiny = 1e-13 * m.max()
    wfi = np.zeros((4, n + 1), dtype=np.int64)
    wff = np.zeros((2, n + 1))
    ft_ref = np.zeros(n + 1)
    split_fluxes(n, periodic, m, 0.0, 0.0, wd, rows, wfi, wff, 0, ft_ref, np.zeros(n + 2 * BAND))
    new_ref = m - (ft_ref[1:] - ft_ref[:-1])
    clip = (new_ref < 0.0) & (new_ref > -tiny)
    assert clip[drained].all()
    new_ref[clip] = 0.0
    row = m.copy()
    ft = np.zeros(n + 1)
    _split_banded_row(row, n, periodic, wd, rows, ft, np.zeros(n + 2 * BAND), tiny)
    np.testing.assert_array_equal(ft, ft_ref)
    np.testing.assert_array_equal(row, new_ref)
    assert np.abs(ft).max() > 0.0 and not np.array_equal(row, m)


@pytest.mark.parametrize(("ntag", "jet", "ramp"), [(1, 0.0, 0.0), (4, 0.0, 0.0), (4, 6.5, 0.0), (4, 0.0, 0.45)])
def test_the_kernel_equals_a_plain_loop_of_line_sweeps_bit_for_bit(ntag, jet, ramp):
    """(c): with one tag the kernel is the single-tracer scheme, line by line; with several, the kernel's ordering of
    the tag work (totals of a work item's lines first, then every tag through them; meridional splits plane by
    plane; in the second sub-step, which sweeps meridionally first, the totals of both sweeps first and then every
    tag's plane through both) gives exactly the line-by-line split, also where faces pass whole cells (with a zonal
    jet that carries up to ``jet`` cells' air per sub-step, some pass more than the banded split takes, and go
    through the running sum). With ``ramp``, two meridional jets whose face fluxes grow along a column (each face
    carries ``ramp`` times the air of the column's cells behind it since row 1, per sub-step) make great circles whose
    faces pass 1 to 3 whole cells (split with the banded stencil) and 4 or more (listed): those circles are split line
    by line, not plane by plane. Bit for bit."""
    rng = np.random.default_rng(3 if ntag == 1 else 5)
    grid = _grid(regional=False)
    M, U, V, dt = _winds(rng, grid, divergent=False, courant=1.0 if ramp else 1.7)
    nl, nj, ni = M.shape
    # the same flux through every face of a row (no divergence), each row its own speed and direction
    speed = jet * rng.uniform(0.5, 1.0, nj) * rng.choice([-1.0, 1.0], nj)
    U = U + (speed * M[0, :, 0] / (0.5 * dt))[None, :, None]
    # northward up column 3 and southward down column ni/2 + 1 (the other half of great circle 1)
    _ramp_jets(V, M, ramp, 0.5 * dt, 3, ni // 2 + 1)
    air = _tags(rng, M, ntag)
    geom = geometry(grid.lon_edges_deg, grid.lat_edges_deg)
    P = np.zeros((nl, 2, ni // 2))
    for order in ((0, 3) if ntag == 1 else (1, 3)):
        kern = make_horizontal_advection(AdvectionKernelOptions(order=order, parallel=True))
        mk = _kernel_call(kern, air, M, U, V, P, geom, dt, 2)
        if ntag == 1:
            np.testing.assert_array_equal(mk, _plain_loop(air, M, U, V, dt, 2, order, geom))
            continue
        circles_whole = []
        np.testing.assert_array_equal(mk, _plain_loop_tags(air, M, U, V, dt, 2, order, geom, circles_whole))
        # the reference shares the split's code with the kernel: the tags must also add up to a single-tracer run of
        # their total, which does not split (independent of that code; e.g. of the running sums that wrap round a row)
        single = _kernel_call(kern, air.sum(axis=0, keepdims=True), M, U, V, P, geom, dt, 2)
        np.testing.assert_allclose(mk.sum(axis=0), single[0], rtol=0, atol=1e-12 * single.max())
        assert mk.min() >= 0.0
        if ramp:
            assert 0 < min(k for k in circles_whole if k > 0) < BAND <= max(circles_whole)


@pytest.mark.parametrize("x_first", [True, False])
def test_tags_of_drained_cells_are_clipped_at_zero_on_every_path(x_first):
    """Cells whose air all leaves but a rounding unit, through both faces in one sweep, lose all their chemical in
    exact arithmetic; in floating point a tag can then come out a few rounding units below zero. The kernel sets
    such values to zero on every path that splits tags (rows in one pass, their last cell, great circles split plane
    by plane; calls that start zonally and meridionally), exactly as the line-by-line reference does, and the
    reference met such values on each of these paths (so that the test tests the clip). Van Leer's scheme, one
    sub-step of 1 s (the face fluxes are the air through the faces), no other wind; bit for bit."""
    rng = np.random.default_rng(1)
    grid = _grid(regional=False)
    M = grid.air_mass_kg()
    nl, nj, ni = M.shape
    U, V = _drained_cells_winds(M, rng, periodic=True)
    air = _tags(rng, M, 6)
    geom = geometry(grid.lon_edges_deg, grid.lat_edges_deg)
    kern = make_horizontal_advection(AdvectionKernelOptions(order=1, parallel=True))
    mk = _kernel_call(kern, air, M, U, V, np.zeros((nl, 2, ni // 2)), geom, 1.0, 1, x_first)
    clipped = {}
    np.testing.assert_array_equal(mk, _plain_loop_tags(air, M, U, V, 1.0, 1, 1, geom, x_first=x_first,
                                                       clipped=clipped))
    assert min(clipped.get(key, 0) for key in ("row", "row end", "circle")) > 0, clipped
    assert mk.min() >= 0.0


@pytest.mark.parametrize("regional", [False, True])
@pytest.mark.parametrize("divergent", [False, True])
def test_upwind_tags_equal_independent_runs_and_removal_equals_the_tag(regional, divergent):
    """(d): with the linear upwind scheme, tags are independent runs; removing a tag's source equals the tag."""
    rng = np.random.default_rng(11 + regional + 2 * divergent)
    grid = _grid(regional)
    M, U, V, dt = _winds(rng, grid, divergent, courant=1.8)
    air = _tags(rng, M, 4)
    qbc = np.array([0.2, 0.0, 0.7, 0.1])
    tagged = air.copy()
    res = _run(tagged, M, U, V, dt, 3, "upwind", grid, qbc)
    scale = air.sum(axis=0).max()
    for t in range(4):
        alone = air[t : t + 1].copy()
        res1 = _run(alone, M, U, V, dt, 3, "upwind", grid, qbc[t : t + 1])
        np.testing.assert_allclose(tagged[t], alone[0], rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(res[2][t], res1[2][0], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(res[3][t], res1[3][0], rtol=1e-12, atol=1e-300)
    base = np.ascontiguousarray(air.sum(axis=0, keepdims=True))
    without = np.ascontiguousarray(air[1:].sum(axis=0, keepdims=True))
    _run(base, M, U, V, dt, 3, "upwind", grid, np.array([qbc.sum()]))
    _run(without, M, U, V, dt, 3, "upwind", grid, np.array([qbc[1:].sum()]))
    np.testing.assert_allclose(base[0] - without[0], tagged[0], rtol=0, atol=1e-12 * scale)
    # the mixing ratio of every tag stays within its old range and its inflow value
    Mh = M - dt * 3 * ((U[..., 1:] - U[..., :-1]) + (V[:, 1:] - V[:, :-1]))
    if not divergent:
        q0, q1 = air / M[None], tagged / Mh[None]
        hi = np.maximum(q0.max(axis=(1, 2, 3)), qbc if regional else 0.0)
        lo = np.minimum(q0.min(axis=(1, 2, 3)), qbc if regional else np.inf)
        assert np.all(q1.max(axis=(1, 2, 3)) <= hi * (1 + 1e-12))
        assert np.all(q1.min(axis=(1, 2, 3)) >= lo * (1 - 1e-12) - 1e-300)


def test_inflow_carries_the_boundary_mixing_ratio_of_every_tag():
    grid = _grid(regional=True)
    M = grid.air_mass_kg()
    nl, nj, ni = M.shape
    U = np.full((nl, nj, ni + 1), 0.3 * M.min())
    V = np.zeros((nl, nj + 1, ni))
    air = np.zeros((3,) + M.shape)
    qbc = np.array([0.5, 0.0, 2.0])
    res = HorizontalAdvection("ppm", grid=grid, boundary_mixing_ratio=qbc).advect(air, M, U, V, 1.0)
    np.testing.assert_allclose(res["inflow_kg"], qbc * 0.3 * M.min() * nj * nl, rtol=1e-12)
    # the first column holds the inflow at the tags' mixing ratios
    share = air[:, :, :, 0] / air.sum(axis=0)[:, :, 0]
    np.testing.assert_allclose(share, np.broadcast_to((qbc / qbc.sum())[:, None, None], share.shape), rtol=1e-12)


@pytest.mark.parametrize("regional", [False, True])
@pytest.mark.parametrize("ntag", [1, 3])
def test_accumulating_some_faces_books_them_as_accumulating_all(regional, ntag):
    """Face accumulators of a few faces only (as for the borders of regions) hold, bit for bit, what the full
    accumulators hold at those faces, through every path that books faces (single tracer, rows, meridional lines,
    the plane-by-plane pass and the polar rows of a global grid, whole-cell donor regions at Courant numbers above
    one), and the state is unchanged."""
    rng = np.random.default_rng(11 + ntag + 2 * regional)
    grid = _grid(regional)
    M, U, V, dt = _winds(rng, grid, divergent=False, courant=1.6)
    air = _tags(rng, M, ntag)
    nt, nl, nj, ni = air.shape
    pick_u = rng.uniform(size=(nj, ni + 1)) < 0.3
    pick_v = rng.uniform(size=(nj + 1, ni)) < 0.3
    slot_u = np.full(pick_u.shape, -1, dtype=np.int64)
    slot_v = np.full(pick_v.shape, -1, dtype=np.int64)
    # slots in a scrambled order: a slot is a face's place in the accumulator, not its place on the grid
    slot_u[pick_u] = rng.permutation(int(pick_u.sum()))
    slot_v[pick_v] = rng.permutation(int(pick_v.sum()))
    full = (np.zeros((2, nt, nl, nj, ni + 1)), np.zeros((2, nt, nl, nj + 1, ni)))
    some = (np.zeros((2, nt, nl, int(pick_u.sum()))), np.zeros((2, nt, nl, int(pick_v.sum()))))
    a, b = air.copy(), air.copy()
    adv_a, adv_b = HorizontalAdvection("ppm", grid=grid), HorizontalAdvection("ppm", grid=grid)
    for _ in range(3):
        adv_a.advect(a, M, U, V, dt, face_mass_u_kg=full[0], face_mass_v_kg=full[1])
        adv_b.advect(b, M, U, V, dt, face_mass_u_kg=some[0], face_mass_v_kg=some[1], face_index_u=slot_u,
                     face_index_v=slot_v)
    np.testing.assert_array_equal(a, b)
    assert np.abs(full[0]).sum() > 0 and np.abs(full[1]).sum() > 0
    for acc, kept, slot in ((full[0], some[0], slot_u), (full[1], some[1], slot_v)):
        picked = slot >= 0
        expected = np.zeros_like(kept)
        expected[..., slot[picked]] = acc[..., picked]
        np.testing.assert_array_equal(kept, expected)


@pytest.mark.parametrize("scheme", ["ppm", "ppm_unlimited"])
@pytest.mark.parametrize("regional", [False, True])
@pytest.mark.parametrize("courant", [0.6, 2.4])
def test_accumulators_of_the_total_hold_the_sum_over_tags(scheme, regional, courant):
    """Face accumulators with one tag row (the total over tags) hold the sum over tags of per-tag accumulators to
    round-off, through every path that books faces (the totals' rows, great circles and bounded columns whose tags
    are split line by line or plane by plane, the polar rows, both sweep orders, whole-cell donor regions; and tags
    advected each on their own by the linear scheme), with all faces or a few, and the state is bit for bit the
    same."""
    rng = np.random.default_rng(5 + 2 * regional + int(courant))
    grid = _grid(regional)
    M, U, V, dt = _winds(rng, grid, divergent=False, courant=courant)
    air = _tags(rng, M, 4)
    nt, nl, nj, ni = air.shape
    pick_u = rng.uniform(size=(nj, ni + 1)) < 0.4
    pick_v = rng.uniform(size=(nj + 1, ni)) < 0.4
    slot_u = np.where(pick_u, np.cumsum(pick_u).reshape(pick_u.shape) - 1, -1)
    slot_v = np.where(pick_v, np.cumsum(pick_v).reshape(pick_v.shape) - 1, -1)
    for index in (None, (slot_u, slot_v)):
        shape_u = (nl, nj, ni + 1) if index is None else (nl, int(pick_u.sum()))
        shape_v = (nl, nj + 1, ni) if index is None else (nl, int(pick_v.sum()))
        per_tag = (np.zeros((2, nt) + shape_u), np.zeros((2, nt) + shape_v))
        total = (np.zeros((2, 1) + shape_u), np.zeros((2, 1) + shape_v))
        kw = {} if index is None else {"face_index_u": index[0], "face_index_v": index[1]}
        a, b = air.copy(), air.copy()
        adv_a, adv_b = HorizontalAdvection(scheme, grid=grid), HorizontalAdvection(scheme, grid=grid)
        for _ in range(3):  # (both sweep orders)
            adv_a.advect(a, M, U, V, dt, face_mass_u_kg=per_tag[0], face_mass_v_kg=per_tag[1], **kw)
            adv_b.advect(b, M, U, V, dt, face_mass_u_kg=total[0], face_mass_v_kg=total[1], **kw)
        np.testing.assert_array_equal(a, b)
        for acc, tot in zip(per_tag, total):
            assert np.abs(tot).sum() > 0
            np.testing.assert_allclose(tot[:, 0], acc.sum(axis=1), rtol=1e-12, atol=1e-13 * np.abs(acc).max())
    # one tag row in one accumulator and one per tag in the other
    with pytest.raises(ValueError, match=rf"face_mass_v_kg must be .* of shape \(2, 1, {nl}, {nj + 1}, {ni}\)"):
        adv_b.advect(b, M, U, V, dt, face_mass_u_kg=np.zeros((2, 1, nl, nj, ni + 1)),
                     face_mass_v_kg=np.zeros((2, nt, nl, nj + 1, ni)))


def test_face_index_errors():
    grid = _grid(True)
    M = grid.air_mass_kg()
    nl, nj, ni = M.shape
    U, V = np.zeros((nl, nj, ni + 1)), np.zeros((nl, nj + 1, ni))
    air = np.ones((1,) + M.shape)
    adv = HorizontalAdvection(grid=grid)
    fu, fv = np.zeros((2, 1, nl, 2)), np.zeros((2, 1, nl, 1))
    su = np.full((nj, ni + 1), -1)
    sv = np.full((nj + 1, ni), -1)
    su[0, :2] = [0, 1]
    sv[0, 0] = 0
    kw = dict(face_mass_u_kg=fu, face_mass_v_kg=fv)
    with pytest.raises(ValueError, match="give both face_index_u and face_index_v"):
        adv.advect(air, M, U, V, 10.0, face_index_u=su, **kw)
    with pytest.raises(ValueError, match=r"face_index_u has shape \(8, 10\); expected \(8, 11\)"):
        adv.advect(air, M, U, V, 10.0, face_index_u=su[:, :-1], face_index_v=sv, **kw)
    with pytest.raises(ValueError, match="face_index_v holds slots outside -1 .. 0"):
        adv.advect(air, M, U, V, 10.0, face_index_u=su, face_index_v=np.where(sv == 0, 1, sv), **kw)
    dup = su.copy()
    dup[1, 0] = 1
    with pytest.raises(ValueError, match="face_index_u gives two faces one slot"):
        adv.advect(air, M, U, V, 10.0, face_index_u=dup, face_index_v=sv, **kw)
    with pytest.raises(ValueError, match=r"face_mass_v_kg must be a C-contiguous float64 array of shape \(2, 1, 2, -1\)"):
        adv.advect(air, M, U, V, 10.0, face_mass_u_kg=fu, face_mass_v_kg=np.zeros((2, 2, nl, 1)), face_index_u=su,
                   face_index_v=sv)


def _sweep_open(ml, wl, r, width, b, order, q_lo, q_hi):
    """One single-tracer sweep of an open line in place (ghost cells copy the end cells); returns its scratch."""
    n = ml.size
    g = GHOST
    scr = np.zeros((N_SCRATCH, n + 2 * g + 1))
    q = ml / wl
    scr[QP, : n + 2 * g] = np.r_[[q[0]] * g, q, [q[-1]] * g]
    scr[WP, : n + 2 * g] = np.r_[[width[0]] * g, width, [width[-1]] * g]
    scr[R, : n + 1] = r
    assert sweep_line(n, ml, wl, b, False, q_lo, q_hi, order, scr) == -1
    return scr


@pytest.mark.parametrize("winds", ["random", "ramp", "drains"])
def test_the_kernel_equals_a_plain_loop_of_line_sweeps_on_a_bounded_grid_bit_for_bit(winds):
    """As above on a bounded grid with air from outside at every tag's own inflow mixing ratio: the kernel's rows and
    its meridional columns split plane by plane give exactly the line-by-line split, including the chemical mass
    through the open ends (inflow and outflow budgets and the end faces' accumulators). With ``"ramp"``, a northward
    and a southward jet whose face fluxes grow along their column (as in the global test) make columns whose faces
    pass whole cells, which the kernel splits line by line. With ``"drains"``, cells whose air all leaves but a
    rounding unit (as in the global test of the rounding clip; Van Leer's scheme, one sub-step of 1 s) give tag masses
    a few rounding units below zero in rows and columns, which both set to zero. Bit for bit."""
    rng = np.random.default_rng(8)
    grid = _grid(regional=True)
    ramp = 0.4 if winds == "ramp" else 0.0
    M, U, V, dt = _winds(rng, grid, divergent=False, courant=0.4 if ramp else 0.9)
    nl, nj, ni = M.shape
    _ramp_jets(V, M, ramp, 0.5 * dt, 3, 6)
    nsub, order = 2, 3
    if winds == "drains":
        nsub, order, dt = 1, 1, 1.0
        U, V = _drained_cells_winds(M, rng, periodic=False)
    air = _tags(rng, M, 8 if winds == "drains" else 4)
    nt = air.shape[0]
    dlon, dlat, beta = geometry(grid.lon_edges_deg, grid.lat_edges_deg)
    qw, qe = rng.uniform(0.0, 1.0, (2, nt, nl, nj))
    qs, qn = rng.uniform(0.0, 1.0, (2, nt, nl, ni))
    kern = make_horizontal_advection(AdvectionKernelOptions(order=order, periodic_x=False, cross_pole=False,
                                                            parallel=True))
    mk = air.copy()
    fu, fv = np.zeros((2, nt, nl, nj, ni + 1)), np.zeros((2, nt, nl, nj + 1, ni))
    boundary = np.zeros((nt, nl, 4))
    status = np.zeros((nl, 4), dtype=np.int64)
    kern(mk, M, U, V, np.zeros((nl, 2, 1)), dlon, dlat, beta, dt, nsub, True, qw, qe, qs, qn, True, fu, fv, boundary,
         status)
    assert not status.any()
    # the line-by-line reference: x then y, then y then x; rows and columns of every layer in turn
    m, w = air.copy(), M.copy()
    tot = m[0].copy()
    for t in range(1, nt):
        tot += m[t]  # (the order of the kernel's sum over tags)
    ref_fu, ref_fv = np.zeros_like(fu), np.zeros_like(fv)
    ends = np.zeros((nt, 2))  # inflow, outflow
    columns_whole = []
    clipped = {"x": 0, "y": 0}
    h = dt / nsub
    for s in range(nsub):
        for d in "xy" if s == 0 else "yx":
            for lyr in range(nl):
                nline = nj if d == "x" else ni
                for k in range(nline):
                    if d == "x":
                        idx, r, width, b = np.s_[k, :], h * U[lyr, k], dlon, np.zeros(ni)
                        q_lo, q_hi, acc = qw[:, lyr, k], qe[:, lyr, k], (ref_fu, np.s_[k, :])
                    else:
                        idx, r, width, b = np.s_[:, k], h * V[lyr, :, k], dlat, beta
                        q_lo, q_hi, acc = qs[:, lyr, k], qn[:, lyr, k], (ref_fv, np.s_[:, k])
                    ml, wl = tot[lyr][idx].copy(), w[lyr][idx].copy()
                    old = ml.copy()
                    scr = _sweep_open(ml, wl, r, width, b, order, q_lo.sum(), q_hi.sum())
                    n = ml.size
                    if d == "y":
                        columns_whole.append(int(scr[NWHOLE, : n + 1].max()))
                    tags = np.array([m[t, lyr][idx] for t in range(nt)])
                    ft = split_line(n, False, scr, tags, q_lo, q_hi)
                    new = tags - np.diff(ft, axis=1)
                    clip = _rounding_below_zero(new, old, ml, scr)
                    clipped[d] += int(clip.sum())
                    new[clip] = 0.0
                    for t in range(nt):
                        m[t, lyr][idx] = new[t]
                        acc[0][0, t, lyr][acc[1]] += np.maximum(ft[t], 0.0)
                        acc[0][1, t, lyr][acc[1]] -= np.minimum(ft[t], 0.0)
                    ends += np.stack([np.maximum(ft[:, 0], 0) - np.minimum(ft[:, n], 0),
                                      np.maximum(ft[:, n], 0) - np.minimum(ft[:, 0], 0)], axis=1)
                    tot[lyr][idx] = ml
                    w[lyr][idx] = wl
    np.testing.assert_array_equal(mk, m)
    np.testing.assert_array_equal(fu, ref_fu)
    np.testing.assert_array_equal(fv, ref_fv)
    np.testing.assert_allclose(boundary[:, :, :2].sum(axis=1), ends, rtol=1e-13)
    assert max(columns_whole) == 0 if not ramp else 0 < min(k for k in columns_whole if k > 0) < BAND <= max(columns_whole)
    assert min(clipped.values()) > 0 if winds == "drains" else True, clipped
    assert mk.min() >= 0.0


def test_the_tagged_kernel_compiles_its_line_functions_once():
    """Numba compiles a function anew for every new set of argument types, and a literal argument (``0``, ``True``)
    is a type of its own: one such call site costs 5-8 s of compilation on a machine's first run. Tagged calls of the
    kernel on a global and on a bounded grid, starting zonally and meridionally, with the serial and the parallel
    build, leave one double-precision specialisation of each function that runs the lines and planes of the tags."""
    from popstransport.kernels import advection as kernels

    rng = np.random.default_rng(11)
    for regional in (False, True):
        grid = _grid(regional)
        M, U, V, dt = _winds(rng, grid, divergent=False, courant=0.9)
        air = _tags(rng, M, 3)
        nt, nl, nj, ni = air.shape
        geom = geometry(grid.lon_edges_deg, grid.lat_edges_deg)
        zero_we, zero_sn = np.zeros((nt, nl, nj)), np.zeros((nt, nl, ni))
        fu, fv = np.zeros((2, nt, nl, nj, ni + 1)), np.zeros((2, nt, nl, nj + 1, ni))
        for parallel in (False, True):
            kern = make_horizontal_advection(AdvectionKernelOptions(order=3, periodic_x=not regional,
                                                                    cross_pole=not regional, parallel=parallel))
            for x_first in (True, False):
                status = np.zeros((nl, 4), dtype=np.int64)
                kern(air, M, U, V, np.zeros((nl, 2, max(ni // 2, 1))), *geom, dt, 1, x_first, zero_we, zero_we, zero_sn,
                     zero_sn, True, fu, fv, np.zeros((nt, nl, 4)), status)
                assert not status.any()
    # (the position of the state among each function's arguments; float32 states have their own specialisations)
    for name, arg in (("_sweep_lines", 6), ("_split_lines", 4), ("_tag_planes", 2), ("_meridional_plane", 0)):
        signatures = [s for s in getattr(kernels, name).signatures if str(s[arg].dtype) == "float64"]
        assert len(signatures) == 1, (name, signatures)
