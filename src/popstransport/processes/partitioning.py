"""Equilibrium partitioning: fugacity capacities (Z-values) and gas-particle partitioning in air.

Fugacity capacities (mol m-3 Pa-1) follow Mackay (2001, *Multimedia Environmental Models*, 2nd ed., Lewis,
chapter 5)::

    Z_air   = 1 / (R T)                      gas phase
    Z_water = Z_air / Kaw                    (= 1/H)
    Z_oct   = Z_air Koa                      octanol
    Z_solid = Z_water Koc f_oc rho_s / 1000  sorbent (Koc in L kg-1, rho_s in kg m-3)
    Koc     = 0.41 Kow                       (Karickhoff 1981, Chemosphere 10:833; used by Mackay 2001)

Gas-particle partitioning (the particle-bound fraction ``phi`` of the chemical in air):

* ``"harner_bidleman"`` (default): absorption into aerosol organic matter, Harner & Bidleman (1998, Environ. Sci.
  Technol. 32:1494), ``log Kp = log Koa + log f_om - 11.91`` with ``Kp`` in m3 ug-1; then
  ``phi = Kp TSP / (1 + Kp TSP)`` with TSP the particle mass concentration (ug m-3).
* ``"junge_pankow"``: adsorption, Junge (1977) and Pankow (1987, Atmos. Environ. 21:2275),
  ``phi = c theta / (p_L + c theta)`` with ``c = 17.2 Pa cm`` and ``theta`` the aerosol surface area per volume of
  air (cm2 cm-3) (values as tabulated by Bidleman 1988, Environ. Sci. Technol. 22:361; c and theta are textbook
  values not re-verified here, see ../shared/data/REFERENCES.md section 3). Needs the sub-cooled liquid vapour
  pressure, available in the built-in table only for PCB-28, -52 and -101.

The partitioning moves no mass (gas and particles are one air compartment); it supplies ``phi`` to the deposition,
exchange and degradation processes and reports it as the diagnostic ``air_particle_fraction``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..chemicals import ChemicalProperties
from ..constants import GAS_CONSTANT_J_MOL_K
from .base import Process

GasParticleScheme = Literal["harner_bidleman", "junge_pankow"]

#: Karickhoff (1981) organic-carbon/octanol ratio, Koc = 0.41 Kow (L kg-1), as used by Mackay (2001).
KOC_KOW_RATIO = 0.41

#: log10 of the unit conversion in the Harner-Bidleman equation (Harner & Bidleman 1998, Eq. 5): 1/(rho_oct 1e9)
#: with octanol density 820 kg m-3 gives 1.22e-12 m3 ug-1, log10 = -11.91.
HARNER_BIDLEMAN_OFFSET = -11.91

#: Junge constant c (Pa cm), Junge 1977 / Pankow 1987 (textbook value, not re-verified).
JUNGE_C_PA_CM = 17.2


# --- fugacity capacities -------------------------------------------------------------------------------------
def z_air(temperature_k: float | np.ndarray) -> float | np.ndarray:
    """Fugacity capacity of the gas phase, 1/(R T) (mol m-3 Pa-1)."""
    return 1.0 / (GAS_CONSTANT_J_MOL_K * np.asarray(temperature_k, dtype=float))


def z_water(chemical: ChemicalProperties, temperature_k: float | np.ndarray) -> float | np.ndarray:
    """Fugacity capacity of water, Z_air / Kaw(T) (mol m-3 Pa-1)."""
    return z_air(temperature_k) / chemical.kaw(temperature_k)


def z_octanol(chemical: ChemicalProperties, temperature_k: float | np.ndarray) -> float | np.ndarray:
    """Fugacity capacity of octanol, Z_air Koa(T) (mol m-3 Pa-1)."""
    return z_air(temperature_k) * chemical.koa(temperature_k)


def koc_l_kg(chemical: ChemicalProperties, temperature_k: float | np.ndarray) -> float | np.ndarray:
    """Organic-carbon/water partition coefficient Koc = 0.41 Kow(T) (L kg-1) (Karickhoff 1981)."""
    return KOC_KOW_RATIO * chemical.kow(temperature_k)


def z_sorbent(
    chemical: ChemicalProperties, temperature_k, organic_carbon_fraction: float, density_kg_m3: float
) -> float | np.ndarray:
    """Fugacity capacity of a natural sorbent (soil solids, sediment, suspended particles) (mol m-3 Pa-1).

    ``Z = Z_water Koc f_oc rho / 1000`` (Mackay 2001, chapter 5; the 1000 converts L kg-1 to m3 kg-1).
    """
    return (
        z_water(chemical, temperature_k) * koc_l_kg(chemical, temperature_k) * organic_carbon_fraction * (density_kg_m3 / 1000.0)
    )


# --- gas-particle partitioning ---------------------------------------------------------------------------------
def particle_fraction_harner_bidleman(
    koa: float | np.ndarray, particle_concentration_ug_m3: float | np.ndarray, organic_matter_fraction: float
) -> float | np.ndarray:
    """Particle-bound fraction from Koa (Harner & Bidleman 1998): ``Kp = f_om Koa 10^-11.91`` (m3 ug-1).

    ``phi = Kp TSP / (1 + Kp TSP)``.
    """
    kp_tsp = organic_matter_fraction * np.asarray(koa) * 10.0**HARNER_BIDLEMAN_OFFSET * particle_concentration_ug_m3
    return kp_tsp / (1.0 + kp_tsp)


def particle_fraction_junge_pankow(
    vapour_pressure_pa: float | np.ndarray, aerosol_surface_cm2_cm3: float | np.ndarray, c_pa_cm: float = JUNGE_C_PA_CM
) -> float | np.ndarray:
    """Particle-bound fraction from the liquid vapour pressure (Junge 1977, Pankow 1987): ``c theta/(p_L + c theta)``."""
    ct = c_pa_cm * np.asarray(aerosol_surface_cm2_cm3)
    return ct / (np.asarray(vapour_pressure_pa) + ct)


class GasParticlePartitioning(Process):
    """Equilibrium gas-particle partitioning in every air layer (moves no mass; supplies the particle fraction).

    Parameters
    ----------
    scheme
        ``"harner_bidleman"`` (Koa-based absorption, default) or ``"junge_pankow"`` (vapour-pressure adsorption).
    particle_concentration_ug_m3
        Aerosol mass concentration (ug m-3) for Harner-Bidleman: a scalar or one value per air layer. Default:
        layer means of ``30 exp(-z / 1500 m)`` ug m-3; 30 ug m-3 is the aerosol volume fraction 2e-11 of Mackay's
        evaluative environment (Mackay 2001) at a particle density of 1500 kg m-3, the 1.5 km scale height an
        assumed profile.
    organic_matter_fraction
        Organic-matter mass fraction f_om of the aerosol (default 0.2, assumed typical value).
    aerosol_surface_cm2_cm3
        Aerosol surface per air volume theta (cm2 cm-3) for Junge-Pankow; default 3.5e-6 ("background plus local
        sources", Whitby 1978 via Bidleman 1988; not re-verified).
    """

    name = "gas_particle_partitioning"
    reads = ("air_temperature_k",)

    def __init__(
        self,
        scheme: GasParticleScheme = "harner_bidleman",
        particle_concentration_ug_m3: float | tuple[float, ...] | None = None,
        organic_matter_fraction: float = 0.2,
        aerosol_surface_cm2_cm3: float = 3.5e-6,
        aerosol_scale_height_m: float = 1500.0,
    ):
        if scheme not in ("harner_bidleman", "junge_pankow"):
            raise ValueError(f"gas-particle scheme {scheme!r}: allowed are 'harner_bidleman' (Koa-based) and 'junge_pankow'")
        if not 0.0 < organic_matter_fraction <= 1.0:
            raise ValueError(f"organic_matter_fraction {organic_matter_fraction!r} must lie in (0, 1]")
        self.scheme = scheme
        self.particle_concentration_ug_m3 = particle_concentration_ug_m3
        self.organic_matter_fraction = organic_matter_fraction
        self.aerosol_surface_cm2_cm3 = aerosol_surface_cm2_cm3
        self.aerosol_scale_height_m = aerosol_scale_height_m
        self.surface_particle_concentration_ug_m3 = 30.0

    def particle_concentration_profile(self, layers) -> np.ndarray:
        """Aerosol mass concentration per layer (ug m-3), shape ``(L,)``."""
        if self.particle_concentration_ug_m3 is not None:
            tsp = np.broadcast_to(np.asarray(self.particle_concentration_ug_m3, dtype=float), (layers.n,))
            return np.array(tsp)
        e = np.asarray(layers.edges_m, dtype=float)
        h = self.aerosol_scale_height_m
        mean_factor = h * (np.exp(-e[:-1] / h) - np.exp(-e[1:] / h)) / np.diff(e)
        return self.surface_particle_concentration_ug_m3 * mean_factor

    def particle_fraction(self, chemical: ChemicalProperties, temperature_k, particle_concentration_ug_m3=None):
        """Particle-bound fraction for ``temperature_k`` (any shape); TSP broadcasts against it."""
        if self.scheme == "harner_bidleman":
            tsp = (
                self.surface_particle_concentration_ug_m3
                if particle_concentration_ug_m3 is None
                else (particle_concentration_ug_m3)
            )
            return particle_fraction_harner_bidleman(chemical.koa(temperature_k), tsp, self.organic_matter_fraction)
        return particle_fraction_junge_pankow(chemical.vapour_pressure_liquid_pa(temperature_k), self.aerosol_surface_cm2_cm3)

    def particle_fraction_field(self, context, forcing) -> np.ndarray:
        """Particle fraction in every air layer, shape ``(L, J, I)``, from ``air_temperature_k``."""
        t = np.asarray(forcing["air_temperature_k"], dtype=float)
        tsp = self.particle_concentration_profile(context.grid.layers)[:, None, None]
        return np.ascontiguousarray(self.particle_fraction(context.chemical, t, tsp))

    def transfers(self, context, forcing) -> list:
        """No transfers: gas and particles are one compartment in equilibrium."""
        return []


def default_partitioning(context) -> GasParticlePartitioning:
    """The context's partitioning scheme (attribute ``gas_particle_partitioning``) or the default."""
    p = getattr(context, "gas_particle_partitioning", None)
    return p if p is not None else GasParticlePartitioning()


__all__ = [
    "GasParticlePartitioning",
    "GasParticleScheme",
    "HARNER_BIDLEMAN_OFFSET",
    "JUNGE_C_PA_CM",
    "KOC_KOW_RATIO",
    "default_partitioning",
    "koc_l_kg",
    "particle_fraction_harner_bidleman",
    "particle_fraction_junge_pankow",
    "z_air",
    "z_octanol",
    "z_sorbent",
    "z_water",
]
