"""NSC and NSCB: nearest-neighbour MOA prediction on compounds the profiles never matched.

Protocol (Ljosa et al. 2013; Ando et al. 2017), at any level (treatment, well or image):
  * queries: every MOA-labelled profile that is not DMSO;
  * candidates of a query: MOA-labelled, non-DMSO profiles of OTHER compounds (all
    concentrations of the query's compound are excluded); for NSCB also of other batches (a
    candidate sharing any week with the query is excluded);
  * prediction: the MOA of the candidate with the highest cosine similarity (ties: the first
    candidate in table order);
  * NSCB leaves out every profile of an MOA found in one batch only (BBBC021: Cholesterol-lowering
    and Kinase inhibitors), as queries AND as candidates, as the field's reference code does
    (DeepProfiler's BBBC021 experiments); a remaining query whose MOA has no allowed candidate is
    dropped too.
Accuracy = correct / total over the queries kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bioims.evaluation.bootstrap import bootstrap_ci
from bioims.evaluation.prepare import EvaluationError, Prepared, prepare
from bioims.profiling.columns import BATCH, COMPOUND, MOA, batch_sets

BLOCK_ROWS = 1024


@dataclass
class NeighbourResult:
    """Outcome of NSC or NSCB: counts, the per-query table and what was left out."""

    protocol: str
    level: str
    queries: pd.DataFrame  # query, compound, true_moa, predicted_moa, neighbour, similarity, correct, ...
    dropped: pd.DataFrame  # query, true_moa, reason
    notes: list[str] = field(default_factory=list)

    @property
    def correct(self) -> int:
        return int(self.queries["correct"].sum())

    @property
    def total(self) -> int:
        return int(len(self.queries))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    @property
    def chance(self) -> float:
        """Expected accuracy of a random allowed candidate instead of the nearest (per query:
        the share of its candidates with its MOA), averaged over the queries."""
        if not self.total or "chance" not in self.queries:
            return float("nan")
        return float(self.queries["chance"].mean())

    def confidence_interval(
        self, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0, cluster: str | None = "compound"
    ) -> tuple[float, float]:
        """Bootstrap interval of the accuracy, resampling compounds (queries of one compound are not independent)."""
        groups = None if cluster is None else self.queries[cluster].to_numpy()
        return bootstrap_ci(self.queries["correct"].to_numpy(), groups, n_boot=n_boot, confidence=confidence, seed=seed)

    def summary(self, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
        low, high = self.confidence_interval(n_boot, confidence, seed) if self.total else (float("nan"),) * 2
        return {
            "correct": self.correct,
            "total": self.total,
            "accuracy": self.accuracy,
            "chance": self.chance,
            "ci_low": low,
            "ci_high": high,
            "dropped": int(len(self.dropped)),
        }


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values.astype(str))[0]


def _batch_matrix(meta: pd.DataFrame) -> np.ndarray:
    """(n, n_batches) 0/1 matrix: which weeks each profile covers."""
    sets = batch_sets(meta[BATCH])
    names = sorted(set().union(*sets)) if sets else []
    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(sets), max(len(names), 1)), dtype=np.float32)
    rows = [i for i, s in enumerate(sets) for _ in s]
    cols = [index[b] for s in sets for b in s]
    matrix[rows, cols] = 1.0
    return matrix


def single_batch_moas(meta: pd.DataFrame) -> np.ndarray:
    """Mask of the profiles whose MOA is found in one batch only (over all its profiles)."""
    sets = batch_sets(meta[BATCH])
    covered: dict[str, set[str]] = {}
    for moa, batches in zip(meta[MOA].astype(str), sets, strict=True):
        covered.setdefault(moa, set()).update(batches)
    return np.array([len(covered[moa]) <= 1 for moa in meta[MOA].astype(str)], dtype=bool)


def nearest_other_compound(
    prepared: Prepared, exclude_batch: bool, candidates: np.ndarray | None = None
) -> pd.DataFrame:
    """For every profile: its nearest allowed candidate and whether one of its MOA was allowed.
    `candidates` (bool per profile) limits who may be a neighbour at all."""
    meta, unit = prepared.meta, prepared.unit
    compound = _codes(meta[COMPOUND])
    moa = _codes(meta[MOA])
    batches = _batch_matrix(meta) if exclude_batch else None
    n = len(meta)
    neighbour = np.full(n, -1)
    similarity = np.full(n, np.nan)
    reachable = np.zeros(n, dtype=bool)
    chance = np.full(n, np.nan)
    for start in range(0, n, BLOCK_ROWS):
        rows = slice(start, min(start + BLOCK_ROWS, n))
        allowed = compound[rows, None] != compound[None, :]
        if candidates is not None:
            allowed &= candidates[None, :]
        if batches is not None:
            allowed &= (batches[rows] @ batches.T) == 0
        sims = np.where(allowed, unit[rows] @ unit.T, -np.inf)
        best = sims.argmax(axis=1)
        found = allowed.any(axis=1)
        neighbour[rows] = np.where(found, best, -1)
        similarity[rows] = np.where(found, sims[np.arange(len(best)), best], np.nan)
        same_moa = allowed & (moa[rows, None] == moa[None, :])
        reachable[rows] = same_moa.any(axis=1)
        # what a randomly chosen allowed candidate would get right
        counts = allowed.sum(axis=1)
        chance[rows] = np.where(counts > 0, same_moa.sum(axis=1) / np.maximum(counts, 1), np.nan)
    return pd.DataFrame(
        {"neighbour_index": neighbour, "similarity": similarity, "reachable": reachable, "chance": chance}
    )


def _run(prepared: Prepared, protocol: str) -> NeighbourResult:
    exclude_batch = protocol == "nscb"
    meta = prepared.meta
    one_batch = single_batch_moas(meta) if exclude_batch else np.zeros(len(meta), dtype=bool)
    nn = nearest_other_compound(prepared, exclude_batch, ~one_batch if one_batch.any() else None)
    found = nn["neighbour_index"].to_numpy() >= 0
    reachable = nn["reachable"].to_numpy()
    keep = found & ~one_batch & (reachable if exclude_batch else True)
    dropped = []
    if one_batch.any():
        dropped.append(
            pd.DataFrame(
                {
                    "query": meta.loc[one_batch, "query"],
                    "true_moa": meta.loc[one_batch, MOA],
                    "reason": "MOA found in one batch only",
                }
            )
        )
    lost = ~found & ~one_batch
    if lost.any():
        dropped.append(
            pd.DataFrame({"query": meta.loc[lost, "query"], "true_moa": meta.loc[lost, MOA], "reason": "no candidate"})
        )
    unreachable = found & ~one_batch & ~reachable if exclude_batch else np.zeros(len(meta), dtype=bool)
    if unreachable.any():
        dropped.append(
            pd.DataFrame(
                {
                    "query": meta.loc[unreachable, "query"],
                    "true_moa": meta.loc[unreachable, MOA],
                    "reason": "MOA has no other-compound candidate outside the query's batch",
                }
            )
        )
    dropped_df = (
        pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=["query", "true_moa", "reason"])
    )
    notes = list(prepared.notes)
    if one_batch.any():
        moas = sorted(meta.loc[one_batch, MOA].astype(str).unique())
        notes.append(
            f"NSCB left out {int(one_batch.sum())} {prepared.level} profile(s) of MOA(s) found in one batch only "
            f"(neither queries nor candidates): {', '.join(moas)}"
        )
    if unreachable.any():
        moas = sorted(meta.loc[unreachable, MOA].astype(str).unique())
        notes.append(
            f"NSCB left out {int(unreachable.sum())} {prepared.level} quer(ies) without an other-batch candidate "
            f"of their MOA: {', '.join(moas)}"
        )
    if not exclude_batch:
        lonely = found & ~reachable
        if lonely.any():
            notes.append(
                f"{int(lonely.sum())} NSC quer(ies) have no other compound of their MOA, so cannot be right: "
                + ", ".join(meta.loc[lonely, "query"].head(5))
            )
    index = nn.loc[keep, "neighbour_index"].to_numpy()
    extra = [c for c in meta.columns if c not in ("query", COMPOUND, MOA) and c.startswith("Metadata_")]
    queries = pd.DataFrame(
        {
            "query": meta.loc[keep, "query"].to_numpy(),
            "compound": meta.loc[keep, COMPOUND].to_numpy(),
            "true_moa": meta.loc[keep, MOA].to_numpy(),
            "predicted_moa": meta[MOA].to_numpy()[index],
            "neighbour": meta["query"].to_numpy()[index],
            "neighbour_compound": meta[COMPOUND].to_numpy()[index],
            "similarity": nn.loc[keep, "similarity"].to_numpy(),
        }
    )
    queries["correct"] = queries["true_moa"].to_numpy() == queries["predicted_moa"].to_numpy()
    queries["chance"] = nn.loc[keep, "chance"].to_numpy()
    for column in extra:
        queries[column] = meta.loc[keep, column].to_numpy()
    if queries.empty:
        raise EvaluationError(
            f"{protocol.upper()} has no query left at {prepared.level} level ({'; '.join(notes) or 'no candidates'})"
        )
    return NeighbourResult(protocol, prepared.level, queries, dropped_df, notes)


def nsc(
    profiles: pd.DataFrame | Prepared,
    level: str = "treatment",
    *,
    methods: Mapping[str, str] | None = None,
) -> NeighbourResult:
    """Not-same-compound 1-NN MOA accuracy at `level` (profiles are rolled up to it first)."""
    prepared = profiles if isinstance(profiles, Prepared) else prepare(profiles, level, methods=methods)
    return _run(prepared, "nsc")


def nscb(
    profiles: pd.DataFrame | Prepared,
    level: str = "treatment",
    *,
    methods: Mapping[str, str] | None = None,
) -> NeighbourResult:
    """Not-same-compound-or-batch 1-NN MOA accuracy (batch = Metadata_Batch, else the plate's week)."""
    prepared = (
        profiles if isinstance(profiles, Prepared) else prepare(profiles, level, methods=methods, need_batch=True)
    )
    if BATCH not in prepared.meta.columns:
        raise EvaluationError(f"NSCB needs {BATCH}; prepare the profiles with need_batch=True")
    return _run(prepared, "nscb")


def nsc_left_out(
    per_compound: Mapping[str, pd.DataFrame],
    level: str = "treatment",
    *,
    batch: bool = False,
    methods: Mapping[str, str] | None = None,
) -> NeighbourResult:
    """NSC (or NSCB with batch=True) where each compound is queried in the profiles of the model
    trained without it, the fair version of the original's leave-one-compound-out protocol:
    for each {compound: profiles}, the queries of that compound are kept, and pooled."""
    if not per_compound:
        raise EvaluationError("nsc_left_out needs at least one {compound: profiles} table")
    parts, dropped, notes = [], [], []
    for compound, table in sorted(per_compound.items()):
        result = (nscb if batch else nsc)(table, level, methods=methods)
        mine = result.queries[result.queries["compound"].astype(str) == str(compound)]
        if mine.empty:
            notes.append(f"{compound}: no query of this compound in its own table")
        parts.append(mine)
        own = result.dropped["query"].astype(str).str.startswith(f"{compound}@") if level == "treatment" else None
        if own is not None:
            dropped.append(result.dropped[own])
    queries = pd.concat(parts, ignore_index=True)
    if queries.empty:
        raise EvaluationError("no left-out compound had a query in its own table")
    dropped_df = (
        pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=["query", "true_moa", "reason"])
    )
    return NeighbourResult("nscb" if batch else "nsc", level, queries, dropped_df, notes)
