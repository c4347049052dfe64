"""The object-key layout of the data and resource buckets (docs/original.md §3.6), defined once.

Thumbnails, ROI tensors/labels/subclasses/ROI JSON keyed by the embedding name, per-training
prefix lists and ROI embeddings keyed by trainId, as the original's keys. Flat fields are keyed by
plate only, because they do not depend on the embedding (docs/original.md §8.4 #31).
"""

from __future__ import annotations

ARTIFACT_ROOT = "artifact"
SUFFIX_TRAIN = "-train.npy"
SUFFIX_LABEL = "-label.npy"
SUFFIX_NO_LABEL = "-label.NONE"
SUFFIX_SUBCLASS = "-subclass.npy"
SUFFIX_ROI = "-roi.json"


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an object key (None when it can): keys are relative paths of plain parts,
    so no key reaches outside its bucket (a local directory) or aliases another key."""
    if not key:
        return "an object key cannot be empty"
    if key.startswith("/") or "\\" in key or "\x00" in key:
        return f"object key {key!r} must be a relative path with '/' separators"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return f"object key {key!r} has an empty, '.' or '..' part"
    return None


def s3key_artifact(key: str) -> str:
    """The artifact-table sort key for an object key (`s3key#<key>`)."""
    return f"s3key#{key}"


# --- plate / image level -----------------------------------------------------------------------
def thumbnail_key(plate_id: str, image_id: str, name: str) -> str:
    return f"{ARTIFACT_ROOT}/plate/{plate_id}/default/image/{image_id}/{name}"


def flatfield_key(plate_id: str, channel: str) -> str:
    return f"{ARTIFACT_ROOT}/plate/{plate_id}/flatfield/channel-{channel}-flatfield.npy"


def plate_prefix(plate_id: str) -> str:
    return f"{ARTIFACT_ROOT}/plate/{plate_id}/"


# --- ROI files of an embedding -----------------------------------------------------------------
def train_prefix(embedding_name: str, plate_id: str, image_id: str) -> str:
    """Prefix of one image's ROI files; the training image list holds these prefixes."""
    return f"{ARTIFACT_ROOT}/train/embedding/{embedding_name}/plate/{plate_id}/image-{image_id}"


def roi_tensor_key(embedding_name: str, plate_id: str, image_id: str) -> str:
    return train_prefix(embedding_name, plate_id, image_id) + SUFFIX_TRAIN


def label_key(embedding_name: str, plate_id: str, image_id: str) -> str:
    return train_prefix(embedding_name, plate_id, image_id) + SUFFIX_LABEL


def no_label_key(embedding_name: str, plate_id: str, image_id: str) -> str:
    return train_prefix(embedding_name, plate_id, image_id) + SUFFIX_NO_LABEL


def subclass_key(embedding_name: str, plate_id: str, image_id: str) -> str:
    return train_prefix(embedding_name, plate_id, image_id) + SUFFIX_SUBCLASS


def roi_json_key(embedding_name: str, plate_id: str, image_id: str) -> str:
    return train_prefix(embedding_name, plate_id, image_id) + SUFFIX_ROI


def embedding_plate_prefix(embedding_name: str, plate_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/embedding/{embedding_name}/plate/{plate_id}/"


# --- per training ------------------------------------------------------------------------------
def training_prefix(train_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/{train_id}/"


def image_list_key(train_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/{train_id}/{train_id}-image-prefix-list.txt"


def training_manifest_key(train_id: str) -> str:
    """JSON manifest of a training set: images, labels, ROI counts, validation split."""
    return f"{ARTIFACT_ROOT}/train/{train_id}/{train_id}-training-manifest.json"


# A trained model's two files (bioims.learning.modelcard writes them). Named here, not beside the
# torch code, so that services which only copy them (the train Lambda, whose image has no torch)
# never import torch.
MODEL_FILE = "model.pth"
CARD_FILE = "model-card.json"
PROGRESS_FILE = "progress.json"  # a training's latest report, beside its checkpoints


def model_key(train_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/{train_id}/model/{MODEL_FILE}"


def model_card_key(train_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/{train_id}/model/{CARD_FILE}"


def checkpoint_prefix(train_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/{train_id}/checkpoints/"


def roi_embedding_key(train_id: str, plate_id: str, image_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/{train_id}/plate/{plate_id}/{image_id}-roi-embedding.npy"


def plate_embeddings_key(train_id: str, plate_id: str) -> str:
    """All image embeddings of one plate for one training: the search loader's input."""
    return f"{ARTIFACT_ROOT}/train/{train_id}/plate/{plate_id}/image-embeddings.npz"


def report_prefix(train_id: str) -> str:
    return f"{ARTIFACT_ROOT}/train/{train_id}/report/"


# --- search ------------------------------------------------------------------------------------
def search_snapshot_prefix(train_id: str) -> str:
    return f"{ARTIFACT_ROOT}/search/{train_id}/"


def search_tags_key(embedding_name: str) -> str:
    return f"{ARTIFACT_ROOT}/search/tags/{embedding_name}.json"


# --- resource bucket ---------------------------------------------------------------------------
FILTER_SUFFIX = "-filter.txt"


def train_filter_prefix(embedding_name: str) -> str:
    """Prefix of every exclusion list of an embedding (one per leave-one-compound-out training)."""
    return f"train-filter/{embedding_name}/"


def train_filter_key(embedding_name: str, compound_label: str) -> str:
    return train_filter_prefix(embedding_name) + compound_label + FILTER_SUFFIX


def model_prefix(train_id: str) -> str:
    """Directory of a training's model.pth and model card (SageMaker's output path on AWS)."""
    return model_key(train_id).rsplit("/", 1)[0] + "/"


def source_plate_manifest_key(plate_source_id: str, unique: str) -> str:
    return f"source-plate/{unique}-{plate_source_id}.json"


def normalize_label(name: str) -> str:
    """The original's label form for compounds and MOAs: no whitespace, '/' -> '-'."""
    return "".join(name.split()).replace("/", "-")


# --- search snapshots (the search service's own copy, so a restart loses nothing) ---------------
def search_root() -> str:
    return f"{ARTIFACT_ROOT}/search/"


def search_segment_key(train_id: str, plate_id: str) -> str:
    """One plate's image embeddings as loaded into the search index of a training."""
    return f"{search_snapshot_prefix(train_id)}plate/{plate_id}.npz"


def search_ann_key(train_id: str) -> str:
    """A training's trained approximate (IVF/HNSW) index, FAISS-serialised (bioims.search.ann)."""
    return f"{search_snapshot_prefix(train_id)}ann.faiss"


def search_ann_meta_key(train_id: str) -> str:
    """Description of a training's approximate index: plate order of its rows, digests, calibration."""
    return f"{search_snapshot_prefix(train_id)}ann.json"


def search_deleting_marker_key(train_id: str) -> str:
    """Present while a training is being deleted: a restart finishes the deletion."""
    return f"{search_snapshot_prefix(train_id)}DELETING"


def search_tags_prefix(embedding_name: str) -> str:
    return f"{ARTIFACT_ROOT}/search/tags/{embedding_name}/"


def search_plate_tags_key(embedding_name: str, plate_id: str) -> str:
    """Tag ids of one plate's images for one embedding: {"images": [{"imageId", "tags"}]}."""
    return f"{search_tags_prefix(embedding_name)}plate/{plate_id}.json"


def search_tag_labels_key() -> str:
    """The tag-id -> tag-value map the search service filters with (requireMoa)."""
    return f"{ARTIFACT_ROOT}/search/tag-labels.json"


def search_failed_message_key(queue_name: str, message_id: str) -> str:
    """A message the local search service gave up on (the local stand-in for a DLQ)."""
    return f"{ARTIFACT_ROOT}/search/failed/{queue_name}/{message_id}.json"


def search_staging_key(name: str) -> str:
    """Inputs the search loaders stage for the search service (tag sets, embeddings built from
    table rows) and reference from queue messages instead of inlining them."""
    return f"{ARTIFACT_ROOT}/search/staging/{name}"


def search_generation_key() -> str:
    """Changes whenever a search service changes the index, so another process's in-memory copy
    knows to reload (local backend, several processes)."""
    return f"{ARTIFACT_ROOT}/search/GENERATION"
