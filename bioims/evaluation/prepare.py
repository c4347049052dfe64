"""Turn a profile table into the labelled, finite profiles of one level that metrics work on.

Every metric of this package goes through `prepare`, so they all agree on which profiles are
queries, and they all report the same clear notes about what was left out and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bioims.profiling.aggregate import roll_up
from bioims.profiling.columns import (
    BATCH,
    COMPOUND,
    CONCENTRATION,
    EVAL_LEVELS,
    MOA,
    PLATE,
    WELL,
    ProfileError,
    feature_columns,
    has_label,
    image_key,
    is_control,
    require_columns,
    require_features,
    with_batch,
)


class EvaluationError(ProfileError):
    """The profiles cannot be evaluated as asked; the message says why."""


@dataclass
class Prepared:
    """Profiles of one level: metadata, unit-length feature vectors and what was left out."""

    level: str
    meta: pd.DataFrame  # one row per kept profile, index 0..n-1
    unit: np.ndarray  # (n, d) L2-normalised features
    features: list[str]
    notes: list[str] = field(default_factory=list)
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)  # query, reason


def query_names(meta: pd.DataFrame, level: str) -> list[str]:
    """Readable ids: compound@concentration, plate/well, or the image key."""
    if level == "treatment":
        conc = meta[CONCENTRATION].map(lambda c: "nan" if pd.isna(c) else f"{float(c):g}")
        return (meta[COMPOUND].astype(str) + "@" + conc).tolist()
    if level == "well":
        return (meta[PLATE].astype(str) + "/" + meta[WELL].astype(str)).tolist()
    key = image_key(meta) or []
    if not key:
        return [str(i) for i in range(len(meta))]
    return meta[key].astype(str).agg("/".join, axis=1).tolist()


def unit_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit L2 norm (zero rows stay zero) and the mask of zero rows."""
    norms = np.linalg.norm(values, axis=1)
    zero = norms == 0
    return values / np.where(zero, 1.0, norms)[:, None], zero


def _drop_unlabelled_rows_of_labelled_treatments(profiles: pd.DataFrame, level: str, notes: list[str]) -> pd.DataFrame:
    """Rows without an MOA inside a treatment that has labelled rows (BBBC021's taxol 0.3 plate
    controls next to the annotated taxol 0.3 wells) are not part of the annotated treatment
    (Ljosa et al. 2013): leave them out before the treatment is aggregated."""
    if level != "treatment":
        return profiles
    labelled = pd.Series(has_label(profiles[MOA]), index=profiles.index)
    groups = [profiles[COMPOUND].astype(str), profiles[CONCENTRATION].astype(str)]
    mixed = ~labelled & labelled.groupby(groups).transform("any")
    if mixed.any():
        notes.append(
            f"{int(mixed.sum())} profile(s) without an MOA inside annotated treatments left out (e.g. plate "
            "control wells)"
        )
        return profiles.loc[~mixed]
    return profiles


def prepare(
    profiles: pd.DataFrame,
    level: str,
    *,
    methods: Mapping[str, str] | None = None,
    need_batch: bool = False,
) -> Prepared:
    """Roll `profiles` up to `level` and keep the MOA-labelled, non-control profiles.

    Features with NaN/inf in any kept profile are dropped (noted); treatments without an MOA are
    left out (noted); a missing metadata column is an EvaluationError naming it.
    """
    if level not in EVAL_LEVELS:
        raise EvaluationError(f"unknown level {level!r}; use one of {', '.join(EVAL_LEVELS)}")
    if not isinstance(profiles, pd.DataFrame) or profiles.empty:
        raise EvaluationError("no profiles to evaluate (empty table)")
    needed = [COMPOUND, CONCENTRATION, MOA] if level == "treatment" else [COMPOUND, MOA]
    require_columns(profiles, needed, f"MOA evaluation at {level} level")
    require_features(profiles)
    if need_batch:
        profiles = with_batch(profiles)
        require_columns(profiles, [BATCH], "NSCB (batch = week)")
    notes: list[str] = []
    profiles = _drop_unlabelled_rows_of_labelled_treatments(profiles, level, notes)
    table = roll_up(profiles, level, methods).reset_index(drop=True)
    names = np.array(query_names(table, level), dtype=object)
    excluded: list[tuple[str, str]] = []

    control = is_control(table)
    labelled = has_label(table[MOA])
    unlabelled = ~labelled & ~control
    if unlabelled.any():
        listed = ", ".join(names[unlabelled][:8]) + (" ..." if unlabelled.sum() > 8 else "")
        notes.append(f"{int(unlabelled.sum())} {level} profile(s) without an MOA left out: {listed}")
        excluded += [(n, "no MOA") for n in names[unlabelled]]
    keep = labelled & ~control
    if need_batch:
        no_batch = keep & ~has_label(table[BATCH])
        if no_batch.any():
            raise EvaluationError(
                f"NSCB needs {BATCH} (or plates named WeekN_...); {int(no_batch.sum())} {level} profile(s) have none, "
                f"e.g. {names[no_batch][0]}"
            )
    if not keep.any():
        raise EvaluationError(f"no MOA-labelled, non-control {level} profiles to evaluate")

    meta = table.loc[keep, [c for c in table.columns if c.startswith("Metadata_")]].reset_index(drop=True)
    meta.insert(0, "query", names[keep])
    features = feature_columns(table)
    values = table.loc[keep, features].to_numpy(dtype=float)
    finite = np.isfinite(values).all(axis=0)
    if not finite.all():
        bad = [f for f, ok in zip(features, finite, strict=True) if not ok]
        notes.append(
            f"{len(bad)} feature(s) with NaN/inf values dropped: {', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}"
        )
        features = [f for f, ok in zip(features, finite, strict=True) if ok]
        values = values[:, finite]
    if not features:
        raise EvaluationError("every feature has NaN/inf values; nothing left to compare")
    unit, zero = unit_rows(values)
    if zero.any():
        notes.append(
            f"{int(zero.sum())} profile(s) are all zeros (cosine similarity 0 to everything): "
            + ", ".join(meta.loc[zero, "query"].head(5))
        )
    if level == "treatment" and "Metadata_Count" in meta.columns:
        single = meta["Metadata_Count"].to_numpy() == 1
        if single.any():
            notes.append(
                f"{int(single.sum())} treatment(s) rest on a single profile of the level below: "
                + ", ".join(meta.loc[single, "query"].head(8))
            )
    return Prepared(level, meta, unit, features, notes, pd.DataFrame(excluded, columns=["query", "reason"]))
