"""`bioims bbbc021 synth | describe | ingest | download` end to end on small inputs."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bioims.bbbc021 import layout
from bioims.cli.main import main_group
from tests.support.tiny_plate import keep_fields, synth_args


def _run(*args: str):
    return CliRunner().invoke(main_group, list(args), catch_exceptions=False)


def test_synth_describe_ingest(tmp_path):
    out = tmp_path / "syn"
    result = _run(*synth_args(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["written"] == summary["fields"] == 60 and summary["plates"] == ["Week10_40111"]
    assert (out / "Week10_40111").is_dir() and (out / layout.IMAGE_CSV).is_file()

    described = json.loads(_run("bbbc021", "describe", str(out), "--json").output)
    assert described["fields"] == 60 and described["platesPresent"] == 1 and described["moas"] == 12

    keep_fields(out, 6)  # six fields keep the test fast
    result = _run("bbbc021", "ingest", str(out), "--json")
    assert result.exit_code == 0, result.output
    ingested = json.loads(result.output)
    assert ingested["plates"][0]["status"] == "uploaded" and ingested["plates"][0]["images"] == 6
    assert ingested["labelCategories"] == {"moa": 13, "compound": 39} and ingested["filterLists"] == 38


def test_errors_exit_with_a_message(tmp_path):
    result = _run("bbbc021", "synth", "--out", str(tmp_path / "a"), "--plates", "Week1_00000", "--size", "64x80")
    assert result.exit_code == 1 and "not in the BBBC021 design" in result.output
    result = _run("bbbc021", "synth", "--out", str(tmp_path / "a"), "--size", "big")
    assert result.exit_code == 1 and "HxW" in result.output
    result = _run("bbbc021", "synth", "--out", str(tmp_path / "a"), "--plates", "Week1_22123", "--n-plates", "2")
    assert result.exit_code == 1 and "not both" in result.output
    result = _run("bbbc021", "ingest", str(tmp_path))
    assert result.exit_code == 1 and "BBBC021_v1_image.csv" in result.output
    result = _run("bbbc021", "ingest", str(tmp_path), "--source", "bucket-without-scheme")
    assert result.exit_code == 1 and "s3://" in result.output
    assert not (tmp_path / "a").exists()


def test_download_command(http_server, tmp_path):
    base_url, state = http_server
    (state.root / layout.IMAGE_CSV).write_text("TableNumber\n1\n")
    (state.root / layout.MOA_CSV).write_text("x\n")
    (state.root / layout.COMPOUND_CSV).write_text("x\n")
    result = _run("bbbc021", "download", "--out", str(tmp_path / "d"), "--base-url", base_url, "--json")
    assert result.exit_code == 1 and "unusable" in result.output
    assert [name for name, _ in state.log] == list(layout.PUBLISHED_CSVS)


def test_download_from_a_local_directory(http_server, tmp_path):
    _, state = http_server
    result = _run(
        "bbbc021", "download", "--out", str(tmp_path / "d"), "--from-dir", str(state.root), "--base-url", "http://x/"
    )
    assert result.exit_code == 1 and "not both" in result.output
    result = _run("bbbc021", "download", "--out", str(tmp_path / "d"), "--from-dir", str(state.root), "--json")
    assert result.exit_code == 1 and f"{state.root / layout.IMAGE_CSV} not found" in result.output
    assert state.log == []
