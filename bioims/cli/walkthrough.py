"""`bioims walkthrough`: the whole BBBC021 pipeline in one resumable command."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bioims import context
from bioims.cli.common import EMBEDDING_NAME, CliError, console
from bioims.cli.evaluate import methods_table
from bioims.walkthrough import Reporter, WalkthroughError, WalkthroughOptions, run_walkthrough


class RichReporter:
    def __init__(self, progress: Progress):
        self.progress = progress
        self.task: TaskID | None = None

    def step_started(self, name: str, description: str) -> None:
        self.base = f"[bold]{name}[/bold] {description}"
        self.task = self.progress.add_task(self.base, total=None)

    def progress_update(self, done: int, total: int, detail: str) -> None:
        if self.task is not None:
            self.progress.update(
                self.task,
                completed=done,
                total=total or None,
                description=self.base + (f" · {detail}" if detail else ""),
            )

    def note(self, text: str) -> None:
        self.progress.console.print(f"  [dim]{escape(text)}[/dim]")

    def step_finished(self, name: str, seconds: float, skipped: bool, summary: str) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        mark = "[yellow]skipped (done before)[/yellow]" if skipped else f"[green]done[/green] in {seconds:.1f} s"
        self.progress.console.print(
            f"[bold]{name}[/bold] {mark}: {escape(summary)}"
        )  # a summary may hold "[cellprofiler]"


def _reporter(progress: Progress):
    rich_reporter = RichReporter(progress)

    class _Adapter(Reporter):
        def step_started(self, name, description):
            rich_reporter.step_started(name, description)

        def progress(self, done, total, detail=""):
            rich_reporter.progress_update(done, total, detail)

        def note(self, text):
            rich_reporter.note(text)

        def step_finished(self, name, seconds, skipped, summary):
            rich_reporter.step_finished(name, seconds, skipped, summary)

    return _Adapter()


def _size(value: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter("use HEIGHTxWIDTH, e.g. 256x320") from None
    return height, width


@click.command("walkthrough")
@click.option(
    "--synthetic",
    "synthetic",
    is_flag=True,
    default=False,
    help="Use synthetic plates (the default when --bbbc021-dir is not given).",
)
@click.option(
    "--bbbc021-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A real BBBC021 copy (bioims bbbc021 download).",
)
@click.option(
    "--plates", default="", help="Comma-separated plate names (default: the first --n-plates of a covering order)."
)
@click.option("--n-plates", type=click.IntRange(1, 55), default=8, show_default=True)
@click.option("--fields-per-well", type=click.IntRange(1, 4), default=1, show_default=True)
@click.option(
    "--size", default="256x320", show_default=True, help="Synthetic image size HEIGHTxWIDTH (real BBBC021: 1024x1280)."
)
@click.option(
    "--cell-scale", type=float, default=0.5, show_default=True, help="Synthetic cell size relative to real MCF7 cells."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--nsc", default="3", show_default=True, help="Leave-one-compound-out models: all, none or a number of compounds."
)
@click.option(
    "--network", default="bioims-resnet", show_default=True, help="bbbc021-1 (the original) or bioims-resnet."
)
@click.option(
    "--hyperparameter",
    "hyperparameters",
    multiple=True,
    help="Training hyperparameter NAME=VALUE (repeatable), e.g. epochs=6.",
)
@click.option("--embedding-name", type=EMBEDDING_NAME, default="bbbc021", show_default=True)
@click.option("--label-mode", type=click.Choice(["standard", "compound"]), default="standard", show_default=True)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("walkthrough-report"), show_default=True
)
@click.option("--backend", type=click.Choice(["local", "aws"]), default=None, help="Override BIOIMS_BACKEND.")
@click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="On AWS: seconds between status polls of running workflows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def walkthrough(
    synthetic,
    bbbc021_dir,
    plates,
    n_plates,
    fields_per_well,
    size,
    cell_scale,
    seed,
    nsc,
    network,
    hyperparameters,
    embedding_name,
    label_mode,
    out,
    backend,
    poll_seconds,
    as_json,
) -> None:
    """Run the whole BBBC021 pipeline: data, upload, processing, training, embeddings, search,
    leave-one-compound-out models, evaluation and an example search. Re-running continues where
    an interrupted run stopped."""
    if synthetic and bbbc021_dir:
        raise CliError("--synthetic and --bbbc021-dir exclude each other")
    if backend:
        os.environ["BIOIMS_BACKEND"] = backend
        context.reset()
    height, width = _size(size)
    parsed = {}
    for item in hyperparameters:
        if "=" not in item:
            raise CliError(f"--hyperparameter {item!r}: use NAME=VALUE")
        name, value = item.split("=", 1)
        try:
            parsed[name] = json.loads(value)
        except json.JSONDecodeError:
            parsed[name] = value
    try:
        options = WalkthroughOptions(
            bbbc021_dir=bbbc021_dir,
            plates=tuple(p for p in plates.split(",") if p),
            n_plates=n_plates,
            fields_per_well=fields_per_well,
            height=height,
            width=width,
            cell_scale=cell_scale,
            seed=seed,
            nsc=nsc,
            network=network,
            hyperparameters=parsed,
            embedding_name=embedding_name,
            label_mode=label_mode,
            out=out,
            poll_seconds=poll_seconds,
        )
    except WalkthroughError as exc:
        raise CliError(str(exc)) from None
    settings = context.get().settings
    console.print(
        f"[bold]bioimage-search walkthrough[/bold] on the {settings.backend} backend"
        + (f", data in {settings.home}" if settings.backend == "local" else "")
    )
    started = time.perf_counter()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        try:
            summary = run_walkthrough(options, _reporter(progress))
        except WalkthroughError as exc:
            raise CliError(f"{exc}\nRe-run the same command to continue once fixed.") from None
    if as_json:
        click.echo(json.dumps(summary, default=str))
        return
    _print_summary(summary, time.perf_counter() - started)


def _print_summary(summary: dict, seconds: float) -> None:
    example = summary["exampleSearch"]
    query = example["query"]
    table = Table(
        title=f"Nearest images to {query['imageSourceId']} ({query['compound']} {query['concentration'] or ''}, "
        f"{query['moa']}), "
        "other compounds with a known MOA only"
    )
    for column in ("rank", "image", "compound", "concentration", "MOA", "distance"):
        table.add_column(column)
    for hit in example["hits"]:
        table.add_row(
            str(hit["rank"]),
            hit["imageSourceId"] or "",
            hit["compound"] or "",
            str(hit["concentration"] or ""),
            hit["moa"],
            f"{hit['distance']:.4f}",
        )
    console.print(table)
    metrics = summary["metrics"]
    result = Table(title="MOA prediction of unseen compounds")
    result.add_column("metric")
    result.add_column("correct/total", justify="right")
    result.add_column("accuracy", justify="right")
    result.add_column("chance", justify="right")
    labels = {
        "nsc": "NSC (treatments, baseline model)",
        "nscb": "NSCB (other batches, baseline model)",
        "nsc_left_out": "NSC, compound held out of training",
        "nscb_left_out": "NSCB, compound held out of training",
        "compound_vote": "compound vote (original protocol)",
    }
    for name, label in labels.items():
        block = metrics.get(name)
        if block:
            chance = block.get("chance")
            result.add_row(
                label,
                f"{block['correct']}/{block['total']}",
                f"{block['accuracy']:.3f}",
                "" if chance is None else f"{chance:.3f}",
            )
    if metrics.get("map") is not None:
        result.add_row("mAP", "", f"{metrics['map']:.3f}", "")
    console.print(result)
    if metrics.get("methods"):
        console.print(methods_table(metrics))
    console.print(
        f"{summary['plates']} plates, {summary['images']} images, {summary['processed']['rois']} ROIs; "
        f"{len(summary['nscTrainings'])} leave-one-out models; wall time {seconds:.0f} s"
    )
    console.print(f"report: {summary['report']}\nsummary: {summary['summaryFile']}")
