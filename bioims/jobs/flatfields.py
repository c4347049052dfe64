"""Plate preprocessing (docs/original.md §4.1): one flat field per channel of a plate.

Every inspected-readable field of the plate is read once (all pending channels of a field
together) and added to one streaming accumulator per channel, so memory is one running sum per
channel whatever the plate size. Channels whose flat field already exists are skipped (a re-run
does only what is missing); each flat field is written atomically and registered as an artifact of
the plate. A field that cannot be read, or whose shape differs from the plate's, is left out and
listed in the result; the flat field is made from the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bioims import tables
from bioims.imaging.errors import IMAGE_DATA_ERRORS, ImageShapeError, ImagingError
from bioims.imaging.flatfield import FlatField, FlatFieldAccumulator
from bioims.imaging.io import channel_sources, read_channel
from bioims.imaging.outputs import flat_field_exists, write_flat_field
from bioims.jobs.telemetry import log_message

if TYPE_CHECKING:
    from bioims.context import Context

INSPECTION_ERROR = "ERROR"


def _plate_shape(plate: dict) -> tuple[int, int, int] | None:
    dims = [plate.get(k) for k in ("depth", "height", "width")]
    if all(isinstance(d, int) and d > 0 for d in dims):
        return tuple(dims)  # type: ignore[return-value]
    return None


def compute_plate_flat_fields(ctx: Context, plate_id: str) -> dict[str, Any]:
    """Compute the missing flat fields of a plate; returns a summary of what was done."""
    management = ctx.image_management
    plate = management.plate(plate_id)
    rows = [r for r in management.plate_images(plate_id) if r.get("searchReady") != INSPECTION_ERROR]
    data = ctx.stores.data
    channel_names: list[str] = []
    for row in rows:
        for source in channel_sources(row):
            if source.name not in channel_names:
                channel_names.append(source.name)
    pending = [name for name in channel_names if not flat_field_exists(data, plate_id, name)]
    summary: dict[str, Any] = {
        "plateId": plate_id,
        "channels": channel_names,
        "computed": [],
        "skipped": [n for n in channel_names if n not in pending],
        "fields": 0,
        "failed": [],
    }
    if not pending:
        return summary
    if not rows:
        raise ImagingError(f"plate {plate_id} has no readable images to compute flat fields from")

    shape = _plate_shape(plate)
    accumulators: dict[str, FlatFieldAccumulator] = {}
    for row in rows:
        image_id = row["imageId"]
        try:
            fields = {}
            for source in channel_sources(row):
                if source.name in pending:
                    label = f"image {image_id} channel {source.name} ({source.bucket}/{source.key})"
                    fields[source.name] = read_channel(ctx.stores.bucket(source.bucket), source.key, label)
            for name, raw in fields.items():
                if shape is None:
                    shape = raw.shape
                if raw.shape != shape:
                    raise ImageShapeError(
                        f"image {image_id} channel {name}: shape {raw.shape} differs from the plate's {shape}"
                    )
        except IMAGE_DATA_ERRORS as exc:
            summary["failed"].append({"imageId": image_id, "error": str(exc)})
            continue
        for name, raw in fields.items():
            assert shape is not None  # set from the first field read above
            accumulators.setdefault(name, FlatFieldAccumulator(shape)).add(raw, image_id)
        summary["fields"] += 1

    for name in pending:
        if name not in accumulators:
            raise ImagingError(f"plate {plate_id}: no readable field has channel {name!r}")
        flat = FlatField(name, accumulators[name].flat_field())
        key = write_flat_field(data, plate_id, flat)
        ctx.artifact.register_object(plate_id, tables.ORIGIN, key, f"flat field of channel {name}")
        summary["computed"].append(name)
    log_message(
        ctx.message,
        plate.get("messageId"),
        f"Flat fields of plate {plate_id}: channels {', '.join(pending)} from {summary['fields']} fields",
    )
    return summary


def plate_preprocessing(context: Context, plateId: str) -> dict[str, Any]:  # noqa: N803 - job parameter names
    """The plate-preprocessing job (bioims.workflows.jobs): flat fields of every channel of a plate
    (skips channels already done)."""
    return compute_plate_flat_fields(context, plateId)
