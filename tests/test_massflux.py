"""Balanced air-mass fluxes: column continuity after the Poisson solve, the diagnosed vertical flux, and a uniform
mixing ratio that stays uniform under real ERA-Interim winds through horizontal advection and vertical exchange."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from popstransport.grid import AirLayers, LatLonGrid
from popstransport.massflux import (
    BalancedMassFluxBuilder,
    MassFluxBalancer,
    balanced_mass_fluxes,
    diagnose_vertical_mass_flux,
    face_mass_fluxes,
    horizontal_divergence_kg_s,
)
from popstransport.processes.advection import HorizontalAdvection
from popstransport.processes.base import Forcing
from popstransport.processes.vertical import VerticalExchange, VerticalExchangeError

MET = Path(__file__).resolve().parents[2] / "shared" / "data" / "met"
ERA = MET / "eraint_uvz.nc"


def _random_winds(grid, seed):
    rng = np.random.default_rng(seed)
    shape = (grid.nlayer, grid.nlat, grid.nlon)
    return rng.normal(0, 10, shape), rng.normal(0, 10, shape)


@pytest.mark.parametrize("topology", ["global", "regional", "band", "band_to_pole"])
def test_balancing_removes_the_column_divergence(topology):
    """Balanced fluxes have no column divergence on global grids, bounded regional ones and zonal bands (periodic
    in longitude, open at the south and north edges; one that reaches the pole has a wall there)."""
    layers = AirLayers((0.0, 1000.0, 4000.0, 10000.0))
    if topology == "global":
        grid = LatLonGrid.global_grid(10.0, layers=layers)
    elif topology == "band":
        grid = LatLonGrid.regional(-180, 180, 20, 80, 10.0, layers=layers)
    elif topology == "band_to_pole":
        grid = LatLonGrid.regional(0, 360, 30, 90, 10.0, layers=layers)
    else:
        grid = LatLonGrid.regional(-20, 40, 30, 70, 5.0, layers=layers)
    u, v = _random_winds(grid, 1)
    U0, V0 = face_mass_fluxes(grid, u, v)
    col0 = np.abs(horizontal_divergence_kg_s(U0.sum(0), V0.sum(0))).max()
    fl = balanced_mass_fluxes(grid, u, v)
    col = horizontal_divergence_kg_s(fl.u_kg_s.sum(0), fl.v_kg_s.sum(0))
    assert np.abs(col).max() < 1e-13 * np.abs(U0).max()
    assert col0 > 1e6 * np.abs(col).max()  # there was something to remove
    # the vertical flux closes every layer's continuity and vanishes at the top
    np.testing.assert_allclose(fl.w_kg_s[-1], 0.0, atol=1e-13 * np.abs(U0).max())
    div = horizontal_divergence_kg_s(fl.u_kg_s, fl.v_kg_s)
    np.testing.assert_allclose(div + np.diff(fl.w_kg_s, axis=0), 0.0, atol=1e-12 * np.abs(U0).max())
    if topology != "regional":
        # face I is face 0 (the seam is inside the domain): the same flux, so nothing leaves or enters there
        np.testing.assert_array_equal(fl.u_kg_s[:, :, 0], fl.u_kg_s[:, :, -1])
    if topology == "global":
        assert not fl.v_kg_s[:, 0].any() and not fl.v_kg_s[:, -1].any()
    if topology == "band_to_pole":
        assert not fl.v_kg_s[:, -1].any() and fl.v_kg_s[:, 0].any()  # the pole is a wall, the south edge is open
    if topology == "band":
        assert fl.v_kg_s[:, 0].any() and fl.v_kg_s[:, -1].any()  # open south and north edges


def test_balancing_leaves_non_divergent_fluxes_alone():
    grid = LatLonGrid.global_grid(15.0, layers=AirLayers((0.0, 1000.0)))
    rng = np.random.default_rng(3)
    psi = rng.normal(0, 1e9, (grid.nlat + 1, grid.nlon + 1))
    psi[:, -1] = psi[:, 0]
    psi[0] = psi[0, 0]
    psi[-1] = psi[-1, 0]
    U = np.ascontiguousarray((-(psi[1:] - psi[:-1]))[None])
    V = np.ascontiguousarray((psi[:, 1:] - psi[:, :-1])[None])
    Ub, Vb = MassFluxBalancer(grid).balance(U, V)
    np.testing.assert_allclose(Ub, U, rtol=0, atol=1e-12 * np.abs(U).max())
    np.testing.assert_allclose(Vb, V, rtol=0, atol=1e-12 * np.abs(U).max())


def test_vertical_flux_is_diagnosed_from_continuity():
    U = np.zeros((2, 1, 2))
    V = np.zeros((2, 2, 1))
    U[0, 0, 1] = 3.0  # layer 0 loses 3 kg/s to the east ...
    U[1, 0, 1] = -3.0  # ... layer 1 gains them back: air rises from layer 0 into layer 1 in cell 0
    W = diagnose_vertical_mass_flux(U, V)
    assert W.shape == (3, 1, 1)
    np.testing.assert_allclose(W[:, 0, 0], [0.0, -3.0, 0.0])


def test_unbalanced_fluxes_are_refused_by_vertical_exchange():
    grid = LatLonGrid.global_grid(30.0)
    u, v = _random_winds(grid, 5)
    U, V = face_mass_fluxes(grid, u, v)
    air = np.ones((1, grid.nlayer, grid.nlat, grid.nlon))
    with pytest.raises(VerticalExchangeError, match="not balanced"):
        VerticalExchange(grid=grid).mix(air, grid.air_mass_kg(), U, V, 3600.0)


def test_builder_uses_given_fluxes_or_balances_winds():
    grid = LatLonGrid.global_grid(30.0)
    u, v = _random_winds(grid, 9)
    b = BalancedMassFluxBuilder()
    U, V = b(grid, grid.air_mass_kg(), Forcing({"eastward_wind_m_s": u, "northward_wind_m_s": v}))
    assert np.abs(horizontal_divergence_kg_s(U.sum(0), V.sum(0))).max() < 1e-13 * np.abs(U).max()
    U2, V2 = b(grid, grid.air_mass_kg(), Forcing({"mass_flux_u_kg_s": U, "mass_flux_v_kg_s": V}))
    assert U2 is U and V2 is V


def _era_winds(grid: LatLonGrid, month: int) -> tuple[np.ndarray, np.ndarray]:
    xr = pytest.importorskip("xarray")
    # (the sample's packed int16 variables declare a NaN _FillValue, which xarray drops with a warning)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-conforming '_FillValue'")
        ds0 = xr.open_dataset(ERA)
    with ds0 as ds:
        ds = ds.sel(month=month).sortby("latitude")
        lat = xr.DataArray(grid.lat_deg, dims="lat")
        lon = xr.DataArray(grid.lon_deg, dims="lon")
        out = []
        for name in ("u", "v"):
            layers = [ds[name].sel(level=p).interp(latitude=lat, longitude=lon).values for p in (850, 500)]
            out.append(np.ascontiguousarray(np.stack(layers)))
    return out[0], out[1]


@pytest.mark.skipif(not ERA.is_file(), reason="ERA-Interim sample ../shared/data/met/eraint_uvz.nc is not present")
@pytest.mark.parametrize("month", [1, 7])
def test_uniform_mixing_ratio_stays_uniform_under_era_interim_winds(month):
    grid = LatLonGrid.global_grid(4.0, layers=AirLayers((0.0, 1500.0, 10000.0)))
    u, v = _era_winds(grid, month)
    assert np.all(np.isfinite(u)) and np.abs(u).max() > 10.0
    M = grid.air_mass_kg()
    fl = balanced_mass_fluxes(grid, u, v, M)
    # the two layers really exchange air: the diagnosed vertical flux is not small
    assert np.abs(fl.w_kg_s[1]).max() > 1e-3 * np.abs(fl.u_kg_s).max()
    q0 = 2.5e-9
    air = np.ascontiguousarray(np.broadcast_to(q0 * M, (2,) + M.shape)).copy()
    adv = HorizontalAdvection("ppm", grid=grid)
    vert = VerticalExchange(grid=grid)
    for _ in range(24):
        adv.advect(air, M, fl.u_kg_s, fl.v_kg_s, 3600.0)
        res = vert.mix(air, M, fl.u_kg_s, fl.v_kg_s, 3600.0)
    q = air / M[None]
    assert np.abs(q / q0 - 1.0).max() < 1e-12
    assert np.abs(res["lost_kg"]).max() < 1e-13 * air[0].sum()


@pytest.mark.skipif(not ERA.is_file(), reason="ERA-Interim sample ../shared/data/met/eraint_uvz.nc is not present")
def test_unbalanced_era_interim_winds_do_not_keep_a_uniform_mixing_ratio():
    grid = LatLonGrid.global_grid(6.0, layers=AirLayers((0.0, 1500.0, 10000.0)))
    u, v = _era_winds(grid, 1)
    M = grid.air_mass_kg()
    U, V = face_mass_fluxes(grid, u, v, M)
    air = 1e-9 * M[None].copy()
    HorizontalAdvection("ppm", grid=grid).advect(air, M, U, V, 3600.0)
    q = air / M[None]
    assert np.abs(q / 1e-9 - 1.0).max() > 1e-6
