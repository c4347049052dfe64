"""Per-MOA confusion matrices of nearest-neighbour predictions."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bioims.evaluation.prepare import EvaluationError, unit_rows
from bioims.profiling.columns import feature_columns, has_label


def confusion_matrix(queries: pd.DataFrame, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of (true MOA, predicted MOA) over `queries` (a per-query table); rows true, columns predicted.

    labels: the MOAs to show, in order (default: every MOA seen, sorted).
    """
    true = queries["true_moa"].astype(str)
    predicted = queries["predicted_moa"].astype(str)
    if labels is None:
        labels = sorted(set(true) | set(predicted))
    table = pd.crosstab(true, predicted).reindex(index=list(labels), columns=list(labels), fill_value=0)
    table.index.name, table.columns.name = "true", "predicted"
    return table.astype(int)


def confusion_dict(matrix: pd.DataFrame) -> dict:
    """JSON form: {"labels": [...], "matrix": [[...], ...]} (rows true, columns predicted)."""
    return {"labels": [str(c) for c in matrix.columns], "matrix": matrix.to_numpy().tolist()}


def confusion_frame(data: dict) -> pd.DataFrame:
    """Inverse of confusion_dict."""
    labels = data["labels"]
    frame = pd.DataFrame(data["matrix"], index=labels, columns=labels)
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame


def neighbour_label_matrix(
    profiles: pd.DataFrame,
    label: str = "Metadata_moa",
    *,
    k: int = 10,
    per_class: int | None = None,
) -> pd.DataFrame:
    """How often the k nearest neighbours (cosine) of a profile carry each label, summed per label.

    Similarities are cosine, every profile counts unless `per_class` limits each class to its first
    `per_class` rows (`per_class=10` is the original baseline notebook's choice, docs/original.md
    §7.8, §8.8 #52), and a profile is never its own neighbour. Rows: label of the profile;
    columns: label of neighbours.
    """
    import numpy as np

    if label not in profiles.columns:
        raise EvaluationError(f"neighbour_label_matrix needs the column {label}")
    table = profiles.loc[has_label(profiles[label])].reset_index(drop=True)
    if len(table) <= k:
        raise EvaluationError(f"need more than k={k} labelled profiles, got {len(table)}")
    values = table[feature_columns(table)].to_numpy(dtype=float)
    values = values[:, np.isfinite(values).all(axis=0)]
    unit, _ = unit_rows(values)
    labels = table[label].astype(str).to_numpy()
    rows = np.arange(len(table))
    if per_class is not None:
        rows = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in sorted(set(labels))])
    sims = unit[rows] @ unit.T
    sims[np.arange(len(rows)), rows] = -np.inf
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    names = sorted(set(labels))
    index = {n: i for i, n in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(
        counts,
        (np.repeat([index[x] for x in labels[rows]], k), np.array([index[x] for x in labels[nearest].ravel()])),
        1,
    )
    frame = pd.DataFrame(counts, index=names, columns=names)
    frame.index.name, frame.columns.name = "profile", "neighbours"
    return frame
