"""One service suite, run on the local backend and on moto (DynamoDB, S3, SQS): every data
service method through the client, with the same results on both."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bioims
from bioims.clients import ClientError
from bioims.vectors import decode_vector


def _manifest(plate="Week1_22123", n_wells=3, per_well=2, labelled=True, bucket="/data/bbbc021"):
    images = []
    for w in range(n_wells):
        for s in range(per_well):
            image = {
                "wellSourceId": f"B{w + 2:02d}",
                "imageSourceId": f"{plate}_B{w + 2:02d}_s{s + 1}",
                "sourceBucket": bucket,
                "sourceKey": "",
                "channelKeys": [
                    {"name": "dapi", "keysuffix": f"{plate}/w{w}s{s}_d.tif"},
                    {"name": "tubulin", "keysuffix": f"{plate}/w{w}s{s}_t.tif"},
                ],
                "experiment": "BBBC021_v1",
                "metadata": {"compound": "taxol", "concentration": 0.3},
            }
            if labelled:
                image.update(category="moa", label="Microtubule stabilizers", subclassType="compound", subclass="taxol")
            images.append(image)
    return {"plateSourceId": plate, "images": images}


def _upload(ctx, manifest) -> str:
    key = f"manifests/{manifest['plateSourceId']}.json"
    ctx.stores.resource_bucket.put_bytes(key, json.dumps(manifest).encode())
    return bioims.client("image-management").populateSourcePlate(ctx.stores.resource_bucket.bucket, key)


def _error(call) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def test_configuration(backend_ctx):
    cfg = bioims.client("configuration")
    assert cfg.getParameter("image-preprocessing-roi-size") == "128"  # documented default
    cfg.setParameter("image-preprocessing-roi-size", "64")
    cfg.setParameter("image-preprocessing-roi-size", "96")
    assert cfg.getParameter("image-preprocessing-roi-size") == "96"
    assert [h[2] for h in cfg.getHistory("image-preprocessing-roi-size")] == ["64", "96"]
    assert cfg.getAll()["image-preprocessing-roi-size"] == "96"
    cfg.setDefaultTrainId("T1")
    assert cfg.getDefaultTrainId() == "T1"
    assert cfg.deleteParameter("image-preprocessing-roi-size")["deleted"] == 3
    assert cfg.getParameter("image-preprocessing-roi-size") == "128"
    assert _error(lambda: cfg.getParameter("no-such-key")).status == 404


def test_labels_are_dense_unique_and_renamable(backend_ctx):
    labels = bioims.client("label")
    assert _error(lambda: labels.createLabel("moa", "DMSO")).status == 404  # category first
    labels.createCategory("moa", "BBBC021 MOAs")
    labels.createCategory("compound")  # the original never created this header (docs/original.md §8.3 #17)
    names = ["Actin disruptors", "Aurora kinase inhibitors", "DMSO"]
    assert [labels.createLabel("moa", n)["index"] for n in names] == [0, 1, 2]
    assert [labels.createLabel("compound", n)["index"] for n in ["DMSO", "ALLN"]] == [0, 1]
    assert labels.createLabel("moa", "DMSO") == {"category": "moa", "label": "DMSO", "index": 2, "created": False}
    assert labels.listLabels("moa") == [(n, i) for i, n in enumerate(names)]
    assert labels.getIndex("moa", "DMSO") == 2 and labels.getLabel("moa", 1) == "Aurora kinase inhibitors"
    labels.updateLabel("moa", "DMSO", "control")
    assert labels.getIndex("moa", "control") == 2
    assert _error(lambda: labels.getIndex("moa", "DMSO")).status == 404
    assert _error(lambda: labels.updateLabel("moa", "control", "Actin disruptors")).status == 409
    assert sorted(labels.listCategories()) == ["compound", "moa"]
    labels.updateCategoryDescription("moa", "12 MOAs and DMSO")
    described = {c["category"]: c for c in labels.call("listCategories")["categories"]}
    assert described["moa"] == {"category": "moa", "description": "12 MOAs and DMSO", "labelCount": 3}
    assert _error(lambda: labels.updateCategoryDescription("absent", "x")).status == 404
    labels.deleteCategory("compound")
    assert labels.listCategories() == ["moa"]
    assert _error(lambda: labels.createLabel("moa", "origin")).status == 400


def test_messages(backend_ctx):
    messages = bioims.client("message")
    log = messages.createMessage("first")
    messages.addMessage(log, "second")
    messages.addMessage(log, "third")
    assert [m["message"] for m in messages.listMessage(log)] == ["first", "second", "third"]
    assert messages.getMessage(log)["message"] == "third"
    assert _error(lambda: messages.addMessage("00000000-0000-4000-8000-000000000000", "x")).status == 404
    messages.deleteMessage(log)
    assert _error(lambda: messages.getMessage(log)).status == 404


def test_artifacts(backend_ctx):
    artifacts = bioims.client("artifact")
    artifacts.createArtifact(
        {"contextId": "P1", "trainId": "origin", "artifact": "s3key#a/b.png", "description": "thumb"}
    )
    artifacts.createArtifact({"contextId": "P1", "trainId": "origin", "artifact": "s3key#a/c.png"})
    annotated = artifacts.addAnnotation("P1", "origin", "s3key#a/b.png", "looks fine")
    assert annotated["annotation"] == ["looks fine"]
    listed = artifacts.getArtifacts("P1", "origin")
    assert [a["key"] for a in listed] == ["a/b.png", "a/c.png"]
    assert _error(lambda: artifacts.addAnnotation("P1", "origin", "s3key#nope", "x")).status == 404
    snapshot = artifacts.createDescribeStacksArtifact("P1", "origin")
    assert json.loads(backend_ctx.stores.data.get_bytes(snapshot["key"]))["backend"] == backend_ctx.settings.backend
    assert artifacts.deleteArtifacts("P1", "origin")["deleted"] == 3
    assert artifacts.getArtifacts("P1", "origin") == []


def test_tags(backend_ctx):
    tags = bioims.client("tag")
    made = tags.createTags(["moa:Actindisruptors", "compound:taxol", "batch:Week1", "compound:taxol"])
    assert [t["id"] for t in made] == [1, 2, 3, 2]
    assert tags.getTagByValue("compound:taxol")["id"] == 2
    assert tags.getTagById(3)["tagValue"] == "batch:Week1"
    assert [t["tagValue"] for t in tags.getAllTags()] == ["moa:Actindisruptors", "compound:taxol", "batch:Week1"]
    assert _error(lambda: tags.getTagById(99)).status == 404
    assert _error(lambda: tags.createTag("nextId")).status == 400


def test_training_configuration(backend_ctx):
    tc = bioims.client("training-configuration")
    embedding = tc.createEmbedding(
        {
            "embeddingName": "bbbc021",
            "inputWidth": 1280,
            "inputHeight": 1024,
            "inputChannels": 3,
            "trainingHyperparameters": {"epochs": 2},
        }
    )
    assert embedding["roiWidth"] == 128 and embedding["network"] == "bbbc021-1"
    assert (
        _error(
            lambda: tc.createEmbedding(
                {"embeddingName": "bbbc021", "inputWidth": 1, "inputHeight": 1, "inputChannels": 1}
            )
        ).status
        == 409
    )
    assert _error(lambda: tc.createTraining({"embeddingName": "nope", "trainId": "T1"})).status == 404
    tc.createTraining(
        {"embeddingName": "bbbc021", "trainId": "T1", "filterKey": "train-filter/bbbc021/taxol-filter.txt"}
    )
    assert _error(lambda: tc.createTraining({"embeddingName": "bbbc021", "trainId": "T1"})).status == 409
    assert tc.getTraining("T1")["filterKey"].endswith("taxol-filter.txt")
    assert tc.updateTraining("T1", "status", "training")["status"] == "training"
    assert _error(lambda: tc.updateTraining("T1", "embeddingName", "x")).status == 400
    assert _error(lambda: tc.getTraining("missing")).status == 404
    assert [t["trainId"] for t in tc.getEmbeddingTrainings("bbbc021")] == ["T1"]
    assert [e["embeddingName"] for e in tc.listEmbeddings()] == ["bbbc021"]
    assert _error(lambda: tc.deleteEmbedding("bbbc021")).status == 409
    tc.deleteTraining("T1")
    assert tc.deleteEmbedding("bbbc021")["deleted"] == 1
    assert _error(lambda: tc.getEmbeddingInfo("bbbc021")).status == 404
    assert _error(lambda: tc.getTrainingJobInfo("bioims-T1-none")).status == 404


@pytest.mark.aws
def test_training_job_info_comes_from_sagemaker(aws_ctx):
    """On AWS getTrainingJobInfo is SageMaker's DescribeTrainingJob, made JSON-safe."""
    import boto3

    boto3.client("sagemaker", region_name="us-east-1").create_training_job(
        TrainingJobName="bioims-T1-abc",
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/train",
        OutputDataConfig={"S3OutputPath": "s3://b/o"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
        HyperParameters={"epochs": "2"},
    )
    info = bioims.client("training-configuration").getTrainingJobInfo("bioims-T1-abc")
    assert info["TrainingJobName"] == "bioims-T1-abc" and info["HyperParameters"] == {"epochs": "2"}
    assert info["TrainingJobStatus"] in ("InProgress", "Completed")
    json.dumps(info)  # dates and the like arrive as JSON values


def test_source_plate_upload_rows_and_idempotence(backend_ctx):
    management = bioims.client("image-management")
    manifest = _manifest()
    plate_id = _upload(backend_ctx, manifest)
    images = management.getImagesByPlateId(plate_id)
    assert len(images) == 6
    assert {i["imageSourceId"] for i in images} == {i["imageSourceId"] for i in manifest["images"]}
    first = next(i for i in images if i["imageSourceId"].endswith("B02_s1"))
    assert first["channelKeys"][1] == {"name": "tubulin", "keysuffix": "Week1_22123/w0s0_t.tif"}
    assert first["trainLabel"] == "Microtubule stabilizers" and first["trainSubclass"] == "taxol"
    assert first["metadata"] == {"compound": "taxol", "concentration": 0.3}
    assert len(management.getWellsByPlateId(plate_id)) == 3
    well_images = management.getImagesByPlateAndWellId(plate_id, first["wellId"])
    assert sorted(i["imageSourceId"] for i in well_images) == ["Week1_22123_B02_s1", "Week1_22123_B02_s2"]
    assert (
        bioims.client("message").listMessage(first["messageId"])[0]["message"]
        == f"Creation of imageId={first['imageId']}"
    )
    plate_log = management.getPlateMessageId(plate_id)
    assert bioims.client("message").listMessage(plate_log)[0]["message"] == f"Message START for plateId {plate_id}"
    fresh_log = management.createPlateMessageId(plate_id)
    assert fresh_log != plate_log and management.getPlateMessageId(plate_id) == fresh_log
    assert bioims.client("message").getMessage(fresh_log)["message"] == f"Message START for plateId {plate_id}"
    assert _error(lambda: management.getPlateMessageId("noSuchPlate")).status == 404
    assert _error(lambda: management.createPlateMessageId("noSuchPlate")).status == 404
    # a second upload of the same plate is refused and names the existing plate
    conflict = _error(lambda: _upload(backend_ctx, manifest))
    assert conflict.status == 409 and conflict.body["plateId"] == plate_id
    assert len(management.getImagesByPlateId(plate_id)) == 6
    assert [p["plateId"] for p in management.listPlates()] == [plate_id]


def test_validation_geometry_and_compatible_plates(backend_ctx):
    management = bioims.client("image-management")
    plate_id = _upload(backend_ctx, _manifest())
    image_ids = management.getImageIdsByPlateId(plate_id)
    assert management.validatePlate(plate_id) == "UNDEFINED"
    for image_id in image_ids[:-1]:
        management.applyInspectionResult(
            {"imageId": image_id, "valid": True, "width": 1280, "height": 1024, "depth": 1, "channels": 2}
        )
    management.applyInspectionResult({"imageId": image_ids[-1], "valid": False, "error": "truncated TIFF"})
    status = management.getPlateImageStatus(plate_id)
    assert status["VALIDATED"] == 5 and status["ERROR"] == 1
    # one unreadable image no longer disqualifies the plate (docs/original.md §8.2 #12)
    assert management.validatePlate(plate_id) == "VALIDATED"
    plate = management.getPlateInfo(plate_id)
    assert (plate["width"], plate["height"], plate["depth"], plate["channels"]) == (1280, 1024, 1, 2)
    assert management.listCompatiblePlates(1280, 1024, 1, 2) == [{"plateId": plate_id, "plateSourceId": "Week1_22123"}]
    assert management.listCompatiblePlates(1280, 1024, 1, 3) == []
    # disagreeing dimensions make the plate an error and remove it from the compatible list
    management.applyInspectionResult(
        {"imageId": image_ids[0], "valid": True, "width": 640, "height": 512, "depth": 1, "channels": 2}
    )
    assert management.validatePlate(plate_id) == "ERROR"
    assert management.listCompatiblePlates(1280, 1024, 1, 2) == []


def test_training_rows_and_tags(backend_ctx):
    management = bioims.client("image-management")
    tc = bioims.client("training-configuration")
    tc.createEmbedding({"embeddingName": "e", "inputWidth": 8, "inputHeight": 8, "inputChannels": 2})
    tc.createTraining({"embeddingName": "e", "trainId": "T1"})
    plate_id = _upload(backend_ctx, _manifest())
    image_ids = management.getImageIdsByPlateId(plate_id)
    vectors = np.random.default_rng(0).normal(size=(len(image_ids), 16)).astype(np.float32)
    management.createImageTrainResults(
        "T1",
        plate_id,
        [{"imageId": i, "embeddingVector": v.tolist(), "roiCount": 3} for i, v in zip(image_ids, vectors, strict=True)],
    )
    rows = {r["imageId"]: r for r in management.getImagesByPlateIdAndTrainId(plate_id, "T1")}
    assert set(rows) == set(image_ids)
    for image_id, vector in zip(image_ids, vectors, strict=True):
        np.testing.assert_array_equal(decode_vector(rows[image_id]["embedding"]), vector)
    assert management.getImageInfo(image_ids[0], "T1")["roiCount"] == 3
    assert _error(lambda: management.createImageTrainResult(image_ids[0], "nope", [1.0])).status == 404
    assert management.deleteImageTrainResults(plate_id, "T1")["deleted"] == len(image_ids)
    management.updateImageTags(image_ids[0], [3, 1, 3])
    assert management.getImageTags(image_ids[0]) == [1, 3]
    management.updateImageTagsBatch([{"imageId": i, "tagList": [2]} for i in image_ids])
    assert all(management.getImageTags(i) == [2] for i in image_ids)
    assert _error(lambda: management.updateImageTagsBatch([{"imageId": "nope", "tagList": [1]}])).status == 404


def test_bad_manifests_are_rejected_without_rows(backend_ctx):
    management = bioims.client("image-management")
    bucket = backend_ctx.stores.resource_bucket
    bucket.put_bytes("bad.json", b"{not json")
    assert _error(lambda: management.populateSourcePlate(bucket.bucket, "bad.json")).status == 400
    assert _error(lambda: management.populateSourcePlate(bucket.bucket, "absent.json")).status == 404
    broken = _manifest()
    del broken["images"][2]["imageSourceId"]
    bucket.put_bytes("broken.json", json.dumps(broken).encode())
    error = _error(lambda: management.populateSourcePlate(bucket.bucket, "broken.json"))
    assert error.status == 400 and "imageSourceId" in str(error)
    duplicate = _manifest()
    duplicate["images"][1]["imageSourceId"] = duplicate["images"][0]["imageSourceId"]
    bucket.put_bytes("dup.json", json.dumps(duplicate).encode())
    assert "appears twice" in str(_error(lambda: management.populateSourcePlate(bucket.bucket, "dup.json")))
    assert management.listPlates() == []
