"""Meteorology readers (placeholder while the file readers are written): ``open_met("synthetic", grid)``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ...grid import LatLonGrid
from .synthetic import SyntheticClimatology


@runtime_checkable
class MetSource(Protocol):
    """Forcing fields on the model grid at any time of the run."""

    @property
    def times(self) -> np.ndarray: ...

    def fields_at(self, time: np.datetime64) -> dict[str, np.ndarray]: ...

    def record_key(self, time: np.datetime64) -> int: ...

    def check_covers(self, start: np.datetime64, stop: np.datetime64) -> None: ...


def open_met(spec: object, grid: LatLonGrid, kind: str | None = None, **options: object) -> MetSource:
    """Open meteorology for ``grid``: ``"synthetic"`` (built-in climatology) or files (coming next)."""
    if spec is None or (isinstance(spec, str) and spec == "synthetic"):
        return SyntheticClimatology(grid)
    raise NotImplementedError("file readers are being written")
