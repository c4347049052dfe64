"""Per-image work of the upload workflow: inspection (docs/original.md §4.4) and the default
thumbnails (§4.3), each reading the image origin row and writing its results through the services.

Inspection records width/height/depth/channels (or the reason the image is unreadable) on the
image row. Thumbnails are written to `artifact/plate/<plateId>/default/image/<imageId>/<name>` and
registered as artifacts of the image (trainId "origin"); existing thumbnails are skipped, an image
that failed inspection gets none, and an image that cannot be read is reported, not raised, so one
bad image does not stop its plate.
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from bioims import faults, keys, tables
from bioims.imaging.errors import IMAGE_DATA_ERRORS
from bioims.imaging.inspection import inspect_image
from bioims.imaging.io import channel_sources, read_image
from bioims.imaging.thumbnails import render_thumbnails
from bioims.jobs.parameters import artifact_parameters
from bioims.services.image_management import InspectionRequest

if TYPE_CHECKING:
    from bioims.context import Context

INSPECTION_ERROR = "ERROR"


def inspect_stored_image(ctx: Context, image_id: str) -> dict[str, Any]:
    """Inspect an image's channel files and record the result on its row."""
    management = ctx.image_management
    row = management.image(image_id)
    result = inspect_image(ctx.stores, row)
    management.applyInspectionResult(InspectionRequest.model_validate({"inspectionResult": result.as_dict()}))
    return result.as_dict()


def generate_default_artifacts(ctx: Context, image_id: str, *, force: bool = False) -> dict[str, Any]:
    """Render, store and register the default thumbnails of one image."""
    row = ctx.image_management.image(image_id)
    plate_id = row["plateId"]
    parameters = artifact_parameters(ctx.configuration)
    data = ctx.stores.data
    targets = {name: keys.thumbnail_key(plate_id, image_id, name) for name, _ in parameters.pairs()}
    summary: dict[str, Any] = {"imageId": image_id, "plateId": plate_id}
    if row.get("searchReady") == INSPECTION_ERROR:
        return {
            **summary,
            "status": "failed",
            "keys": [],
            "error": f"image failed inspection: {row.get('inspectionError') or 'unreadable'}",
        }
    if not force and all(data.exists(key) for key in targets.values()):
        status, written = "skipped", list(targets.values())
    else:
        try:
            channels = read_image(ctx.stores, channel_sources(row), image_id)
        except IMAGE_DATA_ERRORS as exc:
            return {**summary, "status": "failed", "keys": [], "error": str(exc)}
        rendered = render_thumbnails(channels, parameters)
        for name, key in targets.items():
            data.put_bytes(key, rendered[name], content_type=mimetypes.guess_type(name)[0])
            faults.point("thumbnail-written")
        status, written = "done", list(targets.values())
    for key in written:  # idempotent: a re-run keeps the first registration's timestamp
        ctx.artifact.register_object(image_id, tables.ORIGIN, key, "default image artifact")
    return {**summary, "status": status, "keys": written}
