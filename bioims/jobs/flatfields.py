"""Plate preprocessing (docs/original.md §4.1): one flat field per channel of a plate.

Every inspected-readable field of the plate is read once (all pending channels of a field
together) and added to one streaming accumulator per channel. The reading and summing is spread
over the processes the runtime offers (`Runtime.map_parts`: locally the worker processes the maps
use, in a Batch container its CPUs; one part in this process where there is one): the fields are
cut into contiguous parts, one per process, and each part sums its fields into accumulators of
its own. The sums are exact integers (bioims.imaging.flatfield), so the parts combine to the very
sum, and flat field, bit for bit, that one serial pass makes, whatever the number of parts; the
failed fields are listed in the plate's order, as one pass lists them.

Memory: one running sum per channel in each process plus the field it is reading (for a
1024 x 1280 plate with 3 channels ~15 MB of sums + ~8 MB of field per worker), and in the job's
own process the parts' sums while they are combined (parts x channels sums: ~30 MB for 2
workers); never the plate.

Channels whose flat field already exists are skipped (a re-run does only what is missing); the
flat fields are written only after every part has ended well, each atomically and registered as
an artifact of the plate, so a failed part or a killed worker fails the job with nothing written
and a re-run completes it. A field that cannot be read, or whose shape differs from the plate's,
is left out and listed in the result; the flat field is made from the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from bioims import faults, tables
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


@dataclass
class PartSums:
    """What one part of the plate's fields adds up to: a running sum per channel, the number of
    fields summed, and the fields left out ({imageId, error}, in the part's order)."""

    sums: dict[str, FlatFieldAccumulator] = field(default_factory=dict)
    fields: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)


def _read_pending(ctx: Context, row: dict, pending: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    image_id = row["imageId"]
    fields = {}
    for source in channel_sources(row):
        if source.name in pending:
            label = f"image {image_id} channel {source.name} ({source.bucket}/{source.key})"
            fields[source.name] = read_channel(ctx.stores.bucket(source.bucket), source.key, label)
    return fields


def _first_shape(ctx: Context, rows: list[dict], pending: list[str]) -> tuple[int, ...] | None:
    """A plate row without its geometry: the shape of the first field that reads, as one pass
    would take it (the first pending channel of the first row whose pending channels all read)."""
    for row in rows:
        try:
            fields = _read_pending(ctx, row, pending)
        except IMAGE_DATA_ERRORS:
            continue
        for raw in fields.values():
            return tuple(raw.shape)
    return None


def sum_fields(ctx: Context, rows: list[dict], *, pending: tuple[str, ...], shape: tuple[int, ...] | None) -> PartSums:
    """Read the pending channels of `rows` and add them to one accumulator per channel (a part of
    the plate-preprocessing job; runs in a worker process). A field that cannot be read or has
    another shape than `shape` is left out and listed."""
    part = PartSums()
    for row in rows:
        image_id = row["imageId"]
        try:
            fields = _read_pending(ctx, row, pending)
            for name, raw in fields.items():
                if raw.shape != shape:
                    raise ImageShapeError(
                        f"image {image_id} channel {name}: shape {raw.shape} differs from the plate's {shape}"
                    )
        except IMAGE_DATA_ERRORS as exc:
            part.failed.append({"imageId": image_id, "error": str(exc)})
            continue
        for name, raw in fields.items():
            assert shape is not None  # a field of another shape was left out above
            part.sums.setdefault(name, FlatFieldAccumulator(shape)).add(raw, image_id)
        part.fields += 1
    faults.point("flat-field-part-summed", process_only=True)
    return part


def finish_flat_fields(ctx: Context, channels: list[tuple[str, FlatFieldAccumulator]]) -> list[tuple[str, np.ndarray]]:
    """The flat field of each (channel, plate sum) pair (a part of the job; runs in a worker)."""
    return [(name, accumulator.flat_field()) for name, accumulator in channels]


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

    shape = _plate_shape(plate) or _first_shape(ctx, rows, pending)
    parts = ctx.runtime.map_parts(partial(sum_fields, pending=tuple(pending), shape=shape), rows)
    accumulators: dict[str, FlatFieldAccumulator] = {}
    for part in parts:  # in the plate's order: failures are listed as one pass lists them
        for name, accumulator in part.sums.items():
            if name in accumulators:
                accumulators[name].merge(accumulator)
            else:
                accumulators[name] = accumulator
        summary["fields"] += part.fields
        summary["failed"].extend(part.failed)

    missing = [name for name in pending if name not in accumulators]
    if missing:
        raise ImagingError(f"plate {plate_id}: no readable field has channel {missing[0]!r}")
    # the cut-off and the sigma-50 smoothing (~0.1 s CPU per 1024 x 1280 channel) also run in parts
    flats = dict(
        chain.from_iterable(ctx.runtime.map_parts(finish_flat_fields, [(n, accumulators[n]) for n in pending]))
    )
    for name in pending:
        key = write_flat_field(data, plate_id, FlatField(name, flats[name]))
        ctx.artifact.register_object(plate_id, tables.ORIGIN, key, f"flat field of channel {name}")
        faults.point("flat-field-written")
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
