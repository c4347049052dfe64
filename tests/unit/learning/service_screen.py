"""A small screen in the local backend for the service and CLI tests: validated plates in
image-management with MOA and compound labels, ROI files of a known class structure for every
image, per-compound exclusion lists, and an embedding configured for seconds-long trainings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioims import keys
from bioims.services.api import handle_json
from tests.unit.learning.learning_roiset import RoiSetSpec, cell_rois, write_image

EMBEDDING = "emb"
WIDTH, HEIGHT, CHANNELS = 64, 48, 2
SPEC = RoiSetSpec(classes=2, compounds_per_class=2, rois_per_image=4, channels=CHANNELS, size=24)
HYPER = {
    "network": "bioims-resnet",
    "width": 8,
    "epochs": 1,
    "minibatches_per_epoch": 3,
    "threads": 1,
    "log_every": 1,
    "validation_fraction": 0.5,
}
MOAS = ("moa-a", "moa-b")
COMPOUNDS = ("cpd-a1", "cpd-a2", "cpd-b1", "cpd-b2")


def call(ctx, service: str, method: str, **params) -> dict:
    response = handle_json(ctx.service(service), {"method": method, **params})
    assert response["statusCode"] < 300, response
    return response["body"]


def error(ctx, service: str, method: str, **params) -> tuple[int, str]:
    response = handle_json(ctx.service(service), {"method": method, **params})
    assert response["statusCode"] >= 400, response
    return response["statusCode"], response["body"]["message"]


def upload_plate(ctx, name: str, seed: int) -> tuple[str, list[dict]]:
    """A validated plate whose images carry labels, with ROI files written for the embedding."""
    images = []
    for c, compound in enumerate(COMPOUNDS):
        for well in range(2):
            for site in range(2):
                image = {
                    "wellSourceId": f"W{c}{well}",
                    "imageSourceId": f"{name}-{compound}-{well}-{site}",
                    "sourceBucket": "/data",
                    "sourceKey": "",
                    "category": "moa",
                    "label": MOAS[c // 2],
                    "subclassType": "compound",
                    "subclass": compound,
                }
                images.append(image)
    images.append({"wellSourceId": "W99", "imageSourceId": f"{name}-dmso", "sourceBucket": "/data", "sourceKey": ""})
    key = f"manifests/{name}.json"
    ctx.stores.resource_bucket.put_bytes(key, json.dumps({"plateSourceId": name, "images": images}).encode())
    plate_id = call(
        ctx, "image-management", "populateSourcePlate", inputBucket=ctx.stores.resource_bucket.bucket, inputKey=key
    )["plateId"]
    rows = ctx.service("image-management").plate_images(plate_id)
    for row in rows:
        call(
            ctx,
            "image-management",
            "applyInspectionResult",
            inspectionResult={
                "imageId": row["imageId"],
                "valid": True,
                "width": WIDTH,
                "height": HEIGHT,
                "depth": 1,
                "channels": CHANNELS,
            },
        )
    assert call(ctx, "image-management", "validatePlate", plateId=plate_id)["status"] == "VALIDATED"
    rng = np.random.default_rng(seed)
    for row in rows:
        label = MOAS.index(row["trainLabel"]) if row.get("trainLabel") else None
        compound = COMPOUNDS.index(row["trainSubclass"]) if row.get("trainSubclass") else -1
        count = 0 if row["imageSourceId"].endswith("-0-1") else SPEC.rois_per_image  # one image without ROIs
        rois = cell_rois(rng, label or 0, compound % 2, SPEC, count)
        write_image(ctx.stores.data, EMBEDDING, plate_id, row["imageId"], rois, label, compound)
    return plate_id, rows


def setup_screen(local_ctx):
    """The embedding, two plates and the exclusion lists; returns {plateId: image rows}."""
    call(
        local_ctx,
        "training-configuration",
        "createEmbedding",
        embedding={
            "embeddingName": EMBEDDING,
            "inputWidth": WIDTH,
            "inputHeight": HEIGHT,
            "inputChannels": CHANNELS,
            "roiWidth": SPEC.size,
            "roiHeight": SPEC.size,
            "network": "bioims-resnet",
            "trainingHyperparameters": HYPER,
            "embeddingVectorLength": 32,
        },
    )
    plates = dict(upload_plate(local_ctx, name, seed) for seed, name in enumerate(("P1", "P2")))
    resources = local_ctx.stores.resource_bucket
    for compound in COMPOUNDS:
        ids = [r["imageId"] for rows in plates.values() for r in rows if r.get("trainSubclass") == compound]
        resources.put_bytes(keys.train_filter_key(EMBEDDING, compound), "".join(f"{i}\n" for i in ids).encode())
    return plates


@pytest.fixture(name="screen")
def screen_fixture(local_ctx):
    return local_ctx, setup_screen(local_ctx)
