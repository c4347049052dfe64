"""Aggregation against per-group loops written here, and the ROI -> image -> well -> treatment chain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.profiling import ProfileError, aggregate, profile_level, roll_up


def rois(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for plate in ("Week1_1", "Week2_1"):
        for well, compound, conc in (
            ("A01", "DMSO", 0.0),
            ("A02", "cmpA", 1.0),
            ("A03", "cmpA", 1.0),
            ("A04", "cmpB", 3.0),
        ):
            if plate == "Week2_1" and compound == "cmpB":
                continue
            for site in (1, 2):
                for roi in range(rng.integers(1, 5)):
                    rows.append(
                        {
                            "Metadata_Plate": plate,
                            "Metadata_Well": well,
                            "Metadata_Site": site,
                            "Metadata_ImageId": f"{plate}-{well}-{site}",
                            "Metadata_RoiIndex": roi,
                            "Metadata_Compound": compound,
                            "Metadata_Concentration": conc,
                            "Metadata_moa": {"DMSO": "DMSO", "cmpA": "mA", "cmpB": "mB"}[compound],
                            "f1": rng.normal(),
                            "f2": rng.normal() * 10,
                        }
                    )
    return pd.DataFrame(rows)


def loop_reduce(df, keys, method):
    out = {}
    for key in dict.fromkeys(map(tuple, df[keys].to_numpy().tolist())):
        mask = np.all([df[k].to_numpy() == v for k, v in zip(keys, key, strict=True)], axis=0)
        out[key] = [getattr(np, method)(df.loc[mask, f].to_numpy()) for f in ("f1", "f2")]
    return out


@pytest.mark.parametrize("method", ["mean", "median"])
def test_aggregate_matches_group_loops(method):
    df = rois()
    result = aggregate(df, "well", method=method)
    expected = loop_reduce(df, ["Metadata_Plate", "Metadata_Well"], method)
    assert len(result) == len(expected)
    for row in result.itertuples(index=False):
        assert [row.f1, row.f2] == pytest.approx(expected[(row.Metadata_Plate, row.Metadata_Well)])
    counts = df.groupby(["Metadata_Plate", "Metadata_Well"]).size()
    assert result.set_index(["Metadata_Plate", "Metadata_Well"])["Metadata_Count"].to_dict() == counts.to_dict()


def test_metadata_kept_when_constant_and_dropped_or_joined_otherwise():
    df = rois()
    df["Metadata_Batch"] = df["Metadata_Plate"].str.split("_").str[0]
    wells = aggregate(df, "well")
    assert "Metadata_ImageId" not in wells and "Metadata_RoiIndex" not in wells and "Metadata_Site" not in wells
    assert set(wells["Metadata_moa"]) == {"DMSO", "mA", "mB"}
    treatments = aggregate(wells, "treatment", method="median")
    assert "Metadata_Plate" not in treatments and "Metadata_Well" not in treatments
    batches = treatments.set_index("Metadata_Compound")["Metadata_Batch"].to_dict()
    assert batches == {"DMSO": "Week1|Week2", "cmpA": "Week1|Week2", "cmpB": "Week1"}
    # cmpB has a single well: it must still read as a treatment, not a well
    assert profile_level(treatments) == "treatment"


def test_default_chain_mean_then_medians():
    df = rois(3)
    result = roll_up(df, "treatment")
    images = loop_reduce(df, ["Metadata_ImageId"], "mean")
    image_rows = pd.DataFrame([{"Metadata_ImageId": k[0], "f1": v[0], "f2": v[1]} for k, v in images.items()]).merge(
        df.drop(columns=["f1", "f2", "Metadata_RoiIndex"]).drop_duplicates("Metadata_ImageId"), on="Metadata_ImageId"
    )
    wells = loop_reduce(image_rows, ["Metadata_Plate", "Metadata_Well"], "median")
    well_rows = pd.DataFrame(
        [{"Metadata_Plate": k[0], "Metadata_Well": k[1], "f1": v[0], "f2": v[1]} for k, v in wells.items()]
    ).merge(
        image_rows[
            ["Metadata_Plate", "Metadata_Well", "Metadata_Compound", "Metadata_Concentration"]
        ].drop_duplicates(),
        on=["Metadata_Plate", "Metadata_Well"],
    )
    expected = loop_reduce(well_rows, ["Metadata_Compound", "Metadata_Concentration"], "median")
    for row in result.itertuples(index=False):
        assert [row.f1, row.f2] == pytest.approx(expected[(row.Metadata_Compound, row.Metadata_Concentration)])
    assert roll_up(df, "image").shape[0] == df["Metadata_ImageId"].nunique()
    mean_chain = roll_up(df, "treatment", {"treatment": "mean"})
    assert not np.allclose(mean_chain["f2"], result["f2"])


def test_errors_change_nothing():
    df = rois()
    before = df.copy()
    bad = df.copy()
    bad.loc[bad.index[0], "Metadata_moa"] = "other"
    with pytest.raises(ProfileError, match="Metadata_moa differs inside 1 group"):
        aggregate(bad, "well")
    with pytest.raises(ProfileError, match="method"):
        aggregate(df, "well", method="max")
    with pytest.raises(ProfileError, match="exactly one"):
        aggregate(df)
    with pytest.raises(ProfileError, match="Metadata_Concentration"):
        aggregate(df.drop(columns=["Metadata_Concentration"]), "treatment")
    with pytest.raises(ProfileError, match="cannot be split"):
        roll_up(aggregate(df, "well"), "image")
    pd.testing.assert_frame_equal(df, before)


def test_nan_features_are_ignored_by_the_reduction():
    df = rois()
    df.loc[df.index[:3], "f1"] = np.nan
    wells = aggregate(df, "well", method="median")
    assert wells["f1"].notna().all()
