"""Image-level profiles of a training's embeddings, read through the service clients.

Works on both backends (bioims.client): the training row names the embedding, the embedding its
input geometry, which selects the compatible plates; each plate's origin rows give the
metadata (plate, well, image source id, compound = subclass, MOA = label) and its training rows
the embedding vectors. Plate manifests carry no concentration, so treatment-level evaluation
needs `annotations` (e.g. `bbbc021_annotations()`), joined on the image source id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bioims import keys
from bioims.evaluation.prepare import EvaluationError
from bioims.profiling.columns import (
    COMPOUND,
    CONCENTRATION,
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
    from bioims import client

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
    import io

    from bioims import context as context_module
    from bioims.features.jobs import image_profile

    store = (context or context_module.get()).stores.data

    def profile(result: dict) -> np.ndarray:
        if not result.get("roiEmbeddingKey"):
            raise EvaluationError(f"image {result.get('imageId')}: its CellProfiler features name no ROI feature file; embed it again")
        return image_profile(np.load(io.BytesIO(store.get_bytes(result["roiEmbeddingKey"])), allow_pickle=False))

    return profile


def annotate(profiles: pd.DataFrame, annotations: pd.DataFrame, on: str = IMAGE_SOURCE_ID) -> pd.DataFrame:
    """Fill metadata missing from `profiles` (absent columns or empty values) from `annotations`."""
    if on not in annotations.columns or on not in profiles.columns:
        raise EvaluationError(f"annotations are joined on {on}, which both tables need")
    extra = [c for c in annotations.columns if c.startswith("Metadata_") and c != on]
    lookup = annotations.drop_duplicates(on).set_index(on)
    out = profiles.copy()
    for column in extra:
        values = out[on].map(lookup[column])
        out[column] = values if column not in out.columns else out[column].where(out[column].notna(), values)
    ordered = [c for c in out.columns if c.startswith("Metadata_")] + [c for c in out.columns if not c.startswith("Metadata_")]
    return out[ordered]


def bbbc021_annotations(design=None) -> pd.DataFrame:
    """Concentration, batch and control flag of every BBBC021 field, keyed by image source id."""
    from bioims.bbbc021.design import load_design

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
    from bioims.bbbc021.design import load_design

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


def left_out_trainings(embedding_name: str, compounds: Sequence[str], *, context=None) -> dict[str, str]:
    """{compound: trainId} of the embedding's trainings that left one compound out (the
    original's 38 NSC models), read from each training's filterKey `<label>-filter.txt`."""
    from bioims import client

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
