"""All metrics of a profile table in one JSON-ready dict: NSC, NSCB, mAP, the compound vote.

A metric that cannot be computed on the given table (no batches for NSCB, well-level input for
the image-level compound vote) is null, and `notes` says why; nothing is silently skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bioims.evaluation.confusion import confusion_dict, confusion_matrix
from bioims.evaluation.neighbours import NeighbourResult, nsc, nsc_left_out, nscb
from bioims.evaluation.prepare import EvaluationError, prepare
from bioims.evaluation.retrieval import mean_average_precision
from bioims.evaluation.vote import compound_vote
from bioims.profiling.columns import LEVELS, ProfileError, profile_level


def _clean(value: Any) -> Any:
    """NaN/inf -> None and numpy scalars -> Python, recursively, so json.dumps gives valid JSON."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return _clean(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))


def _neighbour_block(result: NeighbourResult, n_boot: int, confidence: float, seed: int) -> dict:
    return result.summary(n_boot=n_boot, confidence=confidence, seed=seed)


def evaluate(
    profiles: pd.DataFrame,
    level: str = "treatment",
    *,
    methods: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    k: int = 10,
    per_compound: Mapping[str, pd.DataFrame] | None = None,
    map_null_size: int | None = None,
    details: bool = True,
) -> dict:
    """Evaluate `profiles` at `level`; returns a dict ready for json.dumps.

    Keys: level, n_queries, n_features, nsc and nscb ({correct, total, accuracy, ci_low, ci_high,
    dropped}; nscb null without batches), map (float or null) and map_per_moa, compound_vote
    ({correct, total, accuracy, k, per_compound} or null unless the input has image or ROI rows),
    confusion ({nsc, nscb}: {labels, matrix}), notes, and with details=True queries ({nsc, nscb}:
    per-query records).
    """
    notes: list[str] = []
    prepared = prepare(profiles, level, methods=methods)
    notes += prepared.notes
    result_nsc = nsc(prepared)
    out: dict[str, Any] = {
        "level": level,
        "n_queries": int(len(prepared.meta)),
        "n_features": int(len(prepared.features)),
        "nsc": _neighbour_block(result_nsc, n_boot, confidence, seed),
        "nscb": None,
        "map": None,
        "map_per_moa": None,
        "compound_vote": None,
        "confusion": {"nsc": confusion_dict(confusion_matrix(result_nsc.queries)), "nscb": None},
    }
    queries = {"nsc": _records(result_nsc.queries), "nscb": None}
    try:
        result_nscb = nscb(prepare(profiles, level, methods=methods, need_batch=True))
        out["nscb"] = _neighbour_block(result_nscb, n_boot, confidence, seed)
        out["confusion"]["nscb"] = confusion_dict(confusion_matrix(result_nscb.queries))
        queries["nscb"] = _records(result_nscb.queries)
        notes += [n for n in result_nscb.notes if n not in notes]
    except ProfileError as exc:
        notes.append(f"NSCB not computed: {exc}")
    try:
        mean_ap = mean_average_precision(prepared, null_size=map_null_size, seed=seed)
        out["map"] = mean_ap.value
        out["map_per_moa"] = _records(mean_ap.per_moa)
        notes += [n for n in mean_ap.notes if n not in notes]
    except ProfileError as exc:
        notes.append(f"mAP not computed: {exc}")
    try:
        own_level = profile_level(profiles)
    except ProfileError:
        own_level = level
    if LEVELS.index(own_level) <= LEVELS.index("image"):
        try:
            vote = compound_vote(profiles, per_compound, k=k)
            out["compound_vote"] = {**vote.summary(), "per_compound": _records(vote.per_compound)}
            notes += vote.notes
        except ProfileError as exc:
            notes.append(f"compound vote not computed: {exc}")
    else:
        notes.append(f"compound vote not computed: it needs image-level profiles, the input is at {own_level} level")
    if per_compound:
        # The honest counterpart of NSC: each compound queried with the model that never saw it.
        for name, batch in (("nsc_left_out", False), ("nscb_left_out", True)):
            try:
                result = nsc_left_out(per_compound, level, batch=batch, methods=methods)
                out[name] = _neighbour_block(result, n_boot, confidence, seed)
                queries[name] = _records(result.queries)
            except (ProfileError, EvaluationError) as exc:
                out[name] = None
                notes.append(f"{name} not computed: {exc}")
    out["notes"] = notes
    if details:
        out["queries"] = queries
    return _clean(out)


def summary_only(metrics: dict) -> dict:
    """`metrics` without the per-query and per-compound lists (what the CLI prints)."""
    out = {k: v for k, v in metrics.items() if k != "queries"}
    if out.get("compound_vote"):
        out["compound_vote"] = {k: v for k, v in out["compound_vote"].items() if k != "per_compound"}
    return out


__all__ = ["EvaluationError", "evaluate", "summary_only"]
