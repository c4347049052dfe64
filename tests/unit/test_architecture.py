"""The layers of docs/architecture.md hold: the import-linter contracts of pyproject.toml are
kept (run with the real `lint-imports`), and no module of this repository imports a module of
its own package inside a function (the way cycles used to be dodged)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Code whose function-level imports of our own packages are checked (cli/ or, once moved,
# bioims/cli/: its modules are named cli.* below either way).
CHECKED = [p for p in (ROOT / "bioims", ROOT / "cli") if p.is_dir()]
OWN_PACKAGES = ("bioims", "cli")

# (module, imported module) pairs allowed inside a function, each with its reason. Only imports
# that stay lazy because the imported module loads an optional or heavy third-party package that
# the caller's other paths do not need belong here.
_AWS = "boto3/botocore (the aws extra): loaded only on the AWS backend"
_DATA = "pandas/pyarrow/tifffile/matplotlib: `bioims --help` and the service commands start without them"
ALLOWED: dict[tuple[str, str], str] = {
    ("bioims", "bioims.clients.base"): "the package root stays light: `import bioims.keys` must not load the services",
    ("bioims.context", "bioims.runtime.aws"): _AWS,
    ("bioims.store", "bioims.store.dynamodb_table"): _AWS,
    ("bioims.store", "bioims.store.s3"): _AWS,
    ("cli.search", "bioims.search.server"): "faiss (the search extra): only `bioims search serve` needs it",
    **{
        ("bioims.walkthrough.run", m): _DATA
        for m in (
            "bioims.bbbc021.annotations",
            "bioims.bbbc021.design",
            "bioims.bbbc021.ingest",
            "bioims.bbbc021.synthetic.generate",
            "bioims.bbbc021.synthetic.model",
            "bioims.features.cellprofiler",
            "bioims.jobs.fieldstats",
            "bioims.profiling",
            "bioims.reports.training",
        )
    },
    **{
        ("cli.bbbc021", m): _DATA
        for m in (
            "bioims.bbbc021.csvs",
            "bioims.bbbc021.design",
            "bioims.bbbc021.download",
            "bioims.bbbc021.ingest",
            "bioims.bbbc021.labels",
            "bioims.bbbc021.synthetic.generate",
            "bioims.bbbc021.synthetic.model",
        )
    },
    **{
        ("cli.evaluate", m): _DATA
        for m in (
            "bioims.bbbc021.annotations",
            "bioims.evaluation",
            "bioims.evaluation.methods",
            "bioims.profiling",
            "bioims.profiling.annotate",
            "bioims.reports.training",
        )
    },
}


def _lint_imports() -> str | None:
    found = shutil.which("lint-imports")
    if found:
        return found
    candidate = Path(sys.executable).with_name("lint-imports")
    return str(candidate) if candidate.exists() else None


def test_import_contracts_are_kept():
    tool = _lint_imports()
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("lint-imports is not installed (pip install -e '.[dev]')")
        pytest.skip("lint-imports is not installed (pip install -e '.[dev]')")
    result = subprocess.run([tool, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and "0 broken" in result.stdout, result.stdout[-2000:]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    """No two modules import each other, directly or through others (imports inside functions
    count too; type-only imports do not)."""
    try:
        import grimp
    except ModuleNotFoundError:
        if os.environ.get("CI") == "true":
            pytest.fail("grimp (installed with import-linter) is missing (pip install -e '.[dev]')")
        pytest.skip("grimp (installed with import-linter) is missing (pip install -e '.[dev]')")
    packages = [p.name for p in CHECKED]
    graph = grimp.build_graph(*packages, include_external_packages=False, exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def _canonical(module: str) -> str:
    """CLI modules by the same name whether the CLI is cli/ or bioims/cli/."""
    return module.removeprefix("bioims.") if module == "bioims.cli" or module.startswith("bioims.cli.") else module


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return _canonical(".".join(parts))


def function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import of our own packages inside a function body."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if node is function:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found.extend((node.lineno, _canonical(n)) for n in names if n.split(".")[0] in OWN_PACKAGES)
    return sorted(set(found))


def test_no_function_level_imports_of_our_own_modules():
    offenders = []
    seen: set[tuple[str, str]] = set()
    for root in CHECKED:
        for path in sorted(root.rglob("*.py")):
            module = _module_name(path)
            for line, imported in function_level_imports(path):
                if (module, imported) in ALLOWED:
                    seen.add((module, imported))
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{line}: import of {imported} inside a function")
    assert not offenders, "import at module level instead (or justify in ALLOWED):\n" + "\n".join(offenders)
    assert seen == set(ALLOWED), f"stale ALLOWED entries: {sorted(set(ALLOWED) - seen)}"


def test_the_function_level_import_check_finds_one(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\n\ndef f():\n    from bioims.keys import thumbnail_key\n    import json\n    return os, json\n"
    )
    assert function_level_imports(probe) == [(4, "bioims.keys")]
