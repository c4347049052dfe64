"""Every reference to the original's description points into this repository and resolves.

Code, tests and documents cite the original AWS sample as `docs/original.md §4.2` (a section) or
`docs/original.md §8.4 #27` (a defect of section 8). This test reads every text file of the
repository (git's tracked and not-ignored files), checks that each such section and defect is a
heading or entry of docs/original.md, and that nothing cites the external description file that
the references used to name, which is not part of this repository.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "original.md"
DOC_NAME = "docs/original.md"
# Spelled in two parts so that this file does not itself cite the external file.
EXTERNAL_NAME = "ORIGINAL" + ".md"

HEADING = re.compile(r"^#{2,3} (?P<id>[A-C]|\d+(?:\.\d+)?)\.? ", re.MULTILINE)
DEFECT = re.compile(r"^- \*\*#(?P<n>\d+)\*\*", re.MULTILINE)
# "§4.2", "§B", "§8.4 #27", "§8.5 #37-39", "§8.1 #5, #8"
REFERENCE = re.compile(r"§(?P<id>[A-C]\b|\d+(?:\.\d+)?)(?P<defects>(?:,? ?#\d+(?:-\d+)?)*)")
SKIP_DIRS = {".git", ".venv", "node_modules", "cdk.out", "__pycache__", ".pytest_cache"}


def repository_files() -> list[Path]:
    """Tracked files plus new files git does not ignore; a plain walk where git is unavailable."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
        names = sorted({name for name in listing.split("\0") if name})
        return [ROOT / name for name in names if (ROOT / name).is_file()]
    except (OSError, subprocess.SubprocessError):
        found = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            found += [Path(folder) / name for name in files]
        return sorted(found)


@cache
def text_files() -> dict[str, str]:
    """Relative path -> text of every repository file that is UTF-8 text."""
    texts = {}
    for path in repository_files():
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            texts[path.relative_to(ROOT).as_posix()] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return texts


@cache
def sections() -> dict[str, set[int]]:
    """Section id -> defect numbers listed in it (empty for sections without defects)."""
    text = DOC.read_text(encoding="utf-8")
    heads = list(HEADING.finditer(text))
    found: dict[str, set[int]] = {}
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        found[head["id"]] = {int(m["n"]) for m in DEFECT.finditer(text, head.end(), end)}
    found["8"] = set().union(*(d for s, d in found.items() if s.startswith("8.")))
    return found


def defect_numbers(defects: str) -> list[int]:
    numbers = []
    for first, last in re.findall(r"#(\d+)(?:-(\d+))?", defects):
        numbers += range(int(first), int(last or first) + 1)
    return numbers


def unresolved(path: str, text: str) -> list[str]:
    """References of one file that name a missing section or a defect its section does not list."""
    known = sections()
    problems = []
    for match in REFERENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        section = match["id"]
        if section not in known:
            problems.append(f"{path}:{line}: §{section} is not a section of {DOC_NAME}")
            continue
        for number in defect_numbers(match["defects"]):
            if number not in known[section]:
                problems.append(f"{path}:{line}: #{number} is not a defect listed in §{section}")
    return problems


THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()  # its examples dangle on purpose


def citing_files() -> dict[str, str]:
    """Files that cite docs/original.md (their § references are read as references into it)."""
    return {
        path: text
        for path, text in text_files().items()
        if (DOC_NAME in text or path == DOC_NAME) and path != THIS_FILE
    }


def test_the_description_has_numbered_sections_and_defects():
    known = sections()
    assert {"1", "2", "3", "4", "5", "6", "7", "8", "A", "B", "C"} <= set(known)
    assert sorted(known["8"]) == list(range(1, 54)), "section 8 lists the defects #1-#53 once each"
    assert sum(len(d) for s, d in known.items() if s.startswith("8.")) == 53


def test_every_reference_resolves():
    files = citing_files()
    assert len(files) > 50, f"expected the code base to cite {DOC_NAME}, found {len(files)} files"
    problems = [problem for path, text in files.items() for problem in unresolved(path, text)]
    assert not problems, "\n".join(problems)


def test_every_citation_names_a_section_or_is_bare():
    """`docs/original.md` followed by something is followed by a § reference, not a loose number."""
    loose = re.compile(re.escape(DOC_NAME) + r"[ ,(]+(?=\d|Appendix|App\.|section)")
    problems = [
        f"{path}:{text.count(chr(10), 0, m.start()) + 1}: write {DOC_NAME} §n.m"
        for path, text in citing_files().items()
        for m in loose.finditer(text)
    ]
    assert not problems, "\n".join(problems)


def test_nothing_cites_the_external_description():
    offenders = [path for path, text in text_files().items() if EXTERNAL_NAME in text]
    assert not offenders, f"{EXTERNAL_NAME} is not in this repository; cite {DOC_NAME} §n.m: {offenders}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see docs/original.md §4.2 step 6", []),
        ("docs/original.md §8.5 #37-39 and §B", []),
        ("docs/original.md §4.5", ["x:1: §4.5 is not a section of docs/original.md"]),
        ("docs/original.md §8.4 #40", ["x:1: #40 is not a defect listed in §8.4"]),
        ("docs/original.md §8.1 #5, #11", ["x:1: #11 is not a defect listed in §8.1"]),
    ],
)
def test_the_checker_catches_a_dangling_reference(text, expected):
    assert unresolved("x", text) == expected
