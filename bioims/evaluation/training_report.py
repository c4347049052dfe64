"""Evaluate a training's embeddings and write its report: the logic behind `bioims report` and
the walkthrough's evaluation step."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bioims.evaluation.evaluate import evaluate, summary_only
from bioims.evaluation.report import write_report
from bioims.evaluation.training import bbbc021_annotations, left_out_trainings, training_profiles
from bioims.profiling import COMPOUND, apply_recipe, read_profiles, write_profiles


def load_annotations(value: str | None) -> pd.DataFrame | None:
    """None, "bbbc021" (the packaged design) or a profile file keyed by Metadata_ImageSourceId."""
    if value is None:
        return None
    if value == "bbbc021":
        return bbbc021_annotations()
    return read_profiles(value)


#: The profiling recipe each kind of training is evaluated with when none is named: learned
#: embeddings get "embedding" (no feature selection), CellProfiler features the default recipe,
#: unchanged (its parameters were chosen on the published BBBC021 CellProfiler profiles).
RECIPE_OF_KIND = {"network": "embedding", "cellprofiler": "default"}


def recipe_for(training: dict) -> str:
    return RECIPE_OF_KIND.get(training.get("kind") or "network", "embedding")


def report_training(
    train_id: str,
    out_dir: Path,
    *,
    level: str = "treatment",
    recipe: str | None = None,
    annotations: pd.DataFrame | None = None,
    left_out: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    k: int = 10,
    context=None,
) -> tuple[dict, dict[str, Path]]:
    """Metrics of `train_id` (with its embedding's leave-one-compound-out trainings for the
    compound vote when asked) and the report files; returns (summary, paths)."""
    from bioims import client

    training = client("training-configuration", context).getTraining(train_id)
    recipe = recipe or recipe_for(training)
    raw = training_profiles(train_id, annotations=annotations, context=context)
    process = (lambda t: t) if recipe == "none" else (lambda t: apply_recipe(t, recipe))
    table = process(raw)
    per_compound = None
    # features that were never trained need no leave-one-compound-out models
    if left_out and (training.get("kind") or "network") == "network":
        embedding = training["embeddingName"]
        found = left_out_trainings(embedding, sorted(raw[COMPOUND].dropna().astype(str).unique()), context=context)
        if found:
            per_compound = {c: process(training_profiles(t, annotations=annotations, context=context)) for c, t in found.items()}
    metrics = evaluate(table, level, n_boot=n_boot, seed=seed, k=k, per_compound=per_compound)
    metrics["train_id"] = train_id
    metrics["recipe"] = recipe
    metrics["kind"] = training.get("kind") or "network"
    metrics["left_out_trainings"] = len(per_compound or {})
    out_dir = Path(out_dir)
    write_profiles(raw, out_dir / "profiles.parquet")
    paths = write_report(metrics, table, out_dir, title=f"MOA evaluation of training {train_id}", seed=seed)
    summary = summary_only(metrics)
    summary["report"] = str(paths["report"])
    return summary, paths
