"""Cyclo-stationary spin-up reaches the brute-force periodic state with far fewer model years."""

import numpy as np
import pytest

import popstransport.spinup
from popstransport.config import load_config
from popstransport.run import build_model, spin_up
from popstransport.spinup import (
    SpinupError,
    _relative_change,
    _state,
    one_year,
    spinup_cyclostationary,
    spinup_repeat,
    year_after,
)

DT, UPDATE = 86400.0, 720 * 3600.0


def _model():
    cfg = load_config(None, [
        "domain.resolution_deg=15", "met.source=synthetic", "emissions.source=uniform", "time.step_hours=24",
        "time.met_update_hours=720", "processes.soil_half_life_days=1000", "processes.air_half_life_days=30",
        "processes.fate=simple", "domain.layer_edges_m=[0, 1000]", "processes.advection_scheme=upwind",
    ])
    return build_model(cfg), cfg


@pytest.fixture(scope="module")
def brute_force():
    model, cfg = _model()
    res = spinup_repeat(model, np.datetime64(cfg.time.start), 86400.0, 720 * 3600.0, max_years=400, tolerance=1e-6)
    return res, _state(model)


def test_cyclostationary_matches_brute_force(brute_force):
    res_bf, x_bf = brute_force
    assert res_bf.converged
    model, cfg = _model()
    res = spinup_cyclostationary(model, np.datetime64(cfg.time.start), 86400.0, 720 * 3600.0, tolerance=1e-10)
    assert res.converged
    x = _state(model)
    assert np.linalg.norm(x - x_bf) / np.linalg.norm(x_bf) < 1e-4
    assert res.relative_annual_change < 1e-8
    assert res.model_years < res_bf.model_years / 3
    # one more year from the solution returns to it
    x0 = _state(model)
    one_year(model, np.datetime64(cfg.time.start), 86400.0, 720 * 3600.0)
    assert np.linalg.norm(_state(model) - x0) / np.linalg.norm(x0) < 1e-8


def test_spin_up_that_does_not_converge_is_an_error():
    """A spin-up that has not met its tolerance within ``spinup.years`` raises, saying how far it got and what to
    change, instead of starting the run from a state that is not periodic."""
    model, cfg = _model()
    cfg = load_config(None, [
        "domain.resolution_deg=15", "met.source=synthetic", "emissions.source=uniform", "time.step_hours=24",
        "time.met_update_hours=720", "processes.fate=simple", "domain.layer_edges_m=[0, 1000]",
        "processes.advection_scheme=upwind", "spinup.method=repeat", "spinup.years=1", "spinup.tolerance=1e-12",
    ])
    with pytest.raises(SpinupError, match=r"spin-up \(repeat\) did not converge in 1 model years .*raise spinup\.years"):
        spin_up(cfg, model)


def _multimedia(scheme):
    """Multimedia fate on a 15-degree grid: soil and ocean exchange with air, so the year map is not a plain decay
    (simple fate converges in 4 years whatever the method)."""
    cfg = load_config(None, [
        "domain.resolution_deg=15", "met.source=synthetic", "emissions.source=builtin", "time.step_hours=24",
        "time.met_update_hours=720", "processes.fate=multimedia", "domain.layer_edges_m=[0, 1000]",
        f"processes.advection_scheme={scheme}",
    ])
    return build_model(cfg), np.datetime64(cfg.time.start)


@pytest.fixture
def count_years(monkeypatch):
    """Counts the model years the spin-up runs (every call of ``one_year``)."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return one_year(*args, **kwargs)

    monkeypatch.setattr(popstransport.spinup, "one_year", counted)
    return calls


@pytest.mark.parametrize("method", ["repeat", "cyclostationary"])
def test_spin_up_spends_at_most_spinup_years(method, count_years):
    """``spinup.years`` caps every model year run, the final check included (the Krylov solve spent 5 years for 3)."""
    cfg = load_config(None, [
        "domain.resolution_deg=15", "met.source=synthetic", "emissions.source=uniform", "time.step_hours=24",
        "time.met_update_hours=720", "processes.fate=simple", "domain.layer_edges_m=[0, 1000]",
        "processes.advection_scheme=upwind", f"spinup.method={method}", "spinup.years=3", "spinup.tolerance=1e-12",
    ])
    model = build_model(cfg)
    with pytest.raises(SpinupError, match=rf"spin-up \({method}\) did not converge in 3 model years"):
        spin_up(cfg, model)
    assert len(count_years) == 3


def _check_real_year(model, start, res):
    """One more real year from the returned state changes it by the reported relative annual change."""
    x0 = _state(model)
    one_year(model, start, DT, UPDATE)
    assert _relative_change(x0, _state(model)) == pytest.approx(res.relative_annual_change, rel=1e-6)


@pytest.mark.parametrize("max_years", [4, 26])
def test_cyclostationary_converged_means_the_reported_change_is_below_tolerance(max_years, count_years):
    """``converged`` is decided on the relative annual change the result and the error report, against the same
    tolerance (with 26 years the Krylov solve reported 8.7e-8 < 1e-6 as not converged, and spent 29 years)."""
    model, start = _multimedia("upwind")
    res = spinup_cyclostationary(model, start, DT, UPDATE, tolerance=1e-6, max_years=max_years)
    assert res.converged == (max_years == 26)
    assert res.converged == (res.relative_annual_change < 1e-6)
    assert res.model_years == len(count_years) <= max_years
    _check_real_year(model, start, res)


@pytest.mark.parametrize("scheme", ["ppm"])
def test_cyclostationary_converges_with_a_limited_advection_scheme(scheme, count_years):
    """The limiters make the year map non-linear; the spin-up still reaches the periodic state of the real model
    (the Krylov solve of the affine map stalled at a relative annual change of 1e-2 with ppm)."""
    model, start = _multimedia(scheme)
    res = spinup_cyclostationary(model, start, DT, UPDATE, tolerance=1e-6, max_years=40)
    assert res.converged and res.relative_annual_change < 1e-6
    assert res.model_years == len(count_years) <= 40
    _check_real_year(model, start, res)


@pytest.mark.parametrize("method", [spinup_repeat, spinup_cyclostationary])
def test_tagged_spin_up_decides_as_the_untagged_one(method):
    """The spin-up measures the change of the total over tags: a tagged run takes the same years with the same
    change as the untagged run, and its tags add up to the untagged state (the change of the tag-split state made
    a tagged run take a year more at the same tolerance)."""
    from popstransport.run import build_run

    over = ["domain.resolution_deg=15", "met.source=synthetic", "time.step_hours=24", "time.met_update_hours=720",
            "processes.fate=simple", "domain.layer_edges_m=[0, 1000]", "processes.advection_scheme=upwind"]
    results, totals = [], []
    for tags in (["attribution.tags=none"], ["attribution.tags=list", "attribution.regions=['CHN', 'IND']"]):
        cfg = load_config(None, [*over, *tags])
        model = build_run(cfg).model
        results.append(method(model, np.datetime64(cfg.time.start), DT, UPDATE, max_years=3, tolerance=1e-12))
        totals.append(np.concatenate([model.air_kg.sum(axis=0).ravel(), model.surface_kg.sum(axis=0).ravel()]))
    (a, b), (ta, tb) = results, totals
    assert a.model_years == b.model_years == 3 and not a.converged and not b.converged
    assert b.relative_annual_change == pytest.approx(a.relative_annual_change, rel=1e-9)
    np.testing.assert_allclose(tb, ta, rtol=1e-9, atol=1e-12 * ta.max())


@pytest.mark.parametrize("start, end", [
    ("2010-01-01", "2011-01-01"),
    ("2011-07-01T06:00", "2012-07-01T06:00"),  # a year holding 29 February 2012: 366 days, not 365
    ("2011-03-01", "2012-03-01"),
    ("2012-03-01", "2013-03-01"),
    ("2012-12-31", "2013-12-31"),
    ("2012-02-29T12:00", "2013-03-01T12:00"),  # no 29 February in 2013: the day after 28 February
])
def test_the_spin_up_year_ends_on_the_same_date_one_calendar_year_later(start, end):
    """The repeated year ends where the run's first year would: on the start's date and time of day a year later
    (the state it converges to is the one at the start's time of the year)."""
    assert year_after(np.datetime64(start)) == np.datetime64(end, "s")


@pytest.mark.parametrize("method", [spinup_repeat, spinup_cyclostationary])
def test_the_run_after_the_spin_up_starts_as_every_spin_up_year_did(method):
    """Every spin-up year starts with the model's first-step order of transport and fate (and sweep order); the
    run's first year must too, or it is another year map than the one whose periodic state was found: with 24-hour
    steps (365 a year, odd) the run's first year moved a state spun up to 1e-10 by 7e-5."""
    from popstransport.simulation import Simulation

    model, cfg = _model()
    start = np.datetime64(cfg.time.start)
    res = method(model, start, DT, UPDATE, max_years=100, tolerance=1e-10)
    assert res.converged
    phases = (model.split_phase, model.transport_phase)
    x0 = _state(model)
    Simulation(model, start, year_after(start), DT, UPDATE, frequency="monthly").run()  # as the run's first year
    assert _relative_change(x0, _state(model)) < 1e-8
    assert phases == (0, 0)


def test_a_folder_with_results_is_refused_before_the_spin_up(tmp_path, monkeypatch):
    """A run into a folder that holds results, without --overwrite, is refused before its spin-up (which may take
    hours), not after it."""
    import sys

    from popstransport.io.writers import OutputExistsError
    from popstransport.run import run

    out = tmp_path / "run"
    out.mkdir()
    (out / "fields.nc").write_bytes(b"")

    def no_spin_up(*args, **kwargs):
        raise AssertionError("the spin-up ran")

    monkeypatch.setattr(sys.modules["popstransport.run"], "spin_up", no_spin_up)  # (popstransport.run is the function)
    cfg = load_config(None, ["domain.resolution_deg=15", "time.stop=2010-02-01", "emissions.source=uniform",
                             "spinup.method=repeat"])
    with pytest.raises(OutputExistsError, match="already holds results"):
        run(cfg, out)
