"""Annotation tables of BBBC021 from its packaged design: what plate manifests and published
per-well exports lack (concentration, batch, control flag, the standard protocol's MOA)."""

from __future__ import annotations

import pandas as pd

from bioims.bbbc021.design import load_design
from bioims.profiling.columns import (
    COMPOUND,
    CONCENTRATION,
    IMAGE_SOURCE_ID,
    MOA,
    PLATE,
    WELL,
)


def bbbc021_annotations(design=None) -> pd.DataFrame:
    """Concentration, batch and control flag of every BBBC021 field, keyed by image source id."""
    fields = (design or load_design()).fields
    return pd.DataFrame(
        {
            IMAGE_SOURCE_ID: fields["image_source_id"].astype(str).to_numpy(),
            CONCENTRATION: fields["concentration"].astype(float).to_numpy(),
            "Metadata_Batch": fields["week"].astype(str).to_numpy(),
            "Metadata_Control": fields["control"].astype(bool).to_numpy(),
        }
    )


def bbbc021_well_annotations(design=None) -> pd.DataFrame:
    """Compound, concentration, MOA (the standard protocol's) and batch of every BBBC021 well,
    keyed by plate + well: what a published per-well CellProfiler export lacks."""
    fields = (design or load_design()).fields
    wells = fields.groupby(["plate", "well"], sort=False).first().reset_index()
    return pd.DataFrame(
        {
            PLATE: wells["plate"].astype(str).to_numpy(),
            WELL: wells["well"].astype(str).to_numpy(),
            COMPOUND: wells["compound"].astype(str).to_numpy(),
            CONCENTRATION: wells["concentration"].astype(float).to_numpy(),
            MOA: wells["moa"].astype(object).where(wells["moa"].notna(), None).to_numpy(),
            "Metadata_Batch": wells["week"].astype(str).to_numpy(),
        }
    )
