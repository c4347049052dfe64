"""The original's compound-level vote (docs/original.md §7.6), reproduced exactly, with its knobs exposed.

For each left-out compound (one model per compound in the original, hence `per_compound`):
  * queries: every image of the compound (all concentrations, all plates);
  * candidates: MOA-labelled images of other compounds, never DMSO (exclusion tags + requireMoa);
  * the top `k` (10) hits of every query by cosine similarity, their MOAs counted over all
    queries of the compound: c_m;
  * score_m = c_m / N_m, N_m = images in the whole data set whose compound has MOA m, and for the
    true MOA N_true minus the images of the left-out compound;
  * prediction = the MOA with the highest score, a tie resolved in favour of the true MOA;
  * accuracy = correct compounds / compounds evaluated (38 for BBBC021).
The original labels every image of an annotated compound with its MOA, at every concentration
(`label_all_concentrations=True`), and counted N_m over all 13,200 images of the image index,
embedded or not (pass `moa_counts` / `compound_counts` to reproduce that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bioims.evaluation.prepare import EvaluationError, unit_rows
from bioims.profiling.aggregate import roll_up
from bioims.profiling.columns import (
    COMPOUND,
    CONTROL_COMPOUND,
    LEVELS,
    MOA,
    feature_columns,
    has_label,
    profile_level,
    require_columns,
    require_features,
)

TIES = ("true_moa", "strict")


@dataclass
class CompoundVoteResult:
    """Per-compound hit counts, scores and predictions of the compound vote."""

    k: int
    per_compound: (
        pd.DataFrame
    )  # compound, true_moa, predicted_moa, correct, n_queries, true_hits, true_score, best_other_moa, best_other_score
    hits: pd.DataFrame  # compound x MOA: c_m
    scores: pd.DataFrame  # compound x MOA: c_m / N_m
    notes: list[str] = field(default_factory=list)

    @property
    def correct(self) -> int:
        return int(self.per_compound["correct"].sum())

    @property
    def total(self) -> int:
        return int(len(self.per_compound))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    def summary(self) -> dict:
        return {"correct": self.correct, "total": self.total, "accuracy": self.accuracy, "k": self.k}


def _image_profiles(df: pd.DataFrame, what: str) -> pd.DataFrame:
    require_columns(df, [COMPOUND, MOA], what)
    require_features(df)
    level = profile_level(df)
    if LEVELS.index(level) > LEVELS.index("image"):
        raise EvaluationError(
            f"{what} needs image-level profiles (the original queried every image); got {level} profiles"
        )
    return roll_up(df, "image").reset_index(drop=True) if level == "roi" else df.reset_index(drop=True)


def _compound_moa_map(df: pd.DataFrame) -> dict[str, str]:
    labelled = df.loc[has_label(df[MOA]), [COMPOUND, MOA]].astype(str).drop_duplicates()
    conflicts = labelled[labelled.duplicated(COMPOUND, keep=False)]
    if len(conflicts):
        names = ", ".join(sorted(conflicts[COMPOUND].unique())[:5])
        raise EvaluationError(
            f"compound(s) with more than one MOA: {names}; the compound vote needs one MOA per compound"
        )
    return dict(zip(labelled[COMPOUND], labelled[MOA], strict=True))


def _labelled(df: pd.DataFrame, moa_of: Mapping[str, str] | None) -> pd.DataFrame:
    if moa_of is None:
        return df
    out = df.copy()
    out[MOA] = out[COMPOUND].astype(str).map(moa_of)
    return out


def _top_k_counts(
    queries: np.ndarray, candidates: np.ndarray, candidate_moa: np.ndarray, n_moa: int, k: int
) -> np.ndarray:
    """Hits per MOA code over the top-k candidates (cosine) of every query, summed over queries."""
    k = min(k, len(candidates))
    counts = np.zeros(n_moa, dtype=np.int64)
    for start in range(0, len(queries), 1024):
        sims = queries[start : start + 1024] @ candidates.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        counts += np.bincount(candidate_moa[top].ravel(), minlength=n_moa)
    return counts


def compound_vote(
    profiles: pd.DataFrame,
    per_compound: Mapping[str, pd.DataFrame] | None = None,
    *,
    k: int = 10,
    moa_counts: Mapping[str, int] | None = None,
    compound_counts: Mapping[str, int] | None = None,
    label_all_concentrations: bool = True,
    ties: str = "true_moa",
) -> CompoundVoteResult:
    """The original's compound vote over image-level `profiles` (ROI rows are averaged per image).

    per_compound: {compound: image profiles of the model trained without it}; when given, exactly
    these compounds are evaluated, each in its own table, while `profiles` supplies the data-set
    counts N_m. Otherwise every MOA-labelled non-DMSO compound of `profiles` is evaluated in it.
    ties: "true_moa" (the original: a tie counts as correct) or "strict" (a tie counts as wrong).
    """
    if k < 1:
        raise EvaluationError(f"k must be >= 1, not {k!r}")
    if ties not in TIES:
        raise EvaluationError(f"ties must be one of {', '.join(TIES)}, not {ties!r}")
    base = _image_profiles(profiles, "the compound vote")
    moa_of = _compound_moa_map(base) if label_all_concentrations else None
    base = _labelled(base, moa_of)
    labelled = has_label(base[MOA])
    if moa_counts is None:
        moa_counts = base.loc[labelled, MOA].astype(str).value_counts().to_dict()
    if compound_counts is None:
        compound_counts = base[COMPOUND].astype(str).value_counts().to_dict()
    compound_moa = dict(zip(base.loc[labelled, COMPOUND].astype(str), base.loc[labelled, MOA].astype(str), strict=True))
    if per_compound is None:
        targets = sorted(c for c in compound_moa if c != CONTROL_COMPOUND)
    else:
        targets = sorted(map(str, per_compound))
        unknown = [c for c in targets if c not in compound_moa]
        if unknown:
            raise EvaluationError(f"left-out compound(s) without an MOA in the profiles: {', '.join(unknown[:5])}")
    moas = sorted(m for m in moa_counts if m != CONTROL_COMPOUND)
    code = {m: i for i, m in enumerate(moas)}
    notes: list[str] = []
    rows, hit_rows, score_rows = [], [], []
    for compound in targets:
        table = (
            base
            if per_compound is None
            else _labelled(_image_profiles(per_compound[compound], f"the table of {compound}"), moa_of)
        )
        names = table[COMPOUND].astype(str).to_numpy()
        has_moa = has_label(table[MOA])
        is_query = names == compound
        is_candidate = has_moa & (names != compound) & (names != CONTROL_COMPOUND)
        if not is_query.any() or not is_candidate.any():
            notes.append(f"{compound}: skipped, {'no images' if not is_query.any() else 'no candidates'} in its table")
            continue
        candidate_moas = table.loc[is_candidate, MOA].astype(str)
        missing = sorted(set(candidate_moas) - set(code))
        if missing:
            raise EvaluationError(f"MOA(s) {', '.join(missing)} have no image count (moa_counts)")
        features = feature_columns(table)
        values = table[features].to_numpy(dtype=float)
        used = is_query | is_candidate
        finite = np.isfinite(values[used]).all(axis=0)
        if not finite.all():
            notes.append(f"{compound}: {int((~finite).sum())} feature(s) with NaN/inf dropped")
            values = values[:, finite]
        unit, _ = unit_rows(values)
        counts = _top_k_counts(unit[is_query], unit[is_candidate], candidate_moas.map(code).to_numpy(), len(moas), k)
        true_moa = compound_moa[compound]
        denominators = np.array([moa_counts[m] for m in moas], dtype=float)
        if true_moa in code:
            denominators[code[true_moa]] -= compound_counts.get(compound, int(is_query.sum()))
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.where(denominators > 0, counts / np.where(denominators > 0, denominators, 1.0), 0.0)
        true_index = code.get(true_moa)
        true_score = scores[true_index] if true_index is not None else 0.0
        others = np.array([i for i in range(len(moas)) if i != true_index])
        best_other = others[np.argmax(scores[others])] if len(others) else None
        best_other_score = scores[best_other] if best_other is not None else -np.inf
        wins = true_score >= best_other_score if ties == "true_moa" else true_score > best_other_score
        if wins:
            predicted = true_moa
        else:
            assert best_other is not None  # losing needs another MOA's score
            predicted = moas[best_other]
        rows.append(
            {
                "compound": compound,
                "true_moa": true_moa,
                "predicted_moa": predicted,
                "correct": bool(wins),
                "n_queries": int(is_query.sum()),
                "true_hits": int(counts[true_index]) if true_index is not None else 0,
                "true_score": float(true_score),
                "best_other_moa": moas[best_other] if best_other is not None else None,
                "best_other_score": float(best_other_score) if best_other is not None else None,
            }
        )
        hit_rows.append(pd.Series(counts, index=moas, name=compound))
        score_rows.append(pd.Series(scores, index=moas, name=compound))
    if not rows:
        raise EvaluationError(
            "the compound vote evaluated no compound: " + "; ".join(notes or ["no MOA-labelled compounds"])
        )
    return CompoundVoteResult(k, pd.DataFrame(rows), pd.DataFrame(hit_rows), pd.DataFrame(score_rows), notes)
