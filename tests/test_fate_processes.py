"""Fate processes: each alone in a box against its closed-form rate; the whole system in a box against exact
linear-algebra solutions; positivity and budget closure with the model's solver; the OH climatology."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from popstransport.chemicals import get_chemical
from popstransport.grid import AirLayers, LatLonGrid
from popstransport.processes.base import Forcing
from popstransport.processes.degradation import OHDegradation, SurfaceDegradation
from popstransport.processes.deposition import DryParticleDeposition, WetDeposition
from popstransport.processes.exchange import (
    DiffusiveExchange,
    FateContext,
    FreshwaterSedimentExchange,
    Litterfall,
    OceanSettling,
    SoilBurial,
    SoilLeaching,
    SurfaceParameters,
    sorbed_fraction_in_water,
    z_soil,
    z_vegetation,
    z_water_bulk,
)
from popstransport.processes.fate import FateSolver
from popstransport.processes.fate_box import box_model, collect_transfers, default_fate_processes, propagate
from popstransport.processes.oh import OHClimatology, load_oh_table, oh_climatology, oh_concentration_field
from popstransport.processes.partitioning import GasParticlePartitioning, z_air, z_water

R = 8.314462618
P = 1.0 / (365 * 86400.0)  # 1 m/yr
T = 283.15
LF = 0.3
H0 = 1000.0


def alone(chemical, process, compartments=("vegetation", "soil", "ocean"), **kw):
    return box_model(
        chemical,
        air_temperature_k=T,
        precipitation_m_s=P,
        land_fraction=LF,
        surface_compartments=compartments,
        processes=[process],
        **kw,
    )


def phi(chemical, t=T):
    return float(GasParticlePartitioning().particle_fraction(get_chemical(chemical), t, 30 * 1.5 * (1 - math.exp(-1 / 1.5))))


def kaw_hand(log_kaw, du_aw, t):
    return 10**log_kaw * math.exp(du_aw / R * (1 / 298.15 - 1 / t))


# --- each process alone against its closed form ---------------------------------------------------------------
def test_wet_gas_deposition_alone():
    box = alone("HCB", WetDeposition())
    expected = P * (1 - phi("HCB")) / (kaw_hand(-1.57, 50731, T) * H0)
    assert box.rate("wet_deposition_gas") == pytest.approx(expected, rel=1e-12)
    assert box.rate("wet_deposition_gas", target="soil") == pytest.approx(LF * expected, rel=1e-12)
    assert box.rate("wet_deposition_gas", target="ocean") == pytest.approx((1 - LF) * expected, rel=1e-12)
    # transient: air decays with the total wet rate, the rest sits in soil/ocean/vegetation in proportion
    k = box.rate("wet_deposition_gas") + box.rate("wet_deposition_particle")
    t = 30 * 86400.0
    x = box.solve({"air_0": 1.0}, None, t)
    assert x[0] == pytest.approx(math.exp(-k * t), rel=1e-10)
    assert x.sum() == pytest.approx(1.0, rel=1e-12)


def test_particle_wet_and_dry_deposition_alone():
    f = phi("benzo[a]pyrene")
    box = alone("BaP", WetDeposition())
    assert box.rate("wet_deposition_particle") == pytest.approx(P * 2e5 * f / H0, rel=1e-12)
    # half of the particle deposition to land is intercepted by foliage
    assert box.rate("wet_deposition_particle", target="vegetation") == pytest.approx(0.5 * LF * P * 2e5 * f / H0)
    dry = alone("BaP", DryParticleDeposition())
    assert dry.rate("dry_deposition_particle") == pytest.approx(10.8 / 3600 * f / H0, rel=1e-12)
    assert dry.rate("dry_deposition_particle", target="ocean") == pytest.approx((1 - LF) * 0.003 * f / H0, rel=1e-12)
    no_veg = alone("BaP", DryParticleDeposition(), compartments=("soil", "ocean"))
    assert no_veg.rate("dry_deposition_particle", target="soil") == pytest.approx(LF * 0.003 * f / H0, rel=1e-12)


def test_oh_degradation_alone():
    box = alone("alpha-HCH", OHDegradation(), oh_concentration_molec_cm3=1.5e6)
    k_oh = 1.4e-13 * math.exp(11200 / R * (1 / 298.15 - 1 / T))
    assert box.rate("degradation_oh") == pytest.approx(k_oh * 1.5e6 * (1 - phi("alpha-HCH")), rel=1e-12)
    # particle-bound BaP is protected unless told otherwise
    f = phi("BaP")
    b0 = alone("BaP", OHDegradation(), oh_concentration_molec_cm3=1e6).rate("degradation_oh")
    b1 = alone("BaP", OHDegradation(1.0), oh_concentration_molec_cm3=1e6).rate("degradation_oh")
    assert b0 == pytest.approx(b1 * (1 - f), rel=1e-12)
    with pytest.raises(ValueError, match="particle_phase_reactivity"):
        OHDegradation(2.0)


def test_surface_degradation_alone():
    box = box_model("PCB-28", air_temperature_k=T, processes=[SurfaceDegradation()])
    arr = math.exp(30000 / R * (1 / 298.15 - 1 / T))
    assert box.rate("degradation_soil") == pytest.approx(math.log(2) / (55000 * 3600) * arr, rel=1e-12)
    assert box.rate("degradation_ocean") == pytest.approx(math.log(2) / (17000 * 3600) * arr, rel=1e-12)
    assert box.rate("degradation_vegetation") == pytest.approx(math.log(2) / (17000 * 3600) * arr, rel=1e-12)
    t = 365 * 86400.0
    x = box.solve({"soil": 1.0}, None, t)
    assert x[box.compartments.index("soil")] == pytest.approx(math.exp(-box.rate("degradation_soil") * t), rel=1e-10)


def test_air_soil_exchange_alone_reaches_partition_equilibrium():
    chem = get_chemical("PCB-28")
    sp = SurfaceParameters()
    box = box_model(chem, air_temperature_k=T, land_fraction=LF, surface_compartments=("soil", "ocean"),
                    processes=[DiffusiveExchange("soil")])  # fmt: skip
    za, zw = z_air(T), z_water(chem, T)
    d = 1 / (
        1 / (sp.soil_boundary_layer_mass_transfer_m_s * za)
        + 1 / (sp.soil_air_diffusion_m_s * za + sp.soil_water_diffusion_m_s * zw)
    )
    f = phi("PCB-28")
    k_down = d * LF * (1 - f) / (H0 * za)
    k_up = d / (sp.soil_depth_m * z_soil(chem, T, sp))
    assert box.rate("exchange_air_soil", "air_0", "soil") == pytest.approx(k_down, rel=1e-12)
    assert box.rate("exchange_air_soil", "soil", "air_0") == pytest.approx(k_up, rel=1e-12)
    # two-box closed system: relaxes at k_down + k_up to the fugacity equilibrium M_s/M_a = k_down/k_up
    t = 2.0 / (k_down + k_up)
    x = box.solve({"air_0": 1.0}, None, t)
    eq_soil = k_down / (k_down + k_up)
    assert x[box.compartments.index("soil")] == pytest.approx(eq_soil * (1 - math.exp(-(k_down + k_up) * t)), rel=1e-10)
    x_inf = box.solve({"air_0": 1.0}, None, 1e4 / (k_down + k_up))
    f_air = x_inf[0] * (1 - f) / (H0 * za)  # fugacity of the gas phase (masses per unit cell area)
    f_soil = x_inf[box.compartments.index("soil")] / (LF * sp.soil_depth_m * z_soil(chem, T, sp))
    assert f_air == pytest.approx(f_soil, rel=1e-9)


def test_air_ocean_and_air_vegetation_exchange_alone():
    chem = get_chemical("gamma-HCH")
    sp = SurfaceParameters()
    box = box_model(chem, air_temperature_k=T, land_fraction=LF,
                    processes=[DiffusiveExchange("ocean"), DiffusiveExchange("vegetation")])  # fmt: skip
    za, zw = z_air(T), z_water(chem, T)
    kd = 0.41 * chem.kow(T) * 0.2 / 1000
    d = 1 / (1 / (5 / 3600 * za) + 1 / (0.05 / 3600 * zw))
    f = phi("gamma-HCH")
    assert box.rate("exchange_air_ocean", "air_0") == pytest.approx(d * (1 - LF) * (1 - f) / (H0 * za), rel=1e-12)
    assert box.rate("exchange_air_ocean", "ocean") == pytest.approx(d / (100 * zw * (1 + kd * 1e-4)), rel=1e-12)
    assert box.rate("exchange_air_vegetation", "air_0") == pytest.approx(1e-3 * LF * (1 - f) / H0, rel=1e-12)
    assert box.rate("exchange_air_vegetation", "vegetation") == pytest.approx(1e-3 * za / (1e-3 * z_vegetation(chem, T, sp)))
    with pytest.raises(ValueError, match="diffusive exchange surface 'lake'"):
        DiffusiveExchange("lake")


def test_surface_losses_alone():
    chem = get_chemical("PCB-153")
    sp = SurfaceParameters()
    procs = [Litterfall(), SoilLeaching(), SoilBurial(), OceanSettling()]
    box = box_model(chem, air_temperature_k=T, precipitation_m_s=P, processes=procs)
    assert box.rate("litterfall") == pytest.approx(1 / (365 * 86400))
    assert box.rate("leaching_soil") == pytest.approx(0.25 * P * z_water(chem, T) / (0.1 * z_soil(chem, T, sp)), rel=1e-12)
    assert box.rate("burial_soil") == pytest.approx(1e-11 / 0.1)
    kd = 0.41 * chem.kow(T) * 0.2 / 1000
    flux = 0.010 / (365 * 86400)
    assert box.rate("settling_ocean") == pytest.approx(flux * kd / (100 * (1 + kd * 1e-4)), rel=1e-12)
    assert set(box.sinks) == {"leached", "buried", "settled"}


def test_freshwater_and_sediment_optional_compartments():
    comps = ("vegetation", "soil", "ocean", "freshwater", "sediment")
    box = box_model("PCB-153", air_temperature_k=T, surface_compartments=comps)
    assert box.compartments == ("air_0",) + comps
    assert box.rate("exchange_air_freshwater", "air_0") > 0
    assert box.rate("exchange_freshwater_sediment", "freshwater", "sediment") > 0
    assert box.rate("burial_sediment") > 0
    assert box.rate("degradation_sediment") > 0
    # freshwater takes 2 % of the land from soil for deposition
    a = box.rate("dry_deposition_particle", target="freshwater")
    b = box.rate("dry_deposition_particle", target="soil") + box.rate("dry_deposition_particle", target="vegetation")
    assert a / b == pytest.approx(0.02 / 0.98)
    assert FreshwaterSedimentExchange().transfers(box.context.__class__(box.context.grid, box.context.chemical,
                                                  ("soil", "ocean"), 0.3), box.forcing) == []  # fmt: skip


# --- the whole system in a box ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_box():
    return box_model("PCB-153", air_temperature_k=278.15, layers=AirLayers((0.0, 1000.0, 6000.0)))


def test_k_matrix_columns_conserve_mass(full_box):
    k = full_box.k_matrix
    sink_total = sum(full_box.sinks.values())
    np.testing.assert_allclose(k.sum(axis=0) + sink_total, 0.0, atol=1e-20)
    off = k - np.diag(np.diag(k))
    assert np.all(off >= 0)


def test_steady_state_equals_linear_solve(full_box):
    e = full_box.vector({"air_0": 1.0, "soil": 0.5})
    x = full_box.steady_state(e)
    np.testing.assert_allclose(x, scipy.linalg.solve(full_box.k_matrix, -e), rtol=1e-12)
    np.testing.assert_allclose(full_box.k_matrix @ x + e, 0.0, atol=1e-12 * np.abs(e).max())
    # the transient approaches it
    x_long = full_box.solve(None, e, 1e3 * 365 * 86400.0)
    np.testing.assert_allclose(x_long, x, rtol=1e-8)


def test_transient_equals_eigen_solution(full_box):
    k = full_box.k_matrix
    e = full_box.vector({"air_0": 2.0})
    x0 = full_box.vector({"air_0": 1.0, "ocean": 3.0})
    w, v = np.linalg.eig(k)
    vinv = np.linalg.inv(v)
    xs = -np.linalg.solve(k, e)
    for t in (3600.0, 86400.0 * 30, 86400.0 * 3650):
        analytic = (v @ np.diag(np.exp(w * t)) @ vinv @ (x0 - xs)).real + xs
        np.testing.assert_allclose(full_box.solve(x0, e, t), analytic, rtol=1e-9, atol=1e-12 * np.abs(xs).max())


@pytest.mark.parametrize("dt", [1.0, 60.0, 3600.0, 86400.0, 30 * 86400.0, 365 * 86400.0])
def test_model_solver_positive_and_budget_closed(full_box, dt):
    """The model's FateSolver on the box transfers: positive for steps from 1 s to 1 yr, budget closed < 1e-9."""
    comps = full_box.compartments
    transfers = collect_transfers(default_fate_processes(), full_box.context, full_box.forcing)
    solver = FateSolver(comps, (1, 1))
    solver.update(transfers, key=("box", dt))
    nl = full_box.context.grid.nlayer
    x = np.zeros((2, len(comps), 1, 1))
    x[0, 0] = 1.0
    x[1, comps.index("soil")] = 5.0
    e = np.zeros_like(x)
    e[0, 0] = 1e-6
    e[1, comps.index("ocean")] = 3e-7
    total0 = x.sum(axis=(1, 2, 3)) + e.sum(axis=(1, 2, 3)) * dt
    air, surf = np.ascontiguousarray(x[:, :nl]), np.ascontiguousarray(x[:, nl:])
    int_air, int_surf = np.zeros_like(air), np.zeros_like(surf)
    solver.step(air, surf, e, None, dt, int_air, int_surf)
    moved = solver.moved(int_air, int_surf)
    assert np.all(air >= 0) and np.all(surf >= 0) and np.all(int_air >= 0) and np.all(int_surf >= 0)
    sinks = sum(m for (proc, src, tgt), m in moved.items() if tgt in ("degraded", "buried", "leached", "settled"))
    closure = (air.sum(axis=(1, 2, 3)) + surf.sum(axis=(1, 2, 3)) + sinks.sum(axis=(1, 2)) - total0) / total0
    assert np.all(np.abs(closure) < 1e-9)
    # the box's own exact transfer accounting agrees with the solver's
    ref = full_box.mass_moved(x0_kg={"air_0": 1.0}, emission_kg_s={"air_0": 1e-6}, t_s=dt)
    for key, val in ref.items():
        assert moved[key][0, 0, 0] == pytest.approx(val, rel=1e-8, abs=1e-18)


def test_shared_emission_split_by_tag_weights_equals_per_tag_rates(full_box):
    """A field shared by all tags and split by weights gives what per-tag emission arrays give, on the threaded
    and on the serial build of the kernel, and every tag's share adds up to the untagged run."""
    from popstransport.kernels import fate as kernels

    comps = full_box.compartments
    transfers = collect_transfers(default_fate_processes(), full_box.context, full_box.forcing)
    solver = FateSolver(comps, (1, 1))
    solver.update(transfers, key="split")
    nl = full_box.context.grid.nlayer
    rng = np.random.default_rng(3)
    ntag = 3
    x = rng.random((ntag, len(comps), 1, 1))
    rates = np.zeros((1, len(comps), 1, 1))
    rates[0, 0] = 2e-6
    rates[0, comps.index("soil")] = 5e-7
    weights = np.array([0.2, 0.5, 0.3]).reshape(ntag, 1, 1)
    results = []
    for shared in (True, False):
        air, surf = np.ascontiguousarray(x[:, :nl]), np.ascontiguousarray(x[:, nl:])
        ia, isf = np.zeros_like(air), np.zeros_like(surf)
        if shared:
            solver.step(air, surf, rates, weights, 7200.0, ia, isf)
        else:
            solver.step(air, surf, rates * weights[:, None], None, 7200.0, ia, isf)
        results.append((air, surf, ia, isf))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
    # untagged run of the total equals the sum over tags (the system is linear)
    air, surf = np.ascontiguousarray(x[:, :nl].sum(0, keepdims=True)), np.ascontiguousarray(x[:, nl:].sum(0, keepdims=True))
    ia, isf = np.zeros_like(air), np.zeros_like(surf)
    solver.step(air, surf, rates, None, 7200.0, ia, isf)
    np.testing.assert_allclose(results[0][0].sum(0), air[0], rtol=1e-13)
    np.testing.assert_allclose(results[0][1].sum(0), surf[0], rtol=1e-13)
    # threaded and serial builds agree bit for bit
    prop = solver._prop_cache[7200.0]
    outs = []
    for kernel in (kernels.apply_propagators_parallel, kernels.apply_propagators_serial):
        air, surf = np.ascontiguousarray(x[:, :nl]), np.ascontiguousarray(x[:, nl:])
        ia, isf = np.zeros_like(air), np.zeros_like(surf)
        kernel(air, surf, rates, weights, *prop, ia, isf)
        outs.append(np.concatenate([air.ravel(), surf.ravel(), ia.ravel(), isf.ravel()]))
    assert np.array_equal(outs[0], outs[1])
    with pytest.raises(ValueError, match="emission rates have shape"):
        solver.step(air, surf, rates[:, :2], None, 7200.0, ia, isf)


def test_gridded_transfers_follow_land_fraction():
    grid = LatLonGrid.regional(0, 3, 0, 1, 1.0, AirLayers((0.0, 1000.0, 5000.0)))
    lf = np.array([[0.0, 0.5, 1.0]])
    ctx = FateContext(grid, get_chemical("PCB-28"), land_fraction=lf)
    forcing = Forcing({
        "air_temperature_k": np.full((2, 1, 3), 280.0),
        "surface_temperature_k": np.full((1, 3), 281.0),
        "precipitation_m_s": np.full((1, 3), 2e-8),
        "oh_concentration_molec_cm3": np.full((2, 1, 3), 1e6),
    })  # fmt: skip
    trs = collect_transfers(default_fate_processes(), ctx, forcing)
    by = {(t.process, t.source, t.target): np.broadcast_to(t.rate_s, (1, 3)) for t in trs}
    soil = by[("exchange_air_soil", "air_0", "soil")][0]
    ocean = by[("exchange_air_ocean", "air_0", "ocean")][0]
    assert soil[0] == 0 and soil[2] == pytest.approx(2 * soil[1])
    assert ocean[2] == 0 and ocean[0] == pytest.approx(2 * ocean[1])
    assert by[("exchange_air_soil", "soil", "air_0")][0, 0] == 0.0
    assert ("degradation_oh", "air_1", "degraded") in by
    for t in trs:
        r = np.asarray(t.rate_s)
        assert np.all(np.isfinite(r)) and np.all(r >= 0)


@pytest.mark.parametrize("kw, match", [
    ({"soil_depth_m": 0.0}, r"surface parameter soil_depth_m must be positive"),
    ({"ocean_mixed_layer_depth_m": 0.0}, r"surface parameter ocean_mixed_layer_depth_m must be positive"),
    ({"soil_air_fraction": -0.1}, r"surface parameter soil_air_fraction = -0\.1 must be finite and >= 0"),
    ({"vegetation_interception_fraction": 1.5}, r"vegetation_interception_fraction = 1\.5 is a fraction and must be <= 1"),
    ({"sediment_burial_fraction": 1.2}, r"sediment_burial_fraction = 1\.2 is a fraction and must be <= 1"),
    ({"soil_air_fraction": 0.6, "soil_water_fraction": 0.5}, r"soil_air_fraction \+ soil_water_fraction must be below 1"),
    ({"sediment_resuspension_fraction": 0.6, "sediment_burial_fraction": 0.5},
     r"sediment_resuspension_fraction \+ sediment_burial_fraction must not exceed 1"),
])
def test_surface_parameter_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        SurfaceParameters(**kw)


def _layered_cells():
    """Three cells of a grid with two air layers 1000 and 4000 m thick whose temperatures, OH and surface temperature all
    differ, with fresh water and vegetation; the third cell has a small negative precipitation and OH in its lowest
    layer (rounding in reanalysis fields)."""
    grid = LatLonGrid.regional(0, 3, 0, 1, 1.0, AirLayers((0.0, 1000.0, 5000.0)))
    lf = np.array([[0.2, 0.6, 1.0]])
    ctx = FateContext(grid, get_chemical("PCB-153"), ("vegetation", "soil", "ocean", "freshwater"), land_fraction=lf)
    forcing = Forcing({
        "air_temperature_k": np.array([[[285.0, 290.0, 280.0]], [[262.0, 266.0, 258.0]]]),
        "surface_temperature_k": np.array([[295.0, 300.0, 275.0]]),
        "precipitation_m_s": np.array([[2e-8, 5e-9, -1e-12]]),
        "oh_concentration_molec_cm3": np.array([[[1.2e6, 2.0e6, -3.0]], [[0.4e6, 0.9e6, 0.5e6]]]),
    })  # fmt: skip
    return ctx, forcing, lf


def test_deposition_from_the_lowest_layer_split_among_the_surfaces_by_area():
    """Wet and dry deposition take the lowest layer's particle fraction, Kaw at its temperature and its thickness
    (1000 m, not the 4000 m layer above); negative precipitation removes nothing; every process's rate is split among
    the surfaces by area (ocean 1 - f_L, fresh water 2 % of the land, the rest soil and, for particles, vegetation's
    interception), so the parts add up to the whole."""
    ctx, forcing, lf = _layered_cells()
    chem = ctx.chemical
    t0 = forcing["air_temperature_k"][0]
    phi0 = GasParticlePartitioning().particle_fraction_field(ctx, forcing)[0]
    rain = np.array([2e-8, 5e-9, 0.0])
    k_gas, k_part = WetDeposition().rates(ctx, forcing)
    assert k_gas[0] == pytest.approx(rain * (1 - phi0[0]) / (chem.kaw(t0[0]) * 1000.0), rel=1e-12)
    assert k_part[0] == pytest.approx(rain * 2e5 * phi0[0] / 1000.0, rel=1e-12)
    assert k_gas[0, 2] == 0.0 and k_part[0, 2] == 0.0
    k_dry = DryParticleDeposition().rate(ctx, forcing)
    assert k_dry[0] == pytest.approx(0.003 * phi0[0] / 1000.0, rel=1e-12)
    trs = WetDeposition().transfers(ctx, forcing) + DryParticleDeposition().transfers(ctx, forcing)
    f_int = SurfaceParameters().vegetation_interception_fraction
    fw = 0.02 * lf
    for process, k, particles in (("wet_deposition_gas", k_gas, False), ("wet_deposition_particle", k_part, True),
                                  ("dry_deposition_particle", k_dry, True)):
        parts = {t.target: np.asarray(t.rate_s) for t in trs if t.process == process}
        assert all(t.source == "air_0" for t in trs)
        expected = {"ocean": 1 - lf, "freshwater": fw}
        expected.update({"vegetation": (lf - fw) * f_int, "soil": (lf - fw) * (1 - f_int)} if particles else
                        {"soil": lf - fw})
        assert set(parts) == set(expected)
        for target, share in expected.items():
            np.testing.assert_allclose(parts[target], k * share, rtol=1e-12, atol=0)
        np.testing.assert_allclose(sum(parts.values()), k, rtol=1e-12, atol=0)


def test_degradation_of_every_layer_at_its_own_temperature_and_oh_and_of_surfaces_at_the_surface_temperature():
    """OH reaction in layer ``i`` from that layer's temperature, OH and particle fraction (negative OH counts as
    none); degradation in the surface media at the surface temperature, not the air's."""
    ctx, forcing, _ = _layered_cells()
    chem = ctx.chemical
    t_air = forcing["air_temperature_k"]
    phi = GasParticlePartitioning().particle_fraction_field(ctx, forcing)
    oh = np.maximum(forcing["oh_concentration_molec_cm3"], 0.0)
    by = {t.source: np.asarray(t.rate_s) for t in OHDegradation().transfers(ctx, forcing)}
    assert set(by) == {"air_0", "air_1"}
    for i in range(2):
        k = chem.oh_rate_constant_cm3_s(t_air[i]) * oh[i] * (1 - phi[i])
        np.testing.assert_allclose(by[f"air_{i}"], k, rtol=1e-12, atol=0)
    assert by["air_0"][0, 2] == 0.0
    t_s = forcing["surface_temperature_k"]
    surf = {t.source: np.asarray(t.rate_s) for t in SurfaceDegradation().transfers(ctx, forcing)}
    assert set(surf) == {"vegetation", "soil", "ocean", "freshwater"}
    for medium, rate in surf.items():
        np.testing.assert_allclose(rate, chem.degradation_rate_s(medium, t_s), rtol=1e-12, atol=0)
        assert not np.allclose(rate, chem.degradation_rate_s(medium, t_air[0]), rtol=1e-6, atol=0)


def test_missing_compartments_are_reported():
    grid = LatLonGrid.box()
    ctx = FateContext(grid, get_chemical("PCB-28"), surface_compartments=("soil",), land_fraction=0.5)
    forcing = Forcing({"air_temperature_k": np.full((1, 1, 1), 280.0), "precipitation_m_s": np.full((1, 1), 1e-8)})
    with pytest.raises(ValueError, match="no 'ocean' compartment"):
        DryParticleDeposition().transfers(ctx, forcing)
    ctx2 = FateContext(grid, get_chemical("PCB-28"), surface_compartments=("soil", "ocean"))
    with pytest.raises(ValueError, match="land fraction unknown"):
        WetDeposition().transfers(ctx2, forcing)


def test_propagate_handles_singular_k():
    k = np.array([[-1.0, 0.0], [1.0, 0.0]])
    x, integral = propagate(k, np.array([1.0, 0.0]), np.array([0.0, 0.0]), 2.0)
    assert x == pytest.approx([math.exp(-2), 1 - math.exp(-2)])
    assert integral[0] == pytest.approx(1 - math.exp(-2))


# --- OH ---------------------------------------------------------------------------------------------------------
def test_oh_climatology_global_annual_mean_and_polar_night():
    lat_edges = np.linspace(-90, 90, 181)
    lat = 0.5 * (lat_edges[1:] + lat_edges[:-1])
    w = np.diff(np.sin(np.deg2rad(lat_edges)))
    days = np.arange(1, 366)
    oh = oh_climatology(lat[None, :], days[:, None])
    mean = (oh * w).sum(axis=1).mean() / w.sum()
    assert mean == pytest.approx(1e6, rel=2e-3)
    assert oh_climatology(85.0, 355) == 0.0  # polar night
    assert oh_climatology(-85.0, 355) > oh_climatology(0.0, 355)  # polar day
    grid = LatLonGrid.regional(0, 10, -30, 30, 10.0)
    f = oh_concentration_field(grid, 100)
    assert f.shape == (grid.nlayer, grid.nlat, grid.nlon) and np.all(f >= 0)


def test_oh_table_override(tmp_path):
    path = tmp_path / "oh.csv"
    rows = ["month,lat_deg,height_m,oh_molec_cm3"]
    for m in range(1, 13):
        for lat in (-90, 0, 90):
            for z in (0, 10000):
                rows.append(f"{m},{lat},{z},{1e6 * (1 + m / 12) * (1 if z == 0 else 2)}")
    path.write_text("\n".join(rows) + "\n")
    clim = load_oh_table(path)
    grid = LatLonGrid.regional(0, 10, -10, 10, 10.0, AirLayers((0.0, 1000.0, 9000.0)))
    f = clim.field(grid, 15.5 + 365 / 12 * 5)  # mid-June = month 6 exactly
    assert f[0, 0, 0] == pytest.approx(1e6 * 1.5 * (1 + 500 / 10000), rel=1e-9)
    assert f[1, 0, 0] == pytest.approx(1e6 * 1.5 * (1 + 5000 / 10000), rel=1e-9)
    assert OHClimatology(np.ones((12, 3)), [-90, 0, 90], scale=2.0).field(grid, 1)[0, 0, 0] == 2.0
    path.write_text("month,lat\n1,0\n")
    with pytest.raises(ValueError, match="OH table needs columns"):
        load_oh_table(path)
    with pytest.raises(ValueError, match="expected \\(12, nlat\\)"):
        OHClimatology(np.ones((4, 3)), [-90, 0, 90])


def test_oh_climatology_follows_the_sun():
    """The declination is +-23.44 degrees at the solstices (days 172 and 355) and near 0 at the equinoxes; the daily
    insolation relative to its global mean S0/4 is 4/pi at the equator at an equinox and 4 sin(23.44 deg) at the
    North Pole at the June solstice (Hartmann 1994, Eq. 2.15: Q = S0 sin(delta) under the midnight sun)."""
    from popstransport.processes.oh import relative_daily_insolation, solar_declination_rad

    assert math.degrees(solar_declination_rad(172)) == pytest.approx(23.44, abs=0.01)
    assert math.degrees(solar_declination_rad(355)) == pytest.approx(-23.44, abs=0.01)
    assert abs(math.degrees(solar_declination_rad(81))) < 0.5
    assert abs(math.degrees(solar_declination_rad(264))) < 1.0
    delta = solar_declination_rad(81)
    assert relative_daily_insolation(0.0, 81) == pytest.approx(4 / math.pi * math.cos(delta), rel=1e-12)
    assert relative_daily_insolation(90.0, 172) == pytest.approx(4 * math.sin(solar_declination_rad(172)), rel=1e-9)
    assert relative_daily_insolation(90.0, 172) == pytest.approx(4 * math.sin(math.radians(23.44)), rel=1e-4)
    assert oh_climatology(90.0, 172) == pytest.approx(1e6 * 4 * math.sin(math.radians(23.44)), rel=1e-4)


def test_oh_table_is_linear_in_time_between_mid_months_and_across_the_new_year():
    """Between the middle of two months the table's value moves linearly from one month's to the next, December to
    January too."""
    month = np.arange(1.0, 13.0)
    table = 1e6 * month[:, None] * np.ones((12, 3))
    clim = OHClimatology(table, [-90, 0, 90])
    grid = LatLonGrid.regional(0, 10, -10, 10, 10.0)
    mid = 15.5 + 365 / 12 * np.arange(12)  # mid-month days
    day = 0.25 * mid[5] + 0.75 * mid[6]  # a quarter of the way back from mid-July to mid-June
    assert clim.field(grid, day)[0, 0, 0] == pytest.approx(1e6 * (0.25 * 6 + 0.75 * 7), rel=1e-12)
    day = mid[11] + 0.4 * 365 / 12  # past mid-December towards mid-January
    assert clim.field(grid, day)[0, 0, 0] == pytest.approx(1e6 * (0.6 * 12 + 0.4 * 1), rel=1e-12)
    assert clim.field(grid, 5.0)[0, 0, 0] == pytest.approx(1e6 * (12 + (1 - 12) * (5.0 + 365 - mid[11]) / (365 / 12)),
                                                          rel=1e-12)


@pytest.mark.parametrize("name", ["gamma-HCH", "PCB-153", "BaP"])
def test_sorbed_fraction_in_water_is_the_particles_share_of_the_bulk_capacity(name):
    """``Kd c / (1 + Kd c)``, the share of a water body's chemical on its suspended particles, equals the particles'
    share of the water's bulk fugacity capacity, ``(Z_bulk - Z_water) / Z_bulk``."""
    chem = get_chemical(name)
    t = np.array([273.15, 288.15, 303.15])
    c, foc = 1e-3, 0.2
    zb = z_water_bulk(chem, t, c, foc)
    got = sorbed_fraction_in_water(chem, t, c, foc)
    np.testing.assert_allclose(got, (zb - z_water(chem, t)) / zb, rtol=1e-10)
    assert ((0.0 < got) & (got < 1.0)).all()


def test_sea_ice_closes_the_ice_covered_ocean_to_gas_exchange():
    """Air-ocean gas exchange goes through the open water, D (1 - c) for an ice-covered fraction c, in both
    directions (the ocean's fugacity is unchanged by the ice); deposition still reaches the ocean, and the other
    surfaces do not notice the ice."""
    kinds = ("exchange_air_ocean", "wet_deposition_gas", "exchange_air_soil")
    free = box_model("alpha-HCH", air_temperature_k=T, land_fraction=LF, precipitation_m_s=P)
    for c in (0.0, 0.25, 1.0):
        iced = box_model("alpha-HCH", air_temperature_k=T, land_fraction=LF, precipitation_m_s=P, sea_ice_fraction=c)
        for source in ("air_0", "ocean"):
            assert iced.rate("exchange_air_ocean", source) == pytest.approx(
                (1 - c) * free.rate("exchange_air_ocean", source), rel=1e-14, abs=0.0)
        assert iced.rate(kinds[1], target="ocean") == free.rate(kinds[1], target="ocean") > 0
        assert iced.rate(kinds[2], "air_0") == free.rate(kinds[2], "air_0") > 0
    assert free.rate("exchange_air_ocean", "air_0") > 0
