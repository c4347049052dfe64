"""The HTTP API: routes, OpenAPI document, answers equal to the engine's, errors as JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from bioims.search import SearchEngine
from bioims.search.httpapi import MAX_BODY, SearchHttpServer

from .reference import load, random_data


@pytest.fixture(scope="module")
def served():
    data = random_data(80, 8, seed=41)
    engine = SearchEngine()
    load(engine, data)
    engine.add_plate("bare", "emb9", "p0", ["x1", "x2", "x3"], np.eye(3, 8, dtype=np.float32) + 0.1)
    server = SearchHttpServer(engine).start()
    yield data, engine, server
    server.stop()


def _call(server, method, path, body=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(
        server.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_binds_loopback_by_default(served):
    assert served[2].address[0] == "127.0.0.1"


def test_health_and_trainings(served):
    data, engine, server = served
    status, health = _call(server, "GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["trainings"] == 2 and health["images"] == 83
    status, listing = _call(server, "GET", "/trainings")
    assert listing["trainings"] == engine.trainings()
    status, detail = _call(server, "GET", "/trainings/train1")
    assert status == 200 and detail["plates"] == engine.training("train1").plates()
    status, missing = _call(server, "GET", "/trainings/nope")
    assert status == 404 and missing["error"] == "UnknownTraining"


def test_search_by_image_and_by_vector_equal_the_engine(served):
    data, engine, server = served
    query = {
        "trainId": "train1",
        "queryImageId": data.image_ids[4],
        "maxHits": 7,
        "exclusionTags": [10],
        "metric": "Euclidean",
    }
    status, body = _call(server, "POST", "/search", query)
    assert status == 200
    assert body["hits"] == engine.search(query).hits() and body["candidateCount"] == engine.search(query).candidates
    vector = data.vectors[9].tolist()
    status, body = _call(server, "POST", "/search", {"trainId": "train1", "vector": vector, "maxHits": 3})
    assert status == 200 and body["hits"][0]["imageId"] == data.image_ids[9] and body["vectorLength"] == 8


@pytest.mark.parametrize(
    "body, raw, status, error",
    [
        (None, b"{not json", 400, "InvalidRequest"),
        ([1, 2], None, 400, "InvalidRequest"),
        ({"trainId": "train1", "queryImageId": "ghost"}, None, 404, "UnknownImage"),
        ({"trainId": "ghost", "queryImageId": "x"}, None, 404, "UnknownTraining"),
        ({"trainId": "train1", "maxHits": 5000, "queryImageId": "x"}, None, 400, "InvalidRequest"),
        (None, b"x" * (MAX_BODY + 1), 413, "_PayloadTooLarge"),
    ],
)
def test_errors_are_json_and_the_server_keeps_serving(served, body, raw, status, error):
    data, engine, server = served
    got_status, got = _call(server, "POST", "/search", body, raw)
    assert got_status == status and got["error"] == error and got["message"]
    assert _call(server, "GET", "/health")[0] == 200


def test_require_moa_before_labels_is_a_conflict():
    engine = SearchEngine()
    engine.add_plate("t1", "e1", "p0", ["a", "b"], np.eye(2, 4, dtype=np.float32) + 0.1)
    server = SearchHttpServer(engine).start()
    try:
        status, body = _call(server, "POST", "/search", {"trainId": "t1", "queryImageId": "a", "requireMoa": True})
        assert status == 409 and "loadTagLabelMap" in body["message"]
    finally:
        server.stop()


def test_unknown_routes(served):
    server = served[2]
    assert _call(server, "GET", "/nowhere")[0] == 404
    assert _call(server, "POST", "/health", {})[0] == 404


def test_openapi_document_covers_every_route_and_resolves(served):
    server = served[2]
    status, doc = _call(server, "GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/health", "/trainings", "/trainings/{trainId}", "/search", "/openapi.json"}
    schemas = doc["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(doc))
    assert found and all(r.startswith("#/components/schemas/") and r.split("/")[-1] in schemas for r in found)
    # The query schema lists exactly the fields the service accepts.
    from bioims.search import SearchQuery

    assert set(schemas["SearchQuery"]["properties"]) == set(SearchQuery.model_fields)


@pytest.mark.parametrize(
    "raw, field",
    [
        # tag ids beyond int64 used to overflow into a 500
        (json.dumps({"trainId": "train1", "queryImageId": "x", "inclusionTags": [2**63]}).encode(), "inclusionTags"),
        (json.dumps({"trainId": "train1", "queryImageId": "x", "exclusionTags": [2**70]}).encode(), "exclusionTags"),
        # a 100,000-deep body used to be a RecursionError (500)
        (b'{"trainId": "train1", "queryImageId": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper"),
        # finite numbers whose distances overflow (Euclidean: silently 0 hits) or underflow float32
        (json.dumps({"trainId": "train1", "vector": [1e30] * 8, "metric": "Euclidean"}).encode(), "overflows float32"),
        (json.dumps({"trainId": "train1", "vector": [1e30] * 8}).encode(), "overflows float32"),
        (json.dumps({"trainId": "train1", "vector": [1e-30] * 8}).encode(), "underflows float32"),
    ],
)
def test_overflowing_input_is_400_not_500_or_silently_empty(served, raw, field):
    data, engine, server = served
    status, body = _call(server, "POST", "/search", raw=raw)
    assert status == 400 and body["error"] == "InvalidRequest" and field in body["message"], body
    status, health = _call(server, "GET", "/health")
    assert status == 200 and health["status"] == "ok"
