"""What `pip install` puts into site-packages: the wheel built from a copy of the checkout holds
`bioims` and its dist-info only (no `cli`, `lambdas`, `stacks`, ...; those are deployment sources
built from the repository), its console script is `bioims.cli.main:main`, and a copy installed
into a fresh venv, run from outside the repository, answers `bioims --help` and does local work
without boto3 (the `aws` extra), while the aws backend names the extra to install.

The fresh venv gets the wheel only (`--no-deps`); its dependencies are this interpreter's
site-packages directories, listed in a .pth file as plain paths (so their own .pth files, such as
the development install's import finder, are not run and cannot put the checkout back in).
Building the wheel uses pip's isolated build, like `pip install -e .` (setuptools from the index
or pip's cache).
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCES = {".git", ".venv", "node_modules", ".tools", "cdk.out", "build", "dist", ".bioims", "__pycache__"}
# boto3 and botocore import as missing in the installed copy, as after `pip install -e .` alone.
WITHOUT_AWS_SDK = "import sys; sys.modules.update({'boto3': None, 'botocore': None, 's3transfer': None})\n"


def _copy_sources(target: Path) -> None:
    """The checkout's files (tracked and untracked, not ignored), without build leftovers that an
    in-tree build could pack (a stale build/lib, egg-info)."""
    try:
        listed = (
            subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=REPO_ROOT,
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .split("\0")
        )
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.rglob("*") if p.is_file()]
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if NOT_SOURCES & set(Path(name).parts) or name.endswith(".egg-info") or not source.is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    sources, out = base / "src", base / "dist"
    _copy_sources(sources)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(sources)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("bioimage_search-*.whl")
    return found


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_installs_only_bioims(wheel):
    top = {name.split("/", 1)[0] for name in _names(wheel)}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and top - dist_info == {"bioims"}, sorted(top)


def test_the_wheel_carries_the_command_and_the_shipped_data(wheel):
    names = set(_names(wheel))
    assert "bioims/cli/main.py" in names and "bioims/cli/__init__.py" in names
    # the BBBC021 metadata the walkthrough's synthetic design reads (package data)
    assert {"bioims/bbbc021/data/BBBC021_v1_image.csv.gz", "bioims/bbbc021/data/BBBC021_v1_moa.csv"} <= names
    assert not any(n.endswith((".pyc", "Dockerfile")) for n in names)


def test_the_console_script_is_bioims_cli_main(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(entry_points).decode())
    assert dict(parser["console_scripts"]) == {"bioims": "bioims.cli.main:main"}


def test_boto3_is_only_in_the_aws_extra(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    boto3 = [r for r in requires if r.startswith("boto3")]
    assert boto3 and all('extra == "aws"' in r for r in boto3), boto3
    base = [r.split(";")[0].replace(" ", "") for r in requires if "extra ==" not in r]
    assert "torch==2.13.0" in base and any(r.startswith("faiss-cpu") for r in base), base


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel; returns its bin directory."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    dependency_dirs = [
        p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages")) and Path(p).is_dir()
    ]
    (site / "zz_dependencies.pth").write_text("".join(p + "\n" for p in dependency_dirs))
    (site / "zz_without_aws_sdk.pth").write_text(WITHOUT_AWS_SDK)
    return venv / "bin"


def _run(bin_dir: Path, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "BIOIMS_BACKEND")}
    return subprocess.run(
        args,
        cwd=cwd,
        env={**clean, "BIOIMS_HOME": str(cwd / "home"), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_installed_copy_imports_only_bioims_from_itself(installed, tmp_path):
    code = (
        "import importlib.util, json, bioims, bioims.cli.main\n"
        "print(json.dumps({'bioims': bioims.__file__, 'absent': [n for n in "
        "('cli', 'lambdas', 'batch_jobs', 'training', 'search_service', 'stacks') "
        "if importlib.util.find_spec(n) is None]}))"
    )
    done = _run(installed, [str(installed / "python"), "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert Path(found["bioims"]).is_relative_to(installed.parent), found
    assert found["absent"] == ["cli", "lambdas", "batch_jobs", "training", "search_service", "stacks"]


def test_the_installed_command_answers_help_outside_the_repository(installed, tmp_path):
    done = _run(installed, [str(installed / "bioims"), "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: bioims")
    for command in ("walkthrough", "status", "label", "search", "evaluate"):
        assert f"\n  {command} " in done.stdout, command


def test_the_installed_command_works_locally_without_boto3(installed, tmp_path):
    bioims = str(installed / "bioims")
    created = _run(
        installed, [bioims, "label", "createCategory", "--category", "moa", "--description", "MOAs"], tmp_path
    )
    assert created.returncode == 0, created.stderr
    listed = _run(installed, [bioims, "label", "listCategories", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "moa" in listed.stdout
    status = _run(installed, [bioims, "status", "--json"], tmp_path)
    assert status.returncode == 0, status.stderr


def test_the_installed_copy_starts_its_local_training_entry(installed, tmp_path):
    """The local backend's training subprocess runs `python -m <entryModule>`: in an installed
    copy that module is inside bioims (the repository's training/ folder is not installed), and it
    starts: without the SageMaker variables it answers with its own one-line error."""
    python = str(installed / "python")
    entry = _run(
        installed,
        [
            python,
            "-c",
            "from bioims.runtime.ports import TrainingJobRequest as R; print(R.model_fields['entryModule'].default)",
        ],
        tmp_path,
    )
    assert entry.returncode == 0, entry.stderr
    module = entry.stdout.strip()
    assert module.startswith("bioims.")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    done = subprocess.run([python, "-m", module], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("bioims training: ") and "No module named" not in done.stderr


def test_the_aws_backend_names_the_extra_when_boto3_is_missing(installed, tmp_path):
    done = _run(installed, [str(installed / "bioims"), "status"], tmp_path, BIOIMS_BACKEND="aws")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: the aws backend needs boto3, which is not installed: pip install 'bioimage-search[aws]'"
    ]


def _requirements() -> dict[str, list]:
    """pyproject's requirements by group ("" for the base set), self-references left out."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {group: [r for r in map(Requirement, specs) if r.name != project["name"]] for group, specs in groups.items()}


def test_the_image_pins_satisfy_the_declared_ranges():
    """A version image-constraints.txt pins for the containers lies inside every range pyproject
    declares for the same package (one list of versions, consistent with the install's floors)."""
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (REPO_ROOT / "image-constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    checked = []
    for group, requirements in _requirements().items():
        for requirement in requirements:
            pinned = pins.get(canonicalize_name(requirement.name))
            if pinned is not None:
                assert requirement.specifier.contains(pinned, prereleases=True), (group, str(requirement), pinned)
                checked.append(requirement.name)
    assert {"torch", "boto3", "faiss-cpu", "numpy", "cp-measure"} <= set(checked)


def test_learning_and_search_extras_repeat_the_base_entries():
    """The walkthrough needs both, so the base set has them; the extras must not drift from it."""
    requirements = _requirements()
    base = {str(r) for r in requirements[""]}
    assert requirements["learning"] and requirements["search"]
    assert {str(r) for r in requirements["learning"] + requirements["search"]} <= base
    assert not any(r.name == "boto3" for r in requirements[""])
