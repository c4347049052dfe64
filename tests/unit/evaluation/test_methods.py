"""Methods side by side: the same images and queries for every method, each method's metrics as
evaluate gives them on those images, none dropped, errors listed."""

from __future__ import annotations

import numpy as np

from bioims.evaluation import evaluate
from bioims.evaluation.methods import HEADER, Method, compare_methods, methods_markdown, methods_rows

from .synthetic import synthetic_images


def test_same_queries_same_numbers_and_no_method_dropped():
    good = synthetic_images(0, sites=2, noise=0.8)
    noisy = synthetic_images(1, sites=2, noise=3.0)
    rng = np.random.default_rng(0)
    features = [c for c in good.columns if not c.startswith("Metadata_")]
    random = good.copy()
    random[features] = rng.normal(size=(len(good), len(features)))
    # one method lacks a few images (e.g. fields without ROIs): every method is cut to the shared images
    partial = good.iloc[5:].reset_index(drop=True)
    methods = {
        "trained": Method(partial, "none"),
        "noisy": Method(noisy, "none", "untrained"),
        "random": Method(random, "none", "field-statistics"),
    }
    comparison = compare_methods(methods, "treatment", n_boot=30, seed=1)
    assert list(comparison["methods"]) == ["trained", "noisy", "random"]
    assert comparison["images"] == len(partial)
    assert any("5 image(s)" in n for n in comparison["notes"])
    totals = {m["nsc"]["total"] for m in comparison["methods"].values()}
    assert len(totals) == 1
    shared = set(partial["Metadata_ImageId"])
    for name, table in (("trained", partial), ("noisy", noisy), ("random", random)):
        expected = evaluate(
            table[table["Metadata_ImageId"].isin(shared)], "treatment", n_boot=30, seed=1, details=False
        )
        got = comparison["methods"][name]
        assert got["nsc"] == {k: expected["nsc"][k] for k in got["nsc"]}
        assert got["map"] == expected["map"]
        assert got["compound_vote"]["correct"] == expected["compound_vote"]["correct"]
    assert comparison["methods"]["random"]["nsc"]["accuracy"] < comparison["methods"]["trained"]["nsc"]["accuracy"]
    rows = methods_rows(comparison)
    assert [r[0] for r in rows] == ["trained", "noisy", "random"] and all(len(r) == len(HEADER) for r in rows)
    assert "Every method side by side" in methods_markdown(comparison)[0]


def test_a_method_that_cannot_be_evaluated_is_listed_with_its_error():
    good = synthetic_images(0, sites=2)
    broken = good.drop(columns=["Metadata_moa"])
    comparison = compare_methods({"ok": Method(good, "none"), "broken": Method(broken, "none")}, n_boot=10)
    assert comparison["methods"]["ok"]["nsc"]["total"] > 0
    assert comparison["methods"]["broken"]["nsc"] is None and "Metadata_moa" in comparison["methods"]["broken"]["error"]
