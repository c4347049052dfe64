"""`bioims evaluate`: JSON output, report folder, clear errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bioims.cli.evaluate import evaluate as evaluate_command
from bioims.evaluation import compound_vote, mean_average_precision, nsc, nscb
from bioims.profiling import write_profiles

from .synthetic import synthetic_images, synthetic_wells


def test_json_output(tmp_path):
    wells = synthetic_wells(2, noise=1.2)
    path = write_profiles(wells, tmp_path / "wells.parquet")
    result = CliRunner().invoke(evaluate_command, [str(path), "--json", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"nsc", "nscb", "map", "compound_vote"} <= set(out)
    assert (out["nsc"]["correct"], out["nsc"]["total"]) == (nsc(wells).correct, nsc(wells).total)
    assert (out["nscb"]["correct"], out["nscb"]["total"]) == (nscb(wells).correct, nscb(wells).total)
    assert out["compound_vote"] is None


def test_json_output_of_image_profiles_has_every_metric(tmp_path):
    images = synthetic_images(0, sites=2, noise=1.2)
    path = write_profiles(images, tmp_path / "images.csv")
    result = CliRunner().invoke(evaluate_command, [str(path), "--json", "--bootstrap", "20", "--k", "5"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["nsc"]["correct"], out["nsc"]["total"]) == (nsc(images).correct, nsc(images).total)
    assert (out["nscb"]["correct"], out["nscb"]["total"]) == (nscb(images).correct, nscb(images).total)
    assert abs(out["map"] - mean_average_precision(images).value) < 1e-9
    vote = compound_vote(images, k=5)
    assert (out["compound_vote"]["correct"], out["compound_vote"]["total"]) == (vote.correct, vote.total)


def test_report_and_well_level(tmp_path):
    path = write_profiles(synthetic_wells(0), tmp_path / "wells.csv.gz")
    result = CliRunner().invoke(
        evaluate_command, [str(path), "--level", "well", "--json", "--report", str(tmp_path / "r"), "--bootstrap", "20"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["level"] == "well" and out["nsc"]["total"] == 44
    assert (tmp_path / "r" / "report.md").is_file() and (tmp_path / "r" / "confusion_nsc.png").is_file()


def test_missing_column_and_missing_file_fail_cleanly(tmp_path):
    path = write_profiles(synthetic_wells(0).drop(columns=["Metadata_moa"]), tmp_path / "wells.csv")
    result = CliRunner().invoke(evaluate_command, [str(path)])
    assert result.exit_code == 1
    assert "Metadata_moa" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(evaluate_command, [str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "no such file" in result.output
