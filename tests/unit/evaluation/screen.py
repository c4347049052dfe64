"""A synthetic screen put into a backend through the clients, as the pipeline would: plates
populated from manifests, inspected and validated, trainings with embedding rows, thumbnails."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import bioims
from bioims import keys, tables
from bioims.imaging.thumbnails import render_thumbnails

FEATURES = [f"f{i}" for i in range(10)]


def upload(ctx, images: pd.DataFrame, *, with_concentration: bool) -> dict[str, str]:
    """Populate, inspect and validate one plate per Metadata_Plate; returns {plate: plateId}."""
    management = bioims.client("image-management")
    ids = {}
    for plate, rows in images.groupby("Metadata_Plate", sort=True):
        manifest_images = []
        for row in rows.itertuples(index=False):
            image = {
                "wellSourceId": row.Metadata_Well,
                "imageSourceId": row.Metadata_ImageId,
                "sourceBucket": "/data",
                "sourceKey": "",
                "channelKeys": [{"name": "dapi", "keysuffix": f"{row.Metadata_ImageId}.tif"}],
                "subclassType": "compound",
                "subclass": row.Metadata_Compound,
            }
            if isinstance(row.Metadata_moa, str):
                image.update(category="moa", label=row.Metadata_moa)
            if with_concentration:
                image["metadata"] = {"concentration": float(row.Metadata_Concentration)}
            manifest_images.append(image)
        key = f"manifests/{plate}.json"
        ctx.stores.resource_bucket.put_bytes(
            key, json.dumps({"plateSourceId": plate, "images": manifest_images}).encode()
        )
        plate_id = management.populateSourcePlate(ctx.stores.resource_bucket.bucket, key)
        for image_id in management.getImageIdsByPlateId(plate_id):
            management.applyInspectionResult(
                {"imageId": image_id, "valid": True, "width": 64, "height": 48, "depth": 1, "channels": 1}
            )
        assert management.validatePlate(plate_id) == "VALIDATED"
        ids[plate] = plate_id
    return ids


def embed(images: pd.DataFrame, plate_ids: dict[str, str], train_id: str, values: np.ndarray) -> None:
    management = bioims.client("image-management")
    for plate, plate_id in plate_ids.items():
        by_source = {r["imageSourceId"]: r["imageId"] for r in management.getImagesByPlateId(plate_id)}
        rows = np.flatnonzero((images["Metadata_Plate"] == plate).to_numpy())
        results = [
            {
                "imageId": by_source[images["Metadata_ImageId"].iloc[i]],
                "embeddingVector": values[i].tolist(),
                "roiCount": 2,
            }
            for i in rows
        ]
        management.createImageTrainResults(train_id, plate_id, results)


def add_thumbnails(ctx, plate_id: str, count: int, seed: int = 0) -> int:
    """Render thumbnails (the real renderer) of `count` images of a plate from synthetic
    nucleus-like fields, store them and register them as the images' artifacts."""
    rng = np.random.default_rng(seed)
    management = bioims.client("image-management")
    artifact = ctx.service("artifact")
    yy, xx = np.mgrid[0:48, 0:64]
    written = 0
    for image in management.getImagesByPlateId(plate_id)[:count]:
        channels = []
        for _ in range(3):
            field = np.zeros((48, 64))
            for cy, cx in rng.uniform((5, 5), (43, 59), size=(6, 2)):
                field += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
            channels.append(
                (200 + 3000 * field + rng.normal(0, 20, field.shape)).clip(0, 65535).astype(np.uint16)[None]
            )
        for name, data in render_thumbnails(channels).items():
            key = keys.thumbnail_key(plate_id, image["imageId"], name)
            ctx.stores.data.put_bytes(key, data, content_type="image/png")
            artifact.register_object(image["imageId"], tables.ORIGIN, key, "default image artifact")
            written += 1
    return written
