"""Plate processing as a user runs it: the CLI summary, the Batch entry points in a process with
only the container's packages, and a run killed half way then completed by a re-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.backends import installed, local_context
from tests.unit.imaging.plates import EMBEDDING, by_source, call, data_files, setup_plate

ROOT = Path(__file__).resolve().parents[3]
# Packages the imaging job images do not install (batch_jobs/Dockerfile.*): importing one fails.
NOT_IN_JOB_IMAGE = ("torch", "pandas", "sklearn", "faiss", "matplotlib", "copairs", "pyarrow", "click", "rich", "moto")


def _env(home: Path, workers: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {"BIOIMS_HOME": str(home), "BIOIMS_BACKEND": "local", "BIOIMS_WORKERS": str(workers), "PYTHONPATH": str(ROOT)}
    )
    return env


def test_cli_prints_done_skipped_and_failed_with_reasons(tmp_path, monkeypatch):
    from bioims.cli.main import main_group

    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    ctx = local_context(tmp_path / "home", memory_queues=True)
    with installed(ctx):
        info = setup_plate(ctx, tmp_path / "src", 5, corrupt=2)
        runner = CliRunner()
        first = runner.invoke(main_group, ["process-plate", info["plateId"], "--json"])
        assert first.exit_code == 3, first.output  # partly failed: one image failed, the rest is done
        summary = json.loads(first.output)
        assert (summary["status"], summary["images"], summary["done"], summary["skipped"]) == ("SUCCEEDED", 5, 4, 0)
        assert [f["imageSourceId"] for f in summary["failed"]] == ["field-02"]
        assert "failed inspection" in summary["failed"][0]["error"] and summary["rois"] > 0
        second = runner.invoke(main_group, ["process-plate", info["plateId"], "--embedding", EMBEDDING])
        assert second.exit_code == 3, second.output
        assert "failed inspection" in second.output and "SUCCEEDED" in second.output
        again = json.loads(runner.invoke(main_group, ["process-plate", info["plateId"], "--json"]).output)
        assert (again["done"], again["skipped"], len(again["failed"]), again["rois"]) == (0, 4, 1, summary["rois"])
        unknown = runner.invoke(main_group, ["process-plate", "NoSuchPlate"])
        assert unknown.exit_code == 1 and "does not exist" in unknown.output


def test_batch_entry_points_run_with_the_job_images_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    home = tmp_path / "home"
    ctx = local_context(home, memory_queues=True)
    with installed(ctx):
        info = setup_plate(ctx, tmp_path / "src", 3)
    blocker = f"import sys, runpy; [sys.modules.__setitem__(m, None) for m in {NOT_IN_JOB_IMAGE!r}]; "

    def run(module: str, *args: str) -> subprocess.CompletedProcess:
        code = blocker + f"sys.argv = ['{module}', *{list(args)!r}]; runpy.run_module('{module}', run_name='__main__')"
        return subprocess.run(
            [sys.executable, "-c", code], env=_env(home, 1), capture_output=True, text=True, timeout=120, cwd=ROOT
        )

    plate = run(
        "batch_jobs.plate_preprocessing", "--plateId", info["plateId"], "--region", "us-east-1", "--bucket", "ignored"
    )
    assert plate.returncode == 0, plate.stderr
    assert json.loads(plate.stdout)["computed"] == ["dapi", "tubulin", "actin"]
    image_id = info["images"]["field-00"]
    image = run(
        "batch_jobs.image_preprocessing",
        "--imageId",
        image_id,
        "--embeddingName",
        EMBEDDING,
        "--plateId",
        info["plateId"],
    )
    assert image.returncode == 0, image.stderr
    assert json.loads(image.stdout)["status"] == "done"
    again = run(
        "batch_jobs.image_preprocessing",
        "--imageId",
        image_id,
        "--embeddingName",
        EMBEDDING,
        "--plateId",
        info["plateId"],
    )
    assert json.loads(again.stdout)["status"] == "skipped"
    bad = run(
        "batch_jobs.image_preprocessing",
        "--imageId",
        "nope",
        "--embeddingName",
        EMBEDDING,
        "--plateId",
        info["plateId"],
    )
    assert bad.returncode == 1 and json.loads(bad.stderr)["error"] == "NotFound"
    missing = run("batch_jobs.image_preprocessing", "--imageId", image_id)
    assert missing.returncode == 2 and "--embeddingName" in missing.stderr


@pytest.mark.slow
def test_killed_run_completes_on_rerun_with_byte_identical_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    source = tmp_path / "src"
    killed_home, clean_home = tmp_path / "killed", tmp_path / "clean"
    infos = {}
    for home in (killed_home, clean_home):
        ctx = local_context(home, memory_queues=True)
        with installed(ctx):
            infos[home] = setup_plate(ctx, source if home == killed_home else tmp_path / "src2", 12)

    # Run the plate in a separate process group with a pool of 2 workers; kill it all at the first ROI set.
    plate_id = infos[killed_home]["plateId"]
    code = (
        "from bioims import context; from bioims.services.api import handle_json; "
        "handle_json(context.get().service('process-plate'), {'method': 'processPlate', 'plateId': "
        f"'{plate_id}', 'embeddingName': '{EMBEDDING}'}})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=_env(killed_home, 2),
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data_root = killed_home / "objects" / "bioims-data"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and not list(data_root.rglob("*-roi.json")):
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.002)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    complete = len(list(data_root.rglob("*-roi.json")))
    assert 1 <= complete < 12, complete

    for home in (killed_home, clean_home):
        ctx = local_context(home, memory_queues=True)
        with installed(ctx):
            result = call(ctx, "process-plate", "processPlate", plateId=infos[home]["plateId"], embeddingName=EMBEDDING)
            assert result["status"] == "SUCCEEDED"
            infos[home]["files"] = by_source(data_files(ctx), infos[home]["images"], infos[home]["plateId"])
    killed, clean = infos[killed_home]["files"], infos[clean_home]["files"]
    assert sum(k.endswith("-roi.json") for k in clean) == 12
    assert sorted(killed) == sorted(clean)
    assert all(killed[k] == clean[k] for k in clean if "describe-stacks" not in k)
