"""Screening indicators: CTD against the analytic 1-D plume, Pov definitions, TE bounds, the substance table."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from popstransport.chemicals import get_chemical, list_chemicals
from popstransport.processes.exchange import SurfaceParameters
from popstransport.processes.fate import Transfer
from popstransport.processes.fate_box import rate_matrices, steady_state
from popstransport.screening import (
    CTD_WIND_SPEED_M_S,
    UNIT_WORLD_LAND_FRACTION,
    UNIT_WORLD_WATER_DEPTH_M,
    format_screening,
    net_deposition_kg_s,
    screen,
    screen_table,
    unit_world,
)


def plume_efolding_length_m(u: float, k: float, dx: float, n: int = 400) -> float:
    """Steady 1-D plume: a chain of boxes with upwind advection u/dx and loss k; e-folding length of the mass."""
    comps = tuple(f"b{i}" for i in range(n))
    tr = [Transfer("loss", c, "degraded", k) for c in comps]
    tr += [Transfer("advection", comps[i], comps[i + 1], u / dx) for i in range(n - 1)]
    tr += [Transfer("outflow", comps[-1], "degraded", u / dx)]
    kk, _, _ = rate_matrices(tr, comps)
    e = np.zeros(n)
    e[0] = 1.0
    m = steady_state(kk, e)
    x = dx * np.arange(n)
    slope = np.polyfit(x[: n // 2], np.log(m[: n // 2]), 1)[0]
    return -1.0 / slope


def test_ctd_of_an_advected_plume_is_u_over_k():
    u, k = 4.0, 1.0 / (10 * 86400.0)
    ctd_analytic = u / k  # 3456 km
    # the steady air mass of a single box with loss k gives CTD = u M / E = u / k exactly
    tr = [Transfer("loss", "air_0", "degraded", k)]
    kk, _, _ = rate_matrices(tr, ("air_0",))
    assert u * steady_state(kk, np.array([1.0]))[0] == pytest.approx(ctd_analytic, rel=1e-14)
    # the discretised plume converges to the same distance (first-order upwind error k dx / 2u)
    for dx, tol in ((100e3, 0.02), (10e3, 0.002)):
        assert plume_efolding_length_m(u, k, dx) == pytest.approx(ctd_analytic, rel=tol)


def test_screen_ctd_equals_u_times_air_mass_over_emission():
    r = screen("PCB-28")
    box = unit_world("PCB-28")
    m = box.steady_state({"air_0": 1.0})
    assert r.ctd_km == pytest.approx(CTD_WIND_SPEED_M_S * m[0] / 1e3, rel=1e-12)
    # deposition and exchange only shorten the travel distance below that of air degradation alone
    k_air = get_chemical("PCB-28").degradation_rate_s("air", 298.15)
    assert r.ctd_km < CTD_WIND_SPEED_M_S / k_air / 1e3


def test_gas_only_persistent_chemical_has_ctd_close_to_u_over_k_air():
    # switch off every surface uptake: tiny rain, no particles, Kaw huge -> air is the only sink path
    chem = get_chemical("HCB", overrides={"log_kaw": 3.0, "log_koa": 3.0, "log_kow": 6.0})
    r = screen(chem, precipitation_m_s=0.0)
    k_air = chem.degradation_rate_s("air", 298.15)
    assert r.ctd_km == pytest.approx(CTD_WIND_SPEED_M_S / k_air / 1e3, rel=1e-3)
    assert r.pov_days["air"] == pytest.approx(1 / k_air / 86400, rel=1e-3)


def _total_rate_s(box, source: str, target: str) -> float:
    """Sum of the rate constants (s-1) of every transfer from ``source`` to ``target``."""
    return sum(rate for tr, rate in box.transfers if tr.source == source and tr.target == target)


#: The unit world's surface parameters with burial, leaching and deep-ocean settling switched off.
NO_SURFACE_SINKS = SurfaceParameters(ocean_mixed_layer_depth_m=UNIT_WORLD_WATER_DEPTH_M, soil_burial_velocity_m_s=0.0,
                                     soil_infiltration_fraction=0.0, ocean_particle_flux_kg_m2_s=0.0)


@pytest.mark.parametrize("name", ["PCB-28", "PCB-153", "alpha-HCH", "benzo[a]pyrene"])
def test_chemical_degrading_only_in_air_with_no_surface_sinks(name):
    """Air degradation as the only way out: whatever is deposited comes back, so at steady state
    ``k_air M_air = E`` for every emission medium (CTD = u / k_air, TE = 0), each surface compartment X holds
    ``M_X = (k_air->X / k_X->air) M_air`` plus, when emitted into, ``E / k_X->air`` (its volatilisation time)."""
    chem = get_chemical(name, overrides={"half_life_soil": 1e18, "half_life_ocean": 1e18, "half_life_freshwater": 1e18})
    r = screen(chem, surface_parameters=NO_SURFACE_SINKS)
    box = unit_world(chem, surface_parameters=NO_SURFACE_SINKS)
    assert set(box.sinks) <= {"degraded", "leached", "buried", "settled"}
    k_air = chem.degradation_rate_s("air", 298.15)
    assert r.ctd_km == pytest.approx(CTD_WIND_SPEED_M_S / k_air / 1e3, rel=1e-6)
    assert abs(r.te_percent) < 1e-4
    storage = {x: _total_rate_s(box, "air_0", x) / _total_rate_s(box, x, "air_0") for x in ("soil", "ocean")}
    assert r.pov_days["air"] == pytest.approx((1.0 + sum(storage.values())) / k_air / 86400, rel=1e-6)
    for medium, x in (("soil", "soil"), ("water", "ocean")):
        volatilisation_days = 1.0 / _total_rate_s(box, x, "air_0") / 86400
        assert r.pov_days[medium] == pytest.approx(r.pov_days["air"] + volatilisation_days, rel=1e-6)


def test_non_volatile_chemical_stays_where_it_lands():
    """Kaw -> 0 (with Koa = Kow / Kaw, so particle-bound): rain and particles clear the air within hours and
    nothing volatilises back. Emitted to water or soil it is removed there only; emitted to air it is shared
    between soil and ocean by area (the unit world's land fraction), and almost all of it reaches the surface."""
    chem = get_chemical("alpha-HCH", overrides={"log_kaw": -12.0, "log_kow": 3.8, "log_koa": 15.8})
    r = screen(chem)
    box = unit_world(chem)
    k_soil = chem.degradation_rate_s("soil", 298.15) + box.rate("leaching_soil") + box.rate("burial_soil")
    k_water = chem.degradation_rate_s("ocean", 298.15) + box.rate("settling_ocean")
    assert r.pov_days["soil"] == pytest.approx(1.0 / k_soil / 86400, rel=1e-6)
    assert r.pov_days["water"] == pytest.approx(1.0 / k_water / 86400, rel=1e-6)
    lf = UNIT_WORLD_LAND_FRACTION
    assert r.pov_days["air"] == pytest.approx(lf * r.pov_days["soil"] + (1 - lf) * r.pov_days["water"], rel=1e-3)
    k_out_of_air = sum(rate for tr, rate in box.transfers if tr.source == "air_0")
    assert r.ctd_km == pytest.approx(CTD_WIND_SPEED_M_S / k_out_of_air / 1e3, rel=1e-6)
    assert r.ctd_km < 20.0
    assert r.te_percent > 99.9
    assert r.particle_fraction > 0.999


def test_pov_definitions_and_steady_state_balance():
    box = unit_world("PCB-153")
    r = screen("PCB-153")
    for medium, comp in (("air", "air_0"), ("water", "ocean"), ("soil", "soil")):
        m = box.steady_state({comp: 1.0})
        assert r.pov_days[medium] == pytest.approx(m.sum() / 86400, rel=1e-12)
        sink_flux = sum(row @ m for row in box.sinks.values())
        assert sink_flux == pytest.approx(1.0, rel=1e-10)  # emission = removal at steady state
    assert r.pov_max_days == max(r.pov_days.values())
    assert sum(r.mass_fractions["air"].values()) == pytest.approx(1.0)


def test_pov_with_respect_to_degradation_is_the_tools_definition():
    """The Tool divides the steady-state mass by the degradation fluxes only; burial, leaching and settling count
    as losses in ``pov_days`` (the residence time) but not in ``pov_degradation_days``."""
    box = unit_world("PCB-153")
    r = screen("PCB-153")
    for medium, comp in (("air", "air_0"), ("water", "ocean"), ("soil", "soil")):
        m = box.steady_state({comp: 1.0})
        degraded = box.sinks["degraded"] @ m
        assert r.pov_degradation_days[medium] == pytest.approx(m.sum() / degraded / 86400, rel=1e-12)
        assert r.pov_days[medium] == pytest.approx(degraded * r.pov_degradation_days[medium], rel=1e-12)
    assert r.pov_degradation_days["water"] > 1.2 * r.pov_days["water"]  # a fifth of it settles below 100 m
    # with degradation the only loss the two definitions agree
    alone = screen("PCB-153", surface_parameters=NO_SURFACE_SINKS)
    for medium in ("air", "water", "soil"):
        assert alone.pov_degradation_days[medium] == pytest.approx(alone.pov_days[medium], rel=1e-12)


def test_transfer_efficiency_bounds_and_definition():
    for name in ("PCB-28", "alpha-HCH", "benzo[a]pyrene"):
        r = screen(name)
        assert 0.0 <= r.te_percent <= 100.0
        box = unit_world(name)
        m = box.steady_state({"air_0": 1.0})
        assert r.te_percent == pytest.approx(100 * net_deposition_kg_s(box, m), rel=1e-12)
        # at steady state the surface takes up net exactly what it loses: degradation, leaching, burial, settling
        losses = sum(rate * m[box.compartments.index(tr.source)] for tr, rate in box.transfers
                     if tr.source in ("soil", "ocean") and tr.target not in box.compartments)
        assert r.te_percent == pytest.approx(100 * losses, rel=1e-9)


def test_cold_unit_world_is_more_persistent():
    warm, cold = screen("PCB-153"), screen("PCB-153", temperature_k=273.15)
    assert cold.pov_days["air"] > warm.pov_days["air"]


def test_table_lists_every_substance():
    text = screen_table(["PCB-28", "HCB"])
    assert "PCB-28" in text and "HCB" in text and "CTD km" in text
    assert len(list_chemicals()) >= 15
    assert "Pov air d" in format_screening([screen("DDT")])
    assert math.isfinite(screen("BDE-47").ctd_km)


def test_table_columns_stay_aligned_with_a_long_user_name():
    """A user substance named longer than 16 characters pushed its row's numbers out of their columns."""
    long = dataclasses.replace(screen("HCB"), chemical="Dechlorane Plus, syn-isomer")
    lines = format_screening([long, screen("HCB")]).splitlines()
    assert len(lines[0]) == len(lines[2]) == len(lines[3])
    assert lines[0].index("CTD km") + len("CTD km") == lines[2].index(f"{long.ctd_km:.4g}") + len(f"{long.ctd_km:.4g}")
