"""Vertical exchange: the Numba kernel against a dense NumPy solve, conservation, positivity, consistency with
the diagnosed vertical flux, the two-layer analytic limit, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.kernels.vertical import make_vertical_exchange
from popstransport.massflux import balanced_mass_fluxes
from popstransport.processes.advection import HorizontalAdvection
from popstransport.processes.vertical import VerticalExchange, VerticalExchangeError


def reference_column(m, Mh, W, E, dt):
    """Backward Euler in the end mixing ratio with a dense matrix (one column, all tags): m (T, L)."""
    nl = Mh.size
    W = W.copy()
    W[0] = W[nl] = 0.0
    E = E.copy()
    E[0] = E[nl] = 0.0
    Mt = Mh - dt * (W[1:] - W[:-1])
    A = np.diag(Mt.astype(float))
    for k in range(1, nl):  # interface k between layers k-1 (below) and k (above)
        up = max(W[k], 0.0) + E[k]  # coefficient of q_{k-1} carried up
        dn = max(-W[k], 0.0) + E[k]  # coefficient of q_k carried down
        # flux up through k: up q_{k-1} - dn q_k ; it leaves layer k-1 and enters layer k
        A[k - 1, k - 1] += dt * up
        A[k - 1, k] -= dt * dn
        A[k, k - 1] -= dt * up
        A[k, k] += dt * dn
    q = np.linalg.solve(A, m.T).T
    return q * Mt


def _random_column_data(rng, nt, nl, nj, ni):
    Mh = rng.uniform(0.5, 1.5, (nl, nj, ni))
    W = rng.normal(0, 0.2, (nl + 1, nj, ni))
    W[0] = W[nl] = 0.0
    E = rng.uniform(0, 0.5, (nl + 1, nj, ni))
    m = rng.uniform(0, 1, (nt, nl, nj, ni)) * Mh[None]
    return m, Mh, W, E


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("nl", [1, 2, 5])
def test_kernel_matches_dense_reference(parallel, nl):
    rng = np.random.default_rng(nl)
    nt, nj, ni = 3, 4, 5
    m, Mh, W, E = _random_column_data(rng, nt, nl, nj, ni)
    dt = 1.3
    mk = m.copy()
    moved = np.zeros((nt, nl + 1, nj))
    status = np.zeros(nj, dtype=np.int64)
    make_vertical_exchange(parallel)(mk, Mh, W, E, dt, moved, status)
    assert not status.any()
    for j in range(nj):
        for i in range(ni):
            ref = reference_column(m[:, :, j, i], Mh[:, j, i], W[:, j, i], E[:, j, i], dt)
            np.testing.assert_allclose(mk[:, :, j, i], ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mk.sum(axis=1), m.sum(axis=1), rtol=1e-13)
    # the reported upward transfer explains the change of the lowest layer
    np.testing.assert_allclose(mk[:, 0].sum(axis=(1, 2)), m[:, 0].sum(axis=(1, 2)) - moved[:, 1].sum(axis=1),
                               rtol=1e-12)


@pytest.mark.parametrize("parallel", [False, True])
def test_upward_fluxes_are_optional_and_leave_the_state_bit_for_bit(parallel):
    # (the model's step asks for no upward fluxes: the kernel then skips their sum over every row)
    rng = np.random.default_rng(7)
    nt, nl, nj, ni = 3, 4, 6, 40
    m, Mh, W, E = _random_column_data(rng, nt, nl, nj, ni)
    W *= 0.5  # (no layer emptied in any of the 240 columns)
    with_moved, without = m.copy(), m.copy()
    moved = np.zeros((nt, nl + 1, nj))
    status = np.zeros(nj, dtype=np.int64)
    kernel = make_vertical_exchange(parallel)
    kernel(with_moved, Mh, W, E, 1.3, moved, status)
    kernel(without, Mh, W, E, 1.3, None, status)
    assert np.array_equal(with_moved, without) and not status.any()
    # the upward flux through an interface is what the layers above it gained
    gained_above = np.array([(with_moved - m)[:, k:].sum(axis=(1, 3)) for k in range(1, nl)]).transpose(1, 0, 2)
    np.testing.assert_allclose(moved[:, 1:nl], gained_above, rtol=1e-12, atol=1e-14)


def test_both_builds_share_one_specialisation_of_the_row_solver():
    """The serial and the parallel build call the row solver with the same argument types, so a process that runs
    both (small and large grids) compiles it once (an unsigned row index from the parallel loop compiled it twice,
    about 1 s on a first run)."""
    from popstransport.kernels import vertical

    rng = np.random.default_rng(3)
    nt, nl, nj, ni = 2, 2, 4, 5
    m, Mh, W, E = _random_column_data(rng, nt, nl, nj, ni)
    for parallel in (False, True):
        status = np.zeros(nj, dtype=np.int64)
        make_vertical_exchange(parallel)(m.copy(), Mh, W, E, 1.3, np.zeros((nt, nl + 1, nj)), status)
        assert not status.any()
    float64 = [s for s in vertical._exchange_row.signatures if str(s[1].dtype) == "float64"]
    assert len(float64) == 1, float64


def test_tags_add_up_to_the_total_and_the_exchange_is_linear():
    """Every tag is solved with the same matrix: the tags add up to the total's solve, and removing a tag from the
    input removes exactly its result (to round-off)."""
    rng = np.random.default_rng(5)
    nt, nl, nj, ni = 5, 4, 3, 6
    m, Mh, W, E = _random_column_data(rng, nt, nl, nj, ni)
    m[2, :, :, :3] = 0.0
    kernel = make_vertical_exchange(False)
    tagged = m.copy()
    moved = np.zeros((nt, nl + 1, nj))
    kernel(tagged, Mh, W, E, 0.7, moved, np.zeros(nj, dtype=np.int64))
    total = m.sum(axis=0, keepdims=True)
    moved_total = np.zeros((1, nl + 1, nj))
    kernel(total, Mh, W, E, 0.7, moved_total, np.zeros(nj, dtype=np.int64))
    scale = total.max()
    np.testing.assert_allclose(tagged.sum(axis=0), total[0], rtol=0, atol=1e-14 * scale)
    np.testing.assert_allclose(moved.sum(axis=0), moved_total[0], rtol=0, atol=1e-14 * np.abs(moved_total).max())
    without = m[1:].sum(axis=0, keepdims=True)
    kernel(without, Mh, W, E, 0.7, np.zeros((1, nl + 1, nj)), np.zeros(nj, dtype=np.int64))
    np.testing.assert_allclose(total[0] - without[0], tagged[0], rtol=0, atol=1e-14 * scale)
    assert tagged.min() >= 0.0


def test_positive_and_bounded_by_the_column_range():
    rng = np.random.default_rng(11)
    m, Mh, W, E = _random_column_data(rng, 2, 6, 3, 7)
    W *= 5.0
    dt = 2.0
    Mt = Mh - dt * (W[1:] - W[:-1])
    ok = np.all(Mt > 0, axis=0)
    mk = m.copy()
    make_vertical_exchange(False)(mk, Mh, W, E, dt, np.zeros((2, 7, 3)), np.zeros(3, dtype=np.int64))
    q0 = m / Mh[None]
    q1 = mk / Mt[None]
    assert np.all(mk[:, :, ok] >= 0)
    assert np.all(q1.max(axis=1)[:, ok] <= q0.max(axis=1)[:, ok] * (1 + 1e-12))
    assert np.all(q1.min(axis=1)[:, ok] >= q0.min(axis=1)[:, ok] * (1 - 1e-12))


def test_two_layer_mixing_relaxes_like_backward_euler_of_the_analytic_exchange():
    grid = LatLonGrid.regional(0, 2, 0, 2, 1.0, layers=AirLayers((0.0, 1000.0, 2000.0)))
    M = grid.air_mass_kg()
    E = np.zeros((3,) + M.shape[1:])
    E[1] = 0.1 * M[0]  # exchange rate in kg/s
    air = np.zeros((1,) + M.shape)
    air[0, 0] = M[0]  # q = 1 below, 0 above
    dt = 1.0
    VerticalExchange(grid=grid).mix(air, M, None, None, dt, exchange_kg_s=E)
    # backward Euler of dq0/dt = -E (q0 - q1) / M0, dq1/dt = E (q0 - q1) / M1
    a0 = E[1] * dt / M[0]
    a1 = E[1] * dt / M[1]
    d = 1.0 / (1.0 + a0 + a1)  # q0 - q1 after the step
    q0 = 1.0 - a0 * d
    np.testing.assert_allclose(air[0, 0] / M[0], q0, rtol=1e-13)


def test_uniform_mixing_ratio_stays_uniform_with_advection_and_vertical_flux():
    grid = LatLonGrid.global_grid(15.0, layers=AirLayers((0.0, 1000.0, 3000.0, 10000.0)))
    rng = np.random.default_rng(2)
    shape = (grid.nlayer, grid.nlat, grid.nlon)
    u = rng.normal(0, 15, shape)
    v = rng.normal(0, 8, shape)
    M = grid.air_mass_kg()
    fl = balanced_mass_fluxes(grid, u, v, M)
    air = np.ascontiguousarray(np.broadcast_to(0.3 * M, (2,) + shape)).copy()
    adv = HorizontalAdvection(grid=grid)
    vert = VerticalExchange(grid=grid)
    for _ in range(20):
        adv.advect(air, M, fl.u_kg_s, fl.v_kg_s, 1800.0)
        res = vert.mix(air, M, fl.u_kg_s, fl.v_kg_s, 1800.0)
    np.testing.assert_allclose(air / M[None], 0.3, rtol=1e-12)
    assert np.abs(res["lost_kg"]).max() <= 1e-13 * air[0].sum()


def test_exchange_rate_from_the_mean_density_of_the_two_layers_and_the_distance_of_their_middles():
    """``E = rho K A / dz`` through every interface, with ``rho`` the mean of the two layers' densities (here 1.1 and
    0.6 kg m-3 below and above the first interface, 0.6 and 0.3 above the second) and ``dz`` the distance between
    the layers' mid-heights (layers 1000, 3000 and 6000 m thick: 2000 and 4500 m)."""
    grid = LatLonGrid.regional(0, 2, 0, 1, 1.0, AirLayers((0.0, 1000.0, 4000.0, 10000.0)))
    area = grid.cell_area_m2
    rho = np.array([1.1, 0.6, 0.3])
    M = rho[:, None, None] * area[None] * np.array([1000.0, 3000.0, 6000.0])[:, None, None]
    K = np.array([[[10.0, 20.0]], [[5.0, 40.0]]])
    E = VerticalExchange(K, grid=grid).exchange_rates_kg_s(M)
    assert E.shape == (4, 1, 2) and np.all(E[0] == 0) and np.all(E[3] == 0)
    np.testing.assert_allclose(E[1], 0.85 * K[0] * area / 2000.0, rtol=1e-12)
    np.testing.assert_allclose(E[2], 0.45 * K[1] * area / 4500.0, rtol=1e-12)


def test_model_interface_and_default_exchange_time_scale():
    grid = LatLonGrid.global_grid(30.0)
    vert = VerticalExchange(grid=grid)
    M = grid.air_mass_kg()
    E = vert.exchange_rates_kg_s(M)
    tau_days = (M[0] / E[1]).mean() / 86400.0
    assert 3.0 < tau_days < 7.0  # boundary-layer ventilation of a few days

    class Stub:
        pass

    model = Stub()
    model.grid = grid
    model.air_kg = np.zeros((1,) + M.shape)
    model.air_kg[0, 0] = M[0]
    model.air_mass_kg = M
    model.mass_flux_u_kg_s = None
    model.mass_flux_v_kg_s = None
    before = model.air_kg.sum()
    res = vert.apply(model, 86400.0)
    assert res["upward_kg"][0, 1] > 0 and abs(model.air_kg.sum() - before) < 1e-13 * M[0].sum()
    assert "lost_kg" not in res  # (the model's budget covers it; the two passes over the state are skipped)


@pytest.mark.parametrize("parallel", [False, True])
def test_the_kernel_reports_the_layer_it_empties(parallel):
    """The kernel's status names, row by row, the layer (1 + its index) whose air the vertical flux empties: here
    2 kg s-1 up through the interface above layer 1 of cell (2, 3) for 1 s, which holds 1 kg."""
    nt, nl, nj, ni = 2, 3, 4, 5
    Mh = np.ones((nl, nj, ni))
    W = np.zeros((nl + 1, nj, ni))
    W[2, 2, 3] = 2.0
    m = 0.5 * np.ones((nt, nl, nj, ni))
    status = np.zeros(nj, dtype=np.int64)
    make_vertical_exchange(parallel)(m, Mh, W, np.zeros_like(W), 1.0, None, status)
    assert status.tolist() == [0, 0, 2, 0]
    air = np.ones((1, nl, nj, ni))
    with pytest.raises(VerticalExchangeError, match="empties layer 1 in latitude row 2 within dt = 1 s"):
        VerticalExchange().mix(air, Mh, None, None, 1.0, prepared=(Mh, W, np.zeros_like(W)))


def test_errors():
    grid = LatLonGrid.global_grid(30.0)
    with pytest.raises(ValueError, match="eddy diffusivity must be finite and >= 0"):
        VerticalExchange(-1.0)
    with pytest.raises(ValueError, match="needs a grid"):
        VerticalExchange().exchange_rates_kg_s(grid.air_mass_kg())
    M = grid.air_mass_kg()
    air = np.zeros((1,) + M.shape)
    with pytest.raises(ValueError, match=r"exchange_kg_s has shape .* expected"):
        VerticalExchange(grid=grid).mix(air, M, None, None, 10.0, exchange_kg_s=np.zeros(3))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        VerticalExchange(grid=grid).mix(air[:, ::-1], M, None, None, 10.0)
    U = np.zeros((grid.nlayer, grid.nlat, grid.nlon + 1))
    V = np.zeros((grid.nlayer, grid.nlat + 1, grid.nlon))
    U[:, 2, 3] = 1e9  # both layers converge into cell (2, 2): the column gains air
    with pytest.raises(VerticalExchangeError, match="not balanced"):
        VerticalExchange(grid=grid).mix(air, M, U, V, 10.0)


def _column_model(kz, mixing_in_fate, edges=(0.0, 20.0, 1000.0, 10000.0)):
    """One cell with a thin lowest layer, constant emission into it and the multimedia fate of PCB-153; the layers
    mixed by :class:`TurbulentMixing` in the fate system, or split from it by :class:`VerticalExchange`."""
    from popstransport.chemicals import get_chemical
    from popstransport.io.met.simple import UniformMet
    from popstransport.model import Model
    from popstransport.processes.emission import GriddedEmission
    from popstransport.processes.exchange import SurfaceParameters
    from popstransport.processes.fate_box import default_fate_processes
    from popstransport.processes.vertical import TurbulentMixing

    g = LatLonGrid.box(100.0, 30.0, 1.0, AirLayers(edges_m=edges))
    met = UniformMet(g, u_m_s=0.0, temperature_k=280.0, land_fraction=0.5)
    emission = GriddedEmission(lambda t: np.full((1, 1), 1e-3), g.nlayer, 3)
    fate = default_fate_processes() + ([TurbulentMixing(kz)] if mixing_in_fate else [])
    return Model(g, fate_processes=fate, met=met, emissions=emission,
                 vertical=VerticalExchange(0.0 if mixing_in_fate else kz), surface_compartments=("vegetation", "soil", "ocean"),
                 chemical=get_chemical("PCB-153"), surface_parameters=SurfaceParameters())


def test_turbulent_mixing_in_the_fate_system_does_not_depend_on_the_step():
    """With the mixing between layers solved with emission, deposition and exchange (``TurbulentMixing``) a column
    under a 20 m lowest layer reaches the same state after 15 days with 3-hour as with 15-minute steps (every process
    of the column is then in one exact solve); split from them (the emission of a step stays in the lowest layer for
    the whole step) a 3-hour step overstated the surface burden by 35 % (K = 15 m2 s-1) and 154 % (1e4). The budget
    closes; a uniform mixing ratio is kept by the transfers' rates (E / M_k up, E / M_k+1 down)."""
    from popstransport.simulation import Simulation

    def surface(kz, mixing_in_fate, dt_h):
        m = _column_model(kz, mixing_in_fate)
        periods = Simulation(m, np.datetime64("2010-01-01"), np.datetime64("2010-01-16"), dt_h * 3600.0,
                             met_update_s=86400.0, frequency="monthly").run()
        assert max(p.budget.relative_closure_error() for p in periods) < 1e-9
        return m.surface_kg[0, :, 0, 0].sum(), periods[-1].budget.rows()

    for kz, split_error in ((15.0, 0.3), (1e4, 1.4)):
        exact, rows = surface(kz, True, 0.25)
        assert surface(kz, True, 3.0)[0] == pytest.approx(exact, rel=1e-9)
        assert surface(kz, False, 3.0)[0] > (1 + split_error) * exact  # (what the split form gave)
        assert rows["turbulent_mixing_air_0_to_air_1_kg"] > 0 and rows["turbulent_mixing_air_2_to_air_1_kg"] > 0
    m = _column_model(1e3, True)
    from popstransport.processes.vertical import TurbulentMixing

    rates = {(t.source, t.target): float(np.ravel(t.rate_s)[0]) for t in TurbulentMixing(1e3).transfers(m, None)}
    M = m.air_mass_kg[:, 0, 0]
    assert rates[("air_0", "air_1")] * M[0] == pytest.approx(rates[("air_1", "air_0")] * M[1], rel=1e-14)
    assert TurbulentMixing(0.0).transfers(m, None) == []
    with pytest.raises(ValueError, match="finite and >= 0"):
        TurbulentMixing(-1.0)


def test_a_configured_model_mixes_its_layers_in_the_fate_system():
    """``build_run`` puts the turbulent mixing among the fate processes and leaves the vertical exchange the
    diagnosed air-mass flux alone; a diffusivity past the accepted maximum is refused with the reason."""
    from popstransport.config import ConfigError, load_config
    from popstransport.processes.vertical import TurbulentMixing
    from popstransport.run import build_run

    model = build_run(load_config(None, ["domain.resolution_deg=5", "processes.vertical_diffusivity_m2_s=40"])).model
    mixing = [p for p in model.fate_processes if isinstance(p, TurbulentMixing)]
    assert len(mixing) == 1 and mixing[0].eddy_diffusivity_m2_s == 40.0
    assert model.vertical.eddy_diffusivity_m2_s == 0.0
    with pytest.raises(ConfigError, match=r"vertical_diffusivity_m2_s = 1000000.0: at most 100000 m2 s-1"):
        load_config(None, ["processes.vertical_diffusivity_m2_s=1e6"])


def test_stiff_mixing_between_thin_layers_keeps_the_budget_closed():
    """Ten layers from 10 m mixed at 1e3 m2 s-1 make the cell's fate system stiff (``|K dt|`` about 1.6e5 at a 3-hour
    step); the propagators are rescaled to conserve mass, so the budget still closes to round-off (without it the
    relative closure error was 1.6e-9 here, and 1.3e-9 in a month of a 5-degree run, past DESIGN.md's 1e-9)."""
    from popstransport.simulation import Simulation

    m = _column_model(1e3, True, edges=(0.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0))
    periods = Simulation(m, np.datetime64("2010-01-01"), np.datetime64("2010-01-16"), 3 * 3600.0,
                         met_update_s=86400.0, frequency="monthly").run()
    assert max(p.budget.relative_closure_error() for p in periods) < 1e-13


def test_a_step_without_vertical_air_flux_or_exchange_skips_the_kernel(monkeypatch):
    """``VerticalExchange(0.0)`` (the model's: mixing is in the fate system) on a record with no vertical air flux
    leaves every value as it is; it solved every column every step all the same. It now skips the kernel, and still
    runs it when the record's fluxes move air between the layers."""
    import popstransport.processes.vertical as vertical_module

    grid = LatLonGrid.global_grid(30.0, layers=AirLayers((0.0, 1000.0, 10000.0)))
    M = grid.air_mass_kg()

    class Stub:
        pass

    model = Stub()
    model.grid = grid
    model.air_kg = np.random.default_rng(3).uniform(0, 1, (2,) + M.shape)
    model.air_mass_kg = M
    model.mass_flux_u_kg_s = model.mass_flux_v_kg_s = None
    vert = VerticalExchange(0.0, grid=grid)
    calls = []
    real = vertical_module.make_vertical_exchange
    monkeypatch.setattr(vertical_module, "make_vertical_exchange", lambda *a: calls.append(a) or real(*a))
    before = model.air_kg.copy()
    res = vert.apply(model, 3600.0)
    assert calls == [] and np.array_equal(model.air_kg, before)
    assert res["upward_kg"].shape == (2, 3) and not res["upward_kg"].any()
    assert vert.apply(model, 3600.0, report_upward=False) == {}
    # a divergent flow in the lowest layer, converging aloft: the record's air moves up, and the kernel runs
    rng = np.random.default_rng(4)
    U = np.zeros((2, grid.nlat, grid.nlon + 1))
    V = np.zeros((2, grid.nlat + 1, grid.nlon))
    U[0, :, :-1] = rng.normal(0, 1e6, (grid.nlat, grid.nlon))
    U[0, :, -1] = U[0, :, 0]  # (periodic: the last face is the first)
    U[1] = -U[0]
    model.mass_flux_u_kg_s, model.mass_flux_v_kg_s = U, V
    res = vert.apply(model, 3600.0)
    assert len(calls) == 1 and np.abs(res["upward_kg"]).max() > 0
    expected = before.copy()
    VerticalExchange(0.0, grid=grid).mix(expected, M, U, V, 3600.0)
    np.testing.assert_array_equal(model.air_kg, expected)
