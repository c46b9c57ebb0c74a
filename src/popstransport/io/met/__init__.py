"""Meteorological forcing: file readers (ERA5, MERRA-2, CMIP, generic CF), the synthetic climatology, time rules.

``open_met(spec, grid)`` returns a :class:`MetSource` whose ``fields_at(time)`` gives every forcing field on the
model grid (plain float64 arrays keyed by :data:`popstransport.processes.base.FORCING_FIELDS`).
"""

from .readers import MetSource, open_met
from .synthetic import SyntheticClimatology

__all__ = ["MetSource", "SyntheticClimatology", "open_met"]
