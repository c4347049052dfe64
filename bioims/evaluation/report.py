"""A report folder: metrics.json, per-query CSVs, PNG figures and report.md tying them together.

Files are written to temporary names and renamed, so an interrupted run leaves either the old
file or the new one; re-running rewrites everything.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from bioims.evaluation.confusion import confusion_frame
from bioims.evaluation.methods import methods_markdown
from bioims.evaluation.plots import plot_confusion, plot_map, plot_table, umap_available
from bioims.profiling.columns import LEVELS, profile_level


def _atomic_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)
    return path


def compound_table(metrics: dict) -> pd.DataFrame:
    """One row per compound: MOA, NSC and NSCB correct/total over its queries, the vote's prediction."""
    queries = metrics.get("queries") or {}
    frames = []
    for protocol in ("nsc", "nscb"):
        records = queries.get(protocol)
        if not records:
            continue
        q = pd.DataFrame(records)
        grouped = q.groupby("compound").agg(
            moa=("true_moa", "first"), correct=("correct", "sum"), total=("correct", "size")
        )
        grouped[protocol.upper()] = grouped["correct"].astype(int).astype(str) + "/" + grouped["total"].astype(str)
        wrong = (
            q.loc[~q["correct"].astype(bool)]
            .groupby("compound")["predicted_moa"]
            .agg(lambda s: ", ".join(sorted(set(map(str, s)))))
        )
        grouped[f"{protocol.upper()} wrong as"] = wrong
        frames.append(grouped[["moa", protocol.upper(), f"{protocol.upper()} wrong as"]])
    vote = (metrics.get("compound_vote") or {}).get("per_compound")
    if vote:
        v = pd.DataFrame(vote).set_index("compound")
        frames.append(
            v[["true_moa", "predicted_moa"]].rename(columns={"true_moa": "moa", "predicted_moa": "vote predicted"})
        )
    if not frames:
        return pd.DataFrame()
    table = frames[0]
    for frame in frames[1:]:
        table = table.combine_first(frame)
    ordered = ["moa"] + [
        c for c in ("NSC", "NSC wrong as", "NSCB", "NSCB wrong as", "vote predicted") if c in table.columns
    ]
    table = table[ordered].reset_index().rename(columns={"index": "compound"})
    return table.sort_values(["moa", "compound"]).reset_index(drop=True)


def _fmt(block: dict | None) -> str:
    if not block:
        return "not computed"
    text = f"{block['correct']}/{block['total']} = {block['accuracy']:.3f}"
    if block.get("ci_low") is not None and block.get("ci_high") is not None:
        text += f" (95% CI {block['ci_low']:.3f}-{block['ci_high']:.3f})"
    if block.get("chance") is not None:
        text += f"; chance {block['chance']:.3f}"
    return text


def write_report(
    metrics: dict,
    profiles: pd.DataFrame,
    out_dir: str | Path,
    *,
    title: str = "MOA evaluation",
    seed: int = 0,
    max_points: int = 3000,
) -> dict[str, Path]:
    """Write metrics.json, CSVs, figures and report.md under `out_dir`; returns {name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"metrics": _atomic_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")}
    level = metrics["level"]
    for protocol in ("nsc", "nscb"):
        matrix = (metrics.get("confusion") or {}).get(protocol)
        if matrix:
            frame = confusion_frame(matrix)
            paths[f"confusion_{protocol}"] = plot_confusion(
                frame, out / f"confusion_{protocol}.png", f"{protocol.upper()} at {level} level: true vs predicted MOA"
            )
        records = (metrics.get("queries") or {}).get(protocol)
        if records:
            paths[f"queries_{protocol}"] = _atomic_text(
                out / f"queries_{protocol}.csv", pd.DataFrame(records).to_csv(index=False)
            )
    map_level = "well" if LEVELS.index(profile_level(profiles)) <= LEVELS.index("well") else level
    paths["tsne"] = plot_map(profiles, out / "tsne.png", map_level, method="tsne", seed=seed, max_points=max_points)
    if umap_available():
        paths["umap"] = plot_map(profiles, out / "umap.png", map_level, method="umap", seed=seed, max_points=max_points)
    table = compound_table(metrics)
    if not table.empty:
        paths["compounds_csv"] = _atomic_text(out / "compounds.csv", table.to_csv(index=False))
        paths["compounds"] = plot_table(table, out / "compounds.png", "Per-compound results")
    paths["report"] = _atomic_text(out / "report.md", _markdown(metrics, paths, table, title, map_level))
    return paths


def _markdown(metrics: dict, paths: dict[str, Path], table: pd.DataFrame, title: str, map_level: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"Level: **{metrics['level']}**, {metrics['n_queries']} labelled profiles, {metrics['n_features']} features.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| NSC (not same compound, cosine 1-NN) | {_fmt(metrics.get('nsc'))} |",
        f"| NSCB (not same compound or batch) | {_fmt(metrics.get('nscb'))} |",
        *(
            [
                f"| NSC, each compound in its leave-one-out model | {_fmt(metrics.get('nsc_left_out'))} |",
                f"| NSCB, each compound in its leave-one-out model | {_fmt(metrics.get('nscb_left_out'))} |",
            ]
            if "nsc_left_out" in metrics
            else []
        ),
        "| mAP (MOA retrieval, other compounds) | "
        f"{'not computed' if metrics.get('map') is None else format(metrics['map'], '.3f')} |",
        f"| compound vote (original, k={(metrics.get('compound_vote') or {}).get('k', '-')}) | "
        f"{_fmt(metrics.get('compound_vote'))} |",
        "",
    ]
    if metrics.get("methods"):
        lines += methods_markdown(
            {
                "level": metrics.get("methods_level", metrics["level"]),
                "images": metrics.get("methods_images", "-"),
                "methods": metrics["methods"],
            }
        )
    for protocol in ("nsc", "nscb"):
        if f"confusion_{protocol}" in paths:
            lines += [
                f"## {protocol.upper()} confusion matrix",
                "",
                f"![{protocol} confusion]({paths[f'confusion_{protocol}'].name})",
                "",
            ]
    lines += [f"## Map of {map_level} profiles", "", f"![t-SNE]({paths['tsne'].name})", ""]
    if "umap" in paths:
        lines += [f"![UMAP]({paths['umap'].name})", ""]
    if metrics.get("map_per_moa"):
        lines += ["## mAP per MOA", "", "| MOA | mAP | queries |", "|---|---|---|"]
        lines += [
            f"| {r['moa']} | {r['mean_average_precision']:.3f} | {r['n_queries']} |" for r in metrics["map_per_moa"]
        ]
        lines.append("")
    if not table.empty:
        lines += ["## Per-compound results", "", f"![per-compound results]({paths['compounds'].name})", ""]
        lines += ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
        lines += [
            "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in table.itertuples(index=False)
        ]
        lines.append("")
    if metrics.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in metrics["notes"]] + [""]
    return "\n".join(lines)
