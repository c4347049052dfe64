"""Evaluate a training's embeddings and write its report: the logic behind `bioims report` and
the walkthrough's evaluation step."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bioims import context as context_module
from bioims.bbbc021.annotations import bbbc021_annotations
from bioims.clients import client
from bioims.evaluation.evaluate import evaluate, summary_only
from bioims.evaluation.methods import Method, compare_methods
from bioims.evaluation.prepare import EvaluationError
from bioims.evaluation.publish import publish_report
from bioims.evaluation.report import write_report
from bioims.profiling import COMPOUND, apply_recipe, read_profiles, write_profiles
from bioims.reports.profiles import left_out_trainings, training_profiles


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
RECIPE_OF_KIND = {"network": "embedding", "untrained": "embedding", "cellprofiler": "default", "field-statistics": "default"}


def recipe_for(training: dict) -> str:
    return RECIPE_OF_KIND.get(training.get("kind") or "network", "embedding")


def methods_of(
    train_id: str,
    training: dict,
    raw: pd.DataFrame,
    *,
    annotations: pd.DataFrame | None,
    baseline: pd.DataFrame | None,
    context=None,
) -> tuple[dict[str, Method], list[str]]:
    """Every method to compare with `train_id`: each embedded training of its embedding that
    leaves no compound out (networks, untrained copies, CellProfiler features), and the
    field-statistics baseline when given (image profiles keyed like the trainings' rows)."""
    methods = {train_id: Method(raw, recipe_for(training), training.get("kind") or "network")}
    notes: list[str] = []
    for other in client("training-configuration", context).getEmbeddingTrainings(training["embeddingName"]):
        other_id = other["trainId"]
        if other_id == train_id or other.get("filterKey"):
            continue
        try:
            profiles = training_profiles(other_id, annotations=annotations, context=context)
        except EvaluationError as exc:
            notes.append(f"training {other_id} not compared: {exc}")
            continue
        methods[other_id] = Method(profiles, recipe_for(other), other.get("kind") or "network")
    if baseline is not None:
        methods["field-statistics"] = Method(baseline, RECIPE_OF_KIND["field-statistics"], "field-statistics")
    return methods, notes


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
    compare: bool = True,
    baseline: pd.DataFrame | None = None,
    context=None,
) -> tuple[dict, dict[str, Path]]:
    """Metrics of `train_id` (with its embedding's leave-one-compound-out trainings for the
    compound vote when asked) and the report files; returns (summary, paths)."""
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
    if compare:
        methods, notes = methods_of(train_id, training, raw, annotations=annotations, baseline=baseline, context=context)
        comparison = compare_methods(methods, level, n_boot=n_boot, seed=seed, k=k)
        metrics["methods"] = comparison["methods"]
        metrics["methods_images"] = comparison["images"]
        metrics["methods_level"] = level
        metrics["notes"] = metrics.get("notes", []) + notes + comparison["notes"]
    out_dir = Path(out_dir)
    write_profiles(raw, out_dir / "profiles.parquet")
    paths = write_report(metrics, table, out_dir, title=f"MOA evaluation of training {train_id}", seed=seed)
    publish_report(_data_store(context), train_id, paths)  # the web UI reads the report from the store
    summary = summary_only(metrics)
    summary["report"] = str(paths["report"])
    return summary, paths


def _data_store(context):
    return (context or context_module.get()).stores.data
