"""A small synthetic BBBC021 plate made the way a user makes one (`bioims bbbc021 synth`), for the
CLI tests that ingest and process it: one plate, one field per well, 64 x 80 px, then cut to a
few fields so that ingesting and processing it stays fast."""

from __future__ import annotations

from pathlib import Path

from bioims.bbbc021 import layout
from bioims.bbbc021.synthetic.generate import generate
from bioims.bbbc021.synthetic.model import SynthConfig

PLATE = "Week10_40111"  # 60 wells in the design, 12 MOAs


def synth_args(out: Path, *, plate: str = PLATE, seed: int = 3) -> list[str]:
    """The `bioims` arguments that write one synthetic plate (one 64 x 80 field a well) into `out`
    and print the summary as JSON."""
    return [
        "bbbc021",
        "synth",
        "--out",
        str(out),
        "--plates",
        plate,
        "--fields-per-well",
        "1",
        "--size",
        "64x80",
        "--seed",
        str(seed),
        "--json",
    ]


def keep_fields(source: Path, fields: int) -> Path:
    """Cut the image CSV written by `synth` in `source` to its first `fields` fields (its header
    kept); returns the CSV's path."""
    csv = source / layout.IMAGE_CSV
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[: fields + 1]))
    return csv


TWO_PLATES = ("Week1_22123", "Week2_24121")
TWO_PLATE_WELLS = {"Week1_22123": ("B02", "B11", "D05", "E03", "E10"), "Week2_24121": ("B02", "C02", "E11")}


def two_plate_copy(root: Path, *, seed: int = 5) -> Path:
    """A synthetic copy of two plates (64 x 80 px, one field a well) in `root`, its image CSV cut to
    the wells of TWO_PLATE_WELLS: the ingest tests and the crash tests share it."""
    generate(root, SynthConfig(seed=seed, height=64, width=80, fields_per_well=1), TWO_PLATES)
    csv = root / layout.IMAGE_CSV
    lines = csv.read_text().splitlines(keepends=True)
    wanted = [(plate, well) for plate, wells in TWO_PLATE_WELLS.items() for well in wells]
    keep = [line for line in lines[1:] if any(f",{p}," in line and f",{w}," in line for p, w in wanted)]
    csv.write_text(lines[0] + "".join(keep))
    return root
