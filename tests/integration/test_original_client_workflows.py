"""Contract tests of the workflow-backed services (process-plate, train, embedding, search) and the
original's entry points that had no method here before (startTrainingBuild, startTrainingCompute,
executeImageEmbeddingCompute): the original's client (tests/support/original_client.py) against the
real Lambda handlers. Training and embedding run on the local backend (their workflows run in
process); search runs on the local backend and on moto (SQS + the search server)."""

from __future__ import annotations

import json

import pytest

from tests.support import original_client as original
from tests.unit.learning.service_screen import EMBEDDING, setup_screen
from tests.unit.search.test_search_lambda import _search_service, _world


def test_search(backend_ctx):
    data, tag_ids, plate_ids = _world(backend_ctx)
    lambdas = original.Lambdas()
    search = original.SearchClient(lambdas)
    with _search_service(backend_ctx):
        for plate_id in plate_ids:
            assert search.processPlate("T1", plate_id)["queued"]
        assert search.loadTagLabelMap()["tags"] == len(tag_ids)
        query = data.image_ids[4]
        answer = search.searchByImageId("T1", query)
        assert answer["status"] == "completed"
        rows = search.getSearchResults(answer["searchId"])  # the original's hit rows: strings, by rank
        assert rows and [r["rank"] for r in rows] == [str(i) for i in range(len(rows))]
        assert all(r["searchId"] == answer["searchId"] and float(r["distance"]) >= 0 for r in rows)
        assert query not in {r["imageId"] for r in rows}
        status = search.getSearchStatus(answer["searchId"])
        assert status["Item"]["status"] == "completed" and status["Item"]["searchId"] == answer["searchId"]
        taxol = tag_ids["compound:taxol"]
        submitted = search.submitSearch(
            {"trainId": "T1", "queryImageId": query, "exclusionTags": [taxol], "requireMoa": "true", "metric": "Cosine"}
        )
        assert set(submitted) >= {"searchId"}
        assert search.updateSearchStatus(submitted["searchId"], "error")["status"] == "error"
        assert search.getSearchStatus("no-such-search") == {}
        assert search.logTrainList()["messageId"]
        search.deleteTraining("T1")


def test_train_build_compute_and_image_embedding(local_ctx):
    plates = setup_screen(local_ctx)
    lambdas = original.Lambdas()
    train = original.TrainClient(lambdas)
    tc = original.TrainingConfigurationClient(lambdas)

    started = train.train(EMBEDDING, "", "", executeProcessPlate="false", useSpot="false")  # string flags, as sent
    assert started["executionArn"] and "startDate" in started and started["status"] == "SUCCEEDED", started
    training = tc.getTraining(started["trainId"])
    assert training["useSpot"] is False and training["modelKey"]

    tc.createTraining({"embeddingName": EMBEDDING, "trainId": "T2"})
    assert train.startTrainingBuild("T2") == 202  # an Event invoke, as the original's client makes it
    built = tc.getTraining("T2")
    assert built["manifestKey"] and built["imageCount"] == 24 and built.get("status") == "built"
    computed = train.startTrainingCompute("T2")  # no useSpot: the original's Lambda raised a KeyError
    assert computed["status"] == "SUCCEEDED" and computed["trainingJobName"].startswith("bioims-T2-"), computed
    assert tc.getTraining("T2")["modelKey"]
    job = tc.getTrainingJobInfo(computed["trainingJobName"])  # DescribeTrainingJob's shape
    assert job["TrainingJobName"] == computed["trainingJobName"] and job["TrainingJobStatus"] == "Completed", job

    embedding = original.EmbeddingClient(lambdas)
    plate_id, rows = next(iter(plates.items()))
    image_id = next(r["imageId"] for r in rows if not r["imageSourceId"].endswith("-0-1"))
    answer = embedding.executeImageEmbeddingCompute(
        tc.getTraining("T2"), tc.getEmbeddingInfo(EMBEDDING), plate_id, image_id
    )
    assert answer["embedded"] is True and answer["status"] == "SUCCEEDED", answer
    row = original.ImageManagementClient(lambdas).getImageInfo(image_id, "T2")["Item"]
    assert row["embedding"] and row["trainId"] == "T2"
    with pytest.raises(original.OriginalClientError, match="embeddingInfo"):
        embedding.executeImageEmbeddingCompute(tc.getTraining("T2"), {"embeddingName": "other"}, plate_id, image_id)

    process = original.ProcessPlateClient(lambdas)
    described = process.describeExecution(started["executionArn"])
    assert described["status"] == "SUCCEEDED" and described["ExecutionArn"] == started["executionArn"]
    with pytest.raises(original.OriginalClientError, match="embeddingName"):
        process.processPlate(plate_id)  # the original's client omits embeddingName (its own bug)
    manifest = {
        "plateSourceId": "P9",
        "images": [
            {"wellSourceId": "A01", "imageSourceId": "P9_A01_s1", "sourceBucket": "/nowhere", "sourceKey": "P9/a.tif"}
        ],
    }
    local_ctx.stores.resource_bucket.put_bytes("manifests/P9.json", json.dumps(manifest).encode())
    uploaded = process.uploadSourcePlate(local_ctx.stores.resource_bucket.bucket, "manifests/P9.json")
    assert uploaded["executionArn"] and "startDate" in uploaded and uploaded["plateId"]
    processed = process._sync(json.dumps({"method": "processPlate", "plateId": plate_id, "embeddingName": EMBEDDING}))
    assert processed["executionArn"] and "startDate" in processed
