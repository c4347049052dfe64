"""Per-plate normalisation of features against control (DMSO) wells.

Each feature is centred and scaled by statistics of the control rows of the same group (plate by
default), which removes plate-to-plate drift that would otherwise dominate nearest neighbours.

Methods:
  standardize  (x - mean_ctrl) / std_ctrl
  robustize    (x - median_ctrl) / (1.4826 * MAD_ctrl)   (robust z; 1.4826 makes MAD a std for normal data)
  center       x - mean_ctrl                              (no scaling)

A near-constant feature has a tiny control scale and would explode (pycytominer issue #161), so
every scale is floored at `scale_floor` times that feature's typical scale over all groups (the
median of its per-group scales; the feature's spread over all rows when that is zero), and the
result may be clipped to [-clip, clip]. The default floor of 1.0 lets a plate widen a feature's
scale but never shrink it below the typical plate: a scale estimated from six DMSO wells (BBBC021)
is too noisy to trust when it comes out small (benchmarks/profiles.py measures the effect).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bioims.profiling.columns import PLATE, ProfileError, control_mask, require_columns, require_features

METHODS = ("standardize", "robustize", "center")
MAD_TO_STD = 1.4826


def normalize(
    df: pd.DataFrame,
    method: str = "robustize",
    *,
    by: str | None = PLATE,
    control: object = None,
    scale_floor: float = 1.0,
    clip: float | None = None,
) -> pd.DataFrame:
    """A copy of `df` with every feature normalised against the control rows of its group.

    by: the grouping column (one set of statistics per value), or None for the whole table.
    control: which rows are the reference (see columns.control_mask; default DMSO, "all" for every row).
    scale_floor: lower bound on a group's scale, as a fraction of the feature's median scale.
    clip: clip the normalised values to [-clip, clip] (None: no clipping).
    NaN feature values stay NaN and are ignored by the statistics.
    """
    if method not in METHODS:
        raise ProfileError(f"normalisation method must be one of {', '.join(METHODS)}, not {method!r}")
    if not scale_floor >= 0:
        raise ProfileError(f"scale_floor must be >= 0, not {scale_floor!r}")
    if clip is not None and not clip > 0:
        raise ProfileError(f"clip must be positive or None, not {clip!r}")
    features = require_features(df)
    if by is not None:
        require_columns(df, [by], "per-group normalisation")
        if df[by].isna().any():
            raise ProfileError(f"{int(df[by].isna().sum())} row(s) have no {by}; fill it or normalise with by=None")
    mask = control_mask(df, control)
    groups = df[by].to_numpy() if by is not None else np.zeros(len(df), dtype=int)
    values = df[features].to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)

    group_codes, group_index = np.unique(groups.astype(str) if by is not None else groups, return_inverse=True)
    has_control = np.bincount(group_index[mask], minlength=len(group_codes)) > 0
    if not has_control.all():
        lacking = ", ".join(map(str, group_codes[~has_control][:5]))
        raise ProfileError(
            f"{int((~has_control).sum())} group(s) of {by or 'the table'} have no control rows ({lacking}); "
            "every group needs controls, or normalise with control='all'"
        )

    location, scale = _group_statistics(values[mask], group_index[mask], len(group_codes), method)
    scale = _floored(scale, values, scale_floor)
    out_values = values - location[group_index]
    if method != "center":
        out_values = out_values / scale[group_index]
    if clip is not None:
        out_values = np.clip(out_values, -clip, clip)
    out = df.copy()
    out[features] = out_values
    return out


def _group_statistics(
    values: np.ndarray, groups: np.ndarray, n_groups: int, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group location and scale of the control rows, shape (n_groups, n_features)."""
    frame = pd.DataFrame(values)
    grouped = frame.groupby(groups)
    if method == "robustize":
        location = grouped.median().reindex(range(n_groups)).to_numpy()
        deviation = pd.DataFrame(np.abs(values - location[groups]))
        scale = MAD_TO_STD * deviation.groupby(groups).median().reindex(range(n_groups)).to_numpy()
    else:
        location = grouped.mean().reindex(range(n_groups)).to_numpy()
        # ddof=0 so that a group with one control row has scale 0 (then floored), not NaN
        scale = grouped.std(ddof=0).reindex(range(n_groups)).to_numpy()
    if np.isnan(location).any():
        # a feature that is NaN in every control row of a group: centre on nothing rather than NaN-out the group
        location = np.where(np.isnan(location), np.nanmedian(location, axis=0, keepdims=True), location)
    return location, scale


def _floored(scale: np.ndarray, values: np.ndarray, fraction: float) -> np.ndarray:
    """Floor each group's scale at `fraction` x the feature's typical scale; never zero."""
    scale = np.where(np.isfinite(scale), scale, 0.0)
    typical = np.median(scale, axis=0)
    fallback = np.nanstd(values, axis=0) if values.size else np.zeros(scale.shape[1])
    fallback = np.where(np.isfinite(fallback), fallback, 0.0)
    typical = np.where(typical > 0, typical, fallback)
    floor = fraction * typical
    floored = np.maximum(scale, floor[None, :])
    # a feature constant everywhere: any positive scale keeps it at 0 after centring
    return np.where(floored > 0, floored, 1.0)
