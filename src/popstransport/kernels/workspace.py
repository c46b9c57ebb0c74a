"""Work arrays kept between calls of a kernel, so that the steps of a run allocate nothing."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class LastShape:
    """What was built for the last key (a state shape and the options that size them, or a met record) a kernel or
    process was called with.

    ``get(key, make)`` returns what ``make()`` built for ``key``, building it anew (and dropping the old result) only
    when the key changes: one model run calls a kernel with one shape, so its time loop allocates nothing, and
    memory is held for one shape at a time. ``same`` (optional) are input arrays that must also be the very objects
    of the last call: they are kept, so that an identity test cannot match a new array at a reused address (for
    results derived from the arrays' values, such as the fields of a met record; the caller must not change the
    arrays in place).
    """

    def __init__(self) -> None:
        self._key: Hashable | None = None
        self._same: tuple[Any, ...] = ()
        self._arrays: Any = None

    def get(self, key: Hashable, make: Callable[[], Any], same: tuple[Any, ...] = ()) -> Any:
        if (self._arrays is None or self._key != key or len(self._same) != len(same)
                or any(a is not b for a, b in zip(self._same, same))):
            self._arrays = None  # (the old result goes before the new one is made)
            self._arrays = make()
            self._key = key
            self._same = tuple(same)
        return self._arrays


__all__ = ["LastShape"]
