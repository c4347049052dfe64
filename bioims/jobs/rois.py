"""Image preprocessing of one stored image (docs/original.md §4.2): read its channels, normalise them
against the plate's flat fields, detect nuclei, cut ROIs, write the ROI set, register it as
artifacts and record the image's status.

Outcomes (the returned `status`):
  done     outputs written now
  skipped  a complete set with the same parameters already exists (nothing is read or written)
  failed   the image's own data cannot be processed (unreadable or missing channel file, shapes
           that disagree, unsupported pixel type, failed inspection): the reason is recorded on
           the image row and in its message log, nothing partial is left, the plate goes on
Setup problems that would fail every image (no flat field, unknown labels, a segmentation channel
that does not exist, bad configuration, an embedding whose stated ROI settings disagree with the
configuration) raise instead, so the workflow stops with that cause.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from bioims import faults, tables
from bioims.imaging.errors import IMAGE_DATA_ERRORS, ImagingError
from bioims.imaging.flatfield import FlatField
from bioims.imaging.io import channel_sources, read_image
from bioims.imaging.outputs import (
    ImageOutputKeys,
    outputs_complete,
    read_flat_field,
    read_roi_document,
    write_image_outputs,
)
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import preprocess_image
from bioims.jobs.labels import label_indices
from bioims.jobs.parameters import embedding_roi_parameters
from bioims.jobs.status import DONE, FAILED, image_status, record_status
from bioims.jobs.telemetry import log_message
from bioims.keys import flatfield_key

if TYPE_CHECKING:
    from bioims.context import Context

INSPECTION_ERROR = "ERROR"
_CACHE_SIZE = 6  # flat fields of two 3-channel plates


class _FlatFieldCache:
    """Flat fields (with their logarithms) kept per worker process: every image of a plate uses
    the same ones. An entry is reused only while the stored object is unchanged."""

    def __init__(self, size: int = _CACHE_SIZE):
        self.size = size
        self.entries: OrderedDict[tuple, tuple[Any, FlatField]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, store, plate_id: str, channel: str, shape: tuple[int, ...]) -> FlatField:
        key = (store.bucket, plate_id, channel)
        info = store.head(flatfield_key(plate_id, channel))
        version = (info.size, info.modified) if info is not None else None
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and version is not None and hit[0] == version:
                self.entries.move_to_end(key)
                flat = hit[1]
                flat.check_shape(shape)
                return flat
        flat = read_flat_field(store, plate_id, channel, shape)
        flat.log  # noqa: B018 - computed once here, reused by every image of the plate
        with self.lock:
            self.entries[key] = (version, flat)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return flat

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


flat_field_cache = _FlatFieldCache()


def preprocess_stored_image(
    ctx: Context, image_id: str, embedding_name: str, plate_id: str, *, force: bool = False
) -> dict[str, Any]:
    row = ctx.image_management.image(image_id)
    if row.get("plateId") != plate_id:
        raise ImagingError(f"image {image_id} belongs to plate {row.get('plateId')!r}, not {plate_id!r}")
    parameters = embedding_roi_parameters(ctx.configuration, ctx.training_configuration.embedding(embedding_name))
    images = ctx.stores.table(tables.IMAGE_MANAGEMENT)
    data = ctx.stores.data
    output = ImageOutputKeys.for_image(embedding_name, plate_id, image_id)
    summary: dict[str, Any] = {"imageId": image_id, "plateId": plate_id, "embeddingName": embedding_name}

    if not force and outputs_complete(data, output, parameters):
        document = read_roi_document(data, output) or {}
        count = int(document.get("count", len(document.get("roi", []))))
        recorded = image_status(row, embedding_name)
        if recorded is None or recorded.get("status") != DONE or recorded.get("roiCount") != count:
            # The outputs were written but a crash came before they were registered and recorded.
            for key in (k for k in output.all() if data.exists(k)):
                ctx.artifact.register_object(image_id, tables.ORIGIN, key, f"ROIs for embedding {embedding_name}")
            record_status(images, image_id, embedding_name, DONE, roi_count=count, parameters=parameters.as_dict())
        return {**summary, "status": "skipped", "rois": count}

    if row.get("searchReady") == INSPECTION_ERROR:
        reason = f"image failed inspection: {row.get('inspectionError') or 'unreadable'}"
        return _failed(ctx, row, embedding_name, summary, reason, parameters)

    label_index, subclass_index = label_indices(ctx.label, row)
    try:
        sources = channel_sources(row)
        channels = read_image(ctx.stores, sources, image_id)
        flats = [flat_field_cache.get(data, plate_id, s.name, channels[0].shape) for s in sources]
        result = preprocess_image([s.name for s in sources], channels, flats, parameters, image_id)
    except IMAGE_DATA_ERRORS as exc:
        return _failed(ctx, row, embedding_name, summary, str(exc), parameters)

    written = write_image_outputs(
        data, output, result, parameters, label_index=label_index, subclass_index=subclass_index
    )
    faults.point("rois-written")
    for key in written:  # idempotent: a re-run keeps the first registration's timestamp
        ctx.artifact.register_object(image_id, tables.ORIGIN, key, f"ROIs for embedding {embedding_name}")
    record_status(images, image_id, embedding_name, DONE, roi_count=result.count, parameters=parameters.as_dict())
    log_message(ctx.message, row.get("messageId"), f"Image preprocessing ({embedding_name}): {result.count} ROIs")
    return {**summary, "status": "done", "rois": result.count}


def _failed(
    ctx: Context, row: dict, embedding_name: str, summary: dict, reason: str, parameters: RoiParameters
) -> dict:
    images = ctx.stores.table(tables.IMAGE_MANAGEMENT)
    record_status(images, row["imageId"], embedding_name, FAILED, error=reason, parameters=parameters.as_dict())
    log_message(ctx.message, row.get("messageId"), f"Image preprocessing ({embedding_name}) failed: {reason}")
    return {**summary, "status": "failed", "rois": 0, "error": reason}


def image_preprocessing(context: Context, imageId: str, embeddingName: str, plateId: str) -> dict[str, Any]:  # noqa: N803
    """The image-preprocessing job (bioims.workflows.jobs): ROIs of one image for one embedding
    (skips complete outputs; records failures)."""
    return preprocess_stored_image(context, imageId, embeddingName, plateId)
