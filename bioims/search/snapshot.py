"""Persistence of the search state in the object store, so a restart loses nothing
(docs/original.md §8.5 #36).

Layout (bioims.keys): one segment per training and plate (`search_segment_key`, an .npz of image
ids + float32 embeddings), one tag file per embedding and plate (`search_plate_tags_key`), the
tag-label map (`search_tag_labels_key`), and for a training large enough for approximate search
its trained index (`search_ann_key`) and a small description of it (`search_ann_meta_key`: the
plate order of its rows, a digest of the rows and of the index bytes, the calibration).

Loading streams: the listing yields segment keys, and the engine reads, applies and drops one
segment at a time, so a training's load holds its index plus one plate's segment, not a second
copy of every plate. Every object is written whole (S3 puts and the local
store are atomic), before the in-memory index changes. Deleting a training writes a marker first
and removes it last, so a crash half-way is finished at the next start instead of resurrecting
half a training.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bioims import keys
from bioims.errors import InvalidRequest
from bioims.npy import read_npz
from bioims.store.ports import ObjectNotFound, ObjectStore

log = logging.getLogger("bioims.search")

SEGMENT_FORMAT = 1
_ROOT = keys.search_root()
_SEGMENT = re.compile(r"^(?P<train>[^/]+)/plate/(?P<plate>[^/]+)\.npz$")
_MARKER = re.compile(r"^(?P<train>[^/]+)/DELETING$")
_ANN_META = re.compile(r"^(?P<train>[^/]+)/ann\.json$")
_TAGS = re.compile(r"^tags/(?P<embedding>[^/]+)/plate/(?P<plate>[^/]+)\.json$")


@dataclass(frozen=True)
class Segment:
    train_id: str
    embedding_name: str
    plate_id: str
    image_ids: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class SegmentRef:
    """A segment found by the listing, read only when it is applied."""

    train_id: str
    plate_id: str
    key: str


@dataclass
class Snapshot:
    """Everything found under the search prefix at start (segments as references)."""

    segments: list[SegmentRef] = field(default_factory=list)
    ann_meta: dict[str, dict] = field(default_factory=dict)  # trainId -> ann.json
    plate_tags: list[tuple[str, str, dict[str, list[int]]]] = field(default_factory=list)
    tag_labels: dict[int, str] | None = None
    unfinished_deletes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def encode_segment(segment: Segment) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.asarray(SEGMENT_FORMAT),
        train_id=np.asarray(segment.train_id),
        embedding_name=np.asarray(segment.embedding_name),
        plate_id=np.asarray(segment.plate_id),
        image_ids=np.asarray(segment.image_ids, dtype=str),
        embeddings=np.asarray(segment.vectors, dtype=np.float32),
    )
    return buffer.getvalue()


def decode_segment(data: bytes) -> Segment:
    npz = read_npz(data, name="search snapshot")
    if int(npz["format"]) != SEGMENT_FORMAT:
        raise ValueError(f"unknown segment format {int(npz['format'])}")
    return Segment(
        str(npz["train_id"]),
        str(npz["embedding_name"]),
        str(npz["plate_id"]),
        [str(i) for i in npz["image_ids"].tolist()],
        np.asarray(npz["embeddings"], dtype=np.float32),
    )


_ID_NAMES = ("image_ids", "imageIds", "ids")
_VECTOR_NAMES = ("embeddings", "vectors", "embedding")


def read_plate_embeddings(data: bytes) -> tuple[list[str], np.ndarray]:
    """A plate's image embeddings as written by the embedding stage (bioims.keys.
    plate_embeddings_key): an .npz holding a 1-D string array of image ids and a float (n, d)
    matrix. Arrays are found by their usual names, else by their shape and dtype."""
    try:
        arrays = read_npz(data, name="plate embeddings")
    except (ValueError, OSError) as exc:
        raise InvalidRequest(f"plate embeddings file is not a readable .npz: {exc}") from None
    ids = next((arrays[n] for n in _ID_NAMES if n in arrays), None)
    vectors = next((arrays[n] for n in _VECTOR_NAMES if n in arrays), None)
    if ids is None:
        found = [a for a in arrays.values() if a.ndim == 1 and a.dtype.kind in "US"]
        ids = found[0] if len(found) == 1 else None
    if vectors is None:
        found = [a for a in arrays.values() if a.ndim == 2 and a.dtype.kind == "f"]
        vectors = found[0] if len(found) == 1 else None
    if ids is None or vectors is None:
        raise InvalidRequest(
            f"plate embeddings file must hold image ids and an embedding matrix; it has {sorted(arrays)}"
        )
    if ids.ndim != 1 or ids.dtype.kind not in "US":
        raise InvalidRequest("image ids of the plate embeddings file must be a 1-D array of strings")
    return [str(i) for i in ids.tolist()], vectors


class SnapshotStore:
    """Reads and writes the search state under `artifact/search/` of one object store."""

    def __init__(self, objects: ObjectStore):
        self.objects = objects

    # --- writes --------------------------------------------------------------------------------
    def save_segment(self, segment: Segment) -> None:
        key = keys.search_segment_key(segment.train_id, segment.plate_id)
        self.objects.put_bytes(key, encode_segment(segment), content_type="application/octet-stream")

    def save_plate_tags(self, embedding_name: str, plate_id: str, tags: Mapping[str, Sequence[int]]) -> None:
        body = {
            "embeddingName": embedding_name,
            "plateId": plate_id,
            "images": [{"imageId": i, "tags": [int(t) for t in v]} for i, v in tags.items()],
        }
        self.objects.put_bytes(
            keys.search_plate_tags_key(embedding_name, plate_id), _json(body), content_type="application/json"
        )

    def save_tag_labels(self, labels: Mapping[int, str]) -> None:
        body = {"tags": {str(k): v for k, v in sorted(labels.items())}}
        self.objects.put_bytes(keys.search_tag_labels_key(), _json(body), content_type="application/json")

    def delete_training(self, train_id: str) -> int:
        """Remove every segment of a training; safe to re-run after a crash."""
        marker = keys.search_deleting_marker_key(train_id)
        self.objects.put_bytes(marker, b"{}", content_type="application/json")
        removed = 0
        for info in list(self.objects.list(keys.search_snapshot_prefix(train_id))):
            if info.key != marker:
                self.objects.delete(info.key)
                removed += 1
        self.objects.delete(marker)
        return removed

    def record_failure(self, queue_name: str, message_id: str, body: dict) -> None:
        self.objects.put_bytes(
            keys.search_failed_message_key(queue_name, message_id), _json(body), content_type="application/json"
        )

    # --- reads ---------------------------------------------------------------------------------
    def load(self) -> Snapshot:
        """Everything under the search prefix; unreadable objects are reported, not fatal."""
        snapshot = Snapshot()
        listing = [info.key for info in self.objects.list(_ROOT)]
        deleting = {m.group("train") for k in listing if (m := _MARKER.match(k[len(_ROOT) :]))}
        snapshot.unfinished_deletes = sorted(deleting)
        for key in listing:
            rest = key[len(_ROOT) :]
            try:
                if rest == keys.search_tag_labels_key()[len(_ROOT) :]:
                    snapshot.tag_labels = _read_labels(self.objects.get_bytes(key))
                elif m := _TAGS.match(rest):
                    snapshot.plate_tags.append(
                        (m.group("embedding"), m.group("plate"), _read_tags(self.objects.get_bytes(key)))
                    )
                elif (m := _SEGMENT.match(rest)) and m.group("train") not in deleting:
                    snapshot.segments.append(SegmentRef(m.group("train"), m.group("plate"), key))
                elif (m := _ANN_META.match(rest)) and m.group("train") not in deleting:
                    snapshot.ann_meta[m.group("train")] = json.loads(self.objects.get_bytes(key))
            except ObjectNotFound:
                continue  # deleted while listing
            except Exception as exc:  # a damaged object must not keep the service from starting
                message = f"{key}: {type(exc).__name__}: {exc}"
                log.error("search snapshot: skipping %s", message)
                snapshot.errors.append(message)
        return snapshot

    def read_segment(self, ref: SegmentRef) -> Segment:
        """One listed segment (ObjectNotFound if deleted since the listing)."""
        segment = decode_segment(self.objects.get_bytes(ref.key))
        if (segment.train_id, segment.plate_id) != (ref.train_id, ref.plate_id):
            raise ValueError("segment content does not match its key")
        return segment

    # --- approximate index ---------------------------------------------------------------------
    def save_ann(self, train_id: str, blob: bytes, meta: dict) -> None:
        """The index bytes first, then the description naming their digest: a crash between the
        two leaves a description that does not match, and the index is rebuilt."""
        self.objects.put_bytes(keys.search_ann_key(train_id), blob, content_type="application/octet-stream")
        body = {**meta, "blobDigest": blob_digest(blob), "blobSize": len(blob)}
        self.objects.put_bytes(keys.search_ann_meta_key(train_id), _json(body), content_type="application/json")

    def read_ann_blob(self, train_id: str, meta: dict) -> bytes | None:
        """The index bytes if they are the ones the description names, else None."""
        try:
            blob = self.objects.get_bytes(keys.search_ann_key(train_id))
        except ObjectNotFound:
            return None
        if len(blob) != meta.get("blobSize") or blob_digest(blob) != meta.get("blobDigest"):
            return None
        return blob

    def delete_ann(self, train_id: str) -> None:
        for key in (keys.search_ann_meta_key(train_id), keys.search_ann_key(train_id)):
            self.objects.delete(key)


def blob_digest(blob: bytes) -> str:
    import hashlib

    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _json(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _read_labels(data: bytes) -> dict[int, str]:
    body = json.loads(data)
    return {int(k): str(v) for k, v in body["tags"].items()}


def parse_tag_images(images) -> dict[str, list[int]]:
    """[{imageId, tags: [ids]}] -> {imageId: [ids]}; InvalidRequest on any malformed entry."""
    if not isinstance(images, list):
        raise InvalidRequest("'images' must be a list of {imageId, tags}")
    out: dict[str, list[int]] = {}
    for entry in images:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("imageId"), str)
            or not isinstance(entry.get("tags"), list)
        ):
            raise InvalidRequest(f"each image entry must be {{imageId: str, tags: [int]}}, got {entry!r}")
        out[entry["imageId"]] = entry["tags"]
    return out


def _read_tags(data: bytes) -> dict[str, list[int]]:
    return parse_tag_images(json.loads(data)["images"])
