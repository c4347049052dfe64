"""Fixtures of the imaging tests: small synthetic fields and a local object store."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.imaging.flatfield import FlatField, compute_flat_field
from bioims.store.localfs import LocalObjectStore
from tests.unit.imaging.synthetic import CHANNELS, synthetic_field


@pytest.fixture(scope="session")
def plate_fields() -> list[list[np.ndarray]]:
    """Four 96 x 128 three-channel uint16 fields of one synthetic plate."""
    return [synthetic_field(seed) for seed in range(4)]


@pytest.fixture(scope="session")
def plate_flat_fields(plate_fields) -> list[np.ndarray]:
    return [compute_flat_field([field[c] for field in plate_fields]) for c in range(len(CHANNELS))]


@pytest.fixture
def flat_field_objects(plate_flat_fields) -> list[FlatField]:
    return [FlatField.from_array(name, array) for name, array in zip(CHANNELS, plate_flat_fields, strict=True)]


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "data", bucket="data")
