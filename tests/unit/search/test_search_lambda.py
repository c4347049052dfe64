"""The search service's Lambda methods (docs/original.md §2.12) through the client, on the local
backend (search embedded in the process) and on moto (a search server consuming SQS)."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

import bioims
from bioims import keys
from bioims.clients import ClientError
from bioims.search.server import SearchServer, ServiceOptions

from .reference import Dataset, brute_force

MOAS = ["moa:Actindisruptors", "moa:Eg5inhibitors"]
COMPOUNDS = ["compound:cytochalasinB", "compound:taxol", "compound:DMSO"]


def _manifest(plate: str, n_wells: int = 4, per_well: int = 3) -> dict:
    images = [
        {
            "wellSourceId": f"B{w + 2:02d}",
            "imageSourceId": f"{plate}_B{w + 2:02d}_s{s + 1}",
            "sourceBucket": "/data/none",
            "sourceKey": "",
            "channelKeys": [{"name": "dapi", "keysuffix": f"{plate}/w{w}s{s}.tif"}],
        }
        for w in range(n_wells)
        for s in range(per_well)
    ]
    return {"plateSourceId": plate, "images": images}


def _world(ctx) -> tuple[Dataset, dict[str, int], list[str]]:
    """An embedding, a training, two validated plates with per-image embeddings and tags."""
    tc = bioims.client("training-configuration")
    management = bioims.client("image-management")
    tc.createEmbedding({"embeddingName": "emb", "inputWidth": 64, "inputHeight": 48, "inputChannels": 1})
    tc.createTraining({"embeddingName": "emb", "trainId": "T1"})
    tag_ids = {t["tagValue"]: t["id"] for t in bioims.client("tag").createTags(MOAS + COMPOUNDS)}
    rng = np.random.default_rng(61)
    image_ids, vectors, plates, tags = [], [], [], {}
    plate_ids = []
    for name in ("Week1_1", "Week2_2"):
        key = f"manifests/{name}.json"
        ctx.stores.resource_bucket.put_bytes(key, json.dumps(_manifest(name)).encode())
        plate_id = management.populateSourcePlate(ctx.stores.resource_bucket.bucket, key)
        plate_ids.append(plate_id)
        ids = management.getImageIdsByPlateId(plate_id)
        for image_id in ids:
            management.applyInspectionResult(
                {"imageId": image_id, "valid": True, "width": 64, "height": 48, "depth": 1, "channels": 1}
            )
        assert management.validatePlate(plate_id) == "VALIDATED"
        plate_vectors = rng.standard_normal((len(ids), 16)).astype(np.float32)
        management.createImageTrainResults(
            "T1",
            plate_id,
            [
                {"imageId": i, "embeddingVector": v.tolist(), "roiCount": 2}
                for i, v in zip(ids, plate_vectors, strict=True)
            ],
        )
        batch = []
        for j, image_id in enumerate(ids):
            if j % 4 == 3:
                continue  # untagged
            chosen = [tag_ids[COMPOUNDS[j % 3]]] + ([tag_ids[MOAS[j % 2]]] if j % 3 != 2 else [])
            tags[image_id] = chosen
            batch.append({"imageId": image_id, "tagList": chosen})
        management.updateImageTagsBatch(batch)
        image_ids += ids
        vectors.append(plate_vectors)
        plates += [plate_id] * len(ids)
    return Dataset(image_ids, np.concatenate(vectors), plates, tags), tag_ids, plate_ids


@contextlib.contextmanager
def _search_service(ctx):
    """Locally the service is embedded in the client's process; on AWS a server consumes SQS."""
    if ctx.settings.backend == "local":
        yield
        return
    server = SearchServer(
        ctx.stores,
        tag_source=ctx.service("tag").all_tags,
        options=ServiceOptions(
            http_port=None, wait_seconds=0.1, search_visibility_timeout=5, management_visibility_timeout=5
        ),
    ).start()
    try:
        yield
    finally:
        server.stop()


def test_load_search_and_read_results(backend_ctx):
    data, tag_ids, plate_ids = _world(backend_ctx)
    search = bioims.client("search")
    labels = {v: k for k, v in tag_ids.items()}
    with _search_service(backend_ctx):
        for plate_id in plate_ids:
            loaded = search.processPlate(plateId=plate_id, trainId="T1")
            assert loaded["queued"] and loaded["source"] == "training-rows"
            assert search.processPlate(plateId=plate_id, embeddingName="emb")["tagged"] == 9
        assert search.loadTagLabelMap()["tags"] == len(labels)
        taxol = tag_ids["compound:taxol"]
        query = data.image_ids[4]
        answer = search.searchByImageId(
            trainId="T1", queryImageId=query, maxHits=5, requireMoa="true", exclusionTags=[taxol], waitSeconds=30
        )
    assert answer["status"] == "completed", answer
    reference_labels = {i: v for v, i in tag_ids.items()}
    expected, distances = _reference(data, query, 5, [taxol], reference_labels)
    assert [h["imageId"] for h in answer["hits"]] == expected
    np.testing.assert_allclose([h["distance"] for h in answer["hits"]], distances, atol=1e-5)
    results = search.getSearchResults(searchId=answer["searchId"])
    assert results["hits"] == answer["hits"] and results["status"] == "completed"
    status = search.getSearchStatus(searchId=answer["searchId"])
    assert status["status"] == "completed" and status["hitCount"] == 5 and status["requireMoa"] is True
    assert int(status["submitTimestamp"]) > 1_600_000_000_000


def _reference(data, query, k, exclusion, labels):
    from . import reference

    saved = reference.LABELS
    try:
        reference.LABELS = labels
        return brute_force(data, query_id=query, k=k, exclusion=exclusion, require_moa=True)
    finally:
        reference.LABELS = saved


def test_errors_end_as_error_status_or_clear_answers(backend_ctx):
    data, tag_ids, plate_ids = _world(backend_ctx)
    search = bioims.client("search")
    with _search_service(backend_ctx):
        search.processPlate(plateId=plate_ids[0], trainId="T1")
        # An image of the other plate has no embedding in the index: error with a reason, no hang.
        missing = search.searchByImageId(trainId="T1", queryImageId=data.image_ids[-1], waitSeconds=30)
        # requireMoa before the tag labels were loaded.
        not_ready = search.searchByImageId(
            trainId="T1", queryImageId=data.image_ids[0], requireMoa=True, waitSeconds=30
        )
    assert missing["status"] == "error" and data.image_ids[-1] in missing["errorReason"]
    assert not_ready["status"] == "error" and "loadTagLabelMap" in not_ready["errorReason"]
    for call, status in [
        (lambda: search.submitSearch(search={"trainId": "T1", "queryImageId": "x", "queryOrigin": "y"}), 400),
        (lambda: search.submitSearch(search={"trainId": "T9", "queryImageId": "x"}), 404),
        (lambda: search.submitSearch(search={"trainId": "T1", "queryImageId": "x", "maxHits": 0}), 400),
        (lambda: search.getSearchResults(searchId="nope"), 404),
        (lambda: search.updateSearchStatus(searchId="nope", status="completed"), 404),
        (lambda: search.updateSearchStatus(searchId=missing["searchId"], status="finished"), 400),
        (lambda: search.processPlate(plateId=plate_ids[0]), 400),
        (lambda: search.processPlate(plateId="nope", trainId="T1"), 404),
        (lambda: search.processPlate(plateId=plate_ids[0], embeddingName="nope"), 404),
        (
            lambda: search.createSearchResults(
                searchId=missing["searchId"], hits=[{"imageId": "a", "rank": 1, "distance": 0.1}]
            ),
            400,
        ),
    ]:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.status == status


def test_create_results_and_status_updates(local_ctx):
    _world(local_ctx)
    search = bioims.client("search")
    search_id = search.submitSearch(search={"trainId": "T1", "queryImageId": "unknown"})["searchId"]
    assert search.getSearchStatus(searchId=search_id)["status"] == "error"  # the embedded service ran it
    assert search.updateSearchStatus(searchId=search_id, status="running")["status"] == "running"
    hits = [{"imageId": "b", "rank": 1, "distance": 0.5}, {"imageId": "a", "rank": 0, "distance": 0.25}]
    assert search.createSearchResults(searchId=search_id, hits=hits)["hitCount"] == 2
    assert [h["imageId"] for h in search.getSearchResults(searchId=search_id)["hits"]] == ["a", "b"]
    assert search.getSearchStatus(searchId=search_id)["status"] == "completed"


def test_loader_workflows_and_delete_training(local_ctx):
    data, tag_ids, plate_ids = _world(local_ctx)
    search = bioims.client("search")
    assert search.startTrainingLoad(trainId="T1")["status"] == "SUCCEEDED"
    assert search.startTagLoad(embeddingName="emb")["status"] == "SUCCEEDED"
    search.loadTagLabelMap()
    answer = search.searchByImageId(
        trainId="T1", queryImageId=data.image_ids[0], maxHits=100, inclusionTags=[tag_ids["compound:DMSO"]]
    )
    assert answer["status"] == "completed"
    assert {h["imageId"] for h in answer["hits"]} == {
        i for i, t in data.tags.items() if tag_ids["compound:DMSO"] in t
    } - {data.image_ids[0]}
    assert list(local_ctx.stores.data.list(keys.search_staging_key("T1-")))
    search.deleteTraining(trainId="T1")
    assert not list(local_ctx.stores.data.list(keys.search_snapshot_prefix("T1")))
    assert not list(local_ctx.stores.data.list(keys.search_staging_key("T1-")))
    gone = search.searchByImageId(trainId="T1", queryImageId=data.image_ids[0])
    assert gone["status"] == "error" and "not loaded" in gone["errorReason"]


def test_a_search_received_first_still_waits_for_the_load_sent_before_it(aws_ctx):
    """The consumer long-polls the search queue; a plate load sent just before a search can
    arrive during that poll. The search must be answered after the load, not fail with
    'training not loaded'."""
    data, _, plate_ids = _world(aws_ctx)
    search = bioims.client("search")
    search.processPlate(plateId=plate_ids[0], trainId="T1")  # queued on the management queue
    submitted = search.submitSearch(search={"trainId": "T1", "queryImageId": data.image_ids[0], "maxHits": 3})
    server = SearchServer(
        aws_ctx.stores,
        tag_source=aws_ctx.service("tag").all_tags,
        options=ServiceOptions(
            http_port=None, wait_seconds=0.1, search_visibility_timeout=5, management_visibility_timeout=5
        ),
    )
    # the search queue first, as when the load arrived while the server was long-polling it
    assert server.searches.poll_once(wait_seconds=0) == 1
    status = search.getSearchStatus(searchId=submitted["searchId"])
    assert status["status"] == "completed", status
    assert len(search.getSearchResults(searchId=submitted["searchId"])["hits"]) == 3
