"""A tiny synthetic BBBC021 copy (two plates, a few 64x80 fields) shared by the crash tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.tiny_plate import two_plate_copy


@pytest.fixture(scope="session")
def bbbc021_copy(tmp_path_factory) -> Path:
    return two_plate_copy(tmp_path_factory.mktemp("bbbc021") / "data")


@pytest.fixture
def second_copy(bbbc021_copy, tmp_path) -> Path:
    """The same plates at another path (another copy of the data set)."""
    target = tmp_path / "other-copy"
    shutil.copytree(bbbc021_copy, target)
    return target
