"""A training's embeddings read through the clients on the local backend, and `bioims report`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import bioims
from bioims import context
from bioims.cli.evaluate import report as report_command
from bioims.evaluation import EvaluationError, evaluate
from bioims.evaluation.annotations import annotate
from bioims.reports.profiles import left_out_trainings, training_profiles

from .screen import FEATURES, embed, upload
from .synthetic import synthetic_images


@pytest.fixture
def screen(local_ctx):
    images = synthetic_images(0, sites=2, noise=1.2)
    plate_ids = upload(local_ctx, images, with_concentration=True)
    tc = bioims.client("training-configuration")
    tc.createEmbedding({"embeddingName": "emb", "inputWidth": 64, "inputHeight": 48, "inputChannels": 1})
    tc.createTraining({"embeddingName": "emb", "trainId": "T1"})
    embed(images, plate_ids, "T1", images[FEATURES].to_numpy(dtype=np.float32))
    return images, plate_ids


def test_profiles_of_a_training_evaluate_like_the_table_they_came_from(screen):
    images, _ = screen
    loaded = training_profiles("T1")
    assert len(loaded) == len(images)
    assert loaded["Metadata_Concentration"].notna().all()
    assert set(loaded["Metadata_Batch"]) == {"Week1", "Week2", "Week3"}
    direct = images.assign(**{f: images[f].astype(np.float32) for f in FEATURES})
    ours = evaluate(loaded, n_boot=50)
    theirs = evaluate(direct, n_boot=50)
    for key in ("nsc", "nscb"):
        assert (ours[key]["correct"], ours[key]["total"]) == (theirs[key]["correct"], theirs[key]["total"])
    assert ours["compound_vote"]["correct"] == theirs["compound_vote"]["correct"]


def test_no_embeddings_is_a_clear_error(screen):
    bioims.client("training-configuration").createTraining({"embeddingName": "emb", "trainId": "T2"})
    with pytest.raises(EvaluationError, match="T2.*no embeddings"):
        training_profiles("T2")


def test_annotations_fill_missing_concentrations():
    profiles = pd.DataFrame(
        {"Metadata_ImageSourceId": ["a", "b"], "Metadata_Concentration": [1.0, None], "e0": [0.1, 0.2]}
    )
    extra = pd.DataFrame(
        {"Metadata_ImageSourceId": ["a", "b"], "Metadata_Concentration": [9.0, 3.0], "Metadata_Control": [False, True]}
    )
    out = annotate(profiles, extra)
    assert out["Metadata_Concentration"].tolist() == [1.0, 3.0]
    assert out["Metadata_Control"].tolist() == [False, True]
    assert list(out.columns)[-1] == "e0"


def test_left_out_trainings_from_filter_keys(screen):
    tc = bioims.client("training-configuration")
    tc.createTraining({"embeddingName": "emb", "trainId": "L1", "filterKey": "train-filter/emb/c1-filter.txt"})
    tc.createTraining({"embeddingName": "emb", "trainId": "L2", "filterKey": "train-filter/emb/c10-filter.txt"})
    assert left_out_trainings("emb", ["c1", "c10", "c2"]) == {"c1": "L1", "c10": "L2"}


def test_report_command(screen, tmp_path):
    result = CliRunner().invoke(
        report_command, ["T1", "--recipe", "none", "--json", "--out", str(tmp_path / "r"), "--bootstrap", "20"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["train_id"] == "T1" and out["nsc"]["total"] == 20 and out["compound_vote"]["total"] == 10
    assert (tmp_path / "r" / "report.md").is_file() and (tmp_path / "r" / "profiles.parquet").is_file()
    published = {
        o.key.rsplit("/", 1)[1] for o in context.get().stores.data.list("artifact/train/T1/report/")
    }  # for the web UI
    assert {"metrics.json", "report.md", "tsne.png"} <= published and "profiles.parquet" not in published
    missing = CliRunner().invoke(report_command, ["nope", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "nope" in missing.output and "Traceback" not in missing.output


def test_report_uses_leave_one_out_trainings_for_the_vote(screen, tmp_path):
    images, plate_ids = screen
    tc = bioims.client("training-configuration")
    for train_id, compound in (("L1", "c1"), ("L3", "c3")):
        tc.createTraining(
            {"embeddingName": "emb", "trainId": train_id, "filterKey": f"train-filter/emb/{compound}-filter.txt"}
        )
        embed(images, plate_ids, train_id, images[FEATURES].to_numpy(dtype=np.float32) * 2.0)
    result = CliRunner().invoke(
        report_command, ["T1", "--recipe", "none", "--json", "--out", str(tmp_path / "r"), "--bootstrap", "20"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["left_out_trainings"] == 2
    assert out["compound_vote"]["total"] == 2
    per_compound = json.loads((tmp_path / "r" / "metrics.json").read_text())["compound_vote"]["per_compound"]
    assert sorted(r["compound"] for r in per_compound) == ["c1", "c3"]


@pytest.mark.aws
def test_profiles_read_the_same_on_the_aws_backend(aws_ctx):
    images = synthetic_images(1, sites=1)
    plate_ids = upload(aws_ctx, images, with_concentration=True)
    tc = bioims.client("training-configuration")
    tc.createEmbedding({"embeddingName": "emb", "inputWidth": 64, "inputHeight": 48, "inputChannels": 1})
    tc.createTraining({"embeddingName": "emb", "trainId": "T1"})
    embed(images, plate_ids, "T1", images[FEATURES].to_numpy(dtype=np.float32))
    loaded = training_profiles("T1").set_index("Metadata_ImageSourceId").loc[images["Metadata_ImageId"]]
    np.testing.assert_array_equal(
        loaded[[f"e{i}" for i in range(10)]].to_numpy(), images[FEATURES].to_numpy(dtype=np.float32)
    )
    assert loaded["Metadata_Compound"].tolist() == images["Metadata_Compound"].tolist()
    assert loaded["Metadata_Concentration"].tolist() == images["Metadata_Concentration"].tolist()
