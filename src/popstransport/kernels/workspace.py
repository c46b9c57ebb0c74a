"""Work arrays kept between calls of a kernel, so that the steps of a run allocate nothing."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class LastShape:
    """The work arrays of the last key (a state shape and the options that size them) a kernel was called with.

    ``get(key, make)`` returns what ``make()`` built for ``key``, building it anew (and dropping the old arrays) only
    when the key changes: one model run calls a kernel with one shape, so its time loop allocates nothing, and
    memory is held for one shape at a time.
    """

    def __init__(self) -> None:
        self._key: Hashable | None = None
        self._arrays: Any = None

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if self._arrays is None or self._key != key:
            self._arrays = None  # (the old arrays go before the new ones are made)
            self._arrays = make()
            self._key = key
        return self._arrays


__all__ = ["LastShape"]
