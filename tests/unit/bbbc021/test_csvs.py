"""Readers of the BBBC021 CSVs: the real files and malformed ones."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from bioims.bbbc021 import csvs, layout
from bioims.bbbc021.csvs import Bbbc021DataError, concentration_text, read_compound_csv, read_image_csv, read_moa_csv

SHARED = Path(__file__).resolve().parents[4] / "shared" / "bbbc021-data"


def _real_lines() -> list[str]:
    with gzip.open(csvs.packaged_path(layout.IMAGE_CSV_GZ), "rt", encoding="utf-8") as handle:
        return handle.read().splitlines(keepends=True)


def _write(tmp_path: Path, lines: list[str], name: str = "image.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_packaged_csvs_are_the_published_bytes():
    assert (
        hashlib.md5(csvs.packaged_path(layout.MOA_CSV).read_bytes()).hexdigest() == "f200e1afd91a9bab845d6021b44e8298"
    )
    assert (
        hashlib.md5(csvs.packaged_path(layout.IMAGE_CSV_GZ).read_bytes()).hexdigest()
        == "11e248dd42e6c1adeda473e28934f18b"
    )


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared BBBC021 data not present")
def test_reads_the_shared_copies_identically():
    assert read_image_csv(SHARED / layout.IMAGE_CSV_GZ).equals(read_image_csv())
    assert read_moa_csv(SHARED / layout.MOA_CSV).equals(read_moa_csv())


def test_image_csv_facts():
    table = read_image_csv()
    assert len(table) == 13_200
    assert table["Image_Metadata_Plate_DAPI"].nunique() == 55
    assert table["Image_Metadata_Plate_DAPI"].str.extract(r"^(Week\d+)_")[0].nunique() == 10
    assert (table.groupby("Image_Metadata_Plate_DAPI").size() == 240).all()
    assert table["Image_Metadata_Compound"].nunique() == 113
    assert table["Image_Metadata_Concentration"].dtype == float
    # Strings stay strings: no compound became NaN.
    assert table["Image_Metadata_Compound"].map(type).eq(str).all()


def test_moa_csv_facts():
    table = read_moa_csv()
    assert len(table) == 104
    annotated = table[table["compound"] != "DMSO"]
    assert len(annotated) == 103
    assert annotated["compound"].nunique() == 38
    assert annotated["moa"].nunique() == 12
    assert table.loc[table["compound"] == "DMSO", "moa"].tolist() == ["DMSO"]


def test_missing_column_is_named(tmp_path):
    lines = _real_lines()[:5]
    header = lines[0].rstrip("\n").split(",")
    drop = header.index("Image_Metadata_Concentration")
    cut = [",".join(v for i, v in enumerate(line.rstrip("\n").split(",")) if i != drop) + "\n" for line in lines[:1]]
    path = _write(tmp_path, cut + lines[1:2])
    with pytest.raises(Bbbc021DataError, match="lacks column.*Image_Metadata_Concentration"):
        read_image_csv(path)


def test_missing_file_and_garbage(tmp_path):
    with pytest.raises(Bbbc021DataError, match="not found"):
        read_image_csv(tmp_path / "nope.csv")
    garbage = tmp_path / "garbage.csv.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00 definitely not gzip")
    with pytest.raises(Bbbc021DataError, match="not a readable CSV"):
        read_image_csv(garbage)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(Bbbc021DataError):
        read_image_csv(empty)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("Image_Metadata_Concentration", "lots", "not a number"),
        ("Image_Metadata_Concentration", "-1", "negative"),
        ("Image_Metadata_Plate_DAPI", "Plate7", "malformed plate"),
        ("Image_Metadata_Well_DAPI", "Z99", "malformed well"),
        ("Image_FileName_DAPI", "../evil.tif", "plain .tif"),
        ("Image_FileName_DAPI", "B02_w1.tif", r"no site"),
        ("Image_PathName_Actin", "Week9/Week9_1", "does not match plate"),
        ("Replicate", "", "empty Replicate"),
    ],
)
def test_bad_values_are_rejected(tmp_path, column, value, message):
    lines = _real_lines()[:4]
    header = lines[0].rstrip("\n").split(",")
    fields = lines[2].rstrip("\n").split(",")
    assert len(fields) == len(header)
    fields[header.index(column)] = value
    path = _write(tmp_path, [lines[0], lines[1], ",".join(fields) + "\n", lines[3]])
    with pytest.raises(Bbbc021DataError, match=message):
        read_image_csv(path)


def test_duplicate_file_is_rejected(tmp_path):
    lines = _real_lines()[:3]
    path = _write(tmp_path, [lines[0], lines[1], lines[1]])
    with pytest.raises(Bbbc021DataError, match="listed twice"):
        read_image_csv(path)


def test_moa_csv_errors(tmp_path):
    good = csvs.packaged_path(layout.MOA_CSV).read_text().splitlines(keepends=True)
    duplicate = _write(tmp_path, good + [good[1]], "dup.csv")
    with pytest.raises(Bbbc021DataError, match="listed twice"):
        read_moa_csv(duplicate)
    compound = good[1].split(",")[0]
    conflict = _write(tmp_path, good + [f'{compound},123.000000,"DNA damage"\n'], "conflict.csv")
    with pytest.raises(Bbbc021DataError, match="more than one MOA"):
        read_moa_csv(conflict)
    no_moa = _write(tmp_path, ["compound,concentration\n", "x,1\n"], "nomoa.csv")
    with pytest.raises(Bbbc021DataError, match="lacks column.*moa"):
        read_moa_csv(no_moa)


def test_compound_csv(tmp_path):
    path = _write(tmp_path, ['"compound","smiles"\n', '"taxol","CC1=C2"\n', '"DMSO","CS(C)=O"\n'], "c.csv")
    table = read_compound_csv(path)
    assert table["compound"].tolist() == ["taxol", "DMSO"]
    dup = _write(tmp_path, ['"compound","smiles"\n', '"taxol","a"\n', '"taxol","b"\n'], "d.csv")
    with pytest.raises(Bbbc021DataError, match="listed twice"):
        read_compound_csv(dup)


def test_concentration_matching_and_text():
    assert concentration_text(0.3) == "0.3"
    assert concentration_text(1000.0) == "1000"
    assert concentration_text(3e-6) == "0.000003"
    assert concentration_text(0.0) == "0"
    # The MOA file's `%f` text and the image file's shortest float agree after rounding.
    moa = read_moa_csv()
    image = read_image_csv()
    keys = set(
        zip(
            image["Image_Metadata_Compound"], csvs.concentration_key(image["Image_Metadata_Concentration"]), strict=True
        )
    )
    assert all(k in keys for k in zip(moa["compound"], csvs.concentration_key(moa["concentration"]), strict=True))
    assert isinstance(image, pd.DataFrame)
