"""Basic feature selection: drop features that carry no signal or repeat another.

Operations (applied in the order given):
  nan          drop features whose fraction of NaN/inf values exceeds `na_cutoff`
  variance     drop near-constant features: the second most frequent value is rare
               (count ratio below `freq_cut`) AND few distinct values (fraction below
               `unique_cut`), the near-zero-variance rule of caret; and features with zero spread
  correlation  greedily keep the least redundant features: features are visited by increasing
               mean absolute correlation and kept unless |r| > `corr_threshold` with a kept one
  blocklist    drop features matching any regular expression in `blocklist`
               (default: position/orientation features, which describe where a cell lies in
               the field rather than what it looks like)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from bioims.profiling.columns import ProfileError, metadata_columns, require_features

OPERATIONS = ("nan", "variance", "correlation", "blocklist")
DEFAULT_OPERATIONS: tuple[str, ...] = ("nan", "variance", "correlation")
DEFAULT_BLOCKLIST: tuple[str, ...] = (
    r"_Center_[XYZ]$",
    r"_Location_",
    r"_Orientation$",
    r"_EulerNumber$",
)


def select_features(
    df: pd.DataFrame,
    operations: Sequence[str] = DEFAULT_OPERATIONS,
    *,
    samples: np.ndarray | pd.Series | None = None,
    na_cutoff: float = 0.05,
    freq_cut: float = 0.05,
    unique_cut: float = 0.01,
    corr_threshold: float = 0.9,
    blocklist: Iterable[str] = DEFAULT_BLOCKLIST,
) -> list[str]:
    """Names of the features that survive `operations`, computed on the rows in `samples` (a mask)."""
    unknown = [op for op in operations if op not in OPERATIONS]
    if unknown:
        raise ProfileError(f"unknown feature-selection operation(s) {', '.join(unknown)}; use {', '.join(OPERATIONS)}")
    if not 0 <= na_cutoff <= 1:
        raise ProfileError(f"na_cutoff must be within [0, 1], not {na_cutoff!r}")
    if not 0 < corr_threshold <= 1:
        raise ProfileError(f"corr_threshold must be within (0, 1], not {corr_threshold!r}")
    features = require_features(df)
    rows = df if samples is None else df.loc[np.asarray(samples, dtype=bool)]
    if rows.empty:
        raise ProfileError("feature selection got no rows to compute on")
    values = rows[features].to_numpy(dtype=float)
    keep = np.ones(len(features), dtype=bool)
    for op in operations:
        if op == "nan":
            keep &= (~np.isfinite(values)).mean(axis=0) <= na_cutoff
        elif op == "variance":
            keep &= ~_near_zero_variance(values, freq_cut, unique_cut)
        elif op == "correlation":
            keep[keep] = _decorrelated(values[:, keep], corr_threshold)
        else:
            patterns = [re.compile(p) for p in blocklist]
            keep &= np.array([not any(p.search(f) for p in patterns) for f in features])
    return [f for f, k in zip(features, keep, strict=True) if k]


def feature_select(df: pd.DataFrame, operations: Sequence[str] = DEFAULT_OPERATIONS, **options) -> pd.DataFrame:
    """`df` with only the metadata and the features kept by select_features(df, operations, **options)."""
    kept = select_features(df, operations, **options)
    if not kept:
        raise ProfileError("feature selection removed every feature; relax its thresholds")
    return df[metadata_columns(df) + kept].copy()


def _near_zero_variance(values: np.ndarray, freq_cut: float, unique_cut: float) -> np.ndarray:
    """Per feature: True where it is (nearly) constant on the finite rows."""
    n_features = values.shape[1]
    flags = np.zeros(n_features, dtype=bool)
    finite = np.isfinite(values)
    for j in range(n_features):  # per feature, not per value: counts need the distinct values
        column = values[finite[:, j], j]
        if column.size < 2:
            flags[j] = True
            continue
        _, counts = np.unique(column, return_counts=True)
        if counts.size == 1:
            flags[j] = True
            continue
        top_two = np.sort(counts)[-2:]
        freq_ratio = top_two[0] / top_two[1]
        unique_ratio = counts.size / column.size
        flags[j] = freq_ratio < freq_cut and unique_ratio < unique_cut
    return flags


def _decorrelated(values: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of features kept by the greedy correlation filter (NaN-free pairs only)."""
    n = values.shape[1]
    if n <= 1:
        return np.ones(n, dtype=bool)
    frame = pd.DataFrame(values)
    corr = np.abs(frame.corr(min_periods=2).to_numpy())
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 0.0)
    order = np.argsort(corr.mean(axis=0), kind="stable")
    kept = np.zeros(n, dtype=bool)
    for j in order:
        if not (corr[j, kept] > threshold).any():
            kept[j] = True
    return kept
