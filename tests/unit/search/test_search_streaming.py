"""Bounded working set of a training's load: the engine reads, applies and drops one plate's
segment at a time, so loading 10x the plates holds no more transient memory than loading a few
(the index itself grows with the images, as it must)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from bioims.search import SearchEngine
from bioims.store.localfs import LocalObjectStore

PLATE_IMAGES, DIM = 400, 64
SEGMENT_BYTES = PLATE_IMAGES * DIM * 4


def _store_with_plates(root, plates: int) -> LocalObjectStore:
    store = LocalObjectStore(root)
    writer = SearchEngine(store)
    rng = np.random.default_rng(plates)
    for p in range(plates):
        ids = [f"p{p:03d}i{i:04d}" for i in range(PLATE_IMAGES)]
        writer.add_plate(
            "train1", "emb1", f"plate{p:03d}", ids, rng.standard_normal((PLATE_IMAGES, DIM)).astype(np.float32)
        )
    return store


def _transient_peak(store) -> tuple[int, int]:
    """(peak - what stays allocated after the load, images loaded) for one engine.load()."""
    engine = SearchEngine(store)
    tracemalloc.start()
    try:
        engine.load()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - current, engine.trainings()[0]["images"]


def test_loading_ten_times_the_plates_needs_no_more_working_memory(tmp_path):
    few, few_images = _transient_peak(_store_with_plates(tmp_path / "few", 3))
    many, many_images = _transient_peak(_store_with_plates(tmp_path / "many", 30))
    assert (few_images, many_images) == (3 * PLATE_IMAGES, 30 * PLATE_IMAGES)
    # Holding every decoded segment at once would add 27 segments (~2.8 MB) to the peak; the
    # stated bound is one segment (file bytes + arrays + id strings) on top of the index.
    assert many <= few + SEGMENT_BYTES, (few, many)
    assert many < 6 * SEGMENT_BYTES, many
