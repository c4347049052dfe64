"""Reading and writing profile tables as CSV (optionally gzipped) or Parquet.

Text metadata (plate, well, compound, MOA, batch, image ids) is read as strings so that a plate
named 22123 matches "22123" everywhere. Writes go to a temporary file first and are renamed into
place, so a crash never leaves half a table behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bioims.profiling.columns import (
    CELLPROFILER_METADATA_PREFIXES,
    PREFIX,
    TEXT_COLUMNS,
    ProfileError,
    feature_columns,
    recognise_metadata,
)

FORMATS = (".csv", ".csv.gz", ".parquet")


def profile_format(path: str | os.PathLike) -> str:
    name = Path(path).name.lower()
    for suffix in (".csv.gz", ".parquet", ".csv"):
        if name.endswith(suffix):
            return suffix
    raise ProfileError(f"{path}: unknown profile format; use one of {', '.join(FORMATS)}")


def _text_names(prefixes: Sequence[str]) -> list[str]:
    """The text metadata columns under every name they may have in the file."""
    stems = [c[len(PREFIX) :] for c in TEXT_COLUMNS]
    return [*TEXT_COLUMNS, *(p + s for p in (*CELLPROFILER_METADATA_PREFIXES, *prefixes) for s in stems)]


def read_profiles(path: str | os.PathLike, metadata_prefixes: Sequence[str] = ()) -> pd.DataFrame:
    """Read a profile table; checks that every non-Metadata column is numeric.

    CellProfiler's `Image_Metadata_X` columns, and `P + X` for each prefix P in
    `metadata_prefixes`, are read as `Metadata_X` (see columns.recognise_metadata).
    """
    fmt = profile_format(path)
    if not Path(path).is_file():
        raise ProfileError(f"{path}: no such file")
    try:
        if fmt == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype=dict.fromkeys(_text_names(metadata_prefixes), "string"), low_memory=False)
    except (ValueError, OSError) as exc:  # pyarrow and the csv parser raise these for damaged files
        raise ProfileError(f"{path}: cannot read profiles ({exc})") from exc
    df = recognise_metadata(df, metadata_prefixes)
    for column in TEXT_COLUMNS:
        if column in df.columns:
            text = [None if pd.isna(v) else str(v) for v in df[column].tolist()]
            df[column] = pd.Series(text, index=df.index, dtype=object)
    feature_columns(df)
    return df


def write_profiles(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a profile table atomically; the format follows the file name."""
    fmt = profile_format(path)
    feature_columns(df)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        if fmt == ".parquet":
            df.to_parquet(temporary, index=False)
        else:
            df.to_csv(temporary, index=False, compression="gzip" if fmt == ".csv.gz" else None)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
