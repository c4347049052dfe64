"""Tests of the CellProfiler-feature embedding (bioims.features)."""

from __future__ import annotations

import importlib.util
import os

import pytest


def require_cp_measure() -> None:
    """cp-measure comes with the dev extra: CI (CI=true) must have it; elsewhere skip clearly."""
    if importlib.util.find_spec("cp_measure") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("cp-measure is missing in CI: install the dev extra (pip install -e '.[dev]')")
        pytest.skip("cp-measure is not installed (pip install -e '.[cellprofiler]')", allow_module_level=True)
