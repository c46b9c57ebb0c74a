"""Standard transport test cases on the sphere, as flows with exact solutions.

* Solid-body rotation of a cosine bell, Williamson et al. (1992, J. Comput. Phys. 102:211), test case 1: wind
  ``u = u0 (cos phi cos alpha + sin phi cos lambda sin alpha)``, ``v = -u0 sin lambda sin alpha`` with
  ``u0 = 2 pi a / 12 days``, any rotation angle ``alpha``; stream function
  ``psi = -a u0 (sin phi cos alpha - cos lambda cos phi sin alpha)`` (their eqs. 74-76, 78-80).
* The deformational (non-divergent, reversing) flow of Nair & Lauritzen (2010, J. Comput. Phys. 229:8868),
  case 4, used as test 1 in Lauritzen et al. (2012, Geosci. Model Dev. 5:887):
  ``psi = (10 a^2 / T) sin^2(lambda') cos^2(phi) cos(pi t / T) - (2 pi a^2 / T) sin(phi)`` with
  ``lambda' = lambda - 2 pi t / T`` and ``T = 12 days``; the tracer returns to its start at ``t = T``. Initial
  shapes: Gaussian hills, cosine bells (background 0.1) and slotted cylinders (Lauritzen et al. 2012, sect. 2.2).

Face fluxes come from the stream function at the cell corners, so they are discretely non-divergent to round-off:
the air mass through a meridional wall from ``phi_1`` to ``phi_2`` is ``-sigma (psi(phi_2) - psi(phi_1))`` and
through a zonal wall from ``lambda_1`` to ``lambda_2`` it is ``sigma (psi(lambda_2) - psi(lambda_1))``, with
``sigma`` the layer's air mass per unit area (kg m-2), so every cell's in- and outflows cancel exactly up to
rounding. With time dependence the fluxes are those of the stream function at the middle of the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...constants import SECONDS_PER_DAY

#: Period of both flows: 12 days (Williamson et al. 1992; Lauritzen et al. 2012).
PERIOD_S = 12.0 * SECONDS_PER_DAY


class TestCaseError(ValueError):
    """An unknown test case or an invalid parameter."""

    __test__ = False  # not a pytest class


def _cartesian(lon, lat):
    cl = np.cos(lat)
    return np.stack([cl * np.cos(lon), cl * np.sin(lon), np.sin(lat)])


def _great_circle(lon, lat, lon0, lat0):
    """Central angle (rad) between points, robust for small angles (haversine)."""
    s = np.sin(0.5 * (lat - lat0)) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin(0.5 * (lon - lon0)) ** 2
    return 2.0 * np.arcsin(np.sqrt(np.clip(s, 0.0, 1.0)))


def cosine_bell(lon, lat, lon0=1.5 * np.pi, lat0=0.0, radius_rad=1.0 / 3.0, height=1.0, background=0.0):
    """Cosine bell ``h0/2 (1 + cos(pi r / R))`` for ``r < R`` (Williamson et al. 1992, eq. 77), else background."""
    r = _great_circle(lon, lat, lon0, lat0)
    return np.where(r < radius_rad, background + 0.5 * height * (1.0 + np.cos(np.pi * r / radius_rad)), background)


def _pair_centres():
    return ((5.0 * np.pi / 6.0, 0.0), (7.0 * np.pi / 6.0, 0.0))


def gaussian_hills(lon, lat):
    """Two Gaussian hills ``exp(-5 |x - x_i|^2)`` (Lauritzen et al. 2012, eq. 11)."""
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    x = _cartesian(lon, lat)
    out = np.zeros(lon.shape)
    for lc, pc in _pair_centres():
        xc = _cartesian(np.asarray(lc), np.asarray(pc)).reshape((3,) + (1,) * lon.ndim)
        out += np.exp(-5.0 * np.sum((x - xc) ** 2, axis=0))
    return out


def cosine_bells(lon, lat):
    """Two cosine bells of radius 1/2 on a background of 0.1 (Lauritzen et al. 2012, eq. 12)."""
    out = np.zeros(np.broadcast(lon, lat).shape)
    for lc, pc in _pair_centres():
        r = _great_circle(lon, lat, lc, pc)
        out += np.where(r < 0.5, 0.5 * (1.0 + np.cos(2.0 * np.pi * r)), 0.0)
    return 0.1 + 0.9 * out


def slotted_cylinders(lon, lat):
    """Two slotted cylinders of radius 1/2, value 1 on a background of 0.1 (Lauritzen et al. 2012, eq. 13)."""
    (l1, p1), (l2, p2) = _pair_centres()
    rad = 0.5
    r1 = _great_circle(lon, lat, l1, p1)
    r2 = _great_circle(lon, lat, l2, p2)
    out = np.full(np.broadcast(lon, lat).shape, 0.1)
    d1 = np.abs(np.mod(lon - l1 + np.pi, 2.0 * np.pi) - np.pi)
    d2 = np.abs(np.mod(lon - l2 + np.pi, 2.0 * np.pi) - np.pi)
    c1 = (r1 <= rad) & ((d1 >= rad / 6.0) | (lat - p1 < -5.0 / 12.0 * rad))
    c2 = (r2 <= rad) & ((d2 >= rad / 6.0) | (lat - p2 > 5.0 / 12.0 * rad))
    out[c1 | c2] = 1.0
    return out


SHAPES: dict[str, Callable] = {
    "cosine_bell": cosine_bell,
    "gaussian_hills": gaussian_hills,
    "cosine_bells": cosine_bells,
    "slotted_cylinders": slotted_cylinders,
}


@dataclass(frozen=True)
class TransportTestCase:
    """A non-divergent flow on the sphere with an initial tracer field and its exact solution.

    Attributes
    ----------
    name
        Registry name.
    stream_function
        ``psi(lon_rad, lat_rad, t_s) -> m2 s-1`` on a sphere of radius ``radius_m`` (wind ``u = -dpsi/(a dphi)``,
        ``v = dpsi/(a cos phi dlambda)``).
    initial
        ``q0(lon_rad, lat_rad)``: initial mixing ratio.
    period_s
        Time after which the exact solution equals the initial field.
    time_dependent
        The flow changes in time (fluxes are evaluated at the middle of each step).
    exact
        Optional ``q(lon_rad, lat_rad, t_s)``: exact solution at any time.
    """

    name: str
    stream_function: Callable[[np.ndarray, np.ndarray, float], np.ndarray]
    initial: Callable[[np.ndarray, np.ndarray], np.ndarray]
    period_s: float = PERIOD_S
    time_dependent: bool = False
    exact: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None = None
    parameters: dict = field(default_factory=dict)

    # ---------------------------------------------------------------------------------------------------------
    def initial_mixing_ratio(self, grid) -> np.ndarray:
        """Initial mixing ratio at the cell centres, shape ``(J, I)``."""
        lon, lat = _centres(grid)
        return np.ascontiguousarray(self.initial(lon, lat), dtype=np.float64)

    def exact_mixing_ratio(self, grid, t_s: float) -> np.ndarray:
        """Exact mixing ratio at the cell centres at time ``t_s``, shape ``(J, I)``.

        Available at any time for solid-body rotation, and at whole periods for the deformational flow.
        """
        if self.exact is not None:
            lon, lat = _centres(grid)
            return np.ascontiguousarray(self.exact(lon, lat, float(t_s)), dtype=np.float64)
        cycles = t_s / self.period_s
        if abs(cycles - round(cycles)) > 1e-9:
            raise TestCaseError(
                f"test case {self.name!r} has an exact solution only at whole periods ({self.period_s:g} s); "
                f"got t = {t_s:g} s"
            )
        return self.initial_mixing_ratio(grid)

    def stream_function_at_corners(self, grid, t_s: float) -> np.ndarray:
        """Stream function (m2 s-1) at the cell corners, shape ``(J + 1, I + 1)``; single-valued at the poles
        and periodic in longitude on global grids."""
        lon = np.deg2rad(grid.lon_edges_deg)
        lat = np.deg2rad(grid.lat_edges_deg)
        psi = np.asarray(self.stream_function(lon[None, :], lat[:, None], float(t_s)), dtype=np.float64)
        psi = np.array(np.broadcast_to(psi, (lat.size, lon.size)))
        for j in (0, lat.size - 1):
            if abs(abs(grid.lat_edges_deg[j]) - 90.0) < 1e-12:
                psi[j, :] = self.stream_function(np.asarray(0.0), np.asarray(np.sign(lat[j]) * np.pi / 2), float(t_s))
        if grid.is_periodic:
            psi[:, -1] = psi[:, 0]
        return psi

    def mass_fluxes(
        self, grid, t_s: float = 0.0, dt_s: float = 0.0, air_mass_per_area_kg_m2: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Discretely non-divergent C-grid air-mass fluxes (kg s-1) for the step ``[t_s, t_s + dt_s]``.

        Parameters
        ----------
        grid
            A :class:`popstransport.grid.LatLonGrid` whose radius is used for the flow.
        t_s, dt_s
            Start and length of the step (the stream function is taken at ``t_s + dt_s / 2``).
        air_mass_per_area_kg_m2
            Air mass per unit area of every layer ``(L,)``; default: the grid's layers.

        Returns
        -------
        mass_flux_u_kg_s (L, J, I + 1), mass_flux_v_kg_s (L, J + 1, I)
        """
        sigma = (
            grid.layers.air_mass_per_area_kg_m2()
            if air_mass_per_area_kg_m2 is None
            else np.asarray(air_mass_per_area_kg_m2, dtype=float)
        )
        if sigma.shape != (grid.nlayer,):
            raise TestCaseError(f"air_mass_per_area_kg_m2 must have shape ({grid.nlayer},), got {sigma.shape}")
        psi = self.stream_function_at_corners(grid, t_s + 0.5 * dt_s)
        psi = psi * (grid.radius_m / EARTH_RADIUS_FOR_FLOWS) ** 2
        fu = -(psi[1:, :] - psi[:-1, :])  # (J, I + 1)
        fv = psi[:, 1:] - psi[:, :-1]  # (J + 1, I)
        if grid.is_periodic:
            fu[:, -1] = fu[:, 0]
        for j in (0, grid.nlat):
            if abs(abs(grid.lat_edges_deg[j]) - 90.0) < 1e-12:
                fv[j, :] = 0.0
        U = np.ascontiguousarray(sigma[:, None, None] * fu[None])
        V = np.ascontiguousarray(sigma[:, None, None] * fv[None])
        return U, V

    def winds_m_s(self, grid, t_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre wind ``(u, v)`` (m s-1), shape ``(J, I)`` each, by centred differences of the stream
        function (for forcing fields and plots; transport uses :meth:`mass_fluxes`)."""
        lon, lat = _centres(grid)
        eps = 1e-6
        a = EARTH_RADIUS_FOR_FLOWS
        psi = self.stream_function
        u = -(psi(lon, lat + eps, t_s) - psi(lon, lat - eps, t_s)) / (2 * eps * a)
        v = (psi(lon + eps, lat, t_s) - psi(lon - eps, lat, t_s)) / (2 * eps * a * np.cos(lat))
        scale = grid.radius_m / a
        return np.ascontiguousarray(u * scale), np.ascontiguousarray(v * scale)


#: The flows are defined on a sphere of this radius (m); fluxes are scaled to the grid's radius so that one
#: period is one revolution on any sphere (Williamson et al. 1992 use a = 6.37122e6 m).
EARTH_RADIUS_FOR_FLOWS = 6.37122e6


def _centres(grid):
    lon = np.deg2rad(grid.lon_deg)[None, :]
    lat = np.deg2rad(grid.lat_deg)[:, None]
    return np.broadcast_to(lon, grid.shape), np.broadcast_to(lat, grid.shape)


def _rotate(x, axis, angle):
    """Rodrigues rotation of vectors ``x (3, ...)`` about the unit ``axis`` by ``angle`` (rad)."""
    k = np.asarray(axis, dtype=float).reshape((3,) + (1,) * (x.ndim - 1))
    c, s = np.cos(angle), np.sin(angle)
    cross = np.stack([k[1] * x[2] - k[2] * x[1], k[2] * x[0] - k[0] * x[2], k[0] * x[1] - k[1] * x[0]])
    dot = np.sum(k * x, axis=0)
    return x * c + cross * s + k * dot * (1.0 - c)


def solid_body_rotation(
    alpha_rad: float = 0.0,
    period_s: float = PERIOD_S,
    centre_lon_rad: float = 1.5 * np.pi,
    centre_lat_rad: float = 0.0,
    bell_radius_rad: float = 1.0 / 3.0,
    bell_height: float = 1.0,
) -> TransportTestCase:
    """Williamson et al. (1992) test case 1: a cosine bell carried once around the sphere in ``period_s``.

    The rotation axis is tilted by ``alpha_rad`` from the pole towards ``lambda = pi`` (alpha = pi/2 carries the
    bell over both poles). The bell height is 1 (Williamson's 1000 m scaled to a mixing ratio).
    """
    a = EARTH_RADIUS_FOR_FLOWS
    u0 = 2.0 * np.pi * a / period_s
    ca, sa = np.cos(alpha_rad), np.sin(alpha_rad)

    def psi(lon, lat, t):
        return -a * u0 * (np.sin(lat) * ca - np.cos(lon) * np.cos(lat) * sa)

    def q0(lon, lat):
        return cosine_bell(lon, lat, centre_lon_rad, centre_lat_rad, bell_radius_rad, bell_height)

    omega = u0 / a
    axis = np.array([-sa, 0.0, ca])

    def exact(lon, lat, t):
        x = _cartesian(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        x0 = _rotate(x, axis, -omega * t)
        lat0 = np.arcsin(np.clip(x0[2], -1.0, 1.0))
        lon0 = np.arctan2(x0[1], x0[0])
        return q0(lon0, lat0)

    return TransportTestCase(
        "solid_body_rotation", psi, q0, period_s, False, exact, {"alpha_rad": float(alpha_rad)}
    )


def deformational_flow(shape: str = "cosine_bells", period_s: float = PERIOD_S) -> TransportTestCase:
    """Nair & Lauritzen (2010) case 4 / Lauritzen et al. (2012) test 1: non-divergent deformation and reversal.

    ``shape`` is one of ``"gaussian_hills"``, ``"cosine_bells"``, ``"slotted_cylinders"``.
    """
    valid = ("gaussian_hills", "cosine_bells", "slotted_cylinders")
    if shape not in valid:
        raise TestCaseError(f"deformational-flow shape {shape!r} is not known; valid shapes: {list(valid)}")
    a = EARTH_RADIUS_FOR_FLOWS
    T = period_s

    def psi(lon, lat, t):
        lp = lon - 2.0 * np.pi * t / T
        return (10.0 * a * a / T) * np.sin(lp) ** 2 * np.cos(lat) ** 2 * np.cos(np.pi * t / T) - (
            2.0 * np.pi * a * a / T
        ) * np.sin(lat)

    return TransportTestCase("deformational_flow", psi, SHAPES[shape], T, True, None, {"shape": shape})


#: Test cases by name.
TEST_CASES: dict[str, Callable[..., TransportTestCase]] = {
    "solid_body_rotation": solid_body_rotation,
    "deformational_flow": deformational_flow,
}


def get_test_case(name: str, **parameters) -> TransportTestCase:
    """The test case ``name`` built with ``parameters`` (see :data:`TEST_CASES`)."""
    try:
        factory = TEST_CASES[name]
    except KeyError:
        raise TestCaseError(f"transport test case {name!r} is not known; valid names: {sorted(TEST_CASES)}") from None
    return factory(**parameters)


class TestCaseMet:
    """A met provider for a transport test case: uniform surface fields, the flow's cell-centre winds, and the
    exact step-mean C-grid air-mass fluxes under the extra keys ``mass_flux_u_kg_s`` / ``mass_flux_v_kg_s``.

    Parameters
    ----------
    grid
        Model grid.
    case
        The test case (``get_test_case(...)``).
    start_time
        Model time that corresponds to ``t = 0`` of the flow.
    step_s
        Interval over which :meth:`fields_at` averages the flow (the stream function is taken at its middle).
    """

    __test__ = False

    def __init__(self, grid, case: TransportTestCase, start_time: np.datetime64, step_s: float):
        self.grid = grid
        self.case = case
        self.start_time = np.datetime64(start_time, "s")
        self.step_s = float(step_s)

    def fields_at(self, time: np.datetime64) -> dict[str, np.ndarray]:
        """Forcing fields for the interval starting at ``time``."""
        g = self.grid
        t = float((np.datetime64(time, "s") - self.start_time) / np.timedelta64(1, "s"))
        u, v = self.case.winds_m_s(g, t + 0.5 * self.step_s)
        U, V = self.case.mass_fluxes(g, t, self.step_s)
        s3 = (g.nlayer, g.nlat, g.nlon)
        s2 = (g.nlat, g.nlon)
        return {
            "eastward_wind_m_s": np.ascontiguousarray(np.broadcast_to(u, s3)),
            "northward_wind_m_s": np.ascontiguousarray(np.broadcast_to(v, s3)),
            "air_temperature_k": np.full(s3, 288.15),
            "surface_temperature_k": np.full(s2, 288.15),
            "precipitation_m_s": np.zeros(s2),
            "boundary_layer_height_m": np.full(s2, 1000.0),
            "surface_pressure_pa": np.full(s2, 101325.0),
            "land_fraction": np.zeros(s2),
            "oh_concentration_molec_cm3": np.zeros(s3),
            "mass_flux_u_kg_s": U,
            "mass_flux_v_kg_s": V,
        }


def test_case_mass_fluxes(grid, air_mass_kg: np.ndarray, forcing) -> tuple[np.ndarray, np.ndarray]:
    """Mass-flux builder (model interface) that passes on the exact fluxes a :class:`TestCaseMet` provides."""
    return forcing["mass_flux_u_kg_s"], forcing["mass_flux_v_kg_s"]


test_case_mass_fluxes.__test__ = False  # type: ignore[attr-defined]

__all__ = [
    "EARTH_RADIUS_FOR_FLOWS",
    "PERIOD_S",
    "SHAPES",
    "TEST_CASES",
    "TestCaseError",
    "TestCaseMet",
    "TransportTestCase",
    "cosine_bell",
    "cosine_bells",
    "deformational_flow",
    "gaussian_hills",
    "get_test_case",
    "slotted_cylinders",
    "solid_body_rotation",
    "test_case_mass_fluxes",
]
