"""`bioims train ...`: train embedding networks, with progress (loss, validation metric, ETA).

    bioims train start EMBEDDING [--filter-key KEY] [--process-plates] [--on-demand]
    bioims train loco EMBEDDING [--compound NAME ...]     one training per compound exclusion list
    bioims train resume TRAIN_ID                          continue a failed or interrupted training
    bioims train status TRAIN_ID | bioims train list EMBEDDING
    bioims train <method> --param value                   any train service method (trainingJobRequest, ...)

Locally the train workflow runs in this process and the training job in a subprocess whose
progress lines drive the bar; on AWS the command starts the Step Functions execution and follows
it, reading the progress the SageMaker job leaves beside its checkpoints.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bioims import client, context
from bioims.cli.common import EMBEDDING_NAME, EXIT_FAILED, EXIT_PARTIAL, ID, CliError, console, emit
from bioims.clients import ClientError
from bioims.learning.progress import describe_progress, parse_progress
from bioims.runtime.ports import Observer

POLL_SECONDS = 15.0
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class TrainingObserver(Observer):
    """Workflow steps as spinners, the training job's progress lines as one bar."""

    def __init__(self, progress: Progress, label: str = "training"):
        self.progress, self.label = progress, label
        self.steps: dict[str, Any] = {}
        self.bar: TaskID | None = None

    def step_started(self, workflow: str, step: str) -> None:
        self.steps[step] = self.progress.add_task(step, total=None)

    def step_finished(self, workflow: str, step: str) -> None:
        task = self.steps.get(step)
        if task is not None:
            self.progress.update(task, total=1, completed=1)

    def map_progress(self, workflow: str, step: str, done: int, total: int, failed: int) -> None:
        task = self.steps.get(step) or self.progress.add_task(step, total=total)
        self.steps[step] = task
        self.progress.update(
            task, total=max(total, 1), completed=done, description=f"{step} ({failed} failed)" if failed else step
        )

    def log(self, message: str) -> None:
        report = parse_progress(message)
        if report is None:
            self.progress.console.log(message)
            return
        self.show(report)

    def show(self, report: dict[str, Any]) -> None:
        text, completed, total = describe_progress(report)
        if self.bar is None:
            self.bar = self.progress.add_task(self.label, total=total)
        self.progress.update(self.bar, total=total, completed=completed, description=f"{self.label}: {text}")


def _progress(quiet: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


def _follow(train_id: str, observer: TrainingObserver) -> dict:
    """AWS: poll the training's status (workflow, job, progress file) until the workflow ends."""
    train = client("train")
    while True:
        status = train.call("getTrainingStatus", trainId=train_id)
        if status.get("progress"):
            observer.show(status["progress"])
        execution = status.get("execution", {}).get("status", "RUNNING")
        if execution in TERMINAL:
            return status
        time.sleep(POLL_SECONDS)


def _run(start, train_ids_of, quiet: bool, label: str) -> list[dict]:
    """Start trainings with `start()` (waiting locally, following on AWS); their final statuses."""
    ctx = context.get()
    progress = _progress(quiet)
    with progress:
        observer = TrainingObserver(progress, label)
        local = ctx.settings.backend == "local"
        if local:
            ctx.runtime.observer = observer
        try:
            started = start(local)
        except ClientError as exc:
            raise CliError(str(exc)) from None
        statuses = []
        for train_id in train_ids_of(started):
            statuses.append(
                client("train").call("getTrainingStatus", trainId=train_id) if local else _follow(train_id, observer)
            )
    return statuses


def _status_table(statuses: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("trainId", "compound", "state", "epochs", "best", "metric", "rois", "error"):
        table.add_column(column)
    for s in statuses:
        summary = s.get("trainingSummary") or {}
        best = summary.get("validationBest")
        error = (s.get("execution") or {}).get("cause") or s.get("statusMessage") or ""
        table.add_row(
            s["trainId"],
            s.get("compound", ""),
            s.get("state", ""),
            str(summary.get("epochsCompleted", "")),
            str(summary.get("bestEpoch", "")),
            f"{summary.get('validationMetric')} {best:.4f}" if best is not None else "",
            str(s.get("roiCount", "")),
            error[:120],
        )
    return table


def _finish(statuses: list[dict], as_json: bool, title: str) -> None:
    if as_json:
        emit(statuses if len(statuses) != 1 else statuses[0], True)
    else:
        console.print(_status_table(statuses, title))
    failed = sum(1 for s in statuses if s.get("state") == "failed")
    if failed:
        raise click.exceptions.Exit(EXIT_PARTIAL if failed < len(statuses) else EXIT_FAILED)


@click.group("train")
def train() -> None:
    """Train embedding networks (and call the train service's methods)."""


@train.command("start")
@click.argument("embedding", type=EMBEDDING_NAME)
@click.option("--filter-key", default="", help="Exclusion list (one imageId per line) in the resource bucket.")
@click.option("--filter-bucket", default="", help="Bucket of the exclusion list (default: the resource bucket).")
@click.option("--process-plates", is_flag=True, help="Process every compatible plate first.")
@click.option("--on-demand", is_flag=True, help="AWS: on-demand instead of spot training.")
@click.option("--description", default="")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable status.")
def start_command(
    embedding: str,
    filter_key: str,
    filter_bucket: str,
    process_plates: bool,
    on_demand: bool,
    description: str,
    as_json: bool,
) -> None:
    """Train one network of EMBEDDING (baseline, or without the images of --filter-key)."""

    def start(local: bool) -> dict:
        return client("train").call(
            "train",
            embeddingName=embedding,
            filterKey=filter_key,
            filterBucket=filter_bucket,
            executeProcessPlate=process_plates,
            useSpot=not on_demand,
            description=description,
            wait=local,
        )

    statuses = _run(start, lambda out: [out["trainId"]], as_json, "training")
    _finish(statuses, as_json, f"training of {embedding}")


@train.command("loco")
@click.argument("embedding", type=EMBEDDING_NAME)
@click.option(
    "--compound", "compounds", multiple=True, help="Leave out only these compounds (repeatable); default all."
)
@click.option("--process-plates", is_flag=True)
@click.option("--on-demand", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def loco_command(
    embedding: str, compounds: tuple[str, ...], process_plates: bool, on_demand: bool, as_json: bool
) -> None:
    """One training per compound exclusion list of EMBEDDING (leave-one-compound-out, NSC models).
    Trainings that exist already are reported, not repeated."""

    def start(local: bool) -> dict:
        return client("train").call(
            "trainLeaveOneCompoundOut",
            embeddingName=embedding,
            compounds=list(compounds) or None,
            executeProcessPlate=process_plates,
            useSpot=not on_demand,
            wait=local,
        )

    statuses = _run(start, lambda out: [t["trainId"] for t in out["trainings"]], as_json, "leave-one-compound-out")
    _finish(statuses, as_json, f"leave-one-compound-out trainings of {embedding}")


@train.command("resume")
@click.argument("train_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def resume_command(train_id: str, as_json: bool) -> None:
    """Run TRAIN_ID's train workflow again; the job continues from its checkpoints."""
    statuses = _run(
        lambda local: client("train").call("resumeTraining", trainId=train_id, wait=local),
        lambda out: [out["trainId"]],
        as_json,
        "training",
    )
    _finish(statuses, as_json, f"training {train_id}")


@train.command("status")
@click.argument("train_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def status_command(train_id: str, as_json: bool) -> None:
    """State of one training: workflow, job, latest progress, summary."""
    try:
        status = client("train").call("getTrainingStatus", trainId=train_id)
    except ClientError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit(status, True)
        return
    console.print(_status_table([status], f"training {train_id}"))
    if status.get("progress"):
        console.print(describe_progress(status["progress"])[0])


@train.command("list")
@click.argument("embedding", type=EMBEDDING_NAME)
@click.option("--json", "as_json", is_flag=True)
def list_command(embedding: str, as_json: bool) -> None:
    """Every training of EMBEDDING with its state."""
    try:
        statuses = client("train").call("listTrainings", embeddingName=embedding)["trainings"]
    except ClientError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit(statuses, True)
    else:
        console.print(_status_table(statuses, f"trainings of {embedding}"))
