"""Field-statistics profiles of stored plates: the no-segmentation, no-learning baseline
(bioims.features.fieldstats) measured on every readable image, read through the stores as image
processing reads them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bioims.evaluation.annotations import annotate
from bioims.features.fieldstats import field_features
from bioims.imaging.io import channel_sources, read_image
from bioims.profiling.columns import (
    COMPOUND,
    IMAGE_ID,
    IMAGE_SOURCE_ID,
    MOA,
    PLATE,
    WELL,
    with_batch,
)

if TYPE_CHECKING:
    from bioims.context import Context


def field_statistics_profiles(
    ctx: Context, plate_ids: Iterable[str], annotations: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Image profiles of the field-statistics baseline for every readable image of `plate_ids`,
    read through the stores as image processing reads them; metadata as a training's profiles
    (bioims.reports.profiles.training_profiles) so methods compare on the same images."""
    management = ctx.image_management
    records = []
    for plate_id in plate_ids:
        for row in sorted(management.plate_images(plate_id), key=lambda r: r["imageId"]):
            if row.get("searchReady") == "ERROR":
                continue
            sources = channel_sources(row)
            stack = np.stack([c.max(axis=0) for c in read_image(ctx.stores, sources, row["imageId"])])
            features = field_features(stack, names=[s.name for s in sources])
            records.append(
                {
                    PLATE: row.get("plateSourceId"),
                    WELL: row.get("wellSourceId"),
                    IMAGE_ID: row["imageId"],
                    IMAGE_SOURCE_ID: row.get("imageSourceId"),
                    COMPOUND: row.get("trainSubclass") if row.get("trainSubclassType") else None,
                    MOA: row.get("trainLabel") if row.get("trainCategory") else None,
                    **features,
                }
            )
    table = pd.DataFrame.from_records(records)
    if annotations is not None:
        table = annotate(table, annotations)
    return with_batch(table)
