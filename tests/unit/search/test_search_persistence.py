"""Snapshots: a restart loses nothing, deletions survive crashes, damaged objects are reported."""

from __future__ import annotations

import io

import numpy as np
import pytest

from bioims import keys
from bioims.errors import PlateFileMissing, UnknownTraining
from bioims.search import SearchEngine
from bioims.store.localfs import LocalObjectStore

from .reference import load, random_data

QUERIES = [
    {"maxHits": 15},
    {"maxHits": 15, "metric": "Euclidean", "exclusionTags": [10, 11]},
    {"maxHits": 30, "requireMoa": True, "inclusionTags": [2, 3, 30]},
]


def _answers(engine, data, train_id="train1"):
    out = []
    for row in (1, 50, 149):
        for spec in QUERIES:
            r = engine.search({"trainId": train_id, "queryImageId": data.image_ids[row], **spec})
            out.append((r.image_ids, r.distances.tolist(), r.candidates))
    return out


def test_restart_returns_the_same_results(backend_ctx):
    store = backend_ctx.stores.data
    data = random_data(150, 16, seed=21)
    first = SearchEngine(store)
    load(first, data)
    other = random_data(40, 8, seed=22)
    load(first, other, train_id="train2", embedding="emb2")
    before = _answers(first, data)

    second = SearchEngine(store)
    summary = second.load()
    assert summary == {"trainings": 2, "images": 190, "errors": []}
    assert _answers(second, data) == before
    assert second.trainings() == first.trainings()
    assert second.tag_summary() == first.tag_summary()


def test_deleted_training_stays_deleted_and_others_survive(tmp_path):
    store = LocalObjectStore(tmp_path / "data")
    data = random_data(60, 8, seed=23)
    engine = SearchEngine(store)
    load(engine, data, train_id="train1")
    load(engine, data, train_id="train2")
    engine.delete_training("train1")
    assert not list(store.list(keys.search_snapshot_prefix("train1")))
    restarted = SearchEngine(store)
    restarted.load()
    assert [t["trainId"] for t in restarted.trainings()] == ["train2"]
    with pytest.raises(UnknownTraining):
        restarted.search({"trainId": "train1", "queryImageId": data.image_ids[0]})


def test_interrupted_delete_is_finished_at_start(tmp_path):
    store = LocalObjectStore(tmp_path / "data")
    data = random_data(60, 8, seed=24)
    load(SearchEngine(store), data)
    # Crash mid-delete: the marker is written, one of three segments is gone.
    store.put_bytes(keys.search_deleting_marker_key("train1"), b"{}")
    store.delete(keys.search_segment_key("train1", "plate0"))
    restarted = SearchEngine(store)
    restarted.load()
    assert restarted.trainings() == []
    assert not list(store.list(keys.search_snapshot_prefix("train1")))


def test_damaged_segment_is_reported_and_the_rest_loads(tmp_path):
    store = LocalObjectStore(tmp_path / "data")
    data = random_data(90, 8, seed=25)
    engine = SearchEngine(store)
    load(engine, data)
    store.put_bytes(keys.search_segment_key("train1", "plate1"), b"not an npz")
    restarted = SearchEngine(store)
    summary = restarted.load()
    assert len(summary["errors"]) == 1 and "plate1" in summary["errors"][0]
    assert restarted.training("train1").plates() == {
        p: n for p, n in engine.training("train1").plates().items() if p != "plate1"
    }


class _FailingStore(LocalObjectStore):
    def put_bytes(self, key, data, *, content_type=None):
        raise OSError("disk full")


def test_a_failed_snapshot_write_changes_nothing(tmp_path):
    engine = SearchEngine(_FailingStore(tmp_path / "data"))
    with pytest.raises(OSError):
        engine.add_plate("train1", "emb1", "p0", ["a", "b"], np.eye(2, dtype=np.float32))
    with pytest.raises(OSError):
        engine.set_tag_labels({1: "moa:x"})
    assert engine.trainings() == [] and not engine.labels.loaded


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("names", [("image_ids", "embeddings"), ("ids_of_images", "matrix")])
def test_plate_embedding_files_are_read_from_the_data_bucket(tmp_path, names):
    store = LocalObjectStore(tmp_path / "data")
    ids = np.asarray(["a", "b", "c"])
    vectors = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    store.put_bytes(keys.plate_embeddings_key("train1", "p0"), _npz(**{names[0]: ids, names[1]: vectors}))
    engine = SearchEngine(store)
    assert engine.load_plate_embeddings("train1", "emb1", "p0") == 3
    np.testing.assert_array_equal(engine.training("train1").vectors(), vectors)
    with pytest.raises(PlateFileMissing):
        engine.load_plate_embeddings("train1", "emb1", "p1")
