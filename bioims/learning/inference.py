"""Embedding inference (docs/original.md §4.9), deterministic.

The network runs in eval mode under inference mode, so dropout is off and the same ROIs always
give the same vectors; the image embedding is the mean of its ROI embeddings re-normalised to unit
length like the ROI embeddings it averages (docs/original.md §8.4 #32). Outputs: per image
the ROI embedding matrix (float32 .npy at keys.roi_embedding_key) and per plate one .npz of image
ids + image embedding matrix (keys.plate_embeddings_key), which the search loader reads.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bioims import keys
from bioims.learning.networks import EmbeddingNetwork
from bioims.learning.roifiles import ROI_SCALE, load_npy
from bioims.npy import read_npz
from bioims.store.ports import ObjectNotFound, ObjectStore

INFERENCE_BATCH = 64


class EmbeddingError(ValueError):
    """ROIs cannot be embedded by this model (shape, channels, missing files)."""


def embed_rois(
    net: EmbeddingNetwork,
    rois: np.ndarray,
    *,
    device: torch.device | str | None = None,
    batch_size: int = INFERENCE_BATCH,
) -> np.ndarray:
    """uint16 ROIs (n, C, R, R) or (n, C, 1, R, R) scaled by 65535 -> float32 (n, D) unit rows.

    Fixed-size chunks in eval + inference mode: the result does not depend on how many ROIs are
    passed at once or how often it is computed.
    """
    rois = np.asarray(rois)
    if rois.ndim == 5:
        if rois.shape[2] != 1:
            raise EmbeddingError(f"3-D ROIs (depth {rois.shape[2]}) are not supported; depth must be 1")
        rois = rois[:, :, 0]
    if rois.ndim != 4 or rois.shape[1] != net.in_channels or rois.shape[2:] != (net.roi_size, net.roi_size):
        raise EmbeddingError(
            f"model expects ROIs (n, {net.in_channels}, {net.roi_size}, {net.roi_size}), got {rois.shape}"
        )
    if rois.dtype != np.uint16:
        raise EmbeddingError(f"ROIs must be uint16 (normalised x 65535), got {rois.dtype}")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    out = np.empty((rois.shape[0], net.embedding_dim), dtype=np.float32)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            for start in range(0, rois.shape[0], batch_size):
                chunk = np.asarray(rois[start : start + batch_size], dtype=np.float32) / ROI_SCALE
                out[start : start + chunk.shape[0]] = net(torch.from_numpy(chunk).to(device)).float().cpu().numpy()
    finally:
        net.train(was_training)
    return out


def image_embedding(roi_embeddings: np.ndarray) -> np.ndarray:
    """Mean of an image's ROI embeddings, re-normalised to unit length (float32)."""
    roi_embeddings = np.asarray(roi_embeddings, dtype=np.float64)
    if roi_embeddings.ndim != 2 or roi_embeddings.shape[0] == 0:
        raise EmbeddingError("an image embedding needs at least one ROI embedding (n >= 1, D)")
    mean = roi_embeddings.mean(axis=0)
    norm = np.linalg.norm(mean)
    if not np.isfinite(norm) or norm == 0:
        raise EmbeddingError("ROI embeddings cancel out (zero mean); cannot normalise the image embedding")
    return (mean / norm).astype(np.float32)


@dataclass(frozen=True)
class ImageEmbedding:
    imageId: str
    plateId: str
    roiCount: int
    embedding: np.ndarray | None  # None when the image has no ROI
    roiEmbeddingKey: str | None


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def embed_image(
    store: ObjectStore,
    net: EmbeddingNetwork,
    embedding_name: str,
    train_id: str,
    plate_id: str,
    image_id: str,
    *,
    device: torch.device | str | None = None,
    overwrite: bool = False,
) -> ImageEmbedding:
    """Embed one image's ROIs; writes its ROI embedding matrix (skipped if present, unless overwrite)."""
    out_key = keys.roi_embedding_key(train_id, plate_id, image_id)
    if not overwrite and store.exists(out_key):
        roi_embeddings = load_npy(store, out_key)
        if roi_embeddings.ndim == 2 and roi_embeddings.shape[1] == net.embedding_dim:
            if roi_embeddings.shape[0] == 0:
                return ImageEmbedding(image_id, plate_id, 0, None, None)
            return ImageEmbedding(image_id, plate_id, roi_embeddings.shape[0], image_embedding(roi_embeddings), out_key)
    tensor_key = keys.roi_tensor_key(embedding_name, plate_id, image_id)
    try:
        rois = load_npy(store, tensor_key, mmap=True)
    except ObjectNotFound:
        raise EmbeddingError(
            f"image {image_id}: no ROI tensor at {tensor_key}; process plate {plate_id} first"
        ) from None
    if rois.shape[0] == 0:
        return ImageEmbedding(image_id, plate_id, 0, None, None)
    roi_embeddings = embed_rois(net, rois, device=device)
    store.put_bytes(out_key, _npy_bytes(roi_embeddings), content_type="application/octet-stream")
    return ImageEmbedding(image_id, plate_id, roi_embeddings.shape[0], image_embedding(roi_embeddings), out_key)


def write_plate_embeddings(store: ObjectStore, train_id: str, plate_id: str, results: Iterable[ImageEmbedding]) -> str:
    """One .npz per plate: `imageIds` (str), `embeddings` float32 (n, D), `roiCounts` int32 (n).

    Images without ROIs are left out (they have no embedding, as in the original); rows are
    sorted by imageId so the file does not depend on computation order.
    """
    kept = sorted((r for r in results if r.embedding is not None), key=lambda r: r.imageId)
    if kept:
        matrix = np.stack([r.embedding for r in kept if r.embedding is not None]).astype(np.float32)
    else:
        matrix = np.zeros((0, 0), dtype=np.float32)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        imageIds=np.array([r.imageId for r in kept], dtype=str),
        embeddings=matrix,
        roiCounts=np.array([r.roiCount for r in kept], dtype=np.int32),
    )
    key = keys.plate_embeddings_key(train_id, plate_id)
    store.put_bytes(key, buffer.getvalue(), content_type="application/octet-stream")
    return key


def read_plate_embeddings(store: ObjectStore, train_id: str, plate_id: str) -> tuple[list[str], np.ndarray]:
    """(imageIds, float32 (n, D) matrix) of one plate for one training."""
    key = keys.plate_embeddings_key(train_id, plate_id)
    try:
        data = read_npz(store.get_bytes(key), name=key)
    except ObjectNotFound:
        raise EmbeddingError(f"no embeddings for training {train_id} on plate {plate_id} ({key})") from None
    return [str(i) for i in data["imageIds"]], np.asarray(data["embeddings"], dtype=np.float32)


def embed_plate(
    store: ObjectStore,
    net: EmbeddingNetwork,
    embedding_name: str,
    train_id: str,
    plate_id: str,
    image_ids: Sequence[str],
    *,
    device: torch.device | str | None = None,
    overwrite: bool = False,
) -> tuple[list[ImageEmbedding], str]:
    """Embed every image of a plate, then write the plate's array file; re-runs skip done images."""
    results = [
        embed_image(store, net, embedding_name, train_id, plate_id, image_id, device=device, overwrite=overwrite)
        for image_id in image_ids
    ]
    return results, write_plate_embeddings(store, train_id, plate_id, results)
