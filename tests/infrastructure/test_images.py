"""Container images: which Dockerfile builds an entry point, and what goes into the build context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack

from stacks.images import RepositoryImage, find_dockerfile


def _touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "layout",
    [
        "batch_jobs/Dockerfile.plate_preprocessing",
        "batch_jobs/Dockerfile.plate-preprocessing",
        "batch_jobs/plate_preprocessing/Dockerfile",
        "batch_jobs/plate-preprocessing/Dockerfile",
        "batch_jobs/plate_preprocessing.Dockerfile",
    ],
)
def test_each_supported_layout_is_found(tmp_path, layout):
    _touch(tmp_path / layout, "FROM scratch\n")
    found = find_dockerfile(Path("batch_jobs/plate_preprocessing.py"), "plate-preprocessing", tmp_path)
    assert found == (tmp_path / layout).resolve()


def test_missing_dockerfile_is_none_and_two_are_an_error(tmp_path):
    entry = Path("batch_jobs/image_preprocessing.py")
    assert find_dockerfile(entry, "image-preprocessing", tmp_path) is None
    _touch(tmp_path / "batch_jobs/Dockerfile.image_preprocessing")
    _touch(tmp_path / "batch_jobs/image_preprocessing/Dockerfile")
    with pytest.raises(FileExistsError, match="several Dockerfiles"):
        find_dockerfile(entry, "image-preprocessing", tmp_path)


def test_build_context_holds_the_package_and_not_the_rest(tmp_path):
    root = tmp_path / "repo"
    _touch(root / "bioims/__init__.py", "")
    _touch(root / "bioims/__pycache__/x.cpython-311.pyc", "junk")
    _touch(root / "batch_jobs/Dockerfile.job", "FROM scratch\n")
    _touch(root / "pyproject.toml", "[project]\n")
    _touch(root / ".venv/lib/huge.so", "x" * 1000)
    _touch(root / "tests/test_x.py", "")
    _touch(root / "datasets/raw.tif", "x")
    outdir = tmp_path / "out"
    app = App(outdir=str(outdir))
    image = RepositoryImage(Stack(app, "S"), "Image", Path("batch_jobs/Dockerfile.job"), root=root)
    app.synth()
    assets = json.loads((outdir / "S.assets.json").read_text())["dockerImages"]
    (asset,) = assets.values()
    assert asset["source"]["dockerFile"] == "batch_jobs/Dockerfile.job"
    assert asset["source"]["platform"] == "linux/amd64"
    staged = outdir / asset["source"]["directory"]
    files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    assert files == ["batch_jobs/Dockerfile.job", "bioims/__init__.py", "pyproject.toml"]
    assert image.dockerfile == "batch_jobs/Dockerfile.job"


def test_a_missing_dockerfile_is_a_clear_error(tmp_path):
    app = App(outdir=str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="no Dockerfile"):
        RepositoryImage(Stack(app, "S"), "Image", Path("search_service/Dockerfile"), root=tmp_path)
