"""The real BBBC021 tables joined into profiles: the documented facts of the files."""

from __future__ import annotations

import numpy as np

from bioims.profiling import feature_columns, profile_level


def test_ljosa_well_means_design(ljosa_wells):
    df = ljosa_wells
    assert len(df) == 632 and profile_level(df) == "well"
    assert len(feature_columns(df)) == 516
    dmso = df["Metadata_Compound"] == "DMSO"
    assert dmso.sum() == 330
    assert (df[dmso].groupby("Metadata_Plate").size() == 6).all()
    assert df["Metadata_Plate"].nunique() == 55
    assert df["Metadata_Batch"].nunique() == 10
    treated = df[~dmso]
    assert treated["Metadata_moa"].notna().all()
    assert treated.groupby(["Metadata_Compound", "Metadata_Concentration"]).ngroups == 103
    assert treated["Metadata_Compound"].nunique() == 38
    assert treated["Metadata_moa"].nunique() == 12
    # taxol's annotated wells are the Week1 ones (the positive-control wells are not in this file)
    assert set(df.loc[df["Metadata_Compound"] == "taxol", "Metadata_Batch"]) == {"Week1"}


def test_pycytominer_file_is_the_same_wells(pycytominer_wells, ljosa_wells):
    keys = ["Metadata_Plate", "Metadata_Well"]
    merged = pycytominer_wells[keys + ["Metadata_Compound"]].merge(ljosa_wells[keys + ["Metadata_Compound"]], on=keys)
    assert len(merged) == 632
    assert (merged["Metadata_Compound_x"] == merged["Metadata_Compound_y"]).all()
    assert len(feature_columns(pycytominer_wells)) == 189
    assert np.isfinite(pycytominer_wells[feature_columns(pycytominer_wells)].to_numpy()).all()


def test_repository_copies_are_the_published_bytes():
    import hashlib

    from bioims.profiling.reference import PYCYTOMINER, WELL_MEANS, data_file

    expected = {WELL_MEANS: "ab9b5d9e028e8c88ef3de31ceb018b5d", PYCYTOMINER: "b390380ee9d5a1b2f05bfde7ca80a172"}
    for name, md5 in expected.items():
        path = data_file(name, None)
        assert path.parent.name == "reference"
        assert hashlib.md5(path.read_bytes()).hexdigest() == md5
