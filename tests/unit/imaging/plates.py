"""A small synthetic plate on the local backend: TIFFs in a source directory, a manifest, labels,
configuration for small fields, an embedding, and the upload workflow run through the services."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bioims.imaging.io import write_tiff_bytes
from bioims.services.api import handle_json
from tests.unit.imaging.synthetic import CHANNELS, synthetic_field

EMBEDDING = "emb-small"
MOAS = ("Actin disruptors", "DMSO")
COMPOUNDS = ("DMSO", "cytochalasinB")


def call(ctx, service: str, method: str, **params) -> dict:
    response = handle_json(ctx.service(service), {"method": method, **params})
    assert response["statusCode"] < 300, response
    return response["body"]


def write_fields(
    root: Path, n_fields: int, *, corrupt: int | None = None, seed: int = 0, dtype: type = np.uint16
) -> list[dict]:
    """TIFFs of n fields (field `corrupt` gets a truncated actin file); manifest image entries."""
    images = []
    for i in range(n_fields):
        field = synthetic_field(seed + i, dtype=dtype)
        channel_keys = []
        for name, channel in zip(CHANNELS, field, strict=True):
            key = f"plate/f{i:02d}_{name}.tif"
            data = write_tiff_bytes(channel[0])
            if corrupt == i and name == "actin":
                data = data[: len(data) // 2]
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)
            channel_keys.append({"name": name, "keysuffix": key})
        image = {
            "wellSourceId": f"B{i // 2:02d}",
            "imageSourceId": f"field-{i:02d}",
            "sourceBucket": str(root),
            "sourceKey": "",
            "channelKeys": channel_keys,
            "category": "moa",
            "subclassType": "compound",
            "subclass": "cytochalasin B" if i % 3 else "DMSO",
            "experiment": "synthetic",
        }
        if i % 3 != 2:  # every third field is unlabelled
            image["label"] = "Actin disruptors" if i % 3 else "DMSO"
        images.append(image)
    return images


def setup_plate(
    ctx,
    root: Path,
    n_fields: int = 6,
    *,
    corrupt: int | None = None,
    roi_size: int = 16,
    min_voxels: int = 20,
    dtype: type = np.uint16,
) -> dict:
    """Upload a synthetic plate and prepare labels, configuration and an embedding."""
    images = write_fields(root, n_fields, corrupt=corrupt, dtype=dtype)
    manifest = {"plateSourceId": "SyntheticPlate1", "images": images}
    ctx.stores.resource_bucket.put_bytes("source-plate/synthetic.json", json.dumps(manifest).encode())
    for category, labels in (("moa", MOAS), ("compound", COMPOUNDS)):
        call(ctx, "label", "createCategory", category=category)
        for label in labels:
            call(ctx, "label", "createLabel", category=category, label=label)
    call(ctx, "configuration", "setParameter", key="image-preprocessing-roi-size", value=str(roi_size))
    call(ctx, "configuration", "setParameter", key="image-preprocessing-min-voxels", value=str(min_voxels))
    call(
        ctx,
        "training-configuration",
        "createEmbedding",
        embedding={
            "embeddingName": EMBEDDING,
            "inputWidth": 128,
            "inputHeight": 96,
            "inputChannels": 3,
            "roiWidth": roi_size,
            "roiHeight": roi_size,
            "minVoxels": min_voxels,
        },
    )
    upload = call(
        ctx,
        "process-plate",
        "uploadSourcePlate",
        inputBucket=ctx.stores.resource_bucket.bucket,
        inputKey="source-plate/synthetic.json",
    )
    rows = ctx.service("image-management").plate_images(upload["plateId"])
    by_source = {r["imageSourceId"]: r["imageId"] for r in rows}
    return {"plateId": upload["plateId"], "upload": upload, "images": by_source, "root": root}


def data_files(ctx, prefix: str = "") -> dict[str, bytes]:
    store = ctx.stores.data
    return {info.key: store.get_bytes(info.key) for info in store.list(prefix)}


def data_mtimes(ctx) -> dict[str, float]:
    return {info.key: info.modified for info in ctx.stores.data.list("")}


def by_source(files: dict[str, bytes], images: dict[str, str], plate_id: str) -> dict[str, bytes]:
    """Output files renamed by lab ids (imageSourceId), so runs with different generated ids compare."""
    renamed = {}
    for key, data in files.items():
        name = key.replace(plate_id, "PLATE")
        for source_id, image_id in images.items():
            name = name.replace(image_id, source_id)
        renamed[name] = data
    return renamed


def assert_arrays(ctx, key: str) -> np.ndarray:
    return np.load(ctx.stores.data.local_path(key))
