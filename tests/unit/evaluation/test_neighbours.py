"""NSC / NSCB against independent brute-force computations of the documented protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.evaluation import EvaluationError, nsc, nscb
from bioims.profiling import ProfileError

from .synthetic import brute_force_nn, synthetic_images, synthetic_wells, treatment_medians, well_items


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_treatment_level_matches_brute_force(seed):
    wells = synthetic_wells(seed, noise=1.2)
    items = treatment_medians(wells)
    for result, batch in ((nsc(wells), False), (nscb(wells), True)):
        assert (result.correct, result.total) == brute_force_nn(items, batch)
        assert result.accuracy == pytest.approx(result.correct / result.total)


def test_well_level_matches_brute_force():
    wells = synthetic_wells(5, noise=1.2)
    items = well_items(wells)
    assert (nsc(wells, "well").correct, nsc(wells, "well").total) == brute_force_nn(items, False)
    assert (nscb(wells, "well").correct, nscb(wells, "well").total) == brute_force_nn(items, True)


def test_image_level_queries_every_labelled_image():
    images = synthetic_images(0, sites=2, noise=1.2)
    features = [c for c in images.columns if not c.startswith("Metadata_")]
    items = [
        {
            "compound": r["Metadata_Compound"],
            "moa": r["Metadata_moa"],
            "weeks": {r["Metadata_Plate"].split("_")[0]},
            "x": np.array([r[f] for f in features]),
        }
        for _, r in images.iterrows()
    ]
    result = nsc(images, "image")
    assert (result.correct, result.total) == brute_force_nn(items, False)
    assert result.total == int((images["Metadata_Compound"] != "DMSO").sum())


def test_never_matches_own_compound_or_dmso_and_nscb_other_weeks():
    wells = synthetic_wells(1)
    for result in (nsc(wells), nscb(wells)):
        q = result.queries
        assert (q["neighbour_compound"] != q["compound"]).all()
        assert (q["neighbour_compound"] != "DMSO").all()
        assert "DMSO" not in set(q["compound"])
    q = nscb(wells).queries
    neighbour_batch = q["neighbour"].map(dict(zip(q["query"], q["Metadata_Batch"], strict=True)))
    # neighbours that are themselves queries carry their batch; none may share a week
    both = neighbour_batch.notna()
    shared = [
        set(a.split("|")) & set(b.split("|"))
        for a, b in zip(q.loc[both, "Metadata_Batch"], neighbour_batch[both], strict=True)
    ]
    assert not any(shared)


def test_nscb_drops_moa_seen_in_one_batch_and_multi_week_treatment_is_kept_apart():
    wells = synthetic_wells(2)
    result = nscb(wells)
    assert set(result.dropped["true_moa"]) == {"M4"}
    assert len(result.dropped) == 4  # c7, c8 at two concentrations
    c10 = result.queries[result.queries["compound"] == "c10"]
    assert (c10["Metadata_Batch"] == "Week1|Week2").all()
    assert set(c10["neighbour_compound"]).isdisjoint({"c1", "c2", "c3", "c5"})  # the Week1/Week2 compounds
    assert any("M4" in n for n in result.notes)


def test_nscb_one_batch_moa_is_no_candidate_either():
    # c7 (M4, Week3 only) becomes an exact copy of c1 (M1, Week1): NSC finds it for c1, NSCB may not
    wells = synthetic_wells(1)
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    c1 = wells[wells["Metadata_Compound"] == "c1"].sort_values("Metadata_Concentration", kind="stable")
    c7 = wells.index[wells["Metadata_Compound"] == "c7"]
    c7 = wells.loc[c7].sort_values("Metadata_Concentration", kind="stable").index
    wells.loc[c7, features] = c1[features].to_numpy()
    c1_nsc = nsc(wells).queries.query("compound == 'c1'")
    assert (c1_nsc["neighbour_compound"] == "c7").all() and (c1_nsc["predicted_moa"] == "M4").all()
    result = nscb(wells)
    assert "M4" not in set(result.queries["predicted_moa"]) | set(result.queries["true_moa"])
    assert set(result.dropped.loc[result.dropped["true_moa"] == "M4", "reason"]) == {"MOA found in one batch only"}
    assert (result.correct, result.total) == brute_force_nn(treatment_medians(wells), True)


def test_perfectly_separated_profiles_give_full_accuracy():
    wells = synthetic_wells(0, noise=0.0, signal=5.0)
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    # make every MOA an orthogonal direction, compounds identical within an MOA
    moa_index = wells["Metadata_moa"].map({"M1": 0, "M2": 1, "M3": 2, "M4": 3, "DMSO": 4})
    wells[features] = np.eye(len(features))[moa_index.to_numpy()]
    assert nsc(wells).accuracy == 1.0
    assert nscb(wells).accuracy == 1.0


def test_treatment_without_moa_is_left_out_with_a_note():
    wells = synthetic_wells(0)
    wells.loc[wells["Metadata_Compound"] == "c9", "Metadata_moa"] = None
    result = nsc(wells)
    assert "c9" not in set(result.queries["compound"])
    assert "c9" not in set(result.queries["neighbour_compound"])
    assert any("without an MOA" in n and "c9@" in n for n in result.notes)


def test_nan_and_inf_features_are_dropped_with_a_note():
    wells = synthetic_wells(3, noise=1.2)
    reference = nsc(wells)
    wells["bad_nan"] = 1.0
    wells["bad_inf"] = 2.0
    wells.loc[wells["Metadata_Compound"] == "c1", "bad_nan"] = np.nan
    wells.loc[wells["Metadata_Compound"] == "c2", "bad_inf"] = np.inf
    wells.loc[wells["Metadata_Compound"] == "c2", "bad_nan"] = np.nan
    result = nsc(wells)
    assert any("bad_inf" in n and "NaN/inf" in n for n in result.notes)
    assert (result.correct, result.total) == (reference.correct, reference.total)


def test_missing_metadata_column_is_a_clear_error():
    wells = synthetic_wells(0).drop(columns=["Metadata_moa"])
    with pytest.raises(ProfileError, match="Metadata_moa"):
        nsc(wells)
    wells = synthetic_wells(0).drop(columns=["Metadata_Concentration"])
    with pytest.raises(ProfileError, match="Metadata_Concentration"):
        nsc(wells, "treatment")


def test_nscb_without_any_batch_information_is_a_clear_error():
    wells = synthetic_wells(0)
    wells["Metadata_Plate"] = "P-" + wells["Metadata_Plate"]
    with pytest.raises(EvaluationError, match="Metadata_Batch"):
        nscb(wells)
    wells["Metadata_Batch"] = "B1"
    wells.loc[wells["Metadata_Compound"].isin(["c2", "c5"]), "Metadata_Batch"] = "B2"
    assert nscb(wells).total > 0


def test_single_well_treatment_is_evaluated_and_noted():
    wells = synthetic_wells(0)
    first = wells.index[(wells["Metadata_Compound"] == "c3") & (wells["Metadata_Concentration"] == 1.0)][0]
    wells = wells.drop(
        index=wells.index[
            (wells["Metadata_Compound"] == "c3") & (wells["Metadata_Concentration"] == 1.0) & (wells.index != first)
        ]
    )
    result = nsc(wells)
    assert "c3@1" in set(result.queries["query"])
    assert any("single profile" in n and "c3@1" in n for n in result.notes)


def test_queries_table_is_consistent():
    result = nsc(synthetic_wells(4, noise=1.2))
    q = result.queries
    assert list(q.columns[:8]) == [
        "query",
        "compound",
        "true_moa",
        "predicted_moa",
        "neighbour",
        "neighbour_compound",
        "similarity",
        "correct",
    ]
    assert (q["correct"] == (q["true_moa"] == q["predicted_moa"])).all()
    assert q["similarity"].between(-1, 1).all()


def test_empty_or_control_only_tables_fail_clearly():
    wells = synthetic_wells(0)
    with pytest.raises(EvaluationError, match="empty"):
        nsc(wells.iloc[0:0])
    with pytest.raises(EvaluationError, match="no MOA-labelled"):
        nsc(wells[wells["Metadata_Compound"] == "DMSO"])


def test_input_is_not_modified():
    wells = synthetic_wells(0)
    before = wells.copy()
    nsc(wells)
    nscb(wells)
    pd.testing.assert_frame_equal(wells, before)
