"""Hydroxyl radical (OH) concentrations: a built-in climatology and user-supplied tables.

Built-in climatology (no input files)::

    [OH](lat, day, z) = [OH]_mean * Q(lat, day) / (S0 / 4)

where ``Q`` is the daily-mean top-of-atmosphere insolation (W m-2) of a circular orbit,

    Q = S0 / pi * (h0 sin(lat) sin(delta) + cos(lat) cos(delta) sin(h0)),   cos(h0) = -tan(lat) tan(delta)

(Hartmann 1994, *Global Physical Climatology*, Eq. 2.15), with the solar declination
``delta = 23.44 deg * sin(2 pi (284 + day) / 365)`` (Cooper 1969, Solar Energy 12:333). Because the area-weighted
annual mean of ``Q`` is ``S0 / 4``, the annual global mean of the field is ``[OH]_mean = 1e6 molecules cm-3``,
the 24-h mean OH to which the BETR-Research air half-lives refer (../shared/data/REFERENCES.md section 2) and of
the order inferred from methyl chloroform (Prinn et al. 2005, Geophys. Res. Lett. 32:L07809; Montzka et al.
2011, Science 331:67). The field is constant with height in the troposphere and zero in the polar night.

This is a deliberately simple, documented stand-in for a chemical-transport-model climatology: it captures the
seasonal and latitudinal cycle driven by sunlight, not the effects of water vapour, ozone column, NOx or CO.
Replace it with a table (for example the zonal-mean Spivakovsky et al. 2000, J. Geophys. Res. 105:8931,
climatology) through :func:`load_oh_table` / :class:`OHClimatology`, or pass the forcing field
``oh_concentration_molec_cm3`` directly.
"""

from __future__ import annotations

import csv
import os

import numpy as np

#: Annual global mean OH (molecules cm-3) of the built-in climatology.
OH_GLOBAL_MEAN_MOLEC_CM3 = 1.0e6

#: Obliquity used in the declination formula (degrees), Cooper (1969).
_OBLIQUITY_DEG = 23.44


def solar_declination_rad(day_of_year: float | np.ndarray) -> np.ndarray:
    """Solar declination (radians) for day of year 1..365 (Cooper 1969)."""
    return np.deg2rad(_OBLIQUITY_DEG) * np.sin(2.0 * np.pi * (284.0 + np.asarray(day_of_year, dtype=float)) / 365.0)


def relative_daily_insolation(lat_deg: float | np.ndarray, day_of_year: float | np.ndarray) -> np.ndarray:
    """Daily-mean top-of-atmosphere insolation divided by its global annual mean ``S0 / 4`` (dimensionless)."""
    phi = np.deg2rad(np.asarray(lat_deg, dtype=float))
    delta = solar_declination_rad(day_of_year)
    x = np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0)
    h0 = np.arccos(x)
    q = (h0 * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(h0)) / np.pi
    return np.maximum(4.0 * q, 0.0)


def oh_climatology(
    lat_deg: float | np.ndarray,
    day_of_year: float | np.ndarray,
    global_mean_molec_cm3: float = OH_GLOBAL_MEAN_MOLEC_CM3,
) -> np.ndarray:
    """Built-in OH concentration (molecules cm-3) at latitude ``lat_deg`` and ``day_of_year`` (any height)."""
    return global_mean_molec_cm3 * relative_daily_insolation(lat_deg, day_of_year)


class OHClimatology:
    """OH concentration source for a grid: the built-in climatology or a zonal-mean table by month (and height).

    Parameters
    ----------
    table_molec_cm3
        ``None`` for the built-in climatology, or an array ``(12, nlat)`` or ``(12, nheight, nlat)`` of monthly
        zonal means (molecules cm-3).
    lat_deg, height_m
        Coordinates of the table (increasing).
    scale
        Multiplier applied to every value (sensitivity studies).
    """

    def __init__(self, table_molec_cm3=None, lat_deg=None, height_m=None, scale: float = 1.0):
        self.scale = float(scale)
        if table_molec_cm3 is None:
            self.table = None
            return
        t = np.asarray(table_molec_cm3, dtype=float)
        if t.ndim == 2:
            t = t[:, None, :]
            height_m = [0.0]
        if t.ndim != 3 or t.shape[0] != 12:
            raise ValueError(f"OH table shape {t.shape}: expected (12, nlat) or (12, nheight, nlat) monthly values")
        if lat_deg is None or len(lat_deg) != t.shape[2]:
            raise ValueError("OH table: lat_deg must give one latitude per table column")
        if height_m is None or len(height_m) != t.shape[1]:
            raise ValueError("OH table: height_m must give one height per table level")
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise ValueError("OH table: values must be finite and >= 0 molecules cm-3")
        self.table = t
        self.lat_deg = np.asarray(lat_deg, dtype=float)
        self.height_m = np.asarray(height_m, dtype=float)

    def field(self, grid, day_of_year: float) -> np.ndarray:
        """OH (molecules cm-3) on ``grid``, shape ``(L, J, I)``, for ``day_of_year`` (1..366)."""
        nl, (nj, ni) = grid.nlayer, grid.shape
        if self.table is None:
            zonal = oh_climatology(grid.lat_deg, day_of_year)
            return np.ascontiguousarray(np.broadcast_to(self.scale * zonal[None, :, None], (nl, nj, ni)))
        # linear in time between mid-months (cyclic), in height and latitude (clamped at the ends)
        m = (float(day_of_year) - 15.5) / (365.0 / 12.0)
        m0 = int(np.floor(m)) % 12
        w = m - np.floor(m)
        monthly = (1.0 - w) * self.table[m0] + w * self.table[(m0 + 1) % 12]
        out = np.empty((nl, nj))
        for k, z in enumerate(grid.layers.centres_m):
            col = np.array([np.interp(z, self.height_m, monthly[:, j]) for j in range(monthly.shape[1])])
            out[k] = np.interp(grid.lat_deg, self.lat_deg, col)
        return np.ascontiguousarray(np.broadcast_to(self.scale * out[:, :, None], (nl, nj, ni)))


def oh_concentration_field(grid, day_of_year: float, climatology: OHClimatology | None = None) -> np.ndarray:
    """OH (molecules cm-3), shape ``(L, J, I)``: the forcing field ``oh_concentration_molec_cm3``."""
    return (climatology or OHClimatology()).field(grid, day_of_year)


def load_oh_table(path: str | os.PathLike, scale: float = 1.0) -> OHClimatology:
    """Read a zonal-mean monthly OH table from CSV with columns ``month, lat_deg, height_m, oh_molec_cm3``.

    ``height_m`` may be omitted (one level). Every (month 1..12, latitude, height) combination must be present.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    need = {"month", "lat_deg", "oh_molec_cm3"}
    if not rows or not need <= set(rows[0]):
        found = sorted(rows[0]) if rows else []
        raise ValueError(f"{path}: OH table needs columns {sorted(need)} (and optionally height_m); found {found}")
    has_h = "height_m" in rows[0]
    lats = sorted({float(r["lat_deg"]) for r in rows})
    hs = sorted({float(r["height_m"]) for r in rows}) if has_h else [0.0]
    table = np.full((12, len(hs), len(lats)), np.nan)
    for r in rows:
        m = int(r["month"])
        if not 1 <= m <= 12:
            raise ValueError(f"{path}: month {m} outside 1..12")
        k = hs.index(float(r["height_m"])) if has_h else 0
        table[m - 1, k, lats.index(float(r["lat_deg"]))] = float(r["oh_molec_cm3"])
    if np.isnan(table).any():
        raise ValueError(f"{path}: OH table incomplete: every month, latitude and height needs a value")
    return OHClimatology(table, lats, hs, scale=scale)


__all__ = [
    "OHClimatology",
    "OH_GLOBAL_MEAN_MOLEC_CM3",
    "load_oh_table",
    "oh_climatology",
    "oh_concentration_field",
    "relative_daily_insolation",
    "solar_declination_rad",
]
