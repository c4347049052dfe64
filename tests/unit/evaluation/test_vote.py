"""The original's compound vote (docs/original.md §7.6) against a hand computation.

Images are unit vectors at the angles below (degrees), so cosine similarity falls with the angle
between two images and the top-k hits can be read off by hand. k = 2.

    a1 (MOA A): 0, 8 (conc 1, annotated), 12 (conc 10, no MOA in the table)
    a2 (MOA A): 30, 40
    b1 (MOA B): 52, 75
    b2 (MOA B): 100, 115
    b3 (MOA B): 35, 170
    DMSO:       4, 31      (nearest to a1's and a2's images, but never a candidate)

Every concentration of a compound inherits its MOA, so N_A = 5 images (a1: 3, a2: 2), N_B = 6.

a1: Q0 -> 30 (A), 35 (B); Q8 -> 30 (A), 35 (B); Q12 -> 30 (A), 35 (B)      c_A=3 c_B=3
    score_A = 3 / (5 - 3) = 1.5, score_B = 3 / 6 = 0.5                       -> A (correct)
a2: Q30 -> 35 (B, 5 deg), 12 (A, 18 deg); Q40 -> 35 (B), 52 (B)            c_A=1 c_B=3
    score_A = 1 / (5 - 2) = 0.333, score_B = 3 / 6 = 0.5                     -> B (wrong)
b1: Q52 -> 40 (A), 35 (B); Q75 -> 100 (B, 25 deg), 40 (A, 35 deg; 115 and 35 at 40) c_A=2 c_B=2
    score_A = 2 / 5 = 0.4, score_B = 2 / (6 - 2) = 0.5                       -> B (correct)
b2: Q100 -> 75 (B), 52 (B); Q115 -> 75 (B), 170 (B)                         c_A=0 c_B=4
    score_A = 0, score_B = 4 / 4 = 1.0                                       -> B (correct)
b3: Q35 -> 30 (A), 40 (A); Q170 -> 115 (B), 100 (B)                         c_A=2 c_B=2
    score_A = 2 / 5 = 0.4, score_B = 2 / 4 = 0.5                             -> B (correct)
Accuracy 4 / 5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bioims.evaluation import EvaluationError, compound_vote

IMAGES = [
    ("a1", 1.0, "A", 0), ("a1", 1.0, "A", 8), ("a1", 10.0, None, 12),
    ("a2", 1.0, "A", 30), ("a2", 1.0, "A", 40),
    ("b1", 1.0, "B", 52), ("b1", 1.0, "B", 75),
    ("b2", 1.0, "B", 100), ("b2", 1.0, "B", 115),
    ("b3", 1.0, "B", 35), ("b3", 1.0, "B", 170),
    ("DMSO", 0.0, "DMSO", 4), ("DMSO", 0.0, "DMSO", 31),
]  # fmt: skip


def images(rows=IMAGES) -> pd.DataFrame:
    angles = np.deg2rad([r[3] for r in rows])
    return pd.DataFrame(
        {
            "Metadata_ImageId": [f"img{i}" for i in range(len(rows))],
            "Metadata_Plate": "Week1_1",
            "Metadata_Well": [f"W{i}" for i in range(len(rows))],
            "Metadata_Compound": [r[0] for r in rows],
            "Metadata_Concentration": [r[1] for r in rows],
            "Metadata_moa": [r[2] for r in rows],
            "x": np.cos(angles),
            "y": np.sin(angles),
        }
    )


def test_hand_computed_example():
    result = compound_vote(images(), k=2)
    table = result.per_compound.set_index("compound")
    assert table["predicted_moa"].to_dict() == {"a1": "A", "a2": "B", "b1": "B", "b2": "B", "b3": "B"}
    assert (result.correct, result.total) == (4, 5)
    assert result.accuracy == pytest.approx(0.8)
    assert result.hits.loc[:, ["A", "B"]].to_dict("index") == {
        "a1": {"A": 3, "B": 3},
        "a2": {"A": 1, "B": 3},
        "b1": {"A": 2, "B": 2},
        "b2": {"A": 0, "B": 4},
        "b3": {"A": 2, "B": 2},
    }
    expected_scores = {
        "a1": (1.5, 0.5),
        "a2": (1 / 3, 0.5),
        "b1": (0.4, 0.5),
        "b2": (0.0, 1.0),
        "b3": (0.4, 0.5),
    }
    for compound, (a, b) in expected_scores.items():
        assert result.scores.loc[compound, "A"] == pytest.approx(a)
        assert result.scores.loc[compound, "B"] == pytest.approx(b)
    assert table.loc["a1", "n_queries"] == 3  # the unannotated concentration is queried too


def test_ties_go_to_the_true_moa_as_in_the_original():
    # With N_A = 4 (as if one A image had no embedding): a2 -> A 1/2 vs B 3/6, b1 -> A 2/4 vs
    # B 2/4, b3 -> A 2/4 vs B 2/4: three ties, which the original counts as correct.
    counts = {"A": 4, "B": 6, "DMSO": 2}
    lenient = compound_vote(images(), k=2, moa_counts=counts)
    assert (lenient.correct, lenient.total) == (5, 5)
    strict = compound_vote(images(), k=2, moa_counts=counts, ties="strict")
    assert strict.per_compound.set_index("compound")["correct"].to_dict() == {
        "a1": True, "a2": False, "b1": False, "b2": True, "b3": False,
    }  # fmt: skip


def test_one_table_per_left_out_compound():
    # a2's own model places its images at 5 and 9 degrees: Q5 -> 8, 0 (A, A); Q9 -> 8, 12 (A, A)
    # c_A = 4, score_A = 4 / (5 - 2); only a2 is evaluated, the counts come from the base table.
    moved = [r if r[0] != "a2" else (r[0], r[1], r[2], 5 if r[3] == 30 else 9) for r in IMAGES]
    result = compound_vote(images(), {"a2": images(moved)}, k=2)
    assert list(result.per_compound["compound"]) == ["a2"]
    assert result.per_compound.loc[0, "predicted_moa"] == "A"
    assert result.hits.loc["a2", "A"] == 4
    assert result.scores.loc["a2", "A"] == pytest.approx(4 / 3)


def test_roi_rows_are_averaged_per_image_first():
    base = images()
    rois = pd.concat([base.assign(Metadata_RoiIndex=0), base.assign(Metadata_RoiIndex=1)], ignore_index=True)
    rois.loc[rois["Metadata_RoiIndex"] == 1, ["x", "y"]] *= 3.0  # same direction: the image mean keeps the angle
    assert compound_vote(rois, k=2).per_compound.equals(compound_vote(base, k=2).per_compound)


def test_needs_image_level_profiles():
    wells = images().drop(columns=["Metadata_ImageId"])
    wells = wells.groupby(["Metadata_Plate", "Metadata_Compound"], as_index=False).first()
    with pytest.raises(EvaluationError, match="image-level"):
        compound_vote(wells)


def test_conflicting_moa_of_one_compound_is_an_error():
    rows = list(IMAGES) + [("a1", 3.0, "B", 20)]
    with pytest.raises(EvaluationError, match="more than one MOA: a1"):
        compound_vote(images(rows))


def test_unknown_left_out_compound_is_an_error():
    with pytest.raises(EvaluationError, match="zz"):
        compound_vote(images(), {"zz": images()})
