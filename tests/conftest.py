"""Shared test fixtures: a fresh Numba cache, the optional reference data folder, small model builders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="numba-cache-"))
os.environ.setdefault("POPSTRANSPORT_CACHE_DIR", tempfile.mkdtemp(prefix="popstransport-cache-"))
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The reference data folder beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("reference data folder ../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def cli_main():
    """The ``popstransport`` command's entry point."""
    from popstransport.cli import main

    return main
