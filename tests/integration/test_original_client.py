"""Contract tests: the original's client (docs/original.md §6, emulated in tests/support/original_client.py)
against this project's real Lambda handlers, on the local backend and on moto.

Each request is built as the original's client builds it (string formatting), sent as payload
bytes to lambdas/<service>.py, and the answer is parsed as the original's client parses it.
Methods the original's own client could never run (its double JSON decoding, its wrong
requests; docs/original.md §8.6 #45, #46) are checked to fail for exactly that reason, and are listed in
ORIGINAL_CLIENT_BUGS (the README's count comes from this file).
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.support import original_client as original

# Methods that fail against any correct server because of the original client's own code.
ORIGINAL_CLIENT_BUGS = {
    "configuration.getAll": "double json.loads of the decoded list (TypeError)",
    "configuration.getHistory": "double json.loads of the decoded list (TypeError)",
    "label.getIndex": "double json.loads of the decoded object (TypeError)",
    "label.listCategories": "double json.loads of the decoded list (TypeError)",
    "label.updateLabel": "sends `label` instead of `oldlabel`/`newlabel` (an Event invoke: the 400 is invisible)",
    "message.getMessage": "double json.loads of the decoded object (TypeError)",
    "message.createMessage": "double json.loads of the decoded object (TypeError)",
    "message.listMessage": "double json.loads of the decoded list (TypeError)",
    "image-management.populateSourcePlate": "double json.loads of the decoded object (TypeError)",
}


@pytest.fixture
def lambdas(backend_ctx):
    return original.Lambdas()


def _double_decode_fails(call) -> None:
    with pytest.raises(TypeError, match="JSON object must be str"):
        call()


def test_error_bodies_are_strings_the_original_client_can_print(lambdas):
    cfg = original.ConfigurationClient(lambdas)
    with pytest.raises(original.OriginalClientError) as info:
        original.TagClient(lambdas).getTagById("not-a-number")
    text = str(info.value)
    assert text.startswith("Error: ") and "tagId" in text
    details = json.loads(text.removeprefix("Error: "))  # the string is a JSON document with the details
    assert details["error"] == "BadRequest" and "tagId" in details["message"]
    with pytest.raises(original.OriginalClientError, match="unknown method"):
        cfg._sync('{ "method": "noSuchMethod" }')


def test_configuration(lambdas, backend_ctx):
    cfg = original.ConfigurationClient(lambdas)
    assert cfg.getParameter("image-preprocessing-roi-size") == "128"  # the original's documented value
    assert cfg.setParameter("image-preprocessing-roi-size", "64")["value"] == "64"
    cfg.setParameter("image-preprocessing-roi-size", "96")
    assert cfg.getParameter("image-preprocessing-roi-size") == "96"
    with pytest.raises(KeyError):  # a key never set: GetItem's `{}`, as the original answered
        cfg.getParameter("no-such-key")
    assert cfg._sync('{ "method": "getParameter", "key": "no-such-key" }') == {}
    cfg.setDefaultTrainId("T1")
    assert cfg.getDefaultTrainId()["Item"]["value"] == "T1"
    # getAll and getHistory: the answers are the original's lists of rows ...
    rows = cfg._sync('{ "method": "getAll" }')
    assert {r["key1"]: r["value"] for r in rows}["image-preprocessing-roi-size"] == "96"
    assert all(r["timestamp1"] == "LATEST" for r in rows)
    history = cfg._sync('{ "method": "getHistory", "key": "image-preprocessing-roi-size" }')
    # ms timestamps; a second set within the same millisecond gets a ".001" suffix (docs/compatibility.md)
    assert [r["value"] for r in sorted(history, key=lambda r: float(r["timestamp1"]))] == ["64", "96"]
    # ... which the original's client then decodes a second time and fails on (its own bug)
    _double_decode_fails(cfg.getAll)
    _double_decode_fails(lambda: cfg.getHistory("image-preprocessing-roi-size"))
    cfg.deleteParameter("image-preprocessing-roi-size")
    assert cfg.getParameter("image-preprocessing-roi-size") == "128"  # back to the default


def test_label(lambdas):
    labels = original.LabelClient(lambdas)
    assert labels.createCategory("moa", "mechanism of action") == 202
    assert labels.createLabel("moa", "Actin disruptors") == {
        "category": "moa",
        "label": "Actin disruptors",
        "index": 0,
        "created": True,
    }
    assert labels.createLabel("moa", "DMSO")["index"] == 1
    # an existing label: its index, not the original's doubly wrapped {"statusCode": 200, "body": ...}
    assert labels.createLabel("moa", "Actin disruptors")["index"] == 0
    assert labels.listLabels("moa") == [("Actin disruptors", 0), ("DMSO", 1)]
    assert labels._sync('{ "method": "getIndex", "category": "moa", "label": "DMSO" }')["index"] == 1
    categories = labels._sync('{ "method": "listCategories" }')
    assert [(r["category"], r["label"], r["description"]) for r in categories] == [
        ("moa", "origin", "mechanism of action")
    ]
    _double_decode_fails(lambda: labels.getIndex("moa", "DMSO"))
    _double_decode_fails(labels.listCategories)
    assert labels.updateCategoryDescription("moa", "MOA") == 202
    assert labels._sync('{ "method": "listCategories" }')[0]["description"] == "MOA"
    assert labels.updateLabel("moa", "DMSO") == 202  # the original's wrong request: nothing changes
    assert labels.listLabels("moa") == [("Actin disruptors", 0), ("DMSO", 1)]
    assert (
        labels._sync('{ "method": "updateLabel", "category": "moa", "oldlabel": "DMSO", "newlabel": "control" }')[
            "index"
        ]
        == 1
    )
    assert labels.deleteCategory("moa") == 202
    with pytest.raises(original.OriginalClientError, match="does not exist"):
        labels.listLabels("moa")


def test_message(lambdas):
    messages = original.MessageClient(lambdas)
    created = messages._sync('{ "method": "createMessage", "message": "Begin messages for trainid=T1" }')
    message_id = created["messageId"]
    assert messages.addMessage(message_id, "step two") == {"messageId": message_id}
    item = messages._sync(f'{{ "method": "getMessage", "messageId": "{message_id}" }}')
    assert item["Item"]["detail"] == "step two" and item["Item"]["messageId"] == message_id
    listed = messages._sync(f'{{ "method": "listMessage", "messageId": "{message_id}" }}')
    assert [m["message"] for m in listed] == ["Begin messages for trainid=T1", "step two"]
    _double_decode_fails(lambda: messages.createMessage("x"))
    _double_decode_fails(lambda: messages.getMessage(message_id))
    _double_decode_fails(lambda: messages.listMessage(message_id))
    with pytest.raises(original.OriginalClientError, match="does not exist"):
        messages.addMessage("no-such-log", "x")  # the original threw a TypeError (500)
    messages.deleteMessage(message_id)
    assert messages._sync(f'{{ "method": "getMessage", "messageId": "{message_id}" }}') == {}


def test_artifact(lambdas):
    artifacts = original.ArtifactClient(lambdas)
    artifacts.createArtifact(
        {"contextId": "plate1", "trainId": "origin", "artifact": "s3key#artifact/plate/plate1/a.png"}
    )
    artifacts.createArtifact(
        {
            "contextId": "plate1",
            "trainId": "origin",
            "artifact": "s3key#artifact/plate/plate1/b.png",
            "description": "B",
        }
    )
    rows = artifacts.getArtifacts("plate1", "origin")
    assert sorted(r["artifact"] for r in rows) == [
        "s3key#artifact/plate/plate1/a.png",
        "s3key#artifact/plate/plate1/b.png",
    ]
    assert {r["contextId"] for r in rows} == {"plate1#origin"}  # the original's composite key
    artifacts.addAnnotation(
        "plate1", "origin", "s3key#artifact/plate/plate1/a.png", "checked"
    )  # always a 500 in the original
    annotated = [r for r in artifacts.getArtifacts("plate1", "origin") if r["artifact"].endswith("a.png")][0]
    assert annotated["annotation"] == ["checked"]
    described = artifacts.createDescribeStacksArtifact("plate1", "origin")
    assert described["contextId"] == "plate1" and described["key"].startswith("artifact/describe-stacks/plate1/")
    artifacts.deleteArtifacts("plate1", "origin")
    assert artifacts.getArtifacts("plate1", "origin") == []


def test_tag(lambdas):
    tags = original.TagClient(lambdas)
    first = tags.createTag("moa:Actin disruptors")
    assert (first["tagValue"], first["tagType"], first["id"]) == ("moa:Actin disruptors", "id", 1)
    assert tags.createTag("compound:taxol")["id"] == 2
    assert tags.createTag("moa:Actin disruptors")["id"] == 1  # existing: the row, as the original answered
    assert tags.getTagByValue("compound:taxol")["id"] == 2
    assert tags.getTagById(2)["tagValue"] == "compound:taxol"  # "tagId": "2", a numeric string
    assert tags._sync('{ "method": "getTagById", "tagId": 1 }')["tagValue"] == "moa:Actin disruptors"
    assert tags.getTagByValue("no-such-tag") == {} and tags.getTagById(99) == {}
    assert sorted((r["id"], r["tagValue"], r["tagType"]) for r in tags.getAllTags()) == [
        (1, "moa:Actin disruptors", "id"),
        (2, "compound:taxol", "id"),
    ]


EMBEDDING = {
    "embeddingName": "bbbc021-compat",
    "imageMethodArn": "arn:aws:batch:us-east-1:123456789012:job-definition/image:1",
    "imagePostMethodArn": "arn:aws:lambda:us-east-1:123456789012:function:post",
    "inputHeight": "1024",
    "inputWidth": "1280",
    "inputDepth": "1",
    "inputChannels": "3",
    "roiHeight": "128",
    "roiWidth": "128",
    "roiDepth": "1",
    "embeddingVectorLength": "256",
}


def test_training_configuration(lambdas, backend_ctx):
    tc = original.TrainingConfigurationClient(lambdas)
    tc.createEmbedding(EMBEDDING)
    info = tc.getEmbeddingInfo("bbbc021-compat")
    assert info["embeddingName"] == "bbbc021-compat" and info["trainId"] == "origin"
    assert tc._sync('{ "method": "getEmbeddingInfo", "embeddingName": "no-such" }') == {}
    messages = original.MessageClient(lambdas)
    message_id = messages._sync('{ "method": "createMessage", "message": "m" }')["messageId"]
    tc.createTraining(
        {
            "embeddingName": "bbbc021-compat",
            "trainId": "T1",
            "messageId": message_id,
            "filterBucket": "",
            "filterKey": "",
            "executeProcessPlate": "false",
        }
    )
    training = tc.getTraining("T1")  # the bare item, as the original answered
    assert (training["embeddingName"], training["trainId"], training["messageId"]) == (
        "bbbc021-compat",
        "T1",
        message_id,
    )
    tc.updateTraining("T1", "sagemakerJobName", "job-1")
    assert tc.getTraining("T1")["sagemakerJobName"] == "job-1"
    with pytest.raises(original.OriginalClientError, match="attribute"):  # the original: 201 hiding a 500
        tc.updateTraining("T1", "noSuchAttribute", "x")
    with pytest.raises(original.OriginalClientError, match="T9"):  # the original: a 500 TypeError
        tc.getTraining("T9")
    assert [t["trainId"] for t in tc.getEmbeddingTrainings("bbbc021-compat")] == ["T1"]
    assert tc.deleteTraining("T1") == 202
    assert tc.getEmbeddingTrainings("bbbc021-compat") == []
    assert tc.deleteEmbedding("bbbc021-compat") == 202  # could never succeed in the original
    assert tc._sync('{ "method": "getEmbeddingInfo", "embeddingName": "bbbc021-compat" }') == {}


def _manifest(ctx, plate: str = "P1") -> tuple[str, str]:
    images = []
    for w in range(2):
        for s in range(2):
            images.append(
                {
                    "wellSourceId": f"B{w + 2:02d}",
                    "imageSourceId": f"{plate}_B{w + 2:02d}_s{s + 1}",
                    "sourceBucket": "/data/bbbc021",
                    "sourceKey": "",
                    "channelKeys": [{"name": "dapi", "keysuffix": f"{plate}/w{w}s{s}_d.tif"}],
                }
            )
    key = f"manifests/{plate}.json"
    ctx.stores.resource_bucket.put_bytes(key, json.dumps({"plateSourceId": plate, "images": images}).encode())
    return ctx.stores.resource_bucket.bucket, key


def test_image_management(lambdas, backend_ctx):
    im = original.ImageManagementClient(lambdas)
    _double_decode_fails(lambda: im.populateSourcePlate(*_manifest(backend_ctx, "P0")))
    bucket, key = _manifest(backend_ctx)
    plate_id = im._sync(f'{{ "method": "populateSourcePlate", "inputBucket": "{bucket}", "inputKey": "{key}" }}')[
        "plateId"
    ]
    images = im.getImagesByPlateId(plate_id)
    assert len(images) == 4 and all(set(x) == {"Item"} and x["Item"]["plateId"] == plate_id for x in images)
    image_ids = im.getImageIdsByPlateId(plate_id)
    assert sorted(image_ids) == sorted(x["Item"]["imageId"] for x in images)
    wells = im.getWellsByPlateId(plate_id)
    assert len(wells) == 2 and all(isinstance(w, str) for w in wells)
    assert len(im.getImagesByPlateAndWellId(plate_id, wells[0])) == 2
    info = im.getImageInfo(image_ids[0], "origin")
    assert info["Item"]["imageId"] == image_ids[0]
    assert im.getImageInfo(image_ids[0], "T1") == {} and im.getImageInfo("no-such-image", "origin") == {}
    assert im.getPlateImageStatus(plate_id)["UNDEFINED"] == 4
    assert im.validatePlate(plate_id) == "UNDEFINED"  # a bare string, as the original answered
    message_id = im.getPlateMessageId(plate_id)
    assert isinstance(message_id, str) and message_id
    assert im.createPlateMessageId(plate_id)["messageId"] != message_id
    for image_id in image_ids:
        lambdas.invoke(
            "image-management",
            json.dumps(
                {
                    "method": "applyInspectionResult",
                    "inspectionResult": {
                        "imageId": image_id,
                        "valid": "true",
                        "width": "1280",
                        "height": "1024",
                        "depth": "1",
                        "channels": "1",
                    },
                }
            ).encode(),
        )
    assert im.validatePlate(plate_id) == "VALIDATED"
    assert [p["plateId"] for p in im.listCompatiblePlates(1280, 1024, 1, 1)] == [plate_id]
    assert im.listCompatiblePlates(640, 480, 1, 1) == []
    tc = original.TrainingConfigurationClient(lambdas)
    tc.createEmbedding(EMBEDDING)
    tc.createTraining(
        {"embeddingName": "bbbc021-compat", "trainId": "T1"}
    )  # results need a training (the original wrote any)
    vector = np.arange(4, dtype=np.float32)
    text = str(base64.b64encode(vector.tobytes()))  # the original's "b'...'" form
    im.createImageTrainResult(image_ids[0], "T1", text, "artifact/train/T1/x-roi-embedding.npy")
    row = im.getImageInfo(image_ids[0], "T1")["Item"]
    assert row["trainId"] == "T1" and row["roiEmbeddingKey"] == "artifact/train/T1/x-roi-embedding.npy"
    trained = im.getImagesByPlateIdAndTrainId(plate_id, "T1")
    assert [x["Item"]["imageId"] for x in trained] == [image_ids[0]]
    assert im.getImageTags(image_ids[0]) == []
    im.updateImageTags(image_ids[0], [3, 1])
    assert sorted(im.getImageTags(image_ids[0])) == [1, 3]
    im.updateImageTags(image_ids[1], ["2"])  # numeric strings, as string-built requests send them
    assert im.getImageTags(image_ids[1]) == [2]
