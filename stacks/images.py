"""Container images built from the repository's Dockerfiles.

The build context is the repository root, so every image installs the same `bioims` package; an
allow-list keeps the staged context small (no virtualenv, tests, data or caches). Synthesis only
stages the context and fingerprints it: images are built and pushed by `cdk deploy` (Docker needed
there, never for `cdk synth` or the tests).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parent.parent

# What a container may need from the repository; everything else stays out of the build context.
CONTEXT_ALLOW = (
    "bioims",
    "batch_jobs",
    "training",
    "search_service",
    "lambdas",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "image-constraints.txt",  # the one list of versions the Dockerfiles install
)
CONTEXT_EXCLUDE = ("**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/*.egg-info")


def build_context_exclude(allow: tuple[str, ...] = CONTEXT_ALLOW) -> list[str]:
    """Docker-ignore patterns that keep only `allow` (and drop caches inside it)."""
    return ["*", *(f"!{name}" for name in allow), *CONTEXT_EXCLUDE]


def find_dockerfile(entry: Path, job: str, root: Path = REPO_ROOT) -> Path | None:
    """The Dockerfile that builds `entry` (e.g. batch_jobs/plate_preprocessing.py), by the layouts the
    repository uses: `Dockerfile.<stem>` or `Dockerfile.<job>` beside it, `<stem>/Dockerfile` or
    `<job>/Dockerfile` under its folder, or `<stem>.Dockerfile`. None when the image is not there yet;
    an error when two candidates exist, because then which one deploys would be a guess."""
    folder = (root / entry).parent
    stem = Path(entry).stem
    candidates = [
        folder / f"Dockerfile.{stem}",
        folder / f"Dockerfile.{job}",
        folder / stem / "Dockerfile",
        folder / job / "Dockerfile",
        folder / f"{stem}.Dockerfile",
    ]
    found = sorted({c.resolve() for c in candidates if c.is_file()})
    if len(found) > 1:
        raise FileExistsError(f"several Dockerfiles for {entry}: {', '.join(str(f.relative_to(root)) for f in found)}")
    return found[0] if found else None


class RepositoryImage(Construct):
    """A Docker image asset built from `dockerfile` with the repository root as context."""

    def __init__(self, scope: Construct, construct_id: str, dockerfile: Path, *, root: Path = REPO_ROOT) -> None:
        super().__init__(scope, construct_id)
        dockerfile = Path(dockerfile)
        if not dockerfile.is_absolute():
            dockerfile = root / dockerfile
        if not dockerfile.is_file():
            raise FileNotFoundError(f"{construct_id}: no Dockerfile at {dockerfile}")
        self.dockerfile = dockerfile.relative_to(root).as_posix()
        self.asset = ecr_assets.DockerImageAsset(
            self,
            "Asset",
            directory=str(root),
            file=self.dockerfile,
            exclude=build_context_exclude(),
            ignore_mode=IgnoreMode.DOCKER,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )

    @property
    def image_uri(self) -> str:
        return self.asset.image_uri
