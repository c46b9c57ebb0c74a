"""Slow NumPy reference of the advection kernel, and tests that the Numba kernel agrees with it to round-off.

The reference is written differently from the kernel on purpose: fluxes are differences of the cumulative
integral ``Phi(X)`` of the reconstructed mixing ratio over the cumulative air-mass coordinate ``X``, and the
departure points are found with ``searchsorted`` instead of walking over cells.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from popstransport.kernels.advection import (
    FLUX,
    N_SCRATCH,
    QP,
    WP,
    AdvectionKernelOptions,
    R,
    _partial,
    geometry,
    make_horizontal_advection,
    partial_left,
    partial_right,
    split_line,
    sweep_line,
)

G = 2


# ---------------------------------------------------------------------------------------------------------------
# reference
def ref_reconstruct(qp, wp, beta, order):
    """Edge values and parabola coefficient of the n inner cells of a padded line (Colella & Woodward 1984),
    with a6 such that the mean weighted by the density 1 + beta (x - 1/2) is the cell value."""
    n = qp.size - 2 * G
    q = qp[G:-G]
    beta = np.zeros(n) if beta is None else np.asarray(beta, dtype=float)
    if order == 0:
        return q.copy(), q.copy(), np.zeros(n)
    # slopes of padded cells 1 .. n+2 (eq. 1.7), monotonised (eq. 1.8) unless order 3
    dm, d0, dp = wp[:-2], wp[1:-1], wp[2:]
    dqr = qp[2:] - qp[1:-1]
    dql = qp[1:-1] - qp[:-2]
    s = d0 / (dm + d0 + dp) * ((2 * dm + d0) / (dp + d0) * dqr + (d0 + 2 * dp) / (dm + d0) * dql)
    if order < 3:
        k = np.full(s.size, 2.0)
        if order == 1:
            k[G - 1 : G - 1 + n] = 1.0 / (0.5 + np.abs(beta) / 12.0)
        lim = np.minimum(np.abs(s), np.minimum(k * np.abs(dql), k * np.abs(dqr)))
        s = np.where(dqr * dql > 0, np.sign(s) * lim, 0.0)
    slope = np.concatenate([[0.0], s, [0.0]])  # indexed by padded cell
    if order == 1:
        sl = slope[G:-G]
        left = q - (0.5 + beta / 12.0) * sl
        return left, left + sl, np.zeros(n)
    # edge values at faces 0..n (eq. 1.6): face f between padded cells j = f + G - 1 and j + 1
    j = np.arange(n + 1) + G - 1
    d1, d2, d3, d4 = wp[j - 1], wp[j], wp[j + 1], wp[j + 2]
    a2, a3 = qp[j], qp[j + 1]
    edge = (
        a2
        + d2 / (d2 + d3) * (a3 - a2)
        + (
            2 * d3 * d2 / (d2 + d3) * ((d1 + d2) / (2 * d2 + d3) - (d4 + d3) / (2 * d3 + d2)) * (a3 - a2)
            - d2 * (d1 + d2) / (2 * d2 + d3) * slope[j + 1]
            + d3 * (d3 + d4) / (d2 + 2 * d3) * slope[j]
        )
        / (d1 + d2 + d3 + d4)
    )
    if order >= 3:
        l, r = edge[:-1].copy(), edge[1:].copy()
        return l, r, 6 * (q - 0.5 * (l + r)) - 0.5 * beta * (r - l)
    edge = np.clip(edge, np.minimum(a2, a3), np.maximum(a2, a3))
    l, r = edge[:-1].copy(), edge[1:].copy()
    ext = (r - q) * (q - l) <= 0
    l[ext] = q[ext]
    r[ext] = q[ext]
    d = r - l
    c6 = 6 * (q - 0.5 * (l + r)) - 0.5 * beta * d
    over_l = ~ext & (d * c6 > d * d)
    over_r = ~ext & ~over_l & (-d * d > d * c6)
    # the edge that makes the weighted parabola flat at its other end: solve a6(l) = d(l) or a6(r) = -d(r)
    l = np.where(over_l, (6 * q - r * (4 + beta / 2)) / (2 - beta / 2), l)
    r = np.where(over_r, (6 * q - l * (4 - beta / 2)) / (2 + beta / 2), r)
    return l, r, 6 * (q - 0.5 * (l + r)) - 0.5 * beta * (r - l)


def _phi_factory(m, w, l, r, a6, beta, periodic, q_lo, q_hi, low_order):
    """Cumulative chemical mass Phi(X) of the line, X the cumulative air mass from the line's low end."""
    n = m.size
    X = np.concatenate([[0.0], np.cumsum(w)])
    C = np.concatenate([[0.0], np.cumsum(m)])
    wt, mt = X[-1], C[-1]
    P = np.polynomial.Polynomial

    def integral(k, s):
        """Chemical mass in the first air-mass fraction s of cell k (kg)."""
        if low_order:
            return m[k] * s
        rho = P([1 - beta[k] / 2, beta[k]])
        cum = rho.integ()
        if s <= 0:
            return 0.0
        x = brentq(lambda x: cum(x) - s, 0.0, 1.0, xtol=1e-15, rtol=1e-15) if s < 1 else 1.0
        qx = P([l[k], r[k] - l[k] + a6[k], -a6[k]])
        return w[k] * (qx * rho).integ()(x)

    def phi(x):
        shift = 0.0
        if periodic:
            cyc = np.floor(x / wt)
            x = x - cyc * wt
            shift = cyc * mt
        elif x < 0:
            return q_lo * x
        elif x > wt:
            return mt + q_hi * (x - wt)
        k = min(max(int(np.searchsorted(X, x, side="right")) - 1, 0), n - 1)
        return shift + C[k] + integral(k, (x - X[k]) / w[k])

    return X, phi


def ref_donor_regions(m, w, r, periodic):
    """Partial donor cell of every face (None: air from outside an open line) and the chemical mass of the whole
    cells between the face and that cell (signed like the flux), from cumulative sums and ``searchsorted``."""
    n = m.size
    X = np.concatenate([[0.0], np.cumsum(w)])
    C = np.concatenate([[0.0], np.cumsum(m)])
    wt, mt = X[-1], C[-1]
    donors, whole = [], np.zeros(n + 1)
    for f in range(n + 1):
        if r[f] == 0:
            donors.append(None)
            continue
        dep = X[f] - r[f]
        cyc = np.floor(dep / wt) if periodic else 0.0
        d = dep - cyc * wt
        k = int(np.searchsorted(X, d, side="right" if r[f] > 0 else "left")) - 1
        if periodic and k < 0:
            k, cyc = n - 1, cyc - 1
        if not periodic and not 0 <= k < n:
            donors.append(None)
            whole[f] = C[f] if r[f] > 0 else -(mt - C[f])
            continue
        donors.append(k)
        if r[f] > 0:
            whole[f] = C[f] - (C[k + 1] + cyc * mt)
        else:
            whole[f] = -(C[k] + cyc * mt - C[f])
    return donors, whole


def ref_split(m_tags, w, r, periodic, qlo_t, qhi_t, F):
    """Reference tag fluxes ``(T, n + 1)``: the total flux ``F`` split by the tags' masses in the whole donor cells
    and their shares of the partial donor cell (of the inflow mixing ratio for air from outside)."""
    m = m_tags.sum(axis=0)
    donors, whole = ref_donor_regions(m, w, r, periodic)
    q_lo, q_hi = np.sum(qlo_t), np.sum(qhi_t)
    out = np.zeros((m_tags.shape[0], r.size))
    for t, mt in enumerate(m_tags):
        _, whole_t = ref_donor_regions(mt, w, r, periodic)
        for f in range(r.size):
            k = donors[f]
            if r[f] == 0:
                continue
            d = m[k] if k is not None else (q_lo if r[f] > 0 else q_hi)
            part = mt[k] if k is not None else (qlo_t[t] if r[f] > 0 else qhi_t[t])
            out[t, f] = whole_t[f] + ((F[f] - whole[f]) / d * part if d > 0 else 0.0)
    return out


def ref_sweep(m, w, r, periodic, q_lo, q_hi, order, qp, wp, beta=None):
    """Reference 1-D sweep: returns (new m, new w, face chemical masses)."""
    n = m.size
    beta = np.zeros(n) if beta is None else beta
    l, rr, a6 = ref_reconstruct(qp, wp, beta, order)
    X, phi = _phi_factory(m, w, l, rr, a6, beta, periodic, q_lo, q_hi, low_order=False)
    F = np.array([phi(X[f]) - phi(X[f] - r[f]) for f in range(n + 1)])
    if periodic:
        F[n] = F[0]
    wn = w - np.diff(r)
    if order == 3:
        _, phil = _phi_factory(m, w, l, rr, a6, beta, periodic, q_lo, q_hi, low_order=True)
        FL = np.array([phil(X[f]) - phil(X[f] - r[f]) for f in range(n + 1)])
        if periodic:
            FL[n] = FL[0]
        A = F - FL
        qtd = (m - np.diff(FL)) / wn
        q = m / w
        # partial donor cell of every face (None when the departure point is outside a non-periodic line)
        donors = []
        for f in range(n + 1):
            dep = X[f] - r[f]
            if periodic:
                dep = dep % X[-1]
            if r[f] == 0:
                k = f - 1 if (f > 0 or periodic) else None
                if periodic and k is not None:
                    k %= n
            elif r[f] > 0:
                k = int(np.searchsorted(X, dep, side="right")) - 1
            else:
                k = int(np.searchsorted(X, dep, side="left")) - 1
            if k is not None and not periodic and not 0 <= k < n:
                k = None
            donors.append(k)
        hi = np.empty(n)
        lo = np.empty(n)
        for i in range(n):
            cand = [q[i], qtd[i]]
            for nb in (i - 1, i + 1):
                if periodic:
                    cand.append(qtd[nb % n])
                elif 0 <= nb < n:
                    cand.append(qtd[nb])
            for f in (i, i + 1):
                k = donors[f]
                if k is not None:
                    cand.append(q[k])
                elif r[f] != 0:
                    cand.append(q_lo if r[f] > 0 else q_hi)
            hi[i], lo[i] = max(cand), min(cand)
        ain = np.maximum(A[:-1], 0) - np.minimum(A[1:], 0)
        aout = np.maximum(A[1:], 0) - np.minimum(A[:-1], 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rp = np.where(ain > 0, np.minimum(1, (hi - qtd) * wn / ain), 1.0)
            rm = np.where(aout > 0, np.minimum(1, (qtd - lo) * wn / aout), 1.0)
        rp = np.maximum(rp, 0)
        rm = np.maximum(rm, 0)
        Cf = np.ones(n + 1)
        for f in range(n + 1):
            up, dn = (f - 1, f) if A[f] >= 0 else (f, f - 1)
            if periodic:
                up, dn = up % n, dn % n
            if 0 <= dn < n:
                Cf[f] = min(Cf[f], rp[dn])
            if 0 <= up < n:
                Cf[f] = min(Cf[f], rm[up])
            if not periodic and f in (0, n):
                Cf[f] = 0.0
            if r[f] * (FL[f] + Cf[f] * A[f]) < 0:
                Cf[f] = -FL[f] / A[f]
        # a face takes between none and all of its partial donor cell's chemical
        pdonor, whole = ref_donor_regions(m, w, r, periodic)
        for f in range(n + 1):
            k = pdonor[f]
            if k is not None and A[f] != 0:
                sg = 1.0 if r[f] > 0 else -1.0
                pl, sa = sg * (FL[f] - whole[f]), sg * A[f]
                Cf[f] = min(Cf[f], max(m[k] - pl, 0.0) / sa if sa > 0 else max(pl, 0.0) / -sa)
        F = FL + Cf * A
        if periodic:
            F[n] = F[0]
    mn = m - np.diff(F)
    if order < 4:
        mn[(mn < 0) & (mn > -1e-13 * np.abs(m).max())] = 0.0
    return mn, wn, F


def pad(q, w, periodic, lo=None, hi=None):
    """Padded copies with periodic ghosts, given ghosts (lo/hi: (q, w) for cells -1, -2 and n, n+1), or copies of
    the edge cells."""
    if periodic:
        return np.concatenate([q[-G:], q, q[:G]]), np.concatenate([w[-G:], w, w[:G]])
    if lo is None:
        return np.concatenate([[q[0]] * G, q, [q[-1]] * G]), np.concatenate([[w[0]] * G, w, [w[-1]] * G])
    (ql, wl), (qh, wh) = lo, hi
    return np.concatenate([ql[::-1], q, qh]), np.concatenate([wl[::-1], w, wh])


def ref_line(m_tags, w, r, periodic, qlo_t, qhi_t, order, dx, beta):
    """One reference sweep of all tags of a line: the total's sweep split among the tags (order 4: every tag on
    its own); returns (new tag masses, new w, tag face fluxes)."""
    if order == 4:
        res = [ref_sweep(mt, w, r, periodic, a, b, order, *pad(mt / w, dx, periodic), beta)
               for mt, a, b in zip(m_tags, qlo_t, qhi_t)]
        return np.array([x[0] for x in res]), res[0][1], np.array([x[2] for x in res])
    m = m_tags.sum(axis=0)
    mn, wn, F = ref_sweep(m, w, r, periodic, np.sum(qlo_t), np.sum(qhi_t), order, *pad(m / w, dx, periodic), beta)
    if m_tags.shape[0] == 1:
        return mn[None], wn, F[None]
    Ft = ref_split(m_tags, w, r, periodic, qlo_t, qhi_t, F)
    if periodic:
        Ft[:, -1] = Ft[:, 0]
    return m_tags - np.diff(Ft, axis=1), wn, Ft


def ref_advect(m, M, U, V, dt, nsub, x_first, order, periodic, cross_pole, qbc, strang=False, geom=None):
    """Reference 2-D advection of the tags ``m (T, J, I)`` of one layer with inflow mixing ratios ``qbc (T,)``;
    returns (m, air mass, inflow (T,), outflow (T,))."""
    m = m.astype(float).copy()
    w = M.astype(float).copy()
    nt, nj, ni = m.shape
    qbc = np.asarray(qbc, dtype=float)
    dlon, dlat, beta_y = geom if geom is not None else (np.ones(ni), np.ones(nj), np.zeros(nj))
    h = dt / nsub
    inflow = np.zeros(nt)
    outflow = np.zeros(nt)
    for s in range(nsub):
        xf = x_first if s % 2 == 0 else not x_first
        if strang:
            stages = [("y", 0.5), ("x", 1.0), ("y", 0.5)]
        else:
            stages = [("x", 1.0), ("y", 1.0)] if xf else [("y", 1.0), ("x", 1.0)]
        for d, frac in stages:
            hs = h * frac
            if d == "x":
                for j in range(nj):
                    if cross_pole and j in (0, nj - 1):
                        continue  # the polar rows turn inside the meridional sweeps
                    m[:, j], w[j], F = ref_line(m[:, j], w[j], hs * U[j], periodic, qbc, qbc, order, dlon,
                                                np.zeros(ni))
                    if not periodic:
                        inflow += np.maximum(F[:, 0], 0) - np.minimum(F[:, -1], 0)
                        outflow += np.maximum(F[:, -1], 0) - np.minimum(F[:, 0], 0)
            elif cross_pole:
                # the polar rows turn half, then great circles through both poles (column i up, column i + I/2
                # down, periodic), then the polar rows turn the other half
                for j in (0, nj - 1):
                    m[:, j], w[j], _ = ref_line(m[:, j], w[j], 0.5 * hs * U[j], True, qbc, qbc, order, dlon,
                                                np.zeros(ni))
                half = ni // 2
                mm, ww = m.copy(), w.copy()
                for i in range(half):
                    io = i + half
                    ml = np.concatenate([m[:, :, i], m[:, ::-1, io]], axis=1)
                    wl = np.concatenate([w[:, i], w[::-1, io]])
                    dl = np.concatenate([dlat, dlat[::-1]])
                    bl = np.concatenate([beta_y, -beta_y[::-1]])
                    r = np.concatenate([[0.0], hs * V[1:nj, i], [0.0], -hs * V[1:nj, io][::-1], [0.0]])
                    ml, wl, F = ref_line(ml, wl, r, True, 0 * qbc, 0 * qbc, order, dl, bl)
                    mm[:, :, i], ww[:, i] = ml[:, :nj], wl[:nj]
                    mm[:, :, io], ww[:, io] = ml[:, nj:][:, ::-1], wl[nj:][::-1]
                m, w = mm, ww
                for j in (0, nj - 1):
                    m[:, j], w[j], _ = ref_line(m[:, j], w[j], 0.5 * hs * U[j], True, qbc, qbc, order, dlon,
                                                np.zeros(ni))
            else:
                mm, ww = m.copy(), w.copy()
                for i in range(ni):
                    mm[:, :, i], ww[:, i], F = ref_line(m[:, :, i], w[:, i], hs * V[:, i], False, qbc, qbc, order,
                                                        dlat, beta_y)
                    inflow += np.maximum(F[:, 0], 0) - np.minimum(F[:, -1], 0)
                    outflow += np.maximum(F[:, -1], 0) - np.minimum(F[:, 0], 0)
                m, w = mm, ww
    return m, w, inflow, outflow


# ---------------------------------------------------------------------------------------------------------------
# helpers shared with other test modules
def random_line(rng, n, courant, divergence, periodic):
    """Random positive line data: m, w, r with the given typical Courant number and divergence ratio."""
    w = rng.uniform(0.5, 1.5, n)
    q = rng.uniform(0.0, 1.0, n) ** 2
    base = courant * rng.uniform(-1, 1) * np.ones(n + 1)
    r = base + divergence * rng.uniform(-0.5, 0.5, n + 1) * 0.5
    if periodic:
        r[n] = r[0]
    return q * w, w, r


def kernel_sweep(m, w, r, periodic, q_lo, q_hi, order, qp, wp, beta=None, scr=None):
    """The kernel's sweep of one line; pass ``scr`` to keep the scratch (donor regions for the tag split)."""
    n = m.size
    scr = np.zeros((N_SCRATCH, n + 2 * G + 1)) if scr is None else scr
    scr[QP, : n + 2 * G] = qp
    scr[WP, : n + 2 * G] = wp
    scr[R, : n + 1] = r
    mk, wk = m.copy(), w.copy()
    beta = np.zeros(n) if beta is None else beta
    code = sweep_line(n, mk, wk, beta, periodic, q_lo, q_hi, order, scr)
    return code, mk, wk, scr[FLUX, : n + 1].copy()


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("courant", [0.4, 2.7])
def test_sweep_line_matches_reference(order, periodic, courant):
    rng = np.random.default_rng(100 * order + 10 * periodic + int(courant))
    for trial in range(4):
        n = int(rng.integers(8, 30))
        m, w, r = random_line(rng, n, courant, 0.3, periodic)
        dx = rng.uniform(0.5, 1.5, n)
        beta = np.zeros(n) if (periodic or trial == 0) else rng.uniform(-2, 2, n)
        qp, wp = pad(m / w, dx, periodic)
        code, mk, wk, fk = kernel_sweep(m, w, r, periodic, 0.3, 0.7, order, qp, wp, beta)
        assert code == -1
        mr, wr, fr = ref_sweep(m, w, r, periodic, 0.3, 0.7, order, qp, wp, beta)
        scale = np.abs(m).sum()
        np.testing.assert_allclose(fk, fr, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(mk, mr, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(wk, wr, rtol=1e-14, atol=0)


def test_reference_reconstruction_is_exact_for_parabolas_on_uniform_cells():
    # unlimited PPM (order 3) reproduces the cell means of a quadratic exactly on uniform cells
    n = 12
    x = np.arange(-G, n + G, dtype=float)
    qbar = (x + 0.5) ** 2 + 1 / 12 + 0.3 * (x + 0.5)
    l, r, a6 = ref_reconstruct(qbar, np.ones(n + 2 * G), None, 3)
    np.testing.assert_allclose(l, x[G:-G] ** 2 + 0.3 * x[G:-G], atol=1e-12)
    np.testing.assert_allclose(r, (x[G:-G] + 1) ** 2 + 0.3 * (x[G:-G] + 1), atol=1e-12)


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_limited_reconstructions_stay_within_neighbours(order):
    rng = np.random.default_rng(order)
    for _ in range(50):
        n = 10
        qp = rng.uniform(0, 1, n + 2 * G) ** 3
        beta = rng.uniform(-2, 2, n)
        l, r, a6 = ref_reconstruct(qp, rng.uniform(0.5, 1.5, n + 2 * G), beta, order)
        x = np.linspace(0, 1, 41)[:, None]
        vals = l + x * (r - l + a6 * (1 - x))
        lo = np.minimum(np.minimum(qp[G - 1 : -G - 1], qp[G:-G]), qp[G + 1 : n + G + 1])
        hi = np.maximum(np.maximum(qp[G - 1 : -G - 1], qp[G:-G]), qp[G + 1 : n + G + 1])
        if order == 3:
            continue  # unlimited: FCT bounds the result instead
        assert np.all(vals >= lo - 1e-12) and np.all(vals <= hi + 1e-12)
        # the density-weighted mean of the parabola is the cell value
        xs = (np.arange(2000) + 0.5) / 2000
        rho = 1 + beta[None, :] * (xs[:, None] - 0.5)
        qx = l + xs[:, None] * (r - l + a6 * (1 - xs[:, None]))
        np.testing.assert_allclose((qx * rho).mean(axis=0), qp[G:-G], atol=1e-6)


@pytest.mark.parametrize("order", [0, 3, 4])
@pytest.mark.parametrize("topology", ["global", "regional", "band"])
@pytest.mark.parametrize("splitting", ["alternating", "strang"])
def test_kernel_matches_reference_2d(order, topology, splitting):
    """Kernel against the reference on a global grid, a bounded regional one and a zonal band (periodic in
    longitude, open south and north edges: ``periodic_x=True, cross_pole=False``)."""
    rng = np.random.default_rng(7 + order)
    nj, ni = 6, 8
    periodic = topology in ("global", "band")
    cross_pole = topology == "global"
    M = rng.uniform(0.8, 1.2, (1, nj, ni))
    # non-divergent fluxes from a random stream function at the corners
    psi = rng.uniform(-0.25, 0.25, (nj + 1, ni + 1))
    if periodic:
        psi[:, -1] = psi[:, 0]
    if cross_pole:
        psi[0, :] = psi[0, 0]
        psi[-1, :] = psi[-1, 0]
    U = -(psi[1:, :] - psi[:-1, :])[None]
    V = (psi[:, 1:] - psi[:, :-1])[None]
    if not periodic:
        U = U + rng.uniform(-0.05, 0.05, U.shape)  # open boundaries: add some divergence
    elif not cross_pole:
        V = V + rng.uniform(-0.05, 0.05, V.shape)  # open south and north edges of a band: some divergence
    U = np.ascontiguousarray(U)
    V = np.ascontiguousarray(V)
    nt = 3
    m = rng.uniform(0, 1, (nt, 1, nj, ni)) ** 2 * M[None]
    m[1, 0, :, : ni // 2] = 0.0  # a tag absent from part of the domain
    if cross_pole:
        geom = geometry(np.linspace(0, 360, ni + 1), np.linspace(-90, 90, nj + 1))
    elif periodic:
        geom = geometry(np.linspace(0, 360, ni + 1), np.linspace(20, 80, nj + 1))
    else:
        geom = (rng.uniform(0.5, 1.5, ni), rng.uniform(0.5, 1.5, nj), rng.uniform(-0.5, 0.5, nj))
    qbc = np.array([0.25, 0.0, 0.6])  # inflow mixing ratio per tag
    kern = make_horizontal_advection(
        AdvectionKernelOptions(order=order, periodic_x=periodic, cross_pole=cross_pole, splitting=splitting)
    )
    mk = m.copy()
    bnd = np.zeros((nt, 1, 4))
    status = np.zeros((1, 4), dtype=np.int64)
    fu = np.zeros((2, nt, 1, nj, ni + 1))
    fv = np.zeros((2, nt, 1, nj + 1, ni))
    we = np.ascontiguousarray(np.broadcast_to(qbc[:, None, None], (nt, 1, nj)))
    sn = np.ascontiguousarray(np.broadcast_to(qbc[:, None, None], (nt, 1, ni)))
    P = np.zeros((1, 2, ni // 2))
    kern(mk, M, U, V, P, *geom, 1.0, 3, True, we, we, sn, sn, True, fu, fv, bnd, status)
    assert not status.any()
    mr, _, inflow, outflow = ref_advect(
        m[:, 0], M[0], U[0], V[0], 1.0, 3, True, order, periodic, cross_pole, qbc, splitting == "strang", geom
    )
    scale = m.sum()
    np.testing.assert_allclose(mk[:, 0], mr, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(bnd[:, 0, 0], inflow, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(bnd[:, 0, 1], outflow, rtol=0, atol=1e-13 * scale)
    # the face accumulators explain every change of every tag
    net_u, net_v = fu[0] - fu[1], fv[0] - fv[1]
    change = -(net_u[..., 1:] - net_u[..., :-1]) - (net_v[..., 1:, :] - net_v[..., :-1, :])
    np.testing.assert_allclose(mk - m, change, rtol=0, atol=1e-13 * scale)
    # a single tag of the total gives the total, bit for bit
    one = np.ascontiguousarray(m.sum(axis=0, keepdims=True))
    kern(one, M, U, V, P, *geom, 1.0, 3, True, we.sum(0, keepdims=True), we.sum(0, keepdims=True),
         sn.sum(0, keepdims=True), sn.sum(0, keepdims=True), False, np.zeros((2, 1, 1, 1, 1)),
         np.zeros((2, 1, 1, 1, 1)), np.zeros((1, 1, 4)), status)
    np.testing.assert_allclose(mk.sum(axis=0), one[0], rtol=0, atol=1e-14 * scale)


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("courant", [0.6, 3.3, 7.5])
def test_split_fluxes_match_reference(order, periodic, courant):
    """The tag split against the reference's donor regions: faces past no whole cell, past up to three (the banded
    stencil) and past more (the running sum)."""
    rng = np.random.default_rng(1000 + 100 * order + 10 * periodic + int(courant))
    for _ in range(4):
        n = int(rng.integers(8, 24))
        nt = int(rng.integers(2, 5))
        _, w, r = random_line(rng, n, courant, 0.3, periodic)
        mt = rng.uniform(0.0, 1.0, (nt, n)) ** 3 * w
        mt[0, : n // 3] = 0.0
        qlo_t, qhi_t = rng.uniform(0, 1, nt), rng.uniform(0, 1, nt)
        m = mt.sum(axis=0)
        dx = rng.uniform(0.5, 1.5, n)
        scr = np.zeros((N_SCRATCH, n + 2 * G + 1))
        code, mk, wk, fk = kernel_sweep(m, w, r, periodic, qlo_t.sum(), qhi_t.sum(), order, *pad(m / w, dx, periodic),
                                        scr=scr)
        assert code == -1
        ref = ref_split(mt, w, r, periodic, qlo_t, qhi_t, fk)
        for t, ft in enumerate(split_line(n, periodic, scr, mt, qlo_t, qhi_t)):
            np.testing.assert_allclose(ft, ref[t], rtol=0, atol=1e-13 * m.sum())
            # every tag flux has the direction of the air flux and stays within the donor region's tag mass
            assert np.all(ft * np.sign(r) >= -1e-15 * m.sum())
        np.testing.assert_allclose(ref.sum(axis=0), fk, rtol=0, atol=1e-13 * m.sum())


def _partial_parts_by_quadrature(l, r, c6, beta, c):
    """Chemical in the right- and left-hand parts of a cell holding the air fraction ``c`` (mixing ratio
    ``q(x) = l + x (r - l + c6 (1 - x))``, air density ``1 + beta (x - 1/2)``) by root finding and quadrature."""

    def q(x):
        return l + x * (r - l + c6 * (1 - x))

    def rho(x):
        return 1 + beta * (x - 0.5)

    a_r = 0.0 if c == 0 else brentq(lambda a: quad(rho, 1 - a, 1)[0] - c, 0, 1, xtol=1e-15)
    a_l = 0.0 if c == 0 else brentq(lambda a: quad(rho, 0, a)[0] - c, 0, 1, xtol=1e-15)
    right = quad(lambda x: q(x) * rho(x), 1 - a_r, 1, epsabs=1e-14)[0]
    left = quad(lambda x: q(x) * rho(x), 0, a_l, epsabs=1e-14)[0]
    return right, left


def test_partial_cell_integrals_match_quadrature_and_the_branch_free_form_matches_both_sides():
    # the part of a cell holding the air fraction c and the integral of q rho over it, by quadrature; the vectorised
    # sweep uses _partial for both sides (the left part as the right part of the reflected cell)
    rng = np.random.default_rng(11)
    cases = [(0.3, 1.7, -0.4, b, c) for b in (-2.0, -0.7, 0.0, 0.7, 2.0) for c in (0.0, 0.25, 1.0)]
    cases += [tuple(rng.uniform(-1, 1, 3)) + (rng.uniform(-2, 2), rng.uniform(0, 1)) for _ in range(20)]
    for l, r, c6, beta, c in cases:
        right, left = _partial_parts_by_quadrature(l, r, c6, beta, c)
        assert partial_right(l, r, c6, beta, c) == pytest.approx(right, abs=1e-11)
        assert partial_left(l, r, c6, beta, c) == pytest.approx(left, abs=1e-11)
        assert _partial(l, r, c6, beta, c) == pytest.approx(right, abs=1e-11)
        assert _partial(r, l, c6, -beta, c) == pytest.approx(left, abs=1e-11)
