"""Mean average precision of MOA retrieval, computed with copairs.

Each MOA-labelled, non-DMSO profile is a query; its positives are the profiles of the same MOA
and another compound (the same exclusion as NSC), its negatives the profiles of other MOAs.
Average precision of a query = mean, over its positives, of the precision at the positive's
rank in the cosine-similarity ranking. mAP = mean AP over queries; per-MOA mAP (optionally with
copairs' permutation p-values) shows which mechanisms are retrievable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bioims.evaluation.prepare import EvaluationError, Prepared, prepare
from bioims.profiling.columns import COMPOUND, MOA

_AP_COLUMNS = ["query", "compound", "moa", "average_precision", "n_pos_pairs", "n_total_pairs"]


@dataclass
class MapResult:
    """mAP over queries, per-query AP and per-MOA mAP."""

    level: str
    value: float
    per_query: pd.DataFrame
    per_moa: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        per_moa = {str(r.moa): float(r.mean_average_precision) for r in self.per_moa.itertuples()}
        return {"value": self.value, "n_queries": int(len(self.per_query)), "per_moa": per_moa}


def mean_average_precision(
    profiles: pd.DataFrame | Prepared,
    level: str = "treatment",
    *,
    methods: Mapping[str, str] | None = None,
    null_size: int | None = None,
    seed: int = 0,
) -> MapResult:
    """MOA-retrieval mAP at `level` via copairs; `null_size` adds per-MOA p-values (copairs' permutation test)."""
    from copairs.map import average_precision
    from copairs.matching import UnpairedException

    prepared = profiles if isinstance(profiles, Prepared) else prepare(profiles, level, methods=methods)
    meta = pd.DataFrame(
        {
            "query": prepared.meta["query"].to_numpy(),
            "compound": prepared.meta[COMPOUND].astype(str).to_numpy(),
            "moa": prepared.meta[MOA].astype(str).to_numpy(),
        }
    )
    logging.getLogger("copairs").setLevel(logging.WARNING)
    try:
        ap = average_precision(
            meta,
            prepared.unit,
            pos_sameby=["moa"],
            pos_diffby=["compound"],
            neg_sameby=[],
            neg_diffby=["moa"],
            distance="cosine",
            progress_bar=False,
        )
    except UnpairedException as exc:
        raise EvaluationError(f"mAP cannot be computed at {prepared.level} level: {exc}") from exc
    notes = list(prepared.notes)
    scored = ap["average_precision"].notna().to_numpy()
    if (~scored).any():
        notes.append(
            f"mAP: {int((~scored).sum())} quer(ies) without another compound of their MOA were left out: "
            + ", ".join(meta.loc[~scored, "query"].head(5))
        )
    per_query = ap.loc[scored, _AP_COLUMNS].reset_index(drop=True)
    if per_query.empty:
        raise EvaluationError(f"mAP: no query at {prepared.level} level has a positive of its MOA")
    per_moa = (
        per_query.groupby("moa", sort=True)["average_precision"]
        .agg(mean_average_precision="mean", n_queries="size")
        .reset_index()
    )
    if null_size:
        from copairs.map import mean_average_precision as copairs_map

        significance = copairs_map(
            ap.loc[scored].reset_index(drop=True),
            ["moa"],
            null_size=null_size,
            threshold=0.05,
            seed=seed,
            progress_bar=False,
        )
        per_moa = per_moa.merge(significance[["moa", "p_value", "corrected_p_value"]], on="moa", how="left")
    return MapResult(prepared.level, float(np.mean(per_query["average_precision"])), per_query, per_moa, notes)
