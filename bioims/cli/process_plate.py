"""`bioims process-plate PLATE_ID`: flat fields, then ROIs of every image of a plate, with progress
and a summary of what was done, skipped and failed (with reasons).

Locally the process-plate workflow (bioims.workflows.definitions) runs in this process, its image
map in a pool of worker processes (one per core, or --workers); on AWS the same workflow is a Step
Functions execution, which this command starts and follows. `bioims process-plate <method> ...`
still calls the process-plate service's API methods (uploadSourcePlate, processPlate, ...).
"""

from __future__ import annotations

import os
import time
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bioims import context
from bioims.cli.common import EMBEDDING_NAME, EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, ID, CliError, console, emit
from bioims.errors import BioimsError
from bioims.jobs.status import DONE, FAILED, image_status
from bioims.runtime.ports import Observer
from bioims.services.process_plate import ProcessRequest

POLL_SECONDS = 10.0


class ProgressObserver(Observer):
    """Renders workflow steps and map progress as rich progress bars."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def _task(self, step: str, total: int | None = None):
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(step, total=total)
        return self.tasks[step]

    def step_started(self, workflow: str, step: str) -> None:
        self._task(step, total=None)

    def step_finished(self, workflow: str, step: str) -> None:
        task = self._task(step)
        total = self.progress.tasks[task].total
        self.progress.update(task, total=total or 1, completed=total or 1)

    def map_progress(self, workflow: str, step: str, done: int, total: int, failed: int) -> None:
        task = self._task(step, total=total)
        label = step if not failed else f"{step} ({failed} failed)"
        self.progress.update(task, total=max(total, 1), completed=done, description=label)

    def log(self, message: str) -> None:
        self.progress.console.log(message)


def _statuses(ctx, plate_id: str, embedding_name: str) -> dict[str, dict]:
    rows = ctx.image_management.plate_images(plate_id)
    return {r["imageId"]: {"row": r, "status": image_status(r, embedding_name)} for r in rows}


def summarize(before: dict[str, dict], after: dict[str, dict], started_ms: int) -> dict[str, Any]:
    """Classify each image: done now, skipped (complete before), failed now (with reason), or not
    processed (the workflow stopped before reaching it)."""
    done, skipped, failed, missing = [], [], [], []
    rois = 0
    for image_id, entry in sorted(after.items(), key=lambda kv: kv[1]["row"].get("imageSourceId", kv[0])):
        status = entry["status"] or {}
        previous = (before.get(image_id) or {}).get("status") or {}
        source = entry["row"].get("imageSourceId", "")
        fresh = int(status.get("timestamp", "0") or 0) >= started_ms
        if status.get("status") == DONE:
            rois += int(status.get("roiCount", 0))
            if previous.get("status") == DONE and previous.get("timestamp") == status.get("timestamp"):
                skipped.append(image_id)
            else:
                done.append(image_id)
        elif status.get("status") == FAILED and fresh:
            failed.append({"imageId": image_id, "imageSourceId": source, "error": status.get("error", "")})
        else:
            missing.append(image_id)
    return {"done": len(done), "skipped": len(skipped), "failed": failed, "notProcessed": len(missing), "rois": rois}


def _default_embedding(ctx) -> str:
    embeddings = ctx.training_configuration.listEmbeddings(None).get("embeddings", [])
    names = sorted(e["embeddingName"] if isinstance(e, dict) else str(e) for e in embeddings)
    if len(names) == 1:
        return names[0]
    if not names:
        raise CliError("no embedding exists; create one (bioims training-configuration createEmbedding) first")
    raise CliError(f"several embeddings exist ({', '.join(names)}); choose one with --embedding")


def run_plate(plate_id: str, embedding_name: str | None, workers: int | None, quiet: bool = False) -> dict[str, Any]:

    ctx = context.get()
    if workers is not None:
        if workers < 1:
            raise CliError("--workers must be at least 1")
        os.environ["BIOIMS_WORKERS"] = str(workers)
    try:
        embedding_name = embedding_name or _default_embedding(ctx)
        ctx.image_management.plate(plate_id)
        before = _statuses(ctx, plate_id, embedding_name)
        started = int(time.time() * 1000)
        request = ProcessRequest(plateId=plate_id, embeddingName=embedding_name, wait=True)
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=False,
        )
        with progress:
            if ctx.settings.backend == "local":
                ctx.runtime.observer = ProgressObserver(progress)
                execution = ctx.process_plate.processPlate(request)
            else:
                execution = ctx.process_plate.processPlate(request)
                execution = _follow(ctx, execution["executionArn"], progress, plate_id, embedding_name, len(before))
        after = _statuses(ctx, plate_id, embedding_name)
    except BioimsError as exc:
        raise CliError(exc.message) from None
    summary = summarize(before, after, started)
    description = ctx.runtime.describe_execution(execution["executionArn"])
    return {
        "plateId": plate_id,
        "embeddingName": embedding_name,
        "executionArn": execution["executionArn"],
        "status": description.get("status"),
        "error": description.get("error"),
        "cause": description.get("cause"),
        "images": len(after),
        **summary,
    }


def _follow(ctx, arn: str, progress: Progress, plate_id: str, embedding_name: str, total: int) -> dict:
    """Poll a Step Functions execution; progress = images with a status recorded since the start."""
    task = progress.add_task("Process Images", total=total)
    started = int(time.time() * 1000)
    while True:
        description = ctx.runtime.describe_execution(arn)
        statuses = _statuses(ctx, plate_id, embedding_name)
        seen = sum(1 for s in statuses.values() if s["status"] and int(s["status"].get("timestamp", "0")) >= started)
        progress.update(task, completed=seen)
        if description["status"] != "RUNNING":
            return description
        time.sleep(POLL_SECONDS)


def _print_summary(result: dict[str, Any]) -> None:
    table = Table(title=f"plate {result['plateId']} / embedding {result['embeddingName']}")
    table.add_column("images")
    table.add_column("done")
    table.add_column("skipped")
    table.add_column("failed")
    table.add_column("not processed")
    table.add_column("ROIs")
    table.add_row(
        str(result["images"]),
        str(result["done"]),
        str(result["skipped"]),
        str(len(result["failed"])),
        str(result["notProcessed"]),
        str(result["rois"]),
    )
    console.print(table)
    for failure in result["failed"]:
        console.print(f"[red]failed[/red] {failure['imageId']} {failure['imageSourceId']}: {failure['error']}")
    if result["status"] == "SUCCEEDED":
        console.print(f"[green]workflow SUCCEEDED[/green] ({result['executionArn']})")
    else:
        console.print(f"[red]workflow {result['status']}[/red]: {result.get('error')}: {result.get('cause')}")


class ProcessPlateGroup(click.Group):
    """`process-plate PLATE_ID ...` runs a plate; `process-plate <method> ...` calls the service."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands:
            return RUN.name, RUN, args
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "PLATE_ID [--embedding NAME] [--workers N] [--json] | METHOD [ARGS]...")


@click.command("run", hidden=True)
@click.argument("plate_id", type=ID)
@click.option(
    "--embedding",
    "-e",
    "embedding_name",
    type=EMBEDDING_NAME,
    help="Embedding whose ROIs to compute (default: the only one).",
)
@click.option("--workers", "-w", type=int, help="Worker processes for the images (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def RUN(plate_id: str, embedding_name: str | None, workers: int | None, as_json: bool) -> None:  # noqa: N802
    """Process one plate."""
    result = run_plate(plate_id, embedding_name, workers, quiet=as_json)
    if as_json:
        emit(result, True)
    else:
        _print_summary(result)
    raise click.exceptions.Exit(exit_code(result))


def exit_code(result: dict[str, Any]) -> int:
    """0: the workflow succeeded with no failed image; 3: some images failed, others are done;
    1: the workflow failed and nothing was done by this run."""
    if result["status"] == "SUCCEEDED" and not result["failed"]:
        return EXIT_OK
    if result["failed"] and result["done"] + result["skipped"] > 0:
        return EXIT_PARTIAL
    return EXIT_FAILED


def process_plate(main: click.Group) -> None:
    """Install `bioims process-plate`, keeping the service's API methods as its subcommands."""
    group = ProcessPlateGroup(
        "process-plate",
        help="PLATE_ID: compute flat fields, then the ROIs of every image (progress bar, summary).\n\n"
        "METHOD: call a process-plate service method (uploadSourcePlate, processPlate, describeExecution).",
    )
    existing = main.commands.get("process-plate")
    if isinstance(existing, click.Group):
        for name, command in existing.commands.items():
            group.add_command(command, name)
    group.add_command(RUN)
    main.add_command(group)
