"""A tiny walkthrough end to end on the local backend (2 synthetic plates, small images, a short
training, 2 leave-one-compound-out models), checked for real results, then interrupted and
resumed: finished steps are not redone and the results are the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bioims
from bioims.walkthrough import Reporter, Walkthrough, WalkthroughOptions
from tests.support.backends import installed, local_context

TINY = {
    "n_plates": 2,
    "fields_per_well": 1,
    "height": 128,
    "width": 160,
    "cell_scale": 0.5,
    "nsc": "2",
    "hyperparameters": {"epochs": 1, "minibatches_per_epoch": 8, "validation_max_rois": 200},
}


class Recorder(Reporter):
    def __init__(self):
        self.finished: dict[str, bool] = {}

    def step_finished(self, name, seconds, skipped, summary):
        self.finished[name] = skipped


def _run(home: Path, out: Path, reporter: Reporter, **extra) -> dict:
    ctx = local_context(home)
    with installed(ctx):
        return Walkthrough(WalkthroughOptions(out=out, **TINY, **extra), reporter, ctx).run()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    home = tmp_path_factory.mktemp("walkthrough")
    reporter = Recorder()
    summary = _run(home / "home", home / "out", reporter)
    return home, summary, reporter


def test_every_step_ran(finished):
    _, summary, reporter = finished
    assert list(reporter.finished) == [
        "data",
        "configure",
        "embedding",
        "ingest",
        "process",
        "train-baseline",
        "embed-baseline",
        "search",
        "train-nsc",
        "embed-nsc",
        "untrained",
        "embed-cellprofiler",
        "field-statistics",
        "evaluate",
        "example-search",
    ]
    assert not any(reporter.finished.values())


def test_every_image_processed_and_embedded(finished):
    home, summary, _ = finished
    assert summary["plates"] == 2 and summary["images"] == 120
    assert summary["processed"]["done"] == 120 and summary["processed"]["failed"] == 0
    assert summary["processed"]["rois"] > 120
    ctx = local_context(home / "home")
    with installed(ctx):
        management = bioims.client("image-management")
        for plate in management.listPlates():
            rows = management.getImagesByPlateId(plate["plateId"])
            with_rois = {r["imageId"] for r in rows if (r.get("roiStatus#bbbc021") or {}).get("roiCount", 0) > 0}
            embedded = {
                r["imageId"]
                for r in management.getImagesByPlateIdAndTrainId(plate["plateId"], summary["baselineTrainId"])
            }
            assert with_rois and embedded == with_rois
            for train_id in summary["nscTrainings"].values():
                left_out = {r["imageId"] for r in management.getImagesByPlateIdAndTrainId(plate["plateId"], train_id)}
                assert left_out == with_rois


def test_search_returns_neighbours_from_other_compounds(finished):
    _, summary, _ = finished
    example = summary["exampleSearch"]
    assert len(example["hits"]) == 10
    assert all(hit["compound"] not in (example["query"]["compound"], "DMSO") for hit in example["hits"])
    assert all(hit["moa"] for hit in example["hits"])  # require-MOA: only annotated images
    distances = [hit["distance"] for hit in example["hits"]]
    assert distances == sorted(distances)


def test_report_files_and_complete_metrics(finished):
    home, summary, _ = finished
    report = Path(summary["report"])
    folder = report.parent
    assert report.is_file() and (folder / "metrics.json").is_file() and list(folder.glob("*.png"))
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("nsc", "nscb", "map", "compound_vote", "nsc_left_out", "nscb_left_out", "confusion", "notes"):
        assert key in metrics, key
    assert metrics["nsc"]["total"] > 0 and 0 <= metrics["nsc"]["accuracy"] <= 1
    assert metrics["left_out_trainings"] == 2
    on_disk = json.loads(Path(summary["summaryFile"]).read_text())
    assert on_disk["metrics"]["nsc"] == summary["metrics"]["nsc"]
    assert set(on_disk["stepSeconds"]) == set(summary["stepSeconds"])


def test_every_method_side_by_side(finished):
    """metrics.json "methods": the trained network, its untrained copy, the CellProfiler features
    and the field-statistics baseline, on the same queries, none dropped; the report shows them."""
    home, summary, _ = finished
    folder = Path(summary["report"]).parent
    methods = json.loads((folder / "metrics.json").read_text())["methods"]
    kinds = {name: m["kind"] for name, m in methods.items()}
    assert kinds == {
        summary["baselineTrainId"]: "network",
        summary["untrainedTrainId"]: "untrained",
        summary["cellprofilerTrainId"]: "cellprofiler",
        "field-statistics": "field-statistics",
    }
    assert {methods[summary["cellprofilerTrainId"]]["recipe"], methods["field-statistics"]["recipe"]} == {"default"}
    totals = {m["nsc"]["total"] for m in methods.values()}
    assert len(totals) == 1 and totals.pop() > 0  # the same queries for every method
    for m in methods.values():
        assert set(m) >= {"nsc", "nscb", "map", "compound_vote"}
        assert m["nsc"]["ci_low"] <= m["nsc"]["accuracy"] <= m["nsc"]["ci_high"]
    # the baseline's own evaluation and its row of the comparison agree
    assert methods[summary["baselineTrainId"]]["nsc"]["correct"] == summary["metrics"]["nsc"]["correct"]
    text = Path(summary["report"]).read_text()
    assert "Every method side by side" in text and all(name in text for name in methods)


def test_interrupted_run_continues_without_redoing_finished_steps(finished, tmp_path, monkeypatch):
    _, summary, _ = finished
    home, out = tmp_path / "home", tmp_path / "out"

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt("simulated interruption")

    original = Walkthrough.train_nsc
    monkeypatch.setattr(Walkthrough, "train_nsc", crash)
    with pytest.raises(KeyboardInterrupt):
        _run(home, out, Recorder())
    monkeypatch.setattr(Walkthrough, "train_nsc", original)
    resumed = Recorder()
    again = _run(home, out, resumed)
    done_before = ["data", "configure", "embedding", "ingest", "process", "train-baseline", "embed-baseline", "search"]
    assert all(resumed.finished[name] for name in done_before)
    assert not any(resumed.finished[name] for name in ("train-nsc", "embed-nsc", "evaluate", "example-search"))
    # the same data, model and evaluation as the uninterrupted run (seeded, deterministic)
    assert again["training"]["validationBest"] == summary["training"]["validationBest"]
    for name in ("nsc", "nsc_left_out"):
        first, second = summary["metrics"][name], again["metrics"][name]
        assert (second["correct"], second["total"]) == (first["correct"], first["total"])
        assert second["chance"] == pytest.approx(first["chance"], rel=1e-12)  # summation order only
    assert [h["imageSourceId"] for h in again["exampleSearch"]["hits"]] == [
        h["imageSourceId"] for h in summary["exampleSearch"]["hits"]
    ]
    # and a third run redoes nothing
    third = Recorder()
    _run(home, out, third)
    assert all(third.finished.values())


def test_the_original_clients_read_the_walkthrough(finished):
    """TrainClient, EmbeddingClient, SearchClient and ProcessPlateClient with the original's names."""
    home, summary, _ = finished
    ctx = local_context(home / "home")
    with installed(ctx):
        trainings = bioims.client("train").listTrainings("bbbc021")
        assert len(trainings) == 5 and all(t["state"] == "embedded" for t in trainings)
        assert sorted(t.get("kind") or "network" for t in trainings) == [
            "cellprofiler",
            "network",
            "network",
            "network",
            "untrained",
        ]
        baseline = bioims.client("train").getTrainingStatus(summary["baselineTrainId"])
        assert baseline["state"] == "embedded" and baseline["compound"] == ""
        status = bioims.client("embedding").getEmbeddingStatus(summary["baselineTrainId"])
        assert status["complete"] and len(status["plates"]) == 2
        query = summary["exampleSearch"]["query"]["imageId"]
        answer = bioims.client("search").searchByImageId(summary["baselineTrainId"], query, maxHits=3)
        assert answer["status"] == "completed" and len(answer["hits"]) == 3
        assert query not in [h["imageId"] for h in answer["hits"]]
        stored = bioims.client("search").getSearchResults(answer["searchId"])
        assert stored["hits"] == answer["hits"]
        execution = bioims.client("process-plate").describeExecution(baseline["executionArn"])
        assert execution["status"] == "SUCCEEDED" and execution["ExecutionArn"] == baseline["executionArn"]


def test_the_walkthrough_command_prints_the_summary(finished, monkeypatch):
    """The CLI on a finished home: every step is skipped and the summary tables are printed."""
    from click.testing import CliRunner

    from bioims import context
    from bioims.cli.main import main_group

    home, summary, _ = finished
    monkeypatch.setenv("BIOIMS_HOME", str(home / "home"))
    context.reset()
    args = [
        "walkthrough",
        "--n-plates",
        "2",
        "--size",
        "128x160",
        "--nsc",
        "2",
        "--out",
        str(home / "out"),
        "--hyperparameter",
        "epochs=1",
        "--hyperparameter",
        "minibatches_per_epoch=8",
        "--hyperparameter",
        "validation_max_rois=200",
    ]
    result = CliRunner().invoke(main_group, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "skipped (done before)" in result.output and "done in" not in result.output
    assert "MOA prediction of unseen compounds" in result.output
    assert "Every method side by side" in result.output and "field-statistics" in result.output
    assert summary["exampleSearch"]["hits"][0]["compound"] in result.output
