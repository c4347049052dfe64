"""Container images without Docker: for each Dockerfile, a fresh venv holds exactly what that
Dockerfile pip-installs (its packages, with the versions of image-constraints.txt, the one list),
the files it copies are laid out as in the image, and its entry point's smoke call runs there:
every Lambda handler answers a bad request with 400, a Batch job prints its usage error and imports
its work function, the training entry imports model_fn, the search service answers /health.
A package missing from a Dockerfile or a wrong pin fails the test.

The environment is the image's except two things: the smoke calls run on the local backend (no
AWS account here) and the interpreter is this machine's Python of the base image's version.

Venvs are built once per distinct install set (the two preprocessing images share one), each on a
hard-linked copy of the venv of the largest install set inside it, and kept under
.tools/image-venvs/<hash of the set and the constraints> (gitignored); pip takes wheels from its
local wheel folder and cache where it has them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.dockerfile import Recipe, read
from tests.support.tools import REPO_ROOT

CONSTRAINTS = REPO_ROOT / "image-constraints.txt"
VENV_CACHE = REPO_ROOT / ".tools" / "image-venvs"
SKIP_DIRS = {".venv", "node_modules", ".tools", "cdk.out", ".git"}
DOCKERFILES = sorted(
    p.relative_to(REPO_ROOT).as_posix()
    for p in REPO_ROOT.rglob("*Dockerfile*")
    if p.is_file() and not SKIP_DIRS & set(p.relative_to(REPO_ROOT).parts)
)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """name -> exact version of a constraints file; anything but `name==version` is an error."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)", line)
            assert match, f"image-constraints.txt: {line!r} is not name==version"
            found[normalize(match[1])] = match[2]
    return found


def test_there_is_a_dockerfile_for_each_kind_of_compute():
    assert {"lambdas/Dockerfile", "training/Dockerfile", "search_service/Dockerfile"} <= set(DOCKERFILES)
    assert sum(d.startswith("batch_jobs/") for d in DOCKERFILES) == 3


def pin_problems(recipe: Recipe, pinned: dict[str, str]) -> list[str]:
    """Why a Dockerfile's pip installs do not take every version from the constraints file."""
    problems = []
    if not recipe.packages:
        problems.append("installs nothing with pip")
    if {recipe.source_of(c) for c in recipe.constraints} != {"image-constraints.txt"}:
        problems.append("does not install with -c image-constraints.txt (and only that)")
    for package in recipe.packages:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", package):
            problems.append(f"{package!r} carries its own version")
        elif normalize(package) not in pinned:
            problems.append(f"{package} has no pin in image-constraints.txt")
    return problems


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_installed_package_is_pinned_once_in_the_constraints_file(dockerfile):
    recipe = read(REPO_ROOT / dockerfile)
    assert pin_problems(recipe, pins(CONSTRAINTS.read_text())) == [], dockerfile


def test_a_pin_in_a_dockerfile_or_an_unpinned_package_is_reported(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim\nCOPY image-constraints.txt /tmp/c.txt\n"
        "RUN pip install --no-cache-dir -c /tmp/c.txt \\\n    numpy==1.26.0 \\\n    pandas\n"
    )
    recipe = read(dockerfile)
    assert recipe.packages == ["numpy==1.26.0", "pandas"]
    assert pin_problems(recipe, pins(CONSTRAINTS.read_text())) == [
        "'numpy==1.26.0' carries its own version",
        "pandas has no pin in image-constraints.txt",
    ]


def install_key(recipe: Recipe) -> tuple[str, frozenset[str], tuple[str, ...]]:
    """What decides a venv's contents: the Python version, the package set and the constraints."""
    constraints = tuple((REPO_ROOT / recipe.source_of(c)).read_text() for c in recipe.constraints)
    return recipe.python, frozenset(map(normalize, recipe.packages)), constraints


def base_recipe(recipe: Recipe) -> Recipe | None:
    """The Dockerfile whose install set is the largest proper subset of this one's (same Python and
    constraints): its venv is reused as a layer, as Docker would reuse an image layer."""
    python, packages, constraints = install_key(recipe)
    best = None
    for dockerfile in DOCKERFILES:
        other = read(REPO_ROOT / dockerfile)
        o_python, o_packages, o_constraints = install_key(other)
        if (o_python, o_constraints) == (python, constraints) and o_packages < packages:
            if best is None or len(o_packages) > len(install_key(best)[1]):
                best = other
    return best


def image_venv(recipe: Recipe) -> Path:
    """A venv holding exactly the recipe's packages under its constraints, cached per install set.

    Built on a hard-linked copy of the venv of the largest Dockerfile install set inside this one
    (the torch images share torch, the Lambda image the preprocessing set); pip then adds what is
    missing, so the result is what a fresh `pip install` of the whole set gives."""
    python, packages, constraints = install_key(recipe)
    key = hashlib.sha256(json.dumps([python, sorted(packages), constraints]).encode()).hexdigest()[:16]
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    target = VENV_CACHE / key
    with open(VENV_CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers building the same set wait for one build
        if (target / ".complete").exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        started = time.perf_counter()
        base = base_recipe(recipe)
        if base is not None:
            shutil.copytree(image_venv(base), target, symlinks=True, copy_function=os.link)
            (target / ".complete").unlink()
        else:
            interpreter = shutil.which(f"python{python}")
            if interpreter is None:
                pytest.fail(f"{recipe.path.name}: the base image's python{python} is not on this machine")
            subprocess.run([interpreter, "-m", "venv", "--without-pip", str(target)], check=True)
        install = [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "-q"]
        install.append("--no-compile")  # no .pyc files: each smoke call runs once
        for c in recipe.constraints:
            install += ["-c", str(REPO_ROOT / recipe.source_of(c))]
        run = subprocess.run([*install, *recipe.packages], capture_output=True, text=True, timeout=1200)
        assert run.returncode == 0, f"pip install for {recipe.path}:\n{run.stderr[-3000:]}"
        layer = f" on {base.path.relative_to(REPO_ROOT)}'s venv" if base is not None else ""
        (target / ".complete").write_text(
            f"{time.perf_counter() - started:.1f} s{layer}\n{' '.join(recipe.packages)}\n"
        )
    return target


def lay_out_image(recipe: Recipe, root: Path) -> dict[str, str]:
    """Copy what the Dockerfile copies under `root` (its / ), return the image's environment."""
    for source, target in recipe.copies:
        if target.startswith("/tmp/"):
            continue  # build-time inputs (the constraints file)
        destination = root / target.lstrip("/")
        if target.endswith("/"):
            destination = destination / Path(source).name
        src = REPO_ROOT / source
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(src, destination, ignore=ignore) if src.is_dir() else shutil.copy2(src, destination)
    env = {k: re.sub(r"(?<![\w/])/(app|tmp)\b", lambda m: str(root / m[1]), v) for k, v in recipe.env.items()}
    (root / "tmp").mkdir(exist_ok=True)
    return env


def run_in_image(recipe, venv, root, image_env, args, *, background=False, **kwargs):
    """Run `args` as the image would (its working directory and environment, the venv's python);
    in the background (a Popen) or to completion."""
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(root / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        **image_env,
        "BIOIMS_BACKEND": "local",
        "BIOIMS_HOME": str(root / "tmp" / "bioims"),
    }
    argv = [str(venv / "bin" / "python") if a == "python" else a for a in args]
    cwd = root / recipe.workdir.lstrip("/")
    cwd.mkdir(parents=True, exist_ok=True)
    if background:
        return subprocess.Popen(argv, cwd=cwd, env=env, **kwargs)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kwargs)


LAMBDA_SMOKE = """
import importlib, json, pkgutil, sys
import awslambdaric, lambdas
handler = sys.argv[1]
module, _, attribute = handler.rpartition(".")
assert callable(getattr(importlib.import_module(module), attribute)), handler
answers = {}
for info in pkgutil.iter_modules(lambdas.__path__):
    mod = importlib.import_module(f"lambdas.{info.name}")
    answers[info.name] = mod.handler({"method": "noSuchMethod"}, None)["statusCode"]
print(json.dumps(answers))
"""


def smoke(recipe: Recipe, venv: Path, root: Path, env: dict[str, str]) -> None:
    command = recipe.command
    assert command[:2] == ["python", "-m"], f"{recipe.path}: entry point {command} is not `python -m ...`"
    module = command[2]
    if module == "awslambdaric":
        run = run_in_image(recipe, venv, root, env, ["python", "-c", LAMBDA_SMOKE, command[3]])
        assert run.returncode == 0, run.stderr[-3000:]
        answers = json.loads(run.stdout.strip().splitlines()[-1])
        assert answers and set(answers.values()) == {400}, answers
    elif module.startswith("batch_jobs."):
        run = run_in_image(recipe, venv, root, env, command)
        assert run.returncode == 2 and "usage:" in run.stderr and "required" in run.stderr, run.stderr[-3000:]
        job = f"import {module} as m; from bioims.workflows.jobs import job_function; job_function(m.JOB)"
        run = run_in_image(recipe, venv, root, env, ["python", "-c", job])
        assert run.returncode == 0, run.stderr[-3000:]
    elif module == "training.train":
        run = run_in_image(
            recipe, venv, root, env, ["python", "-c", "from training.train import model_fn; print(model_fn.__name__)"]
        )
        assert run.returncode == 0 and run.stdout.strip() == "model_fn", run.stderr[-3000:]
    elif module == "search_service":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**env, "BIOIMS_SEARCH_HOST": "127.0.0.1", "BIOIMS_SEARCH_PORT": str(port)}
        log = open(root / "tmp" / "search.log", "w")
        process = run_in_image(recipe, venv, root, env, command, background=True, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.monotonic() + 120, None
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                        status = answer.status
                        break
                except OSError:
                    time.sleep(0.5)
            assert status == 200, (root / "tmp" / "search.log").read_text()[-3000:]
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    else:
        pytest.fail(f"{recipe.path}: no smoke call is known for entry point {command}")


@pytest.mark.slow
@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_image_environment_runs_its_entry_point(dockerfile, tmp_path):
    recipe = read(REPO_ROOT / dockerfile)
    venv = image_venv(recipe)
    env = lay_out_image(recipe, tmp_path / "image")
    smoke(recipe, venv, tmp_path / "image", env)
