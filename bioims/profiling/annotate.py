"""Fill a profile table's missing metadata (compound, concentration, MOA, ...) from an
annotation table, joined on the key both tables share.

Published CellProfiler exports are keyed by plate and well only (Ljosa et al. 2013); the
treatment and MOA of each well live in a separate design file. Joining them here lets such an
export be evaluated as it is published.
"""

from __future__ import annotations

import pandas as pd

from bioims.profiling.columns import IMAGE_SOURCE_ID, PLATE, SITE, WELL, ProfileError, is_metadata

#: Keys tried in order: the most specific one both tables carry is used.
JOIN_KEYS: tuple[tuple[str, ...], ...] = ((IMAGE_SOURCE_ID,), (PLATE, WELL, SITE), (PLATE, WELL))


def join_key(profiles: pd.DataFrame, annotations: pd.DataFrame) -> list[str]:
    """The first of JOIN_KEYS present in both tables; ProfileError naming them otherwise."""
    for key in JOIN_KEYS:
        if all(c in profiles.columns and c in annotations.columns for c in key):
            return list(key)
    options = " or ".join("+".join(k) for k in JOIN_KEYS)
    raise ProfileError(f"annotations and profiles share no join key; both need {options}")


def _text(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return frame[key].astype(object).map(lambda v: None if pd.isna(v) else str(v))


def annotate(profiles: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """`profiles` with each Metadata_ column of `annotations` filled where absent or empty.

    Values already in `profiles` win. Annotation rows that repeat a key with different values
    are a ProfileError (the join would be ambiguous); profiles without a match keep their gaps.
    """
    key = join_key(profiles, annotations)
    extra = [c for c in annotations.columns if is_metadata(c) and c not in key]
    if not extra:
        raise ProfileError("the annotations hold no Metadata_ columns besides the join key")
    keys = _text(annotations, key)
    repeated = pd.concat([keys, annotations[extra].astype(str)], axis=1).duplicated().to_numpy()
    lookup = annotations.loc[~repeated, extra]
    lookup.index = pd.MultiIndex.from_frame(keys.loc[~repeated])
    if lookup.index.has_duplicates:
        shown = ", ".join("/".join(map(str, k)) for k in lookup.index[lookup.index.duplicated()][:3])
        raise ProfileError(f"the annotations give different values for the same {'+'.join(key)}: {shown}")
    rows = pd.MultiIndex.from_frame(_text(profiles, key))
    out = profiles.copy()
    for column in extra:
        values = pd.Series(lookup[column].reindex(rows).to_numpy(), index=out.index)
        out[column] = values if column not in out.columns else out[column].where(out[column].notna(), values)
    ordered = [c for c in out.columns if is_metadata(c)] + [c for c in out.columns if not is_metadata(c)]
    return out[ordered]
