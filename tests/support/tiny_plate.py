"""A small synthetic BBBC021 plate made the way a user makes one (`bioims bbbc021 synth`), for the
CLI tests that ingest and process it: one plate, one field per well, 64 x 80 px, then cut to a
few fields so that ingesting and processing it stays fast."""

from __future__ import annotations

from pathlib import Path

from bioims.bbbc021 import layout

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
