"""evaluate(): the JSON contract, null metrics with reasons, and agreement with the parts."""

from __future__ import annotations

import json

import pytest

from bioims.evaluation import compound_vote, evaluate, mean_average_precision, nsc, nscb, summary_only

from .synthetic import synthetic_images, synthetic_wells


def test_well_profiles_at_treatment_level():
    wells = synthetic_wells(1, noise=1.2)
    metrics = evaluate(wells, n_boot=200)
    json.dumps(metrics, allow_nan=False)
    for key in ("nsc", "nscb"):
        assert set(metrics[key]) >= {"correct", "total", "accuracy", "ci_low", "ci_high"}
        assert metrics[key]["ci_low"] <= metrics[key]["accuracy"] <= metrics[key]["ci_high"]
    assert (metrics["nsc"]["correct"], metrics["nsc"]["total"]) == (nsc(wells).correct, nsc(wells).total)
    assert (metrics["nscb"]["correct"], metrics["nscb"]["total"]) == (nscb(wells).correct, nscb(wells).total)
    assert metrics["map"] == pytest.approx(mean_average_precision(wells).value)
    assert metrics["compound_vote"] is None
    assert any("compound vote not computed" in n for n in metrics["notes"])
    confusion = metrics["confusion"]["nsc"]
    assert sum(map(sum, confusion["matrix"])) == metrics["nsc"]["total"]
    diagonal = sum(confusion["matrix"][i][i] for i in range(len(confusion["labels"])))
    assert diagonal == metrics["nsc"]["correct"]
    assert len(metrics["queries"]["nsc"]) == metrics["nsc"]["total"]


def test_image_profiles_get_the_compound_vote():
    images = synthetic_images(0, sites=2, noise=1.2)
    metrics = evaluate(images, "well", n_boot=100, k=5)
    vote = compound_vote(images, k=5)
    assert metrics["compound_vote"]["correct"] == vote.correct
    assert metrics["compound_vote"]["total"] == vote.total == 10
    assert len(metrics["compound_vote"]["per_compound"]) == 10
    summary = summary_only(metrics)
    assert "queries" not in summary and "per_compound" not in summary["compound_vote"]


def test_without_batches_nscb_is_null_with_a_reason():
    wells = synthetic_wells(0)
    wells["Metadata_Plate"] = "plate-" + wells["Metadata_Plate"]
    metrics = evaluate(wells, n_boot=50)
    assert metrics["nscb"] is None
    assert any(n.startswith("NSCB not computed") and "Metadata_Batch" in n for n in metrics["notes"])
    assert metrics["nsc"]["total"] == 20
