"""Spin-up: bring slow reservoirs (soil, ocean) to the periodic state the forcing implies.

The forcing repeats every year, so one model year maps the state at the start of the year to ``Y(x)``, and the
cyclo-stationary state is the fixed point ``x = Y(x)``. Repeating the year converges like ``rho^n``, with ``rho``
close to 1 for a soil half-life of decades. ``spinup_cyclostationary`` accelerates the repetition with Anderson
mixing (Anderson 1965, J. ACM 12:547; Walker & Ni 2011, SIAM J. Numer. Anal. 49:1715): for a linear advection
scheme ``Y(x) = A x + b`` is affine and, while its memory lasts, each iterate is ``Y`` of GMRES's iterate on
``(I - A) x = b`` (Saad & Schultz 1986, SIAM J. Sci. Stat. Comput. 7:856), as in the Krylov spin-up of periodic
tracers of Khatiwala (2008, Ocean Modelling 23:121) and Li & Primeau (2008, Ocean Modelling 23:13). The limited
schemes (``ppm``, ``ppm_cw84``, ``vanleer``) make ``Y`` non-linear: a Krylov solve of the affine map stalls there,
Anderson mixing, which only evaluates ``Y``, does not.
Both methods count every model year they run against ``max_years`` and decide convergence on the relative annual
change of the state, measured by running the real model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


def _total(model: Model, x: np.ndarray) -> np.ndarray:
    """The total over tags of a state vector of :func:`_state`: the spin-up decides and accelerates on it, so that
    a tagged run (and every batch of tags of a distributed run, whose tags add up to the total) takes the same
    years as the untagged run."""
    n = model.air_kg.size
    air = x[:n].reshape(model.air_kg.shape).sum(axis=0)
    surface = x[n:].reshape(model.surface_kg.shape).sum(axis=0)
    return np.concatenate([air.ravel(), surface.ravel()])


def _set_state(model: Model, x: np.ndarray) -> None:
    n = model.air_kg.size
    model.air_kg[...] = x[:n].reshape(model.air_kg.shape)
    model.surface_kg[...] = x[n:].reshape(model.surface_kg.shape)


def year_after(start: np.datetime64) -> np.datetime64:
    """The end of the spin-up year that begins at ``start``: the same date and time of day one calendar year later
    (1 March for a start on 29 February), so that the year is 366 days long when it holds a 29 February."""
    start = np.datetime64(start, "s")
    month = np.datetime64(start, "M")
    # (the same month of the next year, then the time since the first of the month: the day count of a year, or of
    # the months before the start, would shift the date by a day around a 29 February)
    same_month = month + np.timedelta64(12, "M")
    return same_month.astype("datetime64[s]") + (start - month.astype("datetime64[s]"))


def _reset_phases(model: Model) -> None:
    """Put the hidden step state (the sweep order of the advection, the order of transport and fate) back to that of
    a model's first step: every spin-up year starts there, so the run after the spin-up must too, or its first year
    is another year map than the one whose periodic state was found (with an odd number of steps a year, 24-hour
    steps, the run's first year moved a state spun up to 1e-9 by 1e-4 to 3e-4 on a 15-degree multimedia model)."""
    model.transport_phase = 0
    model.split_phase = 0


def one_year(model: Model, start: np.datetime64, dt_s: float, met_update_s: float, emissions: bool = True,
             progress: Callable[[float, float, float], None] | None = None) -> None:
    """Advance the model state by one calendar year from ``start`` (emissions on or off); ``progress`` is the
    year's :class:`~popstransport.simulation.Simulation` callback (an exception it raises stops the year)."""
    start = np.datetime64(start, "s")
    stop = year_after(start)
    saved = model.emissions
    _reset_phases(model)
    if not emissions:
        model.emissions = _NoEmission(model)
    try:
        Simulation(model, start, stop, dt_s, met_update_s, frequency="run", check_every=-1, progress=progress).run()
    finally:
        model.emissions = saved


def _relative_change(x0: np.ndarray, x1: np.ndarray) -> float:
    norm = float(np.linalg.norm(x1))
    return float(np.linalg.norm(x1 - x0)) / norm if norm > 0 else 0.0


def spinup_repeat(
    model: Model, start: np.datetime64, dt_s: float, met_update_s: float, max_years: int, tolerance: float = 1e-6,
    progress: Callable[[float, float, float], None] | None = None,
) -> SpinupResult:
    """Repeat the year until the relative annual change of the state (its total over tags) falls below ``tolerance``
    (or ``max_years``). ``progress`` is called after every step of every year, as a simulation's is (with the
    simulated seconds of that year): an exception it raises stops the spin-up, as a Dask task released by its
    run does (:func:`popstransport.distributed.stop_when_released`)."""
    change = float("inf")
    for year in range(1, max_years + 1):
        x0 = _total(model, _state(model))
        one_year(model, start, dt_s, met_update_s, progress=progress)
        change = _relative_change(x0, _total(model, _state(model)))
        if change < tolerance:
            _reset_phases(model)
            return SpinupResult("repeat", year, change, True)
    _reset_phases(model)
    return SpinupResult("repeat", max_years, change, False)


def spinup_cyclostationary(
    model: Model,
    start: np.datetime64,
    dt_s: float,
    met_update_s: float,
    tolerance: float = 1e-6,
    max_years: int = 200,
    history: int = 20,
    progress: Callable[[float, float, float], None] | None = None,
) -> SpinupResult:
    """Find the periodic state ``x = Y(x)`` by Anderson-accelerated repetition of the year, one model year per
    iteration.

    Parameters
    ----------
    model
        The model; its state on entry is the first guess, and on return is the best state found.
    start
        Start of the repeated year.
    dt_s, met_update_s
        Model time step and met update interval (s).
    tolerance
        Convergence when the relative annual change ``|Y(x) - x| / |Y(x)|`` of the returned state ``x`` is below
        this, the quantity ``spinup_repeat`` and the error messages use.
    max_years
        Most model years run, counting every year: the spin-up stops with ``converged=False`` when they are spent.
    history
        Most previous years the acceleration combines (memory: about ``history`` state vectors, and as many
        totals over tags).
    progress
        Called after every step of every year, as a simulation's ``progress`` (with the simulated seconds of that
        year); an exception it raises stops the spin-up (a released Dask task's, see
        :func:`popstransport.distributed.stop_when_released`).

    Returns
    -------
    SpinupResult
        ``relative_annual_change`` is measured by running the model over one year from the returned state (that
        year is part of the iterations and counted in ``model_years``).

    Notes
    -----
    Each iteration runs the real model for one year from ``x_k`` (``g_k = Y(x_k)``, residual ``f_k = g_k - x_k``)
    and takes the next state as ``x_{k+1} = g_k - dG gamma``, with ``gamma`` minimising ``|f_k - dF gamma|`` over
    the differences ``dF``, ``dG`` of the last ``history`` residuals and year maps (Anderson 1965, J. ACM 12:547;
    the form of Walker & Ni 2011, SIAM J. Numer. Anal. 49:1715, without damping). For a linear year map it is
    equivalent to GMRES while its memory lasts (Walker & Ni 2011); unlike a Krylov solve of the affine map it needs
    no linearity, so it also converges with the limited advection schemes (``ppm``, ``ppm_cw84``, ``vanleer``),
    whose year map is not linear. Iterates are clipped at zero mass (the periodic state has none negative).
    """
    x = np.maximum(_state(model), 0.0)
    # (the residuals as totals over tags: the change and the least-squares fit are those of the untagged run, and
    # the same combination of the year maps is taken for every tag)
    d_f = np.empty((history, _total(model, x).size))
    d_g = np.empty((history, x.size))
    stored = 0
    best = (float("inf"), x)
    f_prev = g_prev = None
    years = 0
    while years < max_years:
        _set_state(model, x)
        x = _state(model)  # the state as the model holds it (float32 states round)
        one_year(model, start, dt_s, met_update_s, progress=progress)
        years += 1
        g = _state(model)
        total_x, total_g = _total(model, x), _total(model, g)
        f = total_g - total_x
        change = _relative_change(total_x, total_g)
        if change < best[0]:
            best = (change, x)
        if change < tolerance:
            break
        if f_prev is not None:
            # a ring: the least-squares fit does not depend on the order of the differences
            d_f[stored % history] = f - f_prev
            d_g[stored % history] = g - g_prev
            stored += 1
        f_prev, g_prev = f, g
        k = min(stored, history)
        if k:
            gamma = np.linalg.lstsq(d_f[:k].T, f, rcond=1e-12)[0]
            x = g - d_g[:k].T @ gamma
        else:
            x = g
        x = np.maximum(x, 0.0)
    change, x = best
    _set_state(model, x)
    _reset_phases(model)
    return SpinupResult("cyclostationary", years, change, change < tolerance)
