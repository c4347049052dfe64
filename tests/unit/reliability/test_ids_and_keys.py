"""Ids and keys are checked before any store call (issue 14, items 4, 7 and 10), on both backends
(local SQLite + directory, and DynamoDB/S3/SQS on moto): every Id-typed parameter of every method
refuses path tricks, the composite-key separator '#' and spaces with a 400 that names it, and
nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioims.services.api import handle_json
from bioims.services.models import ID_PATTERN
from bioims.services.registry import available_services, service_class
from bioims.store.localfs import LocalObjectStore
from bioims.tables import ALL_TABLES

BAD_IDS = ["../../../../usr/", "x#t", "a b", "a/b", "..", ".hidden"]


def _snapshot(ctx) -> str:
    rows = {
        spec.name: sorted(json.dumps(r, sort_keys=True) for r in ctx.stores.table(spec).scan_all())
        for spec in ALL_TABLES
    }
    objects = [
        sorted(i.key for i in ctx.stores.data.list("")),
        sorted(i.key for i in ctx.stores.resource_bucket.list("")),
    ]
    return json.dumps([rows, objects])


def _id_fields():
    """(service, method, field) for every top-level parameter typed as an id."""
    for service in available_services():
        for name, method in sorted(service_class(service).api_methods().items()):
            for field_name, field in method.model.model_fields.items():
                patterns = [getattr(m, "pattern", None) for m in field.metadata]
                if ID_PATTERN in patterns or ID_PATTERN in repr(field.annotation):
                    yield service, name, field_name


ID_FIELDS = list(_id_fields())


def _ok(ctx, service: str, event: dict) -> dict:
    response = handle_json(ctx.service(service), event)
    assert response["statusCode"] < 300, response
    return response["body"]


def _bad(ctx, service: str, event: dict, names: str) -> dict:
    response = handle_json(ctx.service(service), event)
    assert response["statusCode"] == 400, response
    assert names in response["body"]["message"], response
    return response["body"]


def test_the_id_fields_cover_the_services():
    methods = {(s, m) for s, m, _ in ID_FIELDS}
    assert {
        ("search", "deleteTraining"),
        ("artifact", "deleteArtifacts"),
        ("train", "getTrainingStatus"),
        ("image-management", "getImageInfo"),
    } <= methods
    assert len(ID_FIELDS) >= 30


def test_every_id_parameter_refuses_bad_ids(backend_ctx):
    """One context per backend, every (method, id parameter, bad id): 400 naming it, no change."""
    backend_ctx.service("artifact").register("plateA", "x", "s3key#kept/one.png")
    before = _snapshot(backend_ctx)
    for service, method_name, field in ID_FIELDS:
        for bad in BAD_IDS:
            body = _bad(backend_ctx, service, {"method": method_name, field: bad}, f"'{field}'")
            assert "not a valid id" in body["message"], (service, method_name, field, bad)
    assert _snapshot(backend_ctx) == before


def test_composite_key_components_cannot_hold_the_separator(backend_ctx):
    """deleteArtifacts(contextId="plateA", trainId="x#t") used to delete the rows of context
    "plateA#x" (trainId "t"): both spellings are refused, the rows stay."""
    artifact = backend_ctx.service("artifact")
    artifact.register("plateA", "x", "s3key#kept/one.png")
    _bad(
        backend_ctx,
        "artifact",
        {"method": "createArtifact", "artifact": {"contextId": "plateA#x", "trainId": "t", "artifact": "a"}},
        "contextId",
    )
    before = _snapshot(backend_ctx)
    _bad(backend_ctx, "artifact", {"method": "deleteArtifacts", "contextId": "plateA", "trainId": "x#t"}, "'trainId'")
    _bad(backend_ctx, "artifact", {"method": "deleteArtifacts", "contextId": "plateA#x", "trainId": "t"}, "'contextId'")
    from bioims.errors import BadRequest

    for context_id, train_id in (("plateA#x", "t"), ("plateA", "x#t")):  # the Python API refuses them too
        with pytest.raises(BadRequest, match="cannot contain"):
            artifact.register(context_id, train_id, "s3key#other.png")
        with pytest.raises(BadRequest, match="cannot contain"):
            artifact.list(context_id, train_id)
    assert _snapshot(backend_ctx) == before
    listed = _ok(backend_ctx, "artifact", {"method": "getArtifacts", "contextId": "plateA", "trainId": "x"})[
        "artifacts"
    ]
    assert [a["artifact"] for a in listed] == ["s3key#kept/one.png"]


def test_bad_input_of_the_issue_is_400_on_both_backends(backend_ctx):
    _ok(
        backend_ctx,
        "training-configuration",
        {
            "method": "createEmbedding",
            "embedding": {
                "embeddingName": "e1",
                "inputWidth": 64,
                "inputHeight": 64,
                "inputChannels": 3,
                "roiWidth": 32,
            },
        },
    )
    _ok(
        backend_ctx,
        "training-configuration",
        {"method": "createTraining", "training": {"embeddingName": "e1", "trainId": "t1"}},
    )
    before = _snapshot(backend_ctx)
    # trainIds accepted by training-configuration are ids the rest accepts: '../x' is refused here too
    _bad(
        backend_ctx,
        "training-configuration",
        {"method": "createTraining", "training": {"embeddingName": "e1", "trainId": "../x"}},
        "trainId",
    )
    _bad(
        backend_ctx, "train", {"method": "train", "embeddingName": "e1", "filterKey": "../../etc/passwd"}, "'filterKey'"
    )
    _bad(backend_ctx, "train", {"method": "train", "embeddingName": "e1", "filterBucket": "../b"}, "'filterBucket'")
    _bad(
        backend_ctx,
        "artifact",
        {"method": "createDescribeStacksArtifact", "contextId": "../../x", "trainId": "origin"},
        "'contextId'",
    )
    for value in (float("nan"), float("inf"), {"a": [float("-inf")]}):
        body = _bad(
            backend_ctx,
            "training-configuration",
            {"method": "updateTraining", "trainId": "t1", "attribute": "description", "value": value},
            "'value'",
        )
        assert "NaN" in body["message"]
    deep: object = "x"
    for _ in range(200):
        deep = [deep]
    _bad(backend_ctx, "tag", {"method": "createTags", "tagValues": deep}, "nested deeper")
    for name in ("a/b", "a b", "../x"):
        _bad(backend_ctx, "train", {"method": "train", "embeddingName": name}, "'embeddingName'")
    assert _snapshot(backend_ctx) == before


def test_local_list_refuses_prefixes_that_leave_the_root(tmp_path: Path):
    root = tmp_path / "objects" / "bucket"
    (root / "artifact").mkdir(parents=True)
    (root / "artifact" / "inside.txt").write_text("in")
    (tmp_path / "objects" / "outside.txt").write_text("secret")
    store = LocalObjectStore(root)
    assert [i.key for i in store.list("artifact/")] == ["artifact/inside.txt"]
    for prefix in ("../", "../outside", "artifact/../../", "/etc/", "a//b", "artifact/..", "./"):
        with pytest.raises(ValueError, match="invalid object key prefix"):
            list(store.list(prefix))
    assert [i.key for i in store.list("")] == ["artifact/inside.txt"]
