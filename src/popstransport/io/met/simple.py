"""Uniform forcing: the same wind and surface conditions everywhere, for checks and idealised runs."""

from __future__ import annotations

import numpy as np


class UniformMet:
    """Constant, spatially uniform forcing on a grid.

    Parameters
    ----------
    grid
        Model grid.
    u_m_s, v_m_s
        Eastward and northward wind in every layer (m s-1).
    temperature_k
        Air and surface temperature (K).
    precipitation_m_s
        Precipitation rate (m s-1 of liquid water).
    land_fraction
        Land fraction of every cell (scalar or (J, I) array).
    """

    def __init__(
        self,
        grid: object,
        u_m_s: float = 5.0,
        v_m_s: float = 0.0,
        temperature_k: float = 288.15,
        precipitation_m_s: float = 1e-8,
        boundary_layer_height_m: float = 1000.0,
        land_fraction: float | np.ndarray = 1.0,
        oh_concentration_molec_cm3: float = 1e6,
    ):
        g = grid
        shape3 = (g.nlayer, g.nlat, g.nlon)  # type: ignore[attr-defined]
        shape2 = (g.nlat, g.nlon)  # type: ignore[attr-defined]
        self._fields = {
            "eastward_wind_m_s": np.full(shape3, float(u_m_s)),
            "northward_wind_m_s": np.full(shape3, float(v_m_s)),
            "air_temperature_k": np.full(shape3, float(temperature_k)),
            "surface_temperature_k": np.full(shape2, float(temperature_k)),
            "precipitation_m_s": np.full(shape2, float(precipitation_m_s)),
            "boundary_layer_height_m": np.full(shape2, float(boundary_layer_height_m)),
            "surface_pressure_pa": np.full(shape2, 101325.0),
            "land_fraction": np.broadcast_to(np.asarray(land_fraction, dtype=float), shape2).copy(),
            "oh_concentration_molec_cm3": np.full(shape3, float(oh_concentration_molec_cm3)),
        }

    def fields_at(self, time: np.datetime64) -> dict[str, np.ndarray]:
        """The (time-independent) fields."""
        return self._fields

    def check_covers(self, start: np.datetime64, stop: np.datetime64) -> None:
        """Uniform forcing covers every time."""
