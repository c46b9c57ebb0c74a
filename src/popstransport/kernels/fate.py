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

The integral of a span of ``n`` steps with one K and one step length is linear in the start states and emissions,

    sum_k integral X dt = Psi (sum_k X0_k) + Gamma (sum_k E_k),

so a model step may advance the state and only add up its start state (:func:`advance_propagators`), and the
integrals follow once per span (:func:`integrate_start_sums`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit, prange

from .workspace import LastShape

#: What a build of the propagator kernel does (:func:`_make_apply_propagators`): advance the state and add its
#: time integral over the step (``EXACT``); advance the state and add the state at the start of the step to a sum
#: (``ADVANCE``); turn such sums into the time integrals (``INTEGRATE``).
EXACT, ADVANCE, INTEGRATE = 0, 1, 2


@njit(cache=True, inline="always")
def _emitting(rates, tr, j, emitting):
    """The compartments ``c`` with a non-zero emission rate ``rates[tr, c, j, i]`` in some cell of row ``j``, listed
    in ``emitting``; returns how many."""
    nemit = 0
    for c in range(rates.shape[1]):
        # (a count of non-zero rates, not a logical or: an integer sum vectorises)
        nonzero = 0
        for i in range(rates.shape[3]):
            nonzero += 1 if rates[tr, c, j, i] != 0.0 else 0
        if nonzero > 0:
            emitting[nemit] = c
            nemit += 1
    return nemit


@njit(cache=True, inline="always")
def _emission_product(b, j, rates, tr, emitting, nemit, out):
    """``out[r, i] = sum_(emitting c) b[j, r, c, i] rates[tr, c, j, i]`` for every compartment ``r`` of row ``j``
    (a propagator applied to the emission rates; a tag's emission term is its weight times this)."""
    for r in range(out.shape[0]):
        for i in range(out.shape[1]):
            out[r, i] = 0.0
        for k in range(nemit):
            c = emitting[k]
            for i in range(out.shape[1]):
                out[r, i] += b[j, r, c, i] * rates[tr, c, j, i]


def _make_apply_propagators(parallel: bool, mode: int, ncomp: int):
    """Build :func:`apply_propagators` (``mode`` ``EXACT``), :func:`advance_propagators` (``ADVANCE``) or
    :func:`integrate_start_sums` (``INTEGRATE``) for ``ncomp`` compartments, threaded over latitude rows or serially.

    A closure over ``parallel``, ``mode`` and ``ncomp``: Numba's disk cache keys a function on its code and closure
    values but not on its compile flags, so a parallel and a serial build of one module-level function would share
    one cache entry and the parallel dispatcher could load the serial machine code. ``mode`` and ``ncomp`` are
    compile-time constants, so every build keeps only its own arithmetic, and a cell's sum over compartments
    ``sum_c A[r, c] X0[c]`` is unrolled into one vectorised loop over the row's cells that writes each output once
    (with the compartment count known only at run time the loop over a row did not vectorise: 2.1 times slower;
    with one pass over the row per compartment added to a row accumulator, 1.36 times slower).

    ``ADVANCE`` and ``INTEGRATE`` split the time integral off the step: over ``n`` steps of one length ``h`` with one
    K, the integrals ``sum_k (Psi X0_k + Gamma E_k)`` are ``Psi sum_k X0_k + Gamma sum_k E_k`` (linearity), so the
    steps only add up their start states and emissions and the integral costs one product per span of steps instead
    of one per step (about a third of the kernel's work). ``INTEGRATE`` takes the start sums as ``air`` and
    ``surface`` and overwrites ``int_air`` and ``int_surface`` with the integrals; they may be the same arrays
    (every cell's start sums are read before its integrals are written).

    The emission of tag ``t`` is its weight times shared rates (or its own rates), so its term ``B E_t`` is
    ``w_t (B rates)``: ``B rates`` is formed once per row (once per row and tag for rates per tag).
    """

    @njit(parallel=parallel, cache=True)
    def kernel(air, surface, rates, weights, phi, psi, gamma, int_air, int_surface, x0_rows, pe_rows, emitting_rows):
        ntag, nlayer, nlat, nlon = air.shape
        nsurf = surface.shape[1]
        per_tag_rates = rates.shape[0] > 1
        per_tag_weights = weights.shape[0] > 1
        for j in prange(nlat):
            row = j if parallel else 0
            x0 = x0_rows[row]
            pe_x = pe_rows[row, 0]
            pe_int = pe_rows[row, 1]
            emitting = emitting_rows[row]
            for t in range(ntag):
                tw = t if per_tag_weights else 0
                if t == 0 or per_tag_rates:
                    # the propagators applied to the emission rates (shared by the tags: once per row)
                    tr = t if per_tag_rates else 0
                    nemit = _emitting(rates, tr, j, emitting)
                    if mode != INTEGRATE:
                        _emission_product(psi, j, rates, tr, emitting, nemit, pe_x)
                    if mode != ADVANCE:
                        _emission_product(gamma, j, rates, tr, emitting, nemit, pe_int)
                for c in range(nlayer):
                    src = air[t, c, j]
                    for i in range(nlon):
                        x = src[i]
                        x0[c, i] = x
                        if mode == ADVANCE:
                            int_air[t, c, j, i] += x
                for c in range(nsurf):
                    src = surface[t, c, j]
                    for i in range(nlon):
                        x = src[i]
                        x0[nlayer + c, i] = x
                        if mode == ADVANCE:
                            int_surface[t, c, j, i] += x
                wt = weights[tw, j]
                for r in range(ncomp):
                    # the new state Phi X0 + Psi E, and the integral Psi X0 + Gamma E (added per step, or, from
                    # start sums, written): each one loop over the row, written out twice (a helper closing over the
                    # compartment count kept Numba from caching the kernel; one loop for both would need one type for
                    # a float32 state and float64 integrals; a float64 value row stored by a helper ran 5 % slower)
                    if mode != INTEGRATE:
                        ar = phi[j, r]
                        pe = pe_x[r]
                        out_x = air[t, r, j] if r < nlayer else surface[t, r - nlayer, j]
                        for i in range(nlon):
                            x = 0.0
                            for c in range(ncomp):
                                x += ar[c, i] * x0[c, i]
                            out_x[i] = x + wt[i] * pe[i]
                    if mode != ADVANCE:
                        ar = psi[j, r]
                        pe = pe_int[r]
                        out_int = int_air[t, r, j] if r < nlayer else int_surface[t, r - nlayer, j]
                        for i in range(nlon):
                            x = 0.0
                            for c in range(ncomp):
                                x += ar[c, i] * x0[c, i]
                            x += wt[i] * pe[i]
                            out_int[i] = out_int[i] + x if mode == EXACT else x

    # scratch per row (one row suffices for the serial build) for the last shape, made once, not in every step
    scratches = LastShape()

    def apply(
        air: np.ndarray,
        surface: np.ndarray,
        rates: np.ndarray,
        weights: np.ndarray,
        phi: np.ndarray,
        psi: np.ndarray,
        gamma: np.ndarray,
        int_air: np.ndarray,
        int_surface: np.ndarray,
    ) -> None:
        """Advance the compartment masses in place and add their time integrals over the step to accumulators.

        The compartment vector of a cell is the air layers followed by the surface compartments. The emission of tag
        ``t`` into compartment ``c`` is ``rates[t', c] * weights[t'']`` with ``t' = t`` if ``rates`` has one entry per
        tag, else 0, and likewise for ``weights``: a gridded field split among tags by fixed shares needs no per-tag
        copy of the field.

        Parameters
        ----------
        air : (T, L, J, I) chemical mass in every air layer (kg); overwritten with the state after the step.
        surface : (T, S, J, I) chemical mass in every surface compartment (kg); overwritten likewise.
        rates : (1 or T, L + S, J, I) emission rates (kg s-1), constant over the step.
        weights : (1 or T, J, I) share of each tag in ``rates``.
        phi, psi, gamma : (J, L + S, L + S, I) propagators of every cell (see module docstring), longitude innermost
            so that the loops over a row run over contiguous memory (SIMD).
        int_air, int_surface : accumulators shaped like ``air`` and ``surface``: the time integrals over the step
            (kg s) are added to them.

        (The ``ADVANCE`` and ``INTEGRATE`` builds take the same arguments; see :func:`_make_apply_propagators`.)
        """
        nlat, nlon = air.shape[2], air.shape[3]
        nrow = nlat if parallel else 1
        rows = scratches.get((nrow, nlon), lambda: (
            np.empty((nrow, ncomp, nlon)), np.empty((nrow, 2, ncomp, nlon)), np.empty((nrow, ncomp), dtype=np.int64)))
        kernel(air, surface, rates, weights, phi, psi, gamma, int_air, int_surface, *rows)

    apply.kernel = kernel  # (the compiled kernel, e.g. for its cache statistics)
    return apply


@cache
def _build(parallel: bool, mode: int, ncomp: int):
    """The build of :func:`_make_apply_propagators` for these options, made once."""
    return _make_apply_propagators(parallel, mode, ncomp)


def _builds(parallel: bool, mode: int):
    """``kernel(air, surface, ...)``: the build of ``mode`` for the compartments of ``air`` and ``surface``."""

    def run(air, surface, *args) -> None:
        _build(parallel, mode, air.shape[1] + surface.shape[1])(air, surface, *args)

    return run


@njit(cache=True, error_model="numpy", inline="always")
def _matmul_lanes(a: np.ndarray, b: np.ndarray, out: np.ndarray, ni: int) -> None:
    """``out[:, :, i] = a[:, :, i] @ b[:, :, i]`` for the lanes ``i < ni`` (``(n, n, >= ni)`` arrays; ``out``
    distinct), each entry summed from zero in the order of the inner index."""
    n = a.shape[0]
    for r in range(n):
        for c in range(n):
            for i in range(ni):
                out[r, c, i] = 0.0
            for k in range(n):
                for i in range(ni):
                    out[r, c, i] += a[r, k, i] * b[k, c, i]


#: Taylor terms of :func:`_propagators_block`: term ``k`` is added while the bound ``theta^k / k!`` of its norm (``theta =
#: ||K h0||_1 <= 1/2``) exceeds ``TAYLOR_TOL``, at most ``TAYLOR_TERMS`` terms (17 at ``theta = 1/2``; 9 at the
#: ``theta`` of about 0.03 typical of a 3-hour step of the default configuration; ``Phi >= exp(-theta) >= 0.6`` in
#: norm, so what is left out is below 1e-20 relative).
TAYLOR_TOL = 1e-20
TAYLOR_TERMS = 18

#: Cells per block of :func:`_propagators_block` (default grid, 5 compartments: 2.1 ms per call with 24 or 32, 2.5 ms
#: with whole rows of 120, 2.8-3.0 ms with 40 or 48, 3.8 ms with 16, against 5.5 ms cell by cell).
PROPAGATOR_LANES = 24


@njit(cache=True, error_model="numpy")
def _propagators_block(k_row, i0, nb, h, phi, psi, gamma, scratch, halvings, h0, t, bound, on):
    """Phi, Psi, Gamma of the cells ``i0 .. i0 + nb - 1`` of one latitude row: ``k_row (n, n, I)`` in, ``phi``,
    ``psi``, ``gamma (n, n, I)`` out.

    Every cell is a vector lane: each step below is a loop over the block's cells that vectorises. ``scratch
    (9, n, n, >= nb)``, ``halvings`` (int), ``h0``, ``t``, ``bound`` and ``on`` (``(>= nb,)``) are work arrays of the
    calling thread. Every cell takes its own number of halvings and of Taylor terms (the block's products run until its
    last cell is done), so that it gets what it gets alone, bit for bit.
    """
    n = k_row.shape[0]
    a = scratch[0]
    term = scratch[1]
    tmp = scratch[2]
    p = scratch[3]
    q = scratch[4]
    g = scratch[5]
    p2 = scratch[6]
    q2 = scratch[7]
    g2 = scratch[8]
    # halvings: the largest column sum of |K h| brought to 1/2 or below, cell by cell
    for i in range(nb):
        t[i] = 0.0
    for c in range(n):
        for r in range(n):
            for i in range(nb):
                a[r, c, i] = k_row[r, c, i0 + i]
        for i in range(nb):
            h0[i] = 0.0
        for r in range(n):
            for i in range(nb):
                h0[i] += abs(a[r, c, i])
        for i in range(nb):
            t[i] = max(t[i], h0[i])
    smax = 0
    for i in range(nb):
        norm = t[i] * h
        s = 0
        while norm > 0.5:
            norm *= 0.5
            s += 1
        halvings[i] = s
        smax = max(smax, s)
        h0[i] = h / (2.0**s)
    # Taylor series at h0 (the same operations, in the same order, as cell by cell): term k while theta^k / k! (a
    # bound of its norm, theta = ||K h0||_1) exceeds TAYLOR_TOL
    for i in range(nb):
        t[i] = t[i] * h0[i]
        bound[i] = 1.0
    for r in range(n):
        for c in range(n):
            e = 1.0 if r == c else 0.0
            for i in range(nb):
                a[r, c, i] = a[r, c, i] * h0[i]
                term[r, c, i] = e
                p[r, c, i] = e
                q[r, c, i] = e
                g[r, c, i] = 0.5 * e
    fact_p = 1.0
    for k in range(1, TAYLOR_TERMS + 1):
        more = False
        every = True
        for i in range(nb):
            bound[i] *= t[i] / k
            on[i] = 1.0 if bound[i] > TAYLOR_TOL else 0.0
            more |= bound[i] > TAYLOR_TOL
            every &= bound[i] > TAYLOR_TOL
        if not more:
            break
        _matmul_lanes(term, a, tmp, nb)
        fact_p *= k
        cp = 1.0 / fact_p
        cq = cp / (k + 1)
        cg = cq / (k + 2)
        for r in range(n):
            for c in range(n):
                if every:
                    for i in range(nb):
                        x = tmp[r, c, i]
                        term[r, c, i] = x
                        p[r, c, i] += cp * x
                        q[r, c, i] += cq * x
                        g[r, c, i] += cg * x
                else:
                    # (a lane that is done adds 0 x: its sums stay as they are, and the loop needs no branch)
                    for i in range(nb):
                        x = tmp[r, c, i]
                        term[r, c, i] = x
                        p[r, c, i] += (cp * on[i]) * x
                        q[r, c, i] += (cq * on[i]) * x
                        g[r, c, i] += (cg * on[i]) * x
    for r in range(n):
        for c in range(n):
            for i in range(nb):
                q[r, c, i] *= h0[i]
                g[r, c, i] *= h0[i] * h0[i]
    # doubling: every lane takes its own number of steps (the others keep their values)
    for i in range(nb):
        t[i] = h0[i]
    for step in range(smax):
        _matmul_lanes(p, p, p2, nb)
        _matmul_lanes(p, q, q2, nb)
        _matmul_lanes(p, g, g2, nb)
        for r in range(n):
            for c in range(n):
                for i in range(nb):
                    on = step < halvings[i]
                    g_new = g[r, c, i] + t[i] * q[r, c, i] + g2[r, c, i]
                    q_new = q[r, c, i] + q2[r, c, i]
                    g[r, c, i] = g_new if on else g[r, c, i]
                    q[r, c, i] = q_new if on else q[r, c, i]
                    p[r, c, i] = p2[r, c, i] if on else p[r, c, i]
        for i in range(nb):
            t[i] *= 2.0
    for r in range(n):
        for c in range(n):
            for i in range(nb):
                phi[r, c, i0 + i] = p[r, c, i]
                psi[r, c, i0 + i] = q[r, c, i]
                gamma[r, c, i0 + i] = g[r, c, i]


@njit(parallel=True, cache=True, error_model="numpy")
def compute_propagators(k_rows: np.ndarray, h: float, phi: np.ndarray, psi: np.ndarray, gamma: np.ndarray,
                        scratch: np.ndarray, halvings: np.ndarray, lanes: np.ndarray) -> None:
    """Phi, Psi, Gamma of every cell's K over a step ``h`` by Taylor series and doubling.

    With ``s`` halvings, ``h0 = h / 2^s`` is small enough that ``||K h0||_1 <= 1/2``; then

        Phi(h0)   = sum_k (K h0)^k / k!,
        Psi(h0)   = h0   sum_k (K h0)^k / (k + 1)!,
        Gamma(h0) = h0^2 sum_k (K h0)^k / (k + 2)!,

    (each cell's series truncated where the bound ``||K h0||^k / k!`` of its terms falls below ``TAYLOR_TOL``,
    what is left out below 1e-20 relative, at most 18 terms) and the doubling identities, exact consequences of
    Phi(a + b) = Phi(a) Phi(b) and Psi(a + b) = Psi(a) + Phi(a) Psi(b),

        Phi(2t)   = Phi(t)^2,
        Psi(2t)   = Psi(t) + Phi(t) Psi(t),
        Gamma(2t) = Gamma(t) + t Psi(t) + Phi(t) Gamma(t),

    bring them back to ``h`` (the scaling-and-squaring idea of Moler & Van Loan 2003, SIAM Rev. 45:3, applied to
    the phi-functions). For a Metzler K (non-negative off-diagonal rates) every term stays non-negative, so the
    propagators are non-negative: the scheme preserves positivity for any step.

    The cells of a latitude row go in blocks whose cells are the vector lanes of :func:`_propagators_block`, so the
    ``n x n`` products run as loops over longitude; each cell keeps its own number of halvings (the result is, bit
    for bit, that of the same operations cell by cell).

    Parameters
    ----------
    k_rows : (J, n, n, I) rate matrices (s-1), longitude innermost.
    h : step (s).
    phi, psi, gamma : (J, n, n, I) outputs, longitude innermost.
    scratch : (chunks, 9, n, n, B) work arrays, one set per chunk of rows (made outside the parallel loop); ``B``
        cells per block.
    halvings : (chunks, B) int64 work array.
    lanes : (chunks, 4, B) work array.
    """
    nlat = k_rows.shape[0]
    nlon = k_rows.shape[3]
    nb = scratch.shape[4]
    nchunk = min(nlat, scratch.shape[0])
    for k in prange(nchunk):
        for j in range(k * nlat // nchunk, (k + 1) * nlat // nchunk):
            for i0 in range(0, nlon, nb):
                _propagators_block(k_rows[j], i0, min(nb, nlon - i0), h, phi[j], psi[j], gamma[j], scratch[k],
                                   halvings[k], lanes[k, 0], lanes[k, 1], lanes[k, 2], lanes[k, 3])


@njit(parallel=True, cache=True)
def accumulate_transfers(slot, full_slot, rates, source, integral_air, integral_surface, tag_total, cell_total, full):
    """Add the mass moved by every transfer ``k`` (``rates[k] * X_int[t, source[k]]``, kg) to its accumulators.

    ``rates (K, J, I)`` are first-order rate constants (s-1) constant since the integrals started, ``source (K,)``
    the compartment index of each transfer (air layers first, then surface compartments), ``integral_air
    (T, L, J, I)`` and ``integral_surface (T, S, J, I)`` the state time integrals (kg s). Transfer ``k`` adds to
    ``tag_total[slot[k]] (T,)`` (per tag, summed over cells), ``cell_total[slot[k]] (J, I)`` (summed
    over tags) and, when ``full_slot[k] >= 0``, to ``full[full_slot[k]] (T, J, I)``. One pass over the integrals;
    distinct transfers must have distinct slots (they run in parallel).

    The loops over a row carry no branch and no scalar sum, so that they vectorise: a tag's total is summed per
    longitude over the rows, then over longitude.
    """
    nk = rates.shape[0]
    ntag, nlayer, nlat, nlon = integral_air.shape
    lon_sums = np.empty((nk, nlon))  # (made outside the parallel loop)
    for k in prange(nk):
        s = source[k]
        kk = slot[k]
        fs = full_slot[k]
        rk = rates[k]
        ct = cell_total[kk]
        acc = lon_sums[k]
        for t in range(ntag):
            src = integral_air[t, s] if s < nlayer else integral_surface[t, s - nlayer]
            for i in range(nlon):
                acc[i] = 0.0
            if fs >= 0:
                fl = full[fs, t]
                for j in range(nlat):
                    for i in range(nlon):
                        x = rk[j, i] * src[j, i]
                        ct[j, i] += x
                        fl[j, i] += x
                        acc[i] += x
            else:
                for j in range(nlat):
                    for i in range(nlon):
                        x = rk[j, i] * src[j, i]
                        ct[j, i] += x
                        acc[i] += x
            total = 0.0
            for i in range(nlon):
                total += acc[i]
            tag_total[kk, t] += total


def _make_add_scaled(parallel: bool):
    """Build ``add_scaled(acc, x, a)``: ``acc += a * x`` for 4-D arrays of equal shape (threaded or serial; a
    closure for the reason given in :func:`_make_apply_propagators`)."""

    @njit(parallel=parallel, cache=True)
    def add_scaled(acc, x, a):
        n0, n1, n2, n3 = acc.shape
        nplane = n0 * n1
        nchunk = nplane if parallel else 1
        for c in prange(nchunk):
            for p in range(c * nplane // nchunk, (c + 1) * nplane // nchunk):
                t = p // n1
                k = p % n1
                for j in range(n2):
                    for i in range(n3):
                        acc[t, k, j, i] += a * x[t, k, j, i]

    return add_scaled


#: Threaded builds for large problems and serial ones for small problems, where waking threads costs more than
#: the work.
apply_propagators_parallel = _builds(True, EXACT)
apply_propagators_serial = _builds(False, EXACT)
advance_propagators_parallel = _builds(True, ADVANCE)
advance_propagators_serial = _builds(False, ADVANCE)
integrate_start_sums_parallel = _builds(True, INTEGRATE)
integrate_start_sums_serial = _builds(False, INTEGRATE)
add_scaled_parallel = _make_add_scaled(True)
add_scaled_serial = _make_add_scaled(False)

#: Tag-cells below which the serial kernels are used.
SERIAL_THRESHOLD = 2_000


def apply_propagators(air, surface, rates, weights, phi, psi, gamma, int_air, int_surface) -> None:
    """Dispatch to the threaded or serial build of :func:`_apply_propagators` by problem size."""
    work = air.shape[0] * air.shape[2] * air.shape[3]
    kernel = apply_propagators_serial if work < SERIAL_THRESHOLD else apply_propagators_parallel
    kernel(air, surface, rates, weights, phi, psi, gamma, int_air, int_surface)


def advance_propagators(air, surface, rates, weights, phi, psi, start_air, start_surface) -> None:
    """``X <- Phi X + Psi E`` like :func:`apply_propagators`, adding the state at the start of the step to
    ``start_air``, ``start_surface`` (kg, float64, shaped like the state) instead of the time integral over the step
    (:func:`integrate_start_sums` makes the integrals of many such steps at once)."""
    work = air.shape[0] * air.shape[2] * air.shape[3]
    kernel = advance_propagators_serial if work < SERIAL_THRESHOLD else advance_propagators_parallel
    kernel(air, surface, rates, weights, phi, psi, psi, start_air, start_surface)


def integrate_start_sums(start_air, start_surface, rates_sum, weights, psi, gamma, int_air, int_surface) -> None:
    """Time integrals (kg s) of ``n`` steps of :func:`advance_propagators` with one step length, one K and one
    ``weights``, from the sums of their start states and of their emission rates ``rates_sum`` (kg s-1 summed
    over the steps): ``int = Psi sum_k X0_k + Gamma sum_k E_k`` written to ``int_air``, ``int_surface``, which may
    be the start sums themselves (overwritten in place)."""
    work = start_air.shape[0] * start_air.shape[2] * start_air.shape[3]
    kernel = integrate_start_sums_serial if work < SERIAL_THRESHOLD else integrate_start_sums_parallel
    kernel(start_air, start_surface, rates_sum, weights, psi, psi, gamma, int_air, int_surface)


def add_scaled(acc: np.ndarray, x: np.ndarray, a: float) -> None:
    """``acc += a * x`` in place (4-D arrays of equal shape) without a temporary."""
    kernel = add_scaled_serial if acc.size < 4 * SERIAL_THRESHOLD else add_scaled_parallel
    kernel(acc, x, float(a))
