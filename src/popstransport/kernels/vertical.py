"""Numba kernel of vertical exchange between air layers: diagnosed mass flux plus turbulent mixing, implicit.

In every column the chemical mass of layer ``k`` changes by the fluxes through its lower and upper interfaces.
Through interface ``k + 1/2`` (between layers ``k`` and ``k + 1``) the upward chemical flux is

    f = W+ q_k - W- q_{k+1} + E (q_k - q_{k+1}),    W+ = max(W, 0), W- = max(-W, 0),

with ``W`` the diagnosed upward air-mass flux and ``E >= 0`` a turbulent air-mass exchange rate (kg s-1). The step is
backward Euler in the mixing ratio of the end of the step, ``q' = m' / M'`` with the end air mass
``M'_k = M_k - dt (W_{k+1/2} - W_{k-1/2})``:

    M'_k q'_k + dt (f_{k+1/2}(q') - f_{k-1/2}(q')) = m_k,

a tridiagonal system solved by the Thomas algorithm. Its matrix has positive diagonal, non-positive off-diagonals
and column sums ``M'_k > 0`` (an M-matrix), so the solution is positive, the column mass is conserved, and each
``q'_k`` is a convex combination of the start mixing ratio of the layer and the new ones of its neighbours (no new
extrema); a uniform mixing ratio stays uniform because ``M'`` follows the same air-mass fluxes (upwind in the
diagnosed flux, as in TM5: Krol et al. 2005, Atmos. Chem. Phys. 5:417; implicit mixing as in Russell & Lerner
1981, J. Appl. Meteor. 20:1483).

Status: ``status[j] = 1 + k`` when the end air mass of layer ``k`` in row ``j`` is not positive.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit, prange

from .workspace import LastShape


@njit(cache=True, error_model="numpy")
def _exchange_row(j, m, Mh, W, E, dt, moved, status, scratch):
    """Latitude row ``j`` of the vertical exchange kernel (see :func:`make_vertical_exchange`); ``scratch`` is a
    ``(9, L + 1, I)`` work array of the calling thread (allocated outside the parallel loop)."""
    nt, nl, nj, ni = m.shape
    report = moved.shape[0] > 0
    b = scratch[0]
    a = scratch[1]
    c = scratch[2]
    cp = scratch[3]
    inv = scratch[4]
    mt = scratch[5]
    up = scratch[6]
    dn = scratch[7]
    d = scratch[8]
    for i in range(ni):
        up[0, i] = 0.0
        dn[0, i] = 0.0
        up[nl, i] = 0.0
        dn[nl, i] = 0.0
    for k in range(1, nl):
        for i in range(ni):
            w = W[k, j, i]
            e = E[k, j, i]
            up[k, i] = max(w, 0.0) + e
            dn[k, i] = max(-w, 0.0) + e
    for k in range(nl):
        for i in range(ni):
            wlo = W[k, j, i] if k > 0 else 0.0
            whi = W[k + 1, j, i] if k < nl - 1 else 0.0
            mk = Mh[k, j, i] - dt * (whi - wlo)
            if not mk > 0.0:
                status[j] = 1 + k
            mt[k, i] = mk
            b[k, i] = mk + dt * (up[k + 1, i] + dn[k, i])
            a[k, i] = -dt * up[k, i]
            c[k, i] = -dt * dn[k + 1, i]
    # factorisation shared by all tags
    for i in range(ni):
        inv[0, i] = 1.0 / b[0, i]
        cp[0, i] = c[0, i] * inv[0, i]
    for k in range(1, nl):
        for i in range(ni):
            inv[k, i] = 1.0 / (b[k, i] - a[k, i] * cp[k - 1, i])
            cp[k, i] = c[k, i] * inv[k, i]
    for t in range(nt):
        for i in range(ni):
            d[0, i] = m[t, 0, j, i] * inv[0, i]
        for k in range(1, nl):
            for i in range(ni):
                d[k, i] = (m[t, k, j, i] - a[k, i] * d[k - 1, i]) * inv[k, i]
        for k in range(nl - 2, -1, -1):
            for i in range(ni):
                d[k, i] -= cp[k, i] * d[k + 1, i]
        # (a sum over the row in order, which does not vectorise: only when the caller asks for it)
        for k in range(1, nl if report else 1):
            s = 0.0
            for i in range(ni):
                s += dt * (up[k, i] * d[k - 1, i] - dn[k, i] * d[k, i])
            moved[t, k, j] += s
        for k in range(nl):
            for i in range(ni):
                m[t, k, j, i] = mt[k, i] * d[k, i]


#: ``moved`` of a call that does not ask for the upward fluxes (no tag: see :func:`_exchange_row`).
_NOT_REPORTED = np.zeros((0, 0, 0))


@cache
def make_vertical_exchange(parallel: bool = True):
    """The vertical exchange kernel, compiled with ``prange`` over latitude rows or serially.

    Each variant is a closure over ``parallel``: Numba's disk cache keys a function on its byte code and closure
    values but not on its compile flags, so compiling one module-level function twice would share one cache entry
    (and could load the serial build for the parallel request).
    """
    flag = bool(parallel)

    @njit(cache=True, parallel=flag, error_model="numpy")
    def kernel(m, Mh, W, E, dt, moved, status, scratch):
        nj = m.shape[2]
        if flag:
            for j in prange(nj):
                # (an int64 row index, as in the serial build's loop: a parallel loop's index is unsigned, and a second
                # argument type would compile _exchange_row a second time when a process runs both builds)
                _exchange_row(np.int64(j), m, Mh, W, E, dt, moved, status, scratch[j])
        else:
            for j in range(nj):
                _exchange_row(j, m, Mh, W, E, dt, moved, status, scratch[0])

    # the work array of the last state shape, made once (not in every step): one (9, L + 1, I) block per latitude
    # row of the parallel build (allocations inside a parallel loop slow the disk-cached parallel build down to
    # serial speed), one for the serial build
    scratches = LastShape()

    def vertical_exchange(m, Mh, W, E, dt, moved, status):
        """Advance ``m (T, L, J, I)`` in place over ``dt`` seconds.

        Parameters
        ----------
        m
            Chemical mass (kg), updated in place.
        Mh
            Air mass at the start of the step (kg), ``(L, J, I)`` (after horizontal transport).
        W
            Upward air-mass flux through the interfaces (kg s-1), ``(L + 1, J, I)``; ``W[0]`` and ``W[L]`` are
            ignored (no flux through the ground or the top).
        E
            Turbulent air-mass exchange rate through the interfaces (kg s-1), ``(L + 1, J, I)``; ends ignored.
        dt
            Step (s).
        moved
            Output ``(T, L + 1, J)``: net chemical mass (kg) moved upward through each interface, summed over the
            row, added to; or ``None`` (not computed: the sum over every row costs about a fifth of the kernel).
        status
            Output ``(J,)`` int64: error codes (see module docstring).
        """
        nt, nl, nj, ni = m.shape
        shape = (nj if flag else 1, 9, nl + 1, ni)
        if moved is None:
            moved = _NOT_REPORTED
        kernel(m, Mh, W, E, dt, moved, status, scratches.get(shape, lambda: np.empty(shape)))

    vertical_exchange.kernel = kernel  # (the compiled kernel, e.g. for its cache statistics)
    return vertical_exchange


__all__ = ["make_vertical_exchange"]
