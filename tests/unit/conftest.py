"""Real BBBC021 profiles for the evaluation and profiling tests (the copies in datasets/bbbc021/reference)."""

from __future__ import annotations

import pytest

from bioims.profiling import ProfileError
from bioims.profiling.reference import data_dir, ljosa_well_means, pycytominer_profiles


@pytest.fixture(scope="session")
def bbbc021_dir():
    try:
        return data_dir()
    except ProfileError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def pycytominer_wells(bbbc021_dir):
    return pycytominer_profiles(bbbc021_dir)


@pytest.fixture(scope="session")
def ljosa_wells(bbbc021_dir):
    return ljosa_well_means(bbbc021_dir)
