"""The per-cell exact solver: kernel against the matrix-exponential reference, analytic cases, positivity."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from popstransport.processes.fate import FateError, FateSolver, Transfer, propagators, propagators_reference


def _random_metzler(rng, n, shape, scale):
    k = rng.uniform(0, 1, shape + (n, n)) * 10 ** rng.uniform(-9, np.log10(scale), shape + (n, n))
    for c in range(n):
        k[..., c, c] = 0.0
        k[..., c, c] = -k[..., :, c].sum(axis=-1) - 10 ** rng.uniform(-10, -5, shape)
    return k


@pytest.mark.parametrize("dt", [1.0, 3600.0, 10800.0, 86400.0 * 30, 86400.0 * 365])
def test_kernel_matches_reference(dt):
    rng = np.random.default_rng(int(dt) % 1000)
    k = _random_metzler(rng, 5, (3, 4), 1e-3)
    got = propagators(k, dt)
    ref = propagators_reference(k, dt)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-13 * np.abs(r).max())


@pytest.mark.parametrize("dt", [1.0, 60.0])
def test_series_cut_short_for_small_steps_keeps_full_precision(dt):
    """Without halvings (``||K h|| <= 1/2``) every cell sums only the Taylor terms above 1e-20 of its norm (9 or fewer
    for the default configuration's 3-hour step instead of 18); the propagators still agree with the reference to a few
    units of round-off, and K = 0 gives Phi = I, Psi = h I, Gamma = h^2 / 2 I exactly (no term at all)."""
    rng = np.random.default_rng(3)
    k = _random_metzler(rng, 5, (4, 30), 1e-3)
    assert (np.abs(k).sum(axis=-2).max(axis=-1) * dt).max() < 0.5
    for g, r in zip(propagators(k, dt), propagators_reference(k, dt)):
        assert np.abs(g - r).max() <= 4e-15 * np.abs(r).max()
    eye = np.eye(5)
    for g, r in zip(propagators(np.zeros((1, 2, 5, 5)), dt), (eye, dt * eye, 0.5 * dt * dt * eye)):
        assert np.array_equal(g[0, 0], r) and np.array_equal(g[0, 1], r)


@pytest.mark.parametrize("norm", [3.0, 7.9, 60.0, 1000.0])
def test_stiff_steps_match_the_reference_to_round_off(norm):
    """Steps with ``||K h||_1`` from 3 to 1000: the series is taken at ``h / 2^s`` with ``||K h|| / 2^s <= 1/2`` and
    doubled ``s`` times, and the propagators agree with the matrix-exponential reference to 1e-12 of their largest
    value (the round-off of the doublings, 3e-13 at 1000). A series at a larger norm would be off by its truncation:
    its 18 terms at a norm of 4 leave about 1e-6."""
    rng = np.random.default_rng(7)
    k = _random_metzler(rng, 5, (2, 8), 1e-3)
    dt = norm / np.abs(k).sum(axis=-2).max()
    for g, r in zip(propagators(k, dt), propagators_reference(k, dt)):
        assert np.abs(g - r).max() <= 1e-12 * np.abs(r).max()


def test_cells_of_a_row_are_independent_lanes():
    """The cells of a row are computed side by side as vector lanes, in blocks, each with its own number of halvings
    and of Taylor terms: every cell must get, bit for bit, what it gets alone (rates spanning seven orders of magnitude
    give halvings from none to 24 and from 8 to 17 terms; 61 cells span two blocks and a partial one)."""
    rng = np.random.default_rng(7)
    k = _random_metzler(rng, 5, (2, 61), 1.0)
    k[:, ::3] *= 1e-7
    dt = 86400.0 * 30
    norm = np.abs(k).sum(axis=-2).max(axis=-1) * dt
    assert norm.min() < 0.5 and norm.max() > 2.0**15  # both no halving and many
    together = propagators(k, dt)
    for j, i in [(0, 0), (0, 1), (1, 2), (1, 23), (0, 24), (1, 47), (0, 48), (1, 60)]:
        alone = propagators(k[j : j + 1, i : i + 1], dt)
        for t, a in zip(together, alone):
            assert np.array_equal(t[j, i], a[0, 0])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(1.0, 3.2e7))
def test_propagators_nonnegative_and_mass_consistent(seed, dt):
    rng = np.random.default_rng(seed)
    k = _random_metzler(rng, 4, (2, 2), 1e-2)
    phi, psi, gamma = propagators(k, dt)
    assert phi.min() >= 0 and psi.min() >= 0 and gamma.min() >= 0
    # column sums: mass left after the step plus mass lost to sinks equals the start (no emission)
    loss = -k.sum(axis=-2)  # per-compartment sink rate
    lost = np.einsum("jic,jicd->jid", loss, psi)
    np.testing.assert_allclose(phi.sum(axis=-2) + lost, 1.0, rtol=0, atol=1e-9)


def test_analytic_two_compartment_chain():
    """A -> B at rate a, B -> sink at rate b: B(t) = a/(b - a) (exp(-a t) - exp(-b t)) for A(0) = 1."""
    a, b, t = 2e-5, 3e-6, 5 * 86400.0
    k = np.array([[[[-a, 0.0], [a, -b]]]])
    phi, psi, gamma = propagators(k, t)
    assert phi[0, 0, 0, 0] == pytest.approx(np.exp(-a * t), rel=1e-13)
    assert phi[0, 0, 1, 0] == pytest.approx(a / (b - a) * (np.exp(-a * t) - np.exp(-b * t)), rel=1e-12)
    # steady state of dX/dt = K X + E equals the solution of K X = -E
    e = np.array([1.0, 0.5])
    x = np.zeros(2)
    for _ in range(200):
        x = phi[0, 0] @ x + psi[0, 0] @ e
    np.testing.assert_allclose(x, scipy.linalg.solve(k[0, 0], -e), rtol=1e-9)


def test_solver_rejects_bad_transfers():
    fs = FateSolver(("air_0", "soil"), (1, 1))
    with pytest.raises(FateError, match="source compartment 'water' does not exist"):
        fs.update([Transfer("x", "water", "soil", 1.0)], 0)
    with pytest.raises(FateError, match="neither a compartment"):
        fs.update([Transfer("x", "air_0", "moon", 1.0)], 1)
    with pytest.raises(FateError, match="rates must be finite and >= 0"):
        fs.update([Transfer("x", "air_0", "soil", -1.0)], 2)
    with pytest.raises(FateError, match="rates must be finite and >= 0"):
        fs.update([Transfer("x", "air_0", "soil", np.nan)], 3)


@pytest.mark.parametrize("shape", [(3, 7), (20, 40)])  # the serial and the threaded build (3 tags x J x I cells)
def test_span_of_steps_integrates_like_its_steps(shape):
    """``advance`` moves the state exactly as ``step`` does (bit for bit) and only sums the start states; ``integrate``
    then gives the time integrals of the whole span of steps (one K, one step length, one set of tag shares, rates
    and states changing between steps) to round-off, written over the sums."""
    rng = np.random.default_rng(11)
    comps = ("air_0", "air_1", "soil", "ocean")
    fs = FateSolver(comps, shape)

    def rate(lo, hi):
        return rng.uniform(lo, hi, shape)

    fs.update([Transfer("mix", "air_0", "air_1", rate(1e-6, 1e-5)), Transfer("mix", "air_1", "air_0", rate(1e-6, 1e-5)),
               Transfer("dep", "air_0", "soil", rate(1e-7, 1e-6)), Transfer("vol", "soil", "air_0", rate(1e-9, 1e-8)),
               Transfer("dep", "air_0", "ocean", rate(1e-7, 1e-6)), Transfer("oh", "air_1", "degraded", rate(1e-7, 1e-6)),
               Transfer("settle", "ocean", "settled", rate(1e-9, 1e-8))], key=0)
    ntag, dt = 3, 10800.0
    weights = rng.dirichlet(np.ones(ntag), shape).transpose(2, 0, 1).copy()
    air = rng.uniform(0.0, 1.0, (ntag, 2, *shape))
    surface = rng.uniform(0.0, 5.0, (ntag, 2, *shape))
    a_step, s_step, a_span, s_span = air.copy(), surface.copy(), air.copy(), surface.copy()
    int_air, int_surface = np.zeros_like(air), np.zeros_like(surface)
    sum_air, sum_surface = np.zeros_like(air), np.zeros_like(surface)
    rates_sum = np.zeros((1, 4, *shape))
    for k in range(6):
        rates = np.zeros((1, 4, *shape))
        rates[0, 0] = rng.uniform(0.0, 1e-6, shape) * (1 + k)
        fs.step(a_step, s_step, rates, weights, dt, int_air, int_surface)
        fs.advance(a_span, s_span, rates, weights, dt, sum_air, sum_surface)
        rates_sum += rates
        np.testing.assert_array_equal(a_span, a_step)
        np.testing.assert_array_equal(s_span, s_step)
        # something else (transport) changes the state between fate steps
        factor = rng.uniform(0.8, 1.2, a_step.shape)
        a_step *= factor
        a_span *= factor
    fs.integrate(dt, sum_air, sum_surface, rates_sum, weights, sum_air, sum_surface)
    np.testing.assert_allclose(sum_air, int_air, rtol=1e-13, atol=0)
    np.testing.assert_allclose(sum_surface, int_surface, rtol=1e-13, atol=0)
    # the transferred masses that follow from the integrals agree too
    for key, moved in fs.moved(sum_air, sum_surface).items():
        np.testing.assert_allclose(moved, fs.moved(int_air, int_surface)[key], rtol=1e-13, atol=0)


def test_propagators_of_a_stiff_column_conserve_mass_to_round_off():
    """Turbulent mixing between ten thin air layers (from 10 m, 1e3 m2 s-1) over a 3-hour step: ``|K dt|`` 1.6e5.
    The column sums of the propagators meet the identities of the exact ones, ``1^T Phi + s^T Psi = 1`` and
    ``1^T Psi + s^T Gamma = dt`` (``s`` the loss out of the system), to round-off; the squarings missed them by
    1.3e-10, which left the budget's closure at 1e-9 a month. The rescaled propagators still match the reference."""
    edges = np.array([0.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0])
    thick, mid = np.diff(edges), 0.5 * (edges[1:] + edges[:-1])
    n = thick.size + 1  # the layers and a soil under them
    k = np.zeros((1, 1, n, n))
    for c in range(n - 2):  # mixing: rate E / M up and down with E / (rho A) = Kz / dz
        up, down = 1e3 / (mid[c + 1] - mid[c]) / thick[c], 1e3 / (mid[c + 1] - mid[c]) / thick[c + 1]
        k[0, 0, c + 1, c] += up
        k[0, 0, c, c + 1] += down
    k[0, 0, n - 1, 0] = 2e-4  # deposition to the soil
    k[0, 0, 0, n - 1] = 1e-9  # re-volatilisation
    loss = np.full(n, 1e-6)  # degradation
    for c in range(n):
        k[0, 0, c, c] = -k[0, 0, :, c].sum() - loss[c]
    dt = 10800.0
    assert np.abs(k).sum(axis=-2).max() * dt > 1e5
    s = np.broadcast_to(loss, (1, 1, n))
    phi, psi, gamma = propagators(k, dt, s)
    assert np.abs(phi.sum(axis=-2) + np.einsum("jic,jicd->jid", s, psi) - 1.0).max() < 1e-14
    assert np.abs(psi.sum(axis=-2) + np.einsum("jic,jicd->jid", s, gamma) - dt).max() < 1e-14 * dt
    for g, r in zip((phi, psi, gamma), propagators_reference(k, dt)):
        assert np.abs(g - r).max() <= 1e-10 * np.abs(r).max()
