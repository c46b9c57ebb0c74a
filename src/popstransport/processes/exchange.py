"""Surface compartments, their parameters, and diffusive air-surface exchange (two-film fugacity D-values).

Every fate process turns fugacity D-values (mol Pa-1 s-1, Mackay 2001, *Multimedia Environmental Models*, 2nd ed.)
into first-order rate constants on the compartment masses: a D-value from compartment ``i`` (volume ``V_i``, bulk
fugacity capacity ``Z_i``) moves ``N = D f_i`` with ``f_i = M_i / (V_i Z_i)``, i.e. the rate constant is
``k = D / (V_i Z_i)``. Diffusive exchange between air and a surface is one D-value used in both directions,

    air_0 -> surface:  k = D (1 - phi) / (V_air0 Z_air),     surface -> air_0:  k = D / (V_surf Z_surf),

so that deposition and re-volatilisation form one net flux ``D (f_air - f_surf)`` that vanishes at equilibrium
(``phi`` is the particle-bound fraction: only the gas phase diffuses).

Two-film D-values per unit area (Mackay 2001, chapter 8, Level III; Whitman 1923 two-resistance concept):

* air-water: ``1/D = 1/(k_a Z_air) + 1/(k_w Z_water)`` with ``k_a = 5 m/h``, ``k_w = 0.05 m/h``.
* air-soil: ``1/D = 1/(k_b Z_air) + 1/(B_a Z_air + B_w Z_water)`` with the air boundary layer ``k_b = 5 m/h`` and
  the soil-air and soil-water diffusion coefficients ``B_a = 0.02 m/h``, ``B_w = 1e-5 m/h`` (Mackay 2001 Level III,
  after Jury et al. 1983).
* air-vegetation: air-side resistance only, ``D = u_v Z_air`` (vegetation-side resistance neglected), with the
  vegetation/air partition coefficient ``K_va = v_air + v_water / Kaw + v_lipid Koa`` (octanol as surrogate for
  plant lipids).

Compartment geometry per cell of area ``A`` and land fraction ``f_L``:

* ``air_k``: volume ``A h_k`` (layer thickness ``h_k``); bulk Z = ``Z_air / (1 - phi_k)``.
* ``soil``: ``A f_L d_soil``; ``vegetation``: ``A f_L v_veg``; ``ocean``: ``A (1 - f_L) h_mix``
  (``freshwater`` and ``sediment``, if present, take a fraction of the land area).

Sea ice (the forcing's ``sea_ice_fraction`` ``c``, a fraction of the cell's water, when the met has it) closes the
ice-covered part of the ocean to gas exchange: its D-value is ``D (1 - c)`` (:func:`open_water_fraction`). The met
readers convert products that give the ice as a fraction of the whole grid cell
(:data:`popstransport.io.met.readers.WHOLE_CELL_SEA_ICE`).

All defaults are in :class:`SurfaceParameters` with their sources in :data:`SURFACE_PARAMETER_SOURCES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..chemicals import ChemicalProperties
from .base import Process
from .partitioning import GasParticlePartitioning, default_partitioning, koc_l_kg, z_air, z_octanol, z_sorbent, z_water

_M_PER_H = 1.0 / 3600.0
_SECONDS_PER_YEAR = 365.0 * 86400.0

#: Where every default of :class:`SurfaceParameters` comes from ("assumed" = a round, typical value chosen here).
SURFACE_PARAMETER_SOURCES: dict[str, str] = {
    "soil_depth_m": "Mackay 2001 evaluative environment, soil depth 0.1 m",
    "soil_air_fraction": "Mackay 2001 evaluative soil: 20 % air, 30 % water, 50 % solids by volume",
    "soil_water_fraction": "Mackay 2001 evaluative soil: 20 % air, 30 % water, 50 % solids by volume",
    "soil_solids_density_kg_m3": "Mackay 2001 evaluative environment, mineral solids 2400 kg m-3",
    "soil_organic_carbon_fraction": "Mackay 2001 evaluative soil, 2 % organic carbon",
    "air_side_mass_transfer_m_s": "Mackay 2001 Level III, air-side MTC 5 m/h",
    "water_side_mass_transfer_m_s": "Mackay 2001 Level III, water-side MTC 0.05 m/h",
    "soil_boundary_layer_mass_transfer_m_s": "Mackay 2001 Level III, air boundary layer over soil 5 m/h",
    "soil_air_diffusion_m_s": "Mackay 2001 Level III (after Jury et al. 1983), soil air-phase diffusion 0.02 m/h",
    "soil_water_diffusion_m_s": "Mackay 2001 Level III (after Jury et al. 1983), soil water-phase diffusion 1e-5 m/h",
    "soil_infiltration_fraction": "assumed: 25 % of precipitation infiltrates below the soil layer",
    "soil_burial_velocity_m_s": "assumed: 1e-11 m/s (0.3 mm/yr) transfer of surface soil to depth",
    "vegetation_volume_m3_m2": "assumed: 1e-3 m3 of foliage per m2 of land (LAI ~3 x 0.3 mm leaf thickness)",
    "vegetation_air_fraction": "assumed leaf composition: 20 % air, 79 % water, 1 % octanol-equivalent lipid",
    "vegetation_water_fraction": "assumed leaf composition: 20 % air, 79 % water, 1 % octanol-equivalent lipid",
    "vegetation_lipid_fraction": "assumed leaf composition: 20 % air, 79 % water, 1 % octanol-equivalent lipid",
    "vegetation_air_side_mass_transfer_m_s": "assumed: 1e-3 m/s gas uptake velocity per m2 of land",
    "vegetation_interception_fraction": "assumed: half of the particle deposition to land is intercepted by foliage",
    "litterfall_rate_s": "assumed: foliage renewed once a year (rate 1/365 d-1)",
    "ocean_mixed_layer_depth_m": "assumed: 100 m global-mean ocean mixed layer",
    "ocean_particle_concentration_kg_m3": "assumed: 0.1 g m-3 suspended particles in the open-ocean mixed layer",
    "ocean_particle_organic_carbon_fraction": "assumed: 20 % organic carbon in marine suspended particles",
    "ocean_particle_flux_kg_m2_s": "assumed: particle export from the mixed layer 10 g m-2 yr-1",
    "freshwater_fraction_of_land": "assumed: 2 % of the land area is fresh water (only with a freshwater compartment)",
    "freshwater_depth_m": "assumed: 10 m mean depth of fresh water",
    "freshwater_particle_concentration_kg_m3": "Mackay 2001 evaluative water: 5e-6 v/v particles x 2400 kg m-3",
    "freshwater_particle_organic_carbon_fraction": "Mackay 2001 evaluative suspended particles: 20 % organic carbon",
    "freshwater_particle_settling_m_s": "assumed: net particle settling 1 m/d",
    "sediment_depth_m": "assumed: 5 cm active sediment layer",
    "sediment_solids_fraction": "assumed: 20 % solids, 80 % pore water by volume",
    "sediment_organic_carbon_fraction": "assumed: 4 % organic carbon in sediment solids",
    "sediment_water_mass_transfer_m_s": "assumed: 1e-4 m/h diffusive sediment-water mass-transfer coefficient",
    "sediment_resuspension_fraction": "assumed: 30 % of deposited particles are resuspended",
    "sediment_burial_fraction": "assumed: 20 % of deposited particles are buried",
}


@dataclass(frozen=True)
class SurfaceParameters:
    """Geometry, composition and mass-transfer coefficients of the surface compartments (SI units).

    Every default and its source is listed in :data:`SURFACE_PARAMETER_SOURCES`; replace any of them with
    ``dataclasses.replace(SurfaceParameters(), soil_depth_m=0.2)`` or keyword arguments.
    """

    soil_depth_m: float = 0.1
    soil_air_fraction: float = 0.2
    soil_water_fraction: float = 0.3
    soil_solids_density_kg_m3: float = 2400.0
    soil_organic_carbon_fraction: float = 0.02
    air_side_mass_transfer_m_s: float = 5.0 * _M_PER_H
    water_side_mass_transfer_m_s: float = 0.05 * _M_PER_H
    soil_boundary_layer_mass_transfer_m_s: float = 5.0 * _M_PER_H
    soil_air_diffusion_m_s: float = 0.02 * _M_PER_H
    soil_water_diffusion_m_s: float = 1e-5 * _M_PER_H
    soil_infiltration_fraction: float = 0.25
    soil_burial_velocity_m_s: float = 1e-11
    vegetation_volume_m3_m2: float = 1e-3
    vegetation_air_fraction: float = 0.2
    vegetation_water_fraction: float = 0.79
    vegetation_lipid_fraction: float = 0.01
    vegetation_air_side_mass_transfer_m_s: float = 1e-3
    vegetation_interception_fraction: float = 0.5
    litterfall_rate_s: float = 1.0 / _SECONDS_PER_YEAR
    ocean_mixed_layer_depth_m: float = 100.0
    ocean_particle_concentration_kg_m3: float = 1e-4
    ocean_particle_organic_carbon_fraction: float = 0.2
    ocean_particle_flux_kg_m2_s: float = 0.010 / _SECONDS_PER_YEAR
    freshwater_fraction_of_land: float = 0.02
    freshwater_depth_m: float = 10.0
    freshwater_particle_concentration_kg_m3: float = 5e-6 * 2400.0
    freshwater_particle_organic_carbon_fraction: float = 0.2
    freshwater_particle_settling_m_s: float = 1.0 / 86400.0
    sediment_depth_m: float = 0.05
    sediment_solids_fraction: float = 0.2
    sediment_organic_carbon_fraction: float = 0.04
    sediment_water_mass_transfer_m_s: float = 1e-4 * _M_PER_H
    sediment_resuspension_fraction: float = 0.3
    sediment_burial_fraction: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"surface parameter {f.name} = {v!r} must be finite and >= 0")
        for name in ("soil_depth_m", "ocean_mixed_layer_depth_m", "vegetation_volume_m3_m2", "freshwater_depth_m",
                     "sediment_depth_m"):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"surface parameter {name} must be positive")
        if self.soil_air_fraction + self.soil_water_fraction >= 1.0:
            raise ValueError("soil_air_fraction + soil_water_fraction must be below 1 (the rest is solids)")
        fractions = ("vegetation_interception_fraction", "soil_infiltration_fraction", "freshwater_fraction_of_land",
                     "sediment_solids_fraction", "sediment_resuspension_fraction", "sediment_burial_fraction")  # fmt: skip
        for name in fractions:
            if getattr(self, name) > 1.0:
                raise ValueError(f"surface parameter {name} = {getattr(self, name)!r} is a fraction and must be <= 1")
        if self.sediment_resuspension_fraction + self.sediment_burial_fraction > 1.0:
            raise ValueError("sediment_resuspension_fraction + sediment_burial_fraction must not exceed 1")

    @property
    def soil_solids_fraction(self) -> float:
        """Volume fraction of mineral and organic solids in soil, 1 - air - water."""
        return 1.0 - self.soil_air_fraction - self.soil_water_fraction


@dataclass(frozen=True)
class FateContext:
    """Everything a fate process needs besides the forcing: grid, chemical, compartments and surface parameters.

    The model object can serve as the context as long as it has these attributes; this dataclass is the
    stand-alone version used by the box model and the tests.

    Attributes
    ----------
    grid
        :class:`popstransport.grid.LatLonGrid`.
    chemical
        :class:`popstransport.chemicals.ChemicalProperties`.
    surface_compartments
        Names of the surface compartments present (subset of vegetation, soil, ocean, freshwater, sediment).
    land_fraction
        Land fraction of every cell, shape ``(J, I)`` (used when the forcing has no ``land_fraction``).
    surface_parameters
        :class:`SurfaceParameters`.
    gas_particle_partitioning
        :class:`~popstransport.processes.partitioning.GasParticlePartitioning`.
    """

    grid: object
    chemical: ChemicalProperties
    surface_compartments: tuple[str, ...] = ("vegetation", "soil", "ocean")
    land_fraction: np.ndarray | float | None = None
    surface_parameters: SurfaceParameters = field(default_factory=SurfaceParameters)
    gas_particle_partitioning: GasParticlePartitioning = field(default_factory=GasParticlePartitioning)

    @property
    def compartments(self) -> tuple[str, ...]:
        """All compartment names in state order: ``air_0 .. air_{L-1}`` then the surface compartments."""
        return tuple(f"air_{k}" for k in range(self.grid.nlayer)) + tuple(self.surface_compartments)


# --- helpers shared by the fate processes -----------------------------------------------------------------------
def surface_parameters(context) -> SurfaceParameters:
    """The context's :class:`SurfaceParameters` (attribute ``surface_parameters``) or the defaults."""
    p = getattr(context, "surface_parameters", None)
    return p if p is not None else SurfaceParameters()


partitioning = default_partitioning


def land_fraction(context, forcing) -> np.ndarray:
    """Land fraction (J, I) from the forcing if present, else from the context; clipped to [0, 1]."""
    shape = context.grid.shape
    if forcing is not None and "land_fraction" in forcing:
        lf = forcing["land_fraction"]
    else:
        lf = getattr(context, "land_fraction", None)
        if lf is None:
            raise ValueError("land fraction unknown: provide the forcing field 'land_fraction' (J, I) or context.land_fraction")
    return np.clip(np.broadcast_to(np.asarray(lf, dtype=float), shape), 0.0, 1.0)


def surface_temperature(forcing) -> np.ndarray:
    """Surface temperature (J, I) in K."""
    return np.asarray(forcing["surface_temperature_k"], dtype=float)


def air_layer_temperature(forcing, k: int = 0) -> np.ndarray:
    """Temperature of air layer ``k`` (J, I) in K."""
    return np.asarray(forcing["air_temperature_k"], dtype=float)[k]


def particle_fraction_field(context, forcing) -> np.ndarray:
    """Particle-bound fraction in every air layer (L, J, I)."""
    return partitioning(context).particle_fraction_field(context, forcing)


def has(context, name: str) -> bool:
    """True when the surface compartment ``name`` is present."""
    return name in tuple(context.surface_compartments)


def freshwater_fraction(context, lf: np.ndarray) -> np.ndarray:
    """Cell fraction covered by fresh water: a fraction of the land when a ``freshwater`` compartment exists."""
    if not has(context, "freshwater"):
        return np.zeros_like(lf)
    return lf * surface_parameters(context).freshwater_fraction_of_land


def soil_fraction(context, lf: np.ndarray) -> np.ndarray:
    """Cell fraction covered by soil (land minus fresh water)."""
    return lf - freshwater_fraction(context, lf)


def z_soil(chemical: ChemicalProperties, temperature_k, p: SurfaceParameters):
    """Bulk fugacity capacity of soil (mol m-3 Pa-1): air, water and solids in their volume fractions."""
    za = z_air(temperature_k)
    zw = z_water(chemical, temperature_k)
    zs = z_sorbent(chemical, temperature_k, p.soil_organic_carbon_fraction, p.soil_solids_density_kg_m3)
    return p.soil_air_fraction * za + p.soil_water_fraction * zw + p.soil_solids_fraction * zs


def z_vegetation(chemical: ChemicalProperties, temperature_k, p: SurfaceParameters):
    """Bulk fugacity capacity of foliage (mol m-3 Pa-1): air, water and octanol-like lipid."""
    return (
        p.vegetation_air_fraction * z_air(temperature_k)
        + p.vegetation_water_fraction * z_water(chemical, temperature_k)
        + p.vegetation_lipid_fraction * z_octanol(chemical, temperature_k)
    )


def particle_water_partition_m3_kg(chemical: ChemicalProperties, temperature_k, organic_carbon_fraction: float):
    """Solid-water distribution coefficient Kd = Koc f_oc / 1000 (m3 kg-1)."""
    return koc_l_kg(chemical, temperature_k) * organic_carbon_fraction / 1000.0


def z_water_bulk(chemical: ChemicalProperties, temperature_k, particles_kg_m3: float, organic_carbon_fraction: float):
    """Bulk Z of water with suspended particles, ``Z_water (1 + Kd c_p)`` (particle volume neglected)."""
    kd = particle_water_partition_m3_kg(chemical, temperature_k, organic_carbon_fraction)
    return z_water(chemical, temperature_k) * (1.0 + kd * particles_kg_m3)


def sorbed_fraction_in_water(chemical, temperature_k, particles_kg_m3: float, organic_carbon_fraction: float):
    """Fraction of the chemical in a water body that is bound to suspended particles, ``Kd c / (1 + Kd c)``."""
    kdc = particle_water_partition_m3_kg(chemical, temperature_k, organic_carbon_fraction) * particles_kg_m3
    return kdc / (1.0 + kdc)


def air_water_d_per_area(chemical, temperature_k, p: SurfaceParameters):
    """Two-film air-water D-value per unit area (mol Pa-1 s-1 m-2)."""
    za = z_air(temperature_k)
    zw = z_water(chemical, temperature_k)
    return 1.0 / (1.0 / (p.air_side_mass_transfer_m_s * za) + 1.0 / (p.water_side_mass_transfer_m_s * zw))


def air_soil_d_per_area(chemical, temperature_k, p: SurfaceParameters):
    """Air-soil D-value per unit area (mol Pa-1 s-1 m-2): boundary layer in series with soil diffusion."""
    za = z_air(temperature_k)
    zw = z_water(chemical, temperature_k)
    boundary = p.soil_boundary_layer_mass_transfer_m_s * za
    soil_side = p.soil_air_diffusion_m_s * za + p.soil_water_diffusion_m_s * zw
    return 1.0 / (1.0 / boundary + 1.0 / soil_side)


def open_water_fraction(forcing) -> np.ndarray | float:
    """The fraction of the ocean area free of sea ice, ``1 - c``, from the forcing's ``sea_ice_fraction`` ``c`` (the
    ice-covered fraction of the water area, ``(J, I)``), or 1 when the met has none. Sea ice caps the water: the
    air-ocean gas exchange of a cell is ``D (1 - c)``, the two-film flux through its open water only, as Arctic
    air-sea flux estimates correct for the seasonal ice cover (Hargrave, Barrie, Bidleman and Welch 1997, Environ.
    Sci. Technol. 31:3258). Wet and dry deposition onto the ice still reach the ocean compartment: the model has no
    sea-ice compartment that would hold them until the melt (a global model with one found that sea ice holds 7-9 %
    of the surface ocean's burden of gamma-HCH and DDT and that its melt can double regional surface-ocean
    concentrations: "The impact of organochlorines cycling in the cryosphere on their global distributions and fate
    - 1. Sea ice", Environ. Pollut., 2012), so near melting ice the ocean gets those inputs early."""
    if forcing is None or "sea_ice_fraction" not in forcing:
        return 1.0
    return 1.0 - np.clip(np.asarray(forcing["sea_ice_fraction"], dtype=float), 0.0, 1.0)


def _safe_ratio(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --- processes ----------------------------------------------------------------------------------------------------
class DiffusiveExchange(Process):
    """Diffusive gas exchange between the lowest air layer and one surface compartment (two-film D-value).

    Returns two transfers, ``air_0 -> surface`` and ``surface -> air_0``, under the process name
    ``exchange_air_<surface>``; their difference is the net air-surface flux (positive downward).

    Parameters
    ----------
    surface
        ``"soil"``, ``"vegetation"``, ``"ocean"`` or ``"freshwater"``.
    """

    reads = ("air_temperature_k", "surface_temperature_k")

    def __init__(self, surface: str):
        if surface not in ("soil", "vegetation", "ocean", "freshwater"):
            raise ValueError(f"diffusive exchange surface {surface!r}: allowed are 'soil', 'vegetation', 'ocean', 'freshwater'")
        self.surface = surface
        self.name = f"exchange_air_{surface}"

    def transfers(self, context, forcing) -> list:
        """``[air_0 -> surface, surface -> air_0]`` with rates (J, I) in s-1 (empty if the surface is absent)."""
        from .fate import Transfer

        if not has(context, self.surface):
            return []
        chem = context.chemical
        p = surface_parameters(context)
        grid = context.grid
        ts = surface_temperature(forcing)
        lf = land_fraction(context, forcing)
        phi0 = particle_fraction_field(context, forcing)[0]
        h0 = grid.layers.thickness_m[0]
        za = z_air(ts)
        if self.surface == "soil":
            d = air_soil_d_per_area(chem, ts, p)
            frac = soil_fraction(context, lf)
            up = _safe_ratio(d, p.soil_depth_m * z_soil(chem, ts, p)) * (frac > 0)
        elif self.surface == "vegetation":
            d = p.vegetation_air_side_mass_transfer_m_s * za
            frac = soil_fraction(context, lf)
            up = _safe_ratio(d, p.vegetation_volume_m3_m2 * z_vegetation(chem, ts, p)) * (frac > 0)
        elif self.surface == "ocean":
            d = air_water_d_per_area(chem, ts, p) * open_water_fraction(forcing)
            frac = 1.0 - lf
            zb = z_water_bulk(chem, ts, p.ocean_particle_concentration_kg_m3, p.ocean_particle_organic_carbon_fraction)
            up = _safe_ratio(d, p.ocean_mixed_layer_depth_m * zb) * (frac > 0)
        else:
            d = air_water_d_per_area(chem, ts, p)
            frac = freshwater_fraction(context, lf)
            zb = z_water_bulk(chem, ts, p.freshwater_particle_concentration_kg_m3, p.freshwater_particle_organic_carbon_fraction)
            up = _safe_ratio(d, p.freshwater_depth_m * zb) * (frac > 0)
        down = d * frac * (1.0 - phi0) / (h0 * za)
        shape = grid.shape
        return [
            Transfer(self.name, "air_0", self.surface, np.ascontiguousarray(np.broadcast_to(down, shape)),
                     "air_surface_exchange"),
            Transfer(self.name, self.surface, "air_0", np.ascontiguousarray(np.broadcast_to(up, shape)),
                     "air_surface_exchange"),
        ]


class Litterfall(Process):
    """Transfer of foliage-bound chemical to soil with the litterfall (first order, ``litterfall_rate_s``)."""

    name = "litterfall"
    reads = ()

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        if not (has(context, "vegetation") and has(context, "soil")):
            return []
        return [Transfer(self.name, "vegetation", "soil", surface_parameters(context).litterfall_rate_s)]


class SoilLeaching(Process):
    """Leaching of dissolved chemical below the soil layer by infiltrating precipitation (sink ``leached``).

    ``k = f_inf P Z_water / (d_soil Z_soil)`` (Mackay 2001, Level III soil-water runoff/leaching D-value form).
    """

    name = "leaching_soil"
    reads = ("precipitation_m_s", "surface_temperature_k")

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        if not has(context, "soil"):
            return []
        p = surface_parameters(context)
        chem = context.chemical
        ts = surface_temperature(forcing)
        rain = np.maximum(np.asarray(forcing["precipitation_m_s"], dtype=float), 0.0)
        k = p.soil_infiltration_fraction * rain * z_water(chem, ts) / (p.soil_depth_m * z_soil(chem, ts, p))
        return [Transfer(self.name, "soil", "leached", np.ascontiguousarray(np.broadcast_to(k, context.grid.shape)))]


class SoilBurial(Process):
    """Transfer of surface soil (and the chemical in it) to depth, ``k = v_burial / d_soil`` (sink ``buried``)."""

    name = "burial_soil"
    reads = ()

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        if not has(context, "soil"):
            return []
        p = surface_parameters(context)
        return [Transfer(self.name, "soil", "buried", p.soil_burial_velocity_m_s / p.soil_depth_m)]


class OceanSettling(Process):
    """Settling of particle-bound chemical from the ocean mixed layer to the deep ocean (sink ``settled``).

    ``k = F_p Kd / (h_mix (1 + Kd c_p))``: the particle export flux ``F_p`` (kg m-2 s-1) carries the sorbed
    concentration ``Kd C_dissolved``.
    """

    name = "settling_ocean"
    reads = ("surface_temperature_k",)

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        if not has(context, "ocean"):
            return []
        p = surface_parameters(context)
        chem = context.chemical
        ts = surface_temperature(forcing)
        kd = particle_water_partition_m3_kg(chem, ts, p.ocean_particle_organic_carbon_fraction)
        k = p.ocean_particle_flux_kg_m2_s * kd / (p.ocean_mixed_layer_depth_m * (1.0 + kd * p.ocean_particle_concentration_kg_m3))
        return [Transfer(self.name, "ocean", "settled", np.ascontiguousarray(np.broadcast_to(k, context.grid.shape)))]


class FreshwaterSedimentExchange(Process):
    """Fresh water - sediment exchange: particle deposition, resuspension, diffusion, and sediment burial.

    With ``F`` the gross particle deposition flux (``c_p w_s``), the sediment receives ``F Kd C_w`` plus diffusion
    ``k_sw (C_w - C_pore)`` and returns resuspension ``f_res F`` and diffusion; ``f_bur F`` of the deposited solids
    is buried (Mackay 2001 Level III sediment D-values in rate-constant form).
    """

    name = "exchange_freshwater_sediment"
    reads = ("surface_temperature_k",)

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        if not (has(context, "freshwater") and has(context, "sediment")):
            return []
        p = surface_parameters(context)
        chem = context.chemical
        ts = surface_temperature(forcing)
        zw = z_water(chem, ts)
        kd_w = particle_water_partition_m3_kg(chem, ts, p.freshwater_particle_organic_carbon_fraction)
        z_wb = zw * (1.0 + kd_w * p.freshwater_particle_concentration_kg_m3)
        solids_density = p.soil_solids_density_kg_m3
        z_solid = z_sorbent(chem, ts, p.sediment_organic_carbon_fraction, solids_density)
        z_sed = p.sediment_solids_fraction * z_solid + (1.0 - p.sediment_solids_fraction) * zw
        flux = p.freshwater_particle_concentration_kg_m3 * p.freshwater_particle_settling_m_s  # kg m-2 s-1
        d_dep = flux * kd_w * zw + p.sediment_water_mass_transfer_m_s * zw  # per area
        solids_volume_flux = flux / solids_density  # m3 solids m-2 s-1
        d_res = p.sediment_resuspension_fraction * solids_volume_flux / p.sediment_solids_fraction * z_sed
        d_back = d_res + p.sediment_water_mass_transfer_m_s * zw
        d_bur = p.sediment_burial_fraction * solids_volume_flux / p.sediment_solids_fraction * z_sed
        shape = context.grid.shape

        def arr(x):
            return np.ascontiguousarray(np.broadcast_to(x, shape))

        return [
            Transfer(self.name, "freshwater", "sediment", arr(d_dep / (p.freshwater_depth_m * z_wb))),
            Transfer(self.name, "sediment", "freshwater", arr(d_back / (p.sediment_depth_m * z_sed))),
            Transfer("burial_sediment", "sediment", "buried", arr(d_bur / (p.sediment_depth_m * z_sed))),
        ]


__all__ = [
    "DiffusiveExchange",
    "FateContext",
    "FreshwaterSedimentExchange",
    "Litterfall",
    "OceanSettling",
    "SURFACE_PARAMETER_SOURCES",
    "SoilBurial",
    "SoilLeaching",
    "SurfaceParameters",
    "air_soil_d_per_area",
    "air_water_d_per_area",
    "land_fraction",
    "particle_fraction_field",
    "sorbed_fraction_in_water",
    "surface_parameters",
    "z_soil",
    "z_vegetation",
    "z_water_bulk",
]
