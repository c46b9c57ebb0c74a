"""Slow NumPy reference of the advection kernel, and tests that the Numba kernel agrees with it to round-off.

The reference is written differently from the kernel on purpose: fluxes are differences of the cumulative
integral ``Phi(X)`` of the reconstructed mixing ratio over the cumulative air-mass coordinate ``X``, and the
departure points are found with ``searchsorted`` instead of walking over cells.
"""

from __future__ import annotations

import numpy as np
import pytest

from popstransport.kernels.advection import (
    N_SCRATCH,
    QP,
    R,
    WP,
    AdvectionKernelOptions,
    make_horizontal_advection,
    sweep_line,
)

G = 2


# ---------------------------------------------------------------------------------------------------------------
# reference
def ref_reconstruct(qp: np.ndarray, wp: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge values and parabola coefficient of the n inner cells of a padded line (Colella & Woodward 1984)."""
    n = qp.size - 2 * G
    q = qp[G:-G]
    if order == 0:
        return q.copy(), q.copy(), np.zeros(n)
    # slopes of padded cells 1 .. n+2 (eq. 1.7), monotonised (eq. 1.8) unless order 3
    dm, d0, dp = wp[:-2], wp[1:-1], wp[2:]
    dqr = qp[2:] - qp[1:-1]
    dql = qp[1:-1] - qp[:-2]
    s = d0 / (dm + d0 + dp) * ((2 * dm + d0) / (dp + d0) * dqr + (d0 + 2 * dp) / (dm + d0) * dql)
    if order != 3:
        lim = np.minimum(np.abs(s), np.minimum(2 * np.abs(dql), 2 * np.abs(dqr)))
        s = np.where(dqr * dql > 0, np.sign(s) * lim, 0.0)
    slope = np.concatenate([[0.0], s, [0.0]])  # indexed by padded cell
    if order == 1:
        sl = slope[G:-G]
        return q - 0.5 * sl, q + 0.5 * sl, np.zeros(n)
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
    if order == 3:
        l, r = edge[:-1].copy(), edge[1:].copy()
        return l, r, 6 * (q - 0.5 * (l + r))
    edge = np.clip(edge, np.minimum(a2, a3), np.maximum(a2, a3))
    l, r = edge[:-1].copy(), edge[1:].copy()
    ext = (r - q) * (q - l) <= 0
    l[ext] = q[ext]
    r[ext] = q[ext]
    d = r - l
    c6 = 6 * (q - 0.5 * (l + r))
    over_l = ~ext & (d * c6 > d * d)
    over_r = ~ext & ~over_l & (-d * d > d * c6)
    l = np.where(over_l, 3 * q - 2 * r, l)
    r = np.where(over_r, 3 * q - 2 * l, r)
    return l, r, 6 * (q - 0.5 * (l + r))


def _phi_factory(m, w, l, r, a6, periodic, q_lo, q_hi, low_order):
    """Cumulative chemical mass Phi(X) of the line, X the cumulative air mass from the line's low end."""
    n = m.size
    X = np.concatenate([[0.0], np.cumsum(w)])
    C = np.concatenate([[0.0], np.cumsum(m)])
    wt, mt = X[-1], C[-1]

    def integral(k, s):
        """Integral over the first fraction s of cell k, in kg."""
        if low_order:
            return m[k] * s
        da = r[k] - l[k]
        return w[k] * (l[k] * s + (da + a6[k]) * s * s / 2 - a6[k] * s**3 / 3)

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


def ref_sweep(m, w, r, periodic, q_lo, q_hi, order, qp, wp):
    """Reference 1-D sweep: returns (new m, new w, face chemical masses)."""
    n = m.size
    l, rr, a6 = ref_reconstruct(qp, wp, order)
    X, phi = _phi_factory(m, w, l, rr, a6, periodic, q_lo, q_hi, low_order=False)
    F = np.array([phi(X[f]) - phi(X[f] - r[f]) for f in range(n + 1)])
    if periodic:
        F[n] = F[0]
    wn = w - np.diff(r)
    if order == 3:
        _, phil = _phi_factory(m, w, l, rr, a6, periodic, q_lo, q_hi, low_order=True)
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
        F = FL + Cf * A
        if periodic:
            F[n] = F[0]
    return m - np.diff(F), wn, F


def pad(q: np.ndarray, w: np.ndarray, periodic: bool, lo=None, hi=None):
    """Padded copies with periodic, given (lo/hi: (q, w) pairs for ghost cells -1, -2 and n, n+1) or edge ghosts."""
    if periodic:
        return np.concatenate([q[-G:], q, q[:G]]), np.concatenate([w[-G:], w, w[:G]])
    if lo is None:
        return np.concatenate([[q[0]] * G, q, [q[-1]] * G]), np.concatenate([[w[0]] * G, w, [w[-1]] * G])
    (ql, wl), (qh, wh) = lo, hi
    return np.concatenate([ql[::-1], q, qh]), np.concatenate([wl[::-1], w, wh])


def ref_advect(m, M, U, V, dt, nsub, x_first, order, periodic, cross_pole, qbc=0.0, strang=False):
    """Reference 2-D advection of one (tag, layer) field m (J, I); returns (m, air mass, inflow, outflow)."""
    m = m.astype(float).copy()
    w = M.astype(float).copy()
    nj, ni = m.shape
    h = dt / nsub
    inflow = outflow = 0.0
    for s in range(nsub):
        xf = x_first if s % 2 == 0 else not x_first
        if strang:
            stages = [("x", 0.5), ("y", 1.0), ("x", 0.5)] if xf else [("y", 0.5), ("x", 1.0), ("y", 0.5)]
        else:
            stages = [("x", 1.0), ("y", 1.0)] if xf else [("y", 1.0), ("x", 1.0)]
        for d, frac in stages:
            hs = h * frac
            if d == "x":
                for j in range(nj):
                    qp, wp = pad(m[j] / w[j], w[j], periodic)
                    m[j], w[j], F = ref_sweep(m[j], w[j], hs * U[j], periodic, qbc, qbc, order, qp, wp)
                    if not periodic:
                        inflow += max(F[0], 0) - min(F[-1], 0)
                        outflow += max(F[-1], 0) - min(F[0], 0)
            else:
                q = m / w
                mm, ww = m.copy(), w.copy()
                for i in range(ni):
                    if cross_pole:
                        io = (i + ni // 2) % ni
                        lo = (q[:G, io], w[:G, io])
                        hi = (q[::-1][:G, io], w[::-1][:G, io])
                        qp, wp = pad(q[:, i], w[:, i], False, lo, hi)
                    else:
                        qp, wp = pad(q[:, i], w[:, i], False)
                    mm[:, i], ww[:, i], F = ref_sweep(m[:, i], w[:, i], hs * V[:, i], False, qbc, qbc, order, qp, wp)
                    inflow += max(F[0], 0) - min(F[-1], 0)
                    outflow += max(F[-1], 0) - min(F[0], 0)
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


def kernel_sweep(m, w, r, periodic, q_lo, q_hi, order, qp, wp):
    n = m.size
    scr = np.zeros((N_SCRATCH, n + 2 * G + 1))
    scr[QP, : n + 2 * G] = qp
    scr[WP, : n + 2 * G] = wp
    scr[R, : n + 1] = r
    mk, wk = m.copy(), w.copy()
    code = sweep_line(n, mk, wk, periodic, q_lo, q_hi, order, scr)
    return code, mk, wk, scr[3, : n + 1].copy()


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("courant", [0.4, 2.7])
def test_sweep_line_matches_reference(order, periodic, courant):
    rng = np.random.default_rng(100 * order + 10 * periodic + int(courant))
    for _ in range(5):
        n = int(rng.integers(8, 30))
        m, w, r = random_line(rng, n, courant, 0.3, periodic)
        qp, wp = pad(m / w, w, periodic)
        code, mk, wk, fk = kernel_sweep(m, w, r, periodic, 0.3, 0.7, order, qp, wp)
        assert code == -1
        mr, wr, fr = ref_sweep(m, w, r, periodic, 0.3, 0.7, order, qp, wp)
        scale = np.abs(m).sum()
        np.testing.assert_allclose(fk, fr, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(mk, mr, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(wk, wr, rtol=1e-14, atol=0)


def test_reference_reconstruction_is_exact_for_parabolas_on_uniform_cells():
    # unlimited PPM (order 3) reproduces the cell means of a quadratic exactly on uniform cells
    n = 12
    x = np.arange(-G, n + G, dtype=float)
    qbar = (x + 0.5) ** 2 + 1 / 12 + 0.3 * (x + 0.5)
    l, r, a6 = ref_reconstruct(qbar, np.ones(n + 2 * G), 3)
    np.testing.assert_allclose(l, x[G:-G] ** 2 + 0.3 * x[G:-G], atol=1e-12)
    np.testing.assert_allclose(r, (x[G:-G] + 1) ** 2 + 0.3 * (x[G:-G] + 1), atol=1e-12)


@pytest.mark.parametrize("order", [0, 3])
@pytest.mark.parametrize("topology", ["global", "regional"])
def test_kernel_matches_reference_2d(order, topology):
    rng = np.random.default_rng(7 + order)
    nj, ni = 6, 8
    periodic = topology == "global"
    M = rng.uniform(0.8, 1.2, (1, nj, ni))
    # non-divergent fluxes from a random stream function at the corners
    psi = rng.uniform(-0.25, 0.25, (nj + 1, ni + 1))
    if periodic:
        psi[:, -1] = psi[:, 0]
        psi[0, :] = psi[0, 0]
        psi[-1, :] = psi[-1, 0]
    U = -(psi[1:, :] - psi[:-1, :])[None]
    V = (psi[:, 1:] - psi[:, :-1])[None]
    if not periodic:
        U = U + rng.uniform(-0.05, 0.05, U.shape)  # open boundaries: add some divergence
    U = np.ascontiguousarray(U)
    V = np.ascontiguousarray(V)
    m = rng.uniform(0, 1, (2, 1, nj, ni)) * M[None]
    qbc = 0.25
    kern = make_horizontal_advection(AdvectionKernelOptions(order=order, periodic_x=periodic, cross_pole=periodic))
    mk = m.copy()
    bnd = np.zeros((2, 1, 2))
    status = np.zeros((2, 4), dtype=np.int64)
    face = np.zeros((2, 1, 1, 1, 1))
    we = np.full((2, 1, nj), qbc)
    sn = np.full((2, 1, ni), qbc)
    kern(mk, M, U, V, 1.0, 3, True, we, we, sn, sn, False, face, face, bnd, status)
    assert not status.any()
    for t in range(2):
        mr, _, inflow, outflow = ref_advect(m[t, 0], M[0], U[0], V[0], 1.0, 3, True, order, periodic, periodic, qbc)
        np.testing.assert_allclose(mk[t, 0], mr, rtol=0, atol=1e-13 * m[t].sum())
        np.testing.assert_allclose(bnd[t, 0], [inflow, outflow], rtol=0, atol=1e-13 * m[t].sum())
