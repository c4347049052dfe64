"""The `bioims` entry point (bioims.cli.main.main, with its error handling) on bad input: one-line errors,
exit code 2, nothing done (issue 14, items 3, 4, 7 and 8)."""

from __future__ import annotations

import json
import sys

import click
import pytest
from click.testing import CliRunner

from bioims.cli import main as cli_main
from bioims.cli.common import EXIT_CODES_HELP
from bioims.cli.main import main_group


def _bioims(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["bioims", *argv])
    code = 0
    try:
        cli_main.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _status(monkeypatch, capsys) -> dict:
    code, out, _ = _bioims(["status", "--json"], monkeypatch, capsys)
    assert code == 0
    return json.loads(out)


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    return " ".join(lines)


def _all_commands(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _all_commands(sub, (*path, name))


def test_every_command_documents_its_exit_codes():
    commands = list(_all_commands(main_group))
    assert len(commands) > 100
    for path, _ in commands:
        result = CliRunner().invoke(main_group, [*path, "--help"], terminal_width=1000)
        assert result.exit_code == 0, path
        assert "Exit codes: 0 done; 1 failed" in result.output and "3 partly failed" in result.output, path
    assert "2 usage error" in EXIT_CODES_HELP


def test_a_returned_exit_code_is_the_process_exit_code(monkeypatch, capsys):
    """standalone_mode=False returns a click Exit's code instead of raising it: main passes it on."""

    @click.command("fails-softly")
    def fails_softly() -> None:
        raise click.exceptions.Exit(3)

    main_group.add_command(fails_softly)
    try:
        code, _, _ = _bioims(["fails-softly"], monkeypatch, capsys)
    finally:
        main_group.commands.pop("fails-softly")
    assert code == 3


@pytest.mark.parametrize(
    "key, value, rule",
    [
        ("image-preprocessing-roi-size", "abc", "integer"),
        ("image-preprocessing-roi-size", "-5", ">= 2"),
        ("image-preprocessing-roi-size", "1.5", "integer"),
        ("image-preprocessing-min-voxels", "0", ">= 1"),
        ("image-preprocessing-segmentation-channel", "a b", "channel name"),
        ("default-image-artifact-sizes", "100,x", "integers"),
        ("default-image-artifact-keys", "thumb.gif,medium.png", "file name"),
        ("DefaultTrainId", "../x", "trainId"),
    ],
)
def test_known_configuration_keys_are_validated_when_set(monkeypatch, capsys, key, value, rule):
    before = _status(monkeypatch, capsys)["tables"]
    code, _, err = _bioims(["configuration", "setParameter", "--key", key, "--value", value], monkeypatch, capsys)
    message = _one_line_error(err)
    assert code == 2 and "(400)" in message and key in message and rule in message, message
    assert _status(monkeypatch, capsys)["tables"] == before


def test_valid_configuration_values_are_still_accepted(monkeypatch, capsys):
    for key, value in (
        ("image-preprocessing-roi-size", "96"),
        ("image-preprocessing-min-voxels", "50"),
        ("default-image-artifact-sizes", "50,500,900"),
        ("default-image-artifact-keys", "a.png,b.jpg,c.tif"),
        ("image-preprocessing-segmentation-channel", "tubulin"),
        ("free-form-key", "anything at all"),
    ):
        code, out, err = _bioims(
            ["configuration", "setParameter", "--key", key, "--value", value, "--json"], monkeypatch, capsys
        )
        assert code == 0 and json.loads(out)["value"] == value, err


def test_an_embedding_with_its_own_roi_size_does_not_read_the_global_value(monkeypatch, capsys):
    """A value stored before validation existed ('-5') must neither fail nor leak into an embedding
    that states its own ROI geometry; one that does not is refused instead of storing -5."""
    from bioims import context, tables

    context.get().stores.table(tables.CONFIGURATION).put(
        {"key1": "image-preprocessing-roi-size", "timestamp1": tables.LATEST, "value": "-5", "createTimestamp": "1"}
    )
    spec = {"embeddingName": "own", "inputWidth": 64, "inputHeight": 64, "inputChannels": 3, "roiWidth": 48}
    code, out, err = _bioims(
        ["training-configuration", "createEmbedding", "--embedding", json.dumps(spec), "--json"], monkeypatch, capsys
    )
    assert code == 0, err
    assert json.loads(out)["embedding"]["roiWidth"] == 48 == json.loads(out)["embedding"]["roiHeight"]
    spec = {"embeddingName": "inherits", "inputWidth": 64, "inputHeight": 64, "inputChannels": 3}
    code, _, err = _bioims(
        ["training-configuration", "createEmbedding", "--embedding", json.dumps(spec)], monkeypatch, capsys
    )
    assert code == 2 and "roiWidth" in _one_line_error(err)
    code, out, _ = _bioims(["training-configuration", "listEmbeddings", "--json"], monkeypatch, capsys)
    assert [e["embeddingName"] for e in json.loads(out)["embeddings"]] == ["own"]


def test_bad_option_values_are_one_line_usage_errors(monkeypatch, capsys, tmp_path):
    before = _status(monkeypatch, capsys)["tables"]
    not_json = tmp_path / "label.json"
    not_json.write_text("DMSO, not JSON\n")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 3000 + "]" * 3000)
    cases = [
        (["label", "createLabel", "--category", "moa", "--label", f"@{not_json}"], "is not JSON"),
        (["tag", "createTags", "--tagValues", f"@{deep}"], "nested deeper"),
        (["tag", "createTags", "--tagValues", "[" * 3000 + "]" * 3000], "nested deeper"),
        (["search", "deleteTraining", "--trainId", "../../../../usr/"], "'trainId'"),
        (["train", "train", "--embeddingName", "e", "--filterKey", "../../etc/passwd"], "'filterKey'"),
        (["artifact", "createDescribeStacksArtifact", "--contextId", "../../x", "--trainId", "origin"], "'contextId'"),
        (["artifact", "deleteArtifacts", "--contextId", "plateA", "--trainId", "x#t"], "'trainId'"),
        (["train", "start", "a/b"], "not a valid embedding name"),
        (["train", "start", "with space"], "not a valid embedding name"),
        (["process-plate", "plate/../x"], "not a valid id"),
        (["bbbc021", "ingest", str(tmp_path), "--embedding", "../x"], "not a valid embedding name"),
        (["walkthrough", "--embedding-name", "a b"], "not a valid embedding name"),
    ]
    for argv, expected in cases:
        code, _, err = _bioims(argv, monkeypatch, capsys)
        message = _one_line_error(err)
        assert code == 2 and expected in message, (argv, code, message)
    assert _status(monkeypatch, capsys)["tables"] == before


def test_an_unexpected_fault_is_one_line_and_debug_shows_the_trace(monkeypatch, capsys):
    @click.command("faulty")
    def faulty() -> None:
        {}["missing"]

    monkeypatch.setenv("BIOIMS_DEBUG", "")  # --debug sets it in the process: restore it afterwards
    main_group.add_command(faulty)
    try:
        code, _, err = _bioims(["faulty"], monkeypatch, capsys)
        assert code == 1 and "KeyError" in _one_line_error(err) and "--debug" in err
        code, _, err = _bioims(["--debug", "faulty"], monkeypatch, capsys)
        assert code == 1 and "Traceback" in err
        monkeypatch.setenv("BIOIMS_DEBUG", "")
        code, _, err = _bioims(["faulty"], monkeypatch, capsys)
        assert code == 1 and "Traceback" not in err
        monkeypatch.setenv("BIOIMS_DEBUG", "1")
        code, _, err = _bioims(["faulty"], monkeypatch, capsys)
        assert code == 1 and "Traceback" in err
    finally:
        main_group.commands.pop("faulty")
