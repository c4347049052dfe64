"""The train and embedding services on the local backend, end to end: the train workflow (build,
training job as a subprocess running the script-mode entry with the SageMaker variables, model record),
the embedding-compute workflow (the job per plate, image rows, plate arrays), the leave-one-
compound-out fan-out, statuses, and bad input answered with clear errors."""

from __future__ import annotations

import json

import numpy as np

from bioims import keys
from bioims.learning.inference import embed_rois, image_embedding, read_plate_embeddings
from bioims.learning.modelcard import fetch_model, load_model
from bioims.learning.roifiles import load_npy
from bioims.vectors import decode_vector
from tests.unit.learning.service_screen import EMBEDDING, call, error, screen_fixture  # noqa: F401 - the `screen` fixture


def test_train_then_embed_through_the_workflows(screen):
    ctx, plates = screen
    started = call(ctx, "train", "train", embeddingName=EMBEDDING, description="baseline")
    assert started["status"] == "SUCCEEDED", started
    train_id = started["trainId"]
    status = call(ctx, "train", "getTrainingStatus", trainId=train_id)
    assert status["state"] == "trained" and status["execution"]["status"] == "SUCCEEDED"
    assert status["job"]["TrainingJobStatus"] == "Completed"
    assert status["progress"]["event"] == "done"  # written by the subprocess beside its checkpoints
    assert status["imageCount"] == 24 and status["roiCount"] == 24 * 4  # 32 labelled images, 8 without ROIs
    summary = status["trainingSummary"]
    assert summary["network"] == "bioims-resnet" and summary["epochsCompleted"] == 1
    training = ctx.service("training-configuration").training(train_id)
    card = json.loads(ctx.stores.data.get_bytes(training["modelCardKey"]))
    assert card["hyperparameters"]["embedding_dim"] == 32 and card["data"]["manifestDigest"]
    manifest = json.loads(ctx.stores.data.get_bytes(training["manifestKey"]))
    assert manifest["counts"]["unlabeledCount"] == 2 and manifest["counts"]["emptyCount"] == 8
    artifacts = {
        a["key"] for a in call(ctx, "artifact", "getArtifacts", contextId=train_id, trainId=train_id)["artifacts"]
    }
    assert {
        training["manifestKey"],
        training["imageListKey"],
        training["modelKey"],
        training["modelCardKey"],
    } <= artifacts

    embedded = call(ctx, "embedding", "startComputeEmbedding", trainId=train_id)
    assert embedded["status"] == "SUCCEEDED", embedded
    report = call(ctx, "embedding", "getEmbeddingStatus", trainId=train_id)
    assert report["complete"] and report["status"] == "embedded"
    net, _ = load_model(fetch_model(ctx.stores.data, train_id))
    arrays = {}
    for plate_id, rows in plates.items():
        train_rows = {r["imageId"]: r for r in ctx.service("image-management").plate_train_rows(plate_id, train_id)}
        with_rois = [r for r in rows if not r["imageSourceId"].endswith("-0-1")]
        assert set(train_rows) == {r["imageId"] for r in with_rois}  # unlabelled images too; no row without ROIs
        ids, matrix = arrays[plate_id] = read_plate_embeddings(ctx.stores.data, train_id, plate_id)
        assert ids == sorted(train_rows) and matrix.shape == (len(ids), 32)
        row = train_rows[ids[0]]
        stored = decode_vector(row["embedding"])
        assert np.array_equal(stored, matrix[0]) and row["roiCount"] == 4
        # recomputed now, outside the job: identical
        rois = load_npy(ctx.stores.data, keys.roi_tensor_key(EMBEDDING, plate_id, ids[0]))
        assert np.array_equal(image_embedding(embed_rois(net, rois)), stored)
    assert call(ctx, "embedding", "startComputeEmbedding", trainId=train_id)["status"] == "SUCCEEDED"  # re-run
    for plate_id, (ids, matrix) in arrays.items():
        again_ids, again_matrix = read_plate_embeddings(ctx.stores.data, train_id, plate_id)
        assert again_ids == ids and np.array_equal(again_matrix, matrix)


def test_leave_one_compound_out_fan_out_and_statuses(screen):
    ctx, plates = screen
    first = call(ctx, "train", "trainLeaveOneCompoundOut", embeddingName=EMBEDDING, compounds=["cpd-a1"])
    assert [(t["compound"], t["status"]) for t in first["trainings"]] == [("cpd-a1", "SUCCEEDED")]
    train_id = first["trainings"][0]["trainId"]
    manifest = json.loads(ctx.stores.data.get_bytes(keys.training_manifest_key(train_id)))
    assert manifest["counts"]["filterCount"] == 8
    assert "cpd-a1" not in {i["subclassName"] for i in manifest["images"]}
    again = call(ctx, "train", "trainLeaveOneCompoundOut", embeddingName=EMBEDDING, compounds=["cpd-a1"])
    assert again["trainings"] == [{"compound": "cpd-a1", "trainId": train_id, "existing": True}]
    listed = call(ctx, "train", "listTrainings", embeddingName=EMBEDDING)["trainings"]
    assert [(t["compound"], t["state"]) for t in listed] == [("cpd-a1", "trained")]
    assert error(ctx, "train", "trainLeaveOneCompoundOut", embeddingName=EMBEDDING, compounds=["aspirin"])[
        1
    ].startswith("no exclusion list for ['aspirin']")


def test_bad_trainings_fail_early_and_clearly(screen):
    ctx, plates = screen
    assert error(ctx, "train", "train", embeddingName="nope")[0] == 404
    status, message = error(ctx, "train", "train", embeddingName=EMBEDDING, filterKey="train-filter/emb/none.txt")
    assert status == 400 and "not found" in message
    assert ctx.service("training-configuration").trainings(EMBEDDING) == []  # nothing was created
    # everything excluded: the build fails with the reason, the job never starts
    everything = [r["imageId"] for rows in plates.values() for r in rows]
    ctx.stores.resource_bucket.put_bytes("train-filter/all.txt", "\n".join(everything).encode())
    failed = call(ctx, "train", "train", embeddingName=EMBEDDING, filterKey="train-filter/all.txt")
    assert failed["status"] == "FAILED"
    assert "is empty: of 34 images none is labelled in category 'moa' (34 excluded" in failed["cause"]
    status = call(ctx, "train", "getTrainingStatus", trainId=failed["trainId"])
    assert status["state"] == "failed" and "is empty" in status["statusMessage"] and "job" not in status
    assert error(ctx, "train", "trainingJobRequest", trainId=failed["trainId"])[1].endswith(
        "run buildTrainingSet first"
    )
    assert error(ctx, "embedding", "startComputeEmbedding", trainId=failed["trainId"])[1].startswith(
        f"training {failed['trainId']} has no model yet"
    )
