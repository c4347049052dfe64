"""The two analysis notebooks, executed headless on the local backend holding a synthetic screen
with a baseline training and one leave-one-out training per compound."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import bioims
from bioims import keys
from bioims.evaluation import compound_vote
from bioims.reports.profiles import training_profiles
from tests.support.backends import installed, local_context

from .screen import FEATURES, add_thumbnails, embed, upload
from .synthetic import COMPOUNDS, synthetic_images

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"


@pytest.fixture
def screen_home(tmp_path):
    """A local backend in BIOIMS_HOME (set by the root conftest), filled through the clients."""
    import os

    ctx = local_context(Path(os.environ["BIOIMS_HOME"]))
    with installed(ctx):
        images = synthetic_images(0, sites=2, noise=1.2)
        plate_ids = upload(ctx, images, with_concentration=True)
        assert add_thumbnails(ctx, plate_ids[sorted(plate_ids)[0]], 12) == 24
        tc = bioims.client("training-configuration")
        tc.createEmbedding({"embeddingName": "emb", "inputWidth": 64, "inputHeight": 48, "inputChannels": 1})
        tc.createTraining({"embeddingName": "emb", "trainId": "BASE"})
        values = images[FEATURES].to_numpy(dtype=np.float32)
        embed(images, plate_ids, "BASE", values)
        rng = np.random.default_rng(5)
        for compound in sorted(COMPOUNDS):
            train_id = f"L-{compound}"
            tc.createTraining(
                {
                    "embeddingName": "emb",
                    "trainId": train_id,
                    "filterKey": keys.train_filter_key("emb", keys.normalize_label(compound)),
                }
            )
            # another model: a random rotation of the space plus noise
            rotation, _ = np.linalg.qr(rng.normal(size=(len(FEATURES), len(FEATURES))))
            embed(
                images, plate_ids, train_id, (values @ rotation + rng.normal(0, 0.8, values.shape)).astype(np.float32)
            )
        bioims.client("configuration").setDefaultTrainId("BASE")
        yield ctx


def execute(name: str, parameters: str, workdir: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # like papermill: the overrides go in a cell right after the one tagged "parameters"
    position = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    notebook.cells.insert(position + 1, nbformat.v4.new_code_cell(parameters))
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return notebook


def outputs(notebook, kind: str) -> list:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


def text(notebook) -> str:
    return "\n".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def test_baseline_notebook(screen_home, tmp_path):
    notebook = execute(
        "bbbc021-baseline-analysis.ipynb",
        "ANNOTATIONS = None\nPERPLEXITIES = (5, 15)\nGALLERY_SIZE = 12\nNEIGHBOURS = 5",
        tmp_path,
    )
    printed = text(notebook)
    assert "training BASE of embedding 'emb'" in printed
    assert "124 images with an embedding of length 10" in printed  # 62 wells x 2 sites
    assert re.search(r"plate Week1_100: 12 thumbnails", printed)
    assert len(outputs(notebook, "image/png")) >= 3  # gallery, label matrix, t-SNE maps
    tables = [o["data"]["text/html"] for o in outputs(notebook, "text/html")]
    assert any("embedded images" in t for t in tables)
    assert any("wells" in t and "M4" in t for t in tables)
    assert any("nsc" in t and "nscb" in t for t in tables)


def test_moa_notebook(screen_home, tmp_path):
    notebook = execute(
        "bbbc021-moa-analysis.ipynb",
        "EMBEDDING_NAME = None\nBASELINE_TRAIN_ID = None\nANNOTATIONS = None\nK = 5",
        tmp_path,
    )
    printed = text(notebook)
    assert "10 of 10 MOA-labelled compounds have a leave-one-out training" in printed
    # the printed accuracy is the one computed here from the same trainings
    baseline = training_profiles("BASE")
    per_compound = {c: training_profiles(f"L-{c}") for c in COMPOUNDS}
    vote = compound_vote(baseline, per_compound, k=5)
    assert (
        f"Percentage of compounds with correct predicted MOA: {vote.correct}/{vote.total} = {vote.accuracy}" in printed
    )
    assert len(outputs(notebook, "image/png")) >= 2  # confusion matrix and the per-compound table
    tables = [o["data"]["text/html"] for o in outputs(notebook, "text/html")]
    assert any("NSCB" in t and "compound vote" in t for t in tables)
