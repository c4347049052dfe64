"""`bioims train ...` and `bioims embed ...` on the local backend: real trainings and embeddings
through the services, progress rendered from the training job's lines, JSON summaries, errors
without stack traces."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bioims.cli.main import main_group
from bioims.cli.train import describe_progress
from tests.unit.learning.service_screen import EMBEDDING, screen_fixture  # noqa: F401 - the `screen` fixture


def run(*args: str):
    return CliRunner().invoke(main_group, list(args), catch_exceptions=False)


def test_train_start_status_list_and_embed(screen):
    ctx, plates = screen
    started = run("train", "start", EMBEDDING, "--json")
    assert started.exit_code == 0, started.output
    status = json.loads(started.output.strip().splitlines()[-1])
    assert status["state"] == "trained" and status["trainingSummary"]["epochsCompleted"] == 1
    train_id = status["trainId"]
    shown = run("train", "status", train_id)
    assert shown.exit_code == 0 and "trained" in shown.output and "epoch 1/1" in shown.output
    listed = json.loads(run("train", "list", EMBEDDING, "--json").output)
    assert [t["trainId"] for t in listed] == [train_id]
    embedded = run("embed", train_id, "--json")
    assert embedded.exit_code == 0, embedded.output
    result = json.loads(embedded.output.strip().splitlines()[-1])
    assert result["status"] == "SUCCEEDED" and result["complete"]
    assert result["images"] == sum(
        1 for rows in plates.values() for r in rows if not r["imageSourceId"].endswith("-0-1")
    )
    raw = run("train", "getTrainingStatus", "--trainId", train_id, "--json")  # the service method, as is
    assert json.loads(raw.output)["state"] == "embedded"


def test_errors_are_messages_and_failed_trainings_exit_1(screen):
    ctx, plates = screen
    missing = run("train", "start", "no-such-embedding")
    assert missing.exit_code == 1 and "embedding 'no-such-embedding' does not exist" in missing.output
    everything = [r["imageId"] for rows in plates.values() for r in rows]
    ctx.stores.resource_bucket.put_bytes("train-filter/all.txt", "\n".join(everything).encode())
    failed = run("train", "start", EMBEDDING, "--filter-key", "train-filter/all.txt")
    assert failed.exit_code == 1 and "failed" in failed.output and "is empty" in failed.output


def test_progress_lines_read_as_a_bar():
    text, done, total = describe_progress(
        {
            "event": "minibatch",
            "epoch": 2,
            "epochs": 3,
            "minibatch": 50,
            "minibatches": 200,
            "loss": 1.25,
            "metrics": {},
            "eta_s": 125.0,
        }
    )
    assert (done, total) == (250, 600) and text == "epoch 2/3, loss 1.2500, ETA 2:05"
    text, done, total = describe_progress(
        {
            "event": "done",
            "epoch": 3,
            "epochs": 3,
            "minibatch": 200,
            "minibatches": 200,
            "loss": 0.5,
            "metrics": {"val_knn_accuracy": 0.75},
            "best_epoch": 2,
        }
    )
    assert (done, total) == (600, 600) and text == "epoch 3/3, loss 0.5000, val_knn_accuracy 0.7500, best epoch 2"
