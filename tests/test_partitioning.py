"""Fugacity capacities and gas-particle partitioning against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from popstransport.chemicals import ChemicalError, get_chemical
from popstransport.grid import AirLayers, LatLonGrid
from popstransport.processes.base import Forcing
from popstransport.processes.exchange import FateContext, SurfaceParameters, z_soil, z_vegetation, z_water_bulk
from popstransport.processes.partitioning import (
    GasParticlePartitioning,
    particle_fraction_harner_bidleman,
    particle_fraction_junge_pankow,
    z_air,
    z_octanol,
    z_sorbent,
    z_water,
)

R = 8.314462618


def test_z_values_by_hand():
    p = get_chemical("PCB-153")
    t = 298.15
    za = 1.0 / (R * t)
    assert z_air(t) == pytest.approx(za)
    assert z_water(p, t) == pytest.approx(za / 10**-2.13)
    assert z_octanol(p, t) == pytest.approx(za * 10**9.45)
    # sorbent: Z_w * 0.41 Kow * foc * rho/1000
    assert z_sorbent(p, t, 0.02, 2400.0) == pytest.approx(za / 10**-2.13 * 0.41 * 10**7.31 * 0.02 * 2.4)


def test_soil_vegetation_and_water_bulk_z():
    p = get_chemical("alpha-HCH")
    sp = SurfaceParameters()
    t = 283.15
    za, zw = z_air(t), z_water(p, t)
    zs = z_sorbent(p, t, sp.soil_organic_carbon_fraction, sp.soil_solids_density_kg_m3)
    assert z_soil(p, t, sp) == pytest.approx(0.2 * za + 0.3 * zw + 0.5 * zs)
    assert z_vegetation(p, t, sp) == pytest.approx(0.2 * za + 0.79 * zw + 0.01 * z_octanol(p, t))
    kd = 0.41 * p.kow(t) * 0.2 / 1000.0
    assert z_water_bulk(p, t, 1e-4, 0.2) == pytest.approx(zw * (1 + kd * 1e-4))


def test_harner_bidleman_by_hand():
    # log Kp = log Koa + log f_om - 11.91; phi = Kp TSP / (1 + Kp TSP)
    koa = 10**10.0
    kp = 10 ** (10.0 + math.log10(0.2) - 11.91)
    assert particle_fraction_harner_bidleman(koa, 30.0, 0.2) == pytest.approx(kp * 30 / (1 + kp * 30))
    assert particle_fraction_harner_bidleman(koa, 30.0, 0.2) == pytest.approx(0.06874, abs=1e-5)


def test_junge_pankow_by_hand():
    # phi = c theta / (pL + c theta), c = 17.2 Pa cm
    assert particle_fraction_junge_pankow(0.027, 3.5e-6) == pytest.approx(17.2 * 3.5e-6 / (0.027 + 17.2 * 3.5e-6))
    gp = GasParticlePartitioning("junge_pankow")
    pcb28 = get_chemical("PCB-28")
    assert gp.particle_fraction(pcb28, 298.15) == pytest.approx(6.02e-5 / (0.027 + 6.02e-5))
    with pytest.raises(ChemicalError, match="no liquid vapour pressure"):
        gp.particle_fraction(get_chemical("HCB"), 280.0)


def test_particle_fraction_rises_in_cold_air_and_with_koa():
    gp = GasParticlePartitioning()
    t = np.array([253.15, 273.15, 298.15])
    for name in ("PCB-28", "PCB-153", "benzo[a]pyrene"):
        phi = gp.particle_fraction(get_chemical(name), t)
        assert np.all(np.diff(phi) < 0)
        assert np.all((phi >= 0) & (phi <= 1))
    phis = [gp.particle_fraction(get_chemical(n), 273.15) for n in ("HCB", "PCB-28", "PCB-153", "PCB-180")]
    assert phis == sorted(phis)
    # BaP (log Koa 11.56) is mostly particle-bound at 298 K (0.73 at 30 ug m-3), HCB (7.07) almost entirely gaseous
    assert gp.particle_fraction(get_chemical("BaP"), 298.15) > 0.7
    assert gp.particle_fraction(get_chemical("HCB"), 298.15) < 1e-3


def test_particle_fraction_field_per_layer():
    grid = LatLonGrid.regional(0, 4, 0, 2, 1.0, AirLayers((0.0, 1000.0, 5000.0)))
    ctx = FateContext(grid, get_chemical("PCB-153"), land_fraction=0.5)
    t = np.full((2, 2, 4), 270.0)
    t[:, :, 2:] = 290.0
    phi = GasParticlePartitioning().particle_fraction_field(ctx, Forcing({"air_temperature_k": t}))
    assert phi.shape == (2, 2, 4)
    assert np.all(phi[:, :, :2] > phi[:, :, 2:])
    assert np.all(phi[0] > phi[1])  # less aerosol aloft
    tsp = GasParticlePartitioning().particle_concentration_profile(grid.layers)
    assert tsp[0] == pytest.approx(30 * 1500 * (1 - math.exp(-1000 / 1500)) / 1000)


def test_partitioning_errors():
    with pytest.raises(ValueError, match="gas-particle scheme 'pankow'"):
        GasParticlePartitioning("pankow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="organic_matter_fraction"):
        GasParticlePartitioning(organic_matter_fraction=0.0)
    assert GasParticlePartitioning().transfers(None, None) == []
