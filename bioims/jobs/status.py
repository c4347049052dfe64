"""Preprocessing status of an image for one embedding, kept on the image's origin row.

Attribute `roiStatus#<embeddingName>` = {status: DONE | FAILED, roiCount, error, timestamp,
parameters}. One attribute per embedding, so recording one embedding's result never touches
another's (or any other attribute of the row). The ROI JSON in the data bucket stays the
completion marker of the outputs themselves; this row is what summaries and the CLI read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bioims import tables
from bioims.ids import now_ms
from bioims.store import Condition, Table, Update

DONE = "DONE"
FAILED = "FAILED"
ATTRIBUTE_PREFIX = "roiStatus#"


def status_attribute(embedding_name: str) -> str:
    return ATTRIBUTE_PREFIX + embedding_name


def record_status(
    images: Table,
    image_id: str,
    embedding_name: str,
    status: str,
    *,
    roi_count: int = 0,
    error: str = "",
    parameters: Mapping[str, Any] | None = None,
) -> dict:
    """Set the image's status for this embedding (the image row must exist); `images` is the
    image-management table."""
    if status not in (DONE, FAILED):
        raise ValueError(f"status must be {DONE} or {FAILED}, not {status!r}")
    value = {"status": status, "roiCount": int(roi_count), "error": error, "timestamp": now_ms()}
    if parameters is not None:
        value["parameters"] = dict(parameters)
    images.update(
        {"imageId": image_id, "trainId": tables.ORIGIN},
        Update(set={status_attribute(embedding_name): value}),
        condition=Condition.must_exist(),
    )
    return value


def image_status(row: Mapping[str, Any], embedding_name: str) -> dict | None:
    """The recorded status of an image origin row for this embedding, or None."""
    value = row.get(status_attribute(embedding_name))
    return value if isinstance(value, dict) else None
