"""The JSON messages of the search and management queues, built and parsed in one place.

The message types are the original's (docs/original.md §5.2), as JSON objects with a `type`.
Embeddings and large tag sets travel by object key, because SQS caps a message at 256 KB (§8.5 #44),
and each trainId (each embedding for tags) has its own FIFO group, so trainings load in parallel yet
each in order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bioims.errors import InvalidRequest
from bioims.search.query import SearchQuery

SEARCH_BY_IMAGE_ID = "searchByImageId"
PLATE_EMBEDDING = "plateEmbedding"
PLATE_TAGS = "plateTags"
LOAD_TAG_LABEL_MAP = "loadTagLabelMap"
LOG_TRAIN_LIST = "logTrainList"
DELETE_TRAINING = "deleteTraining"

SEARCH_TYPES = (SEARCH_BY_IMAGE_ID,)
MANAGEMENT_TYPES = (PLATE_EMBEDDING, PLATE_TAGS, LOAD_TAG_LABEL_MAP, LOG_TRAIN_LIST, DELETE_TRAINING)
# Bodies larger than this go through the object store (SQS allows 256 KiB).
MAX_INLINE_BYTES = 128 * 1024
_QUERY_FIELDS = ("trainId", "queryImageId", "metric", "maxHits", "requireMoa", "inclusionTags", "exclusionTags")


def encode(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), sort_keys=True)


def decode(body: str | bytes | Mapping[str, Any], allowed: Sequence[str]) -> dict:
    """A message dict with a known `type`; InvalidRequest for anything else."""
    if isinstance(body, Mapping):
        message = dict(body)
    else:
        try:
            message = json.loads(body)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"message is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InvalidRequest("message must be a JSON object")
    kind = message.get("type")
    if kind not in allowed:
        raise InvalidRequest(f"unknown message type {kind!r}; expected one of {', '.join(allowed)}")
    return message


def require(message: Mapping[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if not isinstance(message.get(n), str) or not message.get(n)]
    if missing:
        raise InvalidRequest(f"{message.get('type')} message: missing or non-string field(s) {', '.join(missing)}")
    return [message[n] for n in names]


# --- builders (the senders: the search service's Lambda methods and loaders) ---------------------
def search_by_image_id(search_id: str, query: SearchQuery) -> dict:
    body = {"type": SEARCH_BY_IMAGE_ID, "searchId": search_id}
    body.update(query.model_dump(include=set(_QUERY_FIELDS), mode="json"))
    return body


def query_of(message: Mapping[str, Any]) -> dict:
    """The search fields of a searchByImageId message (validated later by parse_query)."""
    unknown = set(message) - set(_QUERY_FIELDS) - {"type", "searchId"}
    if unknown:
        raise InvalidRequest(f"searchByImageId message: unknown field(s) {', '.join(sorted(unknown))}")
    return {k: message[k] for k in _QUERY_FIELDS if k in message}


def plate_embedding(train_id: str, embedding_name: str, plate_id: str, key: str | None = None) -> dict:
    body = {"type": PLATE_EMBEDDING, "trainId": train_id, "embeddingName": embedding_name, "plateId": plate_id}
    if key is not None:
        body["key"] = key
    return body


def plate_tags(
    embedding_name: str, plate_id: str, images: Mapping[str, Sequence[int]] | None = None, key: str | None = None
) -> dict:
    """Tags of one plate, inline (`images`) or as the key of a JSON object {"images": [...]}."""
    if (images is None) == (key is None):
        raise ValueError("give exactly one of images and key")
    body: dict[str, Any] = {"type": PLATE_TAGS, "embeddingName": embedding_name, "plateId": plate_id}
    if images is not None:
        body["images"] = [{"imageId": i, "tags": [int(t) for t in v]} for i, v in images.items()]
    else:
        body["key"] = key
    return body


def load_tag_label_map(labels: Mapping[int, str] | None = None, key: str | None = None) -> dict:
    """The tag-label map inline, as the key of a JSON object {"tags": {...}}, or neither (the
    service then asks its tag source)."""
    body: dict[str, Any] = {"type": LOAD_TAG_LABEL_MAP}
    if labels is not None:
        body["tags"] = {str(k): v for k, v in labels.items()}
    if key is not None:
        body["key"] = key
    return body


def log_train_list() -> dict:
    return {"type": LOG_TRAIN_LIST}


def delete_training(train_id: str) -> dict:
    return {"type": DELETE_TRAINING, "trainId": train_id}


def group_id(message: Mapping[str, Any]) -> str:
    """The FIFO message group: per trainId (per embedding for tags), so one training's messages
    stay in order while different trainings proceed independently."""
    for field in ("trainId", "embeddingName"):
        value = message.get(field)
        if isinstance(value, str) and value:
            return value
    return "bioims-search"
