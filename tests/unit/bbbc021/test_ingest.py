"""`ingest` of a small synthetic BBBC021 subset through the services on the local backend, and bad
input that must leave nothing half-written for its plate."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bioims import client, tables
from bioims.bbbc021 import layout
from bioims.bbbc021.csvs import Bbbc021DataError, packaged_path
from bioims.bbbc021.design import load_design_from_dir
from bioims.bbbc021.ingest import IngestError, check_files, check_plate_files, check_tiff, ingest, plate_files
from tests.support.tiny_plate import TWO_PLATE_WELLS, TWO_PLATES, two_plate_copy

PLATES = TWO_PLATES
# DMSO, taxol control, taxol 0.3 treatment (annotated), nocodazole 3 (annotated), nocodazole 0.001 (not)
WELLS = TWO_PLATE_WELLS
ORIGIN_ATTRIBUTES = {
    "plateId",
    "wellId",
    "plateSourceId",
    "wellSourceId",
    "imageSourceId",
    "createTimestamp",
    "messageId",
    "bucket",
    "key",
    "channelKeys",
    "trainCategory",
    "trainSubclassType",
    "trainSubclass",
    "experiment",
    "searchReady",
    "width",
    "height",
    "depth",
    "channels",
    "tagArr",
}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A synthetic copy of two plates, its image CSV cut down to a few wells (fields_per_well 1)."""
    return two_plate_copy(tmp_path_factory.mktemp("bbbc021") / "data")


@pytest.fixture
def copy(source, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(source, target)
    return target


def _plates(ctx) -> dict[str, str]:
    return {p["plateSourceId"]: p["plateId"] for p in client("image-management", ctx).listPlates()}


def _rows_of(ctx, plate: str) -> list[dict]:
    """Every image-management row of a plate: upload marker, plate row, image rows."""
    rows = ctx.stores.table(tables.IMAGE_MANAGEMENT).scan_all()
    return [r for r in rows if r.get("plateSourceId") == plate or r["imageId"] == f"platesource#{plate}"]


def test_ingest_creates_the_rows_of_a_real_ingest(copy, local_ctx):
    report = ingest(copy, context=local_ctx)
    assert [p.status for p in report.plates] == ["uploaded", "uploaded"]
    assert all(p.workflow == "SUCCEEDED" for p in report.plates)
    images = client("image-management", local_ctx)
    plates = _plates(local_ctx)
    assert set(plates) == set(PLATES)
    rows = {r["wellSourceId"]: r for r in images.getImagesByPlateId(plates["Week1_22123"])}
    assert set(rows) == set(WELLS["Week1_22123"])
    for row in rows.values():
        assert ORIGIN_ATTRIBUTES <= set(row), ORIGIN_ATTRIBUTES - set(row)
        assert row["searchReady"] == "VALIDATED" and (row["width"], row["height"], row["channels"]) == (80, 64, 3)
        assert row["bucket"] == str(copy.resolve()) and row["key"] == ""
        assert row["channelKeys"][0]["keysuffix"].startswith("Week1_22123/")
    # Standard labelling: DMSO and annotated treatments labelled; taxol controls and low doses not.
    assert rows["B02"]["trainLabel"] == "DMSO"
    assert rows["D05"]["trainLabel"] == "Microtubule stabilizers"
    assert rows["E03"]["trainLabel"] == "Microtubule destabilizers"
    assert "trainLabel" not in rows["B11"] and "trainLabel" not in rows["E10"]
    assert rows["E10"]["trainSubclass"] == "nocodazole"
    assert rows["E10"]["metadata"] == {
        "compound": "nocodazole",
        "concentration": 0.001,
        "batch": "Week1",
        "site": 1,
        "replicate": 1,
        "control": 0,
    }
    # Labels: dense indices in creation order, DMSO distinct from ALLN.
    labels = client("label", local_ctx)
    assert labels.getIndex("moa", "Actin disruptors") == 0 and labels.getIndex("moa", "DMSO") == 3
    assert labels.getIndex("compound", "DMSO") == 0 and labels.getIndex("compound", "ALLN") == 1
    # Tags applied per image.
    tag_of = {t["id"]: t["tagValue"] for t in client("tag", local_ctx).getAllTags()}
    assert {tag_of[i] for i in rows["E03"]["tagArr"]} == {
        "moa:Microtubuledestabilizers",
        "compound:nocodazole",
        "batch:Week1",
        "plate:Week1_22123",
        "concentration:3",
    }
    assert not any(tag_of[i].startswith("moa:") for i in rows["B11"]["tagArr"])
    # Filter lists: one per annotated compound, all images of that compound.
    resources = local_ctx.stores.resource_bucket
    taxol = resources.get_bytes("train-filter/bbbc021/taxol-filter.txt").decode().split()
    assert sorted(taxol) == sorted(rows[w]["imageId"] for w in ("B11", "D05"))
    assert resources.get_bytes("train-filter/bbbc021/ALLN-filter.txt") == b""
    assert len(list(resources.list("train-filter/bbbc021/"))) == 38
    assert not list(resources.list("source-plate/"))  # manifests are transient

    # A re-run adds nothing.
    again = ingest(copy, context=local_ctx)
    assert [p.status for p in again.plates] == ["already uploaded", "already uploaded"]
    assert _plates(local_ctx) == plates
    assert len(images.getImagesByPlateId(plates["Week1_22123"])) == 5


def test_original_labelling_rule(copy, local_ctx):
    ingest(copy, ["Week1_22123"], mode="compound", embedding="orig", context=local_ctx)
    rows = {
        r["wellSourceId"]: r
        for r in client("image-management", local_ctx).getImagesByPlateId(_plates(local_ctx)["Week1_22123"])
    }
    # Taxol control wells and every concentration of an annotated compound carry its MOA.
    assert rows["B11"]["trainLabel"] == rows["D05"]["trainLabel"] == "Microtubule stabilizers"
    assert rows["E10"]["trainLabel"] == "Microtubule destabilizers"
    assert local_ctx.stores.resource_bucket.exists("train-filter/orig/nocodazole-filter.txt")


def test_truncated_and_missing_files_fail_their_plate_only(copy, local_ctx):
    lines = (copy / layout.IMAGE_CSV).read_text().splitlines()
    victim = next(line for line in lines if ",Week1_22123," in line).split(",")[2]  # a DAPI file of plate 1
    path = copy / "Week1_22123" / victim
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(Bbbc021DataError, match="truncated"):
        check_tiff(path)
    other = next(line for line in lines if ",Week2_24121," in line).split(",")[4]  # a tubulin file of plate 2
    (copy / "Week2_24121" / other).unlink()
    with pytest.raises(IngestError) as caught:
        ingest(copy, context=local_ctx)
    message = str(caught.value)
    assert "2 of 2 plate(s) not ingested" in message and "truncated" in message and "missing file" in message
    assert _plates(local_ctx) == {}
    assert _rows_of(local_ctx, "Week1_22123") == [] and _rows_of(local_ctx, "Week2_24121") == []
    assert list(local_ctx.stores.resource_bucket.list("source-plate/")) == []
    # Fix plate 1 only: it is ingested, plate 2 still reported.
    path.write_bytes(data)
    with pytest.raises(IngestError, match="1 of 2 plate"):
        ingest(copy, context=local_ctx)
    assert set(_plates(local_ctx)) == {"Week1_22123"}
    assert _rows_of(local_ctx, "Week2_24121") == []
    assert len(_rows_of(local_ctx, "Week1_22123")) == 1 + 1 + 5  # marker, plate row, 5 images


def test_file_checks_on_the_worker_processes_find_what_one_pass_finds(copy, local_ctx, monkeypatch):
    """The ingest checks every plate's file headers in parts on the worker processes: the same
    results, in the same order, and the same plate error as checking them here one by one."""
    design = load_design_from_dir(copy)
    paths = [p for plate in PLATES for p in plate_files(copy, design, plate)]
    paths[1].write_bytes(paths[1].read_bytes()[:200])  # truncated
    paths[-2].unlink()  # missing
    monkeypatch.setenv("BIOIMS_WORKERS", "2")
    parts = local_ctx.runtime.map_parts(check_files, paths)
    assert len(parts) == 2 and [r for part in parts for r in part] == check_files(None, paths)
    checked = dict(zip(paths, [r for part in parts for r in part], strict=True))
    for plate in PLATES:
        with pytest.raises(Bbbc021DataError) as serial:
            check_plate_files(copy, design, plate)
        with pytest.raises(Bbbc021DataError) as parallel:
            check_plate_files(copy, design, plate, checked)
        assert str(parallel.value) == str(serial.value)
    assert "truncated" in str(serial.value) or "missing file" in str(serial.value)


def test_bad_csvs_ingest_nothing(copy, local_ctx):
    image_csv = copy / layout.IMAGE_CSV
    original = image_csv.read_text()
    header, *rows = original.splitlines(keepends=True)
    image_csv.write_text(
        header.replace(",Image_Metadata_Concentration", "") + "".join(r.rsplit(",", 1)[0] + "\n" for r in rows)
    )
    with pytest.raises(IngestError, match="lacks column.*Image_Metadata_Concentration"):
        ingest(copy, context=local_ctx)
    image_csv.write_text(original.replace(",nocodazole,", ",Nocodazole,"))
    with pytest.raises(IngestError, match="unknown compound"):
        ingest(copy, context=local_ctx)
    (copy / layout.MOA_CSV).unlink()
    image_csv.write_text(original)
    with pytest.raises(IngestError, match="MOA CSV not found"):
        ingest(copy, context=local_ctx)
    assert _plates(local_ctx) == {}
    assert client("label", local_ctx).listCategories() == []
    assert (
        local_ctx.stores.table(tables.IMAGE_MANAGEMENT).count() == 0 and local_ctx.stores.table(tables.TAG).count() == 0
    )
    shutil.copy(packaged_path(layout.MOA_CSV), copy / layout.MOA_CSV)
    with pytest.raises(IngestError, match="not in .*Week5_99999"):
        ingest(copy, ["Week5_99999"], context=local_ctx)


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("options", [{}, {"rowsperstrip": 3}, {"compression": "zlib"}])
def test_file_check_from_the_header_equals_tifffiles_page(tmp_path, byteorder, options):
    """Baseline files are checked from their header alone (bioims.imaging.tiff); the answer is
    tifffile's page shape and dtype, as for the files that still go through tifffile."""
    import tifffile

    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.arange(7 * 9, dtype=np.uint16).reshape(7, 9), byteorder=byteorder, **options)
    with tifffile.TiffFile(path) as tif:
        expected = (tuple(tif.pages.first.shape), str(tif.pages.first.dtype))
    assert check_tiff(path) == expected == ((7, 9), "uint16")
