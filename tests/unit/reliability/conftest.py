"""A tiny synthetic BBBC021 copy (two plates, a few 64x80 fields) shared by the crash tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bioims.bbbc021 import layout
from bioims.bbbc021.synthetic.generate import generate
from bioims.bbbc021.synthetic.model import SynthConfig

PLATES = ("Week1_22123", "Week2_24121")
WELLS = {"Week1_22123": ("B02", "B11", "D05", "E03", "E10"), "Week2_24121": ("B02", "C02", "E11")}


@pytest.fixture(scope="session")
def bbbc021_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bbbc021") / "data"
    generate(root, SynthConfig(seed=5, height=64, width=80, fields_per_well=1), PLATES)
    lines = (root / layout.IMAGE_CSV).read_text().splitlines(keepends=True)
    keep = [
        line for line in lines[1:] if any(f",{p}," in line and f",{w}," in line for p, ws in WELLS.items() for w in ws)
    ]
    (root / layout.IMAGE_CSV).write_text(lines[0] + "".join(keep))
    return root


@pytest.fixture
def second_copy(bbbc021_copy, tmp_path) -> Path:
    """The same plates at another path (another copy of the data set)."""
    target = tmp_path / "other-copy"
    shutil.copytree(bbbc021_copy, target)
    return target
