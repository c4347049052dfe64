"""Leave-one-compound-out NSC and the neighbour-label matrix of the baseline notebook."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cosine

from bioims.evaluation import EvaluationError, neighbour_label_matrix, nsc, nsc_left_out, nscb

from .synthetic import COMPOUNDS, synthetic_wells


def test_same_table_for_every_compound_equals_plain_nsc():
    wells = synthetic_wells(4, noise=1.2)
    tables = dict.fromkeys(COMPOUNDS, wells)
    for batch, plain in ((False, nsc(wells)), (True, nscb(wells))):
        pooled = nsc_left_out(tables, batch=batch)
        assert (pooled.correct, pooled.total) == (plain.correct, plain.total)


def test_each_compound_is_queried_in_its_own_table():
    wells = synthetic_wells(4, noise=1.2)
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    # in c1's own model, c1 sits exactly on c2 (the other M1 compound): it must be right there
    own = wells.copy()
    c1, c2 = own["Metadata_Compound"] == "c1", own["Metadata_Compound"] == "c2"
    own.loc[c1, features] = own.loc[c2, features].to_numpy()
    pooled = nsc_left_out({"c1": own, "c3": wells})
    assert set(pooled.queries["compound"]) == {"c1", "c3"}
    assert pooled.queries.loc[pooled.queries["compound"] == "c1", "correct"].all()
    with pytest.raises(EvaluationError):
        nsc_left_out({})


def test_neighbour_label_matrix_matches_a_loop():
    wells = synthetic_wells(2, noise=1.2)
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    k = 3
    matrix = neighbour_label_matrix(wells, k=k)
    x = wells[features].to_numpy()
    labels = wells["Metadata_moa"].tolist()
    expected = {}
    for i in range(len(x)):
        sims = [(1 - cosine(x[i], x[j]), j) for j in range(len(x)) if j != i]
        sims.sort(key=lambda t: -t[0])
        for _, j in sims[:k]:
            expected[(labels[i], labels[j])] = expected.get((labels[i], labels[j]), 0) + 1
    for (a, b), count in expected.items():
        assert matrix.loc[a, b] == count
    assert matrix.to_numpy().sum() == k * len(x)
    limited = neighbour_label_matrix(wells, k=k, per_class=2)
    assert (limited.sum(axis=1) == 2 * k).all()


def test_evaluate_reports_left_out_nsc_when_given_per_compound_tables():
    from bioims.evaluation import evaluate

    wells = synthetic_wells(4, noise=1.2)
    features = [c for c in wells.columns if not c.startswith("Metadata_")]
    own = wells.copy()
    c1, c2 = own["Metadata_Compound"] == "c1", own["Metadata_Compound"] == "c2"
    own.loc[c1, features] = own.loc[c2, features].to_numpy()
    tables = {"c1": own, "c3": wells}
    metrics = evaluate(wells, n_boot=20, per_compound=tables)
    direct, direct_b = nsc_left_out(tables), nsc_left_out(tables, batch=True)
    assert (metrics["nsc_left_out"]["correct"], metrics["nsc_left_out"]["total"]) == (direct.correct, direct.total)
    assert (metrics["nscb_left_out"]["correct"], metrics["nscb_left_out"]["total"]) == (
        direct_b.correct,
        direct_b.total,
    )
    assert "nsc_left_out" not in evaluate(wells, n_boot=20)


def test_unlabelled_rows_inside_an_annotated_treatment_are_left_out():
    """BBBC021's taxol 0.3 control wells carry no MOA next to the annotated taxol 0.3 wells."""
    from bioims.evaluation import evaluate

    wells = synthetic_wells(4, noise=1.2)
    extra = wells[wells["Metadata_Compound"] == "c1"].head(2).copy()
    extra["Metadata_moa"] = None
    extra["Metadata_Well"] = extra["Metadata_Well"] + "x"
    mixed = __import__("pandas").concat([wells, extra], ignore_index=True)
    with_controls = evaluate(mixed, n_boot=20)
    plain = evaluate(wells, n_boot=20)
    assert (
        with_controls["nsc"]["correct"] == plain["nsc"]["correct"]
        and with_controls["nsc"]["total"] == plain["nsc"]["total"]
    )
    assert any("inside annotated treatments left out" in n for n in with_controls["notes"])


def test_chance_level_is_the_share_of_same_moa_candidates():
    wells = synthetic_wells(2, noise=1.2)
    result = nsc(wells, level="well")
    labelled = wells[(wells["Metadata_Compound"] != "DMSO") & wells["Metadata_moa"].notna()]
    shares = []
    for _, query in labelled.iterrows():
        candidates = labelled[labelled["Metadata_Compound"] != query["Metadata_Compound"]]
        shares.append((candidates["Metadata_moa"] == query["Metadata_moa"]).mean())
    assert result.total == len(shares)
    assert abs(result.chance - float(np.mean(shares))) < 1e-12
    assert result.summary(n_boot=10)["chance"] == result.chance
