"""`bioims embed TRAIN_ID [--plate PLATE_ID]`: compute a training's embeddings, with progress.

Every compatible plate (the embedding-compute workflow; locally its plates run in a pool of worker
processes, one plate job each) or one plate; then a per-plate table of embedded images. Re-running
skips images whose ROI embeddings exist. The embedding service's raw methods are
`bioims embedding <method>`.

`bioims embed ID --cellprofiler EMBEDDING` first records ID as a training that needs no
training: CellProfiler measurements (cp-measure) of each ROI of EMBEDDING's plates, embedded,
searched and evaluated like a network's embeddings.
"""

from __future__ import annotations

import time

import click
from rich.table import Table

from bioims import client, context
from bioims.cli.common import EMBEDDING_NAME, ID, CliError, console, emit
from bioims.cli.train import TERMINAL, TrainingObserver, _progress
from bioims.clients import ClientError

POLL_SECONDS = 10.0


def _follow(arn: str, progress, train_id: str) -> dict:
    """AWS: poll the execution; progress = plates whose array file exists."""
    service = client("embedding")
    task = progress.add_task("plates embedded", total=None)
    while True:
        status = service.call("getEmbeddingStatus", trainId=train_id)
        plates = status.get("plates", [])
        progress.update(task, total=max(len(plates), 1), completed=sum(1 for p in plates if p["arrayFile"]))
        described = service.call("describeExecution", executionArn=arn)
        if described["status"] in TERMINAL:
            return described
        time.sleep(POLL_SECONDS)


@click.command("embed")
@click.argument("train_id", type=ID)
@click.option("--plate", "plate_id", type=ID, help="Only this plate.")
@click.option(
    "--cellprofiler",
    "feature_embedding",
    type=EMBEDDING_NAME,
    metavar="EMBEDDING",
    default=None,
    help="Record TRAIN_ID as CellProfiler features of EMBEDDING's ROIs (no training), then embed.",
)
@click.option(
    "--groups",
    default=None,
    help="Comma-separated feature groups with --cellprofiler (default: the fast set; see "
    "bioims.features.cellprofiler).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def embed(
    train_id: str, plate_id: str | None, feature_embedding: str | None, groups: str | None, as_json: bool
) -> None:
    """Embed every image of TRAIN_ID's compatible plates (or of --plate) with its model."""
    if groups and not feature_embedding:
        raise CliError("--groups needs --cellprofiler EMBEDDING")
    ctx = context.get()
    service = client("embedding")
    local = ctx.settings.backend == "local"
    progress = _progress(as_json)
    try:
        if feature_embedding:
            chosen = [g.strip() for g in groups.split(",") if g.strip()] if groups else None
            service.call(
                "createFeatureTraining",
                trainId=train_id,
                embeddingName=feature_embedding,
                **({"groups": chosen} if chosen else {}),
            )
        with progress:
            if local:
                ctx.runtime.observer = TrainingObserver(progress, "embedding")
            if plate_id:
                started = service.call("startComputePlateEmbedding", trainId=train_id, plateId=plate_id, wait=local)
            else:
                started = service.call("startComputeEmbedding", trainId=train_id, wait=local)
            outcome = started if local else _follow(started["executionArn"], progress, train_id)
        status = service.call("getEmbeddingStatus", trainId=train_id)
        described = service.call("describeExecution", executionArn=started["executionArn"])
    except ClientError as exc:
        raise CliError(str(exc)) from None
    result = {
        "trainId": train_id,
        "executionArn": started["executionArn"],
        "status": outcome.get("status"),
        "error": described.get("error"),
        "cause": described.get("cause"),
        "plates": status["plates"],
        "images": sum(p["embeddedImages"] for p in status["plates"]),
        "complete": status["complete"],
    }
    if as_json:
        emit(result, True)
    else:
        table = Table(title=f"embeddings of training {train_id}")
        for column in ("plate", "plateId", "embedded images", "array file"):
            table.add_column(column)
        for plate in status["plates"]:
            table.add_row(
                plate["plateSourceId"],
                plate["plateId"],
                str(plate["embeddedImages"]),
                "yes" if plate["arrayFile"] else "no",
            )
        console.print(table)
        if result["status"] == "SUCCEEDED":
            console.print(f"[green]{result['images']} image embeddings[/green] ({result['executionArn']})")
        else:
            console.print(f"[red]workflow {result['status']}[/red]: {result['error']}: {result['cause']}")
    if result["status"] != "SUCCEEDED":
        raise click.exceptions.Exit(1)
