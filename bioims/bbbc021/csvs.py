"""Readers for the published BBBC021 CSV files, with the checks that make bad input fail early.

`read_image_csv` and `read_moa_csv` default to the copies shipped inside the package (byte-for-byte
the published files), so the design is available on a machine that has downloaded nothing.
Every reader raises `Bbbc021DataError` naming the file and the problem (missing columns, empty or
malformed values, duplicates); it never returns a partly valid table.
"""

from __future__ import annotations

import re
import zlib
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from bioims.bbbc021 import layout

IMAGE_COLUMNS: Final[tuple[str, ...]] = (
    "TableNumber",
    "ImageNumber",
    "Image_FileName_DAPI",
    "Image_PathName_DAPI",
    "Image_FileName_Tubulin",
    "Image_PathName_Tubulin",
    "Image_FileName_Actin",
    "Image_PathName_Actin",
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Well_DAPI",
    "Replicate",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)
MOA_COLUMNS: Final[tuple[str, ...]] = ("compound", "concentration", "moa")
COMPOUND_COLUMNS: Final[tuple[str, ...]] = ("compound", "smiles")

# Concentrations are published with `%f` (6 decimals) in the MOA file and as shortest floats in the
# image file; treatments are matched on the value rounded to this many decimals.
CONCENTRATION_DECIMALS: Final = 6

_WELL_RE: Final = re.compile(r"^[A-P](0[1-9]|1[0-9]|2[0-4])$")
_SITE_RE: Final = re.compile(r"_s(\d+)_w\d")


class Bbbc021DataError(ValueError):
    """A BBBC021 file is missing, unreadable or inconsistent; the message says which and why."""


def packaged_path(name: str) -> Path:
    """Path of a CSV shipped inside the package (`bioims/bbbc021/data/`)."""
    return Path(str(resources.files("bioims.bbbc021.data").joinpath(name)))


def concentration_key(values) -> np.ndarray:
    """Concentrations rounded to the published precision, for matching treatments."""
    return np.round(np.asarray(values, dtype=float), CONCENTRATION_DECIMALS)


def concentration_text(value: float) -> str:
    """Canonical text of a concentration (µM): `%f` without trailing zeros, e.g. 0.3, 1000, 0."""
    text = f"{float(value):.{CONCENTRATION_DECIMALS}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _read(path: Path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise Bbbc021DataError(f"{what} not found: {path}")
    try:
        # Strings stay strings: compound names such as "NA" must not turn into missing values.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        raise Bbbc021DataError(f"{what} {path} is not a readable CSV: {exc}") from exc


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], path: Path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise Bbbc021DataError(f"{what} {path} lacks column(s) {', '.join(missing)}")
    if frame.empty:
        raise Bbbc021DataError(f"{what} {path} has no rows")


def _require_values(frame: pd.DataFrame, columns: tuple[str, ...], path: Path, what: str) -> None:
    for column in columns:
        blank = frame[column].str.strip() == ""
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0]) + 2  # 1-based, after the header
            raise Bbbc021DataError(f"{what} {path}: empty {column} on line {row}")


def _numeric(frame: pd.DataFrame, column: str, path: Path, what: str, kind: type) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise Bbbc021DataError(
            f"{what} {path}: {column} on line {row + 2} is not a number: {frame[column].iloc[row]!r}"
        )
    if kind is int:
        if not np.all(values.to_numpy() == np.round(values.to_numpy())):
            raise Bbbc021DataError(f"{what} {path}: {column} must hold whole numbers")
        return values.astype(np.int64)
    return values.astype(float)


def read_image_csv(path: Path | str | None = None) -> pd.DataFrame:
    """The image index (`BBBC021_v1_image.csv[.gz]`): one row per field, the published columns.

    Checks: all published columns present; no empty values; numeric TableNumber, ImageNumber,
    Replicate, concentration (>= 0); plate names `WeekN_<id>`; wells `A01`..`P24`; the site (`_sN_`)
    parseable from every DAPI file name; file names ending `.tif`; path names `<week>/<plate>`;
    each file name used once per plate. Raises Bbbc021DataError on the first violation.
    """
    path = packaged_path(layout.IMAGE_CSV_GZ) if path is None else Path(path)
    what = "BBBC021 image CSV"
    frame = _read(path, what)
    _require_columns(frame, IMAGE_COLUMNS, path, what)
    frame = frame.loc[:, list(IMAGE_COLUMNS)].copy()
    _require_values(frame, IMAGE_COLUMNS, path, what)
    for column in ("TableNumber", "ImageNumber", "Replicate"):
        frame[column] = _numeric(frame, column, path, what, int)
    frame["Image_Metadata_Concentration"] = _numeric(frame, "Image_Metadata_Concentration", path, what, float)
    if (frame["Image_Metadata_Concentration"] < 0).any():
        raise Bbbc021DataError(f"{what} {path}: negative Image_Metadata_Concentration")

    plates = frame["Image_Metadata_Plate_DAPI"]
    bad_plate = ~plates.str.fullmatch(r"Week\d+_[A-Za-z0-9]+")
    if bad_plate.any():
        raise Bbbc021DataError(f"{what} {path}: malformed plate name {plates[bad_plate].iloc[0]!r}")
    wells = frame["Image_Metadata_Well_DAPI"]
    bad_well = ~wells.str.fullmatch(_WELL_RE.pattern)
    if bad_well.any():
        raise Bbbc021DataError(f"{what} {path}: malformed well {wells[bad_well].iloc[0]!r}")
    expected_path = plates.str.extract(r"^(Week\d+)_", expand=False) + "/" + plates
    for channel in layout.CHANNEL_COLUMNS.values():
        names = frame[f"Image_FileName_{channel}"]
        bad_name = ~names.str.endswith(".tif") | names.str.contains(r"[/\\]") | names.str.startswith(".")
        if bad_name.any():
            raise Bbbc021DataError(
                f"{what} {path}: Image_FileName_{channel} {names[bad_name].iloc[0]!r} is not a plain .tif file name"
            )
        wrong_dir = frame[f"Image_PathName_{channel}"] != expected_path
        if wrong_dir.any():
            row = wrong_dir.to_numpy().argmax()
            raise Bbbc021DataError(
                f"{what} {path}: Image_PathName_{channel} {frame[f'Image_PathName_{channel}'].iloc[row]!r} "
                f"does not match plate {plates.iloc[row]!r} (expected {expected_path.iloc[row]!r})"
            )
    sites = frame["Image_FileName_DAPI"].str.extract(_SITE_RE.pattern, expand=False)
    if sites.isna().any():
        raise Bbbc021DataError(
            f"{what} {path}: no site (_sN_) in DAPI file name {frame['Image_FileName_DAPI'][sites.isna()].iloc[0]!r}"
        )
    files = pd.concat(
        [plates + "/" + frame[f"Image_FileName_{c}"] for c in layout.CHANNEL_COLUMNS.values()], ignore_index=True
    )
    duplicated = files.duplicated()
    if duplicated.any():
        raise Bbbc021DataError(f"{what} {path}: file {files[duplicated].iloc[0]!r} is listed twice")
    fields = plates + "/" + wells + "/" + sites
    if fields.duplicated().any():
        raise Bbbc021DataError(f"{what} {path}: field {fields[fields.duplicated()].iloc[0]!r} is listed twice")
    return frame.reset_index(drop=True)


def read_moa_csv(path: Path | str | None = None) -> pd.DataFrame:
    """MOA ground truth (`BBBC021_v1_moa.csv`): columns compound, concentration (float), moa.

    Checks: columns present, no empty values, numeric non-negative concentrations, each
    (compound, concentration) once, and one MOA per compound (the published file satisfies all).
    """
    path = packaged_path(layout.MOA_CSV) if path is None else Path(path)
    what = "BBBC021 MOA CSV"
    frame = _read(path, what)
    _require_columns(frame, MOA_COLUMNS, path, what)
    frame = frame.loc[:, list(MOA_COLUMNS)].copy()
    _require_values(frame, MOA_COLUMNS, path, what)
    frame["concentration"] = _numeric(frame, "concentration", path, what, float)
    if (frame["concentration"] < 0).any():
        raise Bbbc021DataError(f"{what} {path}: negative concentration")
    keys = pd.Series(list(zip(frame["compound"], concentration_key(frame["concentration"]), strict=True)))
    if keys.duplicated().any():
        compound, concentration = keys[keys.duplicated()].iloc[0]
        raise Bbbc021DataError(f"{what} {path}: treatment {compound} @ {concentration} is listed twice")
    moas_per_compound = frame.groupby("compound")["moa"].nunique()
    conflicting = moas_per_compound[moas_per_compound > 1]
    if len(conflicting):
        raise Bbbc021DataError(f"{what} {path}: compound {conflicting.index[0]!r} has more than one MOA")
    return frame.reset_index(drop=True)


def read_compound_csv(path: Path | str) -> pd.DataFrame:
    """Compound structures (`BBBC021_v1_compound.csv`): columns compound, smiles. Optional in a
    copy; nothing in the pipeline needs it, it is read for completeness and checked the same way."""
    path = Path(path)
    what = "BBBC021 compound CSV"
    frame = _read(path, what)
    _require_columns(frame, COMPOUND_COLUMNS, path, what)
    frame = frame.loc[:, list(COMPOUND_COLUMNS)].copy()
    _require_values(frame, ("compound",), path, what)
    duplicated = frame["compound"].duplicated()
    if duplicated.any():
        raise Bbbc021DataError(f"{what} {path}: compound {frame['compound'][duplicated].iloc[0]!r} is listed twice")
    return frame.reset_index(drop=True)
