"""`bioims bbbc021 ingest DIR` killed (kill -9 of its process group) at write boundaries, then
run again: the re-run completes the plates, and the final rows and objects equal those of an
uninterrupted ingest."""

from __future__ import annotations

import pytest

from tests.support.crash import KILLED, bioims, state, temporaries


@pytest.fixture(scope="module")
def clean_state(bbbc021_copy, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("clean")
    done = bioims(home, "bbbc021", "ingest", str(bbbc021_copy))
    assert done.returncode == 0, done.stderr + done.stdout
    return state(home)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    [
        "thumbnail-written@3",  # during thumbnails, after the plate validated (issue 14 item 1)
        "plate-rows-written",  # rows written, the upload marker not yet complete
        "tag-number-taken@5",  # numbering: a tag id reserved, nothing else written (all steps: test_numbering_crash)
    ],
)
def test_killed_ingest_is_completed_by_the_rerun(fault, bbbc021_copy, clean_state, tmp_path):
    home = tmp_path / "home"
    killed = bioims(home, "bbbc021", "ingest", str(bbbc021_copy), fault=fault)
    assert killed.returncode == KILLED, killed.stderr + killed.stdout
    rerun = bioims(home, "bbbc021", "ingest", str(bbbc021_copy))
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    if fault.startswith("thumbnail"):  # the killed plate is resumed, not "already uploaded"
        assert "Week1_22123: resumed" in rerun.stdout, rerun.stdout
        again = bioims(home, "bbbc021", "ingest", str(bbbc021_copy))
        assert again.stdout.count("already uploaded") == 2, again.stdout
    final = state(home)
    assert final["objects"] == clean_state["objects"]
    assert final["rows"] == clean_state["rows"]
    assert temporaries(home) == []


EMBEDDING = {
    "embeddingName": "tiny",
    "inputWidth": 80,
    "inputHeight": 64,
    "inputChannels": 3,
    "roiWidth": 32,
    "roiHeight": 32,
    "network": "bioims-resnet",
    "embeddingVectorLength": 32,
}


def _ingested_home(root, bbbc021_copy) -> dict[str, str]:
    """An ingested home with the embedding; returns plateSourceId -> plateId."""
    from bioims.services.api import handle_json
    from tests.support.backends import local_context

    done = bioims(root, "bbbc021", "ingest", str(bbbc021_copy))
    assert done.returncode == 0, done.stderr
    ctx = local_context(root)
    response = handle_json(ctx.service("training-configuration"), {"method": "createEmbedding", "embedding": EMBEDDING})
    assert response["statusCode"] < 300, response
    return {r["plateSourceId"]: r["imageId"][len("plate#") :] for r in ctx.service("image-management").plates()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    [
        "rois-written@3",
        "flat-field-written@2",  # one channel's flat field written and registered, the others not
    ],
)
def test_killed_process_plate_is_completed_by_the_rerun(fault, bbbc021_copy, tmp_path):
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for home in (clean, crashed):
        plates = _ingested_home(home, bbbc021_copy)
        for source, plate_id in sorted(plates.items()):
            if home == crashed and source == "Week1_22123":
                killed = bioims(home, "process-plate", plate_id, "--embedding", "tiny", fault=fault)
                assert killed.returncode == KILLED, killed.stderr + killed.stdout
                _assert_running_executions_are_failed(home)
            run = bioims(home, "process-plate", plate_id, "--embedding", "tiny", "--json")
            assert run.returncode == 0, run.stderr + run.stdout
    after_crash, uninterrupted = state(crashed), state(clean)
    assert after_crash["objects"] == uninterrupted["objects"]
    for table, rows in uninterrupted["rows"].items():
        assert after_crash["rows"][table] == rows, table
    assert temporaries(crashed) == []


def _assert_running_executions_are_failed(home) -> None:
    """The killed command's executions were left RUNNING; describeExecution reports them FAILED."""
    from bioims import tables
    from bioims.services.api import handle_json
    from tests.support.backends import local_context

    ctx = local_context(home)
    running = [r["executionArn"] for r in ctx.stores.table(tables.EXECUTION).scan_all() if r.get("status") == "RUNNING"]
    assert running
    for arn in running:
        described = handle_json(ctx.service("process-plate"), {"method": "describeExecution", "executionArn": arn})[
            "body"
        ]
        assert (described["status"], described["error"]) == ("FAILED", "OwnerDied"), described
