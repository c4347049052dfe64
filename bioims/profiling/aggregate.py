"""Aggregation of profiles: ROI -> image -> well -> treatment, by mean or median.

The default chain (ARCHITECTURE.md, the science path) is image = mean of its ROIs, well = median
of its images, treatment = median of its wells: the mean keeps every cell's vote inside a field,
the medians make wells and treatments robust to one bad field or well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bioims.profiling.columns import (
    BATCH,
    BATCH_SEPARATOR,
    COUNT,
    IMAGE_ID,
    IMAGE_SOURCE_ID,
    LEVELS,
    MUST_AGREE,
    PLATE,
    ROI_INDEX,
    SITE,
    WELL,
    ProfileError,
    level_key,
    metadata_columns,
    profile_level,
    require_features,
)

METHODS = ("mean", "median")

#: How each level is made from the level below it.
DEFAULT_CHAIN: Mapping[str, str] = {"image": "mean", "well": "median", "treatment": "median"}

#: Identifiers of finer levels, dropped when aggregating to a level (a treatment made of one
#: well must not keep that well's plate and well, or it would read as a well profile).
_FINER_IDS: Mapping[str, tuple[str, ...]] = {
    "image": (ROI_INDEX,),
    "well": (ROI_INDEX, IMAGE_ID, IMAGE_SOURCE_ID, SITE),
    "treatment": (ROI_INDEX, IMAGE_ID, IMAGE_SOURCE_ID, SITE, PLATE, WELL),
}


def aggregate(
    df: pd.DataFrame,
    level: str | None = None,
    *,
    by: Sequence[str] | None = None,
    method: str = "mean",
) -> pd.DataFrame:
    """Collapse rows sharing `level`'s key (or the columns `by`) into one profile each.

    Features are reduced with `method` ("mean" or "median", NaN ignored). Metadata that is
    constant inside every group is kept; Metadata_Batch of a group spanning batches becomes the
    sorted batches joined by '|'; compound, concentration and MOA must agree inside a group
    (else ProfileError). Metadata_Count is the number of rows aggregated. Row order follows the
    first appearance of each group.
    """
    if method not in METHODS:
        raise ProfileError(f"aggregation method must be one of {', '.join(METHODS)}, not {method!r}")
    if (level is None) == (by is None):
        raise ProfileError("give exactly one of level= or by=")
    keys = level_key(df, level) if level is not None else list(by or ())
    if not keys:
        raise ProfileError("by= needs at least one column")
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise ProfileError(f"cannot aggregate by missing column(s) {', '.join(missing)}")
    features = require_features(df)
    if df.empty:
        raise ProfileError("cannot aggregate an empty profile table")

    grouped = df.groupby(keys, sort=False, dropna=False)
    values = getattr(grouped[features], method)()
    group_ids = grouped.ngroup().to_numpy()
    out = values.reset_index()
    dropped = set(_FINER_IDS.get(level, ())) if level is not None else set()
    meta = _group_metadata(df, keys, group_ids, len(out), dropped)
    out = pd.concat([out[keys], meta, out[features]], axis=1)
    out[COUNT] = np.bincount(group_ids, minlength=len(out))
    ordered = keys + list(meta.columns) + [COUNT]
    return out[ordered + features]


def _group_metadata(
    df: pd.DataFrame, keys: Sequence[str], group_ids: np.ndarray, n_groups: int, dropped: set[str]
) -> pd.DataFrame:
    """Metadata constant within every group (first value), plus joined batches."""
    kept: dict[str, pd.Series] = {}
    for column in metadata_columns(df):
        if column in keys or column == COUNT or column in dropped:
            continue
        series = df[column]
        per_group = pd.Series(series.to_numpy(), index=group_ids)
        distinct = per_group.groupby(level=0).nunique(dropna=False)
        first = per_group.groupby(level=0).first()
        all_nan = per_group.isna().groupby(level=0).all()
        first = first.where(~all_nan, None)
        if (distinct <= 1).all():
            kept[column] = first.reindex(range(n_groups)).reset_index(drop=True)
            continue
        if column == BATCH:
            kept[column] = (
                per_group.dropna()
                .astype(str)
                .groupby(level=0)
                .agg(lambda s: BATCH_SEPARATOR.join(sorted({x for v in s for x in v.split(BATCH_SEPARATOR)})))
                .reindex(range(n_groups))
                .reset_index(drop=True)
            )
            continue
        if column in MUST_AGREE:
            bad = int((distinct > 1).sum())
            raise ProfileError(
                f"{column} differs inside {bad} group(s) of {', '.join(keys)}; "
                "rows of one group must share it (check the plate map or the MOA table)"
            )
        # other varying metadata (e.g. image ids when making wells) is dropped
    return pd.DataFrame(kept)


def roll_up(
    df: pd.DataFrame,
    level: str,
    methods: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Aggregate step by step from the table's own level up to `level` (the default chain).

    `methods` overrides the method of any step, e.g. {"treatment": "mean"}. A table already at
    `level` is returned unchanged (a copy); asking for a finer level than the table is an error.
    """
    if level not in LEVELS[1:]:
        raise ProfileError(f"unknown level {level!r}; use one of {', '.join(LEVELS[1:])}")
    chain = dict(DEFAULT_CHAIN)
    if methods:
        unknown = set(methods) - set(chain)
        if unknown:
            raise ProfileError(
                f"unknown aggregation step(s) {', '.join(sorted(unknown))}; steps are {', '.join(chain)}"
            )
        chain.update(methods)
    current = profile_level(df)
    start, stop = LEVELS.index(current), LEVELS.index(level)
    if start > stop:
        raise ProfileError(f"the profiles are at {current} level; they cannot be split into {level} profiles")
    out = df.copy()
    for step in LEVELS[start + 1 : stop + 1]:
        out = aggregate(out, step, method=chain[step])
    return out
