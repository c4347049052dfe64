"""Small synthetic screens for the evaluation tests, and slow reference implementations of the
documented protocols written independently of bioims.evaluation (plain loops, scipy distances)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import cosine

MOAS = ("M1", "M2", "M3", "M4")
# compound -> (MOA, weeks); M4's two compounds share Week3, so NSCB must drop M4; c10 spans
# two weeks (like taxol, a control on every plate), so NSCB must keep it away from both.
COMPOUNDS = {
    "c1": ("M1", ("Week1",)),
    "c2": ("M1", ("Week2",)),
    "c3": ("M2", ("Week1",)),
    "c4": ("M2", ("Week3",)),
    "c5": ("M3", ("Week2",)),
    "c6": ("M3", ("Week3",)),
    "c7": ("M4", ("Week3",)),
    "c8": ("M4", ("Week3",)),
    "c9": ("M1", ("Week3",)),
    "c10": ("M2", ("Week1", "Week2")),
}
CONCENTRATIONS = (0.1, 1.0)


def synthetic_wells(seed: int = 0, n_features: int = 10, signal: float = 1.0, noise: float = 0.6) -> pd.DataFrame:
    """Well profiles: MOA centroid + compound offset + week drift + noise; 2 plates a week,
    each treatment in one well of each plate of its week, 3 DMSO wells per plate."""
    rng = np.random.default_rng(seed)
    centroids = {m: rng.normal(0, 1, n_features) * 2 for m in MOAS}
    weeks = sorted({w for _, ws in COMPOUNDS.values() for w in ws})
    drift = {w: rng.normal(0, 0.5, n_features) for w in weeks}
    offsets = {c: rng.normal(0, 0.7, n_features) for c in COMPOUNDS}
    rows = []
    for week in weeks:
        for p in range(2):
            plate = f"{week}_{100 + p}"
            well_no = 0
            for _ in range(3):
                rows.append(
                    (plate, f"A{well_no:02d}", "DMSO", 0.0, "DMSO", drift[week] + rng.normal(0, noise, n_features))
                )
                well_no += 1
            for compound, (moa, ws) in COMPOUNDS.items():
                if week not in ws:
                    continue
                for conc in CONCENTRATIONS:
                    value = (
                        signal * conc**0.3 * centroids[moa]
                        + offsets[compound]
                        + drift[week]
                        + rng.normal(0, noise, n_features)
                    )
                    rows.append((plate, f"A{well_no:02d}", compound, conc, moa, value))
                    well_no += 1
    meta = pd.DataFrame(
        [r[:5] for r in rows],
        columns=["Metadata_Plate", "Metadata_Well", "Metadata_Compound", "Metadata_Concentration", "Metadata_moa"],
    )
    features = pd.DataFrame(np.array([r[5] for r in rows]), columns=[f"f{i}" for i in range(n_features)])
    return pd.concat([meta, features], axis=1)


def synthetic_images(seed: int = 0, sites: int = 3, **options) -> pd.DataFrame:
    """Image profiles: each well of synthetic_wells split into `sites` noisy fields."""
    wells = synthetic_wells(seed, **options)
    rng = np.random.default_rng(seed + 1)
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    parts = []
    for site in range(sites):
        part = wells.copy()
        part[features] = part[features].to_numpy() + rng.normal(0, 0.3, (len(part), len(features)))
        part["Metadata_Site"] = site + 1
        part["Metadata_ImageId"] = part["Metadata_Plate"] + "-" + part["Metadata_Well"] + f"-s{site + 1}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


# --- independent reference implementations ----------------------------------------------------
def treatment_medians(wells: pd.DataFrame) -> list[dict]:
    """One dict per (compound, concentration): features = per-feature median over its wells."""
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    out = []
    keys = []
    for _, row in wells.iterrows():
        key = (row["Metadata_Compound"], row["Metadata_Concentration"])
        if key not in keys:
            keys.append(key)
    for compound, conc in keys:
        members = wells[(wells["Metadata_Compound"] == compound) & (wells["Metadata_Concentration"] == conc)]
        vector = np.array([np.median(members[f].to_numpy()) for f in features])
        weeks = set()
        for plate in members["Metadata_Plate"]:
            weeks.add(plate.split("_")[0])
        out.append({"compound": compound, "moa": members["Metadata_moa"].iloc[0], "weeks": weeks, "x": vector})
    return out


def well_items(wells: pd.DataFrame) -> list[dict]:
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    return [
        {
            "compound": r["Metadata_Compound"],
            "moa": r["Metadata_moa"],
            "weeks": {r["Metadata_Plate"].split("_")[0]},
            "x": np.array([r[f] for f in features], dtype=float),
        }
        for _, r in wells.iterrows()
    ]


def brute_force_nn(items: list[dict], batch: bool) -> tuple[int, int]:
    """NSC (batch=False) / NSCB (batch=True) by the textbook definition; returns (correct, total).
    NSCB first removes every item of an MOA seen in one week only (as queries and candidates)."""
    labelled = [i for i in items if i["compound"] != "DMSO" and isinstance(i["moa"], str) and i["moa"]]
    if batch:
        weeks_of_moa: dict[str, set] = {}
        for item in labelled:
            weeks_of_moa.setdefault(item["moa"], set()).update(item["weeks"])
        labelled = [i for i in labelled if len(weeks_of_moa[i["moa"]]) > 1]
    correct = total = 0
    for q in labelled:
        best, best_sim = None, -np.inf
        has_own_moa = False
        for c in labelled:
            if c["compound"] == q["compound"]:
                continue
            if batch and (c["weeks"] & q["weeks"]):
                continue
            if c["moa"] == q["moa"]:
                has_own_moa = True
            sim = 1.0 - cosine(q["x"], c["x"])
            if sim > best_sim:
                best, best_sim = c, sim
        if best is None or (batch and not has_own_moa):
            continue
        total += 1
        correct += int(best["moa"] == q["moa"])
    return correct, total


def brute_force_ap(items: list[dict]) -> list[float]:
    """Average precision of each labelled non-DMSO item: positives = same MOA, other compound;
    negatives = other MOA; ranked by cosine similarity."""
    labelled = [i for i in items if i["compound"] != "DMSO" and isinstance(i["moa"], str)]
    scores = []
    for q in labelled:
        ranked = []
        for c in labelled:
            if c is q:
                continue
            if c["moa"] == q["moa"] and c["compound"] == q["compound"]:
                continue
            ranked.append((1.0 - cosine(q["x"], c["x"]), c["moa"] == q["moa"]))
        ranked.sort(key=lambda t: -t[0])
        hits, precisions = 0, []
        for rank, (_, positive) in enumerate(ranked, start=1):
            if positive:
                hits += 1
                precisions.append(hits / rank)
        if precisions:
            scores.append(float(np.mean(precisions)))
    return scores
