"""Whitening (sphering) fitted on control rows.

After whitening, the control population has identity covariance: directions in which DMSO wells
vary a lot (technical noise, cell-count drift) are shrunk, rare directions are amplified. This is
the "typical variation normalisation" idea of Ando et al. 2017. Control sets are usually smaller
than the feature count (330 DMSO wells, 500 features), so the covariance is singular; the
regulariser `epsilon` is added to its eigenvalues, relative to their mean so it does not depend
on the units of the features.

Methods: "zca" (rotate back: features keep their names), "pca" (whitened principal components,
named PC1, PC2, ...), and "zca-cor" / "pca-cor" (the same on the correlation matrix, i.e. after
scaling each feature by its control standard deviation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bioims.profiling.columns import (
    ProfileError,
    control_mask,
    metadata_columns,
    require_columns,
    require_features,
)

METHODS = ("zca", "pca", "zca-cor", "pca-cor")


@dataclass(frozen=True)
class Whitener:
    """A fitted whitening transform: y = (x - mean) / std @ matrix."""

    method: str
    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    matrix: np.ndarray  # (n_features, n_outputs)

    @property
    def output_names(self) -> list[str]:
        if self.method.startswith("pca"):
            return [f"PC{i + 1}" for i in range(self.matrix.shape[1])]
        return list(self.features)

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        require_columns(df, self.features, "applying a fitted whitening")
        values = df[list(self.features)].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ProfileError(
                "whitening needs finite features; drop or fill NaN/inf features first (feature_select 'nan')"
            )
        whitened = ((values - self.mean) / self.std) @ self.matrix
        meta = df[metadata_columns(df)]
        return pd.concat(
            [meta.reset_index(drop=True), pd.DataFrame(whitened, columns=self.output_names)], axis=1
        ).set_axis(df.index, axis=0)


def fit_whitener(
    df: pd.DataFrame,
    method: str = "zca",
    *,
    control: object = None,
    epsilon: float = 1e-2,
    n_components: int | None = None,
) -> Whitener:
    """Fit a whitening transform on the control rows of `df`.

    epsilon: added to every covariance eigenvalue, as a fraction of their mean.
    n_components: keep only the leading components ("pca" methods only).
    """
    if method not in METHODS:
        raise ProfileError(f"whitening method must be one of {', '.join(METHODS)}, not {method!r}")
    if not epsilon > 0:
        raise ProfileError(f"epsilon must be positive, not {epsilon!r}")
    features = require_features(df)
    mask = control_mask(df, control)
    reference = df.loc[mask, features].to_numpy(dtype=float)
    if len(reference) < 2:
        raise ProfileError(f"whitening needs at least 2 control rows, found {len(reference)}")
    if not np.isfinite(reference).all():
        raise ProfileError(
            "whitening needs finite features; drop or fill NaN/inf features first (feature_select 'nan')"
        )
    mean = reference.mean(axis=0)
    std = np.ones(len(features))
    if method.endswith("-cor"):
        std = reference.std(axis=0, ddof=1)
        std = np.where(std > 0, std, 1.0)
    centred = (reference - mean) / std
    covariance = centred.T @ centred / (len(reference) - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    eigenvectors = eigenvectors[:, order]
    # fix the sign of each component so the transform is deterministic across platforms
    signs = np.sign(eigenvectors[np.abs(eigenvectors).argmax(axis=0), np.arange(eigenvectors.shape[1])])
    eigenvectors = eigenvectors * np.where(signs == 0, 1.0, signs)
    regulariser = epsilon * max(float(eigenvalues.mean()), np.finfo(float).tiny)
    inverse_sqrt = 1.0 / np.sqrt(eigenvalues + regulariser)
    if method.startswith("pca"):
        k = len(features) if n_components is None else int(n_components)
        if not 1 <= k <= len(features):
            raise ProfileError(f"n_components must be between 1 and {len(features)}, not {n_components!r}")
        matrix = eigenvectors[:, :k] * inverse_sqrt[:k]
    else:
        if n_components is not None:
            raise ProfileError("n_components applies to the 'pca' methods only")
        matrix = (eigenvectors * inverse_sqrt) @ eigenvectors.T
    return Whitener(method, tuple(features), mean, std, matrix)


def whiten(
    df: pd.DataFrame,
    method: str = "zca",
    *,
    control: object = None,
    by: str | None = None,
    epsilon: float = 1e-2,
    n_components: int | None = None,
) -> pd.DataFrame:
    """Whiten `df` with a transform fitted on its control rows (per group of `by` when given)."""
    if by is None:
        return fit_whitener(df, method, control=control, epsilon=epsilon, n_components=n_components).transform(df)
    require_columns(df, [by], "per-group whitening")
    mask = control_mask(df, control)
    parts = []
    for _, index in df.groupby(by, sort=False).groups.items():
        part = df.loc[index]
        sub_mask = pd.Series(mask, index=df.index).loc[index].to_numpy()
        whitener = fit_whitener(part, method, control=sub_mask, epsilon=epsilon, n_components=n_components)
        parts.append(whitener.transform(part))
    return pd.concat(parts).loc[df.index]
