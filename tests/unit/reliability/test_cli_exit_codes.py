"""Exit codes through the installed `bioims` console script (issue 14, items 2 and 3).

A failed process-plate, a failed training: the process exits non-zero (before the fix the click
Exit was returned, not raised, under standalone_mode=False, so every failure exited 0). One plate of
three images is ingested once; its runs show 0 (done), 3 (partly failed) and 1 (failed). The same
plate shows that an embedding with its own ROI size never reads the global value, even when the
configuration holds one no image job could use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bioims import tables
from tests.support.tiny_plate import keep_fields, synth_args

SCRIPT = Path(sys.executable).with_name("bioims")


def _bioims(env: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    assert SCRIPT.is_file(), f"{SCRIPT} missing: install the package (pip install -e .)"
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _embedding(env: dict, name: str) -> None:
    spec = {
        "embeddingName": name,
        "inputWidth": 32,
        "inputHeight": 32,
        "inputChannels": 3,
        "roiWidth": 32,
        "roiHeight": 32,
        "minVoxels": 20,
        "segmentationChannel": "dapi",
    }
    done = _bioims(env, "training-configuration", "createEmbedding", "--embedding", json.dumps(spec), "--json")
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """A three-image synthetic plate ingested into a fresh home: (env, source dir, plateId)."""
    root = tmp_path_factory.mktemp("exit-codes")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOIMS_")}
    env.update(BIOIMS_HOME=str(root / "home"), BIOIMS_BACKEND="local", BIOIMS_WORKERS="1")
    source = root / "syn"
    made = _bioims(env, *synth_args(source))
    assert made.returncode == 0, made.stderr
    keep_fields(source, 3)  # three fields keep it fast
    ingested = _bioims(env, "bbbc021", "ingest", str(source), "--json")
    assert ingested.returncode == 0, ingested.stderr
    return env, source, json.loads(ingested.stdout)["plates"][0]["plate_id"]


def _set_raw_configuration(env: dict, key: str, value: str) -> None:
    """Store a value the way an installation from before validation may hold it (no check)."""
    from tests.support.backends import local_context

    ctx = local_context(Path(env["BIOIMS_HOME"]))
    ctx.stores.table(tables.CONFIGURATION).put(
        {"key1": key, "timestamp1": tables.LATEST, "value": value, "createTimestamp": "1"}
    )


def test_partly_failed_plate_exits_3_and_own_roi_size_ignores_a_bad_global(plate):
    env, source, plate_id = plate
    _set_raw_configuration(env, "image-preprocessing-roi-size", "abc")
    try:
        _embedding(env, "own-roi")
        first_row = (source / "BBBC021_v1_image.csv").read_text().splitlines()[1].split(",")
        (source / "Week10_40111" / first_row[2]).unlink()  # one image loses its DAPI file: it fails, two are done
        result = _bioims(env, "process-plate", plate_id, "--embedding", "own-roi", "--json")
    finally:  # the other tests start from a valid configuration
        assert _bioims(env, "configuration", "deleteParameter", "--key", "image-preprocessing-roi-size").returncode == 0
    summary = json.loads(result.stdout)
    assert summary["done"] == 2 and len(summary["failed"]) == 1, summary
    assert "missing" in summary["failed"][0]["error"]
    assert result.returncode == 3, result.stderr


def test_failed_plate_exits_1(plate):
    env, source, plate_id = plate
    _embedding(env, "moved-away")
    shutil.move(source / "Week10_40111", source / "elsewhere")  # every source image moved away
    try:
        result = _bioims(env, "process-plate", plate_id, "--embedding", "moved-away", "--json")
    finally:
        shutil.move(source / "elsewhere", source / "Week10_40111")
    summary = json.loads(result.stdout)
    # the workflow FAILED (no flat field could be made) or every image failed: nothing was done
    assert summary["done"] == 0 and (summary["status"] == "FAILED" or summary["failed"]), summary
    assert result.returncode == 1, result.stderr


def test_failed_training_exits_1(plate):
    env, _, _ = plate
    _embedding(env, "untrainable")  # its inputs match no plate: the training set build fails
    result = _bioims(env, "train", "start", "untrainable", "--json")
    status = json.loads(result.stdout)
    assert status["state"] == "failed" and status["execution"]["status"] == "FAILED"
    assert result.returncode == 1, result.stderr
