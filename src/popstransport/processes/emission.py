"""Emission into the model: gridded rates split among source tags.

A gridded emission rate field E (kg s-1 per cell, shape (J, I)) enters the air layer that holds the release
height (or a surface compartment). With source attribution, the emission of a cell is split among tags by the
area fraction of each source region in the cell; the part of the cell outside every tagged region goes to the
``OTHER`` tag, so the tags always add up to the untagged emission.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class GriddedEmission:
    """Emission rates from a field provider, split among tags.

    Parameters
    ----------
    rates_at
        ``rates_at(time) -> ndarray (J, I)``: emission rate of every cell (kg s-1), >= 0, into air layer
        ``layer``; or ``(L, J, I)`` with ``L`` at most the model's air layers: the rate into every layer (emission
        heights).
    nlayer, nsurface
        Number of air layers and surface compartments of the model.
    tag_weights
        ``(T, J, I)`` share of every tag in every cell's emission (sums to 1 over tags where emissions occur);
        ``None`` for a single tag.
    layer
        Index of the air layer receiving the emission.
    scale
        Factor applied to every rate.
    tag_weights_at
        ``tag_weights_at(time) -> (T, J, I)``: shares that change in time (an inventory followed year by year),
        used instead of ``tag_weights``; it returns the same array object for as long as the shares hold.
    """

    def __init__(
        self,
        rates_at: Callable[[np.datetime64], np.ndarray],
        nlayer: int,
        nsurface: int,
        tag_weights: np.ndarray | None = None,
        layer: int = 0,
        scale: float = 1.0,
        tag_weights_at: Callable[[np.datetime64], np.ndarray] | None = None,
    ):
        self.rates_at = rates_at
        self.nlayer = nlayer
        self.nsurface = nsurface
        self.tag_weights = tag_weights
        self.tag_weights_at = tag_weights_at
        self.layer = layer
        self.scale = scale
        self._cache_key: object = None
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def sources_kg_s(self, time: np.datetime64) -> tuple[np.ndarray, np.ndarray | None]:
        """``(rates (1, L + S, J, I), tag_weights (T, J, I) or None)``: the emission rate into every compartment
        (kg s-1) at ``time`` and each tag's share of it (``None`` for a single tag)."""
        field = np.asarray(self.rates_at(time), dtype=np.float64) * self.scale
        if field.ndim == 3 and field.shape[0] > self.nlayer:
            raise ValueError(f"emission rates for {field.shape[0]} air layers; the model has {self.nlayer}")
        weights = self.tag_weights if self.tag_weights_at is None else self.tag_weights_at(time)
        if self._cache is not None and weights is self._cache[1] and np.array_equal(field, self._cache_key):
            return self._cache
        if np.any(field < 0) or not np.all(np.isfinite(field)):
            bad = tuple(int(v) for v in np.argwhere(~(field >= 0))[0])
            where = "(layer, lat, lon)" if field.ndim == 3 else "(lat, lon)"
            raise ValueError(f"emission rate {float(field[bad])!r} kg s-1 at cell {bad} {where}: must be finite and >= 0")
        if field.ndim == 3:
            rates = np.zeros((1, self.nlayer + self.nsurface) + field.shape[1:])
            rates[0, : field.shape[0]] = field
        else:
            rates = np.zeros((1, self.nlayer + self.nsurface) + field.shape)
            rates[0, self.layer] = field
        self._cache_key, self._cache = field, (rates, weights)
        return self._cache
