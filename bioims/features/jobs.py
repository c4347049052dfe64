"""The embedding-compute job for CellProfiler-feature trainings, and the job's dispatcher.

`embedding_compute` is what bioims.workflows.jobs runs for "embedding-compute" (AWS Batch and the
local runner alike): a training whose card is of kind "cellprofiler" is measured here, any other
goes to the network's job (bioims.learning.jobs) unchanged.

Per plate, in the network job's order: each image's ROI feature matrix (float32 .npy at
keys.roi_embedding_key, skipped when present, so a re-run after a crash only completes the
rest), the plate's array file of image vectors (what search loads), then the image-management
training rows and the artifact rows. An image vector is the NaN-ignoring mean of its ROI
features, robust z-scored per plate against the plate's DMSO images (median, 1.4826 x MAD; all
images where the plate has no DMSO), so features of different units weigh alike in search. Raw
features stay in the ROI files; evaluation profiles an image by their mean and applies the whole
profiling recipe to it (bioims.evaluation.training), whose scale floor needs every plate.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

from bioims import keys
from bioims.features.card import is_feature_card, read_card
from bioims.features.cellprofiler import FeatureError, roi_features
from bioims.imaging.outputs import ImageOutputKeys, read_roi_document
from bioims.store.ports import ObjectNotFound

UNREADABLE = "ERROR"
CONTROL = "DMSO"
MAD_SCALE = 1.4826


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load(store, key: str) -> np.ndarray:
    return np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False)


def image_profile(features: np.ndarray) -> np.ndarray:
    """NaN-ignoring mean of an image's ROI features (n >= 1, d); a feature undefined for every
    ROI is 0 (its plate normalisation then gives 0 too)."""
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(features).sum(axis=0)
        sums = np.where(np.isfinite(features), features, 0.0).sum(axis=0, dtype=np.float64)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def plate_normalize(profiles: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Robust z-score of (n, d) image profiles against the rows in `control` (all rows when none):
    (x - median) / (1.4826 MAD), the scale falling back to the standard deviation and then 1
    where the controls do not vary."""
    reference = profiles[control] if control.any() else profiles
    centre = np.median(reference, axis=0)
    scale = MAD_SCALE * np.median(np.abs(reference - centre), axis=0)
    spread = reference.std(axis=0)
    scale = np.where(scale > 0, scale, np.where(spread > 0, spread, 1.0))
    return ((profiles - centre) / scale).astype(np.float32)


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
        raise FeatureError(f"image {image_id}: no ROIs for embedding {card['embeddingName']!r}; process plate {plate_id} first")
    if not document.get("channels"):
        raise FeatureError(f"image {image_id}: its ROI document names no channels; re-process plate {plate_id}")
    matrix, _ = roi_features(rois, document["channels"], _segmentation_index(document, card), card["groups"])
    store.put_bytes(out_key, _npy(matrix), content_type="application/octet-stream")
    return matrix


def feature_plate(ctx, train_id: str, plate_id: str, card: dict) -> dict[str, Any]:
    """Measure every readable image of `plate_id` for the feature training `train_id`."""
    from bioims.learning.inference import ImageEmbedding, write_plate_embeddings
    from bioims.services.image_management import TrainResult
    from bioims.vectors import encode_vector

    started = time.monotonic()
    management = ctx.service("image-management")
    images = sorted(management.plate_images(plate_id), key=lambda r: r["imageId"])
    readable = [r for r in images if r.get("searchReady") != UNREADABLE]
    store = ctx.stores.data
    measured = [(row, _roi_features(store, card, train_id, plate_id, row["imageId"])) for row in readable]
    kept = [(row, m) for row, m in measured if m.shape[0] > 0]
    results: list[ImageEmbedding] = [ImageEmbedding(row["imageId"], plate_id, 0, None, None) for row, m in measured if m.shape[0] == 0]
    if kept:
        profiles = np.stack([image_profile(m) for _, m in kept])
        control = np.array([row.get("trainSubclass") == CONTROL for row, _ in kept])
        vectors = plate_normalize(profiles, control)
        for (row, m), vector in zip(kept, vectors):
            results.append(ImageEmbedding(row["imageId"], plate_id, int(m.shape[0]), vector,
                                          keys.roi_embedding_key(train_id, plate_id, row["imageId"])))
    plate_key = write_plate_embeddings(store, train_id, plate_id, results)
    embedded = [r for r in results if r.embedding is not None]
    if embedded:
        management.write_train_results(
            train_id,
            plate_id,
            [TrainResult(imageId=r.imageId, embeddingVector=encode_vector(r.embedding), roiEmbeddingKey=r.roiEmbeddingKey or "", roiCount=r.roiCount)
             for r in embedded],
        )
    artifacts = ctx.service("artifact")
    for result in embedded:
        artifacts.register_object(result.imageId, train_id, result.roiEmbeddingKey, "ROI CellProfiler features")
    artifacts.register_object(plate_id, train_id, plate_key, "image CellProfiler profiles of the plate")
    return {
        "trainId": train_id,
        "plateId": plate_id,
        "kind": card["kind"],
        "images": len(images),
        "embedded": len(embedded),
        "withoutRois": len(results) - len(embedded),
        "unreadable": len(images) - len(readable),
        "rois": sum(r.roiCount for r in embedded),
        "features": int(kept[0][1].shape[1]) if kept else 0,
        "plateEmbeddingsKey": plate_key,
        "seconds": round(time.monotonic() - started, 3),
    }


def embedding_compute(context, trainId: str, plateId: str) -> dict[str, Any]:  # noqa: N803 - job parameter names
    """The embedding-compute job: CellProfiler features for a feature training, else the network."""
    card = read_card(context.stores.data, trainId)
    if is_feature_card(card):
        return feature_plate(context, trainId, plateId, card)
    from bioims.learning.jobs import embedding_compute as network_job

    return network_job(context, trainId, plateId)
