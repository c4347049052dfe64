"""`bioims evaluate` on CellProfiler exports as they are published: Image_Metadata_ columns,
other metadata prefixes, and the BBBC021 design joined on plate + well."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bioims.cli.evaluate import evaluate as evaluate_command
from bioims.evaluation import nsc, nscb
from bioims.profiling import ProfileError, apply_recipe, read_profiles, write_profiles
from bioims.profiling.annotate import annotate
from bioims.profiling.reference import WELL_MEANS, data_file, ljosa_well_means

from .synthetic import synthetic_wells


def _bioims(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("bioims")
    assert script.is_file(), f"{script} missing: install the package (pip install -e .)"
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_published_ljosa_well_means_evaluate_with_the_installed_command(bbbc021_dir, tmp_path):
    published = data_file(WELL_MEANS, bbbc021_dir)
    assert pd.read_csv(published, nrows=0).columns[:2].tolist() == ["Image_Metadata_Plate", "Image_Metadata_Well"]
    # without the design the command says what is missing and how to add it
    bare = _bioims("evaluate", str(published), cwd=tmp_path)
    assert bare.returncode == 1 and "Traceback" not in bare.stderr
    assert "non-numeric" not in bare.stderr and "--annotations bbbc021" in bare.stderr
    done = _bioims(
        "evaluate",
        str(published),
        "--annotations",
        "bbbc021",
        "--recipe",
        "default",
        "--bootstrap",
        "20",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # the same numbers as the reference join (image index + MOA table) through the library
    expected = apply_recipe(ljosa_well_means(bbbc021_dir), "default")
    assert (out["nsc"]["correct"], out["nsc"]["total"]) == (nsc(expected).correct, 103)
    assert (out["nscb"]["correct"], out["nscb"]["total"]) == (nscb(expected).correct, 92)
    assert out["nsc"]["accuracy"] > 0.9  # Ljosa 2013 report 94% with factor analysis


def _renamed(prefix: str) -> pd.DataFrame:
    wells = synthetic_wells(0)
    return wells.rename(columns={c: prefix + c[len("Metadata_") :] for c in wells.columns if c.startswith("Metadata_")})


def test_image_metadata_columns_read_as_metadata(tmp_path):
    path = write_profiles(synthetic_wells(0), tmp_path / "wells.csv")
    cellprofiler = tmp_path / "cp.csv"
    _renamed("Image_Metadata_").to_csv(cellprofiler, index=False)
    a = CliRunner().invoke(evaluate_command, [str(path), "--json", "--bootstrap", "10"])
    b = CliRunner().invoke(evaluate_command, [str(cellprofiler), "--json", "--bootstrap", "10"])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    assert json.loads(a.output)["nsc"] == json.loads(b.output)["nsc"]


def test_metadata_prefix_option(tmp_path):
    path = tmp_path / "meta.csv"
    _renamed("Meta_").to_csv(path, index=False)
    refused = CliRunner().invoke(evaluate_command, [str(path)])
    assert refused.exit_code == 1 and "non-numeric feature column(s)" in refused.output
    accepted = CliRunner().invoke(
        evaluate_command, [str(path), "--metadata-prefix", "Meta_", "--json", "--bootstrap", "10"]
    )
    assert accepted.exit_code == 0, accepted.output
    wells = synthetic_wells(0)
    assert json.loads(accepted.output)["nsc"]["correct"] == nsc(wells).correct


def test_colliding_metadata_names_are_refused(tmp_path):
    table = synthetic_wells(0)
    table["Image_Metadata_Plate"] = "other"
    path = tmp_path / "clash.csv"
    table.to_csv(path, index=False)
    with pytest.raises(ProfileError, match="Image_Metadata_Plate -> Metadata_Plate"):
        read_profiles(path)


def test_annotate_fills_only_gaps_and_refuses_ambiguous_annotations():
    wells = synthetic_wells(0)
    bare = wells.drop(columns=["Metadata_moa"]).assign(
        Metadata_Compound=wells["Metadata_Compound"].where(wells.index > 0)
    )
    design = wells[["Metadata_Plate", "Metadata_Well", "Metadata_Compound", "Metadata_moa"]].assign(
        Metadata_Compound="x"
    )
    filled = annotate(bare, design)
    assert filled["Metadata_moa"].tolist() == wells["Metadata_moa"].tolist()
    assert (
        filled["Metadata_Compound"].iloc[0] == "x"
        and filled["Metadata_Compound"].iloc[1:].tolist() == wells["Metadata_Compound"].iloc[1:].tolist()
    )
    clash = pd.concat([design, design.head(1).assign(Metadata_moa="other")])
    with pytest.raises(ProfileError, match="different values"):
        annotate(bare, clash)
    with pytest.raises(ProfileError, match="no join key"):
        annotate(bare, design.drop(columns=["Metadata_Well"]))
