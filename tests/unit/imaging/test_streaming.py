"""Bounded working set of the per-plate flat fields: one running sum per channel plus the field
being read, whatever the number of fields (tracemalloc peaks over N and 10N fields), and the real
plate job holds no field beyond the one it is adding."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from bioims.imaging.flatfield import compute_flat_field
from bioims.jobs.flatfields import compute_plate_flat_fields
from tests.support.backends import installed, local_context
from tests.unit.imaging.plates import setup_plate
from tests.unit.imaging.synthetic import CHANNELS

SHAPE = (1, 256, 320)


def _fields(n: int):
    rng = np.random.default_rng(0)
    for _ in range(n):
        yield rng.integers(0, 4096, SHAPE, dtype=np.uint16)


def _peak(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_flat_field_accumulation_peak_does_not_grow_with_fields():
    small = _peak(lambda: compute_flat_field(_fields(5)))
    large = _peak(lambda: compute_flat_field(_fields(50)))
    field_bytes = int(np.prod(SHAPE)) * 2
    # Bound: the float64 sum + smoothing temporaries + one field; 45 more fields held would add 7 MB.
    assert large <= small * 1.05 + field_bytes, (small, large)


@pytest.fixture
def two_plates(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    plates = []
    for n in (4, 24):
        ctx = local_context(tmp_path / f"home{n}", memory_queues=True)
        with installed(ctx):
            plates.append((ctx, setup_plate(ctx, tmp_path / f"src{n}", n)))
    return plates


def test_plate_flat_field_job_holds_one_field_at_a_time(two_plates):
    peaks = []
    for ctx, info in two_plates:
        with installed(ctx):
            summary = {}
            peaks.append(_peak(lambda: summary.update(compute_plate_flat_fields(ctx, info["plateId"]))))  # noqa: B023 - called at once
            assert summary["computed"] == list(CHANNELS)
    field_bytes = 96 * 128 * 2 * len(CHANNELS)  # one field's three uint16 channels (74 kB)
    # Holding the fields would add 20 x 74 kB = 1.5 MB; what does grow is the plate's list of image
    # rows (a few kB per field, measured ~7 kB), bounded by the plate, not by the screen.
    per_field = (peaks[1] - peaks[0]) / 20
    assert per_field < field_bytes / 4, peaks
