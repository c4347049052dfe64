"""Engine behaviour beyond plain ranking: ties, plate reloads, validation, per-embedding tags."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.errors import InvalidRequest, NotReady, UnknownImage, UnknownTraining
from bioims.search import SearchEngine

from .reference import LABELS, Dataset, brute_force, load, random_data


def _duplicates(seed: int = 3) -> Dataset:
    """30 identical vectors (ids shuffled) among 200 random ones."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((230, 16)).astype(np.float32)
    vectors[200:] = vectors[200]
    ids = [f"img{v:04d}" for v in rng.permutation(230)]
    plates = ["p0" if r % 2 else "p1" for r in range(230)]
    return Dataset(ids, vectors, plates, {i: [1, 10] for i in ids[::3]})


@pytest.mark.parametrize("metric", ["Cosine", "Euclidean"])
def test_equal_distances_are_ordered_by_image_id_even_across_the_cut(metric):
    data = _duplicates()
    engine = SearchEngine()
    load(engine, data)
    twins = sorted(data.image_ids[200:])
    by_vector = engine.search(
        {"trainId": "train1", "vector": data.vectors[200].tolist(), "maxHits": 10, "metric": metric}
    )
    assert by_vector.image_ids == twins[:10]
    assert np.all(by_vector.distances < 1e-6)
    query = data.image_ids[215]
    by_image = engine.search({"trainId": "train1", "queryImageId": query, "maxHits": 35, "metric": metric})
    expected, distances = brute_force(data, query_id=query, k=35, metric=metric)
    assert by_image.image_ids[:29] == [t for t in twins if t != query]
    assert by_image.image_ids == expected
    np.testing.assert_allclose(by_image.distances, distances, atol=1e-5)
    filtered = engine.search(
        {
            "trainId": "train1",
            "vector": data.vectors[200].tolist(),
            "maxHits": 4,
            "metric": metric,
            "inclusionTags": [10],
        }
    )
    tagged_twins = sorted(t for t in twins if t in data.tags)
    assert filtered.image_ids == tagged_twins[:4]


def test_results_do_not_depend_on_load_order():
    data = random_data(300, 12, seed=4, plates=5)
    forward, backward = SearchEngine(), SearchEngine()
    load(forward, data)
    for plate in sorted(set(data.plates), reverse=True):
        rows = data.plate_rows(plate)
        backward.add_plate("train1", "emb1", plate, [data.image_ids[r] for r in rows], data.vectors[rows])
    for row in (0, 99, 250):
        query = {"trainId": "train1", "queryImageId": data.image_ids[row], "maxHits": 50}
        a, b = forward.search(query), backward.search(query)
        assert a.image_ids == b.image_ids
        np.testing.assert_allclose(a.distances, b.distances, atol=1e-6)


def test_reloading_a_plate_replaces_it_and_moved_images_follow():
    data = random_data(200, 8, seed=5, plates=2)
    engine = SearchEngine()
    load(engine, data)
    rows = data.plate_rows("plate0")
    ids = [data.image_ids[r] for r in rows]
    engine.add_plate("train1", "emb1", "plate0", ids, data.vectors[rows])  # a re-run
    index = engine.training("train1")
    assert index.size == 200 and index.plates() == {"plate0": len(rows), "plate1": 200 - len(rows)}
    # New content for plate0: half its images dropped, one image of plate1 moved in, new vectors.
    moved = data.image_ids[data.plate_rows("plate1")[0]]
    kept = ids[: len(ids) // 2]
    fresh = np.random.default_rng(9).standard_normal((len(kept) + 1, 8)).astype(np.float32)
    engine.add_plate("train1", "emb1", "plate0", kept + [moved], fresh)
    assert index.size == 200 - (len(ids) - len(kept))
    assert index.plates()["plate0"] == len(kept) + 1
    np.testing.assert_array_equal(index.vector(index.row_of(moved)), fresh[-1])
    vectors = index.vectors()
    assert [index.image_ids[r] for r in range(index.size)] == index.image_ids
    # Search still equals brute force over the new contents.
    current = Dataset(list(index.image_ids), vectors, ["x"] * index.size)
    result = engine.search({"trainId": "train1", "queryImageId": moved, "maxHits": 20})
    assert result.image_ids == brute_force(current, query_id=moved, k=20)[0]
    gone = ids[-1]
    with pytest.raises(UnknownImage):
        engine.search({"trainId": "train1", "queryImageId": gone})


@pytest.mark.parametrize(
    "ids, vectors, message",
    [
        (["a", "b"], np.array([[1.0, np.nan, 0, 0], [0.0, 1.0, 0, 0]]), "NaN"),
        (["a", "b"], np.ones((2, 5)), "dimensions"),
        (["a", "a"], np.ones((2, 4)), "unique"),
        (["a", "b"], np.ones((3, 4)), "shape"),
        (["a", "origin"], np.ones((2, 4)), "reserved"),
        (["a", "b/c"], np.ones((2, 4)), "imageId"),
    ],
)
def test_bad_plates_are_rejected_and_change_nothing(ids, vectors, message):
    engine = SearchEngine()
    engine.add_plate("train1", "emb1", "p0", ["x", "y"], np.eye(2, 4, dtype=np.float32))
    before = engine.search({"trainId": "train1", "queryImageId": "x", "maxHits": 5})
    with pytest.raises(InvalidRequest, match=message):
        engine.add_plate("train1", "emb1", "p1", ids, vectors)
    assert engine.training("train1").size == 2
    assert engine.search({"trainId": "train1", "queryImageId": "x", "maxHits": 5}) == before


def test_training_keeps_its_embedding():
    engine = SearchEngine()
    engine.add_plate("train1", "emb1", "p0", ["x", "y"], np.eye(2, 4, dtype=np.float32))
    with pytest.raises(InvalidRequest, match="emb1"):
        engine.add_plate("train1", "emb2", "p1", ["z"], np.ones((1, 4), dtype=np.float32))


@pytest.mark.parametrize(
    "query, error",
    [
        ({"trainId": "nope", "queryImageId": "x"}, UnknownTraining),
        ({"trainId": "train1", "queryImageId": "missing"}, UnknownImage),
        ({"trainId": "train1", "vector": [0.0, 0.0, 0.0, 0.0]}, InvalidRequest),
        ({"trainId": "train1", "vector": [1.0, 2.0]}, InvalidRequest),
        ({"trainId": "train1", "queryImageId": "x", "maxHits": 0}, InvalidRequest),
        ({"trainId": "train1", "queryImageId": "x", "maxHits": 1001}, InvalidRequest),
        ({"trainId": "train1", "queryImageId": "x", "metric": "Manhattan"}, InvalidRequest),
        ({"trainId": "train1", "queryImageId": "x", "requireMoa": "yes"}, InvalidRequest),
        ({"trainId": "train1", "queryImageId": "x", "inclusionTags": ["a"]}, InvalidRequest),
        ({"trainId": "train1", "queryImageId": "x", "vector": [1.0, 0, 0, 0]}, InvalidRequest),
        ({"trainId": "train1"}, InvalidRequest),
        ({"trainId": "train1", "queryImageId": "x", "colour": "red"}, InvalidRequest),
    ],
)
def test_bad_queries_get_clear_errors(query, error):
    engine = SearchEngine()
    engine.add_plate("train1", "emb1", "p0", ["x", "y", "z"], np.eye(3, 4, dtype=np.float32) + 0.1)
    with pytest.raises(error) as caught:
        engine.search(query)
    assert caught.value.message and caught.value.status in (400, 404)


def test_require_moa_needs_the_tag_labels_and_untagged_images_are_not_moa_images():
    engine = SearchEngine()
    engine.add_plate("train1", "emb1", "p0", ["a", "b", "c", "d"], np.eye(4, dtype=np.float32) + 0.5)
    engine.set_plate_tags("emb1", "p0", {"b": [1], "c": [30], "d": [1, 99]})
    with pytest.raises(NotReady):
        engine.search({"trainId": "train1", "queryImageId": "a", "requireMoa": True})
    engine.set_tag_labels(LABELS)  # tag 99 is unknown to the labels: simply not an MOA tag
    result = engine.search({"trainId": "train1", "queryImageId": "a", "requireMoa": "true"})
    assert sorted(result.image_ids) == ["b", "d"]
    assert result.candidates == 2


def test_tags_belong_to_an_embedding():
    engine = SearchEngine()
    vectors = np.eye(3, 4, dtype=np.float32) + 0.2
    engine.add_plate("trainA", "embA", "p0", ["a", "b", "c"], vectors)
    engine.add_plate("trainB", "embB", "p0", ["a", "b", "c"], vectors)
    engine.set_plate_tags("embA", "p0", {"b": [5]})
    engine.set_plate_tags("embB", "p0", {"c": [5]})  # must not overwrite embA's tags
    a = engine.search({"trainId": "trainA", "queryImageId": "a", "inclusionTags": [5]})
    b = engine.search({"trainId": "trainB", "queryImageId": "a", "inclusionTags": [5]})
    assert a.image_ids == ["b"] and b.image_ids == ["c"]
    engine.set_plate_tags("embA", "p0", {"c": [5]})  # a plate's tags are replaced as a whole
    assert engine.search({"trainId": "trainA", "queryImageId": "a", "inclusionTags": [5]}).image_ids == ["c"]


def test_delete_training():
    engine = SearchEngine()
    engine.add_plate("train1", "emb1", "p0", ["x", "y"], np.eye(2, 4, dtype=np.float32))
    assert engine.delete_training("train1") is True
    assert engine.delete_training("train1") is False
    with pytest.raises(UnknownTraining):
        engine.search({"trainId": "train1", "queryImageId": "x"})
    assert engine.trainings() == []


@pytest.mark.parametrize("metric", ["Cosine", "Euclidean"])
def test_one_faiss_call_per_query_without_ties_and_more_only_for_ties(metric):
    data = _duplicates()
    engine = SearchEngine()
    load(engine, data)
    index = engine.training("train1")
    faiss_index = index._index(engine_metric(metric))
    calls = []
    real = faiss_index.search

    def counting(x, k, **kwargs):
        calls.append(k)
        return real(x, k, **kwargs)

    faiss_index.search = counting
    for spec in (
        {"queryImageId": data.image_ids[0]},
        {"vector": data.vectors[1].tolist()},
        {"queryImageId": data.image_ids[2], "inclusionTags": [10]},
    ):
        calls.clear()
        engine.search({"trainId": "train1", "maxHits": 10, "metric": metric, **spec})
        assert len(calls) == 1, spec
    calls.clear()  # 30 identical vectors tie across the 10th place: more must be fetched
    engine.search({"trainId": "train1", "maxHits": 10, "metric": metric, "vector": data.vectors[200].tolist()})
    assert len(calls) > 1 and max(calls) >= 31


def engine_metric(name):
    from bioims.search import Metric

    return Metric.parse(name)
