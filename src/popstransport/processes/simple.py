"""The reference fate chain: first-order degradation and dry deposition at a constant velocity.

These are the simplest processes that close a multimedia budget; they stay available (``[processes] fate =
"simple"``) as a reference for the full multimedia system and for checks with closed-form answers.
"""

from __future__ import annotations

import math

from .base import Forcing, Process
from .fate import Transfer


class FirstOrderDegradation(Process):
    """Degradation at a constant first-order rate in each listed compartment: dm/dt = -ln(2) / t_half * m."""

    name = "degradation"

    def __init__(self, half_life_s: dict[str, float]):
        for comp, t in half_life_s.items():
            if not t > 0:
                raise ValueError(f"degradation half-life of {comp!r} must be positive, got {t!r} s")
        self.half_life_s = dict(half_life_s)

    def transfers(self, context: object, forcing: Forcing) -> list[Transfer]:
        """One transfer to the ``degraded`` sink per compartment."""
        return [Transfer(self.name, comp, "degraded", math.log(2.0) / t) for comp, t in self.half_life_s.items()]


class ConstantVelocityDryDeposition(Process):
    """Dry deposition from the lowest air layer to a surface compartment at a constant velocity.

    The flux is F = v_d c = v_d m / h_0 per unit area, with ``h_0`` the lowest layer's thickness, so the
    first-order rate is k = v_d / h_0 (s-1).
    """

    name = "dry_deposition"

    def __init__(self, velocity_m_s: float, target: str = "soil"):
        if not velocity_m_s >= 0:
            raise ValueError(f"dry deposition velocity must be >= 0, got {velocity_m_s!r} m s-1")
        self.velocity_m_s = velocity_m_s
        self.target = target

    def transfers(self, context: object, forcing: Forcing) -> list[Transfer]:
        """The transfer ``air_0 -> target`` at rate v_d / h_0."""
        h0 = float(context.grid.layers.thickness_m[0])  # type: ignore[attr-defined]
        return [Transfer(self.name, "air_0", self.target, self.velocity_m_s / h0, "dry_deposition")]
