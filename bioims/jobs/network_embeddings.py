"""The embedding-compute job of a network training (bioims.jobs.embeddings): every image of
one plate embedded with one training's model (docs/original.md §4.9), run by AWS Batch
(batch_jobs/embedding_compute.py) and by the local runner's worker processes alike.

Per plate, not per image as the original's Lambda: the model is loaded once (and kept per
process for the next plate of the same training). Outputs, in this order: each image's ROI
embedding matrix, the plate's image-embedding array file (what the search loader reads), then the
image-management training rows and the artifact rows. Re-running skips images whose ROI
embeddings exist, so a crash half-way loses nothing.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bioims import keys
from bioims.jobs.plate_embeddings import plate_images, plate_summary, record_plate
from bioims.learning.device import select_device
from bioims.learning.inference import EmbeddingError, ImageEmbedding, embed_image
from bioims.learning.modelcard import MODEL_FILE, fetch_model, load_model
from bioims.learning.networks import EmbeddingNetwork

if TYPE_CHECKING:
    from bioims.context import Context

_models: dict[tuple[str, str, int, float], EmbeddingNetwork] = {}
_lock = threading.Lock()


def _model(store, train_id: str, device: torch.device) -> EmbeddingNetwork:
    """The training's network, loaded once per process while its model file is unchanged."""
    model_dir = fetch_model(store, train_id)
    stat = (Path(model_dir) / MODEL_FILE).stat()
    key = (train_id, str(device), stat.st_size, stat.st_mtime)
    with _lock:
        if key not in _models:
            for old in [k for k in _models if k[0] == train_id]:
                del _models[old]
            _models[key] = load_model(model_dir, device)[0]
        return _models[key]


def _set_threads() -> None:
    """Worker processes of a local process pool share the cores: one torch thread each."""
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)


def embed_plate_for_training(ctx: Context, train_id: str, plate_id: str, *, device: str = "auto") -> dict[str, Any]:
    """Embed every readable image of `plate_id` with `train_id`'s model; returns a summary."""
    started = time.monotonic()
    training = ctx.training_configuration.training(train_id)
    embedding_name = training["embeddingName"]
    images, readable = plate_images(ctx, plate_id)
    store = ctx.stores.data
    _set_threads()
    torch_device = select_device(device)
    net = _model(store, train_id, torch_device)
    missing = [
        r["imageId"] for r in readable if not store.exists(keys.roi_tensor_key(embedding_name, plate_id, r["imageId"]))
    ]
    if missing:
        raise EmbeddingError(
            f"{len(missing)} image(s) of plate {plate_id} have no ROIs for embedding {embedding_name!r} "
            f"(e.g. {', '.join(missing[:3])}); run process-plate for this plate and embedding first"
        )
    results: list[ImageEmbedding] = [
        embed_image(store, net, embedding_name, train_id, plate_id, row["imageId"], device=torch_device)
        for row in readable
    ]
    plate_key, embedded = record_plate(
        ctx,
        train_id,
        plate_id,
        results,
        roi_description="ROI embeddings",
        plate_description="image embeddings of the plate",
    )
    return plate_summary(
        train_id, plate_id, images, readable, results, embedded, plate_key, started, device=torch_device.type
    )
