"""The engine's answers equal a brute-force numpy reference: same ids, same order, distances
within 1e-5, on random and clustered data, both metrics, with and without every filter."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.search import SearchEngine

from .reference import MOA_LABELS, brute_force, clustered_data, load, min_gap, random_data

FILTERS = {
    "none": {},
    "inclusion": {"inclusionTags": [10, 11, 30]},
    "exclusion": {"exclusionTags": [12, 2]},
    "requireMoa": {"requireMoa": True},
    "all": {"inclusionTags": [1, 3, 31], "exclusionTags": [13], "requireMoa": True},
}


def _reference_args(spec: dict) -> dict:
    return {
        "inclusion": spec.get("inclusionTags", ()),
        "exclusion": spec.get("exclusionTags", ()),
        "require_moa": spec.get("requireMoa", False),
    }


@pytest.fixture(scope="module", params=["random", "clustered"])
def loaded(request):
    data = random_data(700, 24, seed=11) if request.param == "random" else clustered_data(700, 24, seed=13)
    engine = SearchEngine()
    load(engine, data)
    return data, engine


@pytest.mark.parametrize("metric", ["Cosine", "Euclidean"])
@pytest.mark.parametrize("filter_name", list(FILTERS))
def test_query_by_image_matches_reference(loaded, metric, filter_name):
    data, engine = loaded
    spec = FILTERS[filter_name]
    for query_row in (0, 17, 345, 699):
        query_id = data.image_ids[query_row]
        result = engine.search({"trainId": "train1", "queryImageId": query_id, "maxHits": 25, "metric": metric, **spec})
        ids, distances = brute_force(data, query_id=query_id, k=25, metric=metric, **_reference_args(spec))
        assert min_gap(distances) > 1e-6, "test data has near-ties; the comparison would be meaningless"
        assert result.image_ids == ids
        np.testing.assert_allclose(result.distances, distances, atol=1e-5, rtol=0)
        assert query_id not in result.image_ids


@pytest.mark.parametrize("metric", ["Cosine", "Euclidean"])
def test_query_by_vector_matches_reference(loaded, metric):
    data, engine = loaded
    rng = np.random.default_rng(5)
    for _ in range(3):
        vector = rng.standard_normal(data.vectors.shape[1]).astype(np.float32)
        for spec in FILTERS.values():
            result = engine.search(
                {"trainId": "train1", "vector": vector.tolist(), "maxHits": 40, "metric": metric, **spec}
            )
            ids, distances = brute_force(data, vector=vector, k=40, metric=metric, **_reference_args(spec))
            assert result.image_ids == ids
            np.testing.assert_allclose(result.distances, distances, atol=1e-5, rtol=0)


def test_filters_apply_inside_the_search_not_to_a_short_list(loaded):
    """A selective filter still returns k hits (post-filtering a top-k list would return fewer)."""
    data, engine = loaded
    spec = {"inclusionTags": [17], "requireMoa": True}
    ids, _ = brute_force(data, query_id=data.image_ids[0], k=30, inclusion=[17], require_moa=True)
    result = engine.search({"trainId": "train1", "queryImageId": data.image_ids[0], "maxHits": 30, **spec})
    assert len(ids) == 30 and result.image_ids == ids
    for image_id in result.image_ids:
        tags = set(data.tags[image_id])
        assert 17 in tags and tags & set(MOA_LABELS)


def test_the_filter_is_handed_to_faiss_as_a_selector(loaded):
    """One FAISS call with a selector and about k results asked: no longer list filtered afterwards."""
    data, engine = loaded
    from bioims.search import Metric

    faiss_index = engine.training("train1")._index(Metric.COSINE)
    calls = []
    real = faiss_index.search

    def recording(x, k, **kwargs):
        calls.append((k, kwargs.get("params")))
        return real(x, k, **kwargs)

    faiss_index.search = recording
    try:
        result = engine.search(
            {
                "trainId": "train1",
                "queryImageId": data.image_ids[0],
                "maxHits": 30,
                "inclusionTags": [17],
                "requireMoa": True,
            }
        )
    finally:
        del faiss_index.search
    assert len(result.image_ids) == 30
    assert len(calls) == 1
    k, params = calls[0]
    assert k <= 32 < len(data.image_ids)
    assert params is not None and params.sel is not None
    allowed = [params.sel.is_member(r) for r in range(len(data.image_ids))]
    expected = [
        17 in data.tags.get(i, ()) and bool(set(data.tags.get(i, ())) & set(MOA_LABELS))
        for i in engine.training("train1").image_ids
    ]
    assert allowed == expected


def test_k_larger_than_candidates_returns_all_candidates(loaded):
    data, engine = loaded
    spec = {"inclusionTags": [15], "exclusionTags": [1, 2]}
    ids, distances = brute_force(data, query_id=data.image_ids[3], k=1000, inclusion=[15], exclusion=[1, 2])
    result = engine.search({"trainId": "train1", "queryImageId": data.image_ids[3], "maxHits": 1000, **spec})
    assert 0 < len(ids) < 100
    assert result.image_ids == ids
    assert result.candidates == len(ids)
    np.testing.assert_allclose(result.distances, distances, atol=1e-5, rtol=0)


def test_maximum_k_over_whole_index(loaded):
    data, engine = loaded
    result = engine.search(
        {"trainId": "train1", "queryImageId": data.image_ids[9], "maxHits": 1000, "metric": "Euclidean"}
    )
    ids, distances = brute_force(data, query_id=data.image_ids[9], k=1000, metric="Euclidean")
    assert len(result.image_ids) == len(data.image_ids) - 1 == len(ids)
    assert result.image_ids == ids
    np.testing.assert_allclose(result.distances, distances, atol=1e-5, rtol=0)


def test_batched_queries_equal_single_queries(loaded):
    data, engine = loaded
    queries = [
        {"trainId": "train1", "queryImageId": data.image_ids[r], "maxHits": 5 + r % 7, "metric": m, **spec}
        for r in range(0, 60, 3)
        for m in ("Cosine", "Euclidean")
        for spec in (FILTERS["none"], FILTERS["all"])
    ]
    batched = engine.search_many(queries)
    for query, outcome in zip(queries, batched, strict=True):
        single = engine.search(query)
        assert outcome.image_ids == single.image_ids
        np.testing.assert_array_equal(outcome.distances, single.distances)
