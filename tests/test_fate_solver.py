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


def test_cells_of_a_row_are_independent_lanes():
    """The cells of a row are computed side by side as vector lanes, in blocks, each with its own number of halvings:
    every cell must get, bit for bit, what it gets alone (rates spanning seven orders of magnitude give halvings from
    none to about twenty; 61 cells span two blocks and a partial one)."""
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
