"""The real BBBC021 reference profiles shipped in shared/bbbc021-data, as profile tables.

`ljosa_well_means` joins the raw per-well CellProfiler means of Ljosa et al. 2013 (keyed by
plate and well only) with the official image index (compound and concentration of each well) and
the MOA table (the 103 annotated treatments, the standard protocol). `pycytominer_profiles` reads
the pycytominer-processed version of the same wells. They anchor the evaluation on real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bioims.profiling.columns import (
    COMPOUND,
    CONCENTRATION,
    MOA,
    PLATE,
    WELL,
    ProfileError,
    with_batch,
)

DATA_ENV = "BIOIMS_BBBC021_DATA"
WELL_MEANS = "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz"
IMAGE_INDEX = "BBBC021_v1_image.csv.gz"
MOA_TABLE = "BBBC021_v1_moa.csv"
PYCYTOMINER = "BBBC021_feature_selected_mad_robustize.csv"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the BBBC021 metadata files: `path`, $BIOIMS_BBBC021_DATA, or
    shared/bbbc021-data beside the repository."""
    if path is None:
        path = os.environ.get(DATA_ENV) or Path(__file__).resolve().parents[2].parent / "shared" / "bbbc021-data"
    folder = Path(path)
    if not (folder / MOA_TABLE).is_file():
        raise ProfileError(f"{folder}: BBBC021 metadata not found (expected {MOA_TABLE}); set {DATA_ENV}")
    return folder


def well_design(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per well of BBBC021: plate, well, compound, concentration, MOA (annotated treatments only)."""
    root = data_dir(folder)
    images = pd.read_csv(root / IMAGE_INDEX)
    wells = (
        images.groupby(["Image_Metadata_Plate_DAPI", "Image_Metadata_Well_DAPI"], sort=False)
        .agg(compound=("Image_Metadata_Compound", "first"), concentration=("Image_Metadata_Concentration", "first"))
        .reset_index()
        .rename(
            columns={
                "Image_Metadata_Plate_DAPI": PLATE,
                "Image_Metadata_Well_DAPI": WELL,
                "compound": COMPOUND,
                "concentration": CONCENTRATION,
            }
        )
    )
    moa = pd.read_csv(root / MOA_TABLE).rename(
        columns={"compound": COMPOUND, "concentration": CONCENTRATION, "moa": MOA}
    )
    return wells.merge(moa, on=[COMPOUND, CONCENTRATION], how="left")


def ljosa_well_means(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The 632 wells x 516 raw CellProfiler mean features, with Metadata_ columns and batch = week."""
    root = data_dir(folder)
    means = pd.read_csv(root / WELL_MEANS).rename(
        columns={"Image_Metadata_Plate": PLATE, "Image_Metadata_Well": WELL}
    )
    design = well_design(root)
    out = means.merge(design, on=[PLATE, WELL], how="left", validate="one_to_one")
    if out[COMPOUND].isna().any():
        raise ProfileError(f"{int(out[COMPOUND].isna().sum())} wells of {WELL_MEANS} are not in {IMAGE_INDEX}")
    out = with_batch(out)
    meta = [PLATE, WELL, COMPOUND, CONCENTRATION, MOA, "Metadata_Batch"]
    return out[meta + [c for c in out.columns if c not in meta]]


def pycytominer_profiles(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The same wells after pycytominer mad_robustize + feature_select (189 features), batch added."""
    return with_batch(pd.read_csv(data_dir(folder) / PYCYTOMINER))
