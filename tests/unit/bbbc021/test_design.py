"""The BBBC021 design table, labels, tags, filter lists and manifests built from the real CSVs."""

from __future__ import annotations

import json

import pytest

from bioims import keys
from bioims.bbbc021 import filters, labels, layout, manifest, tags
from bioims.bbbc021.design import Design


def test_design_facts(design: Design):
    f = design.fields
    assert len(f) == 13_200
    assert len(design.plates) == 55
    assert design.weeks == tuple(f"Week{i}" for i in range(1, 11))
    assert f.groupby("plate")["well"].nunique().eq(60).all()
    assert f.groupby(["plate", "well"])["site"].apply(lambda s: sorted(s) == [1, 2, 3, 4]).all()
    assert len(design.annotated_treatments) == 103
    assert len(design.annotated_compounds) == 38
    assert len(design.moas) == 12
    assert (f["image_source_id"] + ".tif").equals(f["file_dapi"])
    # One week per annotated compound, except the taxol control on every plate.
    weeks = f[f["compound"].isin(design.annotated_compounds)].groupby("compound")["week"].nunique()
    assert weeks.drop("taxol").eq(1).all() and weeks["taxol"] == 10


def test_control_wells(design: Design):
    wells = design.fields.drop_duplicates(["plate", "well"])
    controls = wells[wells["control"]]
    per_plate = controls.groupby("plate")["compound"].value_counts().unstack()
    assert per_plate["DMSO"].eq(6).all() and per_plate["taxol"].eq(6).all()
    assert wells.loc[~wells["control"], "compound"].ne("DMSO").all()


def test_standard_and_original_labelling(design: Design):
    f = design.fields
    standard = labels.field_moa(f, "standard")
    original = labels.field_moa(f, "compound")
    # Standard protocol: the 632 wells of Ljosa et al. 2013 (302 treatment wells + 330 DMSO).
    labelled_wells = f[standard.notna()].drop_duplicates(["plate", "well"])
    assert len(labelled_wells) == 632
    assert (labelled_wells["compound"] == "DMSO").sum() == 330
    assert labels.labelled_count(f, "standard") == 2_528
    # The original's rule: every field of an annotated compound; counts of docs/original.md §7.3.
    assert labels.labelled_count(f, "compound") == 6_160
    counts = f.assign(m=original).groupby("m").size().to_dict()
    assert counts["Microtubule stabilizers"] == 1_608
    assert counts["DMSO"] == 1_320
    assert counts["Kinase inhibitors"] == 192
    # Taxol control wells carry no label under the standard rule, the MOA under the original's.
    taxol_controls = f["control"] & (f["compound"] == "taxol")
    assert standard[taxol_controls].isna().all()
    assert (original[taxol_controls] == "Microtubule stabilizers").all()
    # A low, unannotated dose of an annotated compound: labelled only by the original's rule.
    low = (f["compound"] == "taxol") & (f["concentration"] == 0.001)
    assert low.any() and standard[low].isna().all() and original[low].notna().all()
    with pytest.raises(ValueError, match="label mode"):
        labels.field_moa(f, "everything")


def test_label_categories(design: Design):
    categories = labels.label_categories(design)
    moa = categories[layout.MOA_CATEGORY]
    assert len(moa) == 13 and moa[0] == "Actin disruptors" and moa[3] == "DMSO" and moa[-1] == "Protein synthesis"
    compound = categories[layout.COMPOUND_CATEGORY]
    assert len(compound) == len(set(compound)) == 39
    assert compound[0] == "DMSO" and compound[1] == "ALLN" and compound[-1] == "vincristine"
    assert "mevinolin-lovastatin" in compound and "proteasomeinhibitorI" in compound


def test_tags(design: Design):
    f = design.fields
    row = f[(f["compound"] == "mevinolin/lovastatin")].iloc[[0]]
    (values,) = tags.field_tags(row, "compound")
    assert values[0] == "moa:Cholesterol-lowering"
    assert "compound:mevinolin-lovastatin" in values
    assert f"batch:{row['week'].iloc[0]}" in values and f"plate:{row['plate'].iloc[0]}" in values
    assert any(v.startswith("concentration:") for v in values)
    unannotated = f[f["compound_moa"].isna()].iloc[[0]]
    (values,) = tags.field_tags(unannotated)
    assert not any(v.startswith("moa:") for v in values)
    every = tags.all_tags(f)
    moa_tags = [t for t in every if t.startswith("moa:")]
    # MOA tags come first, sorted, so with an empty tag table they get the original's ids 1-13.
    assert every[:13] == moa_tags == sorted(moa_tags) and len(moa_tags) == 13
    assert sum(t.startswith("compound:") for t in every) == 113
    assert sum(t.startswith("batch:") for t in every) == 10
    assert sum(t.startswith("plate:") for t in every) == 55
    with pytest.raises(ValueError):
        tags.tag("colour", "red")


def test_train_filters(design: Design):
    f = design.fields
    images = [(f"img{i}", c) for i, c in enumerate(f["compound"])]
    lists = filters.train_filters(design, images)
    assert len(lists) == 38 and "DMSO" not in lists
    assert lists["ALLN"] == [f"img{i}" for i in (f.index[f["compound"] == "ALLN"])]
    # All concentrations and the control wells: taxol is excluded everywhere it appears.
    assert len(lists["taxol"]) == int((f["compound"] == "taxol").sum()) == 1_416
    assert filters.filter_text(["a", "b"]) == "a\nb\n"
    assert filters.filter_keys(design, "emb")["mevinolin-lovastatin"] == keys.train_filter_key(
        "emb", "mevinolin-lovastatin"
    )
    with pytest.raises(ValueError, match="twice"):
        filters.train_filters(design, [("x", "ALLN"), ("x", "ALLN")])


def test_manifest(design: Design):
    plate = "Week1_22123"
    m = manifest.plate_manifest(design, plate, "/data/bbbc021")
    assert m["plateSourceId"] == plate and len(m["images"]) == 240
    first = m["images"][0]
    assert first["wellSourceId"] == "B02" and first["subclass"] == "DMSO" and first["label"] == "DMSO"
    assert [c["name"] for c in first["channelKeys"]] == ["dapi", "tubulin", "actin"]
    assert all(c["keysuffix"].startswith(f"{plate}/") and c["keysuffix"].endswith(".tif") for c in first["channelKeys"])
    assert first["sourceKey"] == "" and first["sourceBucket"] == "/data/bbbc021"
    assert first["category"] == "moa" and first["subclassType"] == "compound" and first["experiment"] == "BBBC021_v1"
    standard = sum("label" in i for i in m["images"])
    original = sum("label" in i for i in manifest.plate_manifest(design, plate, "b", mode="compound")["images"])
    assert 0 < standard < original
    text = manifest.manifest_json(m)
    assert json.loads(text) == m and text.index('"images"') < text.index('"plateSourceId"')
    with pytest.raises(KeyError, match="not in the BBBC021 design"):
        manifest.plate_manifest(design, "Week1_99999", "b")
    with pytest.raises(ValueError, match="source_key"):
        manifest.plate_manifest(design, plate, "b", source_key="prefix")


def test_plate_selection_and_subset(design: Design):
    chosen = design.select_plates(17)
    covered = set(design.subset(chosen).fields["compound"]) & set(design.annotated_compounds)
    assert covered == set(design.annotated_compounds)
    assert design.select_plates(5) == chosen[:5]
    sub = design.subset(["Week2_24121", "Week1_22123"])
    assert sub.plates == ("Week1_22123", "Week2_24121") and len(sub.fields) == 480
    with pytest.raises(KeyError, match="Week0_1"):
        design.subset(["Week0_1"])
    with pytest.raises(ValueError):
        design.select_plates(0)


def test_layout_names():
    assert layout.plate_zip_name("Week1_22123") == "BBBC021_v1_images_Week1_22123.zip"
    assert layout.url_for("http://h/x", "a.csv") == "http://h/x/a.csv"
    assert layout.week_of("Week10_40111") == "Week10"
    for bad in ("../etc", "Week1_22123/..", "Week1_", ""):
        with pytest.raises(ValueError):
            layout.check_plate_name(bad)
