"""Figures (PNG, matplotlib without pyplot so no global backend state): confusion matrix,
2-D map of profiles coloured by MOA (t-SNE; UMAP when the umap package is installed), and
a per-compound result table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bioims.evaluation.prepare import unit_rows
from bioims.profiling.aggregate import roll_up
from bioims.profiling.columns import CONTROL_COMPOUND, MOA, feature_columns, has_label, is_control

DPI = 120
EXACT_TSNE_MAX = 1000


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def plot_confusion(matrix: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Heat map of a confusion matrix (rows true MOA, columns predicted) with the counts written in."""
    labels = [str(c) for c in matrix.columns]
    counts = matrix.to_numpy()
    size = max(4.0, 0.55 * len(labels) + 2.5)
    figure = Figure(figsize=(size + 1.5, size))
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="viridis")
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted MOA")
    axes.set_ylabel("true MOA")
    threshold = counts.max() / 2 if counts.size else 0
    rows, cols = np.nonzero(counts)
    for r, c in zip(rows, cols, strict=True):
        axes.text(
            int(c),
            int(r),
            str(counts[r, c]),
            ha="center",
            va="center",
            fontsize=7,
            color="black" if counts[r, c] > threshold else "white",
        )
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    return _save(figure, Path(path))


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def embed_2d(values: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates of unit-normalised rows by t-SNE (cosine) or UMAP (cosine)."""
    n = len(values)
    if n < 3:
        raise ValueError(f"a 2-D map needs at least 3 profiles, got {n}")
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (n - 1) / 3))
        # the exact gradient is faster than Barnes-Hut below about a thousand points
        method_name = "exact" if n <= EXACT_TSNE_MAX else "barnes_hut"
        return TSNE(
            n_components=2, metric="cosine", init="pca", perplexity=perplexity, random_state=seed, method=method_name
        ).fit_transform(values)
    if method == "umap":
        import umap  # optional

        return umap.UMAP(n_components=2, metric="cosine", random_state=seed).fit_transform(values)
    raise ValueError(f"unknown 2-D map method {method!r}; use tsne or umap")


def plot_map(
    profiles: pd.DataFrame,
    path: str | Path,
    level: str = "well",
    *,
    method: str = "tsne",
    seed: int = 0,
    max_points: int = 3000,
    title: str = "",
) -> Path:
    """Scatter of `profiles` (rolled up to `level`) in 2-D, coloured by MOA; DMSO in grey.

    Profiles without an MOA are left out; above `max_points` a seeded random subset is drawn.
    """
    table = roll_up(profiles, level).reset_index(drop=True)
    control = is_control(table)
    keep = has_label(table[MOA]) | control
    table = table.loc[keep].reset_index(drop=True)
    if len(table) > max_points:
        table = table.sample(n=max_points, random_state=seed).reset_index(drop=True)
    values = table[feature_columns(table)].to_numpy(dtype=float)
    values = values[:, np.isfinite(values).all(axis=0)]
    unit, _ = unit_rows(values)
    xy = embed_2d(unit, method, seed)
    control = is_control(table)
    labels = table[MOA].astype(str).to_numpy()
    moas = sorted(set(labels[~control]) - {CONTROL_COMPOUND})
    palette = _palette(len(moas))
    figure = Figure(figsize=(10, 7))
    axes = figure.add_subplot()
    if control.any():
        axes.scatter(xy[control, 0], xy[control, 1], s=8, c="#cccccc", label=CONTROL_COMPOUND, linewidths=0)
    for colour, moa in zip(palette, moas, strict=True):
        chosen = (labels == moa) & ~control
        axes.scatter(xy[chosen, 0], xy[chosen, 1], s=18, color=colour, label=moa, linewidths=0)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title or f"{method.upper()} of {level} profiles ({len(table)})")
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    return _save(figure, Path(path))


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if n > 10 else colormaps["tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_table(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """A table rendered as an image (for the per-compound results)."""
    text = table.astype(object).where(table.notna(), "").astype(str)
    height = 0.8 + 0.24 * (len(text) + 1)
    width = max(6.0, 1.3 * len(text.columns) + 1.6)
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    axes.axis("off")
    drawn = axes.table(cellText=text.to_numpy(), colLabels=list(text.columns), loc="center", cellLoc="left")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(7)
    drawn.auto_set_column_width(list(range(len(text.columns))))
    if title:
        axes.set_title(title)
    return _save(figure, Path(path))
