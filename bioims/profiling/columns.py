"""Profile-table conventions: `Metadata_` columns (pycytominer style), levels and their keys.

A profile table is a pandas DataFrame with one row per ROI, image, well or treatment. Columns
whose name starts with `Metadata_` describe the row; every other column is a numeric feature.
Keeping the conventions in one module lets every function check its input the same way and
answer the same clear message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

PREFIX = "Metadata_"

PLATE = "Metadata_Plate"
WELL = "Metadata_Well"
COMPOUND = "Metadata_Compound"
CONCENTRATION = "Metadata_Concentration"
MOA = "Metadata_moa"
BATCH = "Metadata_Batch"
IMAGE_ID = "Metadata_ImageId"
SITE = "Metadata_Site"
IMAGE_SOURCE_ID = "Metadata_ImageSourceId"
ROI_INDEX = "Metadata_RoiIndex"
COUNT = "Metadata_Count"

CONTROL_COMPOUND = "DMSO"

#: Levels from finest to coarsest.
LEVELS: tuple[str, ...] = ("roi", "image", "well", "treatment")
#: Levels a profile table can be evaluated at.
EVAL_LEVELS: tuple[str, ...] = ("image", "well", "treatment")

#: Metadata holding text (kept as str on read so "01" stays "01" and plate 22123 matches "22123").
TEXT_COLUMNS: tuple[str, ...] = (PLATE, WELL, COMPOUND, MOA, BATCH, IMAGE_ID, IMAGE_SOURCE_ID)

#: Metadata that must not disagree inside one aggregated group (a well has one compound).
MUST_AGREE: tuple[str, ...] = (COMPOUND, CONCENTRATION, MOA)

_BATCH_FROM_PLATE = re.compile(r"^(Week\d+)_")
BATCH_SEPARATOR = "|"


class ProfileError(ValueError):
    """Profiles that cannot be used as given; the message says what is wrong and how to fix it."""


def is_metadata(column: object) -> bool:
    return isinstance(column, str) and column.startswith(PREFIX)


def metadata_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if is_metadata(c)]


def feature_columns(df: pd.DataFrame) -> list[str]:
    """Every column not starting with `Metadata_`; raises if one of them is not numeric."""
    features = [c for c in df.columns if not is_metadata(c)]
    bad = [c for c in features if not (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        raise ProfileError(
            f"{len(bad)} non-numeric feature column(s): {shown}; metadata columns must start with {PREFIX!r}"
        )
    return features


def require_columns(df: pd.DataFrame, columns: Iterable[str], purpose: str) -> None:
    """Raise a ProfileError naming every missing column and what it was needed for."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        present = ", ".join(metadata_columns(df)) or "none"
        raise ProfileError(
            f"{purpose} needs metadata column(s) {', '.join(missing)}; the table has these metadata columns: {present}"
        )


def require_features(df: pd.DataFrame) -> list[str]:
    features = feature_columns(df)
    if not features:
        raise ProfileError("the profile table has no feature columns (every column starts with 'Metadata_')")
    return features


#: Prefixes of metadata columns in CellProfiler exports (ExportToSpreadsheet/ExportToDatabase
#: write `Image_Metadata_Plate`; per-object tables and pycytominer write `Metadata_Plate`).
CELLPROFILER_METADATA_PREFIXES: tuple[str, ...] = ("Image_Metadata_",)


def recognise_metadata(df: pd.DataFrame, prefixes: Sequence[str] = ()) -> pd.DataFrame:
    """`df` with CellProfiler's `Image_Metadata_X` columns (and `P + X` for each extra prefix P)
    renamed to `Metadata_X`, so published exports read as profile tables.

    A rename that would collide with a column already present is a ProfileError naming both.
    """
    for prefix in prefixes:
        if not prefix or not isinstance(prefix, str):
            raise ProfileError(f"a metadata prefix must be a non-empty string, not {prefix!r}")
    renames: dict[str, str] = {}
    for column in df.columns:
        if not isinstance(column, str) or is_metadata(column):
            continue
        for prefix in (*CELLPROFILER_METADATA_PREFIXES, *prefixes):
            if column.startswith(prefix) and len(column) > len(prefix):
                renames[column] = PREFIX + column[len(prefix) :]
                break
    targets = list(renames.values())
    clash = sorted({t for t in targets if t in df.columns or targets.count(t) > 1})
    if clash:
        sources = ", ".join(f"{s} -> {t}" for s, t in renames.items() if t in clash)
        raise ProfileError(f"metadata columns would collide after renaming ({sources}); rename them in the file first")
    return df.rename(columns=renames) if renames else df


def batch_of_plate(plate: object) -> str | None:
    """The week (`WeekN`) of a BBBC021-style plate name `WeekN_<number>`, else None."""
    if not isinstance(plate, str):
        return None
    match = _BATCH_FROM_PLATE.match(plate)
    return match.group(1) if match else None


def with_batch(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with Metadata_Batch filled from the `WeekN_` plate prefix where it is absent."""
    out = df.copy()
    derived = out[PLATE].map(batch_of_plate) if PLATE in out.columns else pd.Series(None, index=out.index, dtype=object)
    if BATCH in out.columns:
        current = out[BATCH].astype(object)
        derived = current.where(current.notna(), derived)
    derived = derived.astype(object)
    out[BATCH] = derived.where(derived.notna(), None)
    return out


def batch_sets(values: pd.Series) -> list[frozenset[str]]:
    """Each row's batches (a treatment spanning weeks holds them joined by '|')."""
    out: list[frozenset[str]] = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(frozenset())
        else:
            out.append(frozenset(str(v).split(BATCH_SEPARATOR)))
    return out


def image_key(df: pd.DataFrame) -> list[str] | None:
    """Columns identifying an image: an image id, a source id, or plate + well + site."""
    for column in (IMAGE_ID, IMAGE_SOURCE_ID):
        if column in df.columns:
            return [column]
    if all(c in df.columns for c in (PLATE, WELL, SITE)):
        return [PLATE, WELL, SITE]
    return None


def level_key(df: pd.DataFrame, level: str) -> list[str]:
    """The grouping columns of `level`; raises naming the missing columns."""
    if level == "image":
        key = image_key(df)
        if key is None:
            raise ProfileError(
                f"image level needs {IMAGE_ID}, {IMAGE_SOURCE_ID} or {PLATE}+{WELL}+{SITE}; "
                f"the table has: {', '.join(metadata_columns(df)) or 'no metadata'}"
            )
        return key
    if level == "well":
        require_columns(df, (PLATE, WELL), "well level")
        return [PLATE, WELL]
    if level == "treatment":
        require_columns(df, (COMPOUND, CONCENTRATION), "treatment level")
        return [COMPOUND, CONCENTRATION]
    raise ProfileError(f"unknown level {level!r}; use one of {', '.join(LEVELS[1:])}")


def _unique(df: pd.DataFrame, key: Sequence[str]) -> bool:
    return not df.duplicated(subset=list(key)).any()


def profile_level(df: pd.DataFrame) -> str:
    """The level of the rows: the finest level whose key identifies each row.

    ROI rows carry Metadata_RoiIndex or repeat an image key; image rows have a unique image key;
    well rows a unique plate + well; treatment rows a unique compound + concentration.
    """
    if ROI_INDEX in df.columns:
        return "roi"
    key = image_key(df)
    if key is not None:
        return "image" if _unique(df, key) else "roi"
    if PLATE in df.columns and WELL in df.columns:
        return "well" if _unique(df, [PLATE, WELL]) else "image"
    if COMPOUND in df.columns and CONCENTRATION in df.columns:
        if _unique(df, [COMPOUND, CONCENTRATION]):
            return "treatment"
        raise ProfileError(
            f"rows repeat {COMPOUND}+{CONCENTRATION} but have no {PLATE}/{WELL} or image id to tell them apart"
        )
    raise ProfileError(
        f"cannot tell the level of the rows: need {PLATE}+{WELL}, an image id, or {COMPOUND}+{CONCENTRATION}"
    )


def control_mask(df: pd.DataFrame, control: object = None) -> np.ndarray:
    """Boolean mask of the control rows.

    `control` is None (DMSO: Metadata_Compound == "DMSO"), "all" (every row is a reference),
    a mapping {column: value or list of values}, or a boolean array/Series of the table's length.
    """
    if control is None:
        control = {COMPOUND: CONTROL_COMPOUND}
    if isinstance(control, str):
        if control == "all":
            return np.ones(len(df), dtype=bool)
        raise ProfileError(f"control must be None, 'all', a {{column: value}} mapping or a mask, not {control!r}")
    if isinstance(control, dict):
        require_columns(df, control.keys(), "the control definition")
        mask = np.ones(len(df), dtype=bool)
        for column, value in control.items():
            values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
            mask &= df[column].isin(values).to_numpy()
        return mask
    mask = np.asarray(control)
    if mask.dtype != bool or mask.shape != (len(df),):
        raise ProfileError(f"a control mask must be boolean with {len(df)} entries, got {mask.dtype} {mask.shape}")
    return mask


def is_control(df: pd.DataFrame) -> np.ndarray:
    """Rows of the negative control compound (DMSO); False where the compound is unknown."""
    if COMPOUND not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return (df[COMPOUND] == CONTROL_COMPOUND).to_numpy()


def has_label(values: pd.Series) -> np.ndarray:
    """True where a text label is present (not NaN/None and not blank)."""
    text = values.astype(object)
    present = text.notna().to_numpy()
    blank = text.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    return present & ~blank
