"""Degradation: gas-phase reaction with OH in every air layer and first-order loss in the surface media.

* Air: ``k = k_OH(T) [OH] ((1 - phi) + r phi)`` in each layer, with ``k_OH(T) = k_OH(298.15 K)
  exp[Ea/R (1/298.15 - 1/T)]`` (Arrhenius with the activation energy ``ea_air`` of the property table), ``[OH]``
  the forcing field ``oh_concentration_molec_cm3`` (built-in climatology in :mod:`popstransport.processes.oh`),
  ``phi`` the particle-bound fraction and ``r`` the relative reactivity of the particle-bound chemical (default 0:
  particle-bound chemical is protected, as in e.g. GEOS-Chem's POPs simulation; BETR-Global 4.0 gives particle
  half-lives for some substances, see ../shared/data/REFERENCES.md section 3).
* Vegetation, soil, ocean, fresh water, sediment: ``k = ln 2 / t1/2 exp[Ea/R (1/298.15 - 1/T_s)]`` with the
  medium's half-life and activation energy and the surface temperature ``T_s``.

Degraded mass goes to the budget sink ``degraded``.
"""

from __future__ import annotations

import numpy as np

from .base import Process
from .exchange import has, particle_fraction_field, surface_temperature

#: Surface compartment -> degradation medium of the property table.
SURFACE_MEDIA: dict[str, str] = {
    "vegetation": "vegetation",
    "soil": "soil",
    "ocean": "ocean",
    "freshwater": "freshwater",
    "sediment": "sediment",
}


class OHDegradation(Process):
    """Gas-phase reaction with OH in every air layer (process name ``degradation_oh``).

    Parameters
    ----------
    particle_phase_reactivity
        Reactivity of the particle-bound chemical relative to the gas phase, 0..1 (default 0).
    """

    name = "degradation_oh"
    reads = ("air_temperature_k", "oh_concentration_molec_cm3")

    def __init__(self, particle_phase_reactivity: float = 0.0):
        if not 0.0 <= particle_phase_reactivity <= 1.0:
            raise ValueError(f"particle_phase_reactivity {particle_phase_reactivity!r} must lie in [0, 1]")
        self.particle_phase_reactivity = particle_phase_reactivity

    def rates(self, context, forcing) -> np.ndarray:
        """Rate constants (s-1) of every layer, shape (L, J, I)."""
        t = np.asarray(forcing["air_temperature_k"], dtype=float)
        oh = np.maximum(np.asarray(forcing["oh_concentration_molec_cm3"], dtype=float), 0.0)
        phi = particle_fraction_field(context, forcing)
        k_oh = context.chemical.oh_rate_constant_cm3_s(t)
        return k_oh * oh * ((1.0 - phi) + self.particle_phase_reactivity * phi)

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        k = self.rates(context, forcing)
        return [Transfer(self.name, f"air_{i}", "degraded", np.ascontiguousarray(k[i])) for i in range(k.shape[0])]


class SurfaceDegradation(Process):
    """First-order degradation in every present surface compartment (process names ``degradation_<medium>``)."""

    name = "degradation_surface"
    reads = ("surface_temperature_k",)

    def rate(self, context, forcing, compartment: str) -> np.ndarray:
        """Rate constant (s-1), (J, I), of ``compartment`` at the surface temperature."""
        return context.chemical.degradation_rate_s(SURFACE_MEDIA[compartment], surface_temperature(forcing))

    def transfers(self, context, forcing) -> list:
        from .fate import Transfer

        out = []
        shape = context.grid.shape
        for comp in context.surface_compartments:
            if comp not in SURFACE_MEDIA or not has(context, comp):
                continue
            k = np.broadcast_to(self.rate(context, forcing, comp), shape)
            out.append(Transfer(f"degradation_{comp}", comp, "degraded", np.ascontiguousarray(k)))
        return out


__all__ = ["OHDegradation", "SURFACE_MEDIA", "SurfaceDegradation"]
