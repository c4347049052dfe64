"""Publish a training's evaluation report to the data store (artifact/train/<trainId>/report/),
so that whoever reads the store (the web UI, a colleague on the same stack) sees the same report
the local files hold. Idempotent: a re-run overwrites the same keys."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from bioims import keys

PUBLISHED_SUFFIXES = (".json", ".md", ".png", ".csv")


def publish_report(store, train_id: str, paths: dict[str, Path]) -> list[str]:
    """Copy the report files (metrics, Markdown, figures, CSVs; not the profile table) under the
    training's report prefix; returns the keys written."""
    written = []
    for path in sorted({Path(p) for p in paths.values()}):
        if path.suffix not in PUBLISHED_SUFFIXES or not path.is_file():
            continue
        key = keys.report_prefix(train_id) + path.name
        store.put_bytes(key, path.read_bytes(), content_type=mimetypes.guess_type(path.name)[0])
        written.append(key)
    return written
