"""`bioims evaluate PROFILES`: NSC, NSCB, mAP and the compound vote of a profile table.

The table is a CSV (optionally .gz) or Parquet file with Metadata_ columns for plate, well,
compound, concentration and MOA (batch = week, read from Metadata_Batch or the WeekN_ plate
prefix); every other column is a feature. CellProfiler's Image_Metadata_ columns count as
Metadata_ ones (--metadata-prefix adds other prefixes), and --annotations fills the compound,
concentration and MOA that a published per-well export lacks.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from bioims.cli.common import CliError, console, emit
from bioims.clients import ClientError

LEVELS = ("treatment", "well", "image")


def _summary_table(metrics: dict) -> Table:
    table = Table(
        title=f"MOA evaluation at {metrics['level']} level ({metrics['n_queries']} profiles, "
        f"{metrics['n_features']} features)"
    )
    table.add_column("metric")
    table.add_column("correct/total", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("95% CI", justify="right")
    rows = [
        ("nsc", "NSC"),
        ("nscb", "NSCB"),
        ("nsc_left_out", "NSC, left-out models"),
        ("nscb_left_out", "NSCB, left-out models"),
        ("compound_vote", "compound vote (original)"),
    ]
    for name, label in rows:
        if name.endswith("_left_out") and name not in metrics:
            continue
        block = metrics.get(name)
        if not block:
            table.add_row(label, "-", "not computed", "")
            continue
        ci = f"{block['ci_low']:.3f}-{block['ci_high']:.3f}" if block.get("ci_low") is not None else ""
        table.add_row(label, f"{block['correct']}/{block['total']}", f"{block['accuracy']:.3f}", ci)
    table.add_row("mAP", "", "not computed" if metrics.get("map") is None else f"{metrics['map']:.3f}", "")
    return table


@click.command("evaluate")
@click.argument("profiles", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="treatment",
    show_default=True,
    help="Level the NSC/NSCB queries are made at.",
)
@click.option(
    "--recipe",
    default=None,
    help="Apply a named profiling recipe first (e.g. default, embedding); see bioims.profiling.RECIPES.",
)
@click.option(
    "--method",
    type=click.Choice(("median", "mean")),
    default=None,
    help="Aggregation of wells and treatments (default median).",
)
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the confidence intervals.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--k", type=click.IntRange(1), default=10, show_default=True, help="Hits per query in the compound vote.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (nsc, nscb, map, compound_vote, ...).")
@click.option(
    "--metadata-prefix",
    "metadata_prefixes",
    multiple=True,
    help="Columns starting with this prefix are metadata, read as Metadata_<rest> (repeatable; Image_Metadata_ "
    "always is).",
)
@click.option(
    "--annotations",
    default=None,
    help="'bbbc021' (compound, concentration, MOA of each BBBC021 well) or a CSV/Parquet file of Metadata_ "
    "columns, joined on image source id or plate+well.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write metrics.json, figures and report.md here.",
)
def evaluate(
    profiles: Path,
    level: str,
    recipe: str | None,
    method: str | None,
    n_boot: int,
    seed: int,
    k: int,
    as_json: bool,
    metadata_prefixes: tuple[str, ...],
    annotations: str | None,
    report_dir: Path | None,
) -> None:
    """Evaluate how well PROFILES predict the MOA of compounds they never matched."""
    from bioims.bbbc021.annotations import bbbc021_well_annotations
    from bioims.evaluation import evaluate as run_evaluation
    from bioims.evaluation import summary_only, write_report
    from bioims.profiling import COMPOUND, MOA, ProfileError, apply_recipe, read_profiles
    from bioims.profiling.annotate import annotate

    try:
        table = read_profiles(profiles, metadata_prefixes)
        if annotations:
            table = annotate(
                table, bbbc021_well_annotations() if annotations == "bbbc021" else read_profiles(annotations)
            )
        elif COMPOUND not in table.columns or MOA not in table.columns:
            raise CliError(
                f"{profiles.name} has no {COMPOUND}/{MOA} columns; give them with --annotations bbbc021 "
                "(the BBBC021 design, joined on plate + well) or --annotations FILE"
            )
        if recipe:
            table = apply_recipe(table, recipe)
        methods = {"well": method, "treatment": method} if method else None
        metrics = run_evaluation(
            table, level, methods=methods, n_boot=n_boot, seed=seed, k=k, details=report_dir is not None
        )
        paths = (
            write_report(metrics, table, report_dir, title=f"MOA evaluation of {profiles.name}", seed=seed)
            if report_dir
            else {}
        )
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    summary = summary_only(metrics)
    if report_dir:
        summary["report"] = str(paths["report"])
    if as_json:
        emit(summary, True)
        return
    console.print(_summary_table(summary))
    for note in summary.get("notes", []):
        console.print(f"[dim]note:[/dim] {note}")
    if report_dir:
        console.print(f"report: {paths['report']}")


@click.command("report")
@click.argument("train_id")
@click.option("--level", type=click.Choice(LEVELS), default="treatment", show_default=True)
@click.option(
    "--recipe",
    default=None,
    help="Profiling recipe applied to the embeddings; 'none' evaluates them as they are. Default: 'embedding' "
    "for a network, 'default' for CellProfiler features.",
)
@click.option(
    "--annotations",
    default=None,
    help="'bbbc021' (the packaged BBBC021 design) or a CSV/Parquet file keyed by Metadata_ImageSourceId adding "
    "e.g. Metadata_Concentration.",
)
@click.option(
    "--left-out/--no-left-out",
    default=True,
    show_default=True,
    help="Use the embedding's leave-one-compound-out trainings for the compound vote, as the original did.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Report folder (default: reports/TRAIN_ID).",
)
@click.option("--bootstrap", "n_boot", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--k", type=click.IntRange(1), default=10, show_default=True, help="Hits per query in the compound vote.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--compare/--no-compare",
    default=True,
    show_default=True,
    help="Evaluate every embedded training of the embedding side by side (methods table, metrics.json 'methods').",
)
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Field-statistics image profiles (CSV/Parquet keyed by Metadata_ImageSourceId) added to the comparison.",
)
def report(
    train_id: str,
    level: str,
    recipe: str | None,
    annotations: str | None,
    left_out: bool,
    out_dir: Path | None,
    n_boot: int,
    seed: int,
    k: int,
    as_json: bool,
    compare: bool,
    baseline_file: Path | None,
) -> None:
    """Evaluate the embeddings of training TRAIN_ID and write a report (figures, metrics.json)."""
    from bioims.profiling import ProfileError, read_profiles
    from bioims.reports.training import load_annotations, report_training

    try:
        baseline = read_profiles(baseline_file) if baseline_file else None
        summary, paths = report_training(
            train_id,
            out_dir or Path("reports") / train_id,
            level=level,
            recipe=recipe,
            annotations=load_annotations(annotations),
            left_out=left_out,
            n_boot=n_boot,
            seed=seed,
            k=k,
            compare=compare,
            baseline=baseline,
        )
    except (ProfileError, ClientError) as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit(summary, True)
        return
    console.print(_summary_table(summary))
    if summary.get("methods"):
        console.print(methods_table(summary))
    for note in summary.get("notes", []):
        console.print(f"[dim]note:[/dim] {note}")
    console.print(f"report: {paths['report']}")


def methods_table(summary: dict) -> Table:
    from bioims.evaluation.methods import HEADER, methods_rows

    table = Table(
        title=f"Every method side by side ({summary.get('methods_level', summary.get('level'))} level, "
        f"the same {summary.get('methods_images', '?')} images and queries)"
    )
    for column in HEADER:
        table.add_column(column, justify="left" if column in ("method", "kind") else "right")
    for row in methods_rows({"methods": summary["methods"]}):
        table.add_row(*row)
    return table
