"""Budget closure, exact output times, analytic checks and outputs of the reference chain."""

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from popstransport.config import load_config
from popstransport.grid import AirLayers, LatLonGrid
from popstransport.io.met.simple import UniformMet
from popstransport.io.writers import BudgetWriter, FieldsWriter, OutputExistsError, RunDirectory, run_attributes
from popstransport.massflux import BalancedMassFluxBuilder
from popstransport.model import Model
from popstransport.processes.advection import HorizontalAdvection
from popstransport.processes.base import Process
from popstransport.processes.emission import GriddedEmission
from popstransport.processes.simple import ConstantVelocityDryDeposition, FirstOrderDegradation
from popstransport.simulation import Simulation, period_boundaries

DAY = 86400.0


def _model(grid, u=5.0, half_life_days=30.0, vd=0.003, emission=None):
    met = UniformMet(grid, u_m_s=u)
    rates = np.zeros(grid.shape) if emission is None else emission
    em = GriddedEmission(lambda t: rates, grid.nlayer, 1)
    fate = [
        FirstOrderDegradation({"air_0": half_life_days * DAY, "soil": 1000 * DAY}),
        ConstantVelocityDryDeposition(vd, "soil"),
    ]
    box = grid.topology == "box"
    return Model(
        grid,
        fate_processes=fate,
        met=met,
        emissions=em,
        mass_flux_builder=None if box else BalancedMassFluxBuilder(),
        advection=None if box else HorizontalAdvection(),
        surface_compartments=("soil",),
    )


def test_period_boundaries_are_calendar_exact():
    b = period_boundaries(np.datetime64("2010-01-15"), np.datetime64("2010-04-01"), "monthly")
    assert [str(x)[:10] for x in b] == ["2010-01-15", "2010-02-01", "2010-03-01", "2010-04-01"]
    d = period_boundaries(np.datetime64("2010-01-01T06:00"), np.datetime64("2010-01-03"), "daily")
    assert [str(x) for x in d] == ["2010-01-01T06:00:00", "2010-01-02T00:00:00", "2010-01-03T00:00:00"]
    assert len(period_boundaries(np.datetime64("2010-01-01"), np.datetime64("2012-01-01"), "annual")) == 3


def test_box_matches_analytic_solution():
    """Constant emission E into air with loss k = k_deg + v_d/h: m(t) = E/k (1 - exp(-k t))."""
    grid = LatLonGrid.box(100, 30)
    e = 1e-3
    model = _model(grid, emission=np.full((1, 1), e), half_life_days=10.0, vd=0.001)
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-21"), 7 * 3600.0, frequency="daily")
    periods = sim.run()
    k = math.log(2) / (10 * DAY) + 0.001 / 1000.0
    t = 20 * DAY
    assert model.air_kg[0, 0, 0, 0] == pytest.approx(e / k * (1 - math.exp(-k * t)), rel=1e-12)
    # deposited mass is the time integral of v_d/h m: E v/h /k (t - (1-exp(-kt))/k)
    kd = 0.001 / 1000.0
    dep = sum(p.budget.transfers[("dry_deposition", "air_0", "soil")].sum() for p in periods)
    assert dep == pytest.approx(e * kd / k * (t - (1 - math.exp(-k * t)) / k), rel=1e-11)
    assert all(p.budget.relative_closure_error() < 1e-12 for p in periods)


@pytest.mark.parametrize("topology", ["regional", "global"])
def test_budget_closes_with_transport(topology):
    if topology == "regional":
        grid = LatLonGrid.regional(0, 40, -10, 20, 2.0)
    else:
        grid = LatLonGrid.global_grid(10.0)
    rng = np.random.default_rng(1)
    em = rng.uniform(0, 1e-4, grid.shape)
    model = _model(grid, u=15.0, emission=em)
    sim = Simulation(model, np.datetime64("2010-01-20"), np.datetime64("2010-03-03"), 6 * 3600.0, frequency="monthly")
    periods = sim.run()
    assert len(periods) == 3
    for p in periods:
        assert p.budget.relative_closure_error() < 1e-9
    total_out = sum(float(p.budget.outflow.sum()) for p in periods)
    if topology == "regional":
        assert total_out > 0
    else:
        assert total_out == 0
    # stepping hits the period ends exactly
    assert sim.time == np.datetime64("2010-03-03T00:00:00")


def test_writers_produce_cf_files_and_refuse_overwrite(tmp_path):
    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)
    model = _model(grid, emission=np.full(grid.shape, 1e-5))
    rd = RunDirectory(tmp_path / "run")
    attrs = run_attributes(load_config(None).to_toml())
    writers = [FieldsWriter(rd, grid, attrs), BudgetWriter(rd, attrs)]
    Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-04"), 3 * 3600.0, frequency="daily",
               writers=writers).run()
    ds = xr.open_dataset(tmp_path / "run" / "fields.nc")
    for name in ("air_concentration", "air_particle_fraction", "soil_burden", "vegetation_burden", "ocean_burden",
                 "wet_deposition_flux", "dry_deposition_flux", "air_surface_exchange_flux", "emission_flux"):
        assert "units" in ds[name].attrs, name
        assert ds[name].attrs["cell_measures"] == "area: cell_area", name
    assert ds["air_particle_fraction"].attrs["cell_methods"] == "area: time: mean (comment: weighted by the mass in air)"
    for v in ds.variables.values():  # every bounds attribute names a variable of the file
        assert v.attrs.get("bounds", "time_bnds") in ds.variables
    assert ds.attrs["Conventions"] == "CF-1.10"
    assert "configuration" in ds.attrs and "popstransport_version" in ds.attrs
    assert ds.sizes["time"] == 3
    assert ds["time"].dt.day.values.tolist() == [1, 2, 3]
    # emission flux times area times period length is the emitted mass
    emitted = float((ds["emission_flux"] * ds["cell_area"]).sum()) * DAY
    assert emitted == pytest.approx(3 * 1e-5 * grid.nlat * grid.nlon * DAY, rel=1e-12)
    ds.close()
    assert not list((tmp_path / "run").glob("*.partial"))
    with pytest.raises(OutputExistsError, match="--overwrite"):
        RunDirectory(tmp_path / "run")
    RunDirectory(tmp_path / "run", overwrite=True)


def test_fields_file_holds_the_periods_means_in_its_declared_units(tmp_path):
    """Every variable of ``fields.nc`` is the simulation's period result in the unit it declares: the mean air mass
    over the layer's volume (kg m-3), surface masses over the cell area (kg m-2), masses moved over area and period
    length (kg m-2 s-1), the particle fraction as simulated; time in the middle of its bounds, the grid's edges as
    coordinate bounds and the layers' mid-heights. After a month of emissions into clean air over a clean surface the
    net air-surface exchange is downward, which the file gives as positive."""
    from popstransport.run import build_model, build_simulation

    cfg = load_config(None, ["domain.resolution_deg=5", "time.stop=2010-02-01", "met.source=synthetic",
                             "emissions.source=uniform", "time.step_hours=6"])
    model = build_model(cfg)
    grid = model.grid
    rd = RunDirectory(tmp_path / "run")
    periods = build_simulation(cfg, model, writers=[FieldsWriter(rd, grid, run_attributes(cfg.to_toml()))]).run()
    (p,) = periods
    area = grid.cell_area_m2
    with xr.open_dataset(tmp_path / "run" / "fields.nc", decode_times=False) as ds:
        units = {v: ds[v].attrs["units"] for v in ds.data_vars if "units" in ds[v].attrs}
        assert units["air_concentration"] == "kg m-3" and units["air_particle_fraction"] == "1"
        assert all(units[f"{c}_burden"] == "kg m-2" for c in ("soil", "vegetation", "ocean"))
        assert all(units[f] == "kg m-2 s-1" for f in ("wet_deposition_flux", "dry_deposition_flux",
                                                      "air_surface_exchange_flux", "emission_flux"))
        assert ds["time"].attrs["calendar"] == "standard" and ds["time"].attrs["units"].startswith("days since 1970")
        day0 = (p.start - np.datetime64("1970-01-01")) / np.timedelta64(1, "D")
        day1 = (p.end - np.datetime64("1970-01-01")) / np.timedelta64(1, "D")
        np.testing.assert_array_equal(ds["time_bnds"].values, [[day0, day1]])
        assert float(ds["time"][0]) == 0.5 * (day0 + day1) and p.seconds == 31 * DAY
        np.testing.assert_array_equal(ds["lat_bnds"].values, np.stack([grid.lat_edges_deg[:-1], grid.lat_edges_deg[1:]], 1))
        np.testing.assert_array_equal(ds["lon_bnds"].values, np.stack([grid.lon_edges_deg[:-1], grid.lon_edges_deg[1:]], 1))
        np.testing.assert_array_equal(ds["layer"].values, [500.0, 5500.0])
        np.testing.assert_allclose(ds["air_concentration"][0].values, p.mean_air_kg / grid.air_volume_m3(), rtol=1e-15)
        np.testing.assert_array_equal(ds["air_particle_fraction"][0].values, p.particle_fraction)
        for k, comp in enumerate(model.surface_compartments):
            np.testing.assert_allclose(ds[f"{comp}_burden"][0].values, p.mean_surface_kg[k] / area, rtol=1e-15)
        for name, kg in (("wet_deposition_flux", p.wet_deposition_kg), ("dry_deposition_flux", p.dry_deposition_kg),
                         ("air_surface_exchange_flux", p.air_surface_exchange_kg), ("emission_flux", p.emission_kg)):
            np.testing.assert_allclose(ds[name][0].values, kg / (area * 31 * DAY), rtol=1e-15)
            assert np.any(kg != 0), name
        exchange = ds["air_surface_exchange_flux"][0].values
        assert (exchange * area).sum() > 0 and (exchange > 0).mean() > 0.9
        assert 0 < p.particle_fraction.min() and p.particle_fraction.max() < 1


def test_failed_run_leaves_no_partial_files(tmp_path):
    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)

    def broken(t):
        if t > np.datetime64("2010-01-02"):
            return np.full(grid.shape, -1.0)
        return np.zeros(grid.shape)

    model = _model(grid)
    model.emissions = GriddedEmission(broken, grid.nlayer, 1)
    rd = RunDirectory(tmp_path / "run")
    attrs = run_attributes("")
    writers = [FieldsWriter(rd, grid, attrs), BudgetWriter(rd, attrs)]
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-04"), 3 * 3600.0, frequency="daily",
                     writers=writers)
    with pytest.raises(ValueError, match="emission rate -1.0"):
        sim.run()
    assert list((tmp_path / "run").iterdir()) == []


def test_nan_forcing_is_refused():
    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)
    model = _model(grid)
    model.met._fields["eastward_wind_m_s"][0, 1, 1] = np.nan
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-02"), 3600.0)
    with pytest.raises(ValueError, match="eastward_wind_m_s.*not finite"):
        sim.run()


def test_model_and_fate_solver_misuse_is_refused():
    """A gridded model without advection or a mass-flux builder, reading the land fraction or stepping before the
    first forcing, a fate solver stepped before its transfers are set and a transfer of an unknown kind are refused
    with what to do."""
    from popstransport.model import ModelSetupError
    from popstransport.processes.fate import FateError, FateSolver, Transfer

    grid = LatLonGrid.regional(100, 110, 20, 30, 5.0)
    with pytest.raises(ModelSetupError, match="a gridded model needs an advection process and a mass-flux builder"):
        Model(grid, fate_processes=[], met=UniformMet(grid, u_m_s=1.0), advection=HorizontalAdvection(),
              emissions=GriddedEmission(lambda t: np.zeros(grid.shape), grid.nlayer, 1))
    model = _model(LatLonGrid.box(100, 30))
    with pytest.raises(ModelSetupError, match="land_fraction is not available: call update_forcing first"):
        model.land_fraction  # noqa: B018
    with pytest.raises(ModelSetupError, match="update_forcing must be called before time_step"):
        model.time_step(3600.0, np.datetime64("2010-01-01"))
    solver = FateSolver(("air_0", "soil"), (1, 1))
    z = np.zeros((1, 1, 1, 1))
    with pytest.raises(FateError, match="FateSolver.update must be called before step"):
        solver.step(z, z, np.zeros((1, 2, 1, 1)), None, 60.0, z, z)
    with pytest.raises(FateError, match=r"process 'x': transfer kind 'wet' is not one of \("):
        Transfer("x", "air_0", "soil", 1e-6, kind="wet")
    box = LatLonGrid.box(100, 30)
    with pytest.raises(ValueError, match=r"time step must be positive, got 0\.0 s"):
        Simulation(_model(box), np.datetime64("2010-01-01"), np.datetime64("2010-02-01"), 0.0)
    with pytest.raises(ModelSetupError, match=r"state_dtype int64 is not supported; use float64 or float32"):
        Model(box, fate_processes=[], met=UniformMet(box, u_m_s=1.0), state_dtype=np.int64,
              emissions=GriddedEmission(lambda t: np.zeros(box.shape), box.nlayer, 1))
    gridded = _model(grid)
    with pytest.raises(ValueError, match=r"face masks have shapes \(2, 2\), \(3, 2\); expected \(2, 3\), \(3, 2\)"):
        gridded.reset_face_mass((np.ones((2, 2)), np.ones((3, 2))))
    with pytest.raises(OutputExistsError, match=r"exists and is not a directory; choose another --out"):
        RunDirectory(Path(__file__))
    from popstransport.processes.fate import propagators_by_row

    with pytest.raises(ValueError, match=r"k_matrix has shape \(1, 1, 2, 3\); expected \(lat, lon, compartment"):
        propagators_by_row(np.zeros((1, 1, 2, 3)), 60.0)


def test_simulation_refuses_an_empty_interval_an_unknown_frequency_and_no_forcing_refresh():
    """A stop not after the start made one period of negative (or zero) length, filled with -0.0 (or NaN) means; an
    unknown frequency raised a bare KeyError and a zero refresh interval a ZeroDivisionError on the first step."""
    box = LatLonGrid.box(100, 30)
    t0, t1 = np.datetime64("2010-01-02"), np.datetime64("2010-01-01")
    with pytest.raises(ValueError, match=r"stop 2010-01-01T00:00:00 must be later than start 2010-01-02T00:00:00"):
        Simulation(_model(box), t0, t1, 3600.0)
    with pytest.raises(ValueError, match=r"stop 2010-01-02T00:00:00 must be later than start 2010-01-02T00:00:00"):
        Simulation(_model(box), t0, t0, 3600.0)
    with pytest.raises(ValueError, match=r"frequency 'weekly' is not one of 'hourly', 'daily', 'monthly', 'annual', 'run'"):
        Simulation(_model(box), t1, t0, 3600.0, frequency="weekly")
    for bad in (0.0, -3600.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"met_update_s must be a positive number of seconds"):
            Simulation(_model(box), t1, t0, 3600.0, met_update_s=bad)


def test_resume_refuses_a_missing_foreign_or_other_configurations_checkpoint(tmp_path):
    """Resuming needs a checkpoint file, of this format, written by the same configuration, with the same state
    shapes; each refusal says which."""
    import pickle

    from popstransport.simulation import CheckpointError

    def sim(tag, grid=None):
        return Simulation(_model(grid or LatLonGrid.box(100, 30)), np.datetime64("2010-01-01"),
                          np.datetime64("2010-03-01"), 6 * 3600.0, checkpoint_path=tmp_path / "checkpoint.pkl",
                          checkpoint_every_months=1, checkpoint_tag=tag)

    with pytest.raises(CheckpointError, match=r"checkpoint '.*nothing\.pkl' not found; a run writes one only with"):
        sim("a").resume(tmp_path / "nothing.pkl")
    sim("a")._write_checkpoint(0)
    path = tmp_path / "checkpoint.pkl"
    sim("a").resume(path)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pkl: the checkpoint was written by a different configuration"):
        sim("b").resume(path)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pkl: state shapes differ from this model"):
        sim("a", LatLonGrid.box(100, 30, layers=AirLayers((0.0, 1000.0, 5000.0)))).resume(path)
    for old in (99, 2, 3):  # (format 2 kept no step parity: its runs would not resume bit for bit; 3 no writers)
        with open(path, "wb") as fh:
            pickle.dump({"format": old, "tag": "a"}, fh)
        with pytest.raises(CheckpointError, match=rf"checkpoint\.pkl: not a popstransport checkpoint of format 4 \(format "
                                                  rf"{old}: written by another version\); run again from the start"):
            sim("a").resume(path)


def test_per_tag_cell_transfers_only_when_per_tag_fields_are_asked():
    """Accumulators follow the outputs: per-tag, per-cell transferred mass is kept only for the air-surface
    transfers and only with per-tag fields; the per-tag and per-cell totals agree with it and the budget closes."""
    grid = LatLonGrid.regional(0.0, 40.0, 0.0, 20.0, 5.0)
    rates = np.zeros(grid.shape)
    rates[1, 2] = 1e-4
    for per_tag in (False, True):
        model = _model(grid, emission=rates)
        sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-05"), 6 * 3600.0,
                         frequency="run", per_tag=per_tag)
        collected = []

        def collect(original=model.collect, collected=collected):
            collected.append(original())
            return collected[-1]

        model.collect = collect
        (period,) = sim.run()
        col = collected[-1]  # the collection of the period (one before the first step clears the accumulators)
        assert set(col.moved_tag_kg) == set(col.moved_cell_kg) == {
            ("degradation", "air_0", "degraded"), ("degradation", "soil", "degraded"),
            ("dry_deposition", "air_0", "soil")}
        if per_tag:
            assert set(col.moved_kg) == {("dry_deposition", "air_0", "soil")}
            full = col.moved_kg[("dry_deposition", "air_0", "soil")]
            np.testing.assert_allclose(full.sum(axis=(1, 2)), col.moved_tag_kg[("dry_deposition", "air_0", "soil")],
                                       rtol=1e-13)
            np.testing.assert_allclose(full.sum(axis=0), col.moved_cell_kg[("dry_deposition", "air_0", "soil")],
                                       rtol=1e-13)
        else:
            assert col.moved_kg == {}
        assert abs(period.budget.relative_closure_error()) < 1e-12


def _two_tag_emissions():
    """A small regional grid, an emission field on two cells, and two sets of shares of two tags."""
    grid = LatLonGrid.regional(0.0, 20.0, 0.0, 10.0, 5.0)
    rates = np.zeros(grid.shape)
    rates[0, 1] = 2e-5
    rates[1, 3] = 5e-5
    w1 = np.stack([np.full(grid.shape, 0.25), np.full(grid.shape, 0.75)])
    w2 = np.stack([np.full(grid.shape, 0.6), np.full(grid.shape, 0.4)])
    return grid, rates, w1, w2


def test_emissions_collected_per_tag_when_the_tag_shares_change():
    """Emissions are summed in the provider's shared form and split by tag once; a change of shares (or of
    provider) within a collection splits what was summed so far, so every tag gets exactly rate x share x dt."""
    grid, rates, w1, w2 = _two_tag_emissions()
    model = Model(grid, fate_processes=[FirstOrderDegradation({"air_0": 30 * DAY})], met=UniformMet(grid, u_m_s=3.0),
                  emissions=GriddedEmission(lambda t: rates, grid.nlayer, 1, tag_weights=w1),
                  mass_flux_builder=BalancedMassFluxBuilder(), advection=HorizontalAdvection(),
                  surface_compartments=("soil",), tags=("A", "B"))
    t = np.datetime64("2010-01-01")
    model.update_forcing(t, 0)
    dt = 3600.0
    for _ in range(3):
        model.time_step(dt, t)
    model.emissions = GriddedEmission(lambda t: 2.0 * rates, grid.nlayer, 1, tag_weights=w2)
    for _ in range(2):
        model.time_step(dt, t)
    col = model.collect()
    expected = 3 * dt * w1 * rates + 2 * dt * w2 * 2.0 * rates
    np.testing.assert_allclose(col.emitted_air_kg[:, 0], expected, rtol=1e-14)
    assert not np.any(col.emitted_surface_kg)
    # each tag's mass balance closes with its own emission: burden = emitted - degraded - outflow + inflow
    lost = sum(col.moved_tag_kg.values())
    burden = model.air_kg.sum(axis=(1, 2, 3)) + model.surface_kg.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(burden, expected.sum(axis=(1, 2)) - lost - col.outflow_kg + col.inflow_kg, rtol=1e-12)


def test_fate_integrals_per_span_of_steps_equal_those_step_by_step():
    """The model sums the start states of its fate steps and integrates once per span (one met record, step length
    and set of tag shares); a change of step length or of tag shares within a record starts a new span. Collected
    integrals and transfers equal those of a twin whose integrals are made at every step (flushed after each), to
    round-off, and the states are the same bit for bit."""
    grid, rates, w1, w2 = _two_tag_emissions()

    def model():
        return Model(grid, fate_processes=[FirstOrderDegradation({"air_0": 30 * DAY, "soil": 300 * DAY}),
                                           ConstantVelocityDryDeposition(0.003, "soil")],
                     met=UniformMet(grid, u_m_s=3.0), emissions=GriddedEmission(lambda t: rates, grid.nlayer, 1, tag_weights=w1),
                     mass_flux_builder=BalancedMassFluxBuilder(), advection=HorizontalAdvection(),
                     surface_compartments=("soil",), tags=("A", "B"))

    spans, steps = model(), model()
    t = np.datetime64("2010-01-01")
    for m in (spans, steps):
        m.update_forcing(t, 0)
    plan = [(3600.0, None)] * 3 + [(1800.0, None)] * 2 + [(1800.0, w2)] * 2 + [(3600.0, None)]
    for dt, shares in plan:
        for m in (spans, steps):
            if shares is not None:
                m.emissions = GriddedEmission(lambda t: rates, grid.nlayer, 1, tag_weights=shares)
            m.time_step(dt, t)
        steps._flush_transfers()  # the twin: every step's integral on its own
        np.testing.assert_array_equal(spans.air_kg, steps.air_kg)
        np.testing.assert_array_equal(spans.surface_kg, steps.surface_kg)
    a, b = spans.collect(), steps.collect()
    for x, y in ((a.integral_air_kg_s, b.integral_air_kg_s), (a.integral_surface_kg_s, b.integral_surface_kg_s),
                 (a.particle_integral_kg_s, b.particle_integral_kg_s)):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=0)
    assert a.moved_tag_kg.keys() == b.moved_tag_kg.keys() and a.moved_tag_kg
    for k in a.moved_tag_kg:
        np.testing.assert_allclose(a.moved_tag_kg[k], b.moved_tag_kg[k], rtol=1e-13, atol=0)
        np.testing.assert_allclose(a.moved_cell_kg[k], b.moved_cell_kg[k], rtol=1e-13, atol=1e-30)


def test_transfers_are_classified_by_their_declared_kind_not_their_name():
    from popstransport.processes.fate import FateError, Transfer
    from popstransport.simulation import classify_transfer

    surface = ("soil", "ocean")
    assert classify_transfer("rain_washout", "air_0", "soil", surface, "wet_deposition") == ("wet_deposition", 1.0)
    # a name containing "dry" or "wet" no longer decides the kind
    assert classify_transfer("drydock_exchange", "air_0", "ocean", surface) == ("air_surface_exchange", 1.0)
    assert classify_transfer("wetland_release", "soil", "air_0", surface) == ("air_surface_exchange", -1.0)
    assert classify_transfer("anything", "soil", "degraded", surface, "dry_deposition") is None
    with pytest.raises(FateError, match="transfer kind 'rain'"):
        Transfer("x", "air_0", "soil", 1.0, "rain")


def test_the_particle_fraction_output_is_the_air_mass_weighted_mean():
    """The period's particle-bound fraction in air is the fraction of the partitioning process weighted by the
    chemical's mass in air over the period: a field that is fixed in time comes out unchanged where there is
    chemical in the air, and as the current field where there is none."""
    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)
    field = np.linspace(0.05, 0.95, grid.nlayer * grid.nlat * grid.nlon).reshape(grid.nlayer, grid.nlat, grid.nlon)

    class FixedPartitioning(Process):
        """A partitioning process that moves nothing and gives the particle fraction ``field``."""

        name = "fixed_partitioning"

        def transfers(self, context, forcing):
            return []

        def particle_fraction_field(self, context, forcing):
            return field

    rates = np.zeros(grid.shape)
    rates[:, : grid.nlon // 2] = 1e-5  # (chemical reaches the eastern cells only by transport)
    model = _model(grid, u=0.0, emission=rates)
    model.fate_processes.append(FixedPartitioning())
    (period,) = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-02"), 3 * 3600.0,
                           frequency="run").run()
    np.testing.assert_allclose(period.particle_fraction, field, rtol=1e-12)


def test_budget_closes_with_emissions_into_a_surface_compartment():
    """Emissions straight into the soil (a compartment after the air layers) are booked in the budget as the soil's
    emission, and the budget closes."""
    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)
    model = _model(grid)
    model.emissions = GriddedEmission(lambda t: np.full(grid.shape, 1e-5), grid.nlayer, 1, layer=grid.nlayer)
    (period,) = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-03"), 3 * 3600.0,
                           frequency="run").run()
    rows = period.budget.rows()
    assert rows["emitted_soil_kg"] == pytest.approx(1e-5 * grid.nlat * grid.nlon * 2 * DAY, rel=1e-12)
    assert rows["emitted_air_0_kg"] == 0.0
    assert period.budget.relative_closure_error() < 1e-12


class _RecordingMet(UniformMet):
    """Uniform forcing that remembers when it was asked for fields, and covers only ``cover`` (linear rule)."""

    def __init__(self, grid, cover=None):
        super().__init__(grid, u_m_s=1.0)
        self.asked: list[np.datetime64] = []
        self.cover = cover

    def fields_at(self, time):
        self.asked.append(np.datetime64(time, "s"))
        return super().fields_at(time)

    def check_covers(self, start, stop):
        from popstransport.io.met.timeseries import RecordTimes

        if self.cover is not None:
            RecordTimes(np.array(self.cover, dtype="datetime64[s]"), "linear", "met.nc").check_covers(start, stop)


@pytest.mark.parametrize(
    ("stop", "update_h", "expected"),
    [
        # an interval longer than the run: forcing of the middle of the run, not of July
        ("2010-01-05", 8760.0, ["2010-01-03T00:00"]),
        # a last interval cut short by the stop: the middle of its part inside the run, not after the stop
        ("2010-01-02T12:00", 24.0, ["2010-01-01T12:00", "2010-01-02T06:00"]),
        ("2010-01-03", 24.0, ["2010-01-01T12:00", "2010-01-02T12:00"]),
    ],
)
def test_forcing_is_taken_inside_the_run(stop, update_h, expected):
    grid = LatLonGrid.box(100, 30)
    model = _model(grid)
    model.met = _RecordingMet(grid)
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64(stop), 3 * 3600.0, met_update_s=update_h * 3600.0,
                     frequency="run")
    sim.run()
    assert model.met.asked == [np.datetime64(t, "s") for t in expected]
    assert list(sim.forcing_span()) == [np.datetime64(expected[0], "s"), np.datetime64(expected[-1], "s")]


def test_met_not_covering_the_run_is_refused_before_the_first_step(tmp_path):
    """Records that stop inside the run are refused before any step, naming the file, what it covers and what the
    run needs; a failed run leaves no files."""
    grid = LatLonGrid.box(100, 30)
    model = _model(grid)
    model.met = _RecordingMet(grid, cover=["2010-01-01", "2010-01-03"])
    rd = RunDirectory(tmp_path / "run")
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-05"), 3 * 3600.0,
                     writers=[FieldsWriter(rd, grid, run_attributes(""))])
    with pytest.raises(ValueError, match=r"met\.nc: time: records cover 2010-01-01\.\.2010-01-03 but the run needs "
                                         r"2010-01-01T12:00:00\.\.2010-01-04T12:00:00"):
        sim.run()
    assert model.met.asked == []
    assert list((tmp_path / "run").iterdir()) == []
    model.met = _RecordingMet(grid, cover=["2010-01-01T12:00", "2010-01-04T12:00"])
    Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-05"), 3 * 3600.0).run()


def test_overwrite_removes_the_earlier_runs_outputs_only_when_the_run_completes(tmp_path):
    """A rerun with overwrite that fails leaves the earlier run as it was; one that completes leaves none of the
    earlier run's outputs beside its own (attribution files, scenarios, figures, report, checkpoint), and keeps files
    that popstransport does not write."""
    grid = LatLonGrid.box(100, 30)
    run = tmp_path / "run"
    earlier = ["fields.nc", "budget.csv", "config.toml", "attribution.nc", "tag_fields.nc", "border_flux.csv",
               "region_air_budget.csv",
               "source_receptor_deposition.csv", "checkpoint.pkl", "report.html", "plots/deposition.png",
               "plots/source_receptor_2010-01.png", "scenarios/half/attribution.nc", "scenarios/half/fields.nc",
               "scenarios/old/source_receptor_deposition.csv", "evaluation/evaluation.csv"]
    mine = ["notes.txt", "plots/my_map.png", "scenarios/half/notes.txt", ".hidden"]
    for name in earlier + mine:
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text("earlier")

    def rerun(emission):
        model = _model(grid)
        model.emissions = GriddedEmission(emission, grid.nlayer, 1)
        rd = RunDirectory(run, overwrite=True)
        attrs = run_attributes("")
        sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-03"), 3 * 3600.0,
                         writers=[FieldsWriter(rd, grid, attrs), BudgetWriter(rd, attrs)])
        sim.run()

    with pytest.raises(ValueError, match="emission rate -1.0"):
        rerun(lambda t: np.full(grid.shape, -1.0))
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()) == sorted(earlier + mine)
    assert all((run / name).read_text() == "earlier" for name in earlier + mine)
    rerun(lambda t: np.zeros(grid.shape))
    left = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    assert left == sorted(["fields.nc", "budget.csv", "budget.nc", *mine])
    assert (run / "budget.csv").read_text() != "earlier"
    assert not (run / "scenarios" / "old").exists() and not (run / "evaluation").exists()


def test_a_second_simulation_of_the_same_model_refreshes_its_forcing():
    """A run after a spin-up steps the same model: its first forcing interval (key 0) is not the spin-up's key 0,
    so the model takes the run's forcing, not the spin-up's (with met_update_hours of a year or more both were 0)."""
    from popstransport.io.met import SyntheticClimatology

    grid = LatLonGrid.regional(60.0, 180.0, -15.0, 60.0, 15.0)
    model = _model(grid)
    model.met = SyntheticClimatology(grid)
    year = 365 * DAY
    Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-03"), DAY, met_update_s=year,
               frequency="run").run()
    january = model.forcing.fields["air_temperature_k"].copy()
    second = Simulation(model, np.datetime64("2010-07-01"), np.datetime64("2010-07-03"), DAY, met_update_s=year,
                        frequency="run")
    second.run()
    july = model.met.fields_at(second.forcing_time(0))["air_temperature_k"]
    np.testing.assert_array_equal(model.forcing.fields["air_temperature_k"], july)
    assert not np.array_equal(january, july)


class _FailsToClose:
    """A writer whose files cannot be written when the run has succeeded (a full disk)."""

    def write_period(self, period, model):
        pass

    def close(self, success):
        if success:
            raise OSError("no space left on device")


def test_a_writer_that_fails_to_close_leaves_no_other_output(tmp_path):
    """When one writer fails while the run's files are put in place, the others are closed as failed: no partial
    file is left, and no fields or budget of a run whose outputs are incomplete."""
    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)
    model = _model(grid, emission=np.full(grid.shape, 1e-5))
    rd = RunDirectory(tmp_path / "run")
    attrs = run_attributes(load_config(None).to_toml())

    writers = [FieldsWriter(rd, grid, attrs), BudgetWriter(rd, attrs), _FailsToClose()]
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-03"), 3 * 3600.0, frequency="daily",
                     writers=writers)
    with pytest.raises(OSError, match="no space left on device"):
        sim.run()
    assert not list((tmp_path / "run").iterdir())


def test_a_writer_closed_last_that_fails_takes_back_the_files_already_closed(tmp_path):
    """The files of a run are put in place together: a writer that fails after the others have closed (it closes
    last) leaves neither their files nor partial ones, and an earlier run's results as they were."""
    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)
    run = tmp_path / "run"
    run.mkdir()
    (run / "fields.nc").write_text("earlier")
    (run / "attribution.nc").write_text("earlier")

    rd = RunDirectory(run, overwrite=True)
    attrs = run_attributes(load_config(None).to_toml())
    writers = [_FailsToClose(), FieldsWriter(rd, grid, attrs), BudgetWriter(rd, attrs)]
    sim = Simulation(_model(grid), np.datetime64("2010-01-01"), np.datetime64("2010-01-02"), 3 * 3600.0, writers=writers)
    with pytest.raises(OSError, match="no space left on device"):
        sim.run()
    assert sorted(p.name for p in run.iterdir()) == ["attribution.nc", "fields.nc"]
    assert (run / "fields.nc").read_text() == "earlier"


def test_a_run_stopped_while_its_files_are_put_in_place_is_completed_when_read(tmp_path, monkeypatch):
    """A crash between the renames of a run's files leaves the journal; the next reader finishes the renames and the
    removal of the earlier run's outputs, so the folder holds one run's results, all of them."""
    import os

    from popstransport.results import open_run

    grid = LatLonGrid.regional(0, 20, 0, 10, 2.0)
    run = tmp_path / "run"
    run.mkdir()
    (run / "attribution.nc").write_text("earlier, tagged")
    rd = RunDirectory(run, overwrite=True)
    attrs = run_attributes(load_config(None).to_toml())
    writers = [FieldsWriter(rd, grid, attrs), BudgetWriter(rd, attrs)]
    real_replace = os.replace
    renamed = []

    def crash_after_one_rename(src, dst):
        if Path(dst).parent != run or str(dst).endswith(RunDirectory.JOURNAL) or not renamed:
            if Path(dst).parent == run and not str(dst).endswith(RunDirectory.JOURNAL):
                renamed.append(Path(dst))
            return real_replace(src, dst)
        raise KeyboardInterrupt  # (the process stops here)

    sim = Simulation(_model(grid), np.datetime64("2010-01-01"), np.datetime64("2010-01-02"), 3 * 3600.0, writers=writers)
    monkeypatch.setattr(os, "replace", crash_after_one_rename)
    with pytest.raises(KeyboardInterrupt):
        sim.run()
    monkeypatch.setattr(os, "replace", real_replace)
    names = {p.name for p in run.iterdir()}
    assert RunDirectory.JOURNAL in names and any(n.endswith(".partial") for n in names) and len(renamed) == 1
    assert renamed[0].name in names
    assert "attribution.nc" not in names  # (removed before the first rename)
    with open_run(run) as results:
        assert results.budget.sizes["time"] == 1 and results.fields.sizes["time"] == 1
    assert sorted(p.name for p in run.iterdir()) == ["budget.csv", "budget.nc", "fields.nc"]
    with pytest.raises(OutputExistsError, match="already holds results"):
        RunDirectory(run)


def test_a_long_run_keeps_no_periods_in_memory_and_resumes_from_its_periods_file(tmp_path):
    """Without keep_periods only the writers get the finished periods, and a checkpoint holds the state and a count:
    the periods a resumed run writes again are read from the periods file beside it, one by one. A run interrupted
    after periods past its last checkpoint resumes from the checkpoint (the later periods in the file are dropped)
    and ends with every period as an uninterrupted run has them, bit for bit."""
    import pickle

    grid = LatLonGrid.box(100, 30)
    start, stop = np.datetime64("2010-01-01"), np.datetime64("2010-05-01")
    ckpt = tmp_path / "checkpoint.pkl"

    class Collect:
        def __init__(self):
            self.periods = []

        def write_period(self, period, model):
            self.periods.append(period)

        def close(self, success):
            pass

    def sim(writer, progress=None, keep=False):
        return Simulation(_model(grid, emission=np.full(grid.shape, 1e-6)), start, stop, 6 * 3600.0,
                          writers=[writer], checkpoint_path=ckpt, checkpoint_every_months=2, progress=progress,
                          keep_periods=keep)

    reference = Collect()
    assert sim(reference, keep=True).run() and len(reference.periods) == 4
    assert not ckpt.exists() and not Simulation.periods_path(ckpt).exists()

    def stop_mid_april(simulated_s, total_s, wall_s):
        if simulated_s > (np.datetime64("2010-04-15") - start) / np.timedelta64(1, "s"):
            raise KeyboardInterrupt

    first = sim(Collect(), stop_mid_april)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    assert first.periods == []
    with open(ckpt, "rb") as fh:
        data = pickle.load(fh)
    assert data["period_index"] == 1 and "periods" not in data  # (the checkpoint at the end of February)
    assert Simulation.periods_path(ckpt).stat().st_size > data["periods_bytes"]  # (March is in the file too)
    resumed_writer = Collect()
    resumed = sim(resumed_writer, keep=True)
    resumed.resume(ckpt)
    resumed.run()
    assert [p.start for p in resumed_writer.periods] == [p.start for p in reference.periods]
    for a, b in zip(reference.periods, resumed_writer.periods):
        np.testing.assert_array_equal(a.mean_air_kg, b.mean_air_kg)
        np.testing.assert_array_equal(a.mean_surface_kg, b.mean_surface_kg)
        for comp in a.budget.burden_end:
            np.testing.assert_array_equal(a.budget.burden_end[comp], b.budget.burden_end[comp])


def test_a_simulation_runs_once():
    # (a second run() advanced the model further and appended the periods again with the first run's dates)
    model = _model(LatLonGrid.box(100, 30), emission=np.full((1, 1), 1e-3))
    sim = Simulation(model, np.datetime64("2010-01-01"), np.datetime64("2010-01-03"), 6 * 3600.0, frequency="daily")
    assert len(sim.run()) == 2
    state = model.air_kg.copy()
    with pytest.raises(RuntimeError, match="already run .* build a new model and Simulation"):
        sim.run()
    assert np.array_equal(model.air_kg, state) and len(sim.periods) == 2


def test_steps_alternate_transport_and_fate_and_a_checkpoint_keeps_the_order(tmp_path):
    """Even steps run transport then fate, odd steps fate then transport (two steps: the symmetric composition
    T F F T, bit for bit), the step parity is kept in a checkpoint, and a run resumed from a checkpoint taken after
    an odd number of steps is bit-identical to the uninterrupted run."""
    import pickle

    from popstransport.run import build_run, build_simulation

    sets = ["domain.resolution_deg=5", "time.start=2010-01-01", "time.stop=2010-01-03", "time.step_hours=5",
            "output.frequency=daily"]
    cfg = load_config(None, sets)
    a, b = build_run(cfg).model, build_run(cfg).model
    t0 = np.datetime64("2010-01-01T00:00")
    for m in (a, b):
        m.update_forcing(t0, 0)
        m.air_kg[...] = np.random.default_rng(1).random(m.air_kg.shape) * 1e-3
    a.time_step(1800.0, t0)
    a.time_step(1800.0, t0 + np.timedelta64(1800, "s"))
    b._transport_step(1800.0)
    b._fate_step(1800.0, t0)
    b._fate_step(1800.0, t0 + np.timedelta64(1800, "s"))
    b._transport_step(1800.0)
    assert a.split_phase == 2
    np.testing.assert_array_equal(a.air_kg, b.air_kg)
    np.testing.assert_array_equal(a.surface_kg, b.surface_kg)
    # 5-hour steps: January takes 149 (the last one 4 hours), so the checkpoint at its end has an odd parity
    cfg = load_config(None, [*sets[:2], "time.step_hours=5", "time.met_update_hours=5", "time.stop=2010-03-01",
                             "output.frequency=monthly"])

    class FailInFebruary:
        def write_period(self, period, model):
            if period.start >= np.datetime64("2010-02-01"):
                raise RuntimeError("stopped")

        def close(self, success):
            pass

    def simulation(writers=()):
        sim = build_simulation(cfg, build_run(cfg).model, writers=writers, checkpoint_path=tmp_path / "checkpoint.pkl")
        sim.checkpoint_every_months = 1
        return sim

    whole = build_simulation(cfg, build_run(cfg).model)
    whole.run()
    with pytest.raises(RuntimeError, match="stopped"):
        simulation([FailInFebruary()]).run()
    with open(tmp_path / "checkpoint.pkl", "rb") as fh:
        assert pickle.load(fh)["split_phase"] == 149
    resumed = simulation()
    resumed.resume(tmp_path / "checkpoint.pkl")
    resumed.run()
    np.testing.assert_array_equal(resumed.model.air_kg, whole.model.air_kg)
    np.testing.assert_array_equal(resumed.model.surface_kg, whole.model.surface_kg)


def test_run_honours_output_overwrite_of_the_configuration(tmp_path):
    """``popstransport.run(cfg, DIR)`` took only its own ``overwrite`` argument: a configuration with
    ``output.overwrite = true``, which the command line honours, was refused over an earlier run from Python."""
    from popstransport.run import run

    cfg = load_config(None, ["domain.kind=box", "time.stop=2010-01-02", "emissions.source=uniform",
                             "processes.fate=simple", "output.frequency=run"])
    out = run(cfg, tmp_path / "run")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run(cfg, out)
    first = (out / "fields.nc").stat().st_mtime_ns
    assert run(cfg.with_overrides(["output.overwrite=true"]), out) == out
    assert (out / "fields.nc").stat().st_mtime_ns != first
