"""Every method side by side: the same images, the same queries, the same protocol.

A method is a profile table (one row per image, Metadata_ columns + features) and the profiling
recipe it is evaluated with: a learned network, its untrained copy, CellProfiler features, the
field-statistics baseline. Each table is first cut to the images every method has (an image
without ROIs has no embedding but has field statistics), so every method answers the same
queries; then each is evaluated by bioims.evaluation.evaluate with the same bootstrap seed. No
method is dropped because it loses; a method that cannot be evaluated is listed with its error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from bioims.evaluation.evaluate import evaluate
from bioims.profiling.columns import IMAGE_SOURCE_ID, PLATE, SITE, WELL, ProfileError
from bioims.profiling.recipes import apply_recipe

METRICS = ("nsc", "nscb", "map", "compound_vote")


@dataclass(frozen=True)
class Method:
    """One row of the comparison: its image profiles and the recipe they are evaluated with."""

    profiles: pd.DataFrame
    recipe: str = "embedding"
    kind: str = "network"  # network | untrained | cellprofiler | field-statistics


def _image_key(tables: list[pd.DataFrame]) -> list[str]:
    for key in ([IMAGE_SOURCE_ID], [PLATE, WELL, SITE]):
        if all(all(c in t.columns for c in key) for t in tables):
            return key
    raise ProfileError(
        f"methods can only be compared on the same images: every table needs {IMAGE_SOURCE_ID} or {PLATE}+{WELL}+{SITE}"
    )


def common_images(methods: Mapping[str, Method]) -> dict[str, pd.DataFrame]:
    """Each method's profiles cut to the images all methods have."""
    tables = [m.profiles for m in methods.values()]
    key = _image_key(tables)
    ids = [set(t[key].astype(str).agg("/".join, axis=1)) for t in tables]
    shared = set.intersection(*ids) if ids else set()
    return {
        name: m.profiles[m.profiles[key].astype(str).agg("/".join, axis=1).isin(shared)].reset_index(drop=True)
        for name, m in methods.items()
    }


def _block(metrics: dict) -> dict:
    keep = ("correct", "total", "accuracy", "ci_low", "ci_high", "chance")
    out: dict = {}
    for name in ("nsc", "nscb", "compound_vote"):
        block = metrics.get(name)
        out[name] = {k: block.get(k) for k in keep if k in block} if block else None
    out["map"] = metrics.get("map")
    return out


def compare_methods(
    methods: Mapping[str, Method],
    level: str = "treatment",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    k: int = 10,
) -> dict:
    """{"methods": {name: {nsc, nscb, map, compound_vote, kind, recipe, n_queries, n_features,
    images}}, "images": shared image count, "level": level, "notes": [...]}."""
    if not methods:
        raise ProfileError("no methods to compare")
    cut = common_images(methods)
    images = len(next(iter(cut.values())))
    notes = [
        f"{name}: {len(m.profiles) - len(cut[name])} image(s) without a profile in every method left out"
        for name, m in methods.items()
        if len(m.profiles) != len(cut[name])
    ]
    out: dict[str, dict] = {}
    for name, method in methods.items():
        entry: dict = {"kind": method.kind, "recipe": method.recipe, "images": len(cut[name])}
        try:
            table = cut[name] if method.recipe == "none" else apply_recipe(cut[name], method.recipe)
            metrics = evaluate(table, level, n_boot=n_boot, seed=seed, k=k, details=False)
            entry.update(_block(metrics), n_queries=metrics["n_queries"], n_features=metrics["n_features"])
        except ProfileError as exc:
            entry.update(dict.fromkeys(METRICS), error=str(exc))
        out[name] = entry
    return {"level": level, "images": images, "methods": out, "notes": notes}


def _cell(block: dict | None) -> str:
    if not block:
        return "-"
    text = f"{block['correct']}/{block['total']} {block['accuracy']:.3f}"
    if block.get("ci_low") is not None:
        text += f" [{block['ci_low']:.2f}-{block['ci_high']:.2f}]"
    return text


def methods_rows(comparison: dict) -> list[list[str]]:
    """Rows of the side-by-side table: method, kind, NSC, NSCB, mAP, compound vote (with 95% CIs)."""
    rows = []
    for name, m in comparison["methods"].items():
        rows.append(
            [
                name,
                m["kind"],
                _cell(m.get("nsc")),
                _cell(m.get("nscb")),
                "-" if m.get("map") is None else f"{m['map']:.3f}",
                _cell(m.get("compound_vote")),
            ]
        )
    return rows


HEADER = ["method", "kind", "NSC [95% CI]", "NSCB [95% CI]", "mAP", "compound vote [95% CI]"]


def methods_markdown(comparison: dict) -> list[str]:
    lines = [
        f"## Every method side by side ({comparison['level']} level, the same {comparison['images']} images and "
        "queries)",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in methods_rows(comparison)]
    errors = [f"- {n}: {m['error']}" for n, m in comparison["methods"].items() if m.get("error")]
    return lines + [""] + (errors + [""] if errors else [])
