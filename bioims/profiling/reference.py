"""The real BBBC021 reference profiles (copies in datasets/bbbc021/reference), as profile tables.

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


_REPOSITORY = Path(__file__).resolve().parents[2]
# Where the files are found when no folder is given: the copies kept in this repository (the two
# profile tables in datasets/bbbc021/reference, the metadata shipped in the package), then the
# shared folder beside the repository.
_SEARCHED = (
    _REPOSITORY / "datasets" / "bbbc021" / "reference",
    _REPOSITORY / "bioims" / "bbbc021" / "data",
    _REPOSITORY.parent / "shared" / "bbbc021-data",
)


def data_file(name: str, path: str | os.PathLike | None = None) -> Path:
    """One BBBC021 file: in `path` or $BIOIMS_BBBC021_DATA first when given, then in the copies
    kept with the repository (see _SEARCHED)."""
    given = path if path is not None else os.environ.get(DATA_ENV)
    folders = ((Path(given),) if given else ()) + _SEARCHED
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise ProfileError(f"BBBC021 file {name} not found in {', '.join(str(f) for f in folders)}; set {DATA_ENV}")


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the real BBBC021 reference profiles (raises ProfileError if absent)."""
    return data_file(WELL_MEANS, path).parent


def well_design(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per well of BBBC021: plate, well, compound, concentration, MOA (annotated treatments only)."""
    images = pd.read_csv(data_file(IMAGE_INDEX, folder))
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
    moa = pd.read_csv(data_file(MOA_TABLE, folder)).rename(
        columns={"compound": COMPOUND, "concentration": CONCENTRATION, "moa": MOA}
    )
    return wells.merge(moa, on=[COMPOUND, CONCENTRATION], how="left")


def ljosa_well_means(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The 632 wells x 516 raw CellProfiler mean features, with Metadata_ columns and batch = week."""
    means = pd.read_csv(data_file(WELL_MEANS, folder)).rename(
        columns={"Image_Metadata_Plate": PLATE, "Image_Metadata_Well": WELL}
    )
    design = well_design(folder)
    out = means.merge(design, on=[PLATE, WELL], how="left", validate="one_to_one")
    if out[COMPOUND].isna().any():
        raise ProfileError(f"{int(out[COMPOUND].isna().sum())} wells of {WELL_MEANS} are not in {IMAGE_INDEX}")
    out = with_batch(out)
    meta = [PLATE, WELL, COMPOUND, CONCENTRATION, MOA, "Metadata_Batch"]
    return out[meta + [c for c in out.columns if c not in meta]]


def pycytominer_profiles(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The same wells after pycytominer mad_robustize + feature_select (189 features), batch added."""
    return with_batch(pd.read_csv(data_file(PYCYTOMINER, folder)))
