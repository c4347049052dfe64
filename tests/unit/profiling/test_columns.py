"""Metadata conventions: features, batches, levels, controls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.profiling import ProfileError, batch_of_plate, feature_columns, profile_level, with_batch
from bioims.profiling.columns import control_mask

from .tables import plate_wells


def test_features_are_every_non_metadata_column():
    df = plate_wells()
    assert feature_columns(df) == [f"f{i}" for i in range(5)]
    df["label"] = "x"
    with pytest.raises(ProfileError, match="non-numeric feature column.*label.*Metadata_"):
        feature_columns(df)


def test_batch_from_week_prefix_and_explicit_batch_wins():
    assert batch_of_plate("Week10_40111") == "Week10"
    assert batch_of_plate("plate7") is None
    df = pd.DataFrame({"Metadata_Plate": ["Week2_1", "Week3_4", "other"], "f": [1.0, 2.0, 3.0]})
    assert with_batch(df)["Metadata_Batch"].tolist() == ["Week2", "Week3", None]
    df["Metadata_Batch"] = ["B9", None, None]
    assert with_batch(df)["Metadata_Batch"].tolist() == ["B9", "Week3", None]


def test_levels_are_detected_from_keys():
    wells = plate_wells()
    assert profile_level(wells) == "well"
    images = pd.concat([wells.assign(Metadata_Site=s) for s in (1, 2)], ignore_index=True)
    assert profile_level(images) == "image"
    assert profile_level(images.assign(Metadata_RoiIndex=0)) == "roi"
    treatments = wells.drop(columns=["Metadata_Plate", "Metadata_Well"]).drop_duplicates(
        ["Metadata_Compound", "Metadata_Concentration"]
    )
    assert profile_level(treatments) == "treatment"
    with pytest.raises(ProfileError, match="cannot tell the level"):
        profile_level(wells[["f0"]])


def test_control_definitions():
    df = plate_wells()
    dmso = control_mask(df)
    assert dmso.sum() == 12 and (df.loc[dmso, "Metadata_Compound"] == "DMSO").all()
    assert control_mask(df, "all").all()
    assert control_mask(df, {"Metadata_Compound": ["cmp0", "cmp1"]}).sum() == int(
        df["Metadata_Compound"].isin(["cmp0", "cmp1"]).sum()
    )
    with pytest.raises(ProfileError, match="Metadata_Nope"):
        control_mask(df, {"Metadata_Nope": 1})
    with pytest.raises(ProfileError, match="boolean"):
        control_mask(df, np.ones(3, dtype=bool))
