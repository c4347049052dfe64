"""The per-plate steps both kinds of embedding-compute job share (bioims.jobs.embeddings).

Per plate, in this order, whatever the kind of training: each image's ROI matrix (skipped when present, so a
re-run after a crash only completes the rest), the plate's array file of image vectors (what the
search loader reads), then the image-management training rows and the artifact rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bioims import faults
from bioims.learning.inference import ImageEmbedding, write_plate_embeddings
from bioims.services.image_management import TrainResult
from bioims.vectors import encode_vector

if TYPE_CHECKING:
    from bioims.context import Context

UNREADABLE = "ERROR"  # image status of an image inspection could not read: it has no ROIs


def plate_images(ctx: Context, plate_id: str) -> tuple[list[dict], list[dict]]:
    """(every image row of the plate, the readable ones), sorted by imageId."""
    images = sorted(ctx.image_management.plate_images(plate_id), key=lambda r: r["imageId"])
    return images, [r for r in images if r.get("searchReady") != UNREADABLE]


def record_plate(
    ctx: Context,
    train_id: str,
    plate_id: str,
    results: Sequence[ImageEmbedding],
    *,
    roi_description: str,
    plate_description: str,
) -> tuple[str, list[ImageEmbedding]]:
    """Write the plate's array file, then the training rows and the artifact rows of its embedded
    images; returns (plate array key, the embedded images)."""
    plate_key = write_plate_embeddings(ctx.stores.data, train_id, plate_id, results)
    faults.point("plate-embeddings-written")
    embedded = [r for r in results if r.embedding is not None]
    if embedded:
        ctx.image_management.write_train_results(
            train_id,
            plate_id,
            [
                TrainResult(
                    imageId=r.imageId,
                    embeddingVector=encode_vector(r.embedding),
                    roiEmbeddingKey=r.roiEmbeddingKey or "",
                    roiCount=r.roiCount,
                )
                for r in embedded
            ],
        )
    for result in embedded:
        assert result.roiEmbeddingKey is not None  # an embedded image has its ROI matrix
        ctx.artifact.register_object(result.imageId, train_id, result.roiEmbeddingKey, roi_description)
    ctx.artifact.register_object(plate_id, train_id, plate_key, plate_description)
    return plate_key, embedded


def plate_summary(
    train_id: str,
    plate_id: str,
    images: Sequence[dict],
    readable: Sequence[dict],
    results: Sequence[ImageEmbedding],
    embedded: Sequence[ImageEmbedding],
    plate_key: str,
    started: float,
    **extra: Any,
) -> dict[str, Any]:
    """The job's JSON summary; `extra` adds the fields of one kind (device, features ...)."""
    summary: dict[str, Any] = {
        "trainId": train_id,
        "plateId": plate_id,
        "images": len(images),
        "embedded": len(embedded),
        "withoutRois": len(results) - len(embedded),
        "unreadable": len(images) - len(readable),
        "rois": sum(r.roiCount for r in embedded),
        "plateEmbeddingsKey": plate_key,
    }
    summary.update(extra)
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary
