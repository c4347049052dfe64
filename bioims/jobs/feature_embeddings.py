"""The embedding-compute job of a CellProfiler-feature training (bioims.jobs.embeddings).

Per plate, in the network job's order: each image's ROI feature matrix (float32 .npy at
keys.roi_embedding_key, skipped when present, so a re-run after a crash only completes the
rest), the plate's array file of image vectors (what search loads), then the image-management
training rows and the artifact rows. Image vectors are the plate-normalised profiles of
bioims.features.plates; raw features stay in the ROI files.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from bioims import keys
from bioims.features.cellprofiler import FeatureError, roi_features
from bioims.features.plates import CONTROL, image_profile, plate_normalize
from bioims.imaging.outputs import ImageOutputKeys, read_roi_document
from bioims.jobs.plate_embeddings import plate_images, plate_summary, record_plate
from bioims.learning.inference import ImageEmbedding
from bioims.store.ports import ObjectNotFound

if TYPE_CHECKING:
    from bioims.context import Context


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load(store, key: str) -> np.ndarray:
    return np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False)


def _segmentation_index(document: dict, card: dict) -> int:
    channels = list(document.get("channels") or [])
    wanted = (document.get("parameters") or {}).get("segmentationChannel") or card.get("segmentationChannel")
    if wanted in channels:
        return channels.index(wanted)
    if len(channels) == 1:
        return 0
    raise FeatureError(f"segmentation channel {wanted!r} is not among the ROI channels {channels}")


def _roi_features(store, card: dict, train_id: str, plate_id: str, image_id: str) -> np.ndarray:
    """One image's ROI feature matrix, measured once and kept (a re-run reads it back)."""
    out_key = keys.roi_embedding_key(train_id, plate_id, image_id)
    if store.exists(out_key):
        return _load(store, out_key)
    output = ImageOutputKeys.for_image(card["embeddingName"], plate_id, image_id)
    document = read_roi_document(store, output)
    try:
        rois = _load(store, output.tensor)
    except ObjectNotFound:
        document = None
    if document is None:
        raise FeatureError(
            f"image {image_id}: no ROIs for embedding {card['embeddingName']!r}; process plate {plate_id} first"
        )
    if not document.get("channels"):
        raise FeatureError(f"image {image_id}: its ROI document names no channels; re-process plate {plate_id}")
    matrix, _ = roi_features(rois, document["channels"], _segmentation_index(document, card), card["groups"])
    store.put_bytes(out_key, _npy(matrix), content_type="application/octet-stream")
    return matrix


def feature_plate(ctx: Context, train_id: str, plate_id: str, card: dict) -> dict[str, Any]:
    """Measure every readable image of `plate_id` for the feature training `train_id`."""
    started = time.monotonic()
    images, readable = plate_images(ctx, plate_id)
    store = ctx.stores.data
    measured = [(row, _roi_features(store, card, train_id, plate_id, row["imageId"])) for row in readable]
    kept = [(row, m) for row, m in measured if m.shape[0] > 0]
    results: list[ImageEmbedding] = [
        ImageEmbedding(row["imageId"], plate_id, 0, None, None) for row, m in measured if m.shape[0] == 0
    ]
    if kept:
        profiles = np.stack([image_profile(m) for _, m in kept])
        control = np.array([row.get("trainSubclass") == CONTROL for row, _ in kept])
        vectors = plate_normalize(profiles, control)
        for (row, m), vector in zip(kept, vectors, strict=True):
            results.append(
                ImageEmbedding(
                    row["imageId"],
                    plate_id,
                    int(m.shape[0]),
                    vector,
                    keys.roi_embedding_key(train_id, plate_id, row["imageId"]),
                )
            )
    plate_key, embedded = record_plate(
        ctx,
        train_id,
        plate_id,
        results,
        roi_description="ROI CellProfiler features",
        plate_description="image CellProfiler profiles of the plate",
    )
    return plate_summary(
        train_id,
        plate_id,
        images,
        readable,
        results,
        embedded,
        plate_key,
        started,
        kind=card["kind"],
        features=int(kept[0][1].shape[1]) if kept else 0,
    )
