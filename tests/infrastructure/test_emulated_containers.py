"""How the emulated deployment reads an image: the Dockerfile's WORKDIR, ENV, COPY and entry, and
Batch's `Ref::` substitution (the rest is exercised by test_emulated_deployment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from emulated_containers import WORKER, ContainerError, Image, Platform, python_module, substitute

from stacks.images import REPO_ROOT
from tests.support.dockerfile import UnsupportedDockerfile, read
from tests.support.dockerfile import parse as parse_dockerfile

DOCKERFILES = (
    sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "lambdas").glob("Dockerfile*"))
    + sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "batch_jobs").glob("Dockerfile*"))
    + [Path("training/Dockerfile"), Path("search_service/Dockerfile")]
)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_each_image_runs_its_entry_from_what_it_copies(dockerfile, tmp_path):
    parsed = read(REPO_ROOT / dockerfile)
    module = python_module(parsed.entrypoint + parsed.cmd, str(dockerfile))
    platform = Platform("http://127.0.0.1:1", "us-east-1", tmp_path, {})
    root = platform.workdir(Image("t", REPO_ROOT, parsed))
    if module == "awslambdaric":  # the Lambda runtime client (installed) runs the handler CMD names
        module = parsed.cmd[0].rpartition(".")[0]
    entry = root / (module.replace(".", "/") + ".py")
    package_main = root / module.replace(".", "/") / "__main__.py"
    assert entry.is_file() or package_main.is_file(), f"{dockerfile}: {module} is not in what the image copies"
    # only what the COPY lines name is there
    assert not (root / "stacks").exists() and not (root / "tests").exists()


def test_the_worker_imports_the_project_from_the_image_only(tmp_path):
    empty = tmp_path / "app"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, str(WORKER), str(empty), "main", "bioims.config"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "No module named 'bioims'" in done.stderr


def test_copy_of_something_not_in_the_context_is_an_error(tmp_path):
    parsed = parse_dockerfile(
        'FROM python:3.11-slim\nWORKDIR /app\nCOPY missing /app/missing\nENTRYPOINT ["python", "-m", "x"]\n'
    )
    with pytest.raises(ContainerError, match="missing"):
        Platform("http://127.0.0.1:1", "us-east-1", tmp_path, {}).workdir(Image("t", tmp_path, parsed))


def test_dockerfile_env_continuations_and_entry():
    parsed = parse_dockerfile(
        'FROM a\nENV A=1 \\\n    B="two words"\nWORKDIR /app\nENTRYPOINT ["python", "-m", "m"]\nCMD ["x"]\n'
    )
    assert parsed.env == {"A": "1", "B": "two words"} and parsed.workdir == "/app"
    assert parsed.entrypoint == ["python", "-m", "m"] and parsed.cmd == ["x"]
    with pytest.raises(ContainerError):
        python_module(["/bin/sh", "-c", "run"], "shell entry")


def test_batch_parameter_substitution():
    command = ["--plateId", "Ref::plateId", "--imageId", "Ref::imageId"]
    assert substitute(command, {"plateId": "p1"}) == ["--plateId", "p1", "--imageId", "Ref::imageId"]


def test_a_constraints_file_copied_for_pip_is_a_build_input_and_other_copies_outside_workdir_fail(tmp_path):
    built = parse_dockerfile(
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY image-constraints.txt /tmp/c.txt\n"
        'RUN pip install -c /tmp/c.txt numpy\nCOPY bioims ./bioims\nENTRYPOINT ["python", "-m", "bioims"]\n'
    )
    assert built.runtime_copies == [("bioims", "/app/bioims")] and built.constraints == ["/tmp/c.txt"]
    stray = parse_dockerfile(
        'FROM python:3.11-slim\nWORKDIR /app\nCOPY bioims /opt/bioims\nENTRYPOINT ["python", "-m", "x"]\n'
    )
    with pytest.raises(ContainerError, match="outside WORKDIR"):
        Platform("http://127.0.0.1:1", "us-east-1", tmp_path, {}).workdir(Image("t", REPO_ROOT, stray))


def test_the_final_stage_and_docker_s_entry_rules_are_read():
    parsed = parse_dockerfile(
        'FROM python:3.10 AS build\nENV X=1\nCMD ["old"]\n'
        'FROM python:3.11-slim\nWORKDIR /app\nWORKDIR sub\nCMD ["kept"]\nENTRYPOINT ["python", "-m", "m"]\n'
        "RUN pip install --no-cache-dir --constraint=/tmp/c.txt numpy\n"
    )
    assert parsed.python == "3.11" and parsed.env == {} and parsed.workdir == "/app/sub"
    assert parsed.command == ["python", "-m", "m", "kept"]  # a CMD of this stage outlives a later ENTRYPOINT
    assert parsed.constraints == ["/tmp/c.txt"] and parsed.packages == ["numpy"]
    dropped = parse_dockerfile('FROM python:3.11\nCMD ["x"]\nFROM python:3.11\nENTRYPOINT ["python", "-m", "m"]\n')
    assert dropped.cmd == []
    with pytest.raises(UnsupportedDockerfile, match="not an official python image"):
        _ = parse_dockerfile("FROM alpine\n").python


@pytest.mark.parametrize(
    "line",
    [
        "ENV A 1",
        "COPY --from=build /x /app/x",
        "COPY a b /app/sub",
        "CMD python -m m",
        "ADD x /app/x",
        "RUN pip install --pre numpy",
        "RUN pip install -c",
    ],
)
def test_what_the_reader_does_not_understand_is_an_error(line):
    with pytest.raises(UnsupportedDockerfile):
        parse_dockerfile(f"FROM python:3.11-slim\nWORKDIR /app\n{line}\n")
