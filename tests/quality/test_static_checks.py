"""The static checks a contributor runs (pre-commit, .pre-commit-config.yaml) run here too, so CI fails on a
finding: `ruff check`, `ruff format --check` and `mypy` with the configuration in pyproject.toml, as
subprocesses of the interpreter under test (the versions the dev extra installs). Each check is first
shown to catch a planted finding, so that a clean run means a clean tree, not a check that looked at nothing.

In CI (CI=true) a missing tool fails the test; elsewhere it is skipped with the command that installs it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def _tool(module: str) -> list[str]:
    """`python -m <module>` for this interpreter, or a failure in CI / a skip elsewhere."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed (install: pip install -e '.[dev]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return [sys.executable, "-m", module]


def _run(args: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, input=stdin, capture_output=True, text=True, timeout=600)


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}"


def test_ruff_check_finds_nothing() -> None:
    ruff = _tool("ruff")
    planted = _run([*ruff, "check", "--stdin-filename", "bioims/planted.py", "-"], stdin="import os\n")
    assert planted.returncode == 1 and "F401" in planted.stdout, _report(planted)
    result = _run([*ruff, "check", "--no-cache", "--output-format", "concise", "."])
    assert result.returncode == 0, "ruff check found problems (fix them, or `ruff check --fix`):\n" + _report(result)


def test_ruff_format_check_finds_nothing() -> None:
    ruff = _tool("ruff")
    planted = _run([*ruff, "format", "--check", "--stdin-filename", "bioims/planted.py", "-"], stdin="x = {'a':1}\n")
    assert planted.returncode == 1, _report(planted)
    result = _run([*ruff, "format", "--check", "--no-cache", "."])
    assert result.returncode == 0, "files that `ruff format` would change:\n" + _report(result)


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    mypy = _tool("mypy")
    source = tmp_path / "planted.py"
    source.write_text("def f() -> int:\n    return 'x'\n")
    planted = _run([*mypy, "--cache-dir", str(tmp_path / "mypy-cache"), str(source)])
    assert planted.returncode == 1 and "return-value" in planted.stdout, _report(planted)
    # The files to check (bioims) and the settings are pyproject.toml's [tool.mypy]; the cache is the
    # checkout's .mypy_cache (gitignored), which pre-commit's mypy shares: a re-run checks only what changed.
    result = _run(mypy)
    assert result.returncode == 0, "mypy found type errors:\n" + _report(result)


def test_pre_commit_runs_the_same_checks_without_fetching() -> None:
    """Every hook is a local one (no repository fetched at commit time) and the four checks are there."""
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    repos = config["repos"]
    assert [repo["repo"] for repo in repos] == ["local"]
    entries = {hook["id"]: hook["entry"] for hook in repos[0]["hooks"]}
    assert entries["ruff-check"].startswith("ruff check")
    assert entries["ruff-format"].startswith("ruff format --check")
    assert entries["mypy"] == "mypy"
    assert entries["lint-imports"] == "lint-imports"
    assert all(hook["language"] == "system" for hook in repos[0]["hooks"])
