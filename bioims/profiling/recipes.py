"""Named processing recipes: normalise -> select features -> whiten, as one value.

A recipe is data (which steps, which parameters), so the benchmark, the CLI and the walkthrough
name the same recipe and get the same result. `DEFAULT` is the recipe for CellProfiler-style
features; `EMBEDDING` the one for learned embeddings (no feature selection: a network's output
dimensions are not redundant measurements).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from bioims.profiling.columns import ProfileError
from bioims.profiling.normalize import normalize
from bioims.profiling.select import feature_select
from bioims.profiling.whiten import whiten


@dataclass(frozen=True)
class Recipe:
    """Steps applied in order; a step left as None is skipped."""

    name: str
    description: str
    normalize: Mapping[str, Any] | None = None
    select: Mapping[str, Any] | None = None
    whiten: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, df: pd.DataFrame, control: object = None) -> pd.DataFrame:
        """Run the recipe on `df`; `control` overrides the reference rows (default DMSO)."""
        out = df
        if self.normalize is not None:
            out = normalize(out, control=control, **self.normalize)
        if self.select is not None:
            out = feature_select(out, **self.select)
        if self.whiten is not None:
            out = whiten(out, control=control, **self.whiten)
        return out


_SELECT_ALL = {"operations": ("nan", "variance", "correlation", "blocklist")}

RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        r.name: r
        for r in (
            Recipe("raw", "features as measured"),
            Recipe("standardize", "per-plate z-score against DMSO", {"method": "standardize", "scale_floor": 0.0}),
            Recipe(
                "robustize-nofloor",
                "per-plate robust z against DMSO, scale floored at 10% only (near-constant features explode)",
                {"method": "robustize", "scale_floor": 0.1},
            ),
            Recipe(
                "robustize",
                "per-plate robust z against DMSO, scale floored at the typical plate",
                {"method": "robustize"},
            ),
            Recipe("robustize-clip", "robustize, clipped to +-5", {"method": "robustize", "clip": 5.0}),
            Recipe(
                "robustize-clip-select",
                "robustize-clip, then NaN/variance/correlation/blocklist feature selection",
                {"method": "robustize", "clip": 5.0},
                _SELECT_ALL,
            ),
            Recipe(
                "whole-table-mad",
                "pycytominer-like: robust z over the whole table (all wells), then feature selection",
                {"method": "robustize", "by": None, "scale_floor": 0.0},
                _SELECT_ALL,
                extra={"control": "all"},
            ),
            Recipe(
                "default",
                "robustize-clip-select, then ZCA-cor whitening fitted on DMSO (epsilon 0.1)",
                {"method": "robustize", "clip": 5.0},
                _SELECT_ALL,
                {"method": "zca-cor", "epsilon": 0.1},
            ),
            Recipe(
                "default-pca",
                "robustize-clip-select, then PCA whitening fitted on DMSO (epsilon 0.1)",
                {"method": "robustize", "clip": 5.0},
                _SELECT_ALL,
                {"method": "pca", "epsilon": 0.1},
            ),
            Recipe(
                "embedding",
                "for learned embeddings: per-plate robust z against DMSO, clipped to +-5, ZCA-cor whitening on DMSO",
                {"method": "robustize", "clip": 5.0},
                None,
                {"method": "zca-cor", "epsilon": 0.1},
            ),
        )
    }
)

DEFAULT = RECIPES["default"]
EMBEDDING = RECIPES["embedding"]


def recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ProfileError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None


def apply_recipe(df: pd.DataFrame, name: str = "default", control: object = None) -> pd.DataFrame:
    """Apply the named recipe; a recipe's own control (e.g. "all") wins unless `control` is given."""
    chosen = recipe(name)
    return chosen.apply(df, control if control is not None else chosen.extra.get("control"))


def default_recipe(df: pd.DataFrame, control: object = None) -> pd.DataFrame:
    """The default recipe for CellProfiler-style well profiles."""
    return apply_recipe(df, "default", control)


def embedding_recipe(df: pd.DataFrame, control: object = None) -> pd.DataFrame:
    """The recipe the walkthrough applies to learned embeddings (image or well profiles)."""
    return apply_recipe(df, "embedding", control)
