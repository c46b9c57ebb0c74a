"""The common shape of every physical process and the forcing it reads.

A process is a small object that declares the forcing fields it needs (``reads``), is prepared once for a grid
(``setup``), and advances the model state over a step, returning the mass it moved per tag. The model checks at
construction that every field a process reads is provided by the forcing, and names what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Names of forcing fields and their units / shapes (``L`` layers, ``J`` latitudes, ``I`` longitudes).
FORCING_FIELDS: dict[str, str] = {
    "eastward_wind_m_s": "cell-centre eastward wind per air layer, m s-1, (L, J, I)",
    "northward_wind_m_s": "cell-centre northward wind per air layer, m s-1, (L, J, I)",
    "air_temperature_k": "air temperature per layer, K, (L, J, I)",
    "surface_temperature_k": "surface (skin / 2 m) temperature, K, (J, I)",
    "precipitation_m_s": "liquid-water-equivalent precipitation rate, m s-1, (J, I)",
    "boundary_layer_height_m": "mixed-layer height, m, (J, I)",
    "surface_pressure_pa": "surface pressure, Pa, (J, I)",
    "land_fraction": "land fraction of the cell area, 1, (J, I)",
    "oh_concentration_molec_cm3": "hydroxyl radical number concentration, molecules cm-3, (L, J, I)",
}


@dataclass
class Forcing:
    """Forcing fields valid over one step, as plain C-contiguous float64 arrays keyed by :data:`FORCING_FIELDS`."""

    fields: dict[str, np.ndarray] = field(default_factory=dict)
    #: Integer that changes whenever any field changes (met record index); processes cache on it.
    record_key: int = 0

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.fields[name]
        except KeyError:
            raise KeyError(
                f"forcing field {name!r} is not available; available: {sorted(self.fields)}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self.fields


class ModelSetupError(ValueError):
    """The model cannot be assembled (a process reads something nobody provides, shapes disagree, ...)."""


class Process:
    """Base class of a physical process.

    Subclasses set ``name`` and ``reads`` and implement :meth:`setup`. Transport-type processes implement
    ``apply``; fate processes (first-order transfers between compartments of one cell) implement ``transfers``.
    """

    name: str = "process"
    reads: tuple[str, ...] = ()

    def setup(self, model: "object") -> None:  # noqa: D401 - hook
        """Prepare for ``model`` (grid, compartments); called once by the model."""

    def check_reads(self, available: set[str]) -> None:
        """Raise :class:`ModelSetupError` naming every forcing field this process reads that is not available."""
        missing = [r for r in self.reads if r not in available]
        if missing:
            raise ModelSetupError(
                f"process {self.name!r} reads {missing} but the forcing provides only {sorted(available)}; "
                "add these fields to the met input or remove the process"
            )
