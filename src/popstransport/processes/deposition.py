"""Wet deposition of gas and particles and dry particle deposition from the lowest air layer.

Rates on the bulk (gas + particle) mass of ``air_0`` with particle-bound fraction ``phi`` and layer thickness
``h_0`` (Mackay 2001, *Multimedia Environmental Models*, 2nd ed., chapter 8, Level III air-to-surface D-values
``D_RW = A U_R Z_W``, ``D_QW = A U_R Q v_Q Z_Q``, ``D_QD = A U_Q v_Q Z_Q`` divided by ``V_A Z_bulk``):

* gas dissolution in rain: ``k = P (1 - phi) / (Kaw(T) h_0)``;
* particle scavenging: ``k = P W phi / h_0`` with the particle scavenging (washout) ratio ``W = 200 000``
  (volumes of air cleaned per volume of rain, Mackay 2001);
* dry particle deposition: ``k = v_d phi / h_0`` with ``v_d = 10.8 m/h = 0.003 m/s`` (Mackay 2001).

``P`` is the precipitation rate (m s-1, liquid water equivalent). The scavenging and washout ratios are defined on
near-surface air concentrations, so the processes act on the lowest layer only. Deposited mass is distributed by
area: the ocean fraction receives ``(1 - f_L)``; the land receives ``f_L`` (minus the fresh-water share, which
goes to ``freshwater`` when that compartment exists); of the particle deposition to land the fraction
``vegetation_interception_fraction`` goes to vegetation (when present), the rest to soil; gas dissolved in rain
goes to the soil.
"""

from __future__ import annotations

import numpy as np

from .base import Process
from .exchange import (
    air_layer_temperature,
    freshwater_fraction,
    has,
    land_fraction,
    particle_fraction_field,
    soil_fraction,
    surface_parameters,
)

#: Particle scavenging (washout) ratio, volumes of air per volume of rain (Mackay 2001, Level III).
PARTICLE_SCAVENGING_RATIO = 2.0e5

#: Dry deposition velocity of aerosol particles (m s-1): 10.8 m/h (Mackay 2001, Level III).
PARTICLE_DRY_DEPOSITION_VELOCITY_M_S = 10.8 / 3600.0


def _split_to_surfaces(context, forcing, process: str, rate: np.ndarray, particles: bool, kind: str) -> list:
    """Split a total removal rate from ``air_0`` among the surface compartments by area."""
    from .fate import Transfer

    lf = land_fraction(context, forcing)
    shares: dict[str, np.ndarray] = {}
    fw = freshwater_fraction(context, lf)
    soil = soil_fraction(context, lf)
    if has(context, "ocean"):
        shares["ocean"] = 1.0 - lf
    elif np.any(lf < 1.0):
        raise ValueError(f"process {process!r}: cells have an ocean fraction but there is no 'ocean' compartment")
    if has(context, "freshwater"):
        shares["freshwater"] = fw
    if particles and has(context, "vegetation"):
        f_int = surface_parameters(context).vegetation_interception_fraction
        shares["vegetation"] = soil * f_int
        shares["soil"] = soil * (1.0 - f_int)
    else:
        shares["soil"] = soil
    if not has(context, "soil") and np.any(lf > 0):
        raise ValueError(f"process {process!r}: cells have land but there is no 'soil' compartment")
    shape = context.grid.shape
    out = []
    for target, share in shares.items():
        if not has(context, target):
            continue
        out.append(Transfer(process, "air_0", target, np.ascontiguousarray(np.broadcast_to(rate * share, shape)), kind))
    return out


class WetDeposition(Process):
    """Removal of gas (rain dissolution) and particles (scavenging) from ``air_0`` by precipitation.

    Process names ``wet_deposition_gas`` and ``wet_deposition_particle``.

    Parameters
    ----------
    particle_scavenging_ratio
        Washout ratio W of particles (default 2e5, Mackay 2001).
    """

    name = "wet_deposition"
    reads = ("air_temperature_k", "precipitation_m_s")

    def __init__(self, particle_scavenging_ratio: float = PARTICLE_SCAVENGING_RATIO):
        if not particle_scavenging_ratio >= 0:
            raise ValueError(f"particle_scavenging_ratio {particle_scavenging_ratio!r} must be >= 0")
        self.particle_scavenging_ratio = particle_scavenging_ratio

    def rates(self, context, forcing) -> tuple[np.ndarray, np.ndarray]:
        """Total gas and particle wet-removal rate constants from ``air_0`` (s-1), each (J, I)."""
        h0 = context.grid.layers.thickness_m[0]
        rain = np.maximum(np.asarray(forcing["precipitation_m_s"], dtype=float), 0.0)
        phi0 = particle_fraction_field(context, forcing)[0]
        kaw = context.chemical.kaw(air_layer_temperature(forcing, 0))
        k_gas = rain * (1.0 - phi0) / (kaw * h0)
        k_part = rain * self.particle_scavenging_ratio * phi0 / h0
        return k_gas, k_part

    def transfers(self, context, forcing) -> list:
        """Transfers from ``air_0`` to soil / vegetation / ocean / freshwater."""
        k_gas, k_part = self.rates(context, forcing)
        return _split_to_surfaces(
            context, forcing, "wet_deposition_gas", k_gas, particles=False, kind="wet_deposition"
        ) + _split_to_surfaces(context, forcing, "wet_deposition_particle", k_part, particles=True, kind="wet_deposition")


class DryParticleDeposition(Process):
    """Dry deposition of particle-bound chemical from ``air_0``, ``k = v_d phi / h_0`` (``dry_deposition_particle``).

    Parameters
    ----------
    deposition_velocity_m_s
        Particle dry deposition velocity (default 10.8 m/h, Mackay 2001).
    """

    name = "dry_deposition_particle"
    reads = ("air_temperature_k",)

    def __init__(self, deposition_velocity_m_s: float = PARTICLE_DRY_DEPOSITION_VELOCITY_M_S):
        if not deposition_velocity_m_s >= 0:
            raise ValueError(f"deposition_velocity_m_s {deposition_velocity_m_s!r} must be >= 0")
        self.deposition_velocity_m_s = deposition_velocity_m_s

    def rate(self, context, forcing) -> np.ndarray:
        """Total dry-deposition rate constant from ``air_0`` (s-1), (J, I)."""
        phi0 = particle_fraction_field(context, forcing)[0]
        return self.deposition_velocity_m_s * phi0 / context.grid.layers.thickness_m[0]

    def transfers(self, context, forcing) -> list:
        return _split_to_surfaces(context, forcing, self.name, self.rate(context, forcing), particles=True,
                                  kind="dry_deposition")


__all__ = [
    "DryParticleDeposition",
    "PARTICLE_DRY_DEPOSITION_VELOCITY_M_S",
    "PARTICLE_SCAVENGING_RATIO",
    "WetDeposition",
]
