"""The generic `bioims <service> <method>` commands and `bioims status`, on the local backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bioims.cli import main as cli_main
from bioims.cli.main import main_group
from bioims.services.registry import available_services, service_class


def _run(*args: str):
    return CliRunner().invoke(main_group, list(args), catch_exceptions=False)


def _json(*args: str):
    result = _run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _bioims(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run the console entry point (bioims.cli.main.main, with its error handling) in this process."""
    monkeypatch.setattr(sys, "argv", ["bioims", *argv])
    code = 0
    try:
        cli_main.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_method_of_every_service_is_a_command():
    for service in available_services():
        group = main_group.commands[service]
        assert set(service_class(service).api_methods()) <= set(group.commands), service


def test_status_of_a_fresh_home_then_after_writes(tmp_path):
    home = Path(os.environ["BIOIMS_HOME"])
    assert not home.exists()
    fresh = _json("status")
    assert (
        fresh["backend"] == "local" and fresh["home"] == str(home) and fresh["database"] == str(home / "bioims.sqlite")
    )
    assert set(fresh["tables"]) == {
        "BioimsConfiguration",
        "BioimsLabel",
        "BioimsMessage",
        "BioimsArtifact",
        "BioimsTag",
        "BioimsTrainingConfiguration",
        "BioimsImageManagement",
        "BioimsSearch",
    }
    assert set(fresh["tables"].values()) == {0}
    assert fresh["objects"] == {"bioims-data": {"count": 0, "bytes": 0}, "bioims-resource": {"count": 0, "bytes": 0}}

    assert _json("label", "createCategory", "--category", "moa", "--description", "MOAs")["created"] is True
    assert _json("label", "createLabel", "--category", "moa", "--label", "DMSO")["index"] == 0
    snapshot = _json("artifact", "createDescribeStacksArtifact", "--contextId", "P1", "--trainId", "origin")
    after = _json("status")
    assert after["tables"]["BioimsLabel"] == 3  # category header, label, index marker
    assert after["tables"]["BioimsArtifact"] == 1
    data = after["objects"]["bioims-data"]
    assert data["count"] == 1 and data["bytes"] == (home / "objects" / "bioims-data" / snapshot["key"]).stat().st_size
    human = _run("status")
    assert human.exit_code == 0 and "BioimsLabel" in human.output and "bioims-data" in human.output


def test_parameter_values_are_json_except_for_string_parameters(tmp_path):
    # A string-only parameter keeps "123" a string; JSON-typed ones parse numbers, lists, objects.
    _json("configuration", "setParameter", "--key", "image-preprocessing-roi-size", "--value", "96")
    assert _json("configuration", "getParameter", "--key", "image-preprocessing-roi-size")["value"] == "96"
    assert _json(
        "image-management",
        "listCompatiblePlates",
        "--width",
        "1280",
        "--height",
        "1024",
        "--depth",
        "1",
        "--channels",
        "3",
    ) == {"plates": []}
    created = _json("tag", "createTags", "--tagValues", '["moa:DMSO", "batch:Week1"]')
    assert [t["id"] for t in created["tags"]] == [1, 2]
    assert _json("tag", "getTagById", "--tagId", "2")["tagValue"] == "batch:Week1"
    artifact = tmp_path / "artifact.json"
    artifact.write_text(json.dumps({"contextId": "P1", "trainId": "origin", "artifact": "s3key#a/b.png"}))
    _json("artifact", "createArtifact", "--artifact", f"@{artifact}")
    assert [
        a["key"] for a in _json("artifact", "getArtifacts", "--contextId", "P1", "--trainId", "origin")["artifacts"]
    ] == ["a/b.png"]


def test_errors_are_messages_and_change_nothing(monkeypatch, capsys):
    code, out, _ = _bioims(["label", "createCategory", "--category", "moa", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["created"] is True
    before = _json("status")["tables"]

    code, _, err = _bioims(["label", "createLabel", "--category", "moa"], monkeypatch, capsys)
    assert code == 2 and "--label" in err  # a missing option is click's usage error
    code, _, err = _bioims(["label", "createLabel", "--category", "absent", "--label", "x"], monkeypatch, capsys)
    assert code == 1 and "(404)" in err and "absent" in err and "Traceback" not in err
    code, _, err = _bioims(["label", "getLabel", "--category", "moa", "--index", '"one"'], monkeypatch, capsys)
    assert code == 2 and "(400)" in err and "'index'" in err  # bad input: the usage exit code
    code, _, err = _bioims(["tag", "getTagById", "--tagId", "[1]"], monkeypatch, capsys)
    assert code == 2 and "(400)" in err and "'tagId'" in err
    code, _, err = _bioims(["artifact", "createArtifact", "--artifact", "@/no/such/file.json"], monkeypatch, capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = _bioims(["label", "noSuchMethod"], monkeypatch, capsys)
    assert code == 2 and "noSuchMethod" in err
    assert _json("status")["tables"] == before


def test_console_script_status_after_install(tmp_path):
    """The installed `bioims` command in an empty directory: the default data directory ./.bioims."""
    script = Path(sys.executable).with_name("bioims")
    assert script.is_file(), f"{script} missing: install the package (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOIMS_")}
    result = subprocess.run(
        [str(script), "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["backend"] == "local" and status["home"] == str(tmp_path / ".bioims")
    assert (tmp_path / ".bioims" / "bioims.sqlite").is_file() and set(status["tables"].values()) == {0}
