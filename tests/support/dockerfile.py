"""What a Dockerfile installs and runs, read from the file itself, so a test can rebuild the image
without Docker: the base image's Python version, every `pip install` (packages and constraints
files), what is copied where, the environment, the working directory and the entry point of the
final stage. The one reader of the tests: test_image_contents builds each image's venv from it, the
emulated deployment (tests/infrastructure/emulated_containers.py) runs each image's entry from it.
Only the instructions this repository's Dockerfiles use are understood; anything else that would
change what the image holds or runs is an error, never silently ignored."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

PIP_OPTIONS_WITH_VALUE = {"-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f", "--find-links"}
PIP_FLAGS = {"--no-cache-dir", "-q", "--quiet", "--no-compile", "--disable-pip-version-check", "--upgrade", "-U"}
IGNORED = {"ARG", "EXPOSE", "HEALTHCHECK", "USER", "LABEL"}


class UnsupportedDockerfile(ValueError):
    """An instruction, form or pip option that the reader does not understand."""


@dataclass
class Recipe:
    """The final stage of a Dockerfile (a FROM starts afresh)."""

    path: Path
    base: str = ""  # the FROM image, e.g. python:3.11-slim
    packages: list[str] = field(default_factory=list)  # as written, in install order
    constraints: list[str] = field(default_factory=list)  # in-image paths given to `pip install -c`
    copies: list[tuple[str, str]] = field(default_factory=list)  # (context path, in-image path; "/"-ended: into)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    @property
    def python(self) -> str:
        """ "3.11" of FROM python:3.11-slim; another base image's Python is unknown: an error."""
        match = re.fullmatch(r"(?:\S+/)?python:(\d+\.\d+)\S*", self.base)
        if not match:
            raise UnsupportedDockerfile(f"{self.path}: base image {self.base!r} is not an official python image")
        return match[1]

    @property
    def command(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]

    @property
    def runtime_copies(self) -> list[tuple[str, str]]:
        """The copies that are part of what runs: a file copied only for `pip install -c` to read at
        build time (the image constraints) is a build input and is left out."""
        return [(source, target) for source, target in self.copies if target not in self.constraints]

    def source_of(self, image_path: str) -> str:
        """The repository file copied to `image_path` (e.g. a constraints file)."""
        for source, target in self.copies:
            if target == image_path or (target.endswith("/") and image_path == target + PurePosixPath(source).name):
                return source
        raise UnsupportedDockerfile(f"{self.path}: {image_path} is not copied from the build context")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\s*\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def read(path: Path) -> Recipe:
    """The recipe of the Dockerfile at `path`."""
    return parse(path.read_text(), path)


def parse(text: str, path: Path | str = "Dockerfile") -> Recipe:
    """The recipe of a Dockerfile's text (`path` names it in errors)."""
    recipe, cmd_set = Recipe(path=Path(path)), False
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            recipe, cmd_set = Recipe(path=Path(path), base=words[0] if words else ""), False
        elif keyword == "ENV":
            for item in shlex.split(rest):
                name, equals, value = item.partition("=")
                if not equals:
                    raise UnsupportedDockerfile(f"{path}: ENV without '=' is not understood: ENV {rest}")
                recipe.env[name] = value
        elif keyword == "WORKDIR":
            recipe.workdir = str(PurePosixPath(recipe.workdir) / rest)
        elif keyword == "COPY":
            _read_copy(recipe, rest)
        elif keyword == "RUN":
            _read_run(recipe, rest)
        elif keyword in ("ENTRYPOINT", "CMD"):
            value = _exec_form(recipe, keyword, rest)
            if keyword == "CMD":
                recipe.cmd, cmd_set = value, True
            else:  # as Docker does: a new ENTRYPOINT drops the CMD unless this stage set one
                recipe.entrypoint = value
                recipe.cmd = recipe.cmd if cmd_set else []
        elif keyword not in IGNORED:
            raise UnsupportedDockerfile(f"{path}: {keyword} is not understood by tests/support/dockerfile.py")
    return recipe


def _read_copy(recipe: Recipe, rest: str) -> None:
    parts = shlex.split(rest)
    if any(p.startswith("--") for p in parts) or len(parts) < 2:
        raise UnsupportedDockerfile(f"{recipe.path}: COPY form not understood: COPY {rest}")
    *sources, target = parts
    if len(sources) > 1 and not target.endswith("/"):
        raise UnsupportedDockerfile(f"{recipe.path}: COPY of several sources needs a destination ending in /")
    if not target.startswith("/"):
        target = str(PurePosixPath(recipe.workdir) / target) + ("/" if target.endswith("/") else "")
    for source in sources:
        recipe.copies.append((source.rstrip("/") or source, target))


def _exec_form(recipe: Recipe, keyword: str, rest: str) -> list[str]:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UnsupportedDockerfile(f"{recipe.path}: {keyword} must be in exec form: {keyword} {rest}")
    return value


def _read_run(recipe: Recipe, command: str) -> None:
    for part in re.split(r"&&|;", command):
        words = shlex.split(part)
        if words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
            _read_pip_install(recipe, words[words.index("install") + 1 :])
        elif any("pip" in word for word in words):
            raise UnsupportedDockerfile(
                f"{recipe.path}: pip used in a way the reader does not follow: {part.strip()!r}"
            )


def _read_pip_install(recipe: Recipe, words: list[str]) -> None:
    i = 0
    while i < len(words):
        word, joined_value = words[i], None
        if word.startswith("--") and "=" in word:
            word, _, joined_value = word.partition("=")
        if word in PIP_OPTIONS_WITH_VALUE:
            if joined_value is None and i + 1 == len(words):
                raise UnsupportedDockerfile(f"{recipe.path}: pip option {word} without its value")
            value = joined_value if joined_value is not None else words[i + 1]
            if word in ("-c", "--constraint"):
                recipe.constraints.append(value)
            i += 1 if joined_value is not None else 2  # index options only say where wheels come from, not which
            continue
        if word in PIP_FLAGS and joined_value is None:
            i += 1
            continue
        if word.startswith("-"):
            raise UnsupportedDockerfile(f"{recipe.path}: pip option {words[i]} is not understood")
        recipe.packages.append(word)
        i += 1
