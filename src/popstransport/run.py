"""Assembly of a run from a configuration: grid, forcing, emissions, processes, model, simulation, writers.

This is the public entry point behind ``popstransport run``: :func:`build_model` turns a :class:`Config` into a
ready :class:`Model`, :func:`run` executes it into a run directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .attribution import AttributionError, TagSet, border_faces, border_fraction, make_tags, name_list, untagged
from .config import ChemicalConfig, Config, ConfigError, ProcessesConfig, parse_time
from .constants import SECONDS_PER_DAY, SECONDS_PER_YEAR
from .grid import AirLayers, LatLonGrid
from .massflux import BalancedMassFluxBuilder
from .model import Model
from .processes.advection import HorizontalAdvection
from .processes.emission import GriddedEmission
from .processes.simple import ConstantVelocityDryDeposition, FirstOrderDegradation
from .processes.vertical import TurbulentMixing, VerticalExchange
from .simulation import Simulation

if TYPE_CHECKING:
    from .chemicals.database import ChemicalProperties
    from .io.emissions import EmissionInventory

#: Name of the extra tag of a distributed batch that carries every source outside the batch.
REST_TAG = "_REST_OF_RUN"


def build_grid(cfg: Config) -> LatLonGrid:
    """The model grid described by ``[domain]``."""
    d = cfg.domain
    layers = AirLayers(edges_m=tuple(float(e) for e in d.layer_edges_m))
    if d.kind == "regional":
        # (a regional domain of 360 degrees is a zonal band, periodic in longitude: LatLonGrid.is_band)
        return LatLonGrid.regional(d.lon_min_deg, d.lon_max_deg, d.lat_min_deg, d.lat_max_deg, d.resolution_deg, layers)
    if d.kind == "global":
        return LatLonGrid.global_grid(d.resolution_deg, layers=layers)
    return LatLonGrid.box(d.box_lon_deg, d.box_lat_deg, d.resolution_deg, layers)


def build_met(cfg: Config, grid: LatLonGrid):
    """The forcing provider described by ``[met]``."""
    m = cfg.met
    built_in = m.source in ("uniform", "synthetic") or grid.topology == "box"
    unused = [f"met.{k} = {getattr(m, k)!r}" for k in ("kind", "time_rule") if getattr(m, k) != "auto"]
    if built_in and unused:
        import warnings

        warnings.warn(f"{', '.join(unused)} describe met files and are not used with the built-in met "
                      f"(met.source = {m.source!r}{', a box domain' if grid.topology == 'box' else ''})", stacklevel=2)
    if m.source == "uniform" or grid.topology == "box":
        from .io.met.simple import UniformMet

        land = cfg.domain.box_land_fraction if grid.topology == "box" else 1.0
        return UniformMet(grid, m.uniform_u_m_s, m.uniform_v_m_s, land_fraction=land)
    if m.source == "synthetic":
        from .io.met.synthetic import SyntheticClimatology

        met = SyntheticClimatology(grid)
        # (its land fraction, from the Natural Earth countries, is read now rather than at the first step, so that
        # the outputs, whose attributes are made before it, name that file among the inputs the run used)
        met.land_fraction  # noqa: B018
        return met
    from .io.met.readers import open_met

    return open_met(list(m.source) if isinstance(m.source, tuple) else m.source, grid, kind=m.kind,
                    time_rule=None if m.time_rule == "auto" else m.time_rule)


class WithOH:
    """Adds the built-in OH climatology (:mod:`popstransport.processes.oh`) to forcing that lacks OH."""

    def __init__(self, met, grid: LatLonGrid):
        self.met = met
        self.grid = grid

    def fields_at(self, time: np.datetime64) -> dict[str, np.ndarray]:
        from .processes.oh import oh_concentration_field

        fields = dict(self.met.fields_at(time))
        if "oh_concentration_molec_cm3" not in fields:
            t = np.datetime64(time, "s")
            day = float((t - np.datetime64(t, "Y").astype("datetime64[s]")) / np.timedelta64(1, "D"))
            fields["oh_concentration_molec_cm3"] = oh_concentration_field(self.grid, day)
        return fields

    def __getattr__(self, name: str):
        return getattr(self.met, name)


@dataclass
class EmissionField:
    """Time-independent gridded emission rates (kg s-1 per cell); with ``per_year`` the rates of a common year of an
    amount per year, so that a leap year's 366 days emit the same amount (``365 / 366`` of the rates)."""

    rates_kg_s_field: np.ndarray
    per_year: bool = False

    def __call__(self, time: np.datetime64) -> np.ndarray:
        from .io.emissions import per_year_scale

        if self.per_year:
            return self.rates_kg_s_field * per_year_scale(int(str(np.datetime64(time, "Y"))))
        return self.rates_kg_s_field


def build_emission_field(cfg: Config, grid: LatLonGrid,
                         chemical: ChemicalProperties | None = None) -> Callable[[np.datetime64], np.ndarray]:
    """The gridded emission rate provider described by ``[emissions]`` (see :func:`build_emissions`)."""
    return build_emissions(cfg, grid, chemical)[0]


def build_emissions(cfg: Config, grid: LatLonGrid, chemical: ChemicalProperties | None = None
                    ) -> tuple[Callable[[np.datetime64], np.ndarray], EmissionInventory | None]:
    """The emission rate provider described by ``[emissions]`` and the inventory behind it (``None`` for
    ``uniform`` and ``none``), with ``emissions.scale`` applied (here, once, for every source).

    The provider gives ``time -> (J, I)`` kg s-1 into the lowest air layer (``uniform``, ``none``), or for an
    inventory ``time -> (L, J, I)`` into every air layer, by emission height. ``chemical`` (the run's substance,
    when it has one) selects the rows of a national-total file and converts amounts in mol."""
    e = cfg.emissions
    if e.between_years != "refuse" and e.source in ("none", "uniform"):
        raise ConfigError(f"{_where(cfg)}emissions.between_years = {e.between_years!r} interpolates between the years of "
                          f"an inventory, and emissions.source = {e.source!r} has none; remove emissions.between_years, "
                          "or give an inventory file with years in emissions.source")
    if e.source == "none":
        return EmissionField(np.zeros(grid.shape)), None
    if e.source == "uniform":
        area = grid.cell_area_m2
        return EmissionField(e.scale * e.uniform_total_kg_yr / SECONDS_PER_YEAR * area / area.sum(), per_year=True), None
    if e.source == "builtin" and grid.topology == "box":
        raise ConfigError(
            f"{_where(cfg)}emissions.source = 'builtin' needs a gridded domain; in box mode use emissions.source = 'uniform' "
            "with emissions.uniform_total_kg_yr"
        )
    from .io.emissions import open_emissions

    def inventory_of(year: int | None) -> EmissionInventory:
        return open_emissions(e if year is None else dataclasses.replace(e, year=year), grid,
                              substance=cfg.chemical.name if chemical is not None else None,
                              molar_mass_g_mol=None if chemical is None else chemical.molar_mass_kg_mol * 1e3)

    if e.year == "each":
        from .io.errors import InputError, MissingYearError

        years = run_years(cfg)
        inventories = {}
        for y in years:
            try:
                inventories[y] = inventory_of(y)
            except MissingYearError as exc:
                # (the file's own message asks to choose one of its years, which "each" does not do)
                available = "" if not exc.available else f" ({exc.available[0]:g}..{exc.available[-1]:g})"
                fix = (f"end the run within the inventory's years{available} (it is interpolated between them, not "
                       "beyond), or set emissions.year to one of them" if e.source == "builtin" or e.between_years ==
                       "linear" else "give the file every year of the run (a file's years are not interpolated unless "
                       "emissions.between_years = 'linear'), or set emissions.year to one of its years")
                field = exc.field if exc.field.startswith("year ") else f"{exc.field}:"
                raise InputError(exc.source, "emissions.year = 'each'", (
                    f"takes every calendar year of the run ({years[0]}..{years[-1]}) from the inventory, and {field} "
                    f"{exc.problem}"), fix) from exc
        yearly = YearlyEmissions(inventories)
        return yearly, yearly.first
    inventory = inventory_of(None)
    return inventory.rates_by_layer_kg_s, inventory


def interpolated_years(emissions: object) -> dict[int | None, tuple[float, float]]:
    """The years of an emission provider (:class:`YearlyEmissions`, keyed by calendar year) or of an
    :class:`~popstransport.io.emissions.EmissionInventory` (key ``None``) whose figures are interpolated between two
    inventory years, with those two years (``emissions.between_years = "linear"``, and the built-in inventory)."""
    inventories = (emissions.inventories if isinstance(emissions, YearlyEmissions) else
                   {None: emissions} if emissions is not None else {})
    return {y: inv.interpolated_from for y, inv in inventories.items()
            if getattr(inv, "interpolated_from", None) is not None}


def describe_interpolated_years(emissions: object, year: int | None = None) -> str:
    """``"2014 = 0.6 x 2010 + 0.4 x 2020; 2015 = 0.5 x 2010 + 0.5 x 2020"`` for :func:`interpolated_years`
    (``year``: the calendar year of a single inventory), or ``""`` when no year is interpolated."""
    out = []
    for y, (y0, y1) in interpolated_years(emissions).items():
        y = y if y is not None else year
        w = (y - y0) / (y1 - y0)
        out.append(f"{y} = {1 - w:.4g} x {y0:g} + {w:.4g} x {y1:g}")
    return "; ".join(out)


def run_years(cfg: Config) -> list[int]:
    """The calendar years that ``[time]`` covers (the year of ``stop`` only when the run goes past its start)."""
    start = parse_time(cfg.time.start, "time.start")
    last = parse_time(cfg.time.stop, "time.stop") - np.timedelta64(1, "s")
    first_year = int(str(np.datetime64(start, "Y")))
    return list(range(first_year, max(first_year, int(str(np.datetime64(last, "Y")))) + 1))


class YearlyEmissions:
    """Emission rates that follow an inventory year by year (``emissions.year = "each"``): a time takes the
    inventory of its calendar year, or of the nearest year held (a spin-up year past the run's end). With
    ``emissions.between_years = "linear"`` the inventory of a calendar year between two of the file's years is
    their linear interpolation (:func:`popstransport.io.emissions.interpolate_inventories`), built once, when the
    run is assembled, from the files alone: a resumed run rebuilds the same figures bit for bit.

    Called as ``time -> (L, J, I)`` kg s-1 like :meth:`EmissionInventory.rates_by_layer_kg_s`.
    """

    def __init__(self, inventories: dict[int, EmissionInventory]):
        if not inventories:
            raise ValueError("no inventory year")
        self.inventories = dict(sorted(inventories.items()))
        self.years = np.array(list(self.inventories), dtype=np.int64)

    @property
    def first(self) -> EmissionInventory:
        """The inventory of the first year (the run's start)."""
        return self.inventories[int(self.years[0])]

    def year_of(self, time: np.datetime64) -> int:
        """The inventory year that applies at ``time``."""
        y = int(str(np.datetime64(time, "Y")))
        return int(self.years[np.argmin(np.abs(self.years - y))])

    def inventory_at(self, time: np.datetime64) -> EmissionInventory:
        return self.inventories[self.year_of(time)]

    def __call__(self, time: np.datetime64) -> np.ndarray:
        return self.inventory_at(time).rates_by_layer_kg_s(time)


def emission_provider(setup: RunSetup) -> object:
    """The run's emissions year by year (:class:`YearlyEmissions`) or its one inventory (``None`` for ``uniform`` and
    ``none``)."""
    yearly = getattr(setup.model.emissions, "rates_at", None)
    return yearly if isinstance(yearly, YearlyEmissions) else setup.inventory


@dataclass
class RunSetup:
    """A model ready to run, with the source tags and region masks of its attribution (if any)."""

    model: Model
    tags: TagSet
    region_codes: list[str]
    region_fraction: np.ndarray | None
    #: the emission inventory behind the model's emissions (the start year's), ``None`` for ``uniform``/``none``
    inventory: EmissionInventory | None = None
    #: the whole area (m2) of every region of ``region_codes`` on the sphere, its parts outside the grid included
    region_area_m2: np.ndarray | None = None


def _where(cfg: Config) -> str:
    """The configuration file that an error about one of its keys begins with (nothing for the built-in default)."""
    return f"{cfg.source_path}: " if cfg.source_path else ""


def _territory_hints(codes: list[str], domain_codes: list[str], cfg: Config | None = None) -> str:
    """What the error about region codes adds for territories that Natural Earth draws inside another country (of
    ``domain_codes``, the regions of the domain, or outside the domain too), and (with ``cfg`` of Natural Earth
    regions) for codes that are no Natural Earth country at all, such as Tokelau's, which the error otherwise calls
    not regions of the domain as if the domain left them out."""
    from .io.regions import country_codes, territory_hint

    hints = [h for h in (territory_hint(c, domain_codes) for c in codes) if h]
    if cfg is not None and cfg.regions.source == "natural_earth":
        known = country_codes()
        unknown = [c for c in codes if c not in known and not territory_hint(c)]
        if unknown:
            hints.append(f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not among Natural "
                         "Earth's countries, whatever the domain (popstransport.io.regions.country_codes() lists their "
                         "ISO 3166 alpha-3 codes, in capitals); for a territory it does not draw, give regions from a "
                         "file (regions.source)")
    elif cfg is not None and codes:
        from .io.regions import country_codes

        known = country_codes()
        countries = [c for c in codes if c in known]
        if countries:
            hints.append(f"{', '.join(map(repr, countries))} {'is a' if len(countries) == 1 else 'are'} Natural Earth "
                         f"countr{'y' if len(countries) == 1 else 'ies'}, but the regions come from {cfg.regions.source} "
                         f"(attribute {cfg.regions.name_attribute!r}) and the two sets cannot be mixed: add the "
                         "countries to that file as features named by their codes (their outlines are in "
                         "popstransport.io.regions.natural_earth_countries()), disjoint from its other regions")
    return f"; {'; '.join(hints)}" if hints else ""


def build_regions(cfg: Config, grid: LatLonGrid):
    """Region masks described by ``[regions]`` (Natural Earth countries or a user file)."""
    from .io.regions import RegionMasks

    r = cfg.regions
    codes = list(r.codes) or None
    if r.source == "natural_earth":
        return RegionMasks.for_countries(grid, codes=codes)
    if not r.name_attribute:
        raise ConfigError(f"{_where(cfg)}regions.source = {r.source!r} needs regions.name_attribute (the attribute "
                          "holding names)")
    masks = RegionMasks.from_file(r.source, r.name_attribute, grid)
    unknown = [c for c in codes or () if c not in masks.codes]
    if unknown:
        raise ConfigError(f"{_where(cfg)}regions.codes = {list(codes)}: {', '.join(map(repr, unknown))} not among the regions "
                          f"of {r.source} (attribute {r.name_attribute!r}: {', '.join(masks.codes)}) that lie in the "
                          f"domain ({grid.describe()}); list some of these, widen the domain to hold the others (a "
                          "region of the file outside the domain is not among them), or leave regions.codes empty for "
                          "all")
    return masks.select(codes) if codes else masks


def file_region_emission(cfg: Config, grid: LatLonGrid, codes: list[str], country_kg_s: dict[str, np.ndarray],
                         point_sources: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The emission ``(J, I)`` kg s-1 of each region ``codes`` of a region file from an inventory of national totals
    (``country_kg_s``, each country's emission by cell, spread evenly over its part of a cell):
    ``E_r = sum_c E_c * g_rc / f_c``, with ``g_rc`` the fraction of the cell in both the region and country ``c`` and
    ``f_c`` the country's fraction of the cell (:func:`popstransport.io.regions.file_region_country_fractions`).
    The key ``""`` holds the rest of every cell's emission (outside the regions, or at sea), so that the values add
    up to the inventory; a region's tag then emits its countries' emission inside it, and none of a neighbouring
    country's emission in the cells on its border (split by the cells' area, a province of China west of 100 E
    emitted 31.4 kg/yr of the built-in inventory on a 5-degree grid instead of the 22.8 of China's inside it).

    With ``point_sources`` (an inventory of point sources: ``lon``, ``lat``, ``j``, ``i``, ``kg_s``), each source
    belongs to the region that holds the point, whatever the regions' shares of its cell."""
    from .io.regions import RegionMasks, file_region_country_fractions, file_regions_of_points

    total = np.sum(list(country_kg_s.values()), axis=0) if country_kg_s else np.zeros(grid.shape)
    out = {r: np.zeros(grid.shape) for r in codes}
    if point_sources is not None:
        held = file_regions_of_points(cfg.regions.source, cfg.regions.name_attribute, point_sources["lon"],
                                      point_sources["lat"])
        for r, j, i, kg_s in zip(held, point_sources["j"], point_sources["i"], point_sources["kg_s"]):
            if r in out:
                out[r][j, i] += kg_s
    else:
        countries = RegionMasks.for_countries(grid)
        pairs = file_region_country_fractions(cfg.regions.source, cfg.regions.name_attribute, grid,
                                              [c for c in country_kg_s if c in countries.codes])
        for (r, c), g in pairs.items():
            if r in out:
                f_c = countries.fraction[countries.index(c)]
                share = np.divide(g, f_c, out=np.zeros(grid.shape), where=f_c > 0)
                out[r] += country_kg_s[c] * np.clip(share, 0.0, 1.0)
    out[""] = np.clip(total - np.sum(list(out.values()), axis=0), 0.0, None)
    return out


def receptor_regions(cfg: Config, setup: RunSetup) -> tuple[list[str], np.ndarray]:
    """The receptor regions of a tagged run and their area fractions ``(R, J, I)``: ``attribution.receptors`` in
    that order, or every region of the domain."""
    codes, fraction = setup.region_codes, setup.region_fraction
    wanted = cfg.attribution.receptors
    if not wanted:
        return _covered(codes, fraction, "regions.codes", cfg, setup)
    missing = [r for r in wanted if r not in codes]
    if missing:
        raise ConfigError(f"{_where(cfg)}attribution.receptors {missing} are not regions of the domain; the regions are "
                          f"{codes}" + _territory_hints(missing, codes, cfg))
    idx = [codes.index(r) for r in wanted]
    return _covered([codes[i] for i in idx], fraction[idx], "attribution.receptors", cfg, setup)


def receptor_areas(setup: RunSetup, codes: list[str], fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The area (m2) of each receptor of ``codes`` (area fractions ``fraction``, ``(R, J, I)``) in the domain, over
    which its deposition is summed, and its whole area on the sphere, its parts outside the domain included
    (``None`` when the region set does not give it)."""
    inside = np.einsum("rji,ji->r", fraction, setup.model.grid.cell_area_m2)
    if setup.region_area_m2 is None:
        return inside, None
    return inside, np.array([setup.region_area_m2[setup.region_codes.index(c)] for c in codes], dtype=float)


def _covered(codes: list[str], fraction: np.ndarray, key: str, cfg: Config, setup: RunSetup
             ) -> tuple[list[str], np.ndarray]:
    """``codes`` and ``fraction`` when every region covers part of a cell of the grid; otherwise a
    :class:`ConfigError` naming ``key`` (a country of ``regions.codes`` outside the domain has an all-zero mask, and
    as a receptor it would get a row of zeros, as if nothing deposited there)."""
    empty = [c for c, f in zip(codes, fraction) if not np.any(f > 0)]
    if empty:
        raise ConfigError(f"{_where(cfg)}{key}: {empty} cover no part of the domain ({setup.model.grid.describe()}), so "
                          "their deposition would be a row of zeros; widen the domain to hold them (a domain across the "
                          f"180th meridian runs past 180, e.g. 150 to 210), or remove them from {key}")
    return codes, fraction


def tracked_faces(cfg: Config, setup: RunSetup) -> tuple[np.ndarray, np.ndarray] | bool:
    """The faces whose chemical mass a tagged run accumulates: with ``attribution.border_fluxes``, those on the
    borders of the receptor regions (:func:`popstransport.attribution.border_faces`; no other face enters the
    border-flux matrices), otherwise none (False)."""
    if not cfg.attribution.border_fluxes:
        return False
    fraction = receptor_regions(cfg, setup)[1]
    return border_faces(border_fraction(fraction), setup.model.grid.is_periodic)


def build_chemical(cfg: Config) -> ChemicalProperties:
    """The substance described by ``[chemical]`` (name, user file and overrides), as the multimedia fate uses it.

    Raises :class:`ConfigError` naming the key when the file is missing or a property (given or overridden) is
    refused, e.g. a half-life that is not positive."""
    from .chemicals import ChemicalError, get_chemical

    c = cfg.chemical
    if c.file and not Path(c.file).is_file():
        raise ConfigError(f"{_where(cfg)}chemical.file = {c.file!r}: no such file; give the path of a substance properties file "
                          "(see `popstransport chemicals` for the columns) or remove the key")
    try:
        return get_chemical(c.name, dict(c.overrides) or None, files=(c.file,) if c.file else ())
    except ChemicalError as exc:
        where = f"{_where(cfg)}chemical.name = {c.name!r}" + (f" (with chemical.file = {c.file!r})" if c.file else "")
        raise ConfigError(f"{where}: {exc}") from None


def build_model(cfg: Config) -> Model:
    """Assemble the model described by ``cfg``."""
    return build_run(cfg).model


def build_run(cfg: Config, tag_subset: list[int] | None = None) -> RunSetup:
    """Assemble the model, tags and region masks described by ``cfg``.

    ``tag_subset`` keeps only these tag indices (a batch of a distributed run); the model is linear, so batches
    of tags evolve independently and add up to the whole.
    """
    grid = build_grid(cfg)
    met = build_met(cfg, grid)
    p = cfg.processes
    surface = ("soil",)
    if p.fate == "simple":
        half = {f"air_{k}": p.air_half_life_days * SECONDS_PER_DAY for k in range(grid.nlayer)}
        half["soil"] = p.soil_half_life_days * SECONDS_PER_DAY
        fate = [FirstOrderDegradation(half), ConstantVelocityDryDeposition(p.dry_deposition_velocity_m_s, "soil")]
        chemical = None
        c = cfg.chemical
        if c.name != ChemicalConfig.name or c.overrides or c.file:
            import warnings

            warnings.warn("processes.fate = 'simple' uses no substance properties: chemical.name, chemical.overrides "
                          "and chemical.file are not used (set processes.fate = 'multimedia' to use them)", stacklevel=2)
    else:
        from .processes.exchange import SurfaceParameters
        from .processes.fate_box import default_fate_processes

        simple_keys = ("dry_deposition_velocity_m_s", "air_half_life_days", "soil_half_life_days")
        changed = [k for k in simple_keys if getattr(p, k) != getattr(ProcessesConfig, k)]
        if changed:
            import warnings

            warnings.warn(f"processes.{', processes.'.join(changed)} set the simple reference chain only and are not "
                          "used by processes.fate = 'multimedia', which takes degradation and deposition from the "
                          "chemical's properties (change those with chemical.overrides, e.g. { half_life_air = 1000 })",
                          stacklevel=2)
        chemical = build_chemical(cfg)
        surface = ("vegetation", "soil", "ocean")
        fate = default_fate_processes()
        met = WithOH(met, grid)
    field, inventory = build_emissions(cfg, grid, chemical)
    a = cfg.attribution
    codes: list[str] = []
    fraction = None
    region_area = None
    #: each inventory year's tag shares ``(T, J, I)`` (``emissions.year = "each"`` in a tagged run)
    yearly_weights: dict[int, np.ndarray] | None = None
    if a.tags == "none":
        tags = untagged(grid.shape)
    else:
        masks = build_regions(cfg, grid)
        codes, fraction, region_area = list(masks.codes), masks.fraction, masks.region_area_m2
        start = parse_time(cfg.time.start, "time.start")

        def tags_of(inv: EmissionInventory | None, t: np.datetime64, mode: str, regions: tuple[str, ...]) -> TagSet:
            # an inventory of national totals on the Natural Earth countries: tags by each country's own emission
            by_country = None
            if inv is not None and inv.region_rates_kg_s is not None:
                by_country = (inv.region_rates_kg_s if cfg.regions.source == "natural_earth"
                              else file_region_emission(cfg, grid, codes, inv.region_rates_kg_s, inv.point_sources))
            emitted = inv.rates_kg_s(t) if inv is not None else field(t)
            return make_tags(codes, fraction, emitted, mode=mode, regions=regions, region_emission_kg_s=by_country,
                             boundary=cfg.domain.inflow_mixing_ratio > 0)

        try:
            if isinstance(field, YearlyEmissions):
                # one tag set for every year (the regions that emit in any of them), with each year's shares
                each = {y: tags_of(inv, np.datetime64(f"{y}-01-01", "s"), a.tags, a.regions)
                        for y, inv in field.inventories.items()}
                names = tuple(c for c in codes if any(c in t.names for t in each.values()))
                each = {y: tags_of(inv, np.datetime64(f"{y}-01-01", "s"), "list", names)
                        for y, inv in field.inventories.items()}
                tags = each[field.year_of(start)]
                yearly_weights = {y: t.emission_weights for y, t in each.items()}
            else:
                tags = tags_of(inventory, start, a.tags, a.regions)
        except AttributionError as exc:
            raise ConfigError(f"{_where(cfg)}{exc}" + _territory_hints([r for r in a.regions if r not in codes], codes,
                                                                          cfg)) from None
    if tag_subset is not None:
        # a batch carries its own tags plus one REST tag holding every other source, so that the sum over the
        # tags of the batch is the whole run: the limited advection then splits the same total fluxes as in the
        # serial run and every batch tag evolves exactly as there (REST is dropped from the batch's results)
        idx = list(tag_subset)

        def batch_weights(all_weights: np.ndarray) -> np.ndarray:
            weights = all_weights[idx]
            rest = np.clip(1.0 - weights.sum(axis=0), 0.0, 1.0)
            return np.ascontiguousarray(np.concatenate([weights, rest[None]]))

        # (REST carries the inflow through open boundaries when BOUNDARY is another batch's)
        rest_boundary = len(idx) if tags.boundary_tag >= 0 else -1
        tags = TagSet(tuple(tags.names[i] for i in idx) + (REST_TAG,), batch_weights(tags.emission_weights),
                      idx.index(tags.boundary_tag) if tags.boundary_tag in idx else rest_boundary,
                      idx.index(tags.initial_tag) if tags.initial_tag in idx else -1)
        if yearly_weights is not None:
            yearly_weights = {y: batch_weights(w) for y, w in yearly_weights.items()}
    # (the field carries emissions.scale already: scaling here too would apply it twice)
    weights_at = None if yearly_weights is None else (lambda t: yearly_weights[field.year_of(t)])
    emissions = GriddedEmission(field, grid.nlayer, len(surface), tag_weights=tags.emission_weights,
                                tag_weights_at=weights_at)
    box = grid.topology == "box"
    if grid.nlayer >= 2:
        fate = [*fate, TurbulentMixing(p.vertical_diffusivity_m2_s)]
    model = Model(
        grid,
        fate_processes=fate,
        met=met,
        emissions=emissions,
        mass_flux_builder=None if box else BalancedMassFluxBuilder(),
        advection=None if box else HorizontalAdvection(
            scheme=p.advection_scheme, max_courant=p.max_courant,
            # (clean air as a plain number: the same for any number of tags, and kept between calls)
            boundary_mixing_ratio=(tags.boundary_mixing_ratio(cfg.domain.inflow_mixing_ratio)
                                   if cfg.domain.inflow_mixing_ratio > 0 else 0.0)),
        # (the turbulent mixing between layers is solved with the fate of every cell; the vertical exchange keeps
        # the diagnosed vertical air-mass flux)
        vertical=None if grid.nlayer < 2 else VerticalExchange(0.0),
        surface_compartments=surface,
        tags=tags.names,
        chemical=chemical,
        surface_parameters=SurfaceParameters() if p.fate == "multimedia" else None,
        state_dtype=np.float32 if p.state_precision == "float32" else np.float64,
    )
    return RunSetup(model, tags, codes, fraction, inventory, region_area)


def results_configuration(cfg: Config) -> str:
    """Everything in the configuration that changes results (not the output directory, overwrite flag or institution), and the
    SHA-256 of every input file it names (table ``[input_files]``), as TOML: the tag of a run's checkpoints, so that
    a refused ``--resume`` can name the keys, or the files, that differ."""
    from .config import _toml_value
    from .io.writers import file_sha256

    neutral = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, directory="", overwrite=False,
                                                                  institution=""))
    text = neutral.to_toml()
    files = input_files(cfg)
    if files:
        text += "\n[input_files]\n" + "".join(f"{_toml_value(str(p))} = {_toml_value('sha256 ' + file_sha256(p))}\n"
                                              for p in files)
    return text


def input_files(cfg: Config) -> list[Path]:
    """The files that a run of ``cfg`` reads and its configuration names, absolute and in the order of the
    configuration: the met files (globs expanded), the emission file and its sector profiles, the chemical file, and
    the region file (with a shapefile's companion files). The built-in inputs (synthetic met, inventory, property
    table, Natural Earth countries) come with the package and its version."""
    import glob

    named: list[str] = []
    m = cfg.met
    if m.source not in ("synthetic", "uniform") and cfg.domain.kind != "box":
        for s in m.source if isinstance(m.source, tuple) else (m.source,):
            named += sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
    e = cfg.emissions
    if e.source not in ("builtin", "uniform", "none"):
        named.append(e.source)
    named += [f for f in (e.sector_profiles, cfg.chemical.file) if f]
    if cfg.regions.source != "natural_earth":
        region = Path(cfg.regions.source)
        named += [str(region)] + [str(region.with_suffix(x)) for x in (".shx", ".dbf", ".prj", ".cpg")
                                  if region.suffix.lower() == ".shp"]
    out: list[Path] = []
    for f in named:
        p = Path(f).resolve()
        if p.is_file() and p not in out:
            out.append(p)
    return out


def provenance_attributes(cfg: Config, chemical: ChemicalProperties | None,
                          package_data: dict[str, str] | None = None, emissions: object = None) -> dict[str, str]:
    """What the outputs record of a run's inputs beyond its configuration: ``input_files``, one line per file of
    :func:`input_files` with its size, modification time and SHA-256, then one per package data file the run used
    (``package_data``, ``{path: what it is}`` as :func:`popstransport.io.package_data.recording` gives it: the built-in
    inventory, property table and Natural Earth countries), marked ``built-in`` (or that the run read no file: its
    inputs were synthetic or uniform); for the multimedia fate, ``chemical_properties``, the substance's values
    as the model used them (from the property table or ``chemical.file``, ``chemical.overrides`` applied; SI units
    where the names say); and, when ``emissions`` (the run's provider or inventory) interpolates some years between
    inventory years, ``emission_years_interpolated`` (see :func:`describe_interpolated_years`)."""
    from .io.writers import file_fingerprint

    files = input_files(cfg)
    lines = [f"{p}: {file_fingerprint(p)}" for p in files]
    lines += [f"{p}: built-in {what}, {file_fingerprint(p)}" for p, what in (package_data or {}).items()
              if Path(p) not in files]
    out = {"input_files": "\n".join(lines) or "none: no input file (synthetic or uniform inputs only)"}
    if emissions is not None:
        years = describe_interpolated_years(emissions, None if cfg.emissions.year == "each" else cfg.emissions.year)
        if years:
            why = ("the built-in inventory is tabulated every 10 years" if cfg.emissions.source == "builtin" else
                   f"emissions.between_years = {cfg.emissions.between_years!r}")
            out["emission_years_interpolated"] = f"{years} (linearly; {why})"
    if chemical is not None:
        out["chemical_properties"] = "; ".join(f"{f.name} = {getattr(chemical, f.name)!r}" for f in dataclasses.fields(chemical)
                                               if f.name not in ("aliases", "citations"))
    return out


def build_simulation(cfg: Config, model: Model, writers=(), progress=None, per_tag: bool = False,
                     track_faces: bool = False, checkpoint_path: Path | None = None,
                     checkpoint_attributes: dict[str, str] | None = None, keep_periods: bool = True) -> Simulation:
    """The simulation described by ``[time]`` and ``[output]`` (with ``track_faces``, the face masses per tag only
    for ``attribution.border_fluxes_by_source``; the border-flux matrix of all sources needs only their total;
    ``checkpoint_attributes``: the outputs' attributes of the run's spin-up, kept in its checkpoints;
    ``keep_periods``: keep the finished periods in memory, for a caller that has no writers)."""
    t = cfg.time
    return Simulation(
        model,
        parse_time(t.start, "time.start"),
        parse_time(t.stop, "time.stop"),
        t.step_hours * 3600.0,
        met_update_s=t.met_update_hours * 3600.0,
        frequency=cfg.output.frequency,
        writers=writers,
        progress=progress,
        per_tag=per_tag,
        track_faces=track_faces,
        faces_per_tag=cfg.attribution.border_fluxes_by_source,
        checkpoint_path=checkpoint_path,
        checkpoint_every_months=cfg.output.checkpoint_every_months,
        checkpoint_tag=results_configuration(cfg),
        checkpoint_attributes=checkpoint_attributes,
        keep_periods=keep_periods,
    )


def check_before_run(cfg: Config, setup: RunSetup) -> list[str]:
    """What a run checks before its spin-up and first step, without running (``popstransport validate`` makes the
    same checks): the receptors, border faces and scenario sources of a tagged run, and that the met records cover
    the run and the spin-up year, and warns of checkpoints that annual output spaces otherwise than
    ``output.checkpoint_every_months`` says. Returns the receptor codes (none for an untagged run)."""
    from .io.attribution_writer import check_scenarios
    from .io.errors import InputError
    from .spinup import year_after

    every = cfg.output.checkpoint_every_months
    if cfg.output.frequency == "annual" and every % 12:
        import warnings

        years = -(-every // 12)
        warnings.warn(f"{_where(cfg)}output.checkpoint_every_months = {every} with output.frequency = 'annual': "
                      "checkpoints are written at the ends of output periods, so this run writes them at year ends only, "
                      f"every {'year' if years == 1 else f'{years} years'}, not every {every} months (an interrupted run "
                      f"resumes from the last year end); set output.checkpoint_every_months = {12 * years} to say so, or "
                      f"output.frequency = 'monthly' for a checkpoint every {every} months", stacklevel=2)
    receptors: list[str] = []
    if cfg.attribution.tags != "none":
        receptors = receptor_regions(cfg, setup)[0]
        warn_receptors_in_part(cfg, setup)
        tracked_faces(cfg, setup)
        check_scenarios(cfg.scenarios, setup.tags.names, _where(cfg))
    sim = build_simulation(cfg, setup.model)
    sim.check_forcing_covers()
    if cfg.spinup.method != "none":
        start = parse_time(cfg.time.start, "time.start")
        try:
            Simulation(setup.model, start, year_after(start), sim.dt_s, sim.met_update_s,
                       frequency="run").check_forcing_covers()
        except InputError as exc:
            raise InputError(exc.source, exc.field, f"{exc.problem} (spinup.method = {cfg.spinup.method!r} repeats the "
                             f"year {cfg.time.start}..{year_after(start)})", exc.fix) from None
    return receptors


def warn_receptors_in_part(cfg: Config, setup: RunSetup) -> None:
    """Warn of the regions of ``attribution.receptors`` that lie partly outside the domain (Fiji across the 180th
    meridian in a domain that ends there): their deposition, air concentration and source shares are those of the
    part inside, which the tables name by the whole country's code. With regions from a file, every receptor is
    checked, also when ``attribution.receptors`` is empty (all of the file's regions in the domain): a region drawn
    for the question is cut by the domain's edge by mistake, where most countries that touch a domain are cut."""
    if (not cfg.attribution.receptors and cfg.regions.source == "natural_earth") or setup.region_area_m2 is None:
        return
    codes, fraction = receptor_regions(cfg, setup)
    inside, whole = receptor_areas(setup, codes, fraction)
    part = [f"{name_list([c])} ({100.0 * a / w:.3g}% of its area)" for c, a, w in zip(codes, inside, whole)
            if a < (1.0 - 1e-6) * w]
    if part:
        import warnings

        key = "attribution.receptors" if cfg.attribution.receptors else f"the receptors (the regions of {cfg.regions.source})"
        warnings.warn(f"{_where(cfg)}{key}: only part of {', '.join(part)} lies in the domain "
                      f"({setup.model.grid.describe()}); their deposition, air concentration and source shares are "
                      "those of that part alone; widen the domain to hold them whole (a domain across the 180th "
                      "meridian runs past 180, e.g. 150 to 210)", stacklevel=2)


@dataclass
class Validation:
    """What :func:`validate` found: the assembled run (:class:`RunSetup`, with its model at the start time's
    forcing), the receptor regions of a tagged run, the emission at the start time, and a summary in words."""

    setup: RunSetup
    receptors: list[str]
    #: the emission rate at the start time over the days of its calendar year (kg/yr)
    emission_kg_yr: float
    #: the inventory's countries (partly) outside the domain, one line each with the kg/yr left out
    outside: list[str]
    #: the summary that ``popstransport validate`` prints, one line a topic
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def validate(cfg: Config, all_records: bool = False) -> Validation:
    """Check a configuration and every input it names without running it (``popstransport validate``): builds the
    model, reads the first met record and the inventory, and makes every check a run makes before its first step
    (:func:`check_before_run`). With ``all_records`` every met record the run uses is read and checked (NaN,
    units, ranges), as the run would check each when it comes to it; otherwise the first. Raises the error a run
    would raise (:class:`~popstransport.config.ConfigError`, :class:`~popstransport.io.errors.InputError`, ...);
    returns a :class:`Validation` with the summary.

    >>> print(popstransport.run.validate(popstransport.load_config("study.toml")))   # doctest: +SKIP
    """
    import calendar

    from .config import checked

    cfg = checked(cfg)
    setup = build_run(cfg)
    model = setup.model
    tagged = cfg.attribution.tags != "none"
    receptors = check_before_run(cfg, setup)
    if cfg.ensemble:
        from .ensemble import check_members

        check_members(cfg)  # (what `run` checks before its first member runs: every member's drawn values)
    start = parse_time(cfg.time.start)
    model.update_forcing(build_simulation(cfg, model).forcing_time(0), 0)
    rates, _ = model.emissions.sources_kg_s(start)  # the tags' shares add up to one: the total is the field's
    lines = [f"grid: {model.grid.describe()}",
             f"period: {cfg.time.start} .. {cfg.time.stop}, step {cfg.time.step_hours:g} h, output {cfg.output.frequency}",
             f"chemical: {cfg.chemical.name}; fate: {cfg.processes.fate}; advection: {cfg.processes.advection_scheme}"]
    met = ("uniform (a single box)" if cfg.domain.kind == "box" else
           ", ".join(cfg.met.source) if isinstance(cfg.met.source, tuple) else cfg.met.source)
    lines.append(f"met: {met}; forcing fields: {', '.join(sorted(model.forcing.fields))}")
    check_records = getattr(model.met, "check_records", None)
    if callable(check_records):
        if all_records:
            stop = parse_time(cfg.time.stop)
            if cfg.spinup.method != "none":  # (the spin-up repeats the year from the start, which may end later)
                from .spinup import year_after

                stop = max(stop, year_after(start))
            n = check_records(start, stop)
            lines.append("met records: every record the run uses" + (" (with its spin-up year)" if cfg.spinup.method
                                                                       != "none" else "")
                         + " was read and checked (" + (", ".join(f"{k} {v}" for k, v in n.items()) or
                                                        "static fields, without time: one record each") + ")")
        else:
            lines.append("met records: the first was read and checked (validate --all-records checks every record "
                         "the run uses; a run checks each when it comes to it)")
    # (the start time's rate over the days of its calendar year: an input of amounts per year, whose leap years
    # have lower rates, shows its annual amount in every year)
    days = 366 if calendar.isleap(int(str(start.astype("datetime64[Y]")))) else 365
    total = float(rates.sum()) * days * 86400.0
    yearly = getattr(model.emissions, "rates_at", None)
    by_year = ("" if not isinstance(yearly, YearlyEmissions) else " (inventory year by year: " + ", ".join(
        f"{y} {inv.annual_total_kg:.4g}" for y, inv in yearly.inventories.items()) + " kg)")
    lines.append(f"emissions: {cfg.emissions.source}, {total:.4g} kg/yr at the start time{by_year}; "
                 f"tags: {name_list(model.tags)}")
    interpolated = describe_interpolated_years(emission_provider(setup),
                                               None if cfg.emissions.year == "each" else cfg.emissions.year)
    if interpolated:
        lines.append(f"emission years interpolated linearly between inventory years: {interpolated}"
                     + ("" if cfg.emissions.source == "builtin" else " (emissions.between_years = 'linear')"))
    if setup.inventory is not None and setup.inventory.missing_as_zero_values:
        lines.append(f"missing values read as no emission (emissions.missing_as_zero): "
                     f"{setup.inventory.missing_as_zero_values} of the file's values")
    # (the built-in inventory does not warn of the countries its domain leaves out, as a file does: say it here; an
    # inventory taken year by year says it for each run of years with the same figures)
    inventories = (yearly.inventories if isinstance(yearly, YearlyEmissions) else
                   {None: setup.inventory} if setup.inventory is not None else {})
    groups: list[list] = []  # [first year, last year, inventory]
    for y, inv in inventories.items():
        if groups and (inv.outside_kg_s, inv.outside_notes) == (groups[-1][2].outside_kg_s, groups[-1][2].outside_notes):
            groups[-1][1] = y
        else:
            groups.append([y, y, inv])
    outside: list[str] = []
    for first, last, inv in groups:
        if not inv.requested_kg_s:
            continue
        span = "" if first is None else f"{first}" if first == last else f"{first}-{last}"
        years = f" in {span}" if span else ""
        if inv.outside_kg_s <= 0:
            if len(groups) > 1:
                lines.append(f"not modelled{years}: nothing (the whole inventory lies in the domain)")
            continue
        out, asked = inv.outside_kg_s * SECONDS_PER_YEAR, inv.requested_kg_s * SECONDS_PER_YEAR
        lines.append(f"not modelled{years}: {out:.4g} of the inventory's {asked:.4g} kg/yr ({100 * out / asked:.3g}%) is "
                     "emitted outside the domain" + ("" if cfg.emissions.scale == 1 else
                                                     " (the countries' figures below are before emissions.scale = "
                                                     f"{cfg.emissions.scale:g})") + ":")
        lines += [f"  {note}" for note in inv.outside_notes]
        outside += [f"{span}: {note}" if span else note for note in inv.outside_notes]
    if cfg.domain.kind == "regional":
        q = cfg.domain.inflow_mixing_ratio
        g = model.grid
        where_in = " (the south and north edges of the zonal band)" if g.is_band else ""
        if q > 0:
            rho = float(model.air_mass_kg[0].sum() / (g.cell_area_m2.sum() * g.layers.thickness_m[0]))
            owner = "; it is the BOUNDARY tag's" if tagged else ""
            lines.append(f"inflow through the open boundaries{where_in}: mixing ratio {q:g} kg/kg (about "
                         f"{q * rho * 1e15:.3g} pg m-3 in the lowest layer's mean air density of {rho:.3g} kg m-3){owner}")
        else:
            lines.append(f"inflow through the open boundaries{where_in}: clean air (domain.inflow_mixing_ratio = 0)")
    if tagged:
        lines.append(f"receptors: {name_list(receptors)}")
    if cfg.scenarios:
        from .config import scenario_name

        lines.append(f"scenarios: {', '.join(scenario_name(sc, k) for k, sc in enumerate(cfg.scenarios))}")
    if cfg.ensemble:
        ens = cfg.ensemble
        lines.append(f"ensemble: {ens['members']} members, seed {ens['seed']}, parameters "
                     f"{', '.join(ens['parameters'])} (every member's drawn values accepted)")
    return Validation(setup, receptors, total, outside, lines)


def spinup_attribute(spin) -> str:
    """The outputs' ``spinup`` attribute for a spin-up result."""
    return (f"{spin.method}: {spin.model_years} model years, relative annual change "
            f"{spin.relative_annual_change:.2e}, converged {spin.converged}")


def spin_up(cfg: Config, model: Model, progress=None):
    """Spin the model up as ``[spinup]`` says; raises if it does not converge within ``spinup.years``. ``progress``
    is called after every step of every spin-up year (see :func:`popstransport.spinup.spinup_repeat`): a Dask task
    passes :func:`popstransport.distributed.stop_when_released`, so that its spin-up stops once its run is
    interrupted, as the run after it does."""
    from .spinup import SpinupError, spinup_cyclostationary, spinup_repeat

    sp = cfg.spinup
    start = parse_time(cfg.time.start, "time.start")
    dt, upd = cfg.time.step_hours * 3600.0, cfg.time.met_update_hours * 3600.0
    if sp.method == "repeat":
        res = spinup_repeat(model, start, dt, upd, sp.years, sp.tolerance, progress=progress)
    else:
        res = spinup_cyclostationary(model, start, dt, upd, sp.tolerance, sp.years, progress=progress)
    if not res.converged:
        raise SpinupError(f"spin-up ({sp.method}) did not converge in {res.model_years} model years (relative annual "
                          f"change {res.relative_annual_change:.2e}); raise spinup.years or loosen spinup.tolerance")
    return res


def _stop_when_released():
    """In a Dask task (an ensemble's member), :func:`popstransport.distributed.stop_when_released`; ``None``
    elsewhere (without importing Dask)."""
    import sys

    if "distributed" not in sys.modules:
        return None
    from .distributed import stop_when_released

    return stop_when_released()


def run(cfg: Config, out_dir: str | Path, overwrite: bool = False, progress=None, resume: bool = False) -> Path:
    """Run ``cfg`` and write its outputs to ``out_dir``; returns the run directory.

    With ``resume``, the run continues from the checkpoint in ``out_dir`` (``checkpoint.pkl``) and its result is
    bit-identical to an uninterrupted run. Nothing is left half-written: outputs are renamed into place only when
    the run completes. Scenarios of the ``[[scenarios]]`` section are written at the end from the tagged results.
    ``cfg`` is checked as :func:`popstransport.config.load_config` checks a file (it may have been changed in Python,
    e.g. with ``dataclasses.replace``); an invalid value raises :class:`ConfigError` before anything runs, and so
    does an ``[ensemble]`` section (run it with :func:`popstransport.ensemble.run_ensemble`). An earlier run in
    ``out_dir`` is replaced when ``overwrite`` or the configuration's ``output.overwrite`` is true (as on the command
    line), and refused otherwise. The warnings given while the run is set up and runs (an inventory's countries
    outside the domain, receptors partly outside it...) are also written to ``warnings.txt`` in the run directory,
    which ``popstransport report`` shows, with those given when ``cfg`` was read (:attr:`Config.load_warnings`).
    """
    from .io.package_data import recording

    warned: list[str] = list(cfg.load_warnings)  # (given before the run began, when its configuration was read)
    with recording_warnings(warned), recording() as package_data:
        return _run(cfg, out_dir, overwrite, progress, resume, warned, package_data)


@contextmanager
def recording_warnings(warned: list[str]) -> Iterator[list[str]]:
    """Add the text of every warning shown inside the block to ``warned`` (it is shown as before)."""
    import warnings

    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            warned.append(str(message))
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield warned


def add_writers(writers: list, cfg: Config, setup: RunSetup, run_dir, attrs: dict[str, str], warned: list[str]) -> None:
    """Append the writers of a run's outputs to ``writers`` one by one (a failure leaves the ones made there, to be
    closed): ``config.toml``, ``warnings.txt`` (of ``warned``), ``fields.nc``, the budget, and for a tagged run the
    attribution files, with the receptors' areas."""
    from .io.attribution_writer import AttributionWriter
    from .io.writers import BudgetWriter, ConfigWriter, FieldsWriter, WarningsWriter

    writers.append(ConfigWriter(run_dir, cfg.to_toml(), attrs))
    writers.append(WarningsWriter(run_dir, warned))
    writers.append(FieldsWriter(run_dir, setup.model.grid, attrs))
    writers.append(BudgetWriter(run_dir, attrs))
    if cfg.attribution.tags != "none":
        a = cfg.attribution
        codes, fraction = receptor_regions(cfg, setup)
        writers.append(AttributionWriter(run_dir, setup.tags.names, codes, fraction, attrs, a.border_fluxes,
                                         a.border_fluxes_by_source, *receptor_areas(setup, codes, fraction)))


def _run(cfg: Config, out_dir: str | Path, overwrite: bool, progress, resume: bool, warned: list[str],
         package_data: dict[str, str]) -> Path:
    """:func:`run`, with the list the warnings are added to as they are given, and the record of the package data
    files used (filled as they are used)."""
    from .config import absolute_paths, checked
    from .io.attribution_writer import AttributionWriter
    from .io.writers import OutputExistsError, RunDirectory, run_attributes

    cfg = absolute_paths(checked(cfg))  # (its config.toml runs the same from any working directory)
    if cfg.ensemble:
        raise ConfigError(
            f"{cfg.source_path + ': ' if cfg.source_path else ''}the configuration has an [ensemble] section of "
            f"{cfg.ensemble['members']} members, which run() would not run (it runs one simulation): run the ensemble "
            "with popstransport.ensemble.run_ensemble(cfg, DIR), as `popstransport run` does, or one simulation "
            "without it with run(dataclasses.replace(cfg, ensemble={}), DIR)")
    overwrite = bool(overwrite or cfg.output.overwrite)
    setup = build_run(cfg)
    model = setup.model
    tagged = cfg.attribution.tags != "none"
    check_before_run(cfg, setup)  # before a spin-up, and before the run folder is made
    if resume and Path(out_dir).is_dir():
        RunDirectory.recover(out_dir)  # (a run stopped while putting its results in place: they are complete)
    if resume and not (Path(out_dir) / "checkpoint.pkl").is_file() and (Path(out_dir) / "fields.nc").is_file():
        raise ConfigError(f"--resume {str(out_dir)!r}: the run there has completed (its fields.nc is written and its "
                          "checkpoint removed); there is nothing to resume")
    if resume and not (Path(out_dir) / "checkpoint.pkl").is_file():  # (checked before the run folder is made)
        raise ConfigError(f"--resume {str(out_dir)!r}: no checkpoint.pkl there; the interrupted run must have had "
                          "output.checkpoint_every_months > 0 and have passed the end of an output period at least "
                          "that many months after its start (checkpoints are written at the ends of output periods)")
    if not resume and not overwrite and (Path(out_dir) / "checkpoint.pkl").is_file():
        raise OutputExistsError(f"output directory {str(out_dir)!r} holds the checkpoint of an interrupted run; continue "
                                "it with --resume, or pass --overwrite to start afresh (its checkpoint is then removed)")
    spin = None
    if cfg.spinup.method != "none" and not resume:
        RunDirectory.check(out_dir, overwrite)  # (a folder that is refused is refused before a spin-up of hours)
        spin = spin_up(cfg, model, progress=_stop_when_released())  # (an ensemble member's on a Dask worker)
    # (a resumed run replaces the results in the folder as the run it continues would have: that run was allowed
    # to start there, with --overwrite when there were results, and a checkpoint outlives no completed run)
    run_dir = RunDirectory(out_dir, overwrite=overwrite or resume)
    writers = []
    try:  # (from here on, a failure or Ctrl-C removes the run folder if this run made it and it is still empty)
        if not resume:
            # (an interrupted run's files, which this run does not continue: with them gone its checkpoint cannot resume)
            run_dir.discard_partials()
            for name in ("checkpoint.pkl", "checkpoint.pkl.tmp", "checkpoint_periods.pkl"):
                (run_dir.path / name).unlink(missing_ok=True)
        checkpoint = run_dir.path / "checkpoint.pkl"
        if cfg.output.checkpoint_every_months > 0 or resume:
            # (removed by the journal that puts the results in place, with them: a run stopped just after that must
            # not leave a checkpoint beside its complete results, which --resume would take for an interrupted run,
            # nor the attribution tables that only a resume reads)
            resumables = (checkpoint, Simulation.periods_path(checkpoint), AttributionWriter.tables_path(run_dir))
            run_dir.stale += [p for p in resumables if p not in run_dir.stale]
        sim = build_simulation(cfg, model, (), progress, per_tag=tagged,
                               track_faces=tracked_faces(cfg, setup) if tagged else False,
                               checkpoint_path=checkpoint if cfg.output.checkpoint_every_months > 0 else None,
                               checkpoint_attributes=None if spin is None else {"spinup": spinup_attribute(spin)},
                               keep_periods=False)  # (the writers take every period as it ends)
        if resume:
            sim.resume(checkpoint)  # (with the attributes of the spin-up the interrupted run began from)
        attrs = run_attributes(cfg.to_toml(), provenance=provenance_attributes(cfg, model.chemical, package_data,
                                                                                 emission_provider(setup)),
                               institution=cfg.output.institution)
        attrs.update(sim.checkpoint_attributes)
        if resume and "history" in sim.checkpoint_attributes:
            # (the history begins with the run that wrote the checkpoint, and says when it was resumed)
            from .io.writers import add_history

            attrs["history"] = add_history(sim.checkpoint_attributes, "run resumed from its last checkpoint")
        sim.checkpoint_attributes["history"] = attrs["history"]  # (kept in the checkpoints, for a resume)
        add_writers(writers, cfg, setup, run_dir, attrs, warned)
        sim.writers = writers
    except BaseException:
        for w in writers:
            if resume:
                w.suspend()  # (the interrupted run's parts stay: its checkpoint can still be resumed)
            else:
                w.close(False)
        run_dir.cleanup_if_empty()
        raise
    try:
        sim.run()
    except BaseException:
        run_dir.cleanup_if_empty()
        raise
    # (the writers' files are in place: what is left is what a resume would have needed, such as the attribution
    # writer's tables of the finished periods, which a failure while the writers closed must not have removed)
    finish_run(cfg, run_dir, overwrite)
    return run_dir.path


def finish_run(cfg: Config, run_dir, overwrite: bool) -> None:
    """Once a run's results are in place in ``run_dir``: remove the partial files left there and write the
    ``[[scenarios]]``; Ctrl-C meanwhile raises :class:`InterruptedAfterResults`, which says what is written."""
    from .config import scenario_name
    from .io.attribution_writer import write_scenario

    try:
        run_dir.discard_partials()
        for k, sc in enumerate(cfg.scenarios):
            write_scenario(run_dir.path, sc["scale"], scenario_name(sc, k), overwrite=overwrite)
    except KeyboardInterrupt:
        missing = [scenario_name(sc, k) for k, sc in enumerate(cfg.scenarios)
                   if not (run_dir.path / "scenarios" / scenario_name(sc, k) / "attribution.nc").is_file()]
        raise InterruptedAfterResults(
            f"interrupted after the run completed: its results are in {str(run_dir.path)!r}"
            + (f"; its scenarios {', '.join(map(repr, missing))} are not written (write them with `popstransport "
               f"scenario {run_dir.path} --scale SOURCE=FACTOR,... --name NAME`)" if missing else "")) from None


class InterruptedAfterResults(KeyboardInterrupt):
    """Ctrl-C once a run's results were in place (while it tidied up or wrote its ``[[scenarios]]``), with what is
    written."""
