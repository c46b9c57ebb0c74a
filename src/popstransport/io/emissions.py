"""Emission inventories on the model grid: gridded NetCDF, point sources, national totals with a spatial proxy.

An :class:`EmissionInventory` holds annual-mean emission rates into the air layers of every cell (kg s-1), split
into parts (sectors or sources), each with a monthly profile. ``rates_kg_s(time)`` gives the rate per cell at a
time: the annual mean times the factor of the calendar month that contains ``time`` (a step in time, so that each
month's total is exact). Monthly factors are normalised so that their day-weighted mean over a 365-day year is 1:
the annual total of every part is kept. An input of amounts per year (national totals, ``kg/yr``; a part's
``per_year``) emits exactly its annual total in every calendar year, leap years included (366 days share it); an
input of rates (``kg m-2 s-1``, or monthly records) emits its rates, so a leap year one day of February more.

Every conversion keeps the total: units are converted by exact factors, regridding is first-order conservative
(:class:`popstransport.io.regrid.Conservative`), and national totals are distributed over the cells of each country
by normalised weights (its area fraction in each cell times the cell area, or times a user proxy such as
population). What lies outside the model domain is reported (warning and :attr:`EmissionInventory.notes`), never
silently dropped.

Units (:func:`parse_emission_unit`): a mass (``kg g mg ug ng pg t Mg Gg kt``) or amount (``mol kmol mmol``, which
needs the molar mass) per time (``s min h d yr``), per cell (``cell-1``, or nothing) or per area (``m-2``, ``km-2``),
in CF (``kg m-2 s-1``, UDUNITS ``kg.m-2.s-1``) or slash (``kg/cell/yr``, ``g/yr``, ``mol/h``) notation. A year is 365 days.

The built-in default (:meth:`EmissionInventory.from_default`) is the PCB-153 primary air emission of Asia-Pacific
countries derived from the BETR-Research 3.0 "HIGH" gridded inventory (package data
``emissions_pcb153_asia_pacific.csv``, copied with its source columns from the project's reference tables; see
``data/README.md``). It is a modelling prior, not a reported inventory.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
import warnings
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..grid import LatLonGrid
from .errors import InputError, MissingYearError, read_utf8_text
from .met.timeseries import to_datetime64
from .regions import RegionMasks, iso2_to_iso3, natural_earth_countries
from .regrid import Conservative, SourceGrid

SECONDS_PER_YEAR = 365.0 * 86400.0
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)

#: Molar mass of PCB-153 (g mol-1), C12H4Cl6 (BETR-Research 3.0 chemical database; REFERENCES.md section 1).
PCB153_MOLAR_MASS_G_MOL = 360.88

DEFAULT_INVENTORY_FILE = "emissions_pcb153_asia_pacific.csv"

_MASS = {"kg": 1.0, "g": 1e-3, "mg": 1e-6, "ug": 1e-9, "µg": 1e-9, "μg": 1e-9, "ng": 1e-12, "pg": 1e-15,
         "fg": 1e-18, "t": 1e3, "tonne": 1e3, "tonnes": 1e3, "ton": 1e3, "Mg": 1e3, "Gg": 1e6, "kt": 1e6,
         "Tg": 1e9, "Mt": 1e9}
_MOLE = {"mol": 1.0, "kmol": 1e3, "mmol": 1e-3, "umol": 1e-6, "µmol": 1e-6, "nmol": 1e-9, "moles": 1.0}
_TIME = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0,
         "d": 86400.0, "day": 86400.0, "yr": SECONDS_PER_YEAR, "year": SECONDS_PER_YEAR, "a": SECONDS_PER_YEAR,
         "y": SECONDS_PER_YEAR, "annum": SECONDS_PER_YEAR}
_AREA_LENGTH = {"m": 1.0, "km": 1e3, "cm": 1e-2}
_CELL = {"cell", "gridcell", "gridbox", "box", "grid_cell"}
_TIME_DIMS = {"time", "t", "month", "months", "valid_time", "date"}


@dataclass(frozen=True)
class EmissionUnit:
    """A parsed emission unit: multiply a value by ``factor`` to get kg s-1 (per cell) or kg m-2 s-1 (per area).

    ``per_mole`` means ``factor`` gives mol and the molar mass (kg mol-1) must still be applied; ``per_year`` that
    the unit's time is a year (an amount per year: see :attr:`EmissionPart.per_year`).
    """

    text: str
    factor: float
    per_area: bool
    per_mole: bool
    per_year: bool = False


def parse_emission_unit(text: object, source: object = "emission input", field: str = "unit") -> EmissionUnit:
    """Parse an emission rate unit (see the module docstring); unknown units are an :class:`InputError`."""
    raw = str(text).strip()
    s = raw.replace("**", "").replace("^", "").replace("·", " ").replace("*", " ").replace("(", " ").replace(")", " ")
    s = re.sub(r"\bper\b", "/", s)
    s = re.sub(r"(?<=[A-Za-z0-9µμ])\.(?=[A-Za-zµμ])", " ", s)  # (UDUNITS products: "kg.m-2.s-1")
    segments = s.split("/")
    tokens: list[tuple[str, int]] = []
    for n, seg in enumerate(segments):
        for tok in seg.split():
            m = re.fullmatch(r"([A-Za-zµμ_]+)(-?\d+)?", tok)
            if m is None:
                raise _unit_error(raw, source, field, f"cannot read {tok!r}")
            exp = int(m.group(2)) if m.group(2) else 1
            tokens.append((m.group(1), -exp if n > 0 else exp))
    factor, mass, mole, time_seen, area, cell, per_year = 1.0, 0, 0, 0, False, False, False
    for base, exp in tokens:
        low = base.lower()
        if base in _MASS or low in ("kg", "g", "mg", "ug", "ng", "pg", "tonne", "tonnes", "ton"):
            if exp != 1:
                raise _unit_error(raw, source, field, "the mass must be in the numerator")
            factor *= _MASS.get(base, _MASS.get(low, 1.0))
            mass += 1
        elif low in _MOLE:
            if exp != 1:
                raise _unit_error(raw, source, field, "the amount must be in the numerator")
            factor *= _MOLE[low]
            mole += 1
        elif low in _TIME:
            if exp != -1:
                raise _unit_error(raw, source, field, "time must appear once in the denominator")
            factor /= _TIME[low]
            time_seen += 1
            per_year = _TIME[low] == SECONDS_PER_YEAR
        elif low in _AREA_LENGTH and exp == -2:  # ("m2" reads as "m" with exponent 2)
            factor /= _AREA_LENGTH[low] ** 2
            area = True
        elif low in _CELL and exp == -1:
            cell = True
        elif low in ("month", "months", "mon", "mo"):
            raise _unit_error(raw, source, field, "a month has no fixed length; convert the values to per day or per "
                              "year, or give 12 monthly records per year in a per-second or per-year unit")
        else:
            raise _unit_error(raw, source, field, f"unknown part {base!r}{'' if exp == 1 else exp}")
    if mass + mole != 1 or time_seen != 1 or (area and cell):
        raise _unit_error(raw, source, field, "need one mass or amount, one time, and per cell or per area")
    return EmissionUnit(raw, factor, area, mole == 1, per_year)


def _unit_error(raw: str, source: object, field: str, why: str) -> InputError:
    return InputError(
        source,
        field,
        f"unit {raw!r} is not a known emission unit ({why})",
        "use e.g. 'kg m-2 s-1', 'kg/cell/yr', 'g/yr', 't/yr' or 'mol/h' (mol needs the molar mass)",
    )


def _to_kg(unit: EmissionUnit, molar_mass_g_mol: float | None, source: object) -> float:
    if unit.per_mole:
        if molar_mass_g_mol is None or not molar_mass_g_mol > 0:
            raise InputError(
                source,
                f"unit {unit.text!r}",
                "is an amount of substance (mol) but no molar mass was given",
                "name the chemical of the run (chemical.name; its molar mass converts mol), or pass "
                "molar_mass_g_mol (e.g. 360.88 for PCB-153)",
            )
        return unit.factor * molar_mass_g_mol * 1e-3
    return unit.factor


def per_year_scale(year: int, february_factor: Any = 1.0) -> Any:
    """Multiplier of the rates of an amount per year in calendar ``year`` (the model's Gregorian calendar), so that
    the year emits the annual amount: 1 in a common year, ``365 / (365 + f_Feb)`` in a leap year, whose February
    (monthly factor ``f_Feb``, 1 for a flat profile) has a 29th day."""
    return 365.0 / (365.0 + february_factor) if calendar.isleap(year) else 1.0


def normalise_monthly(factors: Any, source: object = "monthly profile") -> np.ndarray:
    """Monthly factors ``(12,)`` or ``(12, J, I)`` scaled so that their day-weighted mean over 365 days is 1."""
    f = np.asarray(factors, dtype=np.float64)
    if f.shape[0] != 12 or not np.all(np.isfinite(f)) or np.any(f < 0):
        raise InputError(source, "monthly factors", f"need 12 finite non-negative values, got {f.shape}",
                         "give one factor per calendar month")
    mean = np.tensordot(_DAYS_IN_MONTH, f, axes=(0, 0)) / 365.0
    if np.any(mean <= 0):
        raise InputError(source, "monthly factors", "are all zero", "give positive factors")
    return f / mean


@dataclass(frozen=True)
class EmissionPart:
    """One sector or source of an inventory.

    Attributes
    ----------
    name
        Sector or source name.
    rates_kg_s
        Annual-mean emission rate into every air layer of every cell (kg s-1), ``(L, J, I)``.
    monthly_factors
        ``(12,)`` or ``(12, J, I)``: multiplier of each calendar month, day-weighted mean 1 over 365 days.
    per_year
        The input gives amounts per year (``kg/yr``, national totals): every calendar year emits its annual total,
        so in a leap year the rates are ``365 / (365 + f_Feb)`` of those of a common year (``f_Feb`` February's
        factor; 366 days share the year's amount). Otherwise the input gives rates (``kg m-2 s-1``, or monthly
        records), and a leap year emits one day of February's rate more.
    """

    name: str
    rates_kg_s: np.ndarray
    monthly_factors: np.ndarray
    per_year: bool = False

    def factor_of_month(self, month: int, year: int) -> np.ndarray | float:
        """Multiplier of the annual-mean rate in calendar month ``month`` (0-11) of ``year``."""
        f = self.monthly_factors[month]
        return f * per_year_scale(year, self.monthly_factors[1]) if self.per_year else f


class EmissionInventory:
    """Air emissions of one substance on a model grid.

    Parameters
    ----------
    grid
        Model grid.
    parts
        Sectors/sources (:class:`EmissionPart`).
    substance
        Name of the chemical.
    description
        Where the figures come from (written into outputs).
    notes
        Conversions, what fell outside the domain, and other remarks.
    """

    def __init__(
        self,
        grid: LatLonGrid,
        parts: list[EmissionPart],
        substance: str = "",
        description: str = "",
        notes: list[str] | None = None,
    ):
        shape = (grid.nlayer, grid.nlat, grid.nlon)
        for p in parts:
            if p.rates_kg_s.shape != shape:
                raise ValueError(f"emission part {p.name!r}: rates {p.rates_kg_s.shape} must be {shape}")
        self.grid = grid
        self.parts = list(parts)
        self.substance = substance
        self.description = description
        self.notes = list(notes or [])
        #: Emission of the input that lies outside the grid (kg s-1; national totals only).
        self.outside_kg_s = 0.0
        #: The countries of the input that lie (partly) outside the grid, one line each with the kg/yr left out
        #: (national totals only; also in :attr:`notes`).
        self.outside_notes: list[str] = []
        #: Total of the input before distribution (kg s-1; national totals only).
        self.requested_kg_s: float | None = None
        #: Annual-mean emission of every country, summed over sectors and layers, ``{ISO 3166 alpha-3: (J, I)}``
        #: (kg s-1; national totals, and point sources by the country holding each point, ``""`` for open sea;
        #: ``None`` otherwise): the source tags of a run take each cell's emission by these shares rather than by
        #: the countries' areas in the cell.
        self.region_rates_kg_s: dict[str, np.ndarray] | None = None
        #: of a point-source inventory: every source's ``lon``, ``lat`` (degrees), cell ``j``, ``i`` and ``kg_s``
        #: (arrays), so that source tags on regions from a file can give each source to the region holding it
        self.point_sources: dict[str, np.ndarray] | None = None
        #: Missing values of a gridded file read as no emission (``missing_as_zero``), with the number of values.
        self.missing_as_zero_values = 0
        #: The inventory years the input holds (national totals and point sources with a ``year`` column, gridded
        #: files with dated records; ``None`` for inputs without years: no ``year`` column, climatologies, undated
        #: records).
        self.years_available: list[float] | None = None
        #: ``(y0, y1)``: the two inventory years this year's figures are interpolated between (linearly in the
        #: year, see :func:`interpolate_inventories`); ``None`` for a year the input holds.
        self.interpolated_from: tuple[float, float] | None = None

    # rates ------------------------------------------------------------------------------------------------------
    def rates_by_layer_kg_s(self, time: object | None = None) -> np.ndarray:
        """Emission rate into every layer of every cell (kg s-1), ``(L, J, I)``, in the month of ``time``
        (``None``: the annual mean)."""
        g = self.grid
        out = np.zeros((g.nlayer, g.nlat, g.nlon))
        if time is None:
            for p in self.parts:
                out += p.rates_kg_s
            return out
        ym = str(to_datetime64(time).astype("datetime64[M]"))
        m, year = int(ym[-2:]) - 1, int(ym[:-3])
        for p in self.parts:
            out += p.rates_kg_s * p.factor_of_month(m, year)
        return out

    def rates_kg_s(self, time: object | None = None) -> np.ndarray:
        """Emission rate into the air of every cell (kg s-1), ``(J, I)``, summed over layers."""
        return np.ascontiguousarray(self.rates_by_layer_kg_s(time).sum(axis=0))

    def layer_fractions(self, time: object | None = None) -> np.ndarray:
        """Share of each cell's emission that goes into each layer, ``(L, J, I)`` (layer 0 where there is none)."""
        r = self.rates_by_layer_kg_s(time)
        tot = r.sum(axis=0)
        out = np.zeros_like(r)
        out[0] = 1.0
        nz = tot > 0
        out[:, nz] = r[:, nz] / tot[nz]
        return out

    @property
    def total_kg_s(self) -> float:
        """Annual-mean total emission rate over the grid (kg s-1)."""
        return float(sum(p.rates_kg_s.sum() for p in self.parts))

    @property
    def annual_total_kg(self) -> float:
        """Total emission of a 365-day year (kg)."""
        return self.total_kg_s * SECONDS_PER_YEAR

    def total_by_part_kg_s(self) -> dict[str, float]:
        """Annual-mean total of every part (kg s-1)."""
        out: dict[str, float] = {}
        for p in self.parts:
            out[p.name] = out.get(p.name, 0.0) + float(p.rates_kg_s.sum())
        return out

    def __add__(self, other: EmissionInventory) -> EmissionInventory:
        if other.grid is not self.grid and not (
            np.array_equal(other.grid.lon_edges_deg, self.grid.lon_edges_deg)
            and np.array_equal(other.grid.lat_edges_deg, self.grid.lat_edges_deg)
        ):
            raise ValueError("emission inventories on different grids cannot be added")
        return EmissionInventory(
            self.grid,
            self.parts + other.parts,
            self.substance or other.substance,
            "; ".join(d for d in (self.description, other.description) if d),
            self.notes + other.notes,
        )

    def scaled(self, factor: float) -> EmissionInventory:
        """The inventory times ``factor``."""
        parts = [replace(p, rates_kg_s=p.rates_kg_s * factor) for p in self.parts]
        out = EmissionInventory(self.grid, parts, self.substance, self.description,
                                self.notes + [f"scaled by {factor:g}"])
        out.outside_kg_s = self.outside_kg_s * factor
        out.outside_notes = list(self.outside_notes)
        out.requested_kg_s = None if self.requested_kg_s is None else self.requested_kg_s * factor
        out.missing_as_zero_values = self.missing_as_zero_values
        out.years_available = self.years_available
        out.interpolated_from = self.interpolated_from
        if self.region_rates_kg_s is not None:
            out.region_rates_kg_s = {c: r * factor for c, r in self.region_rates_kg_s.items()}
        if self.point_sources is not None:
            out.point_sources = {**self.point_sources, "kg_s": self.point_sources["kg_s"] * factor}
        return out

    def describe(self) -> str:
        lines = [
            f"{self.substance or 'emissions'}: {self.annual_total_kg:.6g} kg/yr on {self.grid.describe()}",
            f"  source: {self.description}",
        ]
        for name, r in self.total_by_part_kg_s().items():
            lines.append(f"  {name}: {r * SECONDS_PER_YEAR:.6g} kg/yr")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    # construction ---------------------------------------------------------------------------------------------
    @classmethod
    def from_default(
        cls, grid: LatLonGrid, year: float = 2000, substance: str = "PCB-153", masks: RegionMasks | None = None
    ) -> EmissionInventory:
        """The built-in PCB-153 air emission inventory of Asia-Pacific countries (kg/yr by country).

        Parameters
        ----------
        grid
            Model grid (the default domain is 60-180E, 15S-60N).
        year
            1970..2020; tabulated every 10 years, linear in between.
        substance
            Only ``"PCB-153"`` is shipped.
        masks
            Country masks of the grid (computed and cached when omitted).

        Notes
        -----
        Each national total is spread over the country's land in proportion to area (whole-country area on the
        sphere); the part of a country outside the grid (Russia west of 60E, southern Australia...) is outside the
        model and is reported in :attr:`notes`.
        """
        if substance != "PCB-153":
            raise InputError(
                "built-in inventory",
                f"substance {substance!r}",
                "is not in the built-in inventory (only 'PCB-153')",
                "give an emission file for other substances",
            )
        from .package_data import used

        data = resources.files("popstransport").joinpath("data", DEFAULT_INVENTORY_FILE)
        used(str(data), "emission inventory")
        text = data.read_text(encoding="utf-8")
        inv = cls.from_national_csv(
            io.StringIO(text),
            grid,
            year=year,
            substance=substance,
            masks=masks,
            source_name=f"package data {DEFAULT_INVENTORY_FILE}",
            interpolate_years=True,
            warn_outside=False,
        )
        inv.description = (
            f"PCB-153 primary air emissions {year:g}, BETR-Research 3.0 'HIGH' inventory attributed to countries "
            f"(popstransport package data {DEFAULT_INVENTORY_FILE}; derived figures, quality D/E)"
        )
        return inv

    @classmethod
    def from_netcdf(
        cls,
        spec: Any,
        grid: LatLonGrid,
        variable: str | None = None,
        units: str | None = None,
        molar_mass_g_mol: float | None = None,
        year: int | None = None,
        height_m: float = 0.0,
        substance: str = "",
        sector: str | None = None,
        missing_as_zero: bool = False,
    ) -> EmissionInventory:
        """A gridded inventory from NetCDF (path or xarray Dataset), regridded conservatively.

        Parameters
        ----------
        spec
            Path or ``xarray.Dataset``.
        variable
            Variable name (default: the only variable on a longitude-latitude grid).
        units
            Overrides the variable's ``units`` attribute (e.g. ``"kg/cell/yr"``).
        molar_mass_g_mol
            Needed for amounts in mol.
        year
            With a time dimension of several years, the year to use; 12 monthly records of one year (or of a
            climatology with a ``month`` coordinate 1..12, used for any year) become the monthly profile of every
            cell. Dimensions of one record (a level, a single time) are dropped.
        height_m
            Emission height above ground; the emission goes into the layer containing it.
        missing_as_zero
            Read missing values (``_FillValue``, ``missing_value``, NaN) as no emission, counted in the notes;
            without it they are refused. Infinite values are refused either way.
        """
        import xarray as xr

        if isinstance(spec, xr.Dataset):
            ds, src = spec, "xarray.Dataset"
        else:
            src = str(spec)
            if not Path(src).is_file():
                raise InputError(src, "emission file", "does not exist", "check the path")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        coder = xr.coders.CFDatetimeCoder(use_cftime=True)
                    except AttributeError:  # xarray < 2025.01
                        coder = True
                    ds = xr.open_dataset(src, decode_times=coder)
            except Exception as err:
                raise InputError(src, "NetCDF", f"cannot be opened ({type(err).__name__}: {str(err)[:150]})",
                                 "the file is corrupt or not NetCDF; download it again") from None
        try:
            return cls._from_dataset(ds, src, grid, variable, units, molar_mass_g_mol, year, height_m, substance,
                                     sector, missing_as_zero)
        finally:
            if not isinstance(spec, xr.Dataset):
                ds.close()

    @classmethod
    def _from_dataset(cls, ds, src, grid, variable, units, molar_mass_g_mol, year, height_m, substance, sector,
                      missing_as_zero=False):
        lat_names, lon_names = ("lat", "latitude", "y"), ("lon", "longitude", "x")
        cands = [
            n for n, da in ds.data_vars.items() if any(d in lat_names for d in da.dims) and any(
                d in lon_names for d in da.dims)
        ]
        if variable is None:
            if len(cands) != 1:
                raise InputError(src, "emission variable", f"found {cands or 'none'} on a lat/lon grid",
                                 "name it in emissions.variable (Python: variable='...')")
            variable = cands[0]
        if variable not in ds.data_vars:
            raise InputError(src, f"variable {variable!r}", f"not found; the file holds {list(ds.data_vars)}",
                             "set emissions.variable to one of these")
        da = ds[variable]
        lat_d = next(d for d in da.dims if d in lat_names)
        lon_d = next(d for d in da.dims if d in lon_names)
        declared = da.attrs.get("units")
        if declared is not None and not str(declared).strip():
            declared = None  # (an empty units attribute declares nothing)
        if units is not None and declared is not None and str(declared).strip() != str(units).strip():
            a = parse_emission_unit(str(declared), src, f"variable {variable!r}")
            b = parse_emission_unit(str(units), src, "emissions.unit")
            if not (a.per_area == b.per_area and a.per_mole == b.per_mole and abs(a.factor - b.factor) <= 1e-12 * a.factor):
                raise InputError(src, f"variable {variable!r}",
                                 f"declares units {declared!r}, and {units!r} was given for it",
                                 "remove emissions.unit (it is for files that declare no unit) or fix the file's "
                                 "units attribute")
        u = units if units is not None else declared
        if u is None:
            raise InputError(src, f"variable {variable!r}", "has no units attribute",
                             "set emissions.unit = 'kg m-2 s-1' (or the right unit; Python: units=...)")
        unit = parse_emission_unit(u, src, f"variable {variable!r}")
        factor = _to_kg(unit, molar_mass_g_mol, src)
        da = da.isel({d: 0 for d in da.dims if d not in (lat_d, lon_d) and da.sizes[d] == 1})
        others = [d for d in da.dims if d not in (lat_d, lon_d)]
        tdim = next((d for d in others if str(d).lower() in _TIME_DIMS or (
            d in ds.variables and (ds[d].dtype.kind == "M" or hasattr(ds[d].values.ravel()[0], "month")))), None)
        extra = [d for d in others if d != tdim]
        if extra:
            raise InputError(src, f"variable {variable!r}", f"has extra dimensions {extra}",
                             "select one level/sector first")
        monthly = None
        years_available = None
        if tdim is not None:
            years, months = _record_dates(ds, tdim, da.sizes[tdim], src, variable)
            if years is not None:
                years_available = sorted(float(y) for y in set(years.tolist()))
            if years is not None and year is not None:
                sel = years == year
                if not np.any(sel):
                    available = sorted(set(years.tolist()))
                    raise MissingYearError(src, f"variable {variable!r}", f"has no records in {year}; years {available}",
                                           "set emissions.year to one of these years (Python: year=...)", year, available)
                da = da.isel({tdim: np.flatnonzero(sel)})
                months = months[sel]
            elif years is not None and len(set(years.tolist())) > 1:
                raise InputError(src, f"variable {variable!r}", f"spans years {sorted(set(years.tolist()))}",
                                 "choose one with emissions.year (Python: year=...)")
            if da.sizes[tdim] == 12 and sorted(months.tolist()) == list(range(1, 13)):
                order = np.argsort(months)
                data = np.asarray(da.transpose(tdim, lat_d, lon_d).values, dtype=np.float64)[order]
                monthly = data
            elif da.sizes[tdim] == 1:
                da = da.isel({tdim: 0})
            else:
                raise InputError(src, f"variable {variable!r}", f"has {da.sizes[tdim]} time records",
                                 "give one record, or 12 monthly records of one year")
        if monthly is None:
            data = np.asarray(da.transpose(lat_d, lon_d).values, dtype=np.float64)[None]
        else:
            data = monthly
        data, missing = _check_values(data, src, variable, missing_as_zero)
        for d in (lat_d, lon_d):
            c = ds.variables.get(d)
            units = str(c.attrs.get("units", "")).strip().lower() if c is not None else ""
            std = str(c.attrs.get("standard_name", "")) if c is not None else ""
            if c is None or c.ndim != 1 or std.startswith("projection_") or units in ("m", "km", "metre", "meter", "metres",
                                                                                     "meters"):
                why = ("has no coordinate values" if c is None else
                       f"holds projected coordinates ({std or 'units ' + repr(units)}), not degrees")
                raise InputError(src, f"dimension {d!r} of {variable!r}", why + "; only longitude-latitude grids with "
                                 "1-D coordinates in degrees are read",
                                 "regrid the inventory to a regular longitude-latitude grid first, keeping totals "
                                 "(e.g. cdo remapcon,r360x180)")
        lat = np.asarray(ds[lat_d].values, float)
        lon = np.asarray(ds[lon_d].values, float)
        srcgrid = SourceGrid.from_coords(lon, lat, _bnds(ds, lon_d), _bnds(ds, lat_d), source=src)
        con = Conservative(srcgrid, grid, require_cover=False)
        area_src = srcgrid.cell_area_m2(grid.radius_m)
        # kg s-1 per source cell, then per target cell (amounts keep the total inside the domain)
        per_cell = data * factor * (area_src[None] if unit.per_area else 1.0)
        on_grid = np.stack([con.amounts(a) for a in per_cell])
        total_src = float(per_cell.sum())
        total_in = float(on_grid.sum())
        notes = [f"{src}: variable {variable!r} in {unit.text!r}, conservative regridding from {srcgrid.describe()}"]
        if missing:
            notes.append(f"{src}: {missing} missing values of {variable!r} (of {data.size}) read as no emission "
                         "(emissions.missing_as_zero)")
        if total_src > 0 and total_in <= 0:
            raise InputError(
                src,
                f"variable {variable!r}",
                f"all emissions ({total_src * SECONDS_PER_YEAR / max(len(per_cell), 1):.4g} kg/yr) lie outside the "
                f"model domain ({grid.describe()})",
                "check the longitude convention and the domain, or give an inventory covering the domain",
            )
        if total_src > 0 and total_in < total_src * (1 - 1e-9):
            msg = (
                f"{src}: {100 * (1 - total_in / total_src):.3g}% of the emission of {variable!r} lies outside the "
                "model domain and is not modelled"
            )
            warnings.warn(msg, stacklevel=3)
            notes.append(msg)
        covered = float(con.amounts(area_src).sum()) / float(grid.cell_area_m2.sum())
        if covered < 1.0 - 1e-6:
            msg = (f"{src}: variable {variable!r} covers {100 * covered:.3g}% of the model domain's area; the rest of the "
                   "domain gets no emission from it")
            warnings.warn(msg, stacklevel=3)
            notes.append(msg)
        annual = on_grid.mean(axis=0) if monthly is None else np.tensordot(_DAYS_IN_MONTH, on_grid, axes=(0, 0)) / 365.0
        if monthly is None:
            factors = np.ones(12)
        else:
            factors = np.divide(on_grid, annual[None], out=np.ones_like(on_grid), where=annual[None] > 0)
        layer = _layer_of_height(grid, height_m, src)
        rates = np.zeros((grid.nlayer, grid.nlat, grid.nlon))
        rates[layer] = annual
        part = EmissionPart(sector or variable, rates, factors, per_year=unit.per_year and monthly is None)
        inv = cls(grid, [part], substance, f"gridded inventory {src} ({variable})", notes)
        inv.missing_as_zero_values = missing
        inv.years_available = years_available
        return inv

    @classmethod
    def from_point_csv(
        cls,
        path: Any,
        grid: LatLonGrid,
        molar_mass_g_mol: float | None = None,
        outside: Literal["error", "drop"] = "error",
        substance: str = "",
        year: float | None = None,
        interpolate_years: bool = False,
    ) -> EmissionInventory:
        """Point sources from CSV with columns ``lon, lat, rate, unit`` and optional ``height_m`` (emission height
        above ground, default 0), ``name``, ``sector``, ``year``. ``outside="drop"`` ignores (with a warning) sources
        outside the domain instead of refusing them.

        Without a ``year`` column the same sources emit in every year. With one (a whole calendar year on every
        row, one row per source and year; a source is its ``name``, or its coordinates when it has none, and its
        ``sector``), the rows of ``year`` are used (required when the file has several years); with
        ``interpolate_years`` a year between two of the file's years takes every source's amount interpolated
        linearly, ``(1 - w) E(y0) + w E(y1)`` with ``w = (year - y0) / (y1 - y0)``, a source missing in one of the
        two years counting as zero there (as national totals do, :meth:`from_national_csv`)."""
        src, rows = _read_csv(path)
        _require_columns(rows, src, ("lon", "lat", "rate", "unit"), {"longitude": "lon", "latitude": "lat"})
        dropped = []
        # every source kept: (source, lon, lat, j, i, layer, per_year), sector, year (NaN: undated), kg s-1, label
        entries: list[tuple[tuple, str, float, float, str]] = []
        lines: dict[tuple, int] = {}  # (source, sector, year) -> line, for repeated rows of a dated file
        for n, row in zip(rows.line_numbers, rows):
            lon, lat = _float(row, "lon", src, n), _float(row, "lat", src, n)
            rate = _float(row, "rate", src, n)
            if rate < 0 or not np.isfinite(rate):
                raise InputError(src, f"line {n}, column 'rate'", f"{rate} is negative or not finite",
                                 "emissions must be >= 0")
            unit = parse_emission_unit(row["unit"], src, f"line {n}, column 'unit'")
            if unit.per_area:
                raise InputError(src, f"line {n}, column 'unit'", f"{unit.text!r} is per area",
                                 "give a point source rate such as 'kg/yr' or 'g/h'")
            hcol = next((c for c in ("height_m", "emission_height_m", "height") if (row.get(c) or "").strip()), None)
            h = 0.0 if hcol is None else _float(row, hcol, src, n)
            yr = _whole_year(row, src, n) if (row.get("year") or "").strip() else np.nan
            name = (row.get("name") or "").strip()
            source = name or f"lon {lon!r}, lat {lat!r}"
            sector = row.get("sector") or "point sources"
            if not np.isnan(yr):
                if (source, sector, yr) in lines:
                    raise InputError(src, f"line {n} ({source})", f"repeats the source's year {yr:g} (line "
                                     f"{lines[source, sector, yr]}; a source is its name, or its coordinates when it "
                                     "has none, and its sector)", "keep one row per source and year (sum them into "
                                     "one row, or give each source its own name)")
                lines[source, sector, yr] = n
            j, i = _cell_of(grid, lon, lat)
            if j is None:
                if outside == "drop":
                    dropped.append((name or f"line {n}", lon, lat))
                    continue
                raise InputError(
                    src,
                    f"line {n} ({name or 'point source'})",
                    f"lies at lon {lon:g}, lat {lat:g}, outside the model domain ({grid.describe()})",
                    "remove it or enlarge the domain (Python: outside='drop' drops such sources)",
                )
            k = _layer_of_height(grid, h, f"{src} line {n}")
            entries.append(((source, lon, lat, j, i, k, unit.per_year), sector, yr,
                            rate * _to_kg(unit, molar_mass_g_mol, src), name or f"line {n}"))
        dated = [e for e in entries if not np.isnan(e[2])]
        if dated and len(dated) < len(entries):
            blank = next(e for e in entries if np.isnan(e[2]))
            raise InputError(src, f"point source {blank[4]!r}", f"has no year, and other rows have years "
                             f"{[f'{y:g}' for y in sorted({e[2] for e in dated})][:5]}", "give every row its year")
        file_years = sorted({e[2] for e in dated})
        entries, bounds = _select_year(entries, year, src, interpolate_years)
        notes = [f"{src}: {len(rows) - len(dropped)} point sources" if not file_years else
                 f"{src}: {len(entries)} point sources of {entries[0][2] if entries else year:g} (the file's years: "
                 f"{', '.join(f'{y:g}' for y in file_years)})"]
        if bounds is not None:
            w = (year - bounds[0]) / (bounds[1] - bounds[0])
            notes.append(f"interpolated linearly to {year:g} between the inventory years {bounds[0]:g} and "
                         f"{bounds[1]:g} (weights {1 - w:.6g}, {w:.6g}), source by source")
        if dropped:
            msg = f"{src}: {len(dropped)} point sources outside the domain were dropped: {dropped[:5]}"
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
        if not entries:
            raise InputError(src, "point sources", "none lies inside the model domain", "check the coordinates")
        parts: dict[str, np.ndarray] = {}
        per_year: dict[str, bool] = {}  # (a sector is an amount per year when all its sources are)
        placed: list[tuple[float, float, int, int, float, str]] = []  # lon, lat, cell, kg s-1, label of every source
        for (_, lon, lat, j, i, k, amount_per_year), sector, _, kg_s, label in entries:
            arr = parts.setdefault(sector, np.zeros((grid.nlayer, grid.nlat, grid.nlon)))
            arr[k, j, i] += kg_s
            per_year[sector] = per_year.get(sector, True) and amount_per_year
            placed.append((lon, lat, j, i, kg_s, label))
        inv = cls(grid, [EmissionPart(s, r, np.ones(12), per_year[s]) for s, r in parts.items()], substance,
                  f"point sources {src}", notes)
        inv.years_available = [float(y) for y in file_years] or None
        inv.interpolated_from = bounds
        # each source's country (the one holding the point, not the cell's area shares: a plant in Vientiane, in a
        # cell mostly in Thailand, is Laos's), for source tags on the Natural Earth countries
        from .regions import countries_of_points

        lon, lat, jj, ii, kg_s, names = (np.array(c) for c in zip(*placed))
        inv.region_rates_kg_s = {}
        inv.point_sources = {"lon": lon, "lat": lat, "j": jj, "i": ii, "kg_s": kg_s}
        codes = countries_of_points(lon, lat)
        for code, j, i, r in zip(codes, jj, ii, kg_s):
            inv.region_rates_kg_s.setdefault(code, np.zeros(grid.shape))[j, i] += r  # ("": open sea, in OTHER)
        at_sea = [f"{name} ({x:g}, {y:g})" for code, name, x, y in zip(codes, names, lon, lat) if not code]
        if at_sea:
            msg = (f"{src}: {len(at_sea)} point source(s) lie at sea, more than 0.25 degrees from any country's land: "
                   f"{', '.join(at_sea[:5])}{' ...' if len(at_sea) > 5 else ''}; a run tagged by country puts their "
                   "emissions in OTHER (give a coordinate on land to tag one by its country)")
            warnings.warn(msg, stacklevel=2)
            inv.notes.append(msg)
        return inv

    @classmethod
    def from_national_csv(
        cls,
        path: Any,
        grid: LatLonGrid,
        year: float | None = None,
        substance: str | None = None,
        proxy: np.ndarray | None = None,
        masks: RegionMasks | None = None,
        molar_mass_g_mol: float | None = None,
        sector_profiles: Any = None,
        emission_type_prefix: str | None = "air",
        source_name: str | None = None,
        interpolate_years: bool = False,
        warn_outside: bool = True,
    ) -> EmissionInventory:
        """National totals from CSV, distributed inside each country by a spatial proxy.

        Columns: a country code (``iso3``, or ``iso2``, or ``country`` holding a code or a Natural Earth name),
        ``value``, ``unit`` (``kg/yr``...), and optionally ``year``, ``substance``, ``sector``, ``emission_type``.
        A row without a country code takes its ``country`` name, if that names a country; other rows without a
        code (world or box totals) are not used, as listed in the notes (a warning names rows with neither).

        Parameters
        ----------
        year
            Year to use when the file has several (required then); with ``interpolate_years`` a year between two
            tabulated years is interpolated linearly.
        substance
            Keep only rows of this substance.
        proxy
            Per-cell amounts of a proxy on the model grid, ``(J, I)`` (e.g. population per cell): a country's
            emission in a cell is proportional to its area fraction there times the proxy. Default: land area.
        masks
            Country masks (computed and cached when omitted).
        sector_profiles
            Monthly profiles and emission heights per sector: a CSV path with columns ``sector, month, factor`` and
            optionally ``height_m``, or a dict ``{sector: {"monthly": [12 factors], "height_m": h}}``.
        emission_type_prefix
            Keep only rows whose ``emission_type`` starts with this (``"air"``), when the column exists.
        warn_outside
            Warn about emissions of countries (partly) outside the grid; they are always listed in ``notes``.
        """
        src, rows = _read_csv(path)
        if source_name:
            src = source_name
        _require_columns(rows, src, ("value", "unit"), {})
        cols = set(rows[0]) if rows else set()
        code_col = next((c for c in ("iso3", "iso2", "country") if c in cols), None)
        if code_col is None:
            raise InputError(src, "columns", f"no country column among {sorted(cols)}",
                             "add a column 'iso3' (ISO 3166 alpha-3), 'iso2' or 'country'")
        if substance is not None and "substance" in cols:
            held = sorted({r["substance"].strip() for r in rows})
            rows = rows.where(lambda r: _name_key(r["substance"]) == _name_key(substance))  # ("PCB 153", "pcb153")
            if not rows:
                raise InputError(src, f"substance {substance!r}", f"has no rows; the file holds {held}",
                                 "set chemical.name to the substance of the rows to use, or give a file for "
                                 f"{substance}")
        if emission_type_prefix and "emission_type" in cols:
            rows = rows.where(lambda r: r["emission_type"].strip().lower().startswith(emission_type_prefix))
        by_code, info = natural_earth_countries()
        a2 = iso2_to_iso3()
        names = _country_names(info)
        # resolve codes; keep rows that name a country
        entries: list[tuple[str, str, float, float, str]] = []  # code, sector, year, kg/s, label
        per_year: dict[str, bool] = {}  # (a sector is an amount per year when all its rows are)
        uncoded: list[tuple[int, str]] = []  # (rows with an amount but no country code: world or box totals, or a slip)
        for n, r in zip(rows.line_numbers, rows):
            raw = (r.get("iso3") or r.get("iso2") or "").strip() if code_col != "country" else r["country"].strip()
            if code_col == "iso3" and not raw:
                raw = (r.get("iso2") or "").strip()
            if not raw:
                name = (r.get("country") or "").strip()
                if name and _resolve_country(name, by_code, a2, names) is not None:
                    raw = name  # (a country's row whose code was left out: its name says which)
                else:
                    if (r.get("value") or "").strip() not in ("", "0", "0.0"):
                        uncoded.append((n, name))
                    continue
            code = _resolve_country(raw, by_code, a2, names)
            if code is None:
                import difflib

                close = difflib.get_close_matches(_name_key(raw), list(names), n=1, cutoff=0.75)
                hint = f" (did you mean {names[close[0]]}, {info[names[close[0]]].get('NAME')}?)" if close else ""
                raise InputError(src, f"line {n}, country {raw!r}",
                                 f"is not a Natural Earth country code or name{hint}",
                                 "use ISO 3166 alpha-3 codes (see popstransport.io.regions.country_codes())")
            try:
                value = float(r["value"])
            except ValueError:
                raise InputError(src, f"line {n}, column 'value'", f"{r['value']!r} is not a number",
                                 "give one number per row (no ranges; a decimal point, no thousands "
                                 "separators)") from None
            if value < 0 or not np.isfinite(value):
                raise InputError(src, f"line {n}, column 'value'", f"{value} is negative or not finite",
                                 "emissions must be >= 0")
            unit = parse_emission_unit(r["unit"], src, f"line {n}, column 'unit'")
            if unit.per_area:
                raise InputError(src, f"line {n}, column 'unit'", f"{unit.text!r} is per area",
                                 "national totals are per country, e.g. 'kg/yr'")
            yr = _float(r, "year", src, n) if (r.get("year") or "").strip() else np.nan
            sector = r.get("sector") or "national totals"
            per_year[sector] = per_year.get(sector, True) and unit.per_year
            entries.append((code, sector, yr, value * _to_kg(unit, molar_mass_g_mol, src), raw))
        unnamed = [n for n, name in uncoded if not name]
        if unnamed:
            warnings.warn(f"{src}: {len(unnamed)} row(s) with an amount but neither a country code nor a name are not "
                          f"used (line(s) {', '.join(map(str, unnamed[:5]))}{', ...' if len(unnamed) > 5 else ''}); "
                          "give each row its country's code", stacklevel=2)
        totals = sorted({name for _, name in uncoded if name})
        if not entries:
            raise InputError(src, "rows", "no country rows (after filtering by substance and emission type)",
                             "check the file")
        dated = [e for e in entries if not np.isnan(e[2])]
        if dated and len(dated) < len(entries):
            blank = next(e for e in entries if np.isnan(e[2]))
            raise InputError(src, f"country {blank[4]!r}", f"has no year, and other rows have years "
                             f"{sorted({e[2] for e in dated})[:5]}", "give every row its year")
        seen: dict[tuple, str] = {}
        for code, sector, yr, _, raw in entries:
            key = (code, sector, None if np.isnan(yr) else yr)
            if key in seen:
                raise InputError(src, f"country {raw!r}", f"has two rows for {code}, sector {sector!r}"
                                 f"{'' if key[2] is None else f', year {yr:g}'} (the other as {seen[key]!r})",
                                 "keep one row per country, sector and year (sum them, or tell them apart in a "
                                 "'sector' column)")
            seen[key] = raw
        file_years = sorted({e[2] for e in entries if np.isfinite(e[2])})
        entries, bounds = _select_year(entries, year, src, interpolate_years)
        profiles = _read_profiles(sector_profiles)
        if masks is None:
            masks = RegionMasks.for_countries(grid)
        if proxy is not None:
            proxy = np.asarray(proxy, dtype=np.float64)
            if proxy.shape != grid.shape or np.any(~np.isfinite(proxy)) or np.any(proxy < 0):
                raise InputError("proxy", "proxy grid", f"shape {proxy.shape}, needs {grid.shape} finite values >= 0",
                                 "regrid the proxy to the model grid (amount per cell)")
        area = grid.cell_area_m2
        parts: dict[str, np.ndarray] = {}
        by_region: dict[str, np.ndarray] = {}
        notes: list[str] = []
        total_in = 0.0
        outside_kg_s = 0.0
        for code, sector, _, rate, raw in entries:
            if code not in masks.codes:
                outside_kg_s += rate
                notes.append(f"{raw} ({code}) lies outside the domain: {rate * SECONDS_PER_YEAR:.4g} kg/yr not modelled")
                continue
            r = masks.index(code)
            frac = masks.fraction[r]
            in_grid = float(np.sum(frac * area))
            whole = float(masks.region_area_m2[r]) if masks.region_area_m2 is not None else in_grid
            share = min(in_grid / whole, 1.0) if whole > 0 else 1.0
            weights = frac * (area if proxy is None else proxy)
            if weights.sum() <= 0:
                warnings.warn(f"{src}: the proxy is zero everywhere in {code}; its emission follows land area",
                              stacklevel=2)
                weights = frac * area
            w = weights / weights.sum()
            kept = rate * share
            if share < 1.0 - 1e-9:
                outside_kg_s += rate - kept
                notes.append(
                    f"{raw} ({code}): {100 * share:.3g}% of its area lies in the domain; "
                    f"{(rate - kept) * SECONDS_PER_YEAR:.4g} kg/yr of its emission is outside and not modelled"
                )
            prof = profiles.get(sector, {})
            k = _layer_of_height(grid, float(prof.get("height_m", 0.0)), f"sector {sector!r}")
            arr = parts.setdefault(sector, np.zeros((grid.nlayer, grid.nlat, grid.nlon)))
            arr[k] += kept * w
            own = by_region.setdefault(code, np.zeros(grid.shape))
            own += kept * w
            total_in += kept
        if not parts:
            raise InputError(src, "countries", f"none of {sorted({e[0] for e in entries})} lies in the model domain "
                             f"({grid.describe()})", "check the domain or the country codes")
        if warn_outside:
            for n in notes:
                warnings.warn(f"{src}: {n}", stacklevel=2)
        out_parts = [
            EmissionPart(s, a, normalise_monthly(profiles.get(s, {}).get("monthly", np.ones(12)), f"sector {s!r}"),
                         per_year[s])
            for s, a in parts.items()
        ]
        outside_notes = list(notes)
        notes.insert(0, f"{src}: {len(entries)} national totals distributed by "
                        f"{'land area' if proxy is None else 'the proxy'} within each country"
                        + (f"; rows of {', '.join(totals)} (no country code, not a country's name) not used"
                           if totals else ""))
        inv = cls(grid, out_parts, substance or "", f"national totals {src}", notes)
        inv.outside_kg_s = outside_kg_s
        inv.outside_notes = outside_notes
        inv.requested_kg_s = float(sum(e[3] for e in entries))
        inv.region_rates_kg_s = by_region
        inv.years_available = [float(y) for y in file_years] or None
        inv.interpolated_from = bounds
        return inv


def open_emissions(
    spec: Any,
    grid: LatLonGrid,
    *,
    kind: Literal["auto", "gridded", "national", "points"] = "auto",
    year: float | None = None,
    scale: float = 1.0,
    variable: str | None = None,
    unit: str | None = None,
    molar_mass_g_mol: float | None = None,
    masks: RegionMasks | None = None,
    substance: str | None = None,
    sector_profiles: Any = None,
    missing_as_zero: bool = False,
    between_years: Literal["refuse", "linear"] = "refuse",
) -> EmissionInventory:
    """Open an emission inventory for ``grid``.

    Parameters
    ----------
    spec
        ``"builtin"`` (the PCB-153 default), a path (NetCDF: gridded; CSV with ``lon``/``lat`` columns: point
        sources; other CSV: national totals), an ``xarray.Dataset``, or a configuration section with the attributes
        ``source, kind, year, scale, variable, unit`` (then the keyword arguments are taken from it).
    kind
        ``"gridded"``, ``"national"`` or ``"points"``; ``"auto"`` decides from the file.
    year
        Inventory year (built-in: 1970..2020; files with several years need it; point sources and national totals
        without a ``year`` column serve every year).
    scale
        Multiplies every emission.
    variable, unit
        Variable of a gridded file, and its unit when the file does not declare one (a unit that contradicts the
        file's own is refused; CSV files carry a unit on every row and take none).
    molar_mass_g_mol
        For inventories in mol.
    substance
        The chemical of the run: national-total files keep only its rows (when they have a ``substance``
        column), and the built-in inventory refuses any other chemical than its own.
    sector_profiles
        Monthly profiles and emission heights per sector of a national-totals file (see
        :meth:`EmissionInventory.from_national_csv`); refused for other kinds of inventory.
    missing_as_zero
        A gridded file's missing values are read as no emission (see :meth:`EmissionInventory.from_netcdf`);
        refused for other kinds of inventory, which have no missing values to fill.
    between_years
        A ``year`` that the file lacks: ``"refuse"`` (:class:`~popstransport.io.errors.MissingYearError`) or
        ``"linear"``, the figures interpolated linearly between the file's two nearest years ``y0 < year < y1``
        (each country's total of a national-totals file, each cell of a gridded file with dated records; see
        :func:`interpolate_inventories`; each source's amount of a point-source file with a ``year`` column, see
        :meth:`EmissionInventory.from_point_csv`); a year before the first or after the last is refused either way.
        Refused for files without years (no ``year`` column, no dated records), which have nothing to interpolate
        between. The built-in inventory is always interpolated between its decades.
    """
    if hasattr(spec, "source") and not isinstance(spec, str | Path):
        cfg = spec
        spec = cfg.source
        kind = getattr(cfg, "kind", kind) or "auto"
        year = getattr(cfg, "year", year)
        scale = float(getattr(cfg, "scale", scale))
        variable = getattr(cfg, "variable", variable) or None
        unit = getattr(cfg, "unit", unit) or None
        sector_profiles = getattr(cfg, "sector_profiles", sector_profiles) or None
        missing_as_zero = bool(getattr(cfg, "missing_as_zero", missing_as_zero))
        between_years = getattr(cfg, "between_years", between_years)
    if between_years not in ("refuse", "linear"):
        raise InputError("emissions", "between_years", f"{between_years!r} is not a choice",
                         "use 'refuse' (a year the inventory lacks is an error) or 'linear'")
    if not (np.isfinite(scale) and scale >= 0):
        raise InputError("emissions", "scale", f"{scale!r} must be a finite number >= 0", "fix the scale factor")
    if isinstance(spec, str) and spec.strip().lower() in ("builtin", "default"):
        if substance is not None and _name_key(substance) != "pcb153":
            raise InputError("emissions.source = 'builtin'", "substance",
                             f"the built-in inventory holds PCB-153 only, and chemical.name is {substance!r}",
                             f"give an emission file for {substance} in emissions.source")
        if sector_profiles is not None:
            raise InputError("emissions.source = 'builtin'", "emissions.sector_profiles", "the built-in inventory "
                             "has one sector and its own monthly profile", "remove emissions.sector_profiles")
        if missing_as_zero:
            raise InputError("emissions.source = 'builtin'", "emissions.missing_as_zero", "the built-in inventory has "
                             "no missing values", "remove emissions.missing_as_zero")
        inv = EmissionInventory.from_default(grid, year=2000 if year is None else year, masks=masks)
    else:
        import xarray as xr

        if kind == "auto":
            if isinstance(spec, xr.Dataset) or Path(str(spec)).suffix.lower() in (".nc", ".nc4", ".netcdf", ".cdf"):
                kind = "gridded"
            else:
                _, rows = _read_csv(spec)
                kind = "points" if rows and {"lon", "lat"} <= set(rows[0]) or rows and {
                    "longitude", "latitude"} <= set(rows[0]) else "national"
        if sector_profiles is not None and kind != "national":
            raise InputError(spec, "emissions.sector_profiles", f"sector profiles are for national-totals files, and "
                             f"this inventory is {kind}", "remove emissions.sector_profiles, or give national totals "
                             "with a sector column")
        if unit is not None and kind in ("points", "national"):
            raise InputError(spec, "emissions.unit", f"{unit!r} is for gridded files that declare no unit",
                             "remove emissions.unit: every row of a CSV file gives its own unit")
        if missing_as_zero and kind != "gridded":
            raise InputError(spec, "emissions.missing_as_zero", f"applies to gridded NetCDF inventories; this is a "
                             f"{kind} inventory", "remove emissions.missing_as_zero")
        linear = between_years == "linear"
        if kind == "gridded":
            def gridded(y: int | None) -> EmissionInventory:
                return EmissionInventory.from_netcdf(spec, grid, variable=variable, units=unit,
                                                     molar_mass_g_mol=molar_mass_g_mol, year=y,
                                                     missing_as_zero=missing_as_zero)

            try:
                inv = gridded(None if year is None else int(year))
            except MissingYearError as exc:
                if not linear or year is None:
                    raise
                y0, y1 = _bounding_years(spec, int(year), exc.available)
                inv = interpolate_inventories(gridded(int(y0)), gridded(int(y1)), y0, y1, int(year))
        elif kind == "points":
            inv = EmissionInventory.from_point_csv(spec, grid, molar_mass_g_mol=molar_mass_g_mol, year=year,
                                                   interpolate_years=linear)
        elif kind == "national":
            inv = EmissionInventory.from_national_csv(spec, grid, year=year, masks=masks,
                                                      molar_mass_g_mol=molar_mass_g_mol, substance=substance,
                                                      sector_profiles=sector_profiles, interpolate_years=linear)
        else:
            raise InputError(spec, "kind", f"{kind!r} is not an inventory kind",
                             "use 'auto', 'gridded', 'national' or 'points'")
        if linear and inv.years_available is None:
            what = {"national": "national inventory has no year column",
                    "points": "point-source file has no year column",
                    "gridded": "gridded inventory has no dated records (no time axis, or a climatology of months "
                               "1..12 used for every year)"}[kind]
            raise InputError(spec, "emissions.between_years = 'linear'", f"interpolates between the years of an "
                             f"inventory, and this {what}: the same figures serve every year",
                             "remove emissions.between_years, or give the file its years"
                             + (" (a column 'year', one row per source and year)" if kind == "points" else ""))
    return inv if scale == 1.0 else inv.scaled(scale)


def interpolate_inventories(a: EmissionInventory, b: EmissionInventory, y0: float, y1: float,
                            year: float) -> EmissionInventory:
    """The inventory of ``year`` interpolated linearly between ``a`` (year ``y0``) and ``b`` (year ``y1``).

    Every part's annual-mean rate in every cell and layer (and every country's rates, :attr:`region_rates_kg_s`) is

        E(year) = (1 - w) E(y0) + w E(y1),   w = (year - y0) / (y1 - y0),

    linear interpolation in the calendar year (the usual reading of projections given every 5 or 10 years, e.g.
    the SSP emission scenarios of Riahi et al. 2017, Global Environmental Change 42, 153-168, which are tabulated
    at such steps and interpolated linearly in between). A country or cell that emits in one of the two years
    only goes to or from zero. Parts with the same name, monthly factors and ``per_year`` are merged; others are
    kept side by side, each with its own monthly profile (a gridded file's 12 monthly records of ``y0`` and of
    ``y1``), so every month is the interpolation of the two years' months and an amount per year is still emitted
    exactly in a leap year (each part scaled by :func:`per_year_scale`).
    """
    if not y0 < year < y1:
        raise ValueError(f"year {year} must lie strictly between {y0} and {y1}")
    w = (year - y0) / (y1 - y0)
    parts = [replace(p, rates_kg_s=(1.0 - w) * p.rates_kg_s) for p in a.parts]
    for q in b.parts:
        same = next((k for k, p in enumerate(a.parts) if p.name == q.name and p.per_year == q.per_year
                     and p.monthly_factors.shape == q.monthly_factors.shape
                     and np.array_equal(p.monthly_factors, q.monthly_factors)), None)
        if same is None:
            parts.append(replace(q, rates_kg_s=w * q.rates_kg_s))
        else:
            parts[same] = replace(parts[same], rates_kg_s=parts[same].rates_kg_s + w * q.rates_kg_s)
    how = f"interpolated linearly to {year:g} between the inventory years {y0:g} and {y1:g} (weights {1 - w:.6g}, {w:.6g})"
    out = EmissionInventory(a.grid, parts, a.substance or b.substance, f"{a.description}, {how}",
                            [f"{y0:g}: {n}" for n in a.notes] + [f"{y1:g}: {n}" for n in b.notes] + [how])
    out.outside_kg_s = (1.0 - w) * a.outside_kg_s + w * b.outside_kg_s
    out.outside_notes = [f"{y0:g}: {n}" for n in a.outside_notes] + [f"{y1:g}: {n}" for n in b.outside_notes]
    if a.requested_kg_s is not None and b.requested_kg_s is not None:
        out.requested_kg_s = (1.0 - w) * a.requested_kg_s + w * b.requested_kg_s
    if a.region_rates_kg_s is not None and b.region_rates_kg_s is not None:
        zero = np.zeros(a.grid.shape)
        out.region_rates_kg_s = {c: (1.0 - w) * a.region_rates_kg_s.get(c, zero) + w * b.region_rates_kg_s.get(c, zero)
                                 for c in dict.fromkeys([*a.region_rates_kg_s, *b.region_rates_kg_s])}
    out.missing_as_zero_values = a.missing_as_zero_values + b.missing_as_zero_values
    out.years_available = a.years_available
    out.interpolated_from = (y0, y1)
    return out


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------
def _bounding_years(src: object, year: int, available: list[float]) -> tuple[float, float]:
    """The two years of ``available`` nearest to ``year`` on either side; a year outside them is refused."""
    years = sorted(available)
    if not years or year < years[0] or year > years[-1]:
        raise MissingYearError(src, f"year {year}", f"lies outside the inventory's years {[f'{y:g}' for y in years]}, "
                               "and emissions.between_years = 'linear' interpolates between them without extrapolating",
                               "run within these years, or add the years to the file", year, years)
    return max(y for y in years if y < year), min(y for y in years if y > year)


def _check_values(data: np.ndarray, src: object, variable: str, missing_as_zero: bool = False) -> tuple[np.ndarray, int]:
    """Refuse infinite and negative values of a gridded inventory, and missing ones (NaN, as xarray reads a
    ``_FillValue`` or ``missing_value``) unless ``missing_as_zero``: the values with those set to 0 (a new array:
    ``data`` may be a dataset's own), and how many there were."""
    if np.isinf(data).any():
        raise InputError(src, f"variable {variable!r}", f"{int(np.isinf(data).sum())} values are infinite",
                         "fix the inventory (an overflow in the program that wrote it?)")
    missing = np.isnan(data)
    count = int(missing.sum())
    if count and not missing_as_zero:
        raise InputError(src, f"variable {variable!r}", f"{count} values are missing (_FillValue or missing_value, "
                         "or NaN)", "if a missing value means no emission (as over the sea in many gridded products), "
                         "set emissions.missing_as_zero = true (Python: missing_as_zero=True); otherwise fill them")
    if count:
        data = np.where(missing, 0.0, data)
    if np.any(data < 0):
        raise InputError(
            src,
            f"variable {variable!r}",
            f"{int((data < 0).sum())} values are negative (min {data.min():.4g})",
            "emissions must be >= 0; remove sinks or netted fluxes from the inventory",
        )
    return data, count


def _record_dates(ds: Any, dim: str, n: int, src: object, variable: str) -> tuple[np.ndarray | None, np.ndarray]:
    """Years (``None`` for a climatology) and months of the records along ``dim`` of a gridded inventory."""
    values = np.asarray(ds[dim].values) if dim in ds.variables else None
    if values is not None and values.dtype.kind == "M":
        stamps = values.astype("datetime64[M]").astype(int)
        return stamps // 12 + 1970, stamps % 12 + 1
    if values is not None and values.dtype.kind == "O" and all(hasattr(t, "year") and hasattr(t, "month")
                                                               for t in values.ravel()):
        return np.array([t.year for t in values]), np.array([t.month for t in values])
    if values is not None and values.dtype.kind in "iuf" and n == 12 and np.array_equal(values, np.arange(1, 13)):
        return None, values.astype(int)  # (a climatology: a 'month' coordinate 1..12)
    shown = "no coordinate" if values is None else f"values {values.ravel()[:3].tolist()}..."
    raise InputError(src, f"variable {variable!r}", f"has a dimension {dim!r} of {n} records that is not a time axis "
                     f"({shown}{', units ' + repr(ds[dim].attrs.get('units')) if values is not None else ''})",
                     "give the time coordinate CF units (e.g. 'days since 2010-01-01'), number the months of a "
                     "climatology 1..12, or select one level/sector first")


def _bnds(ds: Any, dim: str) -> np.ndarray | None:
    b = ds[dim].attrs.get("bounds") if dim in ds.variables else None
    if b and b in ds.variables:
        return np.asarray(ds[b].values, float)
    return None


def _layer_of_height(grid: LatLonGrid, height_m: float, src: object) -> int:
    edges = np.asarray(grid.layers.edges_m)
    if not (0.0 <= height_m < edges[-1]):
        raise InputError(src, "emission height", f"{height_m:g} m is outside the air layers 0..{edges[-1]:g} m",
                         "give a height above ground inside the model atmosphere")
    return int(np.searchsorted(edges, height_m, side="right") - 1)


def _cell_of(grid: LatLonGrid, lon: float, lat: float) -> tuple[int | None, int | None]:
    x0, x1 = grid.lon_edges_deg[0], grid.lon_edges_deg[-1]
    lon = x0 + np.mod(lon - x0, 360.0) if grid.is_periodic else lon
    if not grid.is_periodic and not (x0 <= lon <= x1):
        for k in (-360.0, 360.0):
            if x0 <= lon + k <= x1:
                lon += k
                break
        else:
            return None, None
    if not (grid.lat_edges_deg[0] <= lat <= grid.lat_edges_deg[-1]):
        return None, None
    i = int(np.clip(np.searchsorted(grid.lon_edges_deg, lon, side="right") - 1, 0, grid.nlon - 1))
    j = int(np.clip(np.searchsorted(grid.lat_edges_deg, lat, side="right") - 1, 0, grid.nlat - 1))
    return j, i


class _CsvRows(list):
    """The rows of a CSV file (dicts of lower-case column names), with ``line_numbers``: the line of the file each
    row is on (comment and blank lines counted), for error messages."""

    line_numbers: list[int]

    def where(self, keep: Any) -> _CsvRows:
        """The rows for which ``keep(row)`` is true, with their line numbers."""
        out = _CsvRows()
        out.line_numbers = []
        for n, r in zip(self.line_numbers, self):
            if keep(r):
                out.append(r)
                out.line_numbers.append(n)
        return out


def _read_csv(path: Any) -> tuple[str, _CsvRows]:
    if isinstance(path, io.StringIO | io.TextIOBase):
        src, text = "CSV", path.read()
    else:
        src = str(path)
        try:
            text = read_utf8_text(path, "CSV")
        except OSError as err:
            raise InputError(src, "CSV file", f"cannot be read ({err})", "check the path") from None
    kept = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.lstrip().startswith("#")]
    header = kept[0][1] if kept else ""
    delimiter = max(",;\t", key=lambda d: (header.count(d), d == ","))  # (Excel in many locales writes ';')
    reader = csv.DictReader([ln for _, ln in kept], delimiter=delimiter)
    rows = _CsvRows()
    rows.line_numbers = []
    for r in reader:
        line = kept[reader.line_num - 1][0]  # (the file's line of the row's last line)
        if None in r:
            raise InputError(src, f"line {line}", f"has {len(r) - 1 + len(r[None])} fields "
                             f"and the header {len(r) - 1} ({delimiter!r}-separated)",
                             "quote values that contain the separator, and write decimal numbers with a point")
        rows.append({(k or "").strip().lower(): (v or "").strip() for k, v in r.items()})
        rows.line_numbers.append(line)
    return src, rows


def _require_columns(rows: list[dict[str, str]], src: str, required: tuple[str, ...], aliases: dict[str, str]) -> None:
    if not rows:
        raise InputError(src, "rows", "the file has no data rows", "add rows")
    for r in rows:
        for a, b in aliases.items():
            if a in r and b not in r:
                r[b] = r[a]
    missing = [c for c in required if c not in rows[0]]
    if missing:
        kinds = ("; a point-source file has columns lon, lat (or longitude, latitude), rate and unit, and a national-"
                 "totals file iso3 (or iso2, country), value and unit")
        raise InputError(src, f"columns {missing}", f"missing; the file has {sorted(rows[0])}",
                         f"add the columns {list(required)}{kinds}")


def _float(row: dict[str, str], col: str, src: str, n: int) -> float:
    try:
        return float(row[col])
    except ValueError:
        raise InputError(src, f"line {n}, column {col!r}", f"{row[col]!r} is not a number", "fix the value") from None


def _whole_year(row: dict[str, str], src: str, n: int) -> float:
    """The ``year`` of a point-source row: a whole calendar year (``2010``, or ``2010.0`` as spreadsheets write it)."""
    raw = row["year"]
    try:
        value = float(raw)
    except ValueError:
        value = np.nan
    if not (np.isfinite(value) and value == int(value)):
        raise InputError(src, f"line {n}, column 'year'", f"{raw!r} is not a whole calendar year",
                         "give the inventory year of the row as an integer, e.g. 2010")
    return value


def _name_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _country_names(info: dict[str, dict]) -> dict[str, str]:
    """Natural Earth country names (several spellings, compared without case, spaces and punctuation) -> code."""
    names = {str(a.get(k, "")).lower(): c for c, a in info.items() for k in ("NAME", "NAME_LONG", "ADMIN")}
    out = {_name_key(n): c for n, c in names.items() if _name_key(n)}
    for k in ("NAME_EN", "FORMAL_EN", "NAME_SORT", "BRK_NAME", "NAME_CIAWF", "NAME_ALT", "GEOUNIT"):
        for c, a in info.items():
            key = _name_key(str(a.get(k) or ""))
            if key:
                out.setdefault(key, c)
    return out


#: ISO 3166 / UN names that none of Natural Earth's English name fields spells (keys as :func:`_name_key` makes them:
#: without case, spaces, punctuation and letters outside a-z, so "Türkiye" is "trkiye").
_UN_NAMES = {"bruneidarussalam": "BRN", "trkiye": "TUR", "congo": "COG", "stateofpalestine": "PSE"}


def _resolve_country(raw: str, by_code: dict, a2: dict[str, str], names: dict[str, str]) -> str | None:
    u = raw.upper()
    if u in by_code:
        return u
    if len(u) == 2 and u in a2:
        return a2[u]
    found = names.get(_name_key(raw))
    if found is None and raw.count(",") == 1:  # ("Korea, Republic of")
        first, second = raw.split(",")
        found = names.get(_name_key(second + first))
    match = re.fullmatch(r"\s*([^()]+?)\s*\(([^()]+)\)\s*", raw)
    if found is None and match:  # ("Iran (Islamic Republic of)", "Micronesia (Federated States of)")
        found = names.get(_name_key(match.group(2) + match.group(1)))
    return found if found is not None else _UN_NAMES.get(_name_key(raw))


def _select_year(entries: list, year: float | None, src: str, interpolate: bool) -> tuple[list, tuple | None]:
    """The rows of ``year`` and, for a year interpolated between two of the file's years (``interpolate``), those
    two years: every (country or point source, sector) takes ``(1 - w) v0 + w v1`` with ``w = (year - y0) / (y1 -
    y0)``, a row missing in one of the two years counting as 0."""
    years = sorted({e[2] for e in entries if np.isfinite(e[2])})
    if not years:
        return entries, None
    if year is None:
        if len(years) > 1:
            raise InputError(src, "year", f"the file has several years {years}", "choose one with year=...")
        year = years[0]
    if year in years:
        return [e for e in entries if e[2] == year], None
    if not interpolate or year < years[0] or year > years[-1]:
        raise MissingYearError(src, f"year {year:g}", f"is not in the file; available: {[f'{y:g}' for y in years]}",
                               "choose one of these years" + (" (or a year in between)" if interpolate else ""), year, years)
    y0 = max(y for y in years if y < year)
    y1 = min(y for y in years if y > year)
    w = (year - y0) / (y1 - y0)
    a = {(e[0], e[1]): e for e in entries if e[2] == y0}
    b = {(e[0], e[1]): e for e in entries if e[2] == y1}
    out = []
    for key in sorted(set(a) | set(b)):
        ra = a[key][3] if key in a else 0.0
        rb = b[key][3] if key in b else 0.0
        label = (a.get(key) or b.get(key))[4]
        out.append((key[0], key[1], year, (1 - w) * ra + w * rb, label))
    return out, (y0, y1)


def _read_profiles(spec: Any) -> dict[str, dict]:
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return {str(k): dict(v) for k, v in spec.items()}
    src, rows = _read_csv(spec)
    _require_columns(rows, src, ("sector", "month", "factor"), {})
    out: dict[str, dict] = {}
    for n, r in zip(rows.line_numbers, rows):
        d = out.setdefault(r["sector"], {"monthly": np.full(12, np.nan)})
        m = int(float(r["month"]))
        if not 1 <= m <= 12:
            raise InputError(src, f"line {n}, column 'month'", f"{m} is not 1..12", "number months 1..12")
        d["monthly"][m - 1] = float(r["factor"])
        if r.get("height_m"):
            d["height_m"] = float(r["height_m"])
    for s, d in out.items():
        if np.any(np.isnan(d["monthly"])):
            raise InputError(src, f"sector {s!r}", "does not give all 12 months", "add the missing months")
    return out


__all__ = [
    "EmissionInventory",
    "EmissionPart",
    "EmissionUnit",
    "PCB153_MOLAR_MASS_G_MOL",
    "interpolate_inventories",
    "normalise_monthly",
    "open_emissions",
    "parse_emission_unit",
]
