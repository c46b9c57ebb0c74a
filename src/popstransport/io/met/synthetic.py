"""A synthetic monthly climatology: the built-in forcing when no meteorological files are given.

**Illustrative only.** The fields are built from a handful of textbook features of the general circulation, each a
smooth analytic shape with a January and a July strength that vary sinusoidally through the year. They reproduce the
large-scale pattern (correlation with reanalysis above 0.6 at 850 hPa over Asia-Pacific), not the values of any
year; use real meteorology (:func:`popstransport.io.met.open_met`) for anything quantitative.

Features (strengths at 850 hPa, the reference level, about 1.4 km):

1. *Zonal-mean circulation* (Peixoto & Oort 1992, *Physics of Climate*, ch. 7): trade easterlies in both tropics,
   mid-latitude westerlies, polar easterlies, each band following the sun north and south; the lower branch of the
   Hadley cells blowing towards a migrating intertropical convergence zone (ITCZ).
2. *Semi-permanent pressure centres* (same source, Fig. 7.19; Wang 2006, *The Asian Monsoon*, ch. 2): the Siberian
   High and Aleutian Low of the northern winter, the subtropical highs of every ocean basin, the South Asian and
   Australian heat lows that reverse to highs in their winters. Each is a Gaussian streamfunction
   ``psi = A exp(-dx^2/2 sx^2 - dy^2/2 sy^2)`` whose non-divergent wind ``u = -dpsi/dy, v = dpsi/dx`` turns clockwise
   around northern highs and anticlockwise around southern ones.
3. *Monsoon inflow* (Webster et al. 1998, J. Geophys. Res. 103:14451): the divergent low-level flow into the Asian
   summer monsoon (boreal summer) and into the Maritime Continent - Australian monsoon (austral summer), a Gaussian
   velocity potential whose gradient gives the cross-equatorial flow, and the Somali (Findlater) jet, the narrow
   cross-equatorial southerly jet off East Africa in boreal summer (Findlater 1969, Q. J. R. Meteorol. Soc.
   95:362). Together with the heat lows this makes the seasonal reversal of the monsoon winds over South and East
   Asia.

The strengths, positions and sizes are round textbook values (about 80 numbers for 20 features). Nothing was
fitted: a few values (the January strength of the Aleutian Low, the January latitude of the northern westerlies, the
Hadley inflow speed) were adjusted by hand, and the Somali jet added, after a first comparison with the ERA-Interim
January/July sample; the check in ``tests/test_synthetic_met.py`` only asks for a pattern correlation of 0.6.

Vertical structure: below 850 hPa the wind decreases linearly to 0.6 of its 850 hPa value at the ground (surface
friction; a typical ratio of 10 m to 850 hPa wind speed over land). Above, the westerlies grow by thermal wind
(2.2 m s-1 km-1 times ``sin^2(2 phi)``), trades, Hadley inflow, heat lows and monsoon inflow are first-baroclinic
and reverse sign near 6 km (the upper-level outflow, e.g. the Tibetan High and the tropical easterly jet), the other
pressure centres decay with an e-folding height of 5 km. Layer values are density-weighted means over the layer.

Other fields: surface temperature from a latitude profile plus a seasonal cycle whose amplitude grows with latitude
and land fraction and lags the sun by 0.5 (land) to 1.5 (ocean) months; air temperature from the surface value with
the standard lapse rate 6.5 K km-1 down to a 210 K tropopause floor; precipitation from the migrating ITCZ rain belt,
the two monsoon rain areas, the mid-latitude storm tracks and a small background (global mean 2.7 mm per day, as
observed: Adler et al. 2003, J. Hydrometeorol. 4:1147); boundary-layer height of 700 m over sea and
300 m + 25 m K-1 above 263 K over land (200..1800 m); surface pressure of the standard atmosphere (101 325 Pa, no
orography); the land fraction of Natural Earth countries (:func:`popstransport.io.regions.land_fraction`).

The climatology holds one record per calendar month (valid at mid-month) and interpolates linearly between them,
repeating every year (time rule ``"cyclic"``); it covers the globe, so it works on any grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ...constants import STANDARD_PRESSURE_PA
from ...grid import LatLonGrid, pressure_to_height_m
from .timeseries import RecordTimes, RecordWindow, interpolate_records, monthly_mid_times

#: Height of the 850 hPa reference level in the isothermal atmosphere of :func:`popstransport.grid.pressure_to_height_m`.
REFERENCE_HEIGHT_M = float(pressure_to_height_m(85_000.0))

#: Fields the synthetic climatology provides (every forcing field except OH).
SYNTHETIC_FIELDS: tuple[str, ...] = (
    "eastward_wind_m_s",
    "northward_wind_m_s",
    "air_temperature_k",
    "surface_temperature_k",
    "precipitation_m_s",
    "boundary_layer_height_m",
    "surface_pressure_pa",
    "land_fraction",
)

_MM_PER_DAY = 1e-3 / 86_400.0  # m s-1


def july_weight(month: float) -> float:
    """Weight of the July strength in month ``month`` (1..12): ``(1 + cos(2 pi (month - 7) / 12)) / 2``."""
    return 0.5 * (1.0 + np.cos(2.0 * np.pi * (month - 7.0) / 12.0))


def _seasonal(jan: float, jul: float, month: float) -> float:
    w = july_weight(month)
    return (1.0 - w) * jan + w * jul


@dataclass(frozen=True)
class ZonalBand:
    """A band of zonal-mean zonal wind, ``u = U exp(-((phi - phi_c) / width)^2)``, at 850 hPa."""

    name: str
    wind_jan_m_s: float
    wind_jul_m_s: float
    lat_jan_deg: float
    lat_jul_deg: float
    width_deg: float
    vertical: Literal["baroclinic", "thermal_wind"]


@dataclass(frozen=True)
class Centre:
    """A pressure centre or a monsoon inflow, a Gaussian stream function or velocity potential at 850 hPa.

    ``wind_*_m_s`` is the largest wind speed it makes. For ``kind="rotational"`` a positive value is a high
    (anticyclone), a negative one a low; for ``kind="divergent"`` a positive value is convergent inflow.
    """

    name: str
    lon_deg: float
    lat_deg: float
    radius_lon_deg: float
    radius_lat_deg: float
    wind_jan_m_s: float
    wind_jul_m_s: float
    kind: Literal["rotational", "divergent"]
    vertical: Literal["baroclinic", "barotropic"]


#: Zonal-mean bands (Peixoto & Oort 1992, Fig. 7.15/7.16: 850 hPa zonal-mean u in DJF and JJA).
ZONAL_BANDS: tuple[ZonalBand, ...] = (
    ZonalBand("northern trades", -6.0, -4.0, 12.0, 17.0, 9.0, "baroclinic"),
    ZonalBand("southern trades", -4.0, -7.0, -14.0, -11.0, 9.0, "baroclinic"),
    ZonalBand("northern westerlies", 7.0, 5.0, 35.0, 47.0, 11.0, "thermal_wind"),
    ZonalBand("southern westerlies", 9.0, 9.0, -48.0, -45.0, 11.0, "thermal_wind"),
    ZonalBand("northern polar easterlies", -3.0, -2.0, 72.0, 75.0, 8.0, "baroclinic"),
    ZonalBand("southern polar easterlies", -3.0, -3.0, -70.0, -68.0, 8.0, "baroclinic"),
)

#: Hadley inflow: largest meridional wind (m s-1), ITCZ latitude in January and July (deg N), half-width (deg).
HADLEY_INFLOW = {"wind_m_s": 1.5, "itcz_lat_jan_deg": 2.0, "itcz_lat_jul_deg": 10.0, "width_deg": 12.0}

#: Pressure centres and monsoon inflows (positions and seasons after Peixoto & Oort 1992, Fig. 7.19, and Wang 2006).
CENTRES: tuple[Centre, ...] = (
    Centre("Siberian High", 100.0, 50.0, 25.0, 15.0, 5.0, 0.0, "rotational", "barotropic"),
    Centre("Aleutian Low", 180.0, 50.0, 25.0, 10.0, -8.0, -1.0, "rotational", "barotropic"),
    Centre("North Pacific High", 200.0, 32.0, 40.0, 10.0, 4.0, 8.0, "rotational", "barotropic"),
    Centre("Icelandic Low", 330.0, 60.0, 25.0, 10.0, -10.0, -3.0, "rotational", "barotropic"),
    Centre("Azores-Bermuda High", 325.0, 33.0, 30.0, 10.0, 4.0, 7.0, "rotational", "barotropic"),
    Centre("South Pacific High", 265.0, -30.0, 30.0, 10.0, 6.0, 7.0, "rotational", "barotropic"),
    Centre("South Atlantic High", 355.0, -28.0, 25.0, 10.0, 6.0, 7.0, "rotational", "barotropic"),
    Centre("Mascarene High", 60.0, -30.0, 20.0, 10.0, 5.0, 9.0, "rotational", "barotropic"),
    Centre("South Asian heat low", 75.0, 27.0, 20.0, 10.0, 2.0, -9.0, "rotational", "baroclinic"),
    Centre("Australian heat low", 132.0, -22.0, 18.0, 10.0, -6.0, 4.0, "rotational", "baroclinic"),
    Centre("Asian summer monsoon inflow", 95.0, 18.0, 30.0, 20.0, 0.0, 4.0, "divergent", "baroclinic"),
    Centre("Australian summer monsoon inflow", 130.0, -8.0, 30.0, 15.0, 4.0, 0.0, "divergent", "baroclinic"),
)

#: The Somali (Findlater) jet, the low-level cross-equatorial jet of the summer monsoon along East Africa
#: (Findlater 1969, Q. J. R. Meteorol. Soc. 95:362): a southerly jet ``V exp(-(dlon/wx)^2 - (dlat/wy)^2)``.
SOMALI_JET = {"lon_deg": 55.0, "lat_deg": 8.0, "width_lon_deg": 10.0, "width_lat_deg": 15.0, "wind_jan_m_s": 0.0,
              "wind_jul_m_s": 12.0}

#: Thermal-wind shear of the westerlies (m s-1 per km) at the latitude where ``sin^2(2 phi)`` is 1.
THERMAL_WIND_SHEAR_M_S_KM = 2.2
#: Height (m) at which first-baroclinic features change sign, and e-folding height (m) of the other centres.
REVERSAL_HEIGHT_M = 6000.0
CENTRE_DECAY_HEIGHT_M = 5000.0
#: Ratio of the wind at the ground to the wind at 850 hPa (linear in between).
SURFACE_WIND_RATIO = 0.6


def _vertical_factor(kind: str, z_m: float) -> float:
    """Multiplier of an 850 hPa feature at height ``z_m`` above its friction reduction."""
    dz = z_m - REFERENCE_HEIGHT_M
    if dz <= 0.0:
        return 1.0
    if kind == "baroclinic":
        return 1.0 - dz / (REVERSAL_HEIGHT_M - REFERENCE_HEIGHT_M)
    if kind == "barotropic":
        return float(np.exp(-dz / CENTRE_DECAY_HEIGHT_M))
    return 1.0


def _friction_factor(z_m: float) -> float:
    if z_m >= REFERENCE_HEIGHT_M:
        return 1.0
    return SURFACE_WIND_RATIO + (1.0 - SURFACE_WIND_RATIO) * max(z_m, 0.0) / REFERENCE_HEIGHT_M


def synthetic_wind_m_s(
    lon_deg: np.ndarray, lat_deg: np.ndarray, month: float, height_m: float = REFERENCE_HEIGHT_M
) -> tuple[np.ndarray, np.ndarray]:
    """Eastward and northward synthetic wind (m s-1) at points ``(lon, lat)`` (broadcast), month 1..12 (mid-month
    = whole number; fractions interpolate the seasonal strengths), height above ground ``height_m``."""
    lon = np.asarray(lon_deg, dtype=np.float64)
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon, lat = np.broadcast_arrays(lon, lat)
    u = np.zeros(lon.shape)
    v = np.zeros(lon.shape)
    dz_km = max(height_m - REFERENCE_HEIGHT_M, 0.0) / 1000.0
    for band in ZONAL_BANDS:
        amp = _seasonal(band.wind_jan_m_s, band.wind_jul_m_s, month)
        lat_c = _seasonal(band.lat_jan_deg, band.lat_jul_deg, month)
        shape = np.exp(-(((lat - lat_c) / band.width_deg) ** 2))
        if band.vertical == "baroclinic":
            u += amp * _vertical_factor("baroclinic", height_m) * shape
        else:
            u += amp * shape
    u += THERMAL_WIND_SHEAR_M_S_KM * dz_km * np.sin(np.deg2rad(2.0 * lat)) ** 2
    h = HADLEY_INFLOW
    itcz = _seasonal(h["itcz_lat_jan_deg"], h["itcz_lat_jul_deg"], month)
    s = h["width_deg"]
    x = (lat - itcz) / s
    v += -h["wind_m_s"] * x * np.exp(0.5 - 0.5 * x**2) * _vertical_factor("baroclinic", height_m)
    for c in CENTRES:
        amp = _seasonal(c.wind_jan_m_s, c.wind_jul_m_s, month)
        if amp == 0.0:
            continue
        amp *= _vertical_factor(c.vertical, height_m)
        coslat_c = np.cos(np.deg2rad(c.lat_deg))
        dlon = (lon - c.lon_deg + 180.0) % 360.0 - 180.0
        dx = dlon * coslat_c / c.radius_lon_deg
        dy = (lat - c.lat_deg) / c.radius_lat_deg
        g = np.exp(-0.5 * (dx**2 + dy**2))
        # gradient of g in units of "per radius": d g/dx = -dx g (per radius_lon), d g/dy = -dy g (per radius_lat);
        # scaled so that the largest speed of an isotropic centre is |amp| (max of r exp(-r^2/2) is exp(-1/2)).
        scale = amp * np.exp(0.5)
        gx, gy = -dx * g * scale, -dy * g * scale
        if c.kind == "rotational":
            sign = 1.0 if c.lat_deg >= 0.0 else -1.0  # highs turn clockwise in the north, anticlockwise in the south
            u += -sign * gy
            v += sign * gx
        else:
            u += gx  # inflow points towards the centre: +grad g
            v += gy
    j = SOMALI_JET
    dlon = (lon - j["lon_deg"] + 180.0) % 360.0 - 180.0
    v += (
        _seasonal(j["wind_jan_m_s"], j["wind_jul_m_s"], month)
        * _vertical_factor("baroclinic", height_m)
        * np.exp(-((dlon / j["width_lon_deg"]) ** 2) - ((lat - j["lat_deg"]) / j["width_lat_deg"]) ** 2)
    )
    return u * _friction_factor(height_m), v * _friction_factor(height_m)


def _layer_samples(edges_m: tuple[float, ...], n: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sample heights and density weights (isothermal, 8 km scale height) of every layer."""
    out = []
    for z0, z1 in zip(edges_m[:-1], edges_m[1:]):
        z = z0 + (np.arange(n) + 0.5) * (z1 - z0) / n
        w = np.exp(-z / 8000.0)
        out.append((z, w / w.sum()))
    return out


def surface_temperature_k(lat_deg: np.ndarray, land_fraction: np.ndarray, month: float) -> np.ndarray:
    """Synthetic monthly-mean surface temperature (K).

    ``T = 302 - 45 sin^2(phi) - 8 sin^4(phi) + A sign(phi) cos(2 pi (month - m_peak) / 12)`` with half-range
    ``A = (1 + 6 |sin phi|)`` over sea and ``(2 + 25 |sin phi|^1.5)`` over land, mixed by land fraction, and the peak
    ``m_peak`` at mid-July over land and mid-August over sea (in the south six months later through ``sign(phi)``).
    """
    s = np.sin(np.deg2rad(lat_deg))
    lf = np.clip(land_fraction, 0.0, 1.0)
    annual = 302.0 - 45.0 * s**2 - 8.0 * s**4
    amp_sea = 1.0 + 6.0 * np.abs(s)
    amp_land = 2.0 + 25.0 * np.abs(s) ** 1.5
    sea = amp_sea * np.cos(2.0 * np.pi * (month - 8.0) / 12.0)
    land = amp_land * np.cos(2.0 * np.pi * (month - 7.0) / 12.0)
    return annual + np.sign(s) * ((1.0 - lf) * sea + lf * land)


def precipitation_m_s(lon_deg: np.ndarray, lat_deg: np.ndarray, month: float) -> np.ndarray:
    """Synthetic monthly-mean precipitation (m s-1 of liquid water).

    ITCZ rain belt 8 mm/day (Gaussian half-width 10 degrees) at the Hadley-inflow ITCZ latitude; Asian summer
    monsoon rain 10 mm/day in July (centre 90E 20N, 30 x 12 degrees) and Maritime Continent - Australian monsoon rain
    8 mm/day in January (125E 8S, 30 x 10 degrees); storm tracks 3 mm/day at 45N and 48S (15 degrees); background
    0.4 mm/day. Global mean 2.7 mm/day.
    """
    lon, lat = np.broadcast_arrays(np.asarray(lon_deg, float), np.asarray(lat_deg, float))
    itcz = _seasonal(HADLEY_INFLOW["itcz_lat_jan_deg"], HADLEY_INFLOW["itcz_lat_jul_deg"], month)
    p = 8.0 * np.exp(-(((lat - itcz) / 10.0) ** 2))
    p = p + 3.0 * (np.exp(-(((lat - 45.0) / 15.0) ** 2)) + np.exp(-(((lat + 48.0) / 15.0) ** 2))) + 0.4
    for lon_c, lat_c, rx, ry, jan, jul in ((90.0, 20.0, 30.0, 12.0, 0.0, 10.0), (125.0, -8.0, 30.0, 10.0, 8.0, 0.0)):
        dlon = (lon - lon_c + 180.0) % 360.0 - 180.0
        p = p + _seasonal(jan, jul, month) * np.exp(-((dlon / rx) ** 2) - ((lat - lat_c) / ry) ** 2)
    return p * _MM_PER_DAY


def boundary_layer_height_m(surface_temperature: np.ndarray, land_fraction: np.ndarray) -> np.ndarray:
    """Synthetic monthly-mean mixed-layer height (m): 700 m over sea, ``300 + 25 (T - 263 K)`` over land (200..1800)."""
    land = np.clip(300.0 + 25.0 * (surface_temperature - 263.0), 200.0, 1800.0)
    lf = np.clip(land_fraction, 0.0, 1.0)
    return (1.0 - lf) * 700.0 + lf * land


#: Standard lapse rate (K m-1) and tropopause temperature floor (K) (U.S. Standard Atmosphere 1976).
LAPSE_RATE_K_M = 6.5e-3
TROPOPAUSE_TEMPERATURE_K = 210.0


class SyntheticClimatology:
    """The built-in illustrative monthly climatology on a model grid (every forcing field except OH).

    Parameters
    ----------
    grid
        Model grid (any extent; the climatology is global).
    land_fraction
        Land fraction of every cell, shape ``(J, I)``; by default the Natural Earth land fraction of the grid
        (:func:`popstransport.io.regions.land_fraction`, cached on disk).

    Notes
    -----
    Records: one per month, valid at mid-month of any year; time rule ``"cyclic"`` with linear interpolation.
    See the module docstring for the features and their sources.
    """

    time_rule = "cyclic"
    field_names: tuple[str, ...] = SYNTHETIC_FIELDS

    def __init__(self, grid: LatLonGrid, land_fraction: np.ndarray | Callable[[], np.ndarray] | None = None):
        self.grid = grid
        self._land_fraction_arg = land_fraction
        self._land: np.ndarray | None = None
        self._record_times = RecordTimes(monthly_mid_times(2001), "cyclic", "synthetic climatology")
        self._window = RecordWindow(lambda k: self.monthly_fields(k + 1), capacity=3)
        self.source = "synthetic climatology (illustrative; popstransport.io.met.synthetic)"

    # MetSource --------------------------------------------------------------------------------------------------
    @property
    def times(self) -> np.ndarray:
        """Valid times of the 12 monthly records (mid-months of 2001; only the position in the year counts)."""
        return self._record_times.times

    def check_covers(self, start: object, stop: object) -> None:
        """A cyclic climatology covers every time."""
        self._record_times.check_covers(start, stop)

    def record_key(self, time: object) -> int:
        """Integer that changes when the two bracketing monthly records change."""
        return self._record_times.bracket(time)[3]

    def fields_at(self, time: object) -> dict[str, np.ndarray]:
        """All fields at ``time``, linearly interpolated between the two bracketing mid-month records."""
        k0, k1, w, _ = self._record_times.bracket(time)
        if w == 0.0:
            return interpolate_records(self._window.get(k0), {}, 0.0)
        return interpolate_records(self._window.get(k0), self._window.get(k1), w)

    # fields -----------------------------------------------------------------------------------------------------
    @property
    def land_fraction(self) -> np.ndarray:
        """Land fraction of every cell, ``(J, I)``."""
        if self._land is None:
            arg = self._land_fraction_arg
            if arg is None:
                from ..regions import land_fraction

                lf = land_fraction(self.grid)
            elif callable(arg):
                lf = arg()
            else:
                lf = arg
            lf = np.ascontiguousarray(np.broadcast_to(np.asarray(lf, dtype=np.float64), self.grid.shape))
            self._land = lf
        return self._land

    def monthly_fields(self, month: int) -> dict[str, np.ndarray]:
        """The record of calendar month ``month`` (1..12), valid at mid-month."""
        g = self.grid
        lon2, lat2 = np.meshgrid(g.lon_deg, g.lat_deg)
        lf = self.land_fraction
        L = g.nlayer
        u = np.zeros((L, g.nlat, g.nlon))
        v = np.zeros_like(u)
        ta = np.zeros_like(u)
        ts = surface_temperature_k(lat2, lf, float(month))
        for k, (zs, ws) in enumerate(_layer_samples(g.layers.edges_m)):
            for z, w in zip(zs, ws):
                uz, vz = synthetic_wind_m_s(lon2, lat2, float(month), float(z))
                u[k] += w * uz
                v[k] += w * vz
                ta[k] += w * np.maximum(ts - LAPSE_RATE_K_M * z, TROPOPAUSE_TEMPERATURE_K)
        return {
            "eastward_wind_m_s": np.ascontiguousarray(u),
            "northward_wind_m_s": np.ascontiguousarray(v),
            "air_temperature_k": np.ascontiguousarray(ta),
            "surface_temperature_k": np.ascontiguousarray(ts),
            "precipitation_m_s": np.ascontiguousarray(precipitation_m_s(lon2, lat2, float(month))),
            "boundary_layer_height_m": np.ascontiguousarray(boundary_layer_height_m(ts, lf)),
            "surface_pressure_pa": np.full(g.shape, STANDARD_PRESSURE_PA),
            "land_fraction": lf.copy(),
        }

    def wind_at_pressure_m_s(self, time: object, pressure_pa: float) -> tuple[np.ndarray, np.ndarray]:
        """Eastward and northward wind (m s-1, ``(J, I)``) at a pressure level, time-interpolated like the records.

        The level's height is ``H ln(p0 / p)`` (:func:`popstransport.grid.pressure_to_height_m`).
        """
        k0, k1, w, _ = self._record_times.bracket(time)
        g = self.grid
        lon2, lat2 = np.meshgrid(g.lon_deg, g.lat_deg)
        z = float(pressure_to_height_m(pressure_pa))
        u0, v0 = synthetic_wind_m_s(lon2, lat2, float(k0 + 1), z)
        u1, v1 = synthetic_wind_m_s(lon2, lat2, float(k1 + 1), z)
        return (1 - w) * u0 + w * u1, (1 - w) * v0 + w * v1


__all__ = [
    "CENTRES",
    "REFERENCE_HEIGHT_M",
    "SYNTHETIC_FIELDS",
    "SyntheticClimatology",
    "ZONAL_BANDS",
    "boundary_layer_height_m",
    "precipitation_m_s",
    "surface_temperature_k",
    "synthetic_wind_m_s",
]
