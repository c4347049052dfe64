"""The real BBBC021 CellProfiler profiles: the protocol's documented counts, and NSC/NSCB equal
to an independent brute-force computation."""

from __future__ import annotations

from bioims.evaluation import nsc, nscb

from .synthetic import brute_force_nn, treatment_medians


def test_treatment_counts_follow_the_standard_protocol(pycytominer_wells):
    result_nsc, result_nscb = nsc(pycytominer_wells), nscb(pycytominer_wells)
    # 103 annotated treatments; NSCB drops the 11 of Cholesterol-lowering and Kinase inhibitors
    assert result_nsc.total == 103
    assert result_nscb.total == 92
    assert set(result_nscb.dropped["true_moa"]) == {"Cholesterol-lowering", "Kinase inhibitors"}


def test_pycytominer_file_matches_brute_force(pycytominer_wells):
    items = treatment_medians(pycytominer_wells)
    assert (nsc(pycytominer_wells).correct, 103) == brute_force_nn(items, False)
    assert (nscb(pycytominer_wells).correct, 92) == brute_force_nn(items, True)


def test_raw_features_without_normalisation_are_far_worse(ljosa_wells, pycytominer_wells):
    # raw CellProfiler means are dominated by large-valued features (areas, intensities)
    assert nsc(ljosa_wells).accuracy < nsc(pycytominer_wells).accuracy - 0.2
