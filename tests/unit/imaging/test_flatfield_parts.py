"""The plate-preprocessing job in parts on the worker processes (Runtime.map_parts): the same flat
fields, bit for bit, and the same report as one serial pass; a killed worker fails the job with
nothing written and a re-run completes it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bioims import keys, tables
from bioims.imaging.flatfield import FlatField, compute_flat_field
from bioims.imaging.io import channel_sources, read_image, write_tiff_bytes
from bioims.imaging.outputs import write_flat_field
from bioims.jobs.flatfields import plate_preprocessing
from bioims.runtime.ports import split_parts
from bioims.store import Update
from bioims.workflows import runner as runner_module
from tests.support.backends import installed, local_context
from tests.unit.imaging.plates import EMBEDDING, call, setup_plate
from tests.unit.imaging.synthetic import CHANNELS

FIELDS = 7  # two parts of 3 and 4 fields


def _where(ctx, part: list[int]) -> tuple[int, list[int]]:
    """A part function: the process it ran in and its items."""
    return os.getpid(), part


@pytest.fixture
def plate(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    ctx = local_context(tmp_path / "home", memory_queues=True)
    with installed(ctx):
        info = setup_plate(ctx, tmp_path / "src", FIELDS)
        yield ctx, info
    runner_module.shutdown_process_pool()


def _flat_bytes(ctx, plate_id: str) -> dict[str, bytes]:
    return {name: ctx.stores.data.get_bytes(keys.flatfield_key(plate_id, name)) for name in CHANNELS}


def _forget_flat_fields(ctx, plate_id: str) -> None:
    for name in CHANNELS:
        ctx.stores.data.delete(keys.flatfield_key(plate_id, name))


def _run(ctx, plate_id: str, workers: int, monkeypatch) -> tuple[dict, dict[str, bytes]]:
    monkeypatch.setenv("BIOIMS_WORKERS", str(workers))
    summary = plate_preprocessing(ctx, plate_id)
    flats = _flat_bytes(ctx, plate_id)
    _forget_flat_fields(ctx, plate_id)
    return summary, flats


def test_split_parts_keeps_order_and_covers_every_item():
    assert split_parts(list(range(7)), 2) == [[0, 1, 2], [3, 4, 5, 6]]
    assert split_parts(list(range(3)), 8) == [[0], [1], [2]]
    assert split_parts([], 4) == []
    for n in range(1, 30):
        for parts in range(1, 6):
            runs = split_parts(list(range(n)), parts)
            assert [i for run in runs for i in run] == list(range(n)) and len(runs) == min(n, parts)


def test_map_parts_runs_one_part_per_worker_process(plate, monkeypatch):
    ctx, _ = plate
    monkeypatch.setenv("BIOIMS_WORKERS", "2")
    results = ctx.runtime.map_parts(_where, list(range(7)))
    assert [part for _, part in results] == [[0, 1, 2], [3, 4, 5, 6]]
    assert os.getpid() not in {pid for pid, _ in results}
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    assert ctx.runtime.map_parts(_where, list(range(7))) == [(os.getpid(), list(range(7)))]


def test_parallel_flat_fields_equal_the_serial_ones_bit_for_bit(plate, monkeypatch):
    ctx, info = plate
    plate_id = info["plateId"]
    serial, serial_flats = _run(ctx, plate_id, 1, monkeypatch)
    parallel, parallel_flats = _run(ctx, plate_id, 2, monkeypatch)
    assert parallel == serial and serial["fields"] == FIELDS and serial["failed"] == []
    assert parallel_flats == serial_flats
    # and both are the flat field of every field streamed through one accumulator
    rows = ctx.image_management.plate_images(plate_id)
    fields = [read_image(ctx.stores, channel_sources(r), r["imageId"]) for r in rows]
    for c, name in enumerate(CHANNELS):
        expected = compute_flat_field(f[c] for f in fields).astype(np.float32)
        monkeypatch.setenv("BIOIMS_WORKERS", "2")
        plate_preprocessing(ctx, plate_id)
        stored = np.load(ctx.stores.data.local_path(keys.flatfield_key(plate_id, name)))
        assert np.array_equal(stored, expected[0])


def test_a_field_that_fails_to_read_is_reported_as_one_pass_reports_it(plate, monkeypatch):
    """Field 5 (in the second part) became unreadable after inspection: both runs leave it out,
    list it with the same error, and make the same flat fields from the other six."""
    ctx, info = plate
    plate_id = info["plateId"]
    broken = info["images"]["field-05"]
    row = ctx.image_management.image(broken)
    source = next(s for s in channel_sources(row) if s.name == "tubulin")
    store = ctx.stores.bucket(source.bucket)
    store.put_bytes(source.key, store.get_bytes(source.key)[:300])
    serial, serial_flats = _run(ctx, plate_id, 1, monkeypatch)
    parallel, parallel_flats = _run(ctx, plate_id, 2, monkeypatch)
    assert [f["imageId"] for f in serial["failed"]] == [broken] and serial["fields"] == FIELDS - 1
    assert parallel == serial
    assert parallel_flats == serial_flats


@pytest.mark.slow
def test_a_killed_worker_fails_the_job_with_nothing_written_and_a_rerun_completes_it(plate, monkeypatch):
    ctx, info = plate
    plate_id = info["plateId"]
    monkeypatch.setenv("BIOIMS_WORKERS", "2")
    monkeypatch.setenv("BIOIMS_FAULT", "flat-field-part-summed")  # each worker dies after summing its part
    failed = call(ctx, "process-plate", "processPlate", plateId=plate_id, embeddingName=EMBEDDING, wait=True)
    assert failed["status"] == "FAILED"
    described = call(ctx, "process-plate", "describeExecution", executionArn=failed["executionArn"])
    assert described["error"] == "WorkerDied" and "Plate Flat Fields" in described["cause"], described
    assert "a worker process died while running sum_fields" in described["cause"]
    assert not any(ctx.stores.data.exists(keys.flatfield_key(plate_id, n)) for n in CHANNELS)
    registered = {a["key"] for a in ctx.artifact.list(plate_id, tables.ORIGIN)}
    assert not registered & {keys.flatfield_key(plate_id, n) for n in CHANNELS}

    monkeypatch.delenv("BIOIMS_FAULT")
    done = call(ctx, "process-plate", "processPlate", plateId=plate_id, embeddingName=EMBEDDING, wait=True)
    assert done["status"] == "SUCCEEDED"
    rerun_flats = _flat_bytes(ctx, plate_id)
    _forget_flat_fields(ctx, plate_id)
    assert _run(ctx, plate_id, 1, monkeypatch)[1] == rerun_flats  # what one serial pass makes


def test_a_plate_row_without_geometry_takes_the_first_readable_fields_shape(plate, monkeypatch):
    """As one pass does: the plate's first field (in the rows' order) is unreadable (left out, it
    sets no shape), the second sets the shape, the fifth (in the other part) has another shape and
    is left out; the flat fields are those of the other five fields."""
    ctx, info = plate
    plate_id = info["plateId"]
    ctx.stores.table(tables.IMAGE_MANAGEMENT).update(
        {"imageId": f"plate#{plate_id}", "trainId": tables.ORIGIN}, Update(remove=("width", "height", "depth"))
    )
    assert "width" not in ctx.image_management.plate(plate_id)
    rows = ctx.image_management.plate_images(plate_id)  # the order the job reads them in
    unreadable, other_shape = rows[0], rows[4]
    kept = [
        read_image(ctx.stores, channel_sources(r), r["imageId"]) for r in rows if r not in (unreadable, other_shape)
    ]
    for row, name, data in [(unreadable, "dapi", b"not a tiff")] + [
        (other_shape, n, write_tiff_bytes(np.ones((48, 64), dtype=np.uint16))) for n in CHANNELS
    ]:
        source = next(s for s in channel_sources(row) if s.name == name)
        ctx.stores.bucket(source.bucket).put_bytes(source.key, data)
    serial, serial_flats = _run(ctx, plate_id, 1, monkeypatch)
    parallel, parallel_flats = _run(ctx, plate_id, 2, monkeypatch)
    assert parallel == serial and parallel_flats == serial_flats
    assert [f["imageId"] for f in parallel["failed"]] == [unreadable["imageId"], other_shape["imageId"]]
    assert "differs from the plate's (1, 96, 128)" in parallel["failed"][1]["error"] and parallel["fields"] == 5
    for c, name in enumerate(CHANNELS):
        expected = compute_flat_field(f[c] for f in kept).astype(np.float32)[0]
        assert parallel_flats[name] == _npy_bytes(ctx, expected, plate_id, name)


def _npy_bytes(ctx, array: np.ndarray, plate_id: str, name: str) -> bytes:
    """The bytes write_flat_field stores for `array` (written, read back, removed)."""
    write_flat_field(ctx.stores.data, plate_id, FlatField(name, array[np.newaxis]))
    stored = ctx.stores.data.get_bytes(keys.flatfield_key(plate_id, name))
    ctx.stores.data.delete(keys.flatfield_key(plate_id, name))
    return stored
