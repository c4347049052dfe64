"""The search engine: one exact FAISS index per trainId (plus a persisted approximate one when the
training reaches `AnnPolicy.min_images`), tag filters per embedding, snapshots in the object store,
batched queries on one FAISS thread each.

Every mutation is validated first and persisted before the in-memory index changes, so bad input
changes nothing and a restart (`load`) rebuilds exactly what was acknowledged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import faiss
import numpy as np

from bioims import keys
from bioims.errors import InvalidRequest, PlateFileMissing, RequestError, UnknownImage, UnknownTraining
from bioims.search.ann import AnnIndex, AnnPolicy, build_ann
from bioims.search.batching import Batcher
from bioims.search.index import TrainingIndex, check_embeddings
from bioims.search.query import Metric, SearchQuery, check_id, check_train_id, parse_query
from bioims.search.snapshot import Segment, SnapshotStore, read_plate_embeddings
from bioims.search.tags import TagLabels, TagStore, as_tag_array
from bioims.store.ports import ObjectNotFound, ObjectStore

log = logging.getLogger("bioims.search")

_thread_state = threading.local()


def pin_faiss_thread() -> None:
    """One OpenMP thread for FAISS calls made by this thread. OpenMP settings are per thread, so
    every thread that searches calls this (once)."""
    if not getattr(_thread_state, "pinned", False):
        faiss.omp_set_num_threads(1)
        _thread_state.pinned = True


@dataclass(frozen=True)
class SearchResult:
    query: SearchQuery
    image_ids: list[str]
    distances: np.ndarray  # float64, ascending
    candidates: int  # how many images the filters allowed (the query image not counted)

    def hits(self) -> list[dict]:
        """[{imageId, rank, distance}], rank from 0: the BioimsSearch hit rows' content."""
        return [
            {"imageId": image_id, "rank": rank, "distance": float(distance)}
            for rank, (image_id, distance) in enumerate(zip(self.image_ids, self.distances.tolist(), strict=True))
        ]

    def to_json(self) -> dict:
        return {**self.query.describe(), "candidateCount": self.candidates, "hits": self.hits()}


Outcome = SearchResult | RequestError


class SearchEngine:
    """Thread-safe. `objects` is the data bucket (snapshots, plate embedding files); without it the
    engine is memory-only. `tag_source` returns the tag service's id -> value map."""

    def __init__(
        self,
        objects: ObjectStore | None = None,
        *,
        tag_source: Callable[[], Mapping[int, str]] | None = None,
        ann_policy: AnnPolicy | None = None,
    ):
        self.objects = objects
        self.ann_policy = ann_policy or AnnPolicy.from_env()
        self.snapshots = SnapshotStore(objects) if objects is not None else None
        self.tag_source = tag_source
        self.labels = TagLabels()
        self.load_errors: list[str] = []
        self.started_at = time.time()
        self._trainings: dict[str, TrainingIndex] = {}
        self._tags: dict[str, TagStore] = {}
        self._lock = threading.RLock()
        self._batcher: Batcher[SearchQuery, SearchResult] = Batcher(self.search_many)

    # --- start ---------------------------------------------------------------------------------
    def load(self) -> dict:
        """Rebuild the state from the snapshots (finishing any interrupted training deletion)."""
        if self.snapshots is None:
            return {"trainings": 0, "images": 0, "errors": []}
        snapshot = self.snapshots.load()
        for train_id in snapshot.unfinished_deletes:
            self.snapshots.delete_training(train_id)
            log.info("search: finished the interrupted deletion of training %s", train_id)
        # One segment at a time (read, apply, drop); a training with a persisted approximate index
        # gets its plates in that index's row order, so the index can be attached as it is.
        order = {t: {p: i for i, p in enumerate(meta.get("plates", []))} for t, meta in snapshot.ann_meta.items()}
        refs = sorted(
            snapshot.segments,
            key=lambda r: (
                r.train_id,
                order.get(r.train_id, {}).get(r.plate_id, len(order.get(r.train_id, {}))),
                r.plate_id,
            ),
        )
        segment = None
        for ref in refs:
            segment = None  # the previous plate's arrays go before the next are read
            try:
                segment = self.snapshots.read_segment(ref)
                self._apply_plate(
                    segment.train_id, segment.embedding_name, segment.plate_id, segment.image_ids, segment.vectors
                )
            except ObjectNotFound:
                continue  # deleted since the listing
            except RequestError as exc:
                snapshot.errors.append(f"segment {ref.train_id}/{ref.plate_id}: {exc.message}")
            except Exception as exc:  # a damaged object must not keep the service from starting
                log.error("search snapshot: skipping %s: %s", ref.key, exc)
                snapshot.errors.append(f"{ref.key}: {type(exc).__name__}: {exc}")
        del segment
        for embedding_name, plate_id, tags in snapshot.plate_tags:
            try:
                self._tag_store(embedding_name).set_plate(plate_id, tags)
            except RequestError as exc:
                snapshot.errors.append(f"tags {embedding_name}/{plate_id}: {exc.message}")
        if snapshot.tag_labels is not None:
            self.labels.replace(snapshot.tag_labels)
        for train_id, meta in snapshot.ann_meta.items():
            self._attach_persisted_ann(train_id, meta)
        self.refresh_ann()
        self.load_errors = snapshot.errors
        summary = {
            "trainings": len(self._trainings),
            "images": sum(t.size for t in self._trainings.values()),
            "errors": list(snapshot.errors),
        }
        log.info("search: loaded %(trainings)d trainings, %(images)d images", summary)
        return summary

    # --- approximate indexes -------------------------------------------------------------------
    def _attach_persisted_ann(self, train_id: str, meta: dict) -> bool:
        """Attach the stored approximate index if it was built over exactly the loaded rows."""
        index = self._trainings.get(train_id)
        if index is None or self.snapshots is None:
            return False
        with index.lock:
            version = index.version
            if meta.get("rowsDigest") != index.rows_digest():
                log.info("search: the approximate index of %s does not match its rows; rebuilding", train_id)
                return False
        blob = self.snapshots.read_ann_blob(train_id, meta)
        if blob is None:
            return False
        try:
            ann = AnnIndex.from_bytes(blob, json.dumps(meta["stats"]))
        except Exception as exc:  # damaged: rebuild rather than fail the start
            log.error("search: unreadable approximate index of %s: %s", train_id, exc)
            return False
        return index.attach_ann(ann, version, self.ann_policy.exact_below_fraction)

    def refresh_ann(self, train_id: str | None = None) -> list[dict]:
        """Build (and persist) the approximate index of every training (or one) that has reached
        the policy's size and has none matching its rows; returns the calibrations made. Searches
        go on, exact, while an index is built from a copy of the rows."""
        with self._lock:
            indexes = (
                [self._trainings[train_id]]
                if train_id in self._trainings
                else ([] if train_id else list(self._trainings.values()))
            )
        built = []
        for index in indexes:
            kind = self.ann_policy.kind_for(index.size)
            if kind is None or index.ann is not None or index.ann_checked_version == index.version:
                continue
            with index.lock:
                version = index.version
                index.ann_checked_version = version  # one build per state of the rows
                unit = index.unit_vectors()
                plates = index.plate_order()
                digest = index.rows_digest(unit)
            ann = build_ann(unit, lambda q, k, index=index: index.exact_cosine_search(q, k), self.ann_policy, kind)
            del unit
            if self.ann_policy.require_faster and ann.stats.ann_ms >= ann.stats.exact_ms:
                # Vectors without neighbourhood structure (e.g. uniform on the sphere) need the
                # whole index probed for the recall: no gain, so search stays exact.
                index.ann_rejected = ann.stats
                log.info(
                    "search: approximate index of %s not faster than exact: %s", index.train_id, ann.stats.as_dict()
                )
                continue
            if not index.attach_ann(ann, version, self.ann_policy.exact_below_fraction):
                continue  # the rows changed meanwhile: the next refresh builds again
            if self.snapshots is not None:
                meta = {"trainId": index.train_id, "plates": plates, "rowsDigest": digest, "stats": ann.stats.as_dict()}
                self.snapshots.save_ann(index.train_id, ann.to_bytes(), meta)
            log.info("search: approximate index of %s: %s", index.train_id, ann.stats.as_dict())
            built.append({"trainId": index.train_id, **ann.stats.as_dict()})
        return built

    # --- management ----------------------------------------------------------------------------
    def add_plate(self, train_id: str, embedding_name: str, plate_id: str, image_ids: Sequence[str], vectors) -> int:
        """Load (or reload) one plate's image embeddings into the index of `train_id`."""
        check_train_id(train_id)
        check_id(embedding_name, "embeddingName")
        check_id(plate_id, "plateId")
        with self._lock:
            current = self._trainings.get(train_id)
        ids, matrix = check_embeddings(image_ids, vectors, current.dim if current else None)
        if current is not None and current.embedding_name != embedding_name:
            raise InvalidRequest(
                f"training {train_id} belongs to embedding {current.embedding_name!r}, not {embedding_name!r}"
            )
        if self.snapshots is not None:
            self.snapshots.save_segment(Segment(train_id, embedding_name, plate_id, ids, matrix))
        self._apply_plate(train_id, embedding_name, plate_id, ids, matrix)
        return len(ids)

    def load_plate_embeddings(self, train_id: str, embedding_name: str, plate_id: str, key: str | None = None) -> int:
        """Read a plate's embedding file from the data bucket (default bioims.keys.
        plate_embeddings_key) and load it."""
        if self.objects is None:
            raise InvalidRequest("this search engine has no object store to read plate embeddings from")
        check_train_id(train_id)
        check_id(plate_id, "plateId")
        key = key or keys.plate_embeddings_key(train_id, plate_id)
        try:
            data = self.objects.get_bytes(key)
        except ObjectNotFound:
            raise PlateFileMissing(
                f"no plate embeddings file {key!r} for training {train_id}, plate {plate_id}"
            ) from None
        image_ids, vectors = read_plate_embeddings(data)
        return self.add_plate(train_id, embedding_name, plate_id, image_ids, vectors)

    def _apply_plate(self, train_id, embedding_name, plate_id, image_ids, vectors) -> None:
        with self._lock:
            index = self._trainings.get(train_id)
            if index is None:
                index = TrainingIndex(train_id, embedding_name, int(np.shape(vectors)[1]))
                self._trainings[train_id] = index
        index.replace_plate(plate_id, image_ids, vectors)

    def set_plate_tags(self, embedding_name: str, plate_id: str, tags: Mapping[str, Sequence[int]]) -> int:
        """Replace the tags of one plate's images for one embedding."""
        check_id(embedding_name, "embeddingName")
        check_id(plate_id, "plateId")
        checked = {}
        for image_id, values in tags.items():
            check_id(image_id, "imageId")
            checked[image_id] = as_tag_array(values, f"image {image_id}").tolist()
        if self.snapshots is not None:
            self.snapshots.save_plate_tags(embedding_name, plate_id, checked)
        self._tag_store(embedding_name).set_plate(plate_id, checked)
        return len(checked)

    def _tag_store(self, embedding_name: str) -> TagStore:
        with self._lock:
            store = self._tags.get(embedding_name)
            if store is None:
                store = self._tags[embedding_name] = TagStore(embedding_name)
            return store

    def set_tag_labels(self, labels: Mapping[Any, str] | None = None) -> int:
        """Replace the tag-id -> value map (from `labels`, else from the tag source)."""
        if labels is None:
            if self.tag_source is None:
                raise InvalidRequest("no tag labels given and this engine has no tag source")
            labels = self.tag_source()
        staged = TagLabels()
        staged.replace(labels)  # validates before anything is written
        clean = staged.as_dict()
        if self.snapshots is not None:
            self.snapshots.save_tag_labels(clean)
        self.labels.replace(clean)
        return len(clean)

    def delete_training(self, train_id: str) -> bool:
        """Drop a training's index and its snapshots; True if it was loaded."""
        check_train_id(train_id)
        with self._lock:
            existed = self._trainings.pop(train_id, None) is not None
        if self.snapshots is not None:
            self.snapshots.delete_training(train_id)
        return existed

    # --- introspection -------------------------------------------------------------------------
    def training(self, train_id: str) -> TrainingIndex:
        with self._lock:
            index = self._trainings.get(train_id)
        if index is None:
            raise UnknownTraining(f"training {train_id!r} is not loaded in the search index")
        return index

    def trainings(self) -> list[dict]:
        with self._lock:
            indexes = sorted(self._trainings.values(), key=lambda t: t.train_id)
        return [
            {
                "trainId": t.train_id,
                "embeddingName": t.embedding_name,
                "dimension": t.dim,
                "images": t.size,
                "plates": len(t.plates()),
                "index": self._index_report(t),
            }
            for t in indexes
        ]

    def _index_report(self, index: TrainingIndex) -> dict:
        """How a training is searched: exact, or the approximate kind with its measured recall@10
        and single-query latencies (cosine; Euclidean and narrow filters stay exact)."""
        ann = index.ann
        if ann is not None:
            return {"kind": ann.kind, **ann.stats.as_dict()}
        pending = self.ann_policy.kind_for(index.size)
        rejected = index.ann_rejected
        if rejected is not None and rejected.size == index.size:
            return {"kind": "exact", "size": index.size, "rejected": rejected.as_dict()}
        return (
            {"kind": "exact", "size": index.size, "pending": pending}
            if pending
            else {"kind": "exact", "size": index.size}
        )

    def tag_summary(self) -> dict:
        with self._lock:
            stores = dict(self._tags)
        return {
            "labels": len(self.labels.as_dict()),
            "labelsLoaded": self.labels.loaded,
            "embeddings": {name: s.image_count() for name, s in sorted(stores.items())},
        }

    # --- search --------------------------------------------------------------------------------
    def search(self, query: SearchQuery | Mapping[str, Any]) -> SearchResult:
        """One query; concurrent callers are batched. Raises RequestError subclasses (bioims.errors)."""
        return self._batcher.submit(parse_query(query))

    def search_many(self, queries: Sequence[SearchQuery | Mapping[str, Any]]) -> list[Outcome]:
        """Answer several queries at once: those that share a training, metric and filter go to
        FAISS as one batch. Each place holds a result or the RequestError for that query."""
        pin_faiss_thread()
        outcomes: list[Outcome | None] = [None] * len(queries)
        groups: dict[tuple, list[tuple[int, SearchQuery]]] = defaultdict(list)
        for place, raw in enumerate(queries):
            try:
                query = parse_query(raw)
            except RequestError as exc:
                outcomes[place] = exc
                continue
            groups[(query.trainId, query.metric, query.tag_filter)].append((place, query))
        for (train_id, metric, tag_filter), members in groups.items():
            try:
                self._search_group(train_id, metric, tag_filter, members, outcomes)
            except RequestError as exc:
                for place, _ in members:
                    if outcomes[place] is None:
                        outcomes[place] = exc
        return outcomes  # type: ignore[return-value]

    def _search_group(self, train_id, metric, tag_filter, members, outcomes) -> None:
        index = self.training(train_id)
        with index.lock:
            selection = index.filters.selection(
                tag_filter,
                rows_version=index.version,
                size=index.size,
                image_ids=lambda: index.image_ids,
                tags=self._tags.get(index.embedding_name),
                labels=self.labels,
            )
            ready: list[tuple[int, SearchQuery, int]] = []
            vectors: list[np.ndarray] = []
            for place, query in members:
                try:
                    vector, row = self._query_vector(index, query, metric)
                except RequestError as exc:
                    outcomes[place] = exc
                    continue
                ready.append((place, query, row))
                vectors.append(vector)
            if not ready:
                return
            k = max(query.maxHits for _, query, _ in ready)
            matrix = vectors[0] if len(vectors) == 1 else np.concatenate(vectors)
            found = index.knn(matrix, k, metric, selection, [row for _, _, row in ready])
            for (place, query, row), neighbours in zip(ready, found, strict=True):
                self_allowed = row >= 0 and (selection.mask is None or bool(selection.mask[row]))
                rows = neighbours.rows[: query.maxHits].tolist()
                outcomes[place] = SearchResult(
                    query,
                    list(itemgetter(*rows)(index.image_ids)) if len(rows) > 1 else [index.image_ids[r] for r in rows],
                    neighbours.distances[: query.maxHits],
                    selection.count - (1 if self_allowed else 0),
                )

    @staticmethod
    def _query_vector(index: TrainingIndex, query: SearchQuery, metric: Metric) -> tuple[np.ndarray, int]:
        """The (1, d) query for `metric` and the row to leave out (-1 for an outside vector)."""
        if query.queryImageId is not None:
            row = index.row_of(query.queryImageId)
            if row is None:
                raise UnknownImage(f"image {query.queryImageId!r} has no embedding in training {index.train_id!r}")
            vector = index.query_vector(row, metric)
        else:
            row = -1
            vector = index.prepare(query.vector, metric)
        if metric is Metric.COSINE and not vector.any():
            raise InvalidRequest("a zero vector has no direction: cosine search is undefined for it")
        return vector, row
