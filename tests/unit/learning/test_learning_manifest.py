import json
import pickle

import numpy as np
import pytest

from bioims import keys
from bioims.learning.manifest import (
    TrainingManifest,
    TrainingSetError,
    build_training_manifest,
    inspect_images,
    parse_exclusion_list,
    prepare_training_set,
    read_training_manifest,
    select_training_images,
)
from bioims.learning.roifiles import RoiReader, inspect_roi_files
from bioims.store.localfs import LocalObjectStore
from tests.unit.learning.learning_roiset import RoiSetSpec, cell_rois, write_image, write_roi_set

SPEC = RoiSetSpec(classes=3, compounds_per_class=2, wells_per_compound=3, images_per_well=1, rois_per_image=2, size=16)


@pytest.fixture
def dataset(tmp_path):
    store = LocalObjectStore(tmp_path / "data")
    return store, write_roi_set(store, "emb", SPEC)


def _build(store, rows, exclude=(), **kw):
    selection = select_training_images(rows, exclude)
    return build_training_manifest("t1", "emb", rows, exclude, inspect_images(store, "emb", selection.rows), **kw)


def test_inspect_reads_headers_and_labels(dataset):
    store, rows = dataset
    info = inspect_roi_files(store, keys.train_prefix("emb", rows[0]["plateId"], rows[0]["imageId"]))
    assert (info.rois, info.channels, info.depth, info.size, info.labelled, info.label, info.subclass) == (
        2,
        2,
        1,
        16,
        True,
        0,
        0,
    )
    assert info.problems == ()
    unlabelled = next(r for r in rows if not r.get("trainLabel"))
    info = inspect_roi_files(store, keys.train_prefix("emb", unlabelled["plateId"], unlabelled["imageId"]))
    assert not info.labelled and info.problems == ()
    missing = inspect_roi_files(store, keys.train_prefix("emb", "p", "nothing"))
    assert "missing -train.npy" in missing.problems[0]


def test_selection_follows_category_and_exclusion(dataset):
    _, rows = dataset
    excluded = {rows[0]["imageId"], rows[1]["imageId"], "not-an-image"}
    selection = select_training_images(rows, excluded)
    assert selection.label_count == 16 and selection.filter_count == 2
    assert selection.unlabeled_count == 2 and selection.unknown_excluded == 1
    assert parse_exclusion_list(b"a\n\n b \n") == {"a", "b"}


def test_manifest_counts_classes_and_prefix_list(dataset, tmp_path):
    store, rows = dataset
    manifest = prepare_training_set(store, "t1", "emb", rows, validation_fraction=0.34, seed=3)
    assert manifest.channels == 2 and manifest.roiSize == 16
    assert manifest.counts["images"] == 18 and manifest.counts["rois"] == 36
    assert [c.name for c in manifest.classes] == ["moa-0", "moa-1", "moa-2"]
    assert manifest.classes[0].compounds == ["compound-0", "compound-1"]
    listed = store.get_bytes(keys.image_list_key("t1")).decode()
    assert listed.endswith("\n") and listed.splitlines() == [i.prefix for i in manifest.images]
    again = read_training_manifest(store, "t1")
    assert again == manifest
    assert TrainingManifest.from_json(manifest.to_json()) == manifest


def test_validation_holds_out_whole_wells_and_keeps_every_compound(dataset):
    store, rows = dataset
    manifest = _build(store, rows, validation_fraction=0.34, seed=5)
    wells = {}
    for image in manifest.images:
        wells.setdefault((image.plateId, image.wellId), set()).add(image.validation)
    assert all(len(flags) == 1 for flags in wells.values())  # a well is never split
    for compound in {i.subclass for i in manifest.images}:
        flags = [i.validation for i in manifest.images if i.subclass == compound]
        assert flags.count(True) == 1 and flags.count(False) == 2  # 1 of 3 wells held out
    assert manifest.validation["wells"] == 6 and manifest.validation["rois"] == 12
    # deterministic and independent of row order
    shuffled = list(reversed(rows))
    assert [i.validation for i in _build(store, shuffled, validation_fraction=0.34, seed=5).images] == [
        i.validation for i in manifest.images
    ]
    other = _build(store, rows, validation_fraction=0.34, seed=6)
    assert [i.validation for i in other.images] != [i.validation for i in manifest.images]


def test_empty_training_sets_fail_clearly(dataset):
    store, rows = dataset
    with pytest.raises(TrainingSetError, match="no images on plates compatible"):
        _build(store, [])
    everything = {r["imageId"] for r in rows}
    with pytest.raises(TrainingSetError, match=r"empty: of 20 images none is labelled in category 'moa' \(20 excluded"):
        _build(store, rows, everything)
    with pytest.raises(TrainingSetError, match="without a 'moa' label"):
        _build(store, [r for r in rows if not r.get("trainLabel")])


def test_single_class_fails(dataset):
    store, rows = dataset
    with pytest.raises(TrainingSetError, match="at least 2 classes"):
        _build(store, [r for r in rows if r.get("trainLabel") == "moa-0"])


def test_inconsistent_training_sets_fail_and_write_nothing(dataset):
    store, rows = dataset
    row = rows[0]
    # another ROI size on one image, a missing subclass file on another
    write_image(
        store,
        "emb",
        row["plateId"],
        row["imageId"],
        cell_rois(np.random.default_rng(0), 0, 0, RoiSetSpec(size=20, channels=2), 2),
        0,
        0,
    )
    store.delete(keys.subclass_key("emb", rows[1]["plateId"], rows[1]["imageId"]))
    with pytest.raises(TrainingSetError) as err:
        prepare_training_set(store, "bad", "emb", rows)
    message = str(err.value)
    assert "ROI geometry differs" in message
    assert "missing -subclass.npy" in message
    assert not store.exists(keys.training_manifest_key("bad")) and not store.exists(keys.image_list_key("bad"))
    assert f"20 px: 1 images (e.g. {row['imageId']})" in message  # each broken image is named
    assert rows[1]["imageId"] in message


def test_label_index_and_name_must_agree(dataset):
    store, rows = dataset
    renamed = [dict(r) for r in rows]
    renamed[0]["trainLabel"] = "moa-2"  # its files say label 0
    with pytest.raises(TrainingSetError, match="label index 0 is used for several names"):
        _build(store, renamed)


def test_row_labelled_but_files_unlabelled(dataset):
    store, rows = dataset
    row = rows[0]
    store.delete(keys.label_key("emb", row["plateId"], row["imageId"]))
    store.put_bytes(keys.no_label_key("emb", row["plateId"], row["imageId"]), b"No label data")
    with pytest.raises(TrainingSetError, match="ROI files say unlabelled"):
        _build(store, rows)


def test_empty_images_are_left_out(dataset):
    store, rows = dataset
    row = rows[0]
    write_image(store, "emb", row["plateId"], row["imageId"], np.zeros((0, 2, 1, 16, 16), np.uint16), 0, 0)
    manifest = _build(store, rows)
    assert manifest.counts["emptyCount"] == 1
    assert row["imageId"] not in {i.imageId for i in manifest.images}


def test_reader_gathers_in_order_with_bounded_cache(dataset, tmp_path):
    store, rows = dataset
    manifest = _build(store, rows)
    reader = RoiReader(tmp_path / "data", [i.prefix for i in manifest.images], cache_size=2)
    images = np.array([3, 0, 5, 3, 1, 0])
    rois = np.array([1, 0, 1, 0, 1, 1])
    got = reader.gather(images, rois)
    for k, (i, r) in enumerate(zip(images, rois, strict=True)):
        full = np.load(tmp_path / "data" / (manifest.images[i].prefix + keys.SUFFIX_TRAIN))
        assert np.array_equal(got[k], full[r, :, 0])
    assert len(reader._open) <= 2
    clone = pickle.loads(pickle.dumps(reader))
    assert len(clone._open) == 0 and np.array_equal(clone.gather(images, rois), got)
    assert json.loads(manifest.to_json())["version"] == 1
