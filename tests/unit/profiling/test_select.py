"""Feature selection: NaN, near-zero variance, correlation, blocklist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.profiling import ProfileError, feature_select, select_features


def table(seed=0, n=300):
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    df = pd.DataFrame(
        {
            "Metadata_Well": [f"W{i}" for i in range(n)],
            "a": a,
            "b": b,
            "a_copy": 2 * a + 0.01 * rng.normal(size=n),  # |r| ~ 1 with a
            "c": c,
            "constant": np.ones(n),
            "rare": np.where(np.arange(n) < 2, 5.0, 0.0),  # 2 of 300 differ, 2 distinct values
            "holes": np.where(np.arange(n) < 45, np.nan, c),  # 15% NaN
            "Cells_AreaShape_Center_X": rng.normal(size=n),
        }
    )
    return df


def test_each_operation():
    df = table()
    assert "holes" not in select_features(df, ["nan"])
    assert "holes" in select_features(df, ["nan"], na_cutoff=0.2)
    kept = select_features(df, ["variance"])
    assert "constant" not in kept and "rare" not in kept and "a" in kept
    kept = select_features(df.drop(columns=["holes"]), ["correlation"])
    assert ("a" in kept) != ("a_copy" in kept)
    assert {"b", "c"} <= set(kept)
    assert "Cells_AreaShape_Center_X" not in select_features(df, ["blocklist"])


def test_feature_select_keeps_metadata_and_the_order():
    out = feature_select(table(), ["nan", "variance", "correlation", "blocklist"])
    assert out.columns[0] == "Metadata_Well"
    assert set(out.columns[1:]) in ({"a", "b", "c"}, {"a_copy", "b", "c"})


def test_samples_restrict_the_rows_used():
    df = table()
    df["rare"] = np.where(np.arange(len(df)) < 100, 0.0, np.arange(len(df)))
    assert "rare" not in select_features(df, ["variance"], samples=np.arange(len(df)) < 100)
    assert "rare" in select_features(df, ["variance"])


def test_bad_requests():
    with pytest.raises(ProfileError, match="unknown feature-selection operation"):
        select_features(table(), ["pca"])
    with pytest.raises(ProfileError, match="removed every feature"):
        feature_select(table()[["Metadata_Well", "constant"]], ["variance"])
