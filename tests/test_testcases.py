"""Transport test cases: discretely non-divergent fluxes, exact solutions, the verification runner."""

from __future__ import annotations

import numpy as np
import pytest

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.io.met.testcases import (
    TestCaseError,
    TestCaseMet,
    deformational_flow,
    get_test_case,
    solid_body_rotation,
    test_case_mass_fluxes,
)
from popstransport.massflux import horizontal_divergence_kg_s
from popstransport.processes.base import Forcing
from popstransport.verification import error_norms, format_results, run_verification

GRID = LatLonGrid.global_grid(7.5, layers=AirLayers((0.0, 1000.0, 5000.0)))


@pytest.mark.parametrize(
    "case",
    [solid_body_rotation(0.0), solid_body_rotation(np.pi / 2 - 0.05), solid_body_rotation(np.pi / 2),
     deformational_flow("cosine_bells")],
)
@pytest.mark.parametrize("t", [0.0, 2.3e5])
def test_fluxes_are_discretely_non_divergent_and_closed_at_the_poles(case, t):
    U, V = case.mass_fluxes(GRID, t, 3600.0)
    div = horizontal_divergence_kg_s(U, V)
    assert np.abs(div).max() < 1e-14 * np.abs(U).max() * 8
    np.testing.assert_array_equal(U[..., 0], U[..., -1])
    assert not V[:, 0].any() and not V[:, -1].any()


def test_solid_body_fluxes_match_the_analytic_wind():
    case = solid_body_rotation(0.7)
    grid = LatLonGrid.global_grid(2.0, layers=AirLayers((0.0, 1000.0)))
    U, V = case.mass_fluxes(grid)
    sigma = grid.layers.air_mass_per_area_kg_m2()[0]
    u, v = case.winds_m_s(grid)
    # flux through a wall / (sigma * length) is the mean normal wind on the wall
    uf = U[0, :, :-1] / (sigma * grid.u_face_length_m[:, :-1])
    lon = np.deg2rad(grid.lon_edges_deg[:-1])[None, :]
    lat = np.deg2rad(grid.lat_deg)[:, None]
    scale = grid.radius_m / 6.37122e6
    u_exact = 2 * np.pi * 6.37122e6 / case.period_s * scale * (
        np.cos(lat) * np.cos(0.7) + np.sin(lat) * np.cos(lon) * np.sin(0.7)
    )
    np.testing.assert_allclose(uf, u_exact, atol=2e-3 * np.abs(u_exact).max())
    assert np.abs(u).max() == pytest.approx(2 * np.pi * grid.radius_m / case.period_s, rel=1e-3)


def test_exact_solid_body_solution_rotates_the_bell():
    case = solid_body_rotation(np.pi / 2)
    grid = LatLonGrid.global_grid(2.0, layers=AirLayers((0.0, 1000.0)))
    q0 = case.initial_mixing_ratio(grid)
    np.testing.assert_allclose(case.exact_mixing_ratio(grid, case.period_s), q0, atol=1e-12)
    quarter = case.exact_mixing_ratio(grid, case.period_s / 4)
    j, i = np.unravel_index(np.argmax(quarter), quarter.shape)
    assert abs(grid.lat_deg[j]) > 85.0  # over a pole after a quarter revolution
    A = grid.cell_area_m2
    assert abs((quarter * A).sum() - (q0 * A).sum()) < 0.02 * (q0 * A).sum()


@pytest.mark.parametrize("shape", ["gaussian_hills", "cosine_bells", "slotted_cylinders"])
def test_deformational_initial_fields(shape):
    grid = LatLonGrid.global_grid(1.0, layers=AirLayers((0.0, 1000.0)))
    q = deformational_flow(shape).initial_mixing_ratio(grid)
    lo, hi = {"gaussian_hills": (0.0, 0.95), "cosine_bells": (0.1, 0.99), "slotted_cylinders": (0.1, 1.0)}[shape]
    assert q.min() >= lo - 1e-12 and q.max() >= hi and q.max() <= 1.01
    if shape == "slotted_cylinders":
        assert set(np.unique(q)) == {0.1, 1.0}
        assert 0.05 < (q == 1.0).mean() < 0.2
    with pytest.raises(TestCaseError, match="only at whole periods"):
        deformational_flow(shape).exact_mixing_ratio(grid, 1000.0)


def test_registry_names_valid_cases_and_shapes():
    with pytest.raises(TestCaseError, match="valid names: .*deformational_flow.*solid_body_rotation"):
        get_test_case("vortex")
    with pytest.raises(TestCaseError, match="valid shapes"):
        deformational_flow("cubes")
    assert get_test_case("solid_body_rotation", alpha_rad=0.3).parameters["alpha_rad"] == 0.3


def test_met_provider_and_flux_builder():
    case = deformational_flow("gaussian_hills")
    met = TestCaseMet(GRID, case, np.datetime64("2000-01-01T00:00"), 3600.0)
    fields = met.fields_at(np.datetime64("2000-01-01T06:00"))
    U, V = test_case_mass_fluxes(GRID, GRID.air_mass_kg(), Forcing(fields))
    U2, V2 = case.mass_fluxes(GRID, 6 * 3600.0, 3600.0)
    np.testing.assert_array_equal(U, U2)
    assert fields["eastward_wind_m_s"].shape == (GRID.nlayer, GRID.nlat, GRID.nlon)


def test_error_norms_of_williamson_1992():
    a = np.ones((2, 2))
    q_exact = np.array([[1.0, 0.0], [0.0, 0.0]])
    q = np.array([[0.5, 0.5], [0.0, 0.0]])
    e = error_norms(q, q_exact, a)
    assert e == pytest.approx({"l1": 1.0, "l2": np.sqrt(0.5), "linf": 0.5})


def test_run_verification_reports_norms_and_conserves_mass():
    r = run_verification("solid_body_rotation", 11.25, alpha_rad=np.pi / 4)
    assert r["nlon"] == 32 and r["nlat"] == 16 and r["steps"] > 0
    assert abs(r["mass_error"]) < 1e-13
    assert 0 < r["l2"] < 1 and r["min"] >= 0 and r["max"] <= 1
    r2 = run_verification("deformational_flow", 11.25, shape="cosine_bells", steps_per_period=60)
    assert r2["steps"] == 60 and abs(r2["mass_error"]) < 1e-13 and r2["min"] >= 0.1 - 1e-12
    table = format_results([r, r2])
    assert "l2" in table and "cosine_bells" in table
    with pytest.raises(TestCaseError, match="valid names"):
        run_verification("swirl")
