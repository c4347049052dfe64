"""Names and on-disk layout of a BBBC021 copy, defined once.

A local copy of BBBC021 (downloaded, synthesised, or copied by hand) is a directory DIR with

    DIR/BBBC021_v1_image.csv      (or .csv.gz)   the image index
    DIR/BBBC021_v1_moa.csv                       MOA ground truth
    DIR/BBBC021_v1_compound.csv   (optional)     compound SMILES
    DIR/<plate>/<Image_FileName_*>               the TIFFs, e.g. DIR/Week1_22123/Week1_150607_B02_s1_w1....tif

`<plate>/<file>` is what each published plate zip unpacks to, and it is the object-key layout of
the original's BBBC021 bucket (docs/original.md §3.6), so the same key suffixes work for a directory and
for a bucket holding a copy. The downloader, the synthetic generator and `ingest` all use it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

DEFAULT_BASE_URL: Final = "https://data.broadinstitute.org/bbbc/BBBC021/"

IMAGE_CSV: Final = "BBBC021_v1_image.csv"
IMAGE_CSV_GZ: Final = "BBBC021_v1_image.csv.gz"
MOA_CSV: Final = "BBBC021_v1_moa.csv"
COMPOUND_CSV: Final = "BBBC021_v1_compound.csv"
PUBLISHED_CSVS: Final[tuple[str, ...]] = (IMAGE_CSV, COMPOUND_CSV, MOA_CSV)

# Channel names in the order the original stores them in `channelKeys` (docs/original.md §3.1), with
# the image-CSV column suffix of each.
CHANNELS: Final[tuple[str, ...]] = ("dapi", "tubulin", "actin")
CHANNEL_COLUMNS: Final[dict[str, str]] = {"dapi": "DAPI", "tubulin": "Tubulin", "actin": "Actin"}

EXPERIMENT: Final = "BBBC021_v1"
MOA_CATEGORY: Final = "moa"
COMPOUND_CATEGORY: Final = "compound"
DMSO: Final = "DMSO"

# Hidden working directory of the downloader inside DIR (partial zips, unpack staging).
WORK_DIR: Final = ".bbbc021-download"

_PLATE_RE: Final = re.compile(r"^(Week\d+)_[A-Za-z0-9]+$")


def plate_zip_name(plate: str) -> str:
    """File name of a plate's published zip."""
    check_plate_name(plate)
    return f"BBBC021_v1_images_{plate}.zip"


def url_for(base_url: str, name: str) -> str:
    """`name` under `base_url` (a trailing slash is added when missing)."""
    return base_url if name == "" else base_url.rstrip("/") + "/" + name


def check_plate_name(plate: str) -> str:
    """The plate name if it has the BBBC021 form `WeekN_<id>`; ValueError otherwise (it becomes a
    path component, so nothing else may pass)."""
    if not isinstance(plate, str) or not _PLATE_RE.match(plate):
        raise ValueError(f"not a BBBC021 plate name: {plate!r} (expected WeekN_<digits>)")
    return plate


def week_of(plate: str) -> str:
    """The batch of a plate: its `WeekN` prefix."""
    match = _PLATE_RE.match(plate)
    if not match:
        raise ValueError(f"not a BBBC021 plate name: {plate!r} (expected WeekN_<digits>)")
    return match.group(1)


def key_suffix(plate: str, file_name: str) -> str:
    """Key of one TIFF relative to the copy's root (the original's `keysuffix`)."""
    return f"{plate}/{file_name}"


def plate_dir(root: Path, plate: str) -> Path:
    return Path(root) / check_plate_name(plate)


def image_csv_path(root: Path) -> Path:
    """The image index inside a copy: the published `.csv`, else a `.csv.gz`; FileNotFoundError
    naming both when neither is there."""
    root = Path(root)
    for name in (IMAGE_CSV, IMAGE_CSV_GZ):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root}: neither {IMAGE_CSV} nor {IMAGE_CSV_GZ} found")
