"""Cyclo-stationary spin-up reaches the brute-force periodic state with far fewer model years."""

import numpy as np
import pytest

from popstransport.config import load_config
from popstransport.run import build_model
from popstransport.spinup import _state, one_year, spinup_cyclostationary, spinup_repeat


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
    from popstransport.run import spin_up
    from popstransport.spinup import SpinupError

    model, cfg = _model()
    cfg = load_config(None, [
        "domain.resolution_deg=15", "met.source=synthetic", "emissions.source=uniform", "time.step_hours=24",
        "time.met_update_hours=720", "processes.fate=simple", "domain.layer_edges_m=[0, 1000]",
        "processes.advection_scheme=upwind", "spinup.method=repeat", "spinup.years=1", "spinup.tolerance=1e-12",
    ])
    with pytest.raises(SpinupError, match=r"spin-up \(repeat\) did not converge in 1 model years .*raise spinup\.years"):
        spin_up(cfg, model)
