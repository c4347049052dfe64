"""Whitening fitted on controls: the controls come out with identity covariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.profiling import ProfileError, fit_whitener, whiten


def correlated(seed=0, n_controls=400, n_treated=50, d=6):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d))
    values = rng.normal(size=(n_controls + n_treated, d)) @ mixing + 3.0
    meta = pd.DataFrame(
        {
            "Metadata_Plate": "P1",
            "Metadata_Well": [f"W{i}" for i in range(len(values))],
            "Metadata_Compound": ["DMSO"] * n_controls + ["x"] * n_treated,
        }
    )
    return pd.concat([meta, pd.DataFrame(values, columns=[f"f{i}" for i in range(d)])], axis=1)


@pytest.mark.parametrize("method", ["zca", "pca", "zca-cor", "pca-cor"])
def test_controls_become_white(method):
    df = correlated()
    out = whiten(df, method, epsilon=1e-9)
    features = [c for c in out.columns if not c.startswith("Metadata_")]
    controls = out.loc[df["Metadata_Compound"] == "DMSO", features].to_numpy()
    np.testing.assert_allclose(controls.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(np.cov(controls, rowvar=False), np.eye(len(features)), atol=1e-6)
    assert features == ([f"PC{i + 1}" for i in range(6)] if method.startswith("pca") else [f"f{i}" for i in range(6)])


def test_zca_is_the_symmetric_inverse_square_root():
    df = correlated(1)
    w = fit_whitener(df, "zca", epsilon=1e-12)
    controls = df.loc[df["Metadata_Compound"] == "DMSO", [f"f{i}" for i in range(6)]].to_numpy()
    cov = np.cov(controls, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    np.testing.assert_allclose(w.matrix, vectors @ np.diag(values**-0.5) @ vectors.T, rtol=1e-6)


def test_regulariser_keeps_singular_covariances_finite():
    df = correlated(2, n_controls=4, n_treated=5)  # fewer controls than features
    out = whiten(df, "zca", epsilon=0.1)
    assert np.isfinite(out.filter(like="f").to_numpy()).all()


def test_pca_components_and_errors():
    df = correlated(3)
    assert whiten(df, "pca", n_components=2).filter(like="PC").shape[1] == 2
    with pytest.raises(ProfileError, match="n_components"):
        whiten(df, "zca", n_components=2)
    bad = df.copy()
    bad.loc[0, "f0"] = np.nan
    with pytest.raises(ProfileError, match="NaN/inf"):
        whiten(bad)
    with pytest.raises(ProfileError, match="at least 2 control rows"):
        whiten(df.iloc[399:])


def test_per_group_whitening_keeps_row_order():
    df = pd.concat(
        [correlated(4).assign(Metadata_Plate="A"), correlated(5).assign(Metadata_Plate="B")], ignore_index=True
    )
    out = whiten(df, "zca", by="Metadata_Plate")
    assert out.index.equals(df.index)
    assert out["Metadata_Plate"].tolist() == df["Metadata_Plate"].tolist()
    for plate in "AB":
        rows = (df["Metadata_Plate"] == plate) & (df["Metadata_Compound"] == "DMSO")
        np.testing.assert_allclose(out.loc[rows].filter(like="f").mean().to_numpy(), 0, atol=1e-9)
