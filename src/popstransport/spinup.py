"""Spin-up: bring slow reservoirs (soil, ocean) to the periodic state the forcing implies.

Because the model is linear and the forcing repeats every year, one model year maps the state at the start of the
year to ``Y(x) = A x + b``: ``A`` is the year's propagator without emissions, ``b`` the state a year of emissions
builds from nothing. The cyclo-stationary state solves

    (I - A) x = b,

which a matrix-free Krylov method (GMRES; Saad & Schultz 1986, SIAM J. Sci. Stat. Comput. 7:856) solves with one
model year per iteration, far fewer years than brute-force repetition needs when reservoirs turn over slowly
(repetition converges like ``rho(A)^n``, with rho(A) close to 1 for a soil half-life of decades). Krylov
acceleration of periodic tracer spin-up follows Khatiwala (2008, Ocean Modelling 23:121) and Li & Primeau (2008,
Ocean Modelling 23:13).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as spla

from .model import Model
from .simulation import Simulation


class SpinupError(RuntimeError):
    """Spin-up did not reach its tolerance."""


@dataclass
class SpinupResult:
    """How the spin-up went."""

    method: str
    model_years: int
    relative_annual_change: float
    converged: bool


class _NoEmission:
    def __init__(self, model: Model):
        ncomp = model.air_kg.shape[1] + model.surface_kg.shape[1]
        self.rates = np.zeros((1, ncomp) + model.air_kg.shape[2:])

    def sources_kg_s(self, time: np.datetime64) -> tuple[np.ndarray, None]:
        return self.rates, None


def _state(model: Model) -> np.ndarray:
    """The whole state as one float64 vector (also for a float32 state: the spin-up solve works in float64)."""
    return np.concatenate([model.air_kg.ravel(), model.surface_kg.ravel()]).astype(np.float64)


def _set_state(model: Model, x: np.ndarray) -> None:
    n = model.air_kg.size
    model.air_kg[...] = x[:n].reshape(model.air_kg.shape)
    model.surface_kg[...] = x[n:].reshape(model.surface_kg.shape)


def year_after(start: np.datetime64) -> np.datetime64:
    """The end of the spin-up year that begins at ``start``: the same time of the year, one calendar year later."""
    start = np.datetime64(start, "s")
    return (np.datetime64(start, "Y") + np.timedelta64(1, "Y")).astype("datetime64[s]") + (
        start - np.datetime64(start, "Y").astype("datetime64[s]")
    )


def one_year(model: Model, start: np.datetime64, dt_s: float, met_update_s: float, emissions: bool = True) -> None:
    """Advance the model state by one calendar year from ``start`` (emissions on or off)."""
    start = np.datetime64(start, "s")
    stop = year_after(start)
    saved = model.emissions
    model.transport_phase = 0
    if not emissions:
        model.emissions = _NoEmission(model)
    try:
        Simulation(model, start, stop, dt_s, met_update_s, frequency="run", check_every=-1).run()
    finally:
        model.emissions = saved


def _relative_change(x0: np.ndarray, x1: np.ndarray) -> float:
    norm = float(np.linalg.norm(x1))
    return float(np.linalg.norm(x1 - x0)) / norm if norm > 0 else 0.0


def spinup_repeat(
    model: Model, start: np.datetime64, dt_s: float, met_update_s: float, max_years: int, tolerance: float = 1e-6
) -> SpinupResult:
    """Repeat the year until the relative annual change of the state falls below ``tolerance`` (or ``max_years``)."""
    change = float("inf")
    for year in range(1, max_years + 1):
        x0 = _state(model)
        one_year(model, start, dt_s, met_update_s)
        change = _relative_change(x0, _state(model))
        if change < tolerance:
            return SpinupResult("repeat", year, change, True)
    return SpinupResult("repeat", max_years, change, False)


def spinup_cyclostationary(
    model: Model,
    start: np.datetime64,
    dt_s: float,
    met_update_s: float,
    tolerance: float = 1e-8,
    max_years: int = 200,
) -> SpinupResult:
    """Solve (I - A) x = b for the periodic state with GMRES, one model year per iteration.

    ``tolerance`` is GMRES's relative residual; the returned ``relative_annual_change`` is measured by running one
    more year from the solution (that year is counted in ``model_years``).
    """
    years = 0

    def year_map(x: np.ndarray, emissions: bool) -> np.ndarray:
        nonlocal years
        _set_state(model, x)
        one_year(model, start, dt_s, met_update_s, emissions)
        years += 1
        return _state(model)

    n = _state(model).size
    b = year_map(np.zeros(n), True)
    scale = float(np.linalg.norm(b)) or 1.0

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float).ravel()
        return v - year_map(v * scale, False) / scale

    op = spla.LinearOperator((n, n), matvec=matvec, dtype=float)
    x, info = spla.gmres(op, b / scale, rtol=tolerance, atol=0.0, restart=min(max_years, 60), maxiter=max(1, max_years // 60 + 1))
    x = np.maximum(x * scale, 0.0)
    _set_state(model, x)
    x1 = year_map(x, True)
    change = _relative_change(x, x1)
    _set_state(model, x)
    return SpinupResult("cyclostationary", years, change, info == 0)
