"""Recipes: each runs on real profiles; the default beats the shipped pycytominer processing."""

from __future__ import annotations

import numpy as np
import pytest

from bioims.evaluation import nsc, nscb
from bioims.profiling import RECIPES, ProfileError, apply_recipe, default_recipe, embedding_recipe, feature_columns


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_gives_finite_profiles(name, ljosa_wells):
    out = apply_recipe(ljosa_wells, name)
    assert len(out) == len(ljosa_wells)
    assert np.isfinite(out[feature_columns(out)].to_numpy()).all()
    assert out["Metadata_Compound"].tolist() == ljosa_wells["Metadata_Compound"].tolist()


def test_default_recipe_beats_the_pycytominer_file_on_nsc_and_nscb(ljosa_wells, pycytominer_wells):
    ours = default_recipe(ljosa_wells)
    assert nsc(ours).correct > nsc(pycytominer_wells).correct
    assert nscb(ours).correct > nscb(pycytominer_wells).correct


def test_embedding_recipe_keeps_every_dimension(ljosa_wells):
    subset = ljosa_wells.iloc[:, : 6 + 40]
    out = embedding_recipe(subset)
    assert feature_columns(out) == feature_columns(subset)


def test_unknown_recipe():
    with pytest.raises(ProfileError, match="unknown recipe"):
        apply_recipe(None, "nope")


def test_recipe_needs_controls_on_every_plate(ljosa_wells):
    no_dmso = ljosa_wells[ljosa_wells["Metadata_Compound"] != "DMSO"]
    with pytest.raises(ProfileError, match="no control rows"):
        default_recipe(no_dmso)
    assert np.isfinite(default_recipe(no_dmso, control="all").filter(like="Cells_").to_numpy()).all()
