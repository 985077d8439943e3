"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Reference data kept beside the repository, never inside it.
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Path:
    """Message packages built from bags' definitions go to a cache of this test session, not to
    the user's ``~/.cache`` (child processes inherit it)."""
    cache = tmp_path_factory.mktemp("xdg_cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared reference folder; tests that need it skip cleanly where it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared reference data is not present beside the repository")
    return SHARED_DIR
