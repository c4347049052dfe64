"""Image-level profiles of a training's embeddings, read through the service clients.

Client-side work (it runs where the user runs `bioims report` or a notebook, against either
backend), so it lives above bioims.clients, not among the worker jobs of bioims.jobs.

Works on both backends (bioims.client): the training row names the embedding, the embedding its
input geometry, which selects the compatible plates; each plate's origin rows give the
metadata (plate, well, image source id, compound = subclass, MOA = label) and its training rows
the embedding vectors. Plate manifests carry no concentration, so treatment-level evaluation
needs `annotations` (e.g. bioims.bbbc021.annotations.bbbc021_annotations()), joined on the
image source id.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bioims import context as context_module
from bioims import keys
from bioims.clients import client
from bioims.evaluation.annotations import annotate
from bioims.evaluation.prepare import EvaluationError
from bioims.features.plates import image_profile
from bioims.profiling.columns import (
    COMPOUND,
    IMAGE_ID,
    IMAGE_SOURCE_ID,
    MOA,
    PLATE,
    WELL,
    with_batch,
)
from bioims.vectors import decode_vector

PLATE_ID = "Metadata_PlateId"
WELL_ID = "Metadata_WellId"
ROI_COUNT = "Metadata_RoiCount"
_FILTER_NAME = re.compile(r"^(?P<label>.+)-filter\.txt$")


def _metadata_name(key: str) -> str:
    return key if key.startswith("Metadata_") else "Metadata_" + key[:1].upper() + key[1:]


def training_profiles(
    train_id: str,
    *,
    context=None,
    annotations: pd.DataFrame | None = None,
    plates: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per embedded image of `train_id`: Metadata_ columns and features e0..e{n-1}.

    annotations: extra metadata keyed by Metadata_ImageSourceId (its other Metadata_ columns
    fill columns the image rows lack). plates: restrict to these plateIds.
    """
    configuration = client("training-configuration", context)
    images = client("image-management", context)
    training = configuration.getTraining(train_id)
    embedding = configuration.getEmbeddingInfo(training["embeddingName"])
    label_category = embedding.get("labelCategory", "moa")
    subclass_category = embedding.get("subclassCategory", "compound")
    if plates is None:
        found = images.listCompatiblePlates(
            embedding["inputWidth"], embedding["inputHeight"], embedding.get("inputDepth", 1), embedding["inputChannels"]
        )
        plates = [p["plateId"] for p in found]
    records: list[dict] = []
    vectors: list[np.ndarray] = []
    raw = _raw_feature_profile(context) if training.get("kind") == "cellprofiler" else None
    for plate_id in plates:
        embedded = {row["imageId"]: row for row in images.getImagesByPlateIdAndTrainId(plate_id, train_id)}
        if not embedded:
            continue
        for row in images.getImagesByPlateId(plate_id):
            result = embedded.get(row["imageId"])
            if result is None:
                continue
            record = {
                PLATE: row.get("plateSourceId"),
                WELL: row.get("wellSourceId"),
                IMAGE_ID: row["imageId"],
                IMAGE_SOURCE_ID: row.get("imageSourceId"),
                PLATE_ID: row.get("plateId"),
                WELL_ID: row.get("wellId"),
                COMPOUND: row.get("trainSubclass") if row.get("trainSubclassType") == subclass_category else None,
                MOA: row.get("trainLabel") if row.get("trainCategory") == label_category else None,
                ROI_COUNT: int(result.get("roiCount", 0) or 0),
            }
            for key, value in (row.get("metadata") or {}).items():
                record.setdefault(_metadata_name(key), value)
            records.append(record)
            vectors.append(raw(result) if raw else decode_vector(result["embedding"]))
    if not records:
        raise EvaluationError(
            f"training {train_id!r} has no embeddings on {len(plates)} compatible plate(s); compute its embeddings first"
        )
    lengths = {len(v) for v in vectors}
    if len(lengths) != 1:
        raise EvaluationError(f"training {train_id!r} has embeddings of different lengths: {sorted(lengths)}")
    meta = pd.DataFrame.from_records(records)
    features = pd.DataFrame(np.vstack(vectors), columns=[f"e{i}" for i in range(lengths.pop())])
    table = pd.concat([meta, features], axis=1)
    if annotations is not None:
        table = annotate(table, annotations)
    return with_batch(table)


def _raw_feature_profile(context):
    """For a CellProfiler-feature training: an image's profile as the profiling recipe expects it,
    the NaN-ignoring mean of its stored ROI features, not the stored vector (which the embedding
    job also robust-z-scores per plate for search, without the recipe's scale floor: evaluating
    that would normalise twice and not apply the default recipe unchanged)."""
    store = (context or context_module.get()).stores.data

    def profile(result: dict) -> np.ndarray:
        if not result.get("roiEmbeddingKey"):
            raise EvaluationError(f"image {result.get('imageId')}: its CellProfiler features name no ROI feature file; embed it again")
        return image_profile(np.load(io.BytesIO(store.get_bytes(result["roiEmbeddingKey"])), allow_pickle=False))

    return profile


def left_out_trainings(embedding_name: str, compounds: Sequence[str], *, context=None) -> dict[str, str]:
    """{compound: trainId} of the embedding's trainings that left one compound out (the
    original's 38 NSC models), read from each training's filterKey `<label>-filter.txt`."""
    by_label: Mapping[str, str] = {keys.normalize_label(c): c for c in compounds}
    found: dict[str, str] = {}
    for training in client("training-configuration", context).getEmbeddingTrainings(embedding_name):
        name = str(training.get("filterKey") or "").rsplit("/", 1)[-1]
        match = _FILTER_NAME.match(name)
        if match and match.group("label") in by_label:
            compound = by_label[match.group("label")]
            if compound in found:
                raise EvaluationError(f"two trainings leave out {compound}: {found[compound]} and {training['trainId']}")
            found[compound] = training["trainId"]
    return found
