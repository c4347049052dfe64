"""Approximate search (bioims.search.ann) on small data with a lowered size threshold: exact stays
the default below it; above it the index is trained, calibrated (recall@10 against exact),
persisted and reloaded as it was; tag filters stay inside the search; `bioims search trainings`
reports size, recall and latency."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bioims import keys
from bioims.search import Metric, SearchEngine
from bioims.search import engine as engine_module
from bioims.search.ann import HNSW, IVF, AnnPolicy, recall_at_k
from bioims.search.httpapi import SearchHttpServer
from bioims.search.query import parse_query
from bioims.store.localfs import LocalObjectStore

from .reference import allowed, brute_force, clustered_data, load

N, D = 3000, 32


def _policy(kind: str, **extra) -> AnnPolicy:
    # require_faster off: at 3,000 x 32 the timing comparison is noise; the tests are about results.
    return AnnPolicy(min_images=1000, ivf_min_images=1000 if kind == IVF else 10**9, require_faster=False, **extra)


def _data():
    return clustered_data(N, D, seed=5, clusters=40, spread=0.35, plates=4)


def _filtered(data, row: int) -> dict:
    """The MOA evaluation's query: by image, requireMoa, the image's own compound excluded."""
    compound = [t for t in data.tags.get(data.image_ids[row], []) if 10 <= t < 20] or [10]
    return {
        "trainId": "train1",
        "queryImageId": data.image_ids[row],
        "maxHits": 10,
        "requireMoa": True,
        "exclusionTags": compound,
    }


def _answers(engine, data, rows) -> list:
    out = []
    for row in rows:
        result = engine.search(_filtered(data, row))
        out.append((result.image_ids, result.distances.tolist(), result.candidates))
    return out


def test_exact_stays_the_default_below_the_threshold(tmp_path):
    store = LocalObjectStore(tmp_path / "data")
    engine = SearchEngine(store, ann_policy=AnnPolicy(min_images=N + 1))
    load(engine, _data())
    assert engine.refresh_ann() == []
    assert engine.trainings()[0]["index"] == {"kind": "exact", "size": N}
    assert engine.training("train1").ann is None
    assert not store.exists(keys.search_ann_key("train1")) and not store.exists(keys.search_ann_meta_key("train1"))
    assert AnnPolicy().kind_for(13_200) is None and AnnPolicy().kind_for(1_000_000) == IVF


@pytest.mark.parametrize("kind", [HNSW, IVF])
def test_approximate_index_recall_filters_and_reload(tmp_path, monkeypatch, kind):
    store = LocalObjectStore(tmp_path / "data")
    data = _data()
    policy = _policy(kind)
    engine = SearchEngine(store, ann_policy=policy)
    load(engine, data)
    built = engine.refresh_ann()
    assert [b["kind"] for b in built] == [kind] and built[0]["size"] == N
    report = engine.trainings()[0]["index"]
    assert report["kind"] == kind and report["recall_at_10"] >= 0.99 and report["ann_ms"] > 0 and report["exact_ms"] > 0
    assert (report["lists"] > 0) == (kind == IVF)

    index = engine.training("train1")
    rows = list(range(0, N, 30))
    selection = index.filters.selection(
        parse_query(_filtered(data, rows[0])).tag_filter,
        rows_version=index.version,
        size=index.size,
        image_ids=lambda: index.image_ids,
        tags=engine._tags["emb1"],
        labels=engine.labels,
    )
    assert index.uses_ann(Metric.COSINE, selection) and not index.uses_ann(Metric.EUCLIDEAN, selection)

    # Filters inside the search: every hit is allowed, never the query; recall against brute force.
    found, truth = [], []
    for row in rows:
        query = _filtered(data, row)
        result = engine.search(query)
        ok = {data.image_ids[r] for r in allowed(data, exclusion=query["exclusionTags"], require_moa=True)}
        assert set(result.image_ids) <= ok and data.image_ids[row] not in result.image_ids
        expected, _ = brute_force(
            data, query_id=data.image_ids[row], k=10, exclusion=query["exclusionTags"], require_moa=True
        )
        found.append(np.array([data.image_ids.index(i) for i in result.image_ids]))
        truth.append(np.array([data.image_ids.index(i) for i in expected]))
    assert recall_at_k(found, truth) >= 0.97

    # Persisted with the snapshot: a restart attaches it without training again, same answers.
    before = _answers(engine, data, rows)
    assert store.exists(keys.search_ann_key("train1"))

    def no_build(*args, **kwargs):
        raise AssertionError("the persisted index should have been reloaded, not rebuilt")

    monkeypatch.setattr(engine_module, "build_ann", no_build)
    restarted = SearchEngine(store, ann_policy=policy)
    assert restarted.load()["errors"] == []
    assert restarted.trainings()[0]["index"] == report
    assert _answers(restarted, data, rows) == before


def test_a_mutation_drops_the_index_and_refresh_rebuilds_it(tmp_path, monkeypatch):
    store = LocalObjectStore(tmp_path / "data")
    data = _data()
    engine = SearchEngine(store, ann_policy=_policy(IVF))
    load(engine, data)
    engine.refresh_ann()
    extra = clustered_data(200, D, seed=6, clusters=40, spread=0.35, plates=1)
    ids = [f"new{i}" for i in range(200)]
    engine.add_plate("train1", "emb1", "aaaPlate", ids, extra.vectors)  # last in rows, first by name
    assert engine.trainings()[0]["index"] == {"kind": "exact", "size": N + 200, "pending": IVF}
    # Exact meanwhile: the new images are found.
    assert engine.search({"trainId": "train1", "queryImageId": "new0", "maxHits": 5}).image_ids
    assert [b["size"] for b in engine.refresh_ann()] == [N + 200]
    assert engine.refresh_ann() == []  # nothing changed: no second build
    meta = json.loads(store.get_bytes(keys.search_ann_meta_key("train1")))
    assert meta["stats"]["size"] == N + 200 and meta["plates"][-1] == "aaaPlate"
    # A restart loads the plates in the index's row order (not by name) and attaches it as it is.
    before = _answers(engine, _data(), [0, 99])
    monkeypatch.setattr(engine_module, "build_ann", lambda *a, **k: pytest.fail("rebuilt instead of reloaded"))
    restarted = SearchEngine(store, ann_policy=_policy(IVF))
    restarted.load()
    assert restarted.training("train1").image_ids == engine.training("train1").image_ids
    assert restarted.trainings()[0]["index"]["kind"] == IVF and _answers(restarted, _data(), [0, 99]) == before


def test_a_persisted_index_that_does_not_match_the_rows_is_rebuilt(tmp_path, monkeypatch):
    store = LocalObjectStore(tmp_path / "data")
    data = _data()
    policy = _policy(HNSW)
    engine = SearchEngine(store, ann_policy=policy)
    load(engine, data)
    engine.refresh_ann()
    # Another writer (with approximate search off) changes a plate's vectors behind its back.
    other = SearchEngine(store, ann_policy=AnnPolicy(min_images=10**9))
    other.load()
    rows = data.plate_rows("plate1")
    other.add_plate("train1", "emb1", "plate1", [data.image_ids[r] for r in rows], data.vectors[rows][::-1].copy())
    calls = []
    real = engine_module.build_ann
    monkeypatch.setattr(engine_module, "build_ann", lambda *a, **k: calls.append(1) or real(*a, **k))
    restarted = SearchEngine(store, ann_policy=policy)
    restarted.load()
    assert calls == [1] and restarted.trainings()[0]["index"]["kind"] == HNSW


@pytest.mark.parametrize("kind", [HNSW, IVF])
def test_selective_filters_widen_the_search(tmp_path, kind):
    """One compound of eight (~11 % of the images): the breadth grows by 1/fraction, recall holds;
    a filter that would need every inverted list goes to exact search."""
    store = LocalObjectStore(tmp_path / "data")
    data = _data()
    engine = SearchEngine(store, ann_policy=_policy(kind))
    load(engine, data)
    engine.refresh_ann()
    index = engine.training("train1")
    found, truth = [], []
    for row in range(0, N, 40):
        query = {"trainId": "train1", "queryImageId": data.image_ids[row], "maxHits": 10, "inclusionTags": [13]}
        selection = index.filters.selection(
            parse_query(query).tag_filter,
            rows_version=index.version,
            size=index.size,
            image_ids=lambda: index.image_ids,
            tags=engine._tags["emb1"],
            labels=engine.labels,
        )
        assert selection.count < 0.2 * N
        fraction = selection.count / N
        # HNSW: efSearch 64 -> ~580 of 4096; IVF: nprobe would reach all 76 lists -> exact.
        assert index.uses_ann(Metric.COSINE, selection) == (kind == HNSW)
        assert index.ann.breadth_for(fraction) > index.ann.stats.breadth
        result = engine.search(query)
        expected, _ = brute_force(data, query_id=data.image_ids[row], k=10, inclusion=[13])
        assert set(result.image_ids) <= {data.image_ids[r] for r in allowed(data, inclusion=[13])}
        found.append(np.array([data.image_ids.index(i) for i in result.image_ids]))
        truth.append(np.array([data.image_ids.index(i) for i in expected]))
    assert recall_at_k(found, truth) >= 0.97


def test_narrow_filters_go_to_exact_search(tmp_path):
    store = LocalObjectStore(tmp_path / "data")
    data = _data()
    engine = SearchEngine(store, ann_policy=_policy(IVF, exact_below_fraction=0.5))
    load(engine, data)
    engine.refresh_ann()
    index = engine.training("train1")
    query = {"trainId": "train1", "queryImageId": data.image_ids[7], "maxHits": 10, "inclusionTags": [12]}
    selection = index.filters.selection(
        parse_query(query).tag_filter,
        rows_version=index.version,
        size=index.size,
        image_ids=lambda: index.image_ids,
        tags=engine._tags["emb1"],
        labels=engine.labels,
    )
    assert 0 < selection.count < 0.5 * N and not index.uses_ann(Metric.COSINE, selection)
    expected, _ = brute_force(data, query_id=data.image_ids[7], k=10, inclusion=[12])
    assert engine.search(query).image_ids == expected


def test_cli_reports_size_recall_and_latency(local_ctx, monkeypatch):
    from bioims.cli.main import main_group

    from .test_search_lambda import _world

    monkeypatch.setenv("BIOIMS_SEARCH_ANN_MIN_IMAGES", "4")
    monkeypatch.setenv("BIOIMS_SEARCH_ANN_REQUIRE_FASTER", "0")
    data, _, _ = _world(local_ctx)
    runner = CliRunner()
    assert (
        runner.invoke(main_group, ["search", "load-training", "--train-id", "T1"], catch_exceptions=False).exit_code
        == 0
    )
    result = runner.invoke(main_group, ["search", "trainings", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["trainings"]
    assert entry["trainId"] == "T1" and entry["images"] == len(data.image_ids)
    assert entry["index"]["kind"] == HNSW and entry["index"]["size"] == len(data.image_ids)
    assert 0.99 <= entry["index"]["recall_at_10"] <= 1 and entry["index"]["ann_ms"] > 0
    table = runner.invoke(main_group, ["search", "trainings"], catch_exceptions=False)
    assert "T1" in table.output and "hnsw" in table.output

    # The same report from a running service's HTTP API.
    engine = SearchEngine(local_ctx.stores.data, ann_policy=AnnPolicy(min_images=4, require_faster=False))
    engine.load()
    server = SearchHttpServer(engine).start()
    try:
        remote = runner.invoke(
            main_group, ["search", "trainings", "--url", server.url, "--json"], catch_exceptions=False
        )
    finally:
        server.stop()
    assert json.loads(remote.output)["trainings"][0]["index"] == entry["index"]
    bad = runner.invoke(main_group, ["search", "trainings", "--url", "http://127.0.0.1:9"])
    assert bad.exit_code == 1 and "cannot read" in bad.output
