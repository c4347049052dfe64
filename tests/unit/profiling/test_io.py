"""Profile files: CSV, gzipped CSV and Parquet round trips; text metadata stays text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.profiling import ProfileError, read_profiles, write_profiles


def profiles():
    return pd.DataFrame(
        {
            "Metadata_Plate": ["22123", "22123", "Week1_22141"],
            "Metadata_Well": ["B02", "C02", "D02"],
            "Metadata_Compound": ["DMSO", "taxol", None],
            "Metadata_Concentration": [0.0, 0.3, 1.0],
            "Metadata_moa": ["DMSO", "Microtubule stabilizers", None],
            "f1": [0.5, np.nan, 2.0],
            "f2": [1, 2, 3],
        }
    )


@pytest.mark.parametrize("name", ["p.csv", "p.csv.gz", "p.parquet"])
def test_round_trip(tmp_path, name):
    df = profiles()
    path = write_profiles(df, tmp_path / "sub" / name)
    back = read_profiles(path)
    assert back["Metadata_Plate"].tolist() == ["22123", "22123", "Week1_22141"]
    assert back["Metadata_Compound"].tolist() == ["DMSO", "taxol", None]
    assert back["Metadata_moa"].tolist()[2] is None
    np.testing.assert_allclose(back["f1"].to_numpy(), df["f1"].to_numpy())
    np.testing.assert_allclose(back["Metadata_Concentration"], df["Metadata_Concentration"])
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temporary left behind


def test_errors(tmp_path):
    with pytest.raises(ProfileError, match="unknown profile format"):
        write_profiles(profiles(), tmp_path / "p.xlsx")
    with pytest.raises(ProfileError, match="no such file"):
        read_profiles(tmp_path / "missing.csv")
    bad = profiles().assign(label=["a", "b", "c"])
    with pytest.raises(ProfileError, match="label"):
        write_profiles(bad, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(ProfileError, match="cannot read"):
        read_profiles(tmp_path / "broken.parquet")


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = write_profiles(profiles(), tmp_path / "p.csv")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", explode)
    with pytest.raises(OSError, match="disk full"):
        write_profiles(profiles().iloc[:1], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]
