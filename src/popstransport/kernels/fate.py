"""Exact per-cell solve of the linear compartment system dX/dt = K X + E for all tags at once.

For constant K and E over a step of length h, with the propagators

    Phi   = exp(K h),
    Psi   = integral_0^h exp(K s) ds,
    Gamma = integral_0^h integral_0^s exp(K r) dr ds,

the state after the step and its time integral over the step are exactly

    X(h)              = Phi X0 + Psi E,
    integral_0^h X dt = Psi X0 + Gamma E.

The propagators come from one matrix exponential of an augmented block matrix (Van Loan 1978, IEEE Trans. Autom.
Control 23:395, Theorem 1); they are computed in :mod:`popstransport.processes.fate`. Here they are applied.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def _apply_propagators(
    air: np.ndarray,
    surface: np.ndarray,
    e_air: np.ndarray,
    e_surface: np.ndarray,
    phi: np.ndarray,
    psi: np.ndarray,
    gamma: np.ndarray,
    int_air: np.ndarray,
    int_surface: np.ndarray,
) -> None:
    """Advance the compartment masses in place and add their time integrals over the step to accumulators.

    The compartment vector of a cell is the air layers followed by the surface compartments.

    Parameters
    ----------
    air : (T, L, J, I) chemical mass in every air layer (kg); overwritten with the state after the step.
    surface : (T, S, J, I) chemical mass in every surface compartment (kg); overwritten likewise.
    e_air, e_surface : emission rates (kg s-1) shaped like ``air`` and ``surface``, constant over the step.
    phi, psi, gamma : (J, I, L + S, L + S) propagators of every cell (see module docstring).
    int_air, int_surface : accumulators shaped like ``air`` and ``surface``: the time integrals over the step
        (kg s) are added to them.
    """
    ntag, nlayer, nlat, nlon = air.shape
    nsurf = surface.shape[1]
    ncomp = nlayer + nsurf
    for j in prange(nlat):
        x0 = np.empty(ncomp)
        e0 = np.empty(ncomp)
        for t in range(ntag):
            for i in range(nlon):
                for c in range(nlayer):
                    x0[c] = air[t, c, j, i]
                    e0[c] = e_air[t, c, j, i]
                for c in range(nsurf):
                    x0[nlayer + c] = surface[t, c, j, i]
                    e0[nlayer + c] = e_surface[t, c, j, i]
                for r in range(ncomp):
                    acc_x = 0.0
                    acc_int = 0.0
                    for c in range(ncomp):
                        acc_x += phi[j, i, r, c] * x0[c] + psi[j, i, r, c] * e0[c]
                        acc_int += psi[j, i, r, c] * x0[c] + gamma[j, i, r, c] * e0[c]
                    if r < nlayer:
                        air[t, r, j, i] = acc_x
                        int_air[t, r, j, i] += acc_int
                    else:
                        surface[t, r - nlayer, j, i] = acc_x
                        int_surface[t, r - nlayer, j, i] += acc_int


@njit(cache=True)
def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    n = a.shape[0]
    for r in range(n):
        for c in range(n):
            acc = 0.0
            for k in range(n):
                acc += a[r, k] * b[k, c]
            out[r, c] = acc


@njit(parallel=True, cache=True)
def compute_propagators(k_matrix: np.ndarray, h: float, phi: np.ndarray, psi: np.ndarray, gamma: np.ndarray) -> None:
    """Phi, Psi, Gamma of every cell's K over a step ``h`` by Taylor series and doubling.

    With ``s`` halvings, ``h0 = h / 2^s`` is small enough that ``||K h0||_1 <= 1/2``; then

        Phi(h0)   = sum_k (K h0)^k / k!,
        Psi(h0)   = h0   sum_k (K h0)^k / (k + 1)!,
        Gamma(h0) = h0^2 sum_k (K h0)^k / (k + 2)!,

    (truncated at 18 terms, error below 1e-20 relative) and the doubling identities, exact consequences of
    Phi(a + b) = Phi(a) Phi(b) and Psi(a + b) = Psi(a) + Phi(a) Psi(b),

        Phi(2t)   = Phi(t)^2,
        Psi(2t)   = Psi(t) + Phi(t) Psi(t),
        Gamma(2t) = Gamma(t) + t Psi(t) + Phi(t) Gamma(t),

    bring them back to ``h`` (the scaling-and-squaring idea of Moler & Van Loan 2003, SIAM Rev. 45:3, applied to
    the phi-functions). For a Metzler K (non-negative off-diagonal rates) every term stays non-negative, so the
    propagators are non-negative: the scheme preserves positivity for any step.

    Parameters
    ----------
    k_matrix : (J, I, n, n) rate matrices (s-1).
    h : step (s).
    phi, psi, gamma : (J, I, n, n) outputs.
    """
    nlat, nlon, n, _ = k_matrix.shape
    for j in prange(nlat):
        a = np.empty((n, n))
        term = np.empty((n, n))
        tmp = np.empty((n, n))
        p = np.empty((n, n))
        q = np.empty((n, n))
        g = np.empty((n, n))
        p2 = np.empty((n, n))
        q2 = np.empty((n, n))
        g2 = np.empty((n, n))
        for i in range(nlon):
            norm = 0.0
            for c in range(n):
                col = 0.0
                for r in range(n):
                    col += abs(k_matrix[j, i, r, c])
                norm = max(norm, col)
            norm *= h
            s = 0
            while norm > 0.5:
                norm *= 0.5
                s += 1
            h0 = h / (2.0**s)
            for r in range(n):
                for c in range(n):
                    a[r, c] = k_matrix[j, i, r, c] * h0
                    term[r, c] = 1.0 if r == c else 0.0
                    p[r, c] = term[r, c]
                    q[r, c] = term[r, c]
                    g[r, c] = 0.5 * term[r, c]
            fact_p = 1.0
            for k in range(1, 19):
                _matmul(term, a, tmp)
                for r in range(n):
                    for c in range(n):
                        term[r, c] = tmp[r, c]
                fact_p *= k
                cp = 1.0 / fact_p
                cq = cp / (k + 1)
                cg = cq / (k + 2)
                for r in range(n):
                    for c in range(n):
                        p[r, c] += cp * term[r, c]
                        q[r, c] += cq * term[r, c]
                        g[r, c] += cg * term[r, c]
            for r in range(n):
                for c in range(n):
                    q[r, c] *= h0
                    g[r, c] *= h0 * h0
            t = h0
            for _ in range(s):
                _matmul(p, p, p2)
                _matmul(p, q, q2)
                _matmul(p, g, g2)
                for r in range(n):
                    for c in range(n):
                        g[r, c] = g[r, c] + t * q[r, c] + g2[r, c]
                        q[r, c] = q[r, c] + q2[r, c]
                        p[r, c] = p2[r, c]
                t *= 2.0
            for r in range(n):
                for c in range(n):
                    phi[j, i, r, c] = p[r, c]
                    psi[j, i, r, c] = q[r, c]
                    gamma[j, i, r, c] = g[r, c]


def _add_scaled(acc: np.ndarray, x: np.ndarray, a: float) -> None:
    """``acc += a * x`` in place for 4-D arrays of equal shape."""
    n0, n1, n2, n3 = acc.shape
    for p in prange(n0 * n1):
        t = p // n1
        k = p % n1
        for j in range(n2):
            for i in range(n3):
                acc[t, k, j, i] += a * x[t, k, j, i]


#: Threaded versions for large problems and serial ones for small problems, where waking threads costs more than
#: the work (the same source compiled twice; ``prange`` runs as ``range`` in the serial build).
apply_propagators_parallel = njit(parallel=True, cache=True)(_apply_propagators)
apply_propagators_serial = njit(cache=True)(_apply_propagators)
add_scaled_parallel = njit(parallel=True, cache=True)(_add_scaled)
add_scaled_serial = njit(cache=True)(_add_scaled)

#: Tag-cells below which the serial kernels are used.
SERIAL_THRESHOLD = 100_000


def apply_propagators(air, surface, e_air, e_surface, phi, psi, gamma, int_air, int_surface) -> None:
    """Dispatch to the threaded or serial build of :func:`_apply_propagators` by problem size."""
    work = air.shape[0] * air.shape[2] * air.shape[3]
    kernel = apply_propagators_serial if work < SERIAL_THRESHOLD else apply_propagators_parallel
    kernel(air, surface, e_air, e_surface, phi, psi, gamma, int_air, int_surface)


def add_scaled(acc: np.ndarray, x: np.ndarray, a: float) -> None:
    """``acc += a * x`` in place (4-D arrays of equal shape) without a temporary."""
    kernel = add_scaled_serial if acc.size < 4 * SERIAL_THRESHOLD else add_scaled_parallel
    kernel(acc, x, float(a))
