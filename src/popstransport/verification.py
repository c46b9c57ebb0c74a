"""Verification of the transport core on standard test cases (``popstransport verify``).

Runs the built-in flows of :mod:`popstransport.io.met.testcases` for whole periods, after which the exact solution
is the initial field, and reports the normalised error norms of Williamson et al. (1992, J. Comput. Phys.
102:211, eqs. 82-84), with ``I`` the area-weighted global integral:

    l1 = I(|q - q_T|) / I(|q_T|),   l2 = sqrt(I((q - q_T)^2) / I(q_T^2)),   linf = max|q - q_T| / max|q_T|.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .grid import AirLayers, LatLonGrid
from .io.met.testcases import TestCaseError, get_test_case
from .processes.advection import HorizontalAdvection

#: Largest wind speed of each flow in radians of great circle per period (Williamson et al. 1992: 2 pi;
#: Nair & Lauritzen 2010 case 4: k + 2 pi with k = 10).
_SPEED_RAD_PER_PERIOD = {"solid_body_rotation": 2.0 * np.pi, "deformational_flow": 10.0 + 2.0 * np.pi}


def error_norms(q: np.ndarray, q_exact: np.ndarray, cell_area_m2: np.ndarray) -> dict[str, float]:
    """Normalised ``l1``, ``l2`` and ``linf`` errors of ``q`` against ``q_exact`` (Williamson et al. 1992)."""
    e = q - q_exact
    a = cell_area_m2
    return {
        "l1": float((np.abs(e) * a).sum() / (np.abs(q_exact) * a).sum()),
        "l2": float(np.sqrt((e * e * a).sum() / (q_exact * q_exact * a).sum())),
        "linf": float(np.abs(e).max() / np.abs(q_exact).max()),
    }


@dataclass(frozen=True)
class VerificationRun:
    """One standard verification run (arguments of :func:`run_verification`)."""

    case: str
    resolution_deg: float
    parameters: dict


#: The standard suite printed by ``popstransport verify``.
STANDARD_SUITE: tuple[VerificationRun, ...] = (
    VerificationRun("solid_body_rotation", 2.8125, {"alpha_rad": 0.0}),
    VerificationRun("solid_body_rotation", 2.8125, {"alpha_rad": np.pi / 2 - 0.05}),
    VerificationRun("solid_body_rotation", 2.8125, {"alpha_rad": np.pi / 2}),
    VerificationRun("solid_body_rotation", 1.40625, {"alpha_rad": 0.0}),
    VerificationRun("deformational_flow", 1.5, {"shape": "gaussian_hills"}),
    VerificationRun("deformational_flow", 1.5, {"shape": "cosine_bells"}),
    VerificationRun("deformational_flow", 1.5, {"shape": "slotted_cylinders"}),
)


def run_verification(
    case: str = "solid_body_rotation",
    resolution_deg: float = 2.8125,
    *,
    alpha_rad: float = 0.0,
    shape: str = "cosine_bells",
    scheme: str = "ppm",
    splitting: str = "alternating",
    courant: float = 0.8,
    steps_per_period: int | None = None,
    periods: int = 1,
) -> dict[str, float | int | str]:
    """Run a transport test case on a global grid for whole periods and return its error norms.

    Parameters
    ----------
    case
        ``"solid_body_rotation"`` (Williamson et al. 1992 case 1; uses ``alpha_rad``) or ``"deformational_flow"``
        (Nair & Lauritzen 2010 / Lauritzen et al. 2012; uses ``shape``: ``"gaussian_hills"``, ``"cosine_bells"``
        or ``"slotted_cylinders"``).
    resolution_deg
        Grid spacing in degrees (longitude and latitude), e.g. 2.8125 for the 128 x 64 grid.
    scheme, splitting
        Advection options (see :class:`popstransport.processes.advection.HorizontalAdvection`).
    courant
        Equatorial Courant number of the fastest wind, which sets the time step unless ``steps_per_period`` is
        given (polar rows run at much larger zonal Courant numbers; sub-steps are added automatically). The default
        0.8 is the largest at which flow across the poles needs no sub-steps (a polar cell gives up to about the
        Courant number of its air in a meridional sweep before it is refilled, and the default ``max_air_loss`` of
        :class:`~popstransport.processes.advection.HorizontalAdvection` is 0.8). The remap is least diffusive near
        Courant number one, so sub-steps cost accuracy: solid-body rotation over the poles at 2.8125 degrees gives
        l2 = 0.045 at 0.8 (one sub-step) and 0.073 at 0.9 (two).
    steps_per_period
        Number of time steps per period of the flow.
    periods
        Whole periods to run (the exact solution is then the initial field).

    Returns
    -------
    dict
        ``case``, ``resolution_deg``, ``nlon``, ``nlat``, ``steps``, ``substeps`` (of the last step), ``l1``,
        ``l2``, ``linf``, ``min``, ``max`` (of the final mixing ratio), ``mass_error`` (relative), ``seconds``
        (wall time of the run) and the case parameter.
    """
    if case not in _SPEED_RAD_PER_PERIOD:
        raise TestCaseError(f"transport test case {case!r} is not known; valid names: {sorted(_SPEED_RAD_PER_PERIOD)}")
    if int(periods) != periods or periods < 1:
        raise ValueError(f"periods must be a whole number >= 1, got {periods!r}")
    params = {"alpha_rad": float(alpha_rad)} if case == "solid_body_rotation" else {"shape": shape}
    flow = get_test_case(case, **params)
    grid = LatLonGrid.global_grid(resolution_deg, lon_start_deg=0.0, layers=AirLayers((0.0, 1000.0)))
    if steps_per_period is None:
        if not courant > 0:
            raise ValueError(f"courant must be positive, got {courant!r}")
        spacing = np.deg2rad(min(resolution_deg, 180.0 / grid.nlat))
        steps_per_period = int(np.ceil(_SPEED_RAD_PER_PERIOD[case] / (courant * spacing)))
    nsteps = int(steps_per_period) * int(periods)
    dt = flow.period_s / steps_per_period
    M = grid.air_mass_kg()
    q0 = flow.initial_mixing_ratio(grid)
    air = np.ascontiguousarray((q0 * M[0])[None, None])
    mass0 = float(air.sum())
    adv = HorizontalAdvection(scheme, grid=grid, splitting=splitting)  # type: ignore[arg-type]
    U = V = None
    t0 = time.perf_counter()
    for n in range(nsteps):
        if U is None or flow.time_dependent:
            U, V = flow.mass_fluxes(grid, n * dt, dt)
        adv.advect(air, M, U, V, dt)
    seconds = time.perf_counter() - t0
    q = air[0, 0] / M[0]
    exact = flow.exact_mixing_ratio(grid, nsteps * dt)
    out: dict[str, float | int | str] = {"case": case, **params, "resolution_deg": float(resolution_deg)}
    out.update(nlon=grid.nlon, nlat=grid.nlat, steps=nsteps, substeps=adv.last_substeps)
    out.update(error_norms(q, exact, grid.cell_area_m2))
    out.update(
        min=float(q.min()), max=float(q.max()), mass_error=float(air.sum() / mass0 - 1.0), seconds=float(seconds)
    )
    return out


def run_standard_suite(scheme: str = "ppm", courant: float = 0.8) -> list[dict[str, float | int | str]]:
    """All runs of :data:`STANDARD_SUITE` with the given scheme."""
    return [
        run_verification(r.case, r.resolution_deg, scheme=scheme, courant=courant, **r.parameters)
        for r in STANDARD_SUITE
    ]


def format_results(results: list[dict[str, float | int | str]]) -> str:
    """A plain-text table of verification results."""
    head = f"{'case':<22}{'parameter':<22}{'grid':>10}{'steps':>7}{'l1':>10}{'l2':>10}{'linf':>10}{'min':>11}{'max':>9}"
    lines = [head, "-" * len(head)]
    for r in results:
        par = f"alpha={r['alpha_rad']:.4f}" if "alpha_rad" in r else str(r.get("shape", ""))
        grid = f"{r['nlon']}x{r['nlat']}"
        lines.append(
            f"{r['case']:<22}{par:<22}{grid:>10}{r['steps']:>7}{r['l1']:>10.4f}{r['l2']:>10.4f}{r['linf']:>10.4f}"
            f"{r['min']:>11.2e}{r['max']:>9.4f}"
        )
    return "\n".join(lines)


__all__ = ["STANDARD_SUITE", "error_norms", "format_results", "run_standard_suite", "run_verification"]
