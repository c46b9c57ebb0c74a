"""The float32 state option: same run as float64 to single-precision accuracy, budgets still close, memory halved."""

from __future__ import annotations

import numpy as np
import pytest

from popstransport.config import load_config
from popstransport.run import build_run, build_simulation

SMALL = ["domain.resolution_deg=5", "time.stop=2010-04-01", "met.source=synthetic", "attribution.tags=countries",
         "output.frequency=monthly"]


def _run(precision: str):
    cfg = load_config(None, [*SMALL, f"processes.state_precision={precision!r}".replace("'", '"')])
    setup = build_run(cfg)
    sim = build_simulation(cfg, setup.model, per_tag=True)
    periods = sim.run()
    return setup.model, periods


@pytest.fixture(scope="module")
def runs():
    return {p: _run(p) for p in ("float64", "float32")}


def test_float32_state_matches_float64(runs):
    m64, p64 = runs["float64"]
    m32, p32 = runs["float32"]
    assert m32.air_kg.dtype == np.float32 and m32.surface_kg.dtype == np.float32
    assert m64.air_kg.dtype == np.float64
    assert m32.air_kg.nbytes * 2 == m64.air_kg.nbytes
    total64 = m64.air_kg.sum() + m64.surface_kg.sum()
    total32 = m32.air_kg.sum(dtype=np.float64) + m32.surface_kg.sum(dtype=np.float64)
    assert total64 > 0
    # the whole burden agrees to single precision accumulated over ~700 steps
    assert abs(total32 - total64) / total64 < 1e-6  # measured 1e-8
    # cell by cell, where the chemical is (above 1e-6 of the largest cell), the mean air burden agrees to 1e-4
    for a64, a32 in zip(p64, p32):
        ref = a64.mean_air_kg
        big = ref > 1e-6 * ref.max()
        rel = np.abs(a32.mean_air_kg[big] - ref[big]) / ref[big]
        assert rel.max() < 1e-4 and np.median(rel) < 1e-6  # measured 4e-6 and 3e-8
        np.testing.assert_allclose(a32.tag_mean_air_kg.sum(axis=0), a32.mean_air_kg, rtol=1e-6, atol=1e-12 * ref.max())


def test_float32_budget_closes_to_single_precision(runs):
    for precision, tol in (("float64", 1e-12), ("float32", 1e-6)):  # measured 1e-15 and 8e-9
        _, periods = runs[precision]
        worst = max(abs(p.budget.relative_closure_error()) for p in periods)
        assert worst < tol, (precision, worst)


def test_unknown_precision_is_refused():
    from popstransport.config import ConfigError

    with pytest.raises(ConfigError, match="state_precision"):
        load_config(None, ['processes.state_precision="float16"'])


def test_float32_state_spins_up_to_single_precision():
    """The cyclo-stationary spin-up works in float64 on a float32 state and reaches the float64 solution to
    single precision (measured 1.9e-6 relative)."""
    import dataclasses

    from popstransport.run import build_model
    from popstransport.spinup import _state, spinup_cyclostationary

    cfg = load_config(None, [
        "domain.resolution_deg=15", "met.source=synthetic", "emissions.source=uniform", "time.step_hours=24",
        "time.met_update_hours=720", "processes.soil_half_life_days=1000", "processes.air_half_life_days=30",
        "processes.fate=simple", "domain.layer_edges_m=[0, 1000]", "processes.advection_scheme=upwind",
    ])
    states = {}
    for precision, tolerance in (("float64", 1e-10), ("float32", 1e-6)):
        c = dataclasses.replace(cfg, processes=dataclasses.replace(cfg.processes, state_precision=precision))
        model = build_model(c)
        res = spinup_cyclostationary(model, np.datetime64(c.time.start), 86400.0, 720 * 3600.0, tolerance=tolerance)
        assert res.converged and model.air_kg.dtype == np.dtype(precision)
        assert _state(model).dtype == np.float64
        states[precision] = _state(model)
    rel = np.linalg.norm(states["float32"] - states["float64"]) / np.linalg.norm(states["float64"])
    assert rel < 1e-5
