"""The imaging container jobs (bioims.workflows.jobs): the same functions run in AWS Batch
(batch_jobs/*.py) and in the local runner's worker processes. Parameters are strings."""

from __future__ import annotations

from typing import Any

from bioims.imaging.image_job import preprocess_stored_image
from bioims.imaging.plate_job import compute_plate_flat_fields


def plate_preprocessing(context, plateId: str) -> dict[str, Any]:  # noqa: N803 - job parameter names
    """Flat fields of every channel of a plate (skips channels already done)."""
    return compute_plate_flat_fields(context, plateId)


def image_preprocessing(context, imageId: str, embeddingName: str, plateId: str) -> dict[str, Any]:  # noqa: N803
    """ROIs of one image for one embedding (skips complete outputs; records failures)."""
    return preprocess_stored_image(context, imageId, embeddingName, plateId)
