"""The upload's Inspect Images map runs on the worker processes (as Image Artifacts does): the
image rows it records (geometry, pixel type, or why a field is unreadable) are those of the same
upload run here, one image at a time."""

from __future__ import annotations

import pytest

from bioims.workflows.definitions import workflow
from bioims.workflows.dsl import Map
from tests.support.backends import installed, local_context
from tests.unit.imaging.plates import setup_plate

INSPECTED = ("searchReady", "width", "height", "depth", "channels", "dtype", "inspectionError")


def _inspected(tmp_path, monkeypatch, workers: int) -> dict[str, dict]:
    monkeypatch.setenv("BIOIMS_WORKERS", str(workers))
    ctx = local_context(tmp_path / f"home-{workers}", memory_queues=True)
    with installed(ctx):
        info = setup_plate(ctx, tmp_path / "src", 5, corrupt=2)  # the same files: errors name them
        rows = ctx.image_management.plate_images(info["plateId"])
    # image ids are random per upload: an error names the image by its lab id instead
    return {
        r["imageSourceId"]: {k: str(r.get(k)).replace(r["imageId"], r["imageSourceId"]) for k in INSPECTED}
        for r in rows
    }


def test_inspect_images_runs_on_the_worker_processes():
    (inspect,) = [s for s in workflow("upload-source-plate").steps if s.name == "Inspect Images"]
    assert isinstance(inspect, Map) and inspect.local_workers == "processes"


@pytest.mark.slow
def test_inspection_in_workers_records_what_one_process_records(tmp_path, monkeypatch):
    in_workers = _inspected(tmp_path, monkeypatch, 2)
    here = _inspected(tmp_path, monkeypatch, 1)
    assert in_workers == here
    assert (
        in_workers["field-02"]["searchReady"] == "ERROR"
        and "not a readable TIFF" in in_workers["field-02"]["inspectionError"]
    )
    assert {r["dtype"] for s, r in in_workers.items() if s != "field-02"} == {"uint16"}
    assert {r["width"] for s, r in in_workers.items() if s != "field-02"} == {"128"}
