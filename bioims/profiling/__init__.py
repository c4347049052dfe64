"""Profiles: aggregation (ROI -> image -> well -> treatment), DMSO normalisation, whitening,
feature selection and profile files, over pandas DataFrames with pycytominer-style
`Metadata_` columns (every other column is a feature)."""

from bioims.profiling.aggregate import DEFAULT_CHAIN, aggregate, roll_up
from bioims.profiling.columns import (
    BATCH,
    COMPOUND,
    CONCENTRATION,
    CONTROL_COMPOUND,
    COUNT,
    IMAGE_ID,
    IMAGE_SOURCE_ID,
    LEVELS,
    MOA,
    PLATE,
    ROI_INDEX,
    SITE,
    WELL,
    ProfileError,
    batch_of_plate,
    feature_columns,
    metadata_columns,
    profile_level,
    with_batch,
)
from bioims.profiling.io import read_profiles, write_profiles
from bioims.profiling.normalize import normalize
from bioims.profiling.recipes import (
    DEFAULT,
    EMBEDDING,
    RECIPES,
    Recipe,
    apply_recipe,
    default_recipe,
    embedding_recipe,
)
from bioims.profiling.select import feature_select, select_features
from bioims.profiling.whiten import Whitener, fit_whitener, whiten

__all__ = [
    "BATCH",
    "COMPOUND",
    "CONCENTRATION",
    "CONTROL_COMPOUND",
    "COUNT",
    "DEFAULT",
    "DEFAULT_CHAIN",
    "EMBEDDING",
    "IMAGE_ID",
    "IMAGE_SOURCE_ID",
    "LEVELS",
    "MOA",
    "PLATE",
    "RECIPES",
    "ROI_INDEX",
    "SITE",
    "WELL",
    "ProfileError",
    "Recipe",
    "Whitener",
    "aggregate",
    "apply_recipe",
    "batch_of_plate",
    "default_recipe",
    "embedding_recipe",
    "feature_columns",
    "feature_select",
    "fit_whitener",
    "metadata_columns",
    "normalize",
    "profile_level",
    "read_profiles",
    "roll_up",
    "select_features",
    "whiten",
    "with_batch",
    "write_profiles",
]
