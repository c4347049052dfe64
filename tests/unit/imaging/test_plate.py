"""A synthetic plate end to end on the local backend: upload (inspection, thumbnails), plate
processing (flat fields, ROIs, labels, artifact rows, statuses), re-runs and failures."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from bioims import keys, tables
from bioims.imaging.flatfield import FlatField
from bioims.imaging.io import channel_sources, read_image, write_tiff_bytes
from bioims.imaging.outputs import ImageOutputKeys, read_flat_field
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import preprocess_image
from bioims.jobs.status import image_status
from tests.support.backends import installed, local_context
from tests.unit.imaging.plates import EMBEDDING, call, data_files, data_mtimes, setup_plate
from tests.unit.imaging.synthetic import CHANNELS, synthetic_field


@pytest.fixture
def plate(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    ctx = local_context(tmp_path / "home", memory_queues=True)
    with installed(ctx):
        info = setup_plate(ctx, tmp_path / "src", 6, corrupt=4)
        yield ctx, info


def _process(ctx, plate_id):
    return call(ctx, "process-plate", "processPlate", plateId=plate_id, embeddingName=EMBEDDING)


def test_upload_inspects_validates_and_makes_thumbnails(plate):
    ctx, info = plate
    management = ctx.service("image-management")
    plate_row = management.plate(info["plateId"])
    assert plate_row["searchReady"] == "VALIDATED"
    assert (plate_row["width"], plate_row["height"], plate_row["depth"], plate_row["channels"]) == (128, 96, 1, 3)
    assert plate_row["errorImageCount"] == 1
    bad = management.image(info["images"]["field-04"])
    assert bad["searchReady"] == "ERROR" and "not a readable TIFF" in bad["inspectionError"]
    for source_id, image_id in info["images"].items():
        row = management.image(image_id)
        artifacts = {a["key"] for a in ctx.service("artifact").list(image_id, tables.ORIGIN)}
        thumbs = [keys.thumbnail_key(info["plateId"], image_id, n) for n in ("thumbnail-2d.png", "medium-2d.png")]
        if source_id == "field-04":
            assert not any(ctx.stores.data.exists(k) for k in thumbs) and not artifacts
            continue
        assert row["dtype"] == "uint16"
        sizes = [Image.open(io.BytesIO(ctx.stores.data.get_bytes(k))).size for k in thumbs]
        assert sizes == [(100, 75), (1000, 750)]
        assert set(thumbs) <= artifacts


def test_process_plate_end_to_end(plate):
    ctx, info = plate
    plate_id = info["plateId"]
    result = _process(ctx, plate_id)
    assert result["status"] == "SUCCEEDED"
    data = ctx.stores.data
    # flat fields: one per channel, keyed by plate, registered on the plate
    plate_artifacts = {a["key"] for a in ctx.service("artifact").list(plate_id, tables.ORIGIN)}
    flats = {}
    for name in CHANNELS:
        key = keys.flatfield_key(plate_id, name)
        assert key in plate_artifacts
        flats[name] = read_flat_field(data, plate_id, name, (1, 96, 128))
    management = ctx.service("image-management")
    moa = ctx.service("label").index_map("moa")
    compound = ctx.service("label").index_map("compound")
    parameters = RoiParameters(16, 20)
    for source_id, image_id in info["images"].items():
        row = management.image(image_id)
        status = image_status(row, EMBEDDING)
        out = ImageOutputKeys.for_image(EMBEDDING, plate_id, image_id)
        if source_id == "field-04":
            assert status["status"] == "FAILED" and "failed inspection" in status["error"]
            assert not any(data.exists(k) for k in out.all())
            continue
        document = json.loads(data.get_bytes(out.roi))
        tensor = np.load(data.local_path(out.tensor))
        assert status["status"] == "DONE" and status["roiCount"] == document["count"] == len(tensor) > 0
        # the stored ROIs are exactly the pure pipeline's on the stored flat fields
        channels = read_image(ctx.stores, channel_sources(row), image_id)
        expected = preprocess_image(CHANNELS, channels, [flats[n] for n in CHANNELS], parameters)
        np.testing.assert_array_equal(tensor, expected.tensor)
        subclass = np.load(data.local_path(out.subclass))
        if "trainLabel" in row:
            labels = np.load(data.local_path(out.label))
            assert labels.tolist() == [moa[row["trainLabel"]]] * len(tensor)
            assert subclass.tolist() == [compound[row["trainSubclass"].replace(" ", "")]] * len(tensor)
            assert not data.exists(out.no_label)
        else:
            assert data.get_bytes(out.no_label) == b"No label data" and not data.exists(out.label)
            assert subclass.tolist() == [-1] * len(tensor)
        registered = {a["key"] for a in ctx.service("artifact").list(image_id, tables.ORIGIN)}
        assert {out.tensor, out.subclass, out.roi} <= registered


def test_rerun_does_no_work(plate):
    ctx, info = plate
    _process(ctx, info["plateId"])
    before_files, before_times = data_files(ctx), data_mtimes(ctx)
    rows_before = {r["imageId"]: r for r in ctx.service("image-management").plate_images(info["plateId"])}
    _process(ctx, info["plateId"])
    assert data_mtimes(ctx) == before_times and data_files(ctx) == before_files
    for row in ctx.service("image-management").plate_images(info["plateId"]):
        if row["imageId"] != info["images"]["field-04"]:  # the failed image is retried
            assert image_status(row, EMBEDDING) == image_status(rows_before[row["imageId"]], EMBEDDING)


def test_a_fixed_image_is_completed_by_a_rerun(plate):
    ctx, info = plate
    _process(ctx, info["plateId"])
    image_id = info["images"]["field-04"]
    # repair the file, inspect again: the next run completes that image only
    (info["root"] / "plate/f04_actin.tif").write_bytes(write_tiff_bytes(synthetic_field(4)[2][0]))
    assert call(ctx, "image-artifact", "inspectImage", imageId=image_id)["valid"] is True
    others = {k: v for k, v in data_files(ctx).items() if image_id not in k}
    _process(ctx, info["plateId"])
    assert image_status(ctx.service("image-management").image(image_id), EMBEDDING)["status"] == "DONE"
    assert {k: v for k, v in data_files(ctx).items() if image_id not in k} == others


def test_the_embedding_row_fixes_roi_geometry(plate):
    """Changing the configuration later does not change an existing embedding's ROIs."""
    ctx, info = plate
    call(ctx, "configuration", "setParameter", key="image-preprocessing-roi-size", value="32")
    result = _process(ctx, info["plateId"])
    assert result["status"] == "SUCCEEDED"
    sizes = {json.loads(v)["roisize"]["x"] for k, v in data_files(ctx).items() if k.endswith("-roi.json")}
    assert sizes == {16}


def test_setup_errors_stop_the_workflow_with_their_cause(plate):
    """A missing label category is a setup error: the execution fails naming it, and no labelled
    image gets ROI files (unlabelled images need no label and may still complete)."""
    ctx, info = plate
    call(ctx, "label", "deleteCategory", category="moa")
    result = _process(ctx, info["plateId"])
    assert result["status"] == "FAILED"
    result = call(ctx, "process-plate", "describeExecution", executionArn=result["executionArn"])
    assert "moa" in result["cause"]
    labelled = [
        r["imageId"] for r in ctx.service("image-management").plate_images(info["plateId"]) if r.get("trainLabel")
    ]
    written = {k for k in data_files(ctx) if k.endswith("-roi.json")}
    assert labelled and not any(image_id in key for key in written for image_id in labelled)


def test_missing_file_after_upload_fails_only_that_image(plate):
    ctx, info = plate
    (info["root"] / "plate/f01_dapi.tif").unlink()
    result = _process(ctx, info["plateId"])
    assert result["status"] == "SUCCEEDED"
    status = image_status(ctx.service("image-management").image(info["images"]["field-01"]), EMBEDDING)
    assert status["status"] == "FAILED" and "missing" in status["error"]
    done = [
        s
        for s, i in info["images"].items()
        if image_status(ctx.service("image-management").image(i), EMBEDDING)["status"] == "DONE"
    ]
    assert sorted(done) == ["field-00", "field-02", "field-03", "field-05"]


def test_flat_field_job_skips_existing_channels(plate):
    ctx, info = plate
    from bioims.jobs.flatfields import plate_preprocessing

    first = plate_preprocessing(ctx, info["plateId"])
    assert first["computed"] == list(CHANNELS) and first["fields"] == 5
    assert [f["imageId"] for f in first["failed"]] == []  # the unreadable field was excluded by inspection
    ctx.stores.data.delete(keys.flatfield_key(info["plateId"], "actin"))
    again = plate_preprocessing(ctx, info["plateId"])
    assert again["computed"] == ["actin"] and again["skipped"] == ["dapi", "tubulin"]
    assert isinstance(read_flat_field(ctx.stores.data, info["plateId"], "actin"), FlatField)


def test_an_empty_field_is_done_with_zero_rois(plate):
    ctx, info = plate
    black = write_tiff_bytes(np.zeros((96, 128), dtype=np.uint16))
    for name in CHANNELS:
        (info["root"] / f"plate/f03_{name}.tif").write_bytes(black)
    assert _process(ctx, info["plateId"])["status"] == "SUCCEEDED"
    image_id = info["images"]["field-03"]
    status = image_status(ctx.service("image-management").image(image_id), EMBEDDING)
    assert status["status"] == "DONE" and status["roiCount"] == 0
    out = ImageOutputKeys.for_image(EMBEDDING, info["plateId"], image_id)
    assert np.load(ctx.stores.data.local_path(out.tensor)).shape == (0, 3, 1, 16, 16)
    assert json.loads(ctx.stores.data.get_bytes(out.roi))["count"] == 0


def test_an_eight_bit_plate_end_to_end(tmp_path, monkeypatch):
    """8-bit TIFF channels: inspected as uint8, thumbnails, flat fields and ROIs equal to the pure
    pipeline on the stored flat fields, uint16 ROI tensors like 16-bit plates."""
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    ctx = local_context(tmp_path / "home", memory_queues=True)
    with installed(ctx):
        info = setup_plate(ctx, tmp_path / "src", 3, dtype=np.uint8)
        assert _process(ctx, info["plateId"])["status"] == "SUCCEEDED"
        data, management = ctx.stores.data, ctx.service("image-management")
        flats = {name: read_flat_field(data, info["plateId"], name, (1, 96, 128)) for name in CHANNELS}
        rois = 0
        for image_id in info["images"].values():
            row = management.image(image_id)
            assert row["dtype"] == "uint8" and image_status(row, EMBEDDING)["status"] == "DONE"
            assert data.exists(keys.thumbnail_key(info["plateId"], image_id, "thumbnail-2d.png"))
            out = ImageOutputKeys.for_image(EMBEDDING, info["plateId"], image_id)
            tensor = np.load(data.local_path(out.tensor))
            channels = read_image(ctx.stores, channel_sources(row), image_id)
            assert all(c.dtype == np.uint8 for c in channels)
            expected = preprocess_image(CHANNELS, channels, [flats[n] for n in CHANNELS], RoiParameters(16, 20))
            assert tensor.dtype == np.uint16 and np.array_equal(tensor, expected.tensor)
            rois += len(tensor)
        assert rois > 0
