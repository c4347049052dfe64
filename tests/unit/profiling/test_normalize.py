"""Per-plate normalisation against DMSO, checked against statistics computed here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.profiling import ProfileError, normalize

from .tables import plate_wells

FEATURES = [f"f{i}" for i in range(5)]


def per_plate_expected(df, location, scale):
    out = df[FEATURES].to_numpy(dtype=float).copy()
    for plate in df["Metadata_Plate"].unique():
        rows = (df["Metadata_Plate"] == plate).to_numpy()
        controls = df.loc[rows & (df["Metadata_Compound"] == "DMSO").to_numpy(), FEATURES].to_numpy()
        out[rows] = (out[rows] - location(controls)) / scale(controls)
    return out


def test_standardize_is_a_per_plate_dmso_z_score():
    df = plate_wells(1)
    result = normalize(df, "standardize", scale_floor=0.0)
    expected = per_plate_expected(df, lambda c: c.mean(axis=0), lambda c: c.std(axis=0))
    np.testing.assert_allclose(result[FEATURES].to_numpy(), expected)
    dmso = result[result["Metadata_Compound"] == "DMSO"]
    np.testing.assert_allclose(dmso.groupby("Metadata_Plate")[FEATURES].mean().to_numpy(), 0, atol=1e-12)


def test_robustize_uses_median_and_scaled_mad():
    df = plate_wells(2)
    result = normalize(df, "robustize", scale_floor=0.0)

    def mad(c):
        return 1.4826 * np.median(np.abs(c - np.median(c, axis=0)), axis=0)

    expected = per_plate_expected(df, lambda c: np.median(c, axis=0), mad)
    np.testing.assert_allclose(result[FEATURES].to_numpy(), expected)


def test_center_and_whole_table_reference():
    df = plate_wells(3)
    centred = normalize(df, "center")
    expected = per_plate_expected(df, lambda c: c.mean(axis=0), lambda c: 1.0)
    np.testing.assert_allclose(centred[FEATURES].to_numpy(), expected)
    whole = normalize(df, "standardize", by=None, control="all", scale_floor=0.0)
    values = df[FEATURES].to_numpy()
    np.testing.assert_allclose(whole[FEATURES].to_numpy(), (values - values.mean(0)) / values.std(0))


def test_near_constant_feature_cannot_explode():
    df = plate_wells(4)
    dmso = df["Metadata_Compound"] == "DMSO"
    # on plate 0 the controls of f0 agree to 1e-9 (MAD ~ 1e-9), the treated wells differ by ~1
    first = df["Metadata_Plate"] == df["Metadata_Plate"].iloc[0]
    df.loc[first & dmso, "f0"] = 7.0 + 1e-9 * np.arange(int((first & dmso).sum()))
    unfloored = normalize(df, "robustize", scale_floor=0.0)
    assert np.abs(unfloored.loc[first & ~dmso, "f0"]).max() > 1e6
    floored = normalize(df, "robustize")  # default floor: the feature's typical plate scale
    typical = np.median(
        [1.4826 * np.median(np.abs(g - np.median(g))) for _, g in df[dmso].groupby("Metadata_Plate")["f0"]]
    )
    expected = (df.loc[first & ~dmso, "f0"] - np.median(df.loc[first & dmso, "f0"])) / typical
    np.testing.assert_allclose(floored.loc[first & ~dmso, "f0"], expected)
    clipped = normalize(df, "robustize", scale_floor=0.0, clip=5.0)
    assert np.abs(clipped[FEATURES].to_numpy()).max() <= 5.0


def test_constant_feature_becomes_zero_not_nan():
    df = plate_wells(5)
    df["f0"] = 3.0
    assert (normalize(df)["f0"] == 0).all()


def test_nan_values_stay_nan_and_do_not_spoil_statistics():
    df = plate_wells(6)
    df.loc[df.index[0], "f1"] = np.nan  # a DMSO well on the first plate
    result = normalize(df, "standardize", scale_floor=0.0)
    assert np.isnan(result.loc[df.index[0], "f1"])
    assert result["f1"].drop(index=df.index[0]).notna().all()


def test_plate_without_controls_is_a_clear_error_and_input_is_untouched():
    df = plate_wells(0)
    df = df[~((df["Metadata_Plate"] == "Week2_1") & (df["Metadata_Compound"] == "DMSO"))].reset_index(drop=True)
    before = df.copy()
    with pytest.raises(ProfileError, match="1 group.*no control rows.*Week2_1"):
        normalize(df)
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(ProfileError, match="Metadata_Plate"):
        normalize(df.drop(columns=["Metadata_Plate"]))
    with pytest.raises(ProfileError, match="method"):
        normalize(df, "zscore")
