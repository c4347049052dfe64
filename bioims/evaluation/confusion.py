"""Per-MOA confusion matrices of nearest-neighbour predictions."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


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
