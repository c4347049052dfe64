"""Join extra metadata onto a profile table by image source id: what a training's image rows lack
(concentration, batch, control flag) comes from an annotation table."""

from __future__ import annotations

import pandas as pd

from bioims.evaluation.prepare import EvaluationError
from bioims.profiling.columns import IMAGE_SOURCE_ID


def annotate(profiles: pd.DataFrame, annotations: pd.DataFrame, on: str = IMAGE_SOURCE_ID) -> pd.DataFrame:
    """Fill metadata missing from `profiles` (absent columns or empty values) from `annotations`."""
    if on not in annotations.columns or on not in profiles.columns:
        raise EvaluationError(f"annotations are joined on {on}, which both tables need")
    extra = [c for c in annotations.columns if c.startswith("Metadata_") and c != on]
    lookup = annotations.drop_duplicates(on).set_index(on)
    out = profiles.copy()
    for column in extra:
        values = out[on].map(lookup[column])
        out[column] = values if column not in out.columns else out[column].where(out[column].notna(), values)
    ordered = [c for c in out.columns if c.startswith("Metadata_")] + [
        c for c in out.columns if not c.startswith("Metadata_")
    ]
    return out[ordered]
