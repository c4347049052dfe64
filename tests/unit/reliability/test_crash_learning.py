"""Training and embedding killed (kill -9 of the command's process group, training subprocess
included) at write boundaries: the dead execution is reported FAILED at once (not RUNNING
forever), the training's status says failed, and resuming ends in exactly the state of an
uninterrupted run (same weights, same embedding rows and files)."""

from __future__ import annotations

import hashlib
import json

import pytest

from bioims import keys, tables
from tests.support.backends import installed, local_context
from tests.support.crash import KILLED, service_call, temporaries
from tests.unit.learning.service_screen import EMBEDDING, call, setup_screen

# Times, and the digest of a manifest that names its trainId.
TIMES = {"createTimestamp", "trainingSeconds", "manifestDigest"}


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    ctx = local_context(home)
    with installed(ctx):
        setup_screen(ctx)
    return home


def _training_objects(ctx, train_id: str) -> dict[str, str]:
    """Objects a training owns (model, card, training set, embeddings), keys with the id replaced."""
    found = {}
    for info in ctx.stores.data.list(""):
        if train_id in info.key and "/checkpoint" not in info.key and "/output/" not in info.key:
            data = ctx.stores.data.get_bytes(info.key)
            if info.key.endswith(".json"):  # documents name their training and when they were made
                document = json.loads(data.decode().replace(train_id, "<train>"))
                data = json.dumps(_timeless(document), sort_keys=True).encode()
            found[info.key.replace(train_id, "<train>")] = hashlib.sha256(data).hexdigest()
    return found


def _timeless(value):
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _train_rows(ctx, train_id: str) -> list[dict]:
    rows = [r for r in ctx.stores.table(tables.IMAGE_MANAGEMENT).scan_all() if r.get("trainId") == train_id]
    return sorted(
        (
            {k: v for k, v in r.items() if k not in ("createTimestamp", "trainId", "trainPlateId", "roiEmbeddingKey")}
            for r in rows
        ),
        key=repr,
    )


@pytest.mark.slow
def test_killed_training_is_failed_then_resumed_to_the_uninterrupted_result(home):
    ctx = local_context(home)
    killed = service_call(home, "train", "train", embeddingName=EMBEDDING, fault="checkpoint-saved", timeout=300)
    assert killed.returncode == KILLED, killed.stdout + killed.stderr
    with installed(ctx):
        (training,) = ctx.service("training-configuration").trainings(EMBEDDING)
        train_id = training["trainId"]
        status = call(ctx, "train", "getTrainingStatus", trainId=train_id)
        assert status["state"] == "failed", status
        assert status["execution"]["status"] == "FAILED" and status["execution"]["error"] == "OwnerDied"
        assert "run the same command again" in status["execution"]["cause"]
        assert status["job"]["TrainingJobStatus"] == "Failed"
        described = call(ctx, "embedding", "describeExecution", executionArn=training["executionArn"])
        assert described["status"] == "FAILED" and described["stopDate"]

        resumed = call(ctx, "train", "resumeTraining", trainId=train_id)
        assert resumed["status"] == "SUCCEEDED", (resumed.get("error"), resumed.get("cause"))
        assert (
            "resumed at epoch"
            in (
                ctx.settings.objects_root / "bioims-data" / keys.training_prefix(train_id) / "output" / "training.log"
            ).read_text()
        )
        clean = call(ctx, "train", "train", embeddingName=EMBEDDING)
        assert clean["status"] == "SUCCEEDED"
        assert _training_objects(ctx, train_id) == _training_objects(ctx, clean["trainId"])

        # Embedding, killed after the first plate's arrays were written and before its rows.
        killed = service_call(
            home, "embedding", "startComputeEmbedding", trainId=train_id, fault="plate-embeddings-written", timeout=300
        )
        assert killed.returncode == KILLED, killed.stdout + killed.stderr
        assert call(ctx, "embedding", "getEmbeddingStatus", trainId=train_id)["complete"] is False
        assert call(ctx, "embedding", "startComputeEmbedding", trainId=train_id)["status"] == "SUCCEEDED"
        assert call(ctx, "embedding", "startComputeEmbedding", trainId=clean["trainId"])["status"] == "SUCCEEDED"
        assert _train_rows(ctx, train_id) == _train_rows(ctx, clean["trainId"])
        assert _training_objects(ctx, train_id) == _training_objects(ctx, clean["trainId"])
    assert temporaries(home) == []
