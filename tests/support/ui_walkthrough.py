"""The tiny walkthrough the web UI is tried on (tests/e2e/test_ui_browser.py) and measured on
(benchmarks/ui.py): the smallest run that still trains, embeds, indexes and evaluates (about 90 s
on 2 cores), built the way a user builds it, through the CLI on the local backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

TINY_WALKTHROUGH = [
    "--n-plates",
    "1",
    "--size",
    "64x80",
    "--cell-scale",
    "0.25",
    "--nsc",
    "none",
    "--hyperparameter",
    "epochs=1",
    "--hyperparameter",
    "minibatches_per_epoch=4",
    "--hyperparameter",
    "validation_max_rois=100",
]


def bioims_env(home: Path) -> dict[str, str]:
    """The environment of a `bioims` subprocess on the local backend with its data in `home`."""
    return {**os.environ, "BIOIMS_HOME": str(home), "BIOIMS_BACKEND": "local", "COLUMNS": "200"}


def build_tiny_walkthrough(base: Path, *, timeout: float = 900) -> Path:
    """`bioims walkthrough` with the tiny options into base/home (the data) and base/out (the
    report, walkthrough-summary.json); returns `base`. A failed run raises with its stderr's tail."""
    run = subprocess.run(
        [sys.executable, "-m", "bioims.cli.main", "walkthrough", *TINY_WALKTHROUGH, "--out", str(base / "out")],
        cwd=REPO_ROOT,
        env=bioims_env(base / "home"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if run.returncode != 0:
        raise RuntimeError(f"the tiny walkthrough failed (exit {run.returncode}): {run.stderr[-3000:]}")
    return base
