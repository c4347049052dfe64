"""Source-plate manifests of BBBC021 plates in the original's format (docs/original.md §2.6, §7.4).

One manifest per plate: `{"plateSourceId": plate, "images": [...]}` with, per field,
`wellSourceId`, `imageSourceId` (DAPI file name without `.tif`), `sourceBucket`, `sourceKey`
(a prefix, "" for a copy at the bucket's or directory's root), `channelKeys`
(`[{name: dapi|tubulin|actin, keysuffix: "<plate>/<file>"}]`), `category` "moa",
`subclassType` "compound", `subclass` (the raw compound name), `label` (the MOA, only for labelled
fields under the chosen labelling rule) and `experiment` "BBBC021_v1".
"""

from __future__ import annotations

import json
from typing import Any

from bioims.bbbc021 import layout
from bioims.bbbc021.design import Design
from bioims.bbbc021.labels import LabelMode, field_moa


def plate_manifest(
    design: Design,
    plate: str,
    source_bucket: str,
    *,
    source_key: str = "",
    mode: LabelMode = "standard",
) -> dict[str, Any]:
    """The manifest of one plate; fields ordered by well then site. `source_bucket` is a bucket
    name or a local directory path; the channel files are at `source_key + keysuffix`."""
    if not isinstance(source_bucket, str) or not source_bucket:
        raise ValueError("source_bucket must be a non-empty bucket name or directory path")
    if source_key and not source_key.endswith("/"):
        raise ValueError(f"source_key must be empty or end with '/', not {source_key!r}")
    fields = design.plate_fields(plate)
    labels = field_moa(fields, mode)
    images = []
    for row, label in zip(fields.itertuples(index=False), labels, strict=True):
        image: dict[str, Any] = {
            "wellSourceId": row.well,
            "imageSourceId": row.image_source_id,
            "sourceBucket": source_bucket,
            "sourceKey": source_key,
            "channelKeys": [
                {"name": channel, "keysuffix": layout.key_suffix(plate, getattr(row, f"file_{channel}"))}
                for channel in layout.CHANNELS
            ],
            "category": layout.MOA_CATEGORY,
            "subclassType": layout.COMPOUND_CATEGORY,
            "subclass": row.compound,
            "experiment": layout.EXPERIMENT,
        }
        if label is not None:
            image["label"] = label
        images.append(image)
    return {"plateSourceId": plate, "images": images}


def manifest_json(manifest: dict[str, Any]) -> str:
    """The manifest as the original wrote it: sorted keys, indent 4."""
    return json.dumps(manifest, sort_keys=True, indent=4)
