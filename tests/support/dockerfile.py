"""What a Dockerfile installs and runs, read from the file itself, so a test can rebuild the image's
Python environment without Docker: the base image's Python version, every `pip install` (packages
and constraints files), what is copied where, the environment, the working directory and the
entry point. Only the instructions this repository's Dockerfiles use are understood; anything else
that would change the Python environment is an error, never silently ignored."""

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
    """An instruction or pip option that the reader does not understand."""


@dataclass
class Recipe:
    path: Path
    python: str = ""  # "3.11" from FROM python:3.11-slim
    packages: list[str] = field(default_factory=list)  # as written, in install order
    constraints: list[str] = field(default_factory=list)  # in-image paths given to `pip install -c`
    copies: list[tuple[str, str]] = field(default_factory=list)  # (repository path, in-image path)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    def source_of(self, image_path: str) -> str:
        """The repository file copied to `image_path` (e.g. a constraints file)."""
        for source, target in self.copies:
            if target == image_path or (target.endswith("/") and image_path == target + PurePosixPath(source).name):
                return source
        raise UnsupportedDockerfile(f"{self.path}: {image_path} is not copied from the build context")

    @property
    def command(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]


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
    recipe = Recipe(path=path)
    for keyword, rest in instructions(path.read_text()):
        if keyword == "FROM":
            match = re.match(r"(?:\S+/)?python:(\d+\.\d+)", rest)
            if not match:
                raise UnsupportedDockerfile(f"{path}: base image {rest!r} is not an official python image")
            recipe.python = match[1]
        elif keyword == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                recipe.env[name] = value
        elif keyword == "WORKDIR":
            recipe.workdir = str(PurePosixPath(recipe.workdir) / rest)
        elif keyword == "COPY":
            *sources, target = shlex.split(rest)
            target = (
                target
                if target.startswith("/")
                else str(PurePosixPath(recipe.workdir) / target) + ("/" if target.endswith("/") else "")
            )
            for source in sources:
                recipe.copies.append((source.rstrip("/"), target))
        elif keyword == "RUN":
            _read_run(recipe, rest)
        elif keyword in ("ENTRYPOINT", "CMD"):
            setattr(recipe, keyword.lower(), json.loads(rest))
        elif keyword not in IGNORED:
            raise UnsupportedDockerfile(f"{path}: {keyword} is not understood by tests/support/dockerfile.py")
    return recipe


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
        word = words[i]
        if word in PIP_OPTIONS_WITH_VALUE:
            if word in ("-c", "--constraint"):
                recipe.constraints.append(words[i + 1])
            i += 2  # index options only say where wheels come from, not which
            continue
        if word in PIP_FLAGS:
            i += 1
            continue
        if word.startswith("-"):
            raise UnsupportedDockerfile(f"{recipe.path}: pip option {word} is not understood")
        recipe.packages.append(word)
        i += 1
