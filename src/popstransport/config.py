"""Configuration: one TOML file becomes a tree of frozen dataclasses, validated with errors that name the key path.

Sections: ``[domain] [time] [chemical] [processes] [met] [emissions] [regions] [attribution] [output]``, optional
``[spinup]``, ``[ensemble]`` (see :mod:`popstransport.ensemble`) and ``[[scenarios]]``. Every error names the key
path (``domain.resolution_deg``), the offending value and what is allowed; an unknown key suggests the nearest valid
name. ``--set section.key=value`` overrides any key from the command line; the value is parsed as a TOML value
(``2``, ``1.5``, ``"text"``, ``[0, 1000]``) and falls back to a plain string.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import numpy as np

from .grid import BAND_TOLERANCE_DEG


class ConfigError(ValueError):
    """An invalid configuration; the message names the file, the key path, the value and what is allowed."""


@dataclass(frozen=True)
class DomainConfig:
    """Model domain and grid.

    A ``regional`` domain whose longitudes span 360 degrees (``lon_max_deg - lon_min_deg = 360``) is a zonal band,
    such as a hemispheric mid-latitude band: periodic in longitude, with open boundaries at its south and north
    edges only (an edge at a pole is a wall). From pole to pole it is refused: that is a ``global`` domain.
    """

    kind: Literal["regional", "global", "box"] = "regional"
    lon_min_deg: float = 60.0
    lon_max_deg: float = 180.0
    lat_min_deg: float = -15.0
    lat_max_deg: float = 60.0
    resolution_deg: float = 1.0
    #: Air layer edges in metres above ground (first must be 0).
    layer_edges_m: tuple[float, ...] = (0.0, 1000.0, 10000.0)
    #: Box mode only: the cell's centre and land fraction.
    box_lon_deg: float = 100.0
    box_lat_deg: float = 30.0
    box_land_fraction: float = 1.0
    #: Regional domains: mixing ratio (kg of chemical per kg of air) of the air that enters through the open
    #: boundaries, on every side (of a zonal band: its south and north edges) and in every layer (a background from
    #: outside the domain, such as the hemispheric background of a long-lived substance); 0: clean air. With source
    #: tags, what enters is the ``BOUNDARY`` tag's.
    inflow_mixing_ratio: float = 0.0

    def extents_deg(self) -> tuple[float, float]:
        """The domain's longitude and latitude extents (degrees) of a regional or global domain."""
        if self.kind == "global":
            return 360.0, 180.0
        return self.lon_max_deg - self.lon_min_deg, self.lat_max_deg - self.lat_min_deg


@dataclass(frozen=True)
class TimeConfig:
    """Simulated period and time step. Dates are ISO 8601 (``2020-01-01`` or ``2020-01-01T06:00``)."""

    start: str = "2010-01-01"
    stop: str = "2011-01-01"
    step_hours: float = 3.0
    #: How often forcing-dependent quantities (met fields, rate matrices, mass fluxes) are refreshed.
    met_update_hours: float = 24.0


@dataclass(frozen=True)
class ChemicalConfig:
    """The simulated substance: a name from the built-in database, with optional property overrides."""

    name: str = "PCB-153"
    #: A CSV file of user substances (same columns as the built-in table).
    file: str = ""
    #: Property overrides, e.g. ``{ log_koa = 9.5, half_life_air = 1000 }`` (names and units: ``popstransport chemicals NAME``).
    overrides: dict[str, float] = field(default_factory=dict)


#: Largest accepted ``processes.vertical_diffusivity_m2_s`` (m2 s-1). With the propagators made to conserve mass
#: (:func:`popstransport.processes.fate.conserve_mass`) a column of 10 layers from 10 m with 3-hour steps closes its
#: budget to 4e-15 at 1e5 and 7e-15 at 1e6 m2 s-1 (without: 2.5e-10 and 1.5e-8 under a 20 m lowest layer), but to
#: only 1e-4 at 1e8.
MAX_VERTICAL_DIFFUSIVITY_M2_S = 1e5


#: ``domain.inflow_mixing_ratio`` must be below this (kg kg-1): 1 mg of chemical per kg of air, some 1e7 times the
#: background of a persistent organic pollutant; larger values are concentrations given in other units (pg m-3).
MAX_INFLOW_MIXING_RATIO = 1e-3


@dataclass(frozen=True)
class ProcessesConfig:
    """Which process formulations are used."""

    #: "simple": first-order air degradation and constant-velocity dry deposition to soil (reference chain);
    #: "multimedia": the full partitioning / deposition / exchange / degradation system.
    fate: Literal["simple", "multimedia"] = "multimedia"
    #: "ppm" (piecewise-parabolic, monotone; default), "ppm_cw84", "vanleer" or "upwind" (first order, reference).
    advection_scheme: Literal["ppm", "ppm_cw84", "vanleer", "upwind"] = "ppm"
    #: Turbulent diffusivity between air layers (m2 s-1), at most :data:`MAX_VERTICAL_DIFFUSIVITY_M2_S`; solved with
    #: every cell's fate system (:class:`popstransport.processes.vertical.TurbulentMixing`).
    vertical_diffusivity_m2_s: float = 15.0
    #: Simple chain: dry deposition velocity of the chemical (m s-1) and its air half-life (days).
    dry_deposition_velocity_m_s: float = 0.002
    air_half_life_days: float = 60.0
    soil_half_life_days: float = 3650.0
    #: Courant number limit of the horizontal advection (sub-steps are added to stay below it).
    max_courant: float = 0.9
    #: Floating-point type of the chemical state (mass per tag, compartment and cell): "float64" or "float32"
    #: (half the memory of the state; accumulators, budgets and outputs stay float64).
    state_precision: Literal["float64", "float32"] = "float64"


@dataclass(frozen=True)
class MetConfig:
    """Meteorology: "synthetic" (built-in climatology) or NetCDF files (a path, a glob, or a list of these, e.g.
    pressure-level and single-level files kept in two folders), with their layout."""

    source: str | tuple[str, ...] = "synthetic"
    kind: Literal["auto", "era5", "merra2", "cmip", "cf"] = "auto"
    #: How records are placed in time: "auto" (a climatology's records cyclic, others linear), "linear" (between
    #: dated records), "cyclic" (a climatology repeated every year), "clamped" (hold the first and last records).
    time_rule: Literal["auto", "linear", "cyclic", "clamped"] = "auto"
    #: Uniform synthetic wind for tests and checks (used when source = "uniform"), m s-1.
    uniform_u_m_s: float = 5.0
    uniform_v_m_s: float = 0.0


@dataclass(frozen=True)
class EmissionsConfig:
    """Emission inventory: "builtin" (PCB-153 Asia-Pacific national totals), "uniform" (``uniform_total_kg_yr``
    spread over the domain in proportion to cell area), "none", or a file."""

    source: str = "builtin"
    kind: Literal["auto", "gridded", "national", "points"] = "auto"
    #: Inventory year, or "each": every calendar year of the run takes its own year of the inventory (a run
    #: over decades follows the inventory's trend; times outside the run's years take the nearest of them; years
    #: the file lacks: see ``between_years``).
    year: int | Literal["each"] = 2010
    #: A year (``year``, or a calendar year of the run with "each") that the file lacks: "refuse" (an error), or
    #: "linear": each country's total (national totals), each source's amount (point sources with a ``year``
    #: column) or each cell's value (a gridded file with dated records) interpolated linearly between the file's two
    #: nearest years, a country, source or cell missing in one of them counting as zero; years before the first or
    #: after the last are refused either way. The built-in inventory is always interpolated between its decades;
    #: files without years (no ``year`` column, undated records) refuse "linear".
    between_years: Literal["refuse", "linear"] = "refuse"
    #: Multiplies every emission (dimensionless).
    scale: float = 1.0
    #: Variable name in a gridded NetCDF file.
    variable: str = ""
    #: Unit of a file that does not declare one.
    unit: str = ""
    #: Total emission of ``source = "uniform"`` (kg per year).
    uniform_total_kg_yr: float = 1000.0
    #: Monthly profiles and emission heights per sector of a national-totals file: a CSV with columns ``sector,
    #: month, factor`` and optionally ``height_m`` (see data/README.md); "" for none.
    sector_profiles: str = ""
    #: Gridded NetCDF inventories: read missing values (``_FillValue``, ``missing_value``, NaN), such as the cells
    #: over the sea of many gridded products, as no emission instead of refusing the file (``validate`` counts them).
    missing_as_zero: bool = False


@dataclass(frozen=True)
class RegionsConfig:
    """Region set for source tags and receptors."""

    source: str = "natural_earth"
    #: Attribute holding the region name in a user GeoJSON / shapefile.
    name_attribute: str = ""
    #: Region codes to keep (empty: every region in the domain).
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttributionConfig:
    """Source tagging: "none", "countries" (every emitting region) or "list" (``regions``, rest in OTHER)."""

    tags: Literal["none", "countries", "list"] = "none"
    regions: tuple[str, ...] = ()
    #: Receptor regions (empty: every region of the region set inside the domain).
    receptors: tuple[str, ...] = ()
    border_fluxes: bool = True
    #: Also keep border fluxes per source tag (how much of A's emission crosses from B into C). This books the
    #: border faces per tag in the advection (without it, once per face for the total over tags).
    border_fluxes_by_source: bool = False


@dataclass(frozen=True)
class OutputConfig:
    """Output periods and files."""

    frequency: Literal["hourly", "daily", "monthly", "annual", "run"] = "monthly"
    directory: str = "runs/asia_pacific"
    overwrite: bool = False
    #: Write a checkpoint every this many simulated months (0: never); ``popstransport run --resume DIR``.
    checkpoint_every_months: int = 0
    #: Who made the run (the CF ``institution`` attribute of the NetCDF outputs, e.g. "Example University,
    #: Department of Environmental Science"); "" leaves the attribute out.
    institution: str = ""


@dataclass(frozen=True)
class SpinupConfig:
    """Spin-up before the simulated period."""

    method: Literal["none", "repeat", "cyclostationary"] = "none"
    #: Most model years spent on the spin-up.
    years: int = 100
    #: Both methods stop when the relative annual change of the state (one model year run from it) is below this.
    tolerance: float = 1e-6


@dataclass(frozen=True)
class Config:
    """The whole run configuration."""

    domain: DomainConfig = field(default_factory=DomainConfig)
    time: TimeConfig = field(default_factory=TimeConfig)
    chemical: ChemicalConfig = field(default_factory=ChemicalConfig)
    processes: ProcessesConfig = field(default_factory=ProcessesConfig)
    met: MetConfig = field(default_factory=MetConfig)
    emissions: EmissionsConfig = field(default_factory=EmissionsConfig)
    regions: RegionsConfig = field(default_factory=RegionsConfig)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    spinup: SpinupConfig = field(default_factory=SpinupConfig)
    scenarios: tuple[dict[str, Any], ...] = ()
    #: Ensemble of runs with varied parameters: ``members``, ``seed`` and ``parameters`` (key path -> distribution).
    ensemble: dict[str, Any] = field(default_factory=dict)
    #: The file the configuration came from ("" for the built-in default).
    source_path: str = ""
    #: The warnings given while the file was read (a path found only from the working directory): they were given
    #: before any run began, so a run adds them to its ``warnings.txt`` (not part of the configuration: not compared,
    #: not saved).
    load_warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain data (tuples as lists), suitable for TOML."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in _NOT_SECTIONS:
                continue
            value = getattr(self, f.name)
            out[f.name] = _plain(dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
        return out

    def to_toml(self) -> str:
        """The resolved configuration as TOML text."""
        return dumps_toml(self.to_dict())

    def with_overrides(self, overrides: list[str]) -> "Config":
        """A copy with ``section.key=value`` overrides applied (validated like the file)."""
        data = self.to_dict()
        apply_overrides(data, overrides)
        return _with_load_warnings(config_from_dict(data, self.source_path), self)


_NOT_SECTIONS = ("source_path", "load_warnings")
_SECTIONS = {f.name: f for f in dataclasses.fields(Config) if f.name not in _NOT_SECTIONS}


def _with_load_warnings(cfg: Config, read: Config) -> Config:
    """``cfg`` (made from the configuration ``read``) with the warnings given when ``read`` was read."""
    return dataclasses.replace(cfg, load_warnings=read.load_warnings) if read.load_warnings else cfg


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _nearest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _describe(annotation: Any) -> str:
    """What a value of ``annotation`` looks like, in words."""
    if get_origin(annotation) is Literal:
        return " or ".join(repr(a) for a in get_args(annotation))
    return {int: "an integer", float: "a number", str: "a string (in quotes)", bool: "true or false"}.get(
        annotation, str(annotation))


def _coerce(path: str, value: Any, annotation: Any, where: str) -> Any:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"{where}{path} = {value!r}: allowed values are {', '.join(repr(a) for a in args)}"
                + (_nearest(str(value), [str(a) for a in args]) if isinstance(value, str) else "")
            )
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}{path} = {value!r}: expected true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}{path} = {value!r}: expected an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}{path} = {value!r}: expected a number")
        if not np.isfinite(value):
            raise ConfigError(f"{where}{path} = {value!r}: expected a finite number")
        return float(value)
    if annotation is str:
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(f"{where}{path} = {value!r}: expected a string (in quotes)")
        return value
    if origin is tuple:
        item = args[0]
        if not isinstance(value, (list, tuple)):
            if item is str and isinstance(value, str):
                # (``--set attribution.regions=CHN,JPN``: a list of strings needs brackets and quotes)
                example = "[" + ", ".join(f'"{v.strip()}"' for v in value.split(",") if v.strip()) + "]"
                raise ConfigError(f"{where}{path} = {value!r}: expected a list of strings, e.g. {example} (on the "
                                  f"command line: --set '{path}={example}')")
            raise ConfigError(f"{where}{path} = {value!r}: expected a list, e.g. [1, 2]")
        return tuple(_coerce(f"{path}[{k}]", v, item, where) for k, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{path} = {value!r}: expected a table, e.g. {{ key = 1.0 }}")
        return {str(k): _coerce(f"{path}.{k}", v, args[1], where) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for a in args:
            try:
                return _coerce(path, value, a, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}{path} = {value!r}: expected " + " or ".join(_describe(a) for a in args))
    return value


def _build_section(name: str, cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[{name}] must be a table of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in valid:
            raise ConfigError(
                f"{where}unknown key {name}.{key}{_nearest(key, valid)} (valid keys in [{name}]: {', '.join(valid)})"
            )
        kwargs[key] = _coerce(f"{name}.{key}", value, hints[key], where)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any], source_path: str = "") -> Config:
    """Validate plain data (as parsed from TOML) into a :class:`Config`."""
    where = f"{source_path}: " if source_path else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}configuration data must be a dict of sections such as {{'time': {{'stop': "
                          f"'2010-02-01'}}}} (as parsed from TOML), got {type(data).__name__}")
    sections: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in _SECTIONS and name != "scenarios":
            raise ConfigError(
                f"{where}unknown section [{name}]{_nearest(name, list(_SECTIONS))} "
                f"(valid sections: {', '.join(_SECTIONS)})"
            )
        if name == "ensemble":
            from .ensemble import validate_ensemble

            sections[name] = validate_ensemble(raw, where) if raw != {} else {}
            continue
        if name == "scenarios":
            if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
                raise ConfigError(f"{where}scenarios must be an array of tables ([[scenarios]] name = ..., scale = ...)")
            for k, sc in enumerate(raw):
                for key in sc:
                    if key not in ("name", "scale"):
                        raise ConfigError(f"{where}unknown key scenarios[{k}].{key}{_nearest(key, ['name', 'scale'])} "
                                          "(valid keys: name, scale)")
                scale = sc.get("scale")
                if not isinstance(scale, dict) or not scale:
                    raise ConfigError(f"{where}scenarios[{k}].scale must be a table such as {{ CHN = 0.5, IND = 0.8 }}")
                for code, factor in scale.items():
                    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor >= 0:
                        raise ConfigError(f"{where}scenarios[{k}].scale.{code} = {factor!r}: expected a factor >= 0")
                if not isinstance(sc.get("name", ""), str):
                    raise ConfigError(f"{where}scenarios[{k}].name must be a string")
            sections[name] = tuple({"name": sc.get("name", ""), "scale": {c: float(f) for c, f in sc["scale"].items()}}
                                   for sc in raw)
            continue
        cls = typing.get_type_hints(Config)[name]
        sections[name] = _build_section(name, cls, raw, where)
    cfg = Config(**sections, source_path=source_path)
    validate(cfg)
    return cfg


def checked(cfg: Config) -> Config:
    """``cfg`` checked as a configuration file is (types, allowed values and :func:`validate`'s cross-field rules),
    as an equal :class:`Config`: a configuration built or changed in Python (``dataclasses.replace``) has skipped
    the checks of :func:`load_config`. Raises :class:`ConfigError` naming the key path."""
    return _with_load_warnings(config_from_dict(cfg.to_dict(), cfg.source_path), cfg)


def validate(cfg: Config) -> None:
    """Cross-field checks; raises :class:`ConfigError` naming the key path and the fix."""
    where = f"{cfg.source_path}: " if cfg.source_path else ""
    for section, default, choices in (("met", "synthetic", "'synthetic', 'uniform' or a NetCDF file or pattern"),
                                      ("emissions", "builtin", "'builtin', 'uniform', 'none' or a file"),
                                      ("regions", "natural_earth", "'natural_earth' or a GeoJSON or shapefile")):
        value = getattr(cfg, section).source
        if isinstance(value, tuple) and value and not all(v.strip() for v in value):  # (shown as the TOML list it was)
            raise ConfigError(f"{where}{section}.source = {list(value)!r}: entry {[v.strip() for v in value].index('')} is "
                              "empty; give a NetCDF file or pattern in each entry")
        if not (value if isinstance(value, tuple) else str(value).strip()):
            raise ConfigError(f"{where}{section}.source = {list(value) if isinstance(value, tuple) else value!r}: empty; "
                              f"give {choices}, or remove the key for the default ({default!r})")
    d = cfg.domain
    if not d.resolution_deg > 0:
        raise ConfigError(f"{where}domain.resolution_deg = {d.resolution_deg!r}: must be a positive number of degrees")
    if d.kind == "regional":
        if not d.lon_min_deg < d.lon_max_deg:
            hint = ""
            if -180.0 <= d.lon_max_deg < d.lon_min_deg <= 180.0:
                # (the way a domain across the 180th meridian is written in many tools: 150..-150)
                hint = (f"; for a domain that runs east from {d.lon_min_deg:g} across the 180th meridian to "
                        f"{d.lon_max_deg:g}, write domain.lon_max_deg = {d.lon_max_deg + 360.0:g} (longitudes above 180 "
                        f"are allowed; or lon_min_deg = {d.lon_min_deg - 360.0:g} with lon_max_deg = {d.lon_max_deg:g})")
            raise ConfigError(
                f"{where}domain.lon_min_deg = {d.lon_min_deg} must be less than domain.lon_max_deg = {d.lon_max_deg}"
                + hint
            )
        if not d.lat_min_deg < d.lat_max_deg:
            raise ConfigError(
                f"{where}domain.lat_min_deg = {d.lat_min_deg} must be less than domain.lat_max_deg = {d.lat_max_deg}"
            )
        if d.lat_min_deg < -90 or d.lat_max_deg > 90:
            raise ConfigError(f"{where}domain.lat_min_deg/lat_max_deg: latitudes must lie within -90..90 degrees")
        if d.lon_max_deg - d.lon_min_deg > 360:
            raise ConfigError(f"{where}domain.lon_min_deg/lon_max_deg: the domain spans more than 360 degrees")
        if d.lon_max_deg - d.lon_min_deg >= 360.0 - BAND_TOLERANCE_DEG and d.lat_min_deg <= -90 and d.lat_max_deg >= 90:
            raise ConfigError(
                f"{where}domain.kind = 'regional' with domain.lon_min_deg..lon_max_deg = {d.lon_min_deg:g}..{d.lon_max_deg:g} "
                f"(360 degrees) and domain.lat_min_deg..lat_max_deg = {d.lat_min_deg:g}..{d.lat_max_deg:g}: a regional "
                "domain around the whole globe from pole to pole has no open boundary; set domain.kind = \"global\" "
                "(or leave out a polar cap for a zonal band, periodic in longitude and open at its south and north "
                "edges)"
            )
    if d.kind in ("regional", "global"):
        for key, extent in zip(("lon", "lat"), d.extents_deg()):
            n = extent / d.resolution_deg
            if abs(n - round(n)) > 1e-6 or round(n) < 1:
                raise ConfigError(
                    f"{where}domain.resolution_deg = {d.resolution_deg}: the {key} extent {extent:g} degrees of the "
                    f"{d.kind} domain is not a whole number of cells; choose a resolution that divides the domain"
                )
    if d.kind == "box":
        if not -90.0 <= d.box_lat_deg <= 90.0:
            raise ConfigError(f"{where}domain.box_lat_deg = {d.box_lat_deg!r}: the box's centre latitude must lie "
                              "within -90..90 degrees north")
        if not -180.0 <= d.box_lon_deg <= 360.0:
            raise ConfigError(f"{where}domain.box_lon_deg = {d.box_lon_deg!r}: the box's centre longitude must lie "
                              "within -180..360 degrees east")
        if not d.resolution_deg <= 180.0:
            raise ConfigError(f"{where}domain.resolution_deg = {d.resolution_deg!r}: the box's size in degrees must "
                              "be at most 180")
    edges = d.layer_edges_m
    if len(edges) < 2 or edges[0] != 0.0 or any(b <= a for a, b in zip(edges[:-1], edges[1:])):
        raise ConfigError(
            f"{where}domain.layer_edges_m = {list(edges)}: need increasing heights in metres starting at 0, "
            "e.g. [0, 1000, 10000]"
        )
    if not 0.0 <= d.box_land_fraction <= 1.0:
        raise ConfigError(f"{where}domain.box_land_fraction = {d.box_land_fraction}: must lie within 0..1")
    t = cfg.time
    start, stop = parse_time(t.start, "time.start", where), parse_time(t.stop, "time.stop", where)
    if not stop > start:
        raise ConfigError(f"{where}time.stop = {t.stop!r} must be later than time.start = {t.start!r}")
    if not t.step_hours > 0:
        raise ConfigError(f"{where}time.step_hours = {t.step_hours!r}: must be a positive number of hours")
    if not t.met_update_hours >= t.step_hours:
        raise ConfigError(
            f"{where}time.met_update_hours = {t.met_update_hours!r}: must be at least time.step_hours = {t.step_hours}"
        )
    if not (np.isfinite(d.inflow_mixing_ratio) and d.inflow_mixing_ratio >= 0):
        raise ConfigError(f"{where}domain.inflow_mixing_ratio = {d.inflow_mixing_ratio!r}: must be a finite number >= 0 "
                          "(kg of chemical per kg of air)")
    if d.inflow_mixing_ratio >= MAX_INFLOW_MIXING_RATIO:
        raise ConfigError(f"{where}domain.inflow_mixing_ratio = {d.inflow_mixing_ratio!r}: must be below "
                          f"{MAX_INFLOW_MIXING_RATIO:g}; it is a mixing ratio, kg of chemical per kg of air (1e-13 is "
                          "about 120 pg m-3 in air of 1.2 kg m-3), not a concentration: divide pg m-3 by 1.2e15")
    if d.inflow_mixing_ratio > 0 and d.kind != "regional":
        raise ConfigError(f"{where}domain.inflow_mixing_ratio = {d.inflow_mixing_ratio!r}: a {d.kind} domain has no open "
                          "boundaries; set it for a regional domain only")
    p = cfg.processes
    for key in ("dry_deposition_velocity_m_s", "air_half_life_days", "soil_half_life_days", "vertical_diffusivity_m2_s"):
        value = getattr(p, key)
        if value < 0 or (key.endswith("days") and value == 0):
            raise ConfigError(f"{where}processes.{key} = {value!r}: must be positive")
    if p.vertical_diffusivity_m2_s > MAX_VERTICAL_DIFFUSIVITY_M2_S:
        raise ConfigError(
            f"{where}processes.vertical_diffusivity_m2_s = {p.vertical_diffusivity_m2_s!r}: at most "
            f"{MAX_VERTICAL_DIFFUSIVITY_M2_S:g} m2 s-1 (turbulent diffusivities in the atmosphere reach about 1e3 "
            "m2 s-1; far larger values, which make the cells' fate systems very stiff, are taken for a unit mistake)"
        )
    if not 0 < p.max_courant <= 1:
        raise ConfigError(f"{where}processes.max_courant = {p.max_courant!r}: must lie in (0, 1]")
    if cfg.spinup.years < 1:
        raise ConfigError(f"{where}spinup.years = {cfg.spinup.years!r}: must be >= 1 (the most model years of the spin-up)")
    if not 0 < cfg.spinup.tolerance < 1:
        raise ConfigError(f"{where}spinup.tolerance = {cfg.spinup.tolerance!r}: must lie within (0, 1), e.g. 1e-6")
    if cfg.output.checkpoint_every_months < 0:
        raise ConfigError(f"{where}output.checkpoint_every_months = {cfg.output.checkpoint_every_months!r}: must be >= 0")
    if cfg.domain.kind == "box" and cfg.met.source not in ("synthetic", "uniform"):
        raise ConfigError(f"{where}met.source = {cfg.met.source!r} with domain.kind = 'box': a single box runs with "
                          "uniform met (met.uniform_u_m_s, met.uniform_v_m_s; 15 degC, light rain), not a met file; "
                          "remove met.source or choose a gridded domain")
    if cfg.output.checkpoint_every_months > 0 and cfg.output.frequency == "run":
        raise ConfigError(f"{where}output.checkpoint_every_months = {cfg.output.checkpoint_every_months!r} with "
                          "output.frequency = 'run': checkpoints are written at the ends of output periods, and a "
                          "whole-run output has none before the run ends; use 'annual' or a finer output.frequency, "
                          "or set output.checkpoint_every_months = 0")
    if cfg.emissions.uniform_total_kg_yr < 0:
        raise ConfigError(f"{where}emissions.uniform_total_kg_yr = {cfg.emissions.uniform_total_kg_yr!r}: must be >= 0")
    if cfg.emissions.scale < 0:
        raise ConfigError(f"{where}emissions.scale = {cfg.emissions.scale!r}: emissions cannot be scaled negative")
    a = cfg.attribution
    for key in ("regions", "receptors"):
        codes = getattr(a, key)
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ConfigError(f"{where}attribution.{key} = {list(codes)}: {', '.join(map(repr, twice))} given more than "
                              "once; list each region once")
    if cfg.scenarios and a.tags == "none":
        raise ConfigError(f"{where}[[scenarios]] need a tagged run: set attribution.tags = 'countries' or 'list' "
                          "(scenarios are weighted sums of the source tags), or remove the [[scenarios]] tables")
    names = [scenario_name(sc, k) for k, sc in enumerate(cfg.scenarios)]
    for k, name in enumerate(names):
        problem = scenario_name_problem(name)
        if problem:
            raise ConfigError(f"{where}scenarios[{k}].name = {name!r}: {problem}")
        if name in names[:k]:
            raise ConfigError(f"{where}scenarios[{k}].name = {name!r}: scenarios[{names.index(name)}] has that name too "
                              "(an unnamed scenario k is called 'scenarioK'); give every scenario its own name")


def scenario_name(scenario: dict[str, Any], index: int) -> str:
    """The name of the ``index``-th (from 0) ``[[scenarios]]`` table: its ``name``, or ``scenario<index + 1>``; its
    results go to ``RUN_DIR/scenarios/<name>``."""
    return scenario.get("name") or f"scenario{index + 1}"


def scenario_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a scenario (``None``: it can). A scenario's results go to the folder
    ``RUN_DIR/scenarios/<name>``, so a name must be one folder name: a name with a path separator, or ``..``, would put
    them elsewhere (``..`` into the run directory itself, whose results ``--overwrite`` would then remove)."""
    if "/" in name or "\\" in name or name.startswith(".") or not name.strip():
        return ("a scenario's results go to RUN_DIR/scenarios/<name>, so its name must be one folder name, without "
                "'/' or '\\' and not starting with '.', e.g. 'chn_half'")
    return None


#: An ISO 8601 date or date-time of a four-digit year (``2020``, ``2020-01``, ``2020-01-01``, ``2020-01-01T06:00``,
#: ``2020-01-01 06:00:00``), in UTC: ``Z`` or a zero offset is accepted.
_ISO_TIME = re.compile(r"(\d{4}(?:-\d{2}(?:-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?)?)?)(Z|[+-]\d{2}:?\d{2})?")


def parse_time(text: str, key: str = "time", where: str = "") -> np.datetime64:
    """Parse an ISO 8601 date or date-time (UTC) into ``numpy.datetime64[s]``, naming ``key`` on failure."""
    expected = f"{where}{key} = {text!r}: expected an ISO 8601 date such as '2020-01-01' or '2020-01-01T06:00' (UTC)"
    match = _ISO_TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        # (numpy reads '' as NaT, and '20100101' as the year 20 100 101)
        raise ConfigError(expected)
    offset = match.group(2)
    if offset not in (None, "Z") and offset.strip("+-").replace(":", "") != "0000":
        raise ConfigError(f"{where}{key} = {text!r}: model times are UTC; give the time in UTC without the offset "
                          f"{offset}")
    try:
        return np.datetime64(match.group(1).replace(" ", "T"), "s")
    except ValueError:
        raise ConfigError(expected) from None


#: The keys whose values name input files (a path, a glob such as ``'era5/*.nc'``, or for ``met.source`` a list of
#: these), with the values that name a built-in input instead ("" names none). A relative path in a configuration
#: file is read from the file's folder (:func:`load_config`). ``output.directory`` is not among them: like ``--out``,
#: it is where the results go, from the working directory.
PATH_KEYS: dict[str, tuple[str, ...]] = {
    "met.source": ("synthetic", "uniform"),
    "emissions.source": ("builtin", "uniform", "none"),
    "emissions.sector_profiles": (),
    "chemical.file": (),
    "regions.source": ("natural_earth",),
}


def _is_pattern(path: str) -> bool:
    return any(c in path for c in "*?[")


def _found(path: str) -> bool:
    """Whether a path names an existing file or folder (a glob: matches one)."""
    import glob

    return bool(glob.glob(path)) if _is_pattern(path) else os.path.exists(path)


def _path_entries(key: str, value: Any) -> list[tuple[int | None, str]]:
    """The file paths in ``value`` of path key ``key`` (index in a list, or ``None``) that are not built-in choices."""
    builtin = PATH_KEYS[key]
    if isinstance(value, (list, tuple)) and not all(isinstance(v, str) and v.strip() for v in value):
        return []  # (validation refuses the list as it was written)
    items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
    return [(k, v) for k, v in items if isinstance(v, str) and v.strip() and v not in builtin]


def _map_paths(data: dict[str, Any], keys: Any, change: Any) -> None:
    """Replace in place every file path of the path keys ``keys`` in plain configuration ``data`` by
    ``change(key, path)`` (values of another type are left for validation to refuse)."""
    for key in keys:
        section, name = key.split(".")
        table = data.get(section)
        if not isinstance(table, dict) or name not in table:
            continue
        value = table[name]
        for k, v in _path_entries(key, value):
            new = change(key, v)
            if k is None:
                table[name] = new
            else:
                value = list(value)
                value[k] = new
                table[name] = value


def _from_file_folder(data: dict[str, Any], config_file: Path) -> list[tuple[str, str]]:
    """Make the relative file paths of a configuration file's ``data`` absolute from the file's folder; a path found
    there only from the working directory (how paths were read before) is taken from there, with a warning. Returns
    the path key and text of each warning (for :attr:`Config.load_warnings`)."""
    import warnings

    folder = os.path.abspath(config_file.parent)
    given: list[tuple[str, str]] = []

    def change(key: str, path: str) -> str:
        if os.path.isabs(os.path.expanduser(path)):
            return path
        here = os.path.normpath(os.path.join(folder, path))
        if _found(here) or not _found(path):
            return here
        there = os.path.abspath(path)
        given.append((key, f"{config_file}: {key} = {path!r} is read from the working directory ({there}): it is not in "
                     f"the configuration file's folder ({here}), where the paths of a configuration file are read "
                     f"from; write it relative to the configuration file, as {os.path.relpath(there, folder)!r}, or "
                     "as an absolute path"))
        warnings.warn(given[-1][1], stacklevel=3)
        return there

    _map_paths(data, PATH_KEYS, change)
    return given


def absolute_paths(cfg: Config) -> Config:
    """``cfg`` with the relative file paths of its :data:`PATH_KEYS` made absolute from the working directory, where
    they are read (those of :func:`load_config` already are): what a run records, so that its ``config.toml`` runs
    the same from any working directory."""
    data = cfg.to_dict()
    _map_paths(data, PATH_KEYS, _from_working_directory)
    return cfg if data == cfg.to_dict() else _with_load_warnings(config_from_dict(data, cfg.source_path), cfg)


def _from_working_directory(key: str, path: str) -> str:
    return path if os.path.isabs(os.path.expanduser(path)) else os.path.abspath(path)


def absolute_path_value(key: str, value: Any) -> Any:
    """The value of a path key (``"met.source"``) with its relative file paths made absolute from the working
    directory (other keys and values unchanged): how a configuration recorded before paths were read from the
    configuration file's folder, such as a checkpoint's, compares with one recorded now."""
    if key not in PATH_KEYS:
        return value
    section, name = key.split(".")
    data = {section: {name: value}}
    _map_paths(data, [key], _from_working_directory)
    return data[section][name]


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read and validate a TOML configuration (``None``: the built-in default), applying ``overrides``.

    Relative file paths in the file (the keys of :data:`PATH_KEYS`: met, emission, sector profile, chemical and
    region files) are read from the file's folder, and those of ``overrides`` (``--set``) from the working
    directory; both are made absolute, so that the configuration a run saves runs the same from anywhere. A path
    that is not in the file's folder but is in the working directory (how paths were read before) is taken from
    there, with a warning that says how to write it; the configuration keeps that warning in
    :attr:`Config.load_warnings` (unless ``overrides`` replace the path), which a run writes to its
    ``warnings.txt``."""
    given: list[tuple[str, str]] = []
    if path is None:
        data: dict[str, Any] = {}
        source = ""
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"configuration file {str(p)!r} does not exist; give the path of a .toml file")
        from .io.errors import InputError, read_utf8_text

        try:
            data = tomllib.loads(read_utf8_text(p, "TOML"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML ({exc}); fix the syntax at that line") from None
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        source = str(p)
        given = _from_file_folder(data, p)
    apply_overrides(data, overrides or [])
    keys = {".".join(_key_path(item.split("=", 1)[0])[:2]) for item in overrides or [] if isinstance(item, str)}
    _map_paths(data, [k for k in PATH_KEYS if k in keys], _from_working_directory)
    cfg = config_from_dict(data, source)
    kept = tuple(text for key, text in given if key not in keys)
    return dataclasses.replace(cfg, load_warnings=kept) if kept else cfg


def _key_path(path: str) -> list[str]:
    """The keys of a ``--set`` key path: split at the dots, except inside a quoted key as TOML reads it
    (``ensemble.parameters."emissions.scale".high``); an empty list if the path cannot be read."""
    path = path.strip()
    if '"' not in path and "'" not in path:
        return path.split(".")
    try:
        node: Any = tomllib.loads(f"{path} = 0")
    except tomllib.TOMLDecodeError:
        return []
    keys = []
    while isinstance(node, dict):
        key = next(iter(node))
        keys.append(key)
        node = node[key]
    return keys


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> None:
    """Apply ``section.key=value`` strings to plain configuration data in place."""
    if isinstance(overrides, str):
        raise ConfigError(f"overrides {overrides!r}: expected a list of section.key=value strings, e.g. "
                          f"[{overrides!r}]")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set time.stop=2020-02-01")
        path, text = item.split("=", 1)
        keys = _key_path(path)
        if len(keys) < 2 or not all(keys):
            raise ConfigError(f"--set {item!r}: the key must be section.key, e.g. domain.resolution_deg")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {k!r} is not a section")
        node[keys[-1]] = value


def dumps_toml(data: dict[str, Any]) -> str:
    """Serialise plain configuration data (tables of scalars, lists and inline tables) as TOML."""
    lines: list[str] = []
    arrays = {k: v for k, v in data.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
    for section, body in data.items():
        if section in arrays:
            continue
        if isinstance(body, dict):
            lines.append(f"[{section}]")
            for key, value in body.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
    for section, items in arrays.items():
        for body in items:
            lines.append(f"[[{section}]]")
            for key, value in body.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + " }"
    raise ConfigError(f"cannot write {value!r} as TOML")
