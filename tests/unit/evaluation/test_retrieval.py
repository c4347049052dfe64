"""mAP via copairs against an independent average-precision computation."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.evaluation import EvaluationError, mean_average_precision

from .synthetic import brute_force_ap, synthetic_wells, treatment_medians, well_items


@pytest.mark.parametrize("seed", [0, 7])
def test_treatment_level_map_matches_brute_force(seed):
    wells = synthetic_wells(seed, noise=1.2)
    result = mean_average_precision(wells)
    expected = brute_force_ap(treatment_medians(wells))
    assert len(result.per_query) == len(expected)
    assert result.value == pytest.approx(np.mean(expected), abs=1e-9)
    assert sorted(result.per_query["average_precision"]) == pytest.approx(sorted(expected), abs=1e-9)


def test_well_level_map_and_per_moa_means():
    wells = synthetic_wells(3, noise=1.2)
    result = mean_average_precision(wells, "well")
    assert result.value == pytest.approx(np.mean(brute_force_ap(well_items(wells))), abs=1e-9)
    per_moa = result.per_query.groupby("moa")["average_precision"].mean()
    assert result.per_moa.set_index("moa")["mean_average_precision"].to_dict() == pytest.approx(per_moa.to_dict())
    assert result.summary()["n_queries"] == len(result.per_query)


def test_p_values_when_asked():
    result = mean_average_precision(synthetic_wells(0), null_size=200, seed=1)
    assert {"p_value", "corrected_p_value"} <= set(result.per_moa.columns)
    assert result.per_moa["p_value"].between(0, 1).all()


def test_moa_with_a_single_compound_is_noted():
    wells = synthetic_wells(0)
    wells = wells[~wells["Metadata_Compound"].isin(["c8"])]  # M4 keeps only c7
    result = mean_average_precision(wells)
    assert "M4" not in set(result.per_query["moa"])
    assert any("without another compound of their MOA" in n for n in result.notes)


def test_no_positive_pairs_is_a_clear_error():
    wells = synthetic_wells(0)
    one_per_moa = wells[wells["Metadata_Compound"].isin(["DMSO", "c1", "c3", "c5", "c7"])]
    with pytest.raises(EvaluationError, match="mAP"):
        mean_average_precision(one_per_moa)
