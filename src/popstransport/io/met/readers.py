"""Meteorology readers: NetCDF files (ERA5, MERRA-2, CMIP, generic CF) or xarray Datasets onto the model grid.

:func:`open_met` returns a :class:`MetSource`; ``fields_at(time)`` gives every forcing field on the model grid as
C-contiguous float64 arrays keyed by :data:`popstransport.processes.base.FORCING_FIELDS` (OH excepted: it comes from
the chemistry inputs).

Finding variables
    By CF ``standard_name`` first, then by the short names of the product (:data:`SHORT_NAMES`, the product's own
    names first), or by an explicit ``variables={"eastward_wind": "U850", ...}`` mapping. When the winds cannot be
    found the error lists every variable of the input with its standard name and units, and what was looked for.

Horizontal
    Rectilinear longitude-latitude sources in any orientation (latitude descending, longitudes 0..360 or
    -180..180). Winds, temperature, pressure and boundary-layer height are interpolated bilinearly (periodic in
    longitude for global sources); precipitation and land fraction are remapped first-order conservatively
    (:mod:`popstransport.io.regrid`), and so is the sea-ice fraction. Only the window of the source that covers the
    model domain is read.

Sea ice
    The model takes the sea-ice fraction as a fraction of a cell's water (its ocean compartment), and products give
    it in one of two ways (:data:`WHOLE_CELL_SEA_ICE`):

    * a fraction of the water, missing over land: ERA5 ``siconc``/``ci`` (ECMWF: "proportion of ice covering a water
      grid box", land points missing), CMIP ``siconc``/``sic`` (on the ocean model's grid) and any other name. A
      model cell's value is the mean over the source's water in it (no water: no ice). Model cells that are at least
      half water in the model's land fraction but get no value at all (a pole hole, a missing swath) are read as no
      ice, with one warning that counts them.
    * a fraction of the whole grid cell, 0 over land: CAM ``ICEFRAC``, MERRA-2 ``FRSEAICE`` and CMIP6 ``siconca``.
      On a coastal cell this understates the ice on the water by the cell's land share, so it is converted on the
      product's grid with the product's own land or water fraction, from the same file (record by record, or static)
      or from a static file of the same grid among the inputs: CAM ``LANDFRAC`` (water ``1 - LANDFRAC``), else
      ``OCNFRAC`` (water ``ICEFRAC + OCNFRAC``); MERRA-2 ``FROCEAN``, else ``1 - FRLAND - FRLANDICE - FRLAKE``;
      CMIP6 ``sftlf``. A model cell's value is the ice area over the water area of the product in it,
      ``rg(min(ice, water)) / rg(water)``. Without such a variable the model's land fraction stands in for the
      product's (``rg(ice) / (1 - land fraction)``, at most 1), with one warning naming the file and what to add.

    Values are in 0..1 and a cell with no water has no ice.

Vertical (air layers from :attr:`popstransport.grid.LatLonGrid.layers`, heights above ground)
    Layer values are density-weighted means over six sample heights per layer (isothermal atmosphere, 8 km scale
    height). A sample height ``z`` lies at pressure ``p = p_s exp(-z / H)`` with the surface pressure ``p_s`` of the
    input (101 325 Pa when there is none) and ``H = 8000 m`` (as :func:`popstransport.grid.pressure_to_height_m`).

    * pressure levels (ERA5 ``level``/``pressure_level``, MERRA-2 ``lev``, CMIP ``plev``): linear in ``ln p``;
      below the lowest level the wind of the lowest level and the temperature of the lowest level extrapolated with
      the standard lapse rate (``T (p / p_low)^(R Gamma / g)``, Gamma = 6.5 K/km) are used; below-ground gaps
      (MERRA-2 fill values) are filled from the level above. A missing value is below ground where the level's
      pressure exceeds the surface pressure of the input (less :data:`BELOW_GROUND_TOLERANCE_PA`); without a
      surface pressure on the same grid and times, only the pattern below-ground masking leaves is accepted:
      missing values contiguous from the bottom of a column, a finite top, no missing level at pressures under
      30 000 Pa, and no level missing in every column of the domain. Any other missing value, and any infinite
      value, is an error.
    * model levels: CF hybrid sigma-pressure coordinates with ``formula_terms`` (``p = a p0 + b p_s`` or
      ``ap + b p_s``), or heights above ground (``standard_name = height``). These have no level below ground: a
      missing value is an error.
    * 10 m winds only (``u10``/``uas``/``U10M``): the neutral power-law profile ``u(z) = u10 (z / 10 m)^(1/7)`` up to
      the boundary-layer height and constant above it (Hellmann exponent 1/7; Peterson & Hennessey 1978, J. Appl.
      Meteorol. 17:390). Free-troposphere layers then carry the boundary-layer-top wind: a warning says so.
    * air temperature from pressure-level temperature; else from the hydrostatic thickness of geopotential between
      pressure levels (``T = g dZ / (R_d ln(p1 / p2))``); else from 2 m (or surface) temperature with the standard
      lapse rate.

Implausible values
    Values that mean wrong units or unmasked fill values are refused, with the unit they look like: winds beyond
    :data:`MAX_WIND_M_S`, temperatures outside :data:`TEMPERATURE_RANGE_K`, surface pressures outside
    :data:`SURFACE_PRESSURE_RANGE_PA`, negative or too high boundary-layer heights, land and sea-ice fractions
    outside 0..1, negative precipitation (beyond the rounding of packed data, which is set to zero) and precipitation
    above :data:`MAX_PRECIPITATION_M_S` (a daily or hourly rate labelled kg m-2 s-1).

Missing fields
    Winds are required. Any other missing field is derived (surface temperature from 2 m or air temperature) or
    taken from the synthetic climatology (precipitation, boundary-layer height, surface pressure, temperature) or
    Natural Earth (land fraction), each with a warning; with ``fill_missing="error"`` a missing field is an error.
    The sea-ice fraction is optional: without it the forcing has none (no ice anywhere); see *Sea ice* above.

Time
    Records are interpolated linearly (:mod:`popstransport.io.met.timeseries`); climatologies (a ``month``
    dimension, or a CF ``climatology`` attribute) repeat cyclically; CF calendars are mapped onto model time.
    Records with time bounds are valid at the middle of their bounds; monthly means stamped at the first of the
    month (ERA5 monthly means, or such stamps in any calendar) are taken as valid at mid-month. Only a few records
    are held in memory.
"""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ...constants import DRY_AIR_GAS_CONSTANT_J_KG_K, STANDARD_GRAVITY_M_S2, STANDARD_PRESSURE_PA
from ...grid import LatLonGrid
from ..errors import InputError
from ..regrid import Bilinear, Conservative, SourceGrid
from .synthetic import LAPSE_RATE_K_M, SyntheticClimatology, _layer_samples
from .timeseries import (
    MISSING_RECORD_FACTOR,
    RecordTimes,
    RecordWindow,
    TimeRule,
    cf_times_to_datetime64,
    decode_cf_time,
    interpolate_records,
    monthly_mid_times,
    to_datetime64,
)

MetKind = Literal["era5", "merra2", "cmip", "cf"]
KINDS: tuple[str, ...] = ("era5", "merra2", "cmip", "cf")

#: Scale height (m) of the isothermal atmosphere that maps heights to pressures.
SCALE_HEIGHT_M = 8000.0
#: Power-law exponent of the neutral wind profile above 10 m.
WIND_PROFILE_EXPONENT = 1.0 / 7.0
#: Boundary-layer height (m) used by the 10 m wind profile when none is known.
DEFAULT_BOUNDARY_LAYER_HEIGHT_M = 1000.0
#: Largest plausible wind speed component (m s-1); larger values mean wrong units or unmasked fill values.
MAX_WIND_M_S = 150.0
#: Plausible surface pressures (Pa); values outside mean wrong units. Grid-cell surface pressures of reanalyses reach
#: down to about 46 000 Pa (the NCEP June climatology in ../shared/data), the summit of Everest is at about 33 000 Pa;
#: the highest sea-level pressure measured is 108 480 Pa (Tosontsengel, Mongolia, 2001; WMO Weather and Climate
#: Extremes Archive).
SURFACE_PRESSURE_RANGE_PA = (30_000.0, 115_000.0)
#: Plausible air and surface temperatures (K); values outside mean wrong units. The coldest air on pressure levels
#: (tropical tropopause, polar winter stratosphere) is above 175 K, the hottest land surfaces are below 345 K.
TEMPERATURE_RANGE_K = (150.0, 350.0)
#: Plausible pressure levels (Pa): none above 1100 hPa (the deepest standard level is 1000 hPa; a few products add
#: 1050 or 1100 hPa), and the lowest (highest pressure) at 200 hPa or more: levels outside are levels in the wrong unit.
MAX_LEVEL_PRESSURE_PA = 110_000.0
MIN_LOWEST_LEVEL_PRESSURE_PA = 20_000.0
#: Largest plausible boundary-layer height (m); reanalyses reach about 6 km over hot deserts.
MAX_BOUNDARY_LAYER_HEIGHT_M = 10_000.0
#: A missing value on a pressure level counts as below ground where the level's pressure exceeds the surface pressure
#: less this tolerance (Pa): the surface pressure of a time mean, or of a neighbouring time step, differs by a few
#: tens of hPa from the one the product masked its levels with.
BELOW_GROUND_TOLERANCE_PA = 5_000.0
#: Negative precipitation down to this fraction of the largest magnitude in the window, or down to
#: :data:`PRECIPITATION_ROUNDING_M_S`, is the rounding of packed data (int16 packing errs by 1/131 068 of the range;
#: spectral models ring by about 1e-8 kg m-2 s-1) and is set to zero; anything more negative is refused.
PRECIPITATION_ROUNDING_FRACTION = 1e-4
PRECIPITATION_ROUNDING_M_S = 1e-11
#: Largest plausible precipitation rate (m s-1 of liquid water): the world-record rainfall of one minute, 31.2 mm at
#: Unionville, Maryland, 4 July 1956 (WMO Weather and Climate Extremes Archive; Riedel et al. 1969, U.S. Weather
#: Bureau Hydrometeorological Report 45), 5.2e-4 m s-1. A grid-cell mean is far below it; a rate above it is a rate in
#: mm/day or mm/h labelled kg m-2 s-1 (3 mm/day read so is 3e-3 m s-1, 260 m a day).
MAX_PRECIPITATION_M_S = 31.2e-3 / 60.0
#: Land fractions beyond 0..1 by more than this (rounding of packed data) are refused.
LAND_FRACTION_ROUNDING = 1e-3
#: A model cell at least this much water (in the model's land fraction) where a sea-ice product that is missing over
#: land has no value at all is reported as a gap (read as no ice).
ICE_GAP_WATER_FRACTION = 0.5
#: Exponent of the standard-lapse-rate temperature extrapolation below the lowest level, R_d Gamma / g.
_LAPSE_EXPONENT = DRY_AIR_GAS_CONSTANT_J_KG_K * LAPSE_RATE_K_M / STANDARD_GRAVITY_M_S2


@runtime_checkable
class MetSource(Protocol):
    """Forcing fields on the model grid at any time of a run.

    ``fields_at(time)`` returns a dict of C-contiguous float64 arrays keyed by forcing field names (winds and air
    temperature ``(L, J, I)``, the others ``(J, I)``); ``record_key(time)`` is an integer that changes when the
    bracketing input records change; ``times`` are the valid times of the records; ``check_covers(start, stop)``
    raises :class:`popstransport.io.errors.InputError` when the run is not covered.
    """

    @property
    def times(self) -> np.ndarray: ...

    def fields_at(self, time: np.datetime64) -> dict[str, np.ndarray]: ...

    def record_key(self, time: np.datetime64) -> int: ...

    def check_covers(self, start: np.datetime64, stop: np.datetime64) -> None: ...


# ------------------------------------------------------------------------------------------------------------------
# what to look for
# ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Role:
    """A quantity looked for in the input: CF standard names, short names per product, and its shape."""

    name: str
    description: str
    standard_names: tuple[str, ...]
    levels: Literal["3d", "2d"]
    unit_kind: str


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role("eastward_wind", "eastward wind on levels", ("eastward_wind",), "3d", "wind"),
        Role("northward_wind", "northward wind on levels", ("northward_wind",), "3d", "wind"),
        Role("eastward_wind_10m", "10 m eastward wind", ("eastward_wind",), "2d", "wind"),
        Role("northward_wind_10m", "10 m northward wind", ("northward_wind",), "2d", "wind"),
        Role("air_temperature", "air temperature on levels", ("air_temperature",), "3d", "temperature"),
        Role("air_temperature_2m", "2 m air temperature", ("air_temperature",), "2d", "temperature"),
        Role("surface_temperature", "surface (skin) temperature", ("surface_temperature",), "2d", "temperature"),
        Role(
            "geopotential",
            "geopotential (height) on levels",
            ("geopotential", "geopotential_height"),
            "3d",
            "geopotential",
        ),
        Role(
            "precipitation",
            "precipitation",
            (
                "precipitation_flux",
                "lwe_precipitation_rate",
                "precipitation_amount",
                "lwe_thickness_of_precipitation_amount",
            ),
            "2d",
            "precipitation",
        ),
        Role("surface_pressure", "surface pressure", ("surface_air_pressure",), "2d", "pressure"),
        Role(
            "boundary_layer_height",
            "boundary-layer height",
            ("atmosphere_boundary_layer_thickness",),
            "2d",
            "length",
        ),
        Role("land_fraction", "land fraction", ("land_area_fraction", "land_binary_mask"), "2d", "fraction"),
        Role("sea_ice_fraction", "sea-ice fraction", ("sea_ice_area_fraction",), "2d", "fraction"),
    )
}

#: Known short names per product, in priority order.
SHORT_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "era5": {
        "eastward_wind": ("u",),
        "northward_wind": ("v",),
        "eastward_wind_10m": ("u10",),
        "northward_wind_10m": ("v10",),
        "air_temperature": ("t",),
        "air_temperature_2m": ("t2m",),
        "surface_temperature": ("skt",),
        "geopotential": ("z",),
        "precipitation": ("tp", "mtpr"),
        "surface_pressure": ("sp",),
        "boundary_layer_height": ("blh",),
        "land_fraction": ("lsm",),
        "sea_ice_fraction": ("siconc", "ci"),
    },
    "merra2": {
        "eastward_wind": ("U",),
        "northward_wind": ("V",),
        "eastward_wind_10m": ("U10M",),
        "northward_wind_10m": ("V10M",),
        "air_temperature": ("T",),
        "air_temperature_2m": ("T2M",),
        "surface_temperature": ("TS",),
        "geopotential": ("H",),
        "precipitation": ("PRECTOTCORR", "PRECTOT"),
        "surface_pressure": ("PS",),
        "boundary_layer_height": ("PBLH",),
        "land_fraction": ("FRLAND",),
        "sea_ice_fraction": ("FRSEAICE",),
    },
    "cmip": {
        "eastward_wind": ("ua",),
        "northward_wind": ("va",),
        "eastward_wind_10m": ("uas",),
        "northward_wind_10m": ("vas",),
        "air_temperature": ("ta",),
        "air_temperature_2m": ("tas",),
        "surface_temperature": ("ts",),
        "geopotential": ("zg",),
        "precipitation": ("pr",),
        "surface_pressure": ("ps",),
        "boundary_layer_height": ("bldep", "zmla"),
        "land_fraction": ("sftlf",),
        "sea_ice_fraction": ("siconc", "sic", "siconca"),
    },
    "cf": {
        "eastward_wind": ("U", "uwnd", "UGRD"),
        "northward_wind": ("V", "vwnd", "VGRD"),
        "eastward_wind_10m": ("u10m", "U10", "uwnd10m"),
        "northward_wind_10m": ("v10m", "V10", "vwnd10m"),
        "air_temperature": ("T", "air", "TMP"),
        "air_temperature_2m": ("TREFHT", "t2", "T2", "air2m"),
        "surface_temperature": ("TS", "tsurf", "skin_temperature"),
        "geopotential": ("Z3", "hgt", "gh", "Z"),
        "precipitation": ("PRECT", "prate", "precip", "precipitation", "PRECTOT"),
        "surface_pressure": ("PS", "pres", "PSFC", "psurf"),
        "boundary_layer_height": ("PBLH", "hpbl", "pblh"),
        "land_fraction": ("LANDFRAC", "landfrac", "land", "LSMASK", "landmask", "lsmask"),
        "sea_ice_fraction": ("ICEFRAC", "icec", "seaice"),
    },
}


@dataclass(frozen=True)
class WholeCellSeaIce:
    """How a product that gives its sea ice as a fraction of the whole grid cell (0, not missing, over land) tells the
    cell's water, the area the ice lies on: the first of ``alternatives`` whose first variable the inputs hold.

    Each alternative is ``(kind, names)``: ``"water"``, the named fractions of the cell are its water (summed);
    ``"land"``, they are not (the water is 1 less their sum); ``"open_water"``, they are its ice-free water (the water
    is the ice plus their sum). The first name is required; the others are added when present.
    """

    source: str
    alternatives: tuple[tuple[Literal["water", "land", "open_water"], tuple[str, ...]], ...]

    def names(self) -> list[str]:
        """Every variable that can give the water, in order of preference."""
        return [n for _, names in self.alternatives for n in names]


#: Sea-ice variables given as a fraction of the whole grid cell, by name. The model takes the sea-ice fraction as a
#: fraction of the cell's water; these are converted to it on their own grid, with their product's land or ocean
#: fraction, before regridding. Every other sea-ice variable is read as a fraction of the water area, missing over
#: land: ERA5 ``siconc``/``ci`` ("proportion of ice covering a water grid box", land points missing: ECMWF parameter
#: database, paramId 31, https://confluence.ecmwf.int/x/rhaiAQ) and CMIP ``siconc``/``sic`` (per cent of the area of
#: the cells of the ocean model's grid, which are all water, and missing over land).
WHOLE_CELL_SEA_ICE: dict[str, WholeCellSeaIce] = {
    # CAM history field ICEFRAC "Fraction of sfc area covered by sea-ice", beside LANDFRAC "Fraction of sfc area
    # covered by land" and OCNFRAC "Fraction of sfc area covered by ocean" (the ice-free ocean): the three make up the
    # cell (CAM cam_diagnostics.F90 addfld; the CESM coupler's fractions lfrac + ifrac + ofrac = 1 on the atmosphere
    # grid, seq_frac_mct.F90). The water under CAM's ice is 1 - LANDFRAC (= ICEFRAC + OCNFRAC).
    "ICEFRAC": WholeCellSeaIce("CAM", (("land", ("LANDFRAC",)), ("open_water", ("OCNFRAC",)))),
    # MERRA-2 FRSEAICE "ice_covered_fraction_of_tile" (tavg1_2d_flx_Nx, GMAO Office Note 9, Bosilovich et al. 2016)
    # is a fraction of the grid box, as are FROCEAN, FRLAND, FRLANDICE and FRLAKE (const_2d_asm_Nx), which sum to 1:
    # GEOS's own sea-salt emission takes the open water of a box as FROCEAN - FRSEAICE (GOCART SS_GridCompMod,
    # "grid box efficiency to emission (fraction of sea water)"). The water under MERRA-2's sea ice is FROCEAN.
    "FRSEAICE": WholeCellSeaIce("MERRA-2", (("water", ("FROCEAN",)), ("land", ("FRLAND", "FRLANDICE", "FRLAKE")))),
    # CMIP6 SImon/SIday siconca "Sea-Ice Area Percentage (Atmospheric Grid)", "Percentage of grid cell covered by sea
    # ice", cell_measures area: areacella (CMIP6 data request, CMOR table CMIP6_SImon.json), beside Amon/fx sftlf.
    "siconca": WholeCellSeaIce("CMIP6 (atmospheric grid)", (("land", ("sftlf",)),)),
}

_TIME_NAMES = ("time", "valid_time", "Time", "t", "month")
_LAT_NAMES = ("latitude", "lat", "nav_lat", "y")
_LON_NAMES = ("longitude", "lon", "nav_lon", "x")
_VERTICAL_NAMES = ("level", "pressure_level", "plev", "lev", "isobaricInhPa", "pressure", "lev1", "lev2", "height",
                   "model_level", "hybrid", "z")


# ------------------------------------------------------------------------------------------------------------------
# units
# ------------------------------------------------------------------------------------------------------------------
def _norm_unit(u: object) -> str:
    s = str(u).strip().replace("**", "").replace("^", "").replace("·", " ").replace("*", " ")
    return " ".join(s.split())


#: Accepted units per kind of quantity: normalised unit string -> (scale, offset) to SI.
_UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "wind": {
        **dict.fromkeys(
            ["m s-1", "m/s", "ms-1", "m.s-1", "m sec-1", "meters/second", "metres/second", "meter second-1",
             "meters per second", "m s -1", "m/sec"],
            (1.0, 0.0),
        ),
        **dict.fromkeys(["knots", "knot", "kt", "kts"], (1852.0 / 3600.0, 0.0)),  # (the knot is 1852 m h-1 exactly)
        **dict.fromkeys(["km/h", "km h-1", "kph"], (1.0 / 3.6, 0.0)),
        **dict.fromkeys(["cm s-1", "cm/s"], (0.01, 0.0)),
    },
    "temperature": {
        **dict.fromkeys(["K", "kelvin", "Kelvin", "degK", "deg_K", "degrees_K", "degree_Kelvin", "k"], (1.0, 0.0)),
        **dict.fromkeys(
            ["degC", "°C", "C", "celsius", "Celsius", "deg_C", "degrees_C", "degrees_Celsius", "degree_Celsius",
             "deg C"],
            (1.0, 273.15),
        ),
    },
    "pressure": {
        **dict.fromkeys(["Pa", "pa", "pascal", "Pascal", "N m-2", "N/m2"], (1.0, 0.0)),
        **dict.fromkeys(["hPa", "hpa", "mb", "mbar", "millibar", "millibars", "hectopascal", "hectopascals"],
                        (100.0, 0.0)),
        **dict.fromkeys(["kPa", "kpa"], (1000.0, 0.0)),
    },
    "precipitation": {
        **dict.fromkeys(["kg m-2 s-1", "kg/m2/s", "kg m-2s-1", "kg/(m2 s)", "mm s-1", "mm/s"], (1e-3, 0.0)),
        **dict.fromkeys(["m s-1", "m/s"], (1.0, 0.0)),
        **dict.fromkeys(["mm/day", "mm d-1", "mm day-1", "mm/d", "kg m-2 d-1", "kg m-2 day-1", "mm per day"],
                        (1e-3 / 86400.0, 0.0)),
        **dict.fromkeys(["mm/h", "mm h-1", "mm/hr", "mm hr-1", "kg m-2 h-1"], (1e-3 / 3600.0, 0.0)),
        **dict.fromkeys(["m/day", "m d-1", "m day-1"], (1.0 / 86400.0, 0.0)),
        **dict.fromkeys(["cm/day", "cm d-1"], (1e-2 / 86400.0, 0.0)),
    },
    # accumulated amounts, divided by the accumulation period
    "precipitation_amount": {
        **dict.fromkeys(["m", "m of water equivalent", "metre", "meters"], (1.0, 0.0)),
        **dict.fromkeys(["mm", "kg m-2", "kg/m2"], (1e-3, 0.0)),
    },
    "length": {
        **dict.fromkeys(["m", "meters", "metres", "meter", "metre", "gpm"], (1.0, 0.0)),
        **dict.fromkeys(["km", "kilometers", "kilometres"], (1000.0, 0.0)),
    },
    "geopotential": {
        **dict.fromkeys(["m2 s-2", "m2/s2", "m2s-2", "m2 s -2", "J kg-1", "J/kg"],
                        (1.0 / STANDARD_GRAVITY_M_S2, 0.0)),
        **dict.fromkeys(["m", "gpm", "meters", "metres", "geopotential meters", "gp m"], (1.0, 0.0)),
    },
    "fraction": {
        **dict.fromkeys(["1", "", "(0 - 1)", "0-1", "(0-1)", "fraction", "dimensionless", "~", "none", "None",
                         "unitless", "0 - 1"], (1.0, 0.0)),
        **dict.fromkeys(["%", "percent", "Percent", "per cent"], (0.01, 0.0)),
    },
}


def _unit_conversion(units: object, unit_kind: str, source: object, var: str, role: Role) -> tuple[float, float]:
    if units is None:
        if unit_kind == "fraction":
            return (1.0, 0.0)
        raise InputError(
            source,
            f"variable {var!r} ({role.description})",
            "has no units attribute",
            f"set its units to one of {sorted(k for k in _UNITS[unit_kind] if k)[:8]}",
        )
    key = _norm_unit(units)
    table = _UNITS[unit_kind]
    if key in table:
        return table[key]
    raise InputError(
        source,
        f"variable {var!r} ({role.description})",
        f"unit {units!r} is not known; known units: {sorted(k for k in table if k)}",
        "set the variable's units attribute to one of these, or convert the data before reading",
    )


# ------------------------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------------------------
def _open_one(path: Path) -> Any:
    import xarray as xr

    if path.exists() and not path.is_file():
        raise InputError(path, "file", "is a directory or another kind of non-regular file, not a NetCDF file",
                         "give the path of a file (or a glob such as 'folder/era5_*.nc')")
    if not path.is_file():
        raise InputError(path, "file", "does not exist", "check the path (globs like 'era5_*.nc' are expanded)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return xr.open_dataset(path, decode_times=False, mask_and_scale=True, cache=False)
    except Exception as err:
        raise InputError(
            path,
            "NetCDF",
            f"cannot be opened ({type(err).__name__}: {str(err)[:200]})",
            "the file is corrupt or not NetCDF; check its size and 'ncdump -h', and download it again",
        ) from None


def _expand_spec(spec: object) -> list[tuple[Any, str]]:
    """``[(dataset, source name)]`` from a path, glob, dataset or a list of these."""
    import xarray as xr

    items = list(spec) if isinstance(spec, list | tuple) else [spec]
    out: list[tuple[Any, str]] = []
    for item in items:
        if isinstance(item, xr.Dataset):
            out.append((item, item.attrs.get("source_file", "xarray.Dataset")))
        elif isinstance(item, xr.DataArray):
            out.append((item.to_dataset(name=item.name or "data"), "xarray.DataArray"))
        elif isinstance(item, str | os.PathLike):
            s = str(item)
            paths = sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
            if not paths:
                raise InputError(s, "files", "the pattern matches no file", "check the folder and the pattern")
            for p in paths:
                out.append((_open_one(Path(p)), str(p)))
        else:
            raise InputError(
                repr(item)[:60],
                "met input",
                f"cannot read a {type(item).__name__}",
                "pass 'synthetic', a NetCDF path, a glob, an xarray Dataset, or a list of these",
            )
    if not out:
        raise InputError("met input", "files", "no input given", "pass at least one file or dataset")
    return out


def detect_kind(ds: Any) -> str:
    """Guess the product of a dataset: ``"era5"``, ``"merra2"``, ``"cmip"`` or ``"cf"``."""
    names = set(ds.variables)
    attrs = " ".join(str(v) for v in ds.attrs.values()).lower()
    if "merra" in attrs or names & {"U10M", "V10M", "T2M", "PRECTOT", "PRECTOTCORR", "FRLAND"}:
        return "merra2"
    if "cmip" in attrs or "project_id" in ds.attrs or "mip_era" in ds.attrs or names & {
        "uas",
        "vas",
        "tas",
        "ua",
        "va",
        "sftlf",
    }:
        return "cmip"
    if (
        names & {"valid_time", "pressure_level", "u10", "v10", "t2m", "blh", "skt", "tp"}
        or "ecmwf" in attrs
        or "era" in attrs
    ):
        return "era5"
    return "cf"


def _find_dim(da: Any, candidates: tuple[str, ...], std: str | None = None, units_prefix: str | None = None):
    for d in da.dims:
        if d in candidates:
            return d
    for d in da.dims:
        c = da[d] if d in da.coords else None
        if c is None:
            continue
        if std and c.attrs.get("standard_name") == std:
            return d
        if units_prefix and str(c.attrs.get("units", "")).lower().startswith(units_prefix):
            return d
    return None


@dataclass
class _Part:
    """One variable in one dataset."""

    ds: Any
    name: str
    source: str
    time_dim: str | None
    lat_dim: str
    lon_dim: str
    level_dim: str | None
    times: np.ndarray | None
    climatology: bool = False
    squeeze: dict = field(default_factory=dict)
    expver_dim: str | None = None
    calendar: str | None = None


class _Variable:
    """A variable found in the inputs, possibly split over several files in time."""

    def __init__(self, role: Role, parts: list[_Part], kind: str, time_rule: TimeRule | None):
        self.role = role
        self.parts = parts
        self.kind = kind
        first = parts[0]
        self.name = first.name
        self.source = first.source if len(parts) == 1 else f"{first.source} (+{len(parts) - 1} more files)"
        da = first.ds[first.name]
        self.attrs = dict(da.attrs)
        for dim in (first.lat_dim, first.lon_dim):
            if dim not in first.ds.variables:
                two_d = [c for c, v in first.ds.coords.items() if v.ndim == 2]
                raise InputError(
                    self.source,
                    f"variable {first.name!r}",
                    f"its dimension {dim!r} has no coordinate values"
                    + (f" (the file has the 2-D coordinates {two_d}: a curvilinear grid)" if two_d else ""),
                    "only rectilinear grids with 1-D latitude and longitude coordinates are read: regrid the file to a "
                    "regular longitude-latitude grid first (e.g. cdo remapbil,r360x180), or add the coordinate values",
                )
        lat = np.asarray(first.ds[first.lat_dim].values if first.lat_dim in first.ds.variables else [], float)
        lon = np.asarray(first.ds[first.lon_dim].values if first.lon_dim in first.ds.variables else [], float)
        lat_b = _bounds(first.ds, first.lat_dim)
        lon_b = _bounds(first.ds, first.lon_dim)
        self.grid = SourceGrid.from_coords(lon, lat, lon_b, lat_b, source=self.source)
        for p in parts[1:]:
            if p.ds[p.lat_dim].size != lat.size or p.ds[p.lon_dim].size != lon.size:
                raise InputError(p.source, f"variable {p.name!r}", "has a different grid than the other files",
                                 "give files on one grid")
            # (every record is read with the first file's coordinates: a file with the same sizes but latitudes in
            # the other order, or longitudes in the other convention, would be read mirrored or shifted)
            for dim, values in ((p.lat_dim, lat), (p.lon_dim, lon)):
                other = np.asarray(p.ds[dim].values if dim in p.ds.variables else [], float)
                if other.shape != values.shape or not np.allclose(other, values, rtol=0.0, atol=1e-6):
                    what = "latitudes" if dim == p.lat_dim else "longitudes"
                    raise InputError(
                        p.source,
                        f"variable {p.name!r}",
                        f"has a different grid than {first.source}: its {what} run {other[0]:g}..{other[-1]:g}, "
                        f"those of the first file {values[0]:g}..{values[-1]:g}",
                        "give the files of one variable on one grid, with the same coordinates in the same order "
                        "(e.g. reverse the latitudes with cdo invertlat, or shift the longitudes with cdo sellonlatbox)",
                    )
        # time axis over all parts
        _check_one_calendar(parts, f"the files of {self.name!r}")
        self.index: list[tuple[int, int]] = []
        self.file_gaps: list[tuple[np.datetime64, np.datetime64, str]] = []
        if first.times is None:
            self.times = None
            self.record_times = None
        else:
            allt = []
            for n, p in enumerate(parts):
                for k, t in enumerate(p.times):
                    allt.append((t, n, k))
            allt.sort(key=lambda x: x[0])
            times = np.array([a[0] for a in allt], dtype="datetime64[s]")
            self.index = [(a[1], a[2]) for a in allt]
            rule = time_rule or ("cyclic" if first.climatology else "linear")
            _check_no_overlap(parts)
            if np.any(np.diff(times) <= np.timedelta64(0, "s")):
                bad = int(np.argmax(np.diff(times) <= np.timedelta64(0, "s")))
                raise InputError(
                    parts[allt[bad][1]].source,  # (files that overlap are refused above: the record is twice in one)
                    f"variable {self.name!r} time",
                    f"record {times[bad]} appears twice",
                    "give each time once (remove overlapping files)",
                )
            self.times = times
            self.file_gaps = self._file_gaps(times, rule)
            self.record_times = RecordTimes(times, rule, self.source)
        self.levels = None
        if first.level_dim is not None:
            self.levels = _LevelInfo.from_part(first, role)
        units = self.attrs.get("units")
        self.scale, self.offset = 1.0, 0.0
        self.accumulation_s: float | None = None
        if role.unit_kind == "precipitation":
            key = _norm_unit(units) if units is not None else None
            if key is not None and key in _UNITS["precipitation_amount"]:
                self.scale, self.offset = _UNITS["precipitation_amount"][key]
                self.accumulation_s = self._accumulation_period()
                self.scale /= self.accumulation_s
            else:
                self.scale, self.offset = _unit_conversion(units, "precipitation", self.source, self.name, role)
        else:
            self.scale, self.offset = _unit_conversion(units, role.unit_kind, self.source, self.name, role)
        self.is_mask_codes = role.name == "land_fraction" and (
            self.name == "LSMASK" or "land_sea_mask" in str(self.attrs.get("long_name", "")).lower().replace(" ", "_")
        ) and np.issubdtype(da.dtype, np.integer)
        self._regrid: dict[str, Any] = {}

    def _file_gaps(self, times: np.ndarray, rule: str) -> list[tuple[np.datetime64, np.datetime64, str]]:
        """Spans between two files of the series that lack records, as if a file between them were left out: the
        last record of one file and the first of the next more than
        :data:`~popstransport.io.met.timeseries.MISSING_RECORD_FACTOR` times the usual spacing apart.
        ``[(last time, first time, description)]``; none for a cyclic climatology."""
        if rule == "cyclic" or times.size < 3 or len(self.parts) < 2:
            return []
        step = np.diff(times).astype(np.int64)
        usual = float(np.median(step))
        gaps = []
        for k in np.flatnonzero(step > MISSING_RECORD_FACTOR * usual):
            (n0, _), (n1, _) = self.index[k], self.index[k + 1]
            if n0 != n1:
                gaps.append((times[k], times[k + 1],
                             f"records are missing between {times[k]} (the last of {self.parts[n0].source}) and "
                             f"{times[k + 1]} (the first of {self.parts[n1].source}), {step[k] / usual:.3g} times the "
                             f"usual spacing of {usual / 3600.0:g} h"))
        return gaps

    def _accumulation_period(self) -> float:
        """Accumulation period (s) of precipitation given as an amount (ERA5 ``tp`` in m)."""
        if self.times is None or self.times.size < 2:
            step = None
        else:
            step = float(np.median(np.diff(self.times).astype(np.float64)))
        if self.kind == "era5" and step is not None:
            if step <= 3 * 3600:
                return 3600.0  # hourly data: accumulation over the hour ending at the valid time
            if step >= 27 * 86400:
                return 86400.0  # monthly means of daily accumulations (ERA5 monthly means convention)
        raise InputError(
            self.source,
            f"variable {self.name!r} (precipitation)",
            f"is an accumulated amount (units {self.attrs.get('units')!r}) with an unknown accumulation period",
            "convert it to a rate (kg m-2 s-1 or m s-1) or give ERA5 hourly or monthly-mean data",
        )

    def regridder(self, grid: LatLonGrid, method: str):
        if method not in self._regrid:
            self._regrid[method] = Bilinear(self.grid, grid) if method == "bilinear" else Conservative(self.grid, grid)
        return self._regrid[method]

    def read(self, k: int | None, rows: slice, cols: slice) -> np.ndarray:
        """Record ``k`` (or the static field) of the window ``rows, cols`` as float64 ``([level], lat, lon)``, SI."""
        if k is None or self.times is None:
            part, local = self.parts[0], 0
        else:
            n, local = self.index[k]
            part = self.parts[n]
        da = part.ds[part.name]
        sel: dict[str, Any] = {part.lat_dim: rows, part.lon_dim: cols}
        if part.time_dim is not None:
            sel[part.time_dim] = local
        sel.update(part.squeeze)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sub = da.isel(sel)
            if part.expver_dim is not None:
                sub = sub.bfill(part.expver_dim).isel({part.expver_dim: 0})
            order = [d for d in (part.level_dim, part.lat_dim, part.lon_dim) if d is not None]
            a = np.asarray(sub.transpose(*order).values, dtype=np.float64)
        if self.is_mask_codes:
            # NCAR land-sea mask codes: 0 ocean, 1 land, 2 lake, 3 small island, 4 ice shelf
            a = np.isin(a, (1, 3)).astype(np.float64)
        return a * self.scale + self.offset

    def describe(self) -> str:
        return f"{self.name!r} in {self.source} (units {self.attrs.get('units')!r})"


#: CF calendars by family: the names of one family are the same calendar (CF conventions 1.10, section 4.4.1;
#: ``gregorian`` is the deprecated name of ``standard``, which differs from ``proleptic_gregorian`` only before 1582).
_CALENDAR_FAMILIES = {"standard": "standard", "gregorian": "standard", "proleptic_gregorian": "standard",
                      "noleap": "noleap", "365_day": "noleap", "all_leap": "all_leap", "366_day": "all_leap"}


def _calendar_family(calendar: object) -> str:
    """The calendar of a time coordinate's ``calendar`` attribute, its aliases joined (none is ``standard``)."""
    name = str(calendar).strip().lower() if calendar is not None else "standard"
    return _CALENDAR_FAMILIES.get(name, name)


def _time_calendar(ds: Any, tdim: str) -> str:
    """The calendar family of the time coordinate ``tdim`` of ``ds``: its ``calendar`` attribute, or for times that
    xarray has decoded, the calendar it decoded them with (cftime dates carry it)."""
    c = ds[tdim]
    calendar = c.attrs.get("calendar", c.encoding.get("calendar"))
    if calendar is None and c.dtype == object and c.size:
        calendar = getattr(c.values.flat[0], "calendar", None)
    return _calendar_family(calendar)


def _check_one_calendar(parts: list[_Part], what: str) -> None:
    """Refuse time series whose files use different calendars: the files of one model run share one calendar, and
    dates of different calendars map onto different model times (by date, or by the fraction of the year)."""
    timed = [p for p in parts if p.calendar is not None]
    first = timed[0] if timed else None
    for p in timed[1:]:
        if p.calendar != first.calendar:
            raise InputError(
                p.source,
                f"variable {p.name!r} time calendar",
                f"is {p.calendar!r}, while {first.source} ({first.name!r}) is {first.calendar!r}: {what} mix calendars, "
                "which the files of one model run never do",
                "give files of one model and experiment (a model's calendar is in each file's time:calendar "
                "attribute); if the data are meant to be mixed, convert them to one calendar first (e.g. cdo "
                "setcalendar, with the dates moved as the calendar needs)",
            )


def _without_copies(parts: list[_Part]) -> list[_Part]:
    """The parts of a variable less its copies in the files of other variables: CMOR writes the surface pressure
    ``ps``, a formula term of hybrid levels, into the file of every variable on them (CMIP6 6hrLev ``ua``, ``va``,
    ``ta``), whose global attribute ``variable_id`` names that variable. The variable's own files are read when the
    inputs have them; otherwise one copy of each span of records."""
    own = [p for p in parts if p.ds.attrs.get("variable_id", p.name) == p.name]
    if own:
        return own
    kept: list[_Part] = []
    for p in parts:
        if not any(p.times is not None and q.times is not None and np.array_equal(p.times, q.times) for q in kept):
            kept.append(p)
    return kept


def _check_no_overlap(parts: list[_Part]) -> None:
    """Refuse files of one variable whose spans of records overlap: records of two tables (a glob such as
    'tas_*.nc' that takes both CMIP's Amon and day files) or a file given twice would be interleaved in time."""
    spans = sorted((p.times.min(), p.times.max(), p.source) for p in parts if p.times is not None and p.times.size)
    for (a0, a1, a), (b0, b1, b) in zip(spans, spans[1:]):
        if b0 <= a1:
            raise InputError(
                b,
                f"variable {parts[0].name!r} time",
                f"its records ({b0}..{b1}) overlap those of {a} ({a0}..{a1}): the files of a variable must follow "
                "each other in time",
                "give each span of time once: remove the file given twice, or narrow the glob to one table and "
                "frequency (e.g. 'tas_Amon_*.nc', not 'tas_*.nc', when daily files lie beside the monthly ones)",
            )


def _mid_month_of_monthly_means(values: np.ndarray, units: str, calendar: str | None) -> np.ndarray | None:
    """Model times of the middles of the months of monthly means stamped at 00:00 on the first of consecutive
    months in the file's own calendar (as ERA5's monthly means are), or None for other times.

    The check and the middles are made in the file's calendar: in model time the first of a month of a ``noleap``
    leap year (mapped by the fraction of the year) falls hours after midnight, and a ``360_day`` month's first day
    rarely on a first, so such records were taken as valid at the start of their months.
    """
    import cftime

    try:
        dates = cftime.num2date(np.asarray(values, np.float64), units, calendar=(calendar or "standard").lower(),
                                only_use_cftime_datetimes=True)
    except Exception:  # (e.g. 'months since', decoded by decode_cf_time's own rule)
        return None
    return _mid_month(list(np.atleast_1d(dates)))


def _mid_month(dates: list) -> np.ndarray | None:
    """Model times of the middles of the months that begin at the cftime ``dates``, or None unless every date is
    00:00 on the first of a month and they follow month by month (see :func:`_mid_month_of_monthly_means`)."""
    import cftime

    if not all(d.day == 1 and (d.hour, d.minute, d.second) == (0, 0, 0) for d in dates):
        return None
    if not all(28 <= (b - a).days <= 31 for a, b in zip(dates, dates[1:])):
        return None
    ends = [cftime.datetime(d.year + d.month // 12, d.month % 12 + 1, 1, calendar=d.calendar) for d in dates]
    return cf_times_to_datetime64(np.array([d + (e - d) / 2 for d, e in zip(dates, ends)], dtype=object))


def _bounds(ds: Any, dim: str) -> np.ndarray | None:
    if dim not in ds.variables:
        return None
    b = ds[dim].attrs.get("bounds")
    if b and b in ds.variables and ds[b].ndim == 2 and ds[b].shape[1] == 2:
        return np.asarray(ds[b].values, dtype=float)
    return None


@dataclass
class _LevelInfo:
    """Vertical coordinate of a 3-D variable: pressure levels, hybrid sigma-pressure, or heights above ground."""

    kind: Literal["pressure", "hybrid", "height"]
    values: np.ndarray  # pressure (Pa) or height (m); for hybrid: a*p0 or ap (Pa)
    b: np.ndarray | None = None

    @classmethod
    def from_part(cls, part: _Part, role: Role) -> _LevelInfo:
        ds, dim = part.ds, part.level_dim
        coord = ds[dim] if dim in ds.variables else None
        attrs = dict(coord.attrs) if coord is not None else {}
        std = attrs.get("standard_name", "")
        vals = np.asarray(coord.values, dtype=float) if coord is not None else None
        if std in ("atmosphere_hybrid_sigma_pressure_coordinate",) and "formula_terms" in attrs:
            terms = dict(zip(attrs["formula_terms"].split()[0::2], attrs["formula_terms"].split()[1::2]))
            terms = {k.rstrip(":"): v for k, v in terms.items()}
            try:
                b = np.asarray(ds[terms["b"]].values, float)
                if "ap" in terms:
                    a = np.asarray(ds[terms["ap"]].values, float)
                else:
                    p0 = float(ds[terms["p0"]].values) if "p0" in terms else STANDARD_PRESSURE_PA
                    a = np.asarray(ds[terms["a"]].values, float) * p0
            except KeyError as err:
                raise InputError(part.source, f"vertical coordinate {dim!r}", f"formula term {err} is missing",
                                 "include the hybrid coefficients named in formula_terms") from None
            return cls("hybrid", a, b)
        units = attrs.get("units")
        if units is not None and _norm_unit(units) in _UNITS["pressure"]:
            s, _ = _UNITS["pressure"][_norm_unit(units)]
            levels = vals * s
            if not (np.all(np.isfinite(levels)) and np.all(levels > 0) and levels.max() <= MAX_LEVEL_PRESSURE_PA
                    and levels.max() >= MIN_LOWEST_LEVEL_PRESSURE_PA):
                raise InputError(
                    part.source,
                    f"vertical coordinate {dim!r} of {part.name!r}",
                    f"pressure levels {vals.min():g}..{vals.max():g} {units} ({levels.min():g}..{levels.max():g} Pa) "
                    f"are not plausible: pressure levels lie above 0 and at most {MAX_LEVEL_PRESSURE_PA:g} Pa, and the "
                    f"lowest at {MIN_LOWEST_LEVEL_PRESSURE_PA:g} Pa or more",
                    "check the units attribute of the levels (hPa levels labelled Pa, or Pa labelled hPa?)",
                )
            return cls("pressure", levels)
        if units is not None and _norm_unit(units) in _UNITS["length"] and (
            std in ("height", "altitude") or attrs.get("positive") == "up"
        ):
            s, _ = _UNITS["length"][_norm_unit(units)]
            return cls("height", vals * s)
        if vals is not None and units is None and dim in ("level", "pressure_level", "isobaricInhPa", "plev"):
            if np.all((vals > 0) & (vals <= 1100)):
                warnings.warn(
                    f"{part.source}: vertical coordinate {dim!r} has no units; its values {vals.min():g}.."
                    f"{vals.max():g} are taken as hPa",
                    stacklevel=4,
                )
                return cls("pressure", vals * 100.0)
        raise InputError(
            part.source,
            f"vertical coordinate {dim!r} of {part.name!r}",
            f"is not a known vertical coordinate (units {units!r}, standard_name {std!r})",
            "use pressure levels (units Pa or hPa), CF hybrid sigma-pressure levels with formula_terms, or heights "
            "above ground (standard_name height, units m); ERA5 model levels without their a/b coefficients "
            "cannot be used: request pressure levels instead",
        )

    def pressures(self, ps: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
        """Level pressures (Pa) ``(K,)`` or ``(K, ny, nx)``."""
        if self.kind == "pressure":
            return self.values
        p_s = np.full(shape, STANDARD_PRESSURE_PA) if ps is None else ps
        return self.values[:, None, None] + self.b[:, None, None] * p_s[None]


# ------------------------------------------------------------------------------------------------------------------
# vertical interpolation
# ------------------------------------------------------------------------------------------------------------------
def _fill_below_ground(values: np.ndarray, order_high_to_low_p: np.ndarray) -> np.ndarray:
    v = values[order_high_to_low_p].copy()
    for k in range(v.shape[0] - 2, -1, -1):
        bad = ~np.isfinite(v[k])
        if np.any(bad):
            v[k][bad] = v[k + 1][bad]
    return v


def interpolate_to_pressures(
    values: np.ndarray, level_p: np.ndarray, target_p: np.ndarray, below: Literal["hold", "lapse"] = "hold"
) -> np.ndarray:
    """Interpolate ``values`` ``(K, ny, nx)`` on levels at pressures ``level_p`` (``(K,)`` or ``(K, ny, nx)``, Pa)
    to ``target_p`` ``(S, ny, nx)`` linearly in ``ln p``.

    Above the top level the top value holds; below the lowest level the lowest value holds (``"hold"``) or, for
    temperature, is extrapolated with the standard lapse rate (``"lapse"``). Non-finite values (below ground) are
    filled from the level above first: the caller checks that they are below ground (:class:`FileMet` refuses any
    other gap).
    """
    K = values.shape[0]
    level_p = np.asarray(level_p, float)
    if level_p.ndim == 1:
        level_p = level_p.reshape((K,) + (1,) * (values.ndim - 1))
    lp = np.broadcast_to(level_p, values.shape)
    order = np.argsort(-lp.reshape(K, -1)[:, 0], kind="stable")
    lp = np.log(lp[order])
    v = _fill_below_ground(values, order)
    x = np.log(target_p)
    nb = np.sum(lp[None] >= x[:, None], axis=1)  # levels at or below each target (higher pressure)
    k0 = np.clip(nb - 1, 0, K - 1)
    k1 = np.clip(nb, 0, K - 1)
    lp_b = np.broadcast_to(lp, (K,) + x.shape[1:])
    l0 = np.take_along_axis(lp_b, k0, axis=0)
    l1 = np.take_along_axis(lp_b, k1, axis=0)
    v0 = np.take_along_axis(v, k0, axis=0)
    v1 = np.take_along_axis(v, k1, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(k1 > k0, (x - l0) / (l1 - l0), 0.0)
        out = (1.0 - w) * v0 + w * v1
    below_mask = nb == 0
    if np.any(below_mask):
        if below == "lapse":
            ext = v[0][None] * np.exp(_LAPSE_EXPONENT * (x - lp_b[0][None]))
            out = np.where(below_mask, ext, out)
        else:
            out = np.where(below_mask, np.broadcast_to(v[0], out.shape), out)
    return out


def _layer_means_from_levels(
    values: np.ndarray,
    levels: _LevelInfo,
    ps: np.ndarray | None,
    edges_m: tuple[float, ...],
    below: Literal["hold", "lapse"],
) -> np.ndarray:
    """Layer means ``(L, ny, nx)`` of a field on levels, on the source grid."""
    shape = values.shape[1:]
    samples = _layer_samples(edges_m)
    out = np.zeros((len(samples),) + shape)
    if levels.kind == "height":
        z_lev = levels.values
        order = np.argsort(z_lev)
        vv = _fill_below_ground(values, order[::-1])[::-1]  # fill from above (higher z)
        zs = z_lev[order]
        for k, (z, w) in enumerate(samples):
            for zz, ww in zip(z, w):
                j = int(np.clip(np.searchsorted(zs, zz) - 1, 0, zs.size - 2)) if zs.size > 1 else 0
                if zs.size == 1:
                    out[k] += ww * vv[0]
                    continue
                f = float(np.clip((zz - zs[j]) / (zs[j + 1] - zs[j]), 0.0, 1.0))
                out[k] += ww * ((1 - f) * vv[j] + f * vv[j + 1])
        return out
    p_s = np.full(shape, STANDARD_PRESSURE_PA) if ps is None else ps
    level_p = levels.pressures(ps, shape)
    for k, (z, w) in enumerate(samples):
        target = p_s[None] * np.exp(-z[:, None, None] / SCALE_HEIGHT_M)
        vals = interpolate_to_pressures(values, level_p, target, below)
        out[k] = np.tensordot(w, vals, axes=(0, 0))
    return out


def wind_profile_factors(edges_m: tuple[float, ...], boundary_layer_height_m: np.ndarray) -> np.ndarray:
    """Layer-mean ratio of the wind to the 10 m wind, ``(L, J, I)``: ``(z / 10 m)^(1/7)`` up to the boundary-layer
    height, constant above, density-weighted over each layer."""
    h = np.maximum(np.asarray(boundary_layer_height_m, float), 10.0)
    out = np.zeros((len(edges_m) - 1,) + h.shape)
    for k, (z, w) in enumerate(_layer_samples(edges_m)):
        for zz, ww in zip(z, w):
            out[k] += ww * (np.minimum(np.maximum(zz, 10.0), h) / 10.0) ** WIND_PROFILE_EXPONENT
    return out


# ------------------------------------------------------------------------------------------------------------------
# the reader
# ------------------------------------------------------------------------------------------------------------------
class FileMet:
    """Meteorology from NetCDF files or xarray Datasets, on a model grid (see the module docstring).

    Use :func:`open_met` to build one.
    """

    def __init__(
        self,
        inputs: list[tuple[Any, str]],
        grid: LatLonGrid,
        kind: str | None = None,
        time_rule: TimeRule | None = None,
        variables: dict[str, str] | None = None,
        fill_missing: Literal["synthetic", "error"] = "synthetic",
    ):
        if kind == "auto":
            kind = None
        if kind is not None and kind not in KINDS:
            raise InputError(inputs[0][1], "kind", f"{kind!r} is not a known product", f"use one of {KINDS}")
        if fill_missing not in ("synthetic", "error"):
            raise InputError(inputs[0][1], "fill_missing", f"{fill_missing!r}", "use 'synthetic' or 'error'")
        self.grid = grid
        self.inputs = inputs
        self.kind = kind or detect_kind(inputs[0][0])
        self.time_rule = time_rule
        self.notes: list[str] = []
        self._synthetic: SyntheticClimatology | None = None
        self.vars: dict[str, _Variable] = {}
        self._time_cache: dict[tuple[int, str], tuple[np.ndarray, bool]] = {}
        for role in ROLES.values():
            v = self._find(role, variables or {})
            if v is not None:
                self.vars[role.name] = v
        self._plan(fill_missing)
        self._plan_sea_ice()
        self._windows: dict[str, RecordWindow] = {}

    # finding --------------------------------------------------------------------------------------------------
    def _candidates(self, role: Role) -> list[str]:
        names = list(SHORT_NAMES[self.kind].get(role.name, ()))
        for k in KINDS:
            for n in SHORT_NAMES[k].get(role.name, ()):
                if n not in names:
                    names.append(n)
        return names

    def _is_3d(self, da: Any) -> str | None:
        for d in da.dims:
            if d in _TIME_NAMES or d in _LAT_NAMES or d in _LON_NAMES:
                continue
            if da.sizes[d] > 1 and (d in _VERTICAL_NAMES or self._looks_vertical(da, d)):
                return d
        return None

    @staticmethod
    def _looks_vertical(da: Any, d: str) -> bool:
        if d not in da.coords:
            return False
        a = da[d].attrs
        return a.get("axis") == "Z" or "positive" in a or a.get("standard_name", "") in (
            "air_pressure",
            "atmosphere_hybrid_sigma_pressure_coordinate",
            "height",
        )

    def _find(self, role: Role, explicit: dict[str, str]) -> _Variable | None:
        matches: list[_Part] = []
        wanted = explicit.get(role.name)
        for ds, src in self.inputs:
            chosen = None
            if wanted is not None:
                if wanted in ds.data_vars:
                    chosen = wanted
            else:
                for name, da in ds.data_vars.items():
                    if da.attrs.get("standard_name") in role.standard_names and self._dims_ok(da, role):
                        chosen = name
                        break
                if chosen is None:
                    for name in self._candidates(role):
                        if name in ds.data_vars and self._dims_ok(ds[name], role):
                            chosen = name
                            break
            if chosen is not None:
                matches.append(self._part(ds, src, chosen, role))
        if wanted is not None and not matches:
            raise InputError(
                self._label(),
                f"variable {wanted!r} ({role.description})",
                f"not found; the inputs hold {self._inventory()}",
                "correct the name in variables={...}",
            )
        if not matches:
            return None
        names = {m.name for m in matches}
        if len(names) > 1:
            matches = [m for m in matches if m.name == matches[0].name]
        matches = _without_copies(matches)
        rule = self.time_rule
        if role.name == "land_fraction" and len(matches) == 1 and matches[0].times is not None and matches[0].times.size == 1:
            rule = "clamped"  # (read as static: a file of constants may stamp them with one time, as MERRA-2's does)
        return _Variable(role, matches, self.kind, rule)

    def _without_lat_lon(self, roles: tuple[str, ...]) -> list[str]:
        """The variables that are what ``roles`` look for (by standard name or short name) but were passed over for
        want of a latitude or longitude dimension, described with their dimensions."""
        out = []
        for ds, _ in self.inputs:
            for name, da in ds.data_vars.items():
                for r in roles:
                    role = ROLES[r]
                    if da.attrs.get("standard_name") in role.standard_names or name in self._candidates(role):
                        if (_find_dim(da, _LAT_NAMES, "latitude", "degrees_n") is None
                                or _find_dim(da, _LON_NAMES, "longitude", "degrees_e") is None):
                            what = role.standard_names[0].replace("_", " ")
                            out.append(f"variable {name!r} ({what}) has the dimensions {tuple(da.dims)}")
                        break
        return out

    def _dims_ok(self, da: Any, role: Role) -> bool:
        if _find_dim(da, _LAT_NAMES, "latitude", "degrees_n") is None:
            return False
        if _find_dim(da, _LON_NAMES, "longitude", "degrees_e") is None:
            return False
        return (self._is_3d(da) is not None) == (role.levels == "3d")

    def _part(self, ds: Any, src: str, name: str, role: Role) -> _Part:
        da = ds[name]
        lat = _find_dim(da, _LAT_NAMES, "latitude", "degrees_n")
        lon = _find_dim(da, _LON_NAMES, "longitude", "degrees_e")
        level = self._is_3d(da) if role.levels == "3d" else None
        tdim = None
        for d in da.dims:
            if d in _TIME_NAMES or (d in ds.variables and " since " in str(ds[d].attrs.get("units", ""))):
                tdim = d
                break
        squeeze: dict[str, int] = {}
        expver = None
        for d in da.dims:
            if d in (lat, lon, level, tdim):
                continue
            if d == "expver":
                expver = d
            elif da.sizes[d] == 1:
                squeeze[d] = 0
            else:
                raise InputError(
                    src,
                    f"variable {name!r}",
                    f"has an extra dimension {d!r} of size {da.sizes[d]} (ensemble members or levels?)",
                    f"select one before reading, e.g. ds.isel({d}=0), and pass the dataset",
                )
        if tdim is None:
            times, clim = None, False
        else:
            key = (id(ds), tdim)
            if key not in self._time_cache:
                self._time_cache[key] = self._times(ds, src, tdim)
            times, clim = self._time_cache[key]
        calendar = _time_calendar(ds, tdim) if tdim is not None and tdim != "month" and tdim in ds.variables else None
        return _Part(ds, name, src, tdim, lat, lon, level, times, clim, squeeze, expver, calendar)

    def _times(self, ds: Any, src: str, tdim: str) -> tuple[np.ndarray, bool]:
        if tdim == "month" or (tdim in ds.variables and ds[tdim].attrs.get("units") in (None, "")
                               and tdim == "month"):
            months = np.asarray(ds[tdim].values if tdim in ds.variables else np.arange(1, ds.sizes[tdim] + 1))
            if not np.all((months >= 1) & (months <= 12)):
                raise InputError(src, f"dimension {tdim!r}", f"values {months} are not months 1..12",
                                 "number the months 1..12")
            return monthly_mid_times(2001, months.astype(int)), True
        if tdim not in ds.variables:
            raise InputError(src, f"time dimension {tdim!r}", "has no coordinate values", "add the time coordinate")
        c = ds[tdim]
        vals = c.values
        clim = "climatology" in c.attrs
        if np.issubdtype(vals.dtype, np.datetime64):
            t = vals.astype("datetime64[s]")
        elif vals.dtype == object:
            t = cf_times_to_datetime64(vals)
            mid = None if clim or t.size < 2 or not hasattr(vals.flat[0], "calendar") else _mid_month(list(vals.flat))
            if mid is not None:  # (cftime dates that xarray decoded: checked in their own calendar)
                return mid, clim
        else:
            units = c.attrs.get("units")
            try:
                t = decode_cf_time(vals, units, c.attrs.get("calendar"), src, tdim)
            except InputError as err:
                if np.size(vals) == 1 and self.time_rule == "clamped":
                    warnings.warn(
                        f"{src}: time {tdim!r} (units {units!r}) cannot be decoded; its single record is used "
                        "for all times (met.time_rule = 'clamped')",
                        stacklevel=5,
                    )
                    return np.array([np.datetime64("2000-01-01", "s")]), False
                if np.size(vals) == 1:
                    raise InputError(
                        src,
                        f"time variable {tdim!r}",
                        f"{err.problem}; the file has a single record",
                        "set met.time_rule = 'clamped' to use that record for all times, or fix the time units",
                    ) from None
                raise
            bname = c.attrs.get("bounds") or c.attrs.get("climatology")
            if bname and bname in ds.variables and ds[bname].ndim == 2:
                b = ds[bname]
                lo = decode_cf_time(b.values[:, 0], b.attrs.get("units", units), b.attrs.get(
                    "calendar", c.attrs.get("calendar")), src, bname)
                hi = decode_cf_time(b.values[:, 1], b.attrs.get("units", units), b.attrs.get(
                    "calendar", c.attrs.get("calendar")), src, bname)
                if not clim:
                    t = lo + (hi - lo) // 2
            elif not clim and np.size(vals) >= 2:
                mid = _mid_month_of_monthly_means(vals, units, c.attrs.get("calendar"))
                if mid is not None:
                    return mid, clim
        t = np.asarray(t, dtype="datetime64[s]")
        if t.size >= 2:  # (times decoded by xarray: Gregorian dates)
            step_days = np.diff(t).astype(np.float64) / 86400.0
            first_of_month = np.all(t.astype("datetime64[D]") == t.astype("datetime64[M]").astype("datetime64[D]"))
            midnight = np.all(t == t.astype("datetime64[D]").astype("datetime64[s]"))
            if first_of_month and midnight and np.all((step_days >= 28) & (step_days <= 31)):
                m = t.astype("datetime64[M]")
                t = m.astype("datetime64[s]") + ((m + 1).astype("datetime64[s]") - m.astype("datetime64[s]")) // 2
        return t, clim

    def _inventory(self) -> str:
        items = []
        for ds, _ in self.inputs:
            for name, da in ds.data_vars.items():
                sn = da.attrs.get("standard_name")
                items.append(f"{name}{list(da.dims)}" + (f" ({sn})" if sn else "") + f" [{da.attrs.get('units')}]")
        return "; ".join(items) if items else "no data variables"

    # planning ---------------------------------------------------------------------------------------------------
    def _plan(self, fill_missing: str) -> None:
        v = self.vars
        src = self._label()
        if "eastward_wind" in v and "northward_wind" in v:
            self.wind_mode = "levels"
        elif "eastward_wind_10m" in v and "northward_wind_10m" in v:
            self.wind_mode = "10m"
            top = self.grid.layers.edges_m[-1]
            self._note(
                f"only 10 m winds were found ({v['eastward_wind_10m'].describe()}); layer winds follow the power-law "
                f"profile (z/10 m)^(1/7) up to the boundary-layer height and are constant above"
                + (f" (layers up to {top:g} m carry the boundary-layer-top wind)" if top > 2000 else "")
            )
        else:
            looked = []
            for r in ("eastward_wind", "northward_wind", "eastward_wind_10m", "northward_wind_10m"):
                looked.append(f"{r}: standard_name {ROLES[r].standard_names[0]!r} or {self._candidates(ROLES[r])}")
            unplaced = self._without_lat_lon(("eastward_wind", "northward_wind"))
            if unplaced:
                raise InputError(
                    src,
                    "winds",
                    f"{', '.join(unplaced)}: no latitude or longitude dimension found among the dimensions (looked "
                    f"for dimensions named {list(_LAT_NAMES)} and {list(_LON_NAMES)}, or with the standard_name "
                    "latitude/longitude or the units degrees_north/degrees_east)",
                    "rename the horizontal dimensions to lat and lon, or give their coordinates the attributes "
                    "standard_name = 'latitude'/'longitude' and units = 'degrees_north'/'degrees_east'",
                )
            fix = ("add wind variables, give them CF standard names, or name them with variables={'eastward_wind': "
                   "..., 'northward_wind': ...}")
            for a, b in (("eastward_wind", "northward_wind"), ("eastward_wind_10m", "northward_wind_10m")):
                if (a in v) != (b in v):
                    # (one file per variable, as CMIP and many archives ship them, and only one of the pair given)
                    found, lost = (a, b) if a in v else (b, a)
                    label = {r: ("10 m " if r.endswith("_10m") else "") + r.removesuffix("_10m").replace("_", " ")
                             for r in (a, b)}
                    fix = (f"the {label[found]} was found ({v[found].describe()}) but not the "
                           f"{label[lost]}: if it is in another file, give both files (met.source "
                           "takes a glob, such as 'met/?as_*.nc', or a list, such as ['uas.nc', 'vas.nc']); or " + fix)
                    break
            raise InputError(
                src,
                "winds",
                f"no eastward and northward wind found (looked for {'; '.join(looked)}); "
                f"the inputs hold {self._inventory()}",
                fix,
            )
        if self.wind_mode == "levels":
            for a, b in (("eastward_wind", "northward_wind"),):
                ta, tb = v[a].times, v[b].times
                if (ta is None) != (tb is None) or (ta is not None and not np.array_equal(ta, tb)):
                    raise InputError(src, "winds", "eastward and northward winds have different times",
                                     "give both on the same records")
        missing = []
        if "air_temperature" in v:
            self.temperature_mode = "levels"
        elif "geopotential" in v and v["geopotential"].levels is not None and v["geopotential"].levels.kind == (
            "pressure"
        ) and v["geopotential"].levels.values.size >= 2:
            self.temperature_mode = "thickness"
            self._note(
                f"air temperature derived from the hydrostatic thickness of {v['geopotential'].describe()} between "
                "pressure levels (T = g dZ / (R_d ln(p1/p2)))"
            )
        elif "air_temperature_2m" in v:
            self.temperature_mode = "2m"
            self._note("air temperature from 2 m temperature with the standard lapse rate 6.5 K/km")
        elif "surface_temperature" in v:
            self.temperature_mode = "surface"
            self._note("air temperature from surface temperature with the standard lapse rate 6.5 K/km")
        else:
            self.temperature_mode = "synthetic"
            missing.append("air_temperature")
        if "surface_temperature" in v:
            self.surface_temperature_mode = "surface"
        elif "air_temperature_2m" in v:
            self.surface_temperature_mode = "2m"
            self._note("surface temperature taken from 2 m air temperature")
        elif self.temperature_mode != "synthetic":
            self.surface_temperature_mode = "from_air"
            self._note("surface temperature extrapolated from the lowest air layer with the lapse rate 6.5 K/km")
        else:
            self.surface_temperature_mode = "synthetic"
            missing.append("surface_temperature")
        for r in ("precipitation", "surface_pressure", "boundary_layer_height"):
            if r not in v:
                missing.append(r)
        self.land_mode = "file" if "land_fraction" in v else "natural_earth"
        if self.land_mode == "natural_earth":
            if fill_missing == "error":
                missing.append("land_fraction")
            else:
                self._note(
                    f"land fraction not found (looked for standard_name 'land_area_fraction' or "
                    f"{self._candidates(ROLES['land_fraction'])}); using the Natural Earth land fraction of the grid, "
                    "whose coastline differs from the met's: add the met's own to met.source (e.g. CMIP's fx file "
                    "sftlf_fx_MODEL_EXPERIMENT_VARIANT_GRID.nc, ERA5's lsm)"
                )
        if missing and fill_missing == "error":
            raise InputError(
                src,
                ", ".join(missing),
                f"not found (looked for {[ROLES[m].standard_names for m in missing if m in ROLES]} and short names "
                f"{[self._candidates(ROLES[m]) for m in missing if m in ROLES]}); the inputs hold {self._inventory()}",
                "add these variables, or use fill_missing='synthetic' to take them from the synthetic climatology",
            )
        self.from_synthetic = [m for m in missing if m != "land_fraction"]
        for m in self.from_synthetic:
            self._note(f"{m.replace('_', ' ')} not found; using the synthetic climatology's illustrative values")
        # time axes
        timed = [x for x in self.vars.values() if x.record_times is not None and self._used(x.role.name)]
        _check_one_calendar([x.parts[0] for x in timed if x.record_times.rule != "cyclic"], "the met variables")
        self._axes = {x.role.name: x.record_times for x in timed}
        master = self.vars["eastward_wind" if self.wind_mode == "levels" else "eastward_wind_10m"]
        self._master = master.record_times
        self._same_axes = all(
            np.array_equal(rt.times, self._master.times) and rt.rule == self._master.rule
            for rt in self._axes.values()
        ) if self._master is not None else not self._axes

    def _plan_sea_ice(self) -> None:
        """Find how a whole-cell sea-ice fraction (:data:`WHOLE_CELL_SEA_ICE`) becomes a fraction of the water: the
        product's own land or ocean fraction, or else (with a warning) the model's land fraction."""
        self._ice_whole_cell: WholeCellSeaIce | None = None
        self._ice_water: tuple[str, list[_Variable]] | None = None
        self._ice_gaps_warned = False
        ice = self.vars.get("sea_ice_fraction")
        if ice is None or ice.name not in WHOLE_CELL_SEA_ICE:
            return
        spec = self._ice_whole_cell = WHOLE_CELL_SEA_ICE[ice.name]
        for kind, names in spec.alternatives:
            first = self._companion(names[0], ice)
            if first is not None:
                more = [self._companion(n, ice) for n in names[1:]]
                self._ice_water = (kind, [first, *(c for c in more if c is not None)])
                return
        wanted = " or ".join(spec.names()[:2])
        self._note(
            f"{ice.describe()} is the {spec.source} sea-ice fraction of the whole grid cell (0 over land), and the "
            f"inputs have no {', '.join(spec.names())} on its grid to tell the cell's water; the ice is divided by "
            "the water of the model's land fraction (ice / (1 - land fraction), at most 1), whose coastline differs "
            f"from the product's; add {wanted} of the same grid to the inputs (the same file, "
            "or a file of constants)"
        )

    def _companion(self, name: str, ice: _Variable) -> _Variable | None:
        """``name`` on the grid of the sea-ice variable ``ice``, from the same files record for record (or static in
        them), or static from another input; None when there is none."""
        role = Role(name, f"{name}, the water under the sea ice of {ice.name!r}", (), "2d", "fraction")
        own = [(p.ds, p.source) for p in ice.parts if name in p.ds.data_vars and self._dims_ok(p.ds[name], role)]
        candidates = ([own] if len(own) == len(ice.parts) else []) + ([own[:1]] if own else [])
        candidates += [[(ds, src)] for ds, src in self.inputs if all(ds is not p.ds for p in ice.parts)
                       and name in ds.data_vars and self._dims_ok(ds[name], role)]
        for files in candidates:
            try:  # ("clamped": records are taken by index, and a constant may carry one time stamp)
                var = _Variable(role, [self._part(ds, src, name, role) for ds, src in files], self.kind, "clamped")
            except InputError:  # (e.g. a constant stamped with one time in every file: the first file's is tried next)
                continue
            same_grid = (np.array_equal(np.asarray(var.grid.lat_deg), np.asarray(ice.grid.lat_deg))
                         and np.array_equal(np.asarray(var.grid.lon_deg), np.asarray(ice.grid.lon_deg)))
            timed = var.times is None or var.times.size == 1 or (
                ice.times is not None and np.array_equal(var.times, ice.times))
            if same_grid and timed:
                return var
        return None

    def _used(self, role: str) -> bool:
        tm, sm = getattr(self, "temperature_mode", ""), getattr(self, "surface_temperature_mode", "")
        use = {
            "eastward_wind": self.wind_mode == "levels",
            "northward_wind": self.wind_mode == "levels",
            "eastward_wind_10m": self.wind_mode == "10m",
            "northward_wind_10m": self.wind_mode == "10m",
            "air_temperature": tm == "levels",
            "geopotential": tm == "thickness",
            "air_temperature_2m": tm == "2m" or sm == "2m",
            "surface_temperature": tm == "surface" or sm == "surface",
        }
        return use.get(role, True)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        warnings.warn(f"{self._label()}: {text}", stacklevel=4)

    def _label(self) -> str:
        """The inputs in a message: every file of a few, or the first and a count (a CMIP run's files, one per
        variable and year, made every warning name dozens of them)."""
        names = [s for _, s in self.inputs]
        return ", ".join(names) if len(names) <= 3 else f"{names[0]} (+{len(names) - 1} more files)"

    # MetSource ------------------------------------------------------------------------------------------------
    @property
    def field_names(self) -> tuple[str, ...]:
        from .synthetic import SYNTHETIC_FIELDS

        return SYNTHETIC_FIELDS + (("sea_ice_fraction",) if "sea_ice_fraction" in self.vars else ())

    @property
    def times(self) -> np.ndarray:
        """Valid times of the wind records (empty for static input)."""
        return self._master.times if self._master is not None else np.array([], dtype="datetime64[s]")

    def check_covers(self, start: object, stop: object) -> None:
        """Raise :class:`InputError` when any time-dependent input does not cover ``start..stop``, or when records
        are missing between two of its files within ``start..stop`` (a file of the series left out: the run would
        interpolate across the gap)."""
        for rt in self._axes.values():
            rt.check_covers(start, stop)
        start, stop = to_datetime64(start), to_datetime64(stop)
        for role in self._axes:
            var = self.vars[role]
            for t0, t1, text in var.file_gaps:
                if t0 < stop and t1 > start:
                    raise InputError(
                        var.source,
                        f"variable {var.name!r} time",
                        f"{text}, within the run ({start}..{stop}): a file of the series seems left out, and the run "
                        "would interpolate across the gap",
                        "add the missing file (check that the glob or list picks up every file of the series), or run "
                        "only over the span the files cover",
                    )

    def record_key(self, time: object) -> int:
        """Integer that changes whenever the bracketing records of any input change."""
        if not self._axes:
            return 0
        if self._same_axes:
            return self._master.bracket(time)[3]
        return hash(tuple(rt.bracket(time)[3] for rt in self._axes.values())) & 0x7FFFFFFFFFFFFFFF

    def fields_at(self, time: object) -> dict[str, np.ndarray]:
        """Every forcing field except OH at ``time`` on the model grid (time-interpolated)."""
        t = to_datetime64(time)
        g = self.grid
        out: dict[str, np.ndarray] = {}
        synth = self._synthetic_fields(t) if self.from_synthetic else {}
        out["land_fraction"] = self._static_land().copy()
        if "sea_ice_fraction" in self.vars:
            out["sea_ice_fraction"] = np.clip(self._group("sea_ice_fraction", t)["v"], 0.0, 1.0)
        out["surface_pressure_pa"] = (
            self._group("surface_pressure", t)["v"] if "surface_pressure" in self.vars else synth["surface_pressure_pa"]
        )
        out["boundary_layer_height_m"] = (
            np.maximum(self._group("boundary_layer_height", t)["v"], 0.0)
            if "boundary_layer_height" in self.vars
            else synth["boundary_layer_height_m"]
        )
        out["precipitation_m_s"] = (
            np.maximum(self._group("precipitation", t)["v"], 0.0)
            if "precipitation" in self.vars
            else synth["precipitation_m_s"]
        )
        if self.wind_mode == "levels":
            w = self._group("winds", t)
            out["eastward_wind_m_s"], out["northward_wind_m_s"] = w["u"], w["v"]
        else:
            w = self._group("winds10", t)
            f = wind_profile_factors(g.layers.edges_m, out["boundary_layer_height_m"])
            out["eastward_wind_m_s"] = f * w["u"][None]
            out["northward_wind_m_s"] = f * w["v"][None]
        tm = self.temperature_mode
        centres = g.layers.centres_m
        if tm in ("levels", "thickness"):
            out["air_temperature_k"] = self._group("air_temperature", t)["v"]
        elif tm in ("2m", "surface"):
            base = self._group("air_temperature_2m" if tm == "2m" else "surface_temperature", t)["v"]
            out["air_temperature_k"] = _lapse_layers(base, g.layers.edges_m)
        else:
            out["air_temperature_k"] = synth["air_temperature_k"]
        sm = self.surface_temperature_mode
        if sm == "surface":
            out["surface_temperature_k"] = self._group("surface_temperature", t)["v"]
        elif sm == "2m":
            out["surface_temperature_k"] = self._group("air_temperature_2m", t)["v"]
        elif sm == "from_air":
            out["surface_temperature_k"] = out["air_temperature_k"][0] + LAPSE_RATE_K_M * centres[0]
        else:
            out["surface_temperature_k"] = synth["surface_temperature_k"]
        return {k: np.ascontiguousarray(out[k], dtype=np.float64) for k in self.field_names}

    def check_records(self, start: object, stop: object) -> dict[str, int]:
        """Read and check every record that a run from ``start`` to ``stop`` uses, of every input (as a run checks
        each record when it first needs it: finite values, units, ranges, gaps), without keeping them; returns the
        number of records read of each input (``{"winds": 1461, ...}``). Raises :class:`InputError` naming the file,
        the variable and the record."""
        start, stop = to_datetime64(start), to_datetime64(stop)
        self.fields_at(start)  # (the groups of records the fields are made from)
        count: dict[str, int] = {}
        for group in list(self._windows):
            rt = self._group_vars(group)[0].record_times
            if rt is None:
                continue
            if rt.rule in ("linear", "clamped"):  # (clamped: the first or last record held outside them)
                first = 0 if start < rt.times[0] else rt.bracket(start)[0]
                k0, k1, w, _ = rt.bracket(min(stop, rt.times[-1]))
                used = range(first, (k0 if w == 0.0 else k1) + 1)  # (a stop on a record ends there)
            else:  # (a cyclic climatology: every record, unless the run is shorter than its cycle; all is simplest)
                used = range(rt.n)
            for k in used:
                self._load(group, k)
            words = {"winds10": "10 m winds", "air_temperature_2m": "2 m air temperature"}
            count[words.get(group, group.replace("_", " "))] = len(used)
        return count

    # internals ----------------------------------------------------------------------------------------------
    def _synthetic_fields(self, t: np.datetime64) -> dict[str, np.ndarray]:
        if self._synthetic is None:
            self._synthetic = SyntheticClimatology(self.grid, land_fraction=lambda: self._static_land())
        return self._synthetic.fields_at(t)

    def _static_land(self) -> np.ndarray:
        if getattr(self, "_land", None) is None:
            if self.land_mode == "file":
                var = self.vars["land_fraction"]
                rg = var.regridder(self.grid, "conservative")
                a = var.read(0 if var.times is not None else None, rg.rows, rg.cols)
                self._check_finite(a, var, None)
                if not var.is_mask_codes:
                    self._check_land_fraction(a, var, rg)
                self._land = np.clip(rg(a, window=True), 0.0, 1.0)  # (rounding of packed data)
            else:
                from ..regions import land_fraction

                self._land = land_fraction(self.grid)
        return self._land

    def _group_vars(self, group: str) -> list[_Variable]:
        v = self.vars
        if group == "winds":
            return [v["eastward_wind"], v["northward_wind"]]
        if group == "winds10":
            return [v["eastward_wind_10m"], v["northward_wind_10m"]]
        if group == "air_temperature":
            return [v["air_temperature" if self.temperature_mode == "levels" else "geopotential"]]
        return [v[group]]

    def _group(self, group: str, t: np.datetime64) -> dict[str, np.ndarray]:
        main = self._group_vars(group)[0]
        rt = main.record_times
        if group not in self._windows:
            self._windows[group] = RecordWindow(lambda k, g=group: self._load(g, k), capacity=3)
        win = self._windows[group]
        if rt is None:
            return win.get(-1)
        k0, k1, w, _ = rt.bracket(t)
        if w == 0.0 or k0 == k1:
            return interpolate_records(win.get(k0), {}, 0.0)
        if w == 1.0:
            return interpolate_records(win.get(k1), {}, 0.0)
        return interpolate_records(win.get(k0), win.get(k1), w)

    def _surface_pressure_window(self, var: _Variable, k: int | None, rg: Any) -> np.ndarray | None:
        """The surface pressure (Pa) of record ``k`` on the window of ``var``, the variable on levels read with
        ``rg``; None without a surface pressure on its grid and times (then the levels are placed with the standard
        surface pressure, with one warning when the inputs have a surface pressure that does not fit)."""
        ps = self.vars.get("surface_pressure")
        if ps is None:
            return None
        same_grid = all(a.shape == b.shape and np.allclose(a, b) for a, b in (
            (np.asarray(ps.grid.lat_deg), np.asarray(var.grid.lat_deg)),
            (np.asarray(ps.grid.lon_deg), np.asarray(var.grid.lon_deg))))
        same_times = ps.times is None or (var.times is not None and np.array_equal(ps.times, var.times))
        if not (same_grid and same_times):
            if not getattr(self, "_ps_misfit_warned", False):
                self._ps_misfit_warned = True
                self._note(
                    f"the surface pressure {ps.describe()} is not on the "
                    + ("grid" if not same_grid else "times") + f" of {var.describe()}, so the levels of "
                    f"{var.name!r} are placed with the standard surface pressure of {STANDARD_PRESSURE_PA:g} Pa"
                    + (" (its model levels' pressures a p0 + b ps too)" if var.levels.kind == "hybrid" else "")
                    + ", which misplaces them over high ground; give the surface pressure on the same grid and "
                    "records (the same table and frequency, e.g. CMIP Amon ps beside Amon ua)"
                )
            return None
        kp = k if ps.times is not None else None
        a = ps.read(kp, rg.rows, rg.cols)
        self._check_finite(a, ps, kp)
        self._check_surface_pressure(a, ps, kp, rg)
        return a

    def _load(self, group: str, k: int) -> dict[str, np.ndarray]:
        kk = None if k < 0 else k
        vars_ = self._group_vars(group)
        edges = self.grid.layers.edges_m
        if group in ("winds", "air_temperature"):
            out = {}
            for var, key in zip(vars_, ("u", "v") if group == "winds" else ("v",)):
                rg = var.regridder(self.grid, "bilinear")
                a = var.read(kk, rg.rows, rg.cols)
                ps = self._surface_pressure_window(var, kk, rg)
                self._check_gaps(a, var, ps, kk, rg)
                if group == "air_temperature" and self.temperature_mode == "thickness":
                    a, levels = _thickness_temperature(a, var.levels)
                    self._check_temperature(a, var, kk, rg, levels)
                    layers = _layer_means_from_levels(a, levels, ps, edges, "lapse")
                else:
                    if group == "air_temperature":
                        self._check_temperature(a, var, kk, rg, var.levels)
                    layers = _layer_means_from_levels(
                        a, var.levels, ps, edges, "lapse" if group == "air_temperature" else "hold"
                    )
                self._check_finite(layers, var, kk)
                if group == "winds":
                    self._check_wind(layers, var, kk)
                out[key] = rg(layers, window=True)
            return out
        if group == "winds10":
            out = {}
            for var, key in zip(vars_, ("u", "v")):
                rg = var.regridder(self.grid, "bilinear")
                a = var.read(kk, rg.rows, rg.cols)
                self._check_finite(a, var, kk)
                self._check_wind(a, var, kk)
                out[key] = rg(a, window=True)
            return out
        var = vars_[0]
        method = "conservative" if group in ("precipitation", "sea_ice_fraction") else "bilinear"
        rg = var.regridder(self.grid, method)
        a = var.read(kk, rg.rows, rg.cols)
        if group == "sea_ice_fraction":
            self._check_range(a, var, kk, rg, (0.0, 1.0), "", self._fraction_fix(a, var), tolerance=LAND_FRACTION_ROUNDING)
            self._warn_fractions_in_per_cent(a, var, kk)
            if self._ice_whole_cell is not None:
                return {"v": self._whole_cell_ice(a, kk, rg)}
            # (a fraction of the water area, missing over land: the mean over the cell's water only, so that a coastal
            # cell's land does not dilute its ice; a cell without water in the product has no ice)
            water = np.isfinite(a)
            ice, wet = rg(np.where(water, a, 0.0), window=True), rg(water.astype(np.float64), window=True)
            self._check_ice_gaps(wet, var, kk)
            return {"v": np.where(wet > 0.0, ice / np.where(wet > 0.0, wet, 1.0), 0.0)}
        self._check_finite(a, var, kk)
        if group == "surface_pressure":
            self._check_surface_pressure(a, var, kk, rg)
        elif group == "precipitation":
            self._check_precipitation(a, var, kk, rg)
        elif group == "boundary_layer_height":
            self._check_boundary_layer_height(a, var, kk, rg)
        elif group in ("air_temperature_2m", "surface_temperature"):
            self._check_temperature(a, var, kk, rg, None)
        return {"v": rg(a, window=True)}

    def _whole_cell_ice(self, a: np.ndarray, k: int | None, rg: Any) -> np.ndarray:
        """The sea-ice fraction of the water of each model cell from ``a``, record ``k`` of a product that gives the ice
        as a fraction of its whole grid cell (:data:`WHOLE_CELL_SEA_ICE`), read with ``rg``.

        With the product's own water fraction ``w`` (its land, ocean or open-water fractions of the same grid), the
        ice area over the water area of the product in the model cell: ``rg(min(a, w)) / rg(w)``; without it, over
        the model's water: ``rg(a) / (1 - land fraction)``, at most 1. A cell without water has no ice; a missing
        value is no ice (and, with the product's water, no water either).
        """
        valid = np.isfinite(a)
        ice = np.where(valid, np.clip(a, 0.0, 1.0), 0.0)
        if self._ice_water is None:
            water = 1.0 - self._static_land()
            ice_in_cell = rg(ice, window=True)
        else:
            kind, companions = self._ice_water
            total = np.zeros_like(ice)
            for c in companions:
                kc = None if c.times is None else (0 if c.times.size == 1 else k)
                f = c.read(kc, rg.rows, rg.cols)
                self._check_finite(f, c, kc)
                self._check_range(f, c, kc, rg, (0.0, 1.0), "", self._fraction_fix(f, c), tolerance=LAND_FRACTION_ROUNDING)
                total += np.clip(f, 0.0, 1.0)
            w = {"water": total, "land": 1.0 - total, "open_water": ice + total}[kind]
            w = np.where(valid, np.clip(w, 0.0, 1.0), 0.0)
            ice_in_cell, water = rg(np.minimum(ice, w), window=True), rg(w, window=True)
        wet = water > 0.0
        return np.where(wet, np.clip(ice_in_cell / np.where(wet, water, 1.0), 0.0, 1.0), 0.0)

    def _check_ice_gaps(self, wet: np.ndarray, var: _Variable, k: int | None) -> None:
        """Warn (once) of model cells that are mostly water in the model's land fraction but where a sea-ice product
        that is missing over land has no value at all (``wet``, its water share of each model cell, is 0): they are
        read as free of ice, which is wrong where the product leaves gaps over the ocean (a pole hole, a missing
        swath) rather than over land."""
        if self._ice_gaps_warned:
            return
        gaps = (wet <= 0.0) & (self._static_land() <= 1.0 - ICE_GAP_WATER_FRACTION)
        if not np.any(gaps):
            return
        self._ice_gaps_warned = True
        j, i = np.argwhere(gaps)[0]
        self._note(
            f"variable {var.name!r} ({var.role.description}) has no value{self._where(var, k)} in "
            f"{int(gaps.sum())} of {gaps.size} model cells that are at least {ICE_GAP_WATER_FRACTION:.0%} water in the "
            f"model's land fraction (the first at lat {self.grid.lat_deg[j]:g}, lon {self.grid.lon_deg[i]:g}); a "
            "missing value is taken as land, so these "
            "cells have no sea ice and are open to gas exchange. If the product leaves gaps over the ocean (a pole "
            "hole, missing swaths), fill them before reading (e.g. cdo fillmiss), or set the ice-free ocean to 0 "
            "(this warning is given once, for the first record with such cells)"
        )

    def _where(self, var: _Variable, k: int | None) -> str:
        return "" if k is None or var.times is None else f" at record {k} ({var.times[k]})"

    def _check_finite(self, a: np.ndarray, var: _Variable, k: int | None) -> None:
        bad = ~np.isfinite(a)
        if np.any(bad):
            raise InputError(
                var.source,
                f"variable {var.name!r} ({var.role.description})",
                f"{int(bad.sum())} of {a.size} values in the model domain are NaN or infinite{self._where(var, k)}",
                "fill the gaps (or mask them with a valid _FillValue only where there is no data below ground), "
                "or choose a domain where the input is complete",
            )

    def _cell(self, var: _Variable, rg: Any, idx: tuple[int, ...], levels: _LevelInfo | None = None) -> str:
        """``"850 hPa, lat 10, lon 95"`` for the index ``([level,] row, column)`` of a window read with ``rg``."""
        *lev, j, i = (int(x) for x in idx)
        lat = float(np.asarray(var.grid.lat_deg)[rg.rows][j])
        lon = float(np.asarray(var.grid.lon_deg)[rg.cols][i])
        where = f"lat {lat:g}, lon {lon:g}"
        if not lev or levels is None:
            return where
        if levels.kind == "pressure":
            return f"{levels.values[lev[0]] / 100.0:g} hPa, {where}"
        if levels.kind == "height":
            return f"{levels.values[lev[0]]:g} m above ground, {where}"
        return f"model level {lev[0]}, {where}"

    def _check_gaps(self, a: np.ndarray, var: _Variable, ps: np.ndarray | None, k: int | None, rg: Any) -> None:
        """Refuse infinite values, and missing (NaN) values on levels that are not below ground.

        With the surface pressure ``ps`` of the window, a missing value is below ground where its level's pressure
        exceeds ``ps`` less :data:`BELOW_GROUND_TOLERANCE_PA`. Without it, missing values must look like
        below-ground masking: contiguous from the bottom of each column with a finite top, at pressures of at least
        the lowest plausible surface pressure, and no level missing in every column of the window.
        """
        levels = var.levels
        name = f"variable {var.name!r} ({var.role.description})"
        inf = np.isinf(a)
        if np.any(inf):
            raise InputError(
                var.source,
                name,
                f"{int(inf.sum())} of {a.size} values in the model domain are infinite{self._where(var, k)} (the "
                f"first at {self._cell(var, rg, np.argwhere(inf)[0], levels)}); infinite values are never fill values",
                "correct the data, or declare the fill value as _FillValue or missing_value so that it reads as "
                "missing",
            )
        nan = np.isnan(a)
        if not np.any(nan):
            return
        if levels.kind != "pressure":
            reasons = [(nan, f"{levels.kind} levels follow the terrain: none lies below ground")]
            fix = "fill the gaps in the data, or choose a domain where the input is complete"
        elif ps is not None:
            below = levels.values[:, None, None] > ps[None] - BELOW_GROUND_TOLERANCE_PA
            first = np.argwhere(nan & ~below)
            reason = "the level lies above the ground"
            if first.size:
                reason += f" (surface pressure {ps[tuple(first[0][1:])] / 100.0:.6g} hPa there)"
            reasons = [(nan & ~below, reason),
                       (nan & nan.all(axis=0)[None], "the whole column is missing (no level above the ground)")]
            fix = ("fill the gaps in the data, or choose a domain where the input is complete; only levels below the "
                   "ground (at pressures above the surface pressure of the input) may be missing. Check that the "
                   "surface pressure belongs to the same times as the levels")
        else:
            order = np.argsort(-levels.values, kind="stable")  # from the bottom (highest pressure) up
            from_bottom = np.empty_like(nan)
            from_bottom[order] = np.logical_and.accumulate(nan[order], axis=0)
            high = (levels.values < SURFACE_PRESSURE_RANGE_PA[0])[:, None, None]
            everywhere = nan.reshape(nan.shape[0], -1).all(axis=1)[:, None, None]
            reasons = [
                (nan & ~from_bottom, "a level below it has a value (below-ground gaps fill a column from the bottom "
                                     "up)"),
                (nan & from_bottom[order[-1]][None], "the whole column is missing"),
                (nan & high, f"no ground lies above the {SURFACE_PRESSURE_RANGE_PA[0] / 100.0:g} hPa level"),
                (nan & everywhere, "the level is missing in every column of the model domain, which cannot all lie "
                                   "below ground"),
            ]
            fix = ("fill the gaps in the data, or choose a domain where the input is complete; if they are below-ground "
                   "gaps, add the surface pressure (e.g. PS or sp, on the same grid and times) to the inputs so that "
                   "the reader can tell")
        bad = np.zeros_like(nan)
        for mask, _ in reasons:
            bad |= mask
        if not np.any(bad):
            return
        mask, reason = next((m, r) for m, r in reasons if np.any(m))
        raise InputError(
            var.source,
            name,
            f"{int(bad.sum())} of {a.size} values in the model domain are NaN{self._where(var, k)} and cannot "
            f"be filled as below-ground gaps: at {self._cell(var, rg, np.argwhere(mask)[0], levels)}, {reason}",
            fix,
        )

    def _check_range(
        self, a: np.ndarray, var: _Variable, k: int | None, rg: Any, bounds: tuple[float, float], unit: str, fix: str,
        levels: _LevelInfo | None = None, tolerance: float = 0.0, what: str | None = None,
    ) -> None:
        """Refuse values of ``a`` (SI, NaN ignored) outside ``bounds`` by more than ``tolerance``, naming the first."""
        with np.errstate(invalid="ignore"):
            bad = (a < bounds[0] - tolerance) | (a > bounds[1] + tolerance)
        if not np.any(bad):
            return
        u = f" {unit}" if unit else ""
        what = what or f"outside the plausible range {bounds[0]:g}..{bounds[1]:g}{u}"
        lo, hi = float(a[bad].min()), float(a[bad].max())
        found = f"{lo:.6g}..{hi:.6g}{u}"
        units = var.attrs.get("units")
        if var.scale != 1.0 or var.offset != 0.0:
            found += f" ({(lo - var.offset) / var.scale:.6g}..{(hi - var.offset) / var.scale:.6g} {units} as stored)"
        else:
            found += f" (units {units!r})"
        raise InputError(
            var.source,
            f"variable {var.name!r} ({var.role.description})",
            f"{int(bad.sum())} of {a.size} values in the model domain{self._where(var, k)} are {what}: {found}, the "
            f"first at {self._cell(var, rg, np.argwhere(bad)[0], levels)}",
            fix,
        )

    @staticmethod
    def _units_fix(var: _Variable) -> str:
        return (f"check the units attribute (now {var.attrs.get('units')!r}) and that fill values are declared as "
                "_FillValue or missing_value")

    def _unit_fix(self, a: np.ndarray, var: _Variable, bounds: tuple[float, float],
                  alternatives: dict[str, tuple[float, float]]) -> str:
        """The fix for values out of range: the unit among ``alternatives`` (unit: (scale, offset) to SI) under which
        the median of the values as stored is plausible, else a check of the units and fill values."""
        generic = self._units_fix(var)
        finite = a[np.isfinite(a)]
        if finite.size == 0:
            return generic
        raw = (float(np.median(finite)) - var.offset) / var.scale
        for unit, (scale, offset) in alternatives.items():
            if np.isclose(scale, var.scale) and np.isclose(offset, var.offset):
                continue
            if bounds[0] <= raw * scale + offset <= bounds[1]:
                return f"the values look like {unit}: set units = {unit!r}, or {generic}"
        return generic

    def _check_temperature(self, a: np.ndarray, var: _Variable, k: int | None, rg: Any,
                           levels: _LevelInfo | None) -> None:
        if var.role.unit_kind == "geopotential":
            fix = (f"the temperatures come from the thickness of {var.name!r} between levels: {self._units_fix(var)} "
                   "(geopotential is in m2 s-2, geopotential height in m)")
        else:
            fix = self._unit_fix(a, var, TEMPERATURE_RANGE_K, {"degC": (1.0, 273.15), "K": (1.0, 0.0)})
        self._check_range(a, var, k, rg, TEMPERATURE_RANGE_K, "K", fix, levels)

    def _check_surface_pressure(self, a: np.ndarray, var: _Variable, k: int | None, rg: Any) -> None:
        fix = self._unit_fix(a, var, SURFACE_PRESSURE_RANGE_PA,
                             {"Pa": (1.0, 0.0), "hPa": (100.0, 0.0), "kPa": (1000.0, 0.0)})
        self._check_range(a, var, k, rg, SURFACE_PRESSURE_RANGE_PA, "Pa", fix)

    def _check_boundary_layer_height(self, a: np.ndarray, var: _Variable, k: int | None, rg: Any) -> None:
        bounds = (0.0, MAX_BOUNDARY_LAYER_HEIGHT_M)
        fix = self._unit_fix(a, var, bounds, {"m": (1.0, 0.0), "km": (1000.0, 0.0)})
        self._check_range(a, var, k, rg, bounds, "m", fix, tolerance=1.0)

    def _check_precipitation(self, a: np.ndarray, var: _Variable, k: int | None, rg: Any) -> None:
        """Refuse negative precipitation beyond the rounding of packed data (which the caller sets to zero), and rates
        above :data:`MAX_PRECIPITATION_M_S` (a rate per day or hour labelled per second)."""
        if not a.size:
            return
        bounds = (-np.inf, MAX_PRECIPITATION_M_S)
        alternatives = {"mm/day": (1e-3 / 86400.0, 0.0), "mm/h": (1e-3 / 3600.0, 0.0), "kg m-2 s-1": (1e-3, 0.0)}
        largest = np.full(1, float(np.nanmax(a)))  # (the largest value is the one out of range: judge the unit by it)
        self._check_range(a, var, k, rg, bounds, "m s-1", self._unit_fix(largest, var, bounds, alternatives),
                          what=f"above {MAX_PRECIPITATION_M_S:.3g} m s-1 (31.2 mm per minute, the world-record rainfall "
                               "of one minute)")
        rounding = max(PRECIPITATION_ROUNDING_FRACTION * float(np.max(np.abs(a))), PRECIPITATION_ROUNDING_M_S)
        self._check_range(
            a, var, k, rg, (0.0, np.inf), "m s-1",
            "precipitation cannot be negative: check the sign convention (fluxes counted positive upwards?) and the "
            f"units attribute (now {var.attrs.get('units')!r}), or set the negative values to zero before reading "
            "if they are artefacts",
            tolerance=rounding,
            what=f"negative beyond the rounding of packed data (-{rounding:.3g} m s-1)",
        )

    def _fraction_fix(self, a: np.ndarray, var: _Variable) -> str:
        """The fix of a land or sea-ice fraction outside 0..1: per cent if the values look like it."""
        fix = self._units_fix(var)
        finite = a[np.isfinite(a)]  # (none in a domain over land, where every sea-ice value is missing)
        if var.scale == 1.0 and finite.size and finite.max() <= 100.0 + LAND_FRACTION_ROUNDING:
            return f"the values look like per cent: set units = '%', or {fix}"
        return fix

    def _check_land_fraction(self, a: np.ndarray, var: _Variable, rg: Any) -> None:
        """Refuse land fractions outside 0..1, and warn of fractions 0..1 labelled '%'."""
        self._check_range(a, var, None, rg, (0.0, 1.0), "", self._fraction_fix(a, var), tolerance=LAND_FRACTION_ROUNDING)
        self._warn_fractions_in_per_cent(a, var, None)

    def _warn_fractions_in_per_cent(self, a: np.ndarray, var: _Variable, k: int | None) -> None:
        """Warn (once per variable) of a land or sea-ice fraction in per cent whose largest value in the model domain
        is 1 % or less but not 0: fractions 0..1 labelled '%' (a land-sea mask, or sea ice as a fraction, given CMIP's
        unit of sftlf or siconca), which read as at most 1 % of a cell."""
        finite = a[np.isfinite(a)]
        stored = float(finite.max()) / var.scale if finite.size else 0.0
        warned = self.__dict__.setdefault("_per_cent_warned", set())
        if var.scale == 0.01 and 0.0 < stored <= 1.0 + LAND_FRACTION_ROUNDING and var.name not in warned:
            warned.add(var.name)
            what = "land" if var.role.name == "land_fraction" else "sea ice"
            self._note(
                f"{var.describe()} is in per cent but no value in the model domain{self._where(var, k)} exceeds "
                f"{stored:g} %: if it holds fractions 0..1, set its units to '1', else the {what} is read as at most "
                f"{stored:g} % of every cell"
            )

    def _check_wind(self, a: np.ndarray, var: _Variable, k: int | None) -> None:
        m = float(np.max(np.abs(a))) if a.size else 0.0
        if m > MAX_WIND_M_S:
            raise InputError(
                var.source,
                f"variable {var.name!r} ({var.role.description})",
                f"|wind| reaches {m:.3g} m s-1{self._where(var, k)}, more than {MAX_WIND_M_S:g} m s-1",
                self._units_fix(var),
            )

    def describe(self) -> str:
        """Summary of what was found and how each field is made."""
        lines = [f"met input ({self.kind}): " + ", ".join(s for _, s in self.inputs)]
        for name, var in self.vars.items():
            if self._used(name):
                lines.append(f"  {name}: {var.describe()}")
        if self._ice_whole_cell is not None:
            ice = self.vars["sea_ice_fraction"].name
            if self._ice_water is None:
                water = "1 - the model's land fraction"
            else:
                kind, companions = self._ice_water
                names = " + ".join(repr(c.name) for c in companions)
                water = {"water": names, "land": f"1 - ({names})", "open_water": f"{ice!r} + {names}"}[kind]
            lines.append(f"  sea-ice fraction of the water: {ice!r} (of the whole cell) / ({water})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def close(self) -> None:
        """Close the files opened by the reader."""
        for ds, _ in self.inputs:
            try:
                ds.close()
            except Exception:
                pass


def _lapse_layers(base: np.ndarray, edges_m: tuple[float, ...]) -> np.ndarray:
    out = np.zeros((len(edges_m) - 1,) + base.shape)
    for k, (z, w) in enumerate(_layer_samples(edges_m)):
        out[k] = sum(ww * (base - LAPSE_RATE_K_M * zz) for zz, ww in zip(z, w))
    return np.maximum(out, 180.0)


def _thickness_temperature(z: np.ndarray, levels: _LevelInfo) -> tuple[np.ndarray, _LevelInfo]:
    """Layer-mean temperature between pressure levels from the thickness of geopotential height ``z`` (m)."""
    order = np.argsort(-levels.values)
    p = levels.values[order]
    zz = z[order]
    t = STANDARD_GRAVITY_M_S2 * (zz[1:] - zz[:-1]) / (DRY_AIR_GAS_CONSTANT_J_KG_K * np.log(p[:-1] / p[1:])[:, None, None])
    return t, _LevelInfo("pressure", np.sqrt(p[:-1] * p[1:]))


def open_met(
    spec: object,
    grid: LatLonGrid,
    kind: MetKind | Literal["auto"] | None = None,
    *,
    time_rule: TimeRule | None = None,
    variables: dict[str, str] | None = None,
    fill_missing: Literal["synthetic", "error"] = "synthetic",
) -> MetSource:
    """Open meteorology for a model grid.

    Parameters
    ----------
    spec
        ``"synthetic"`` (or ``None``) for the built-in illustrative climatology
        (:class:`~popstransport.io.met.synthetic.SyntheticClimatology`); otherwise a NetCDF path, a glob pattern,
        an open ``xarray.Dataset``, or a list of these (variables may be spread over files; a variable split in time
        over several files is joined).
    grid
        The model grid; the input must cover it.
    kind
        ``"era5"``, ``"merra2"``, ``"cmip"`` or ``"cf"``: whose short names are tried first and how ERA5
        accumulated precipitation is read. Detected from the file when omitted (or ``"auto"``).
    time_rule
        ``"linear"`` (default for time series), ``"cyclic"`` (default for climatologies: a ``month`` dimension or a
        CF ``climatology`` attribute) or ``"clamped"``.
    variables
        Explicit variable names by role (keys of :data:`ROLES`, e.g. ``{"eastward_wind": "U"}``).
    fill_missing
        ``"synthetic"``: take missing fields (other than winds) from the synthetic climatology with a warning;
        ``"error"``: refuse.

    Returns
    -------
    MetSource
        ``fields_at(time)``, ``record_key(time)``, ``times``, ``check_covers(start, stop)``.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "synthetic"):
        return SyntheticClimatology(grid)
    inputs = _expand_spec(spec)
    return FileMet(inputs, grid, kind=kind, time_rule=time_rule, variables=variables, fill_missing=fill_missing)


__all__ = [
    "FileMet",
    "KINDS",
    "MetKind",
    "MetSource",
    "ROLES",
    "SHORT_NAMES",
    "WHOLE_CELL_SEA_ICE",
    "WholeCellSeaIce",
    "detect_kind",
    "interpolate_to_pressures",
    "open_met",
    "wind_profile_factors",
]
