"""The nearest-neighbour index of one training's image embeddings (FAISS flat indexes, plus an
approximate index for cosine when the training is large: bioims.search.ann).

Cosine: inner product on L2-normalised copies (`IndexFlatIP`), reported as the cosine distance
1 - cos (clipped to [0, 2]); Euclidean: `IndexFlatL2` on the raw vectors, reported as the
Euclidean distance. The reported distance is always the one the hits are ranked by, so a hit's
distance and its rank never disagree (docs/original.md §8.5 #40).

Order: ascending distance, equal distances by imageId, so results do not depend on load order or
on how FAISS breaks ties; ties at the k-th place are resolved by fetching more until every tied
candidate is seen.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from bioims.errors import InvalidRequest
from bioims.search.ann import AnnIndex, AnnStats
from bioims.search.filters import FilterIndex, Selection
from bioims.search.query import Metric, check_id
from bioims.tables import ORIGIN


@dataclass(frozen=True)
class Neighbours:
    """Hits of one query: index rows and their distances, best first."""

    rows: np.ndarray  # int64
    distances: np.ndarray  # float64


def check_embeddings(image_ids: Sequence[str], vectors, dim: int | None) -> tuple[list[str], np.ndarray]:
    """Validated (ids, float32 C-contiguous (n, d) matrix); InvalidRequest names the problem."""
    ids = list(image_ids)
    for image_id in ids:
        check_id(image_id, "imageId")
        if image_id == ORIGIN:
            raise InvalidRequest(f"imageId {ORIGIN!r} is reserved")
    if len(set(ids)) != len(ids):
        raise InvalidRequest("image ids of a plate must be unique")
    try:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidRequest("embeddings must be a numeric matrix") from None
    if matrix.ndim != 2 or matrix.shape[0] != len(ids) or matrix.shape[1] == 0:
        raise InvalidRequest(f"embeddings must have shape ({len(ids)}, d), got {matrix.shape}")
    if dim is not None and matrix.shape[1] != dim:
        raise InvalidRequest(f"embeddings have {matrix.shape[1]} dimensions, the training's index has {dim}")
    if not np.isfinite(matrix).all():
        raise InvalidRequest("embeddings contain NaN or infinity")
    return ids, matrix


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Unit-length rows (float32 copy); an all-zero row stays zero (cosine similarity 0)."""
    out = np.array(vectors, dtype=np.float32, copy=True, order="C")
    faiss.normalize_L2(out)
    return out


class TrainingIndex:
    """Image embeddings of one trainId. Mutations and searches take `lock`; rows keep insertion
    order, and `version` changes with every mutation (filters cache against it)."""

    def __init__(self, train_id: str, embedding_name: str, dim: int):
        self.train_id = train_id
        self.embedding_name = embedding_name
        self.dim = dim
        self.lock = threading.RLock()
        self.version = 0
        self.filters = FilterIndex()
        self._raw = faiss.IndexFlatL2(dim)
        self._cos: faiss.IndexFlatIP | None = None
        self._views: dict[Metric, np.ndarray] = {}  # numpy views of the FAISS storage, per metric
        self._ids: list[str] = []
        self._plate_of: list[str] = []
        self._row: dict[str, int] = {}
        self._plates: dict[str, int] = {}
        self.ann: AnnIndex | None = None  # matches the rows while set; any mutation drops it
        self.ann_min_allowed = 0.0  # fraction of rows a filter must allow for the ANN to be used
        self.ann_checked_version = -1  # rows state an approximate index was last built for
        self.ann_rejected: AnnStats | None = None  # calibration of a built index that was not faster than exact

    # --- contents ----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._ids)

    @property
    def image_ids(self) -> list[str]:
        """Row -> imageId (the live list; do not modify)."""
        return self._ids

    def plate_order(self) -> list[str]:
        """Plates in the order of their rows (each plate's rows are contiguous after a load)."""
        with self.lock:
            return list(dict.fromkeys(self._plate_of))

    def unit_vectors(self) -> np.ndarray:
        """A copy of the unit-length (cosine) rows, (n, d) float32."""
        with self.lock:
            index = self._index(Metric.COSINE)
            n = self.size
            if n == 0:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.array(faiss.rev_swig_ptr(index.get_xb(), n * self.dim), copy=True).reshape(n, self.dim)

    def rows_digest(self, unit: np.ndarray | None = None) -> str:
        """Digest of the image ids and unit rows in row order: an approximate index built over
        other rows (or another order) must not be attached."""
        with self.lock:
            unit = self.unit_vectors() if unit is None else unit
            digest = hashlib.blake2b(digest_size=16)
            digest.update("\n".join(self._ids).encode("utf-8"))
            digest.update(np.ascontiguousarray(unit, dtype=np.float32).tobytes())
            return digest.hexdigest()

    def exact_cosine_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered exact inner-product search of unit queries (calibration's ground truth)."""
        with self.lock:
            return self._index(Metric.COSINE).search(queries, k)

    def attach_ann(self, ann: AnnIndex, version: int, min_allowed: float) -> bool:
        """Use `ann` from now on if the rows are still those of `version` (the one it was built or
        checked against); False (nothing changed) otherwise."""
        with self.lock:
            if version != self.version or ann.stats.size != self.size:
                return False
            self.ann = ann
            self.ann_min_allowed = float(min_allowed)
            return True

    def plates(self) -> dict[str, int]:
        """plateId -> number of images loaded from it."""
        with self.lock:
            return dict(self._plates)

    def row_of(self, image_id: str) -> int | None:
        return self._row.get(image_id)

    def vector(self, row: int) -> np.ndarray:
        """The stored (raw) vector of a row, a copy."""
        return self._raw.reconstruct(int(row))

    def query_vector(self, row: int, metric: Metric) -> np.ndarray:
        """The stored vector of a row as a query for `metric` (unit length for cosine), a (1, d)
        view of the index's own storage: valid while the caller holds `lock`."""
        view = self._views.get(metric)
        if view is None:
            index = self._index(metric)
            view = faiss.rev_swig_ptr(index.get_xb(), self.size * self.dim).reshape(self.size, self.dim)
            self._views[metric] = view
        return view[row : row + 1]

    def prepare(self, vector: np.ndarray, metric: Metric) -> np.ndarray:
        """An outside vector as a (1, d) query for `metric` (unit length for cosine)."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dim:
            raise InvalidRequest(f"vector has {query.shape[1]} dimensions, training {self.train_id!r} has {self.dim}")
        return normalised(query) if metric is Metric.COSINE else query

    def vectors(self) -> np.ndarray:
        """A copy of all raw vectors, (n, d) float32, in row order."""
        with self.lock:
            n = self.size
            if n == 0:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.array(faiss.rev_swig_ptr(self._raw.get_xb(), n * self.dim), copy=True).reshape(n, self.dim)

    # --- mutations ---------------------------------------------------------------------------
    def replace_plate(self, plate_id: str, image_ids: Sequence[str], vectors) -> None:
        """Make `plate_id` hold exactly these images (a re-run replaces, never duplicates; an image
        previously loaded from another plate moves here)."""
        ids, matrix = check_embeddings(image_ids, vectors, self.dim)
        with self.lock:
            # Only a reload (plate already here, or images seen before) pays for a scan of the rows.
            if plate_id in self._plates or any(i in self._row for i in ids):
                incoming = set(ids)
                stale = [
                    r
                    for r, (i, p) in enumerate(zip(self._ids, self._plate_of, strict=True))
                    if p == plate_id or i in incoming
                ]
                self._remove_rows(np.asarray(stale, dtype=np.int64))
                self._recount()
            start = self.size
            self._raw.add(matrix)
            if self._cos is not None:
                self._cos.add(normalised(matrix))
            self._ids.extend(ids)
            self._plate_of.extend([plate_id] * len(ids))
            self._row.update({image_id: start + j for j, image_id in enumerate(ids)})
            self._plates[plate_id] = self._plates.get(plate_id, 0) + len(ids)
            self._views.clear()  # FAISS may have moved its storage
            self.ann = None  # built over other rows: exact search until it is rebuilt
            self.version += 1

    def _remove_rows(self, rows: np.ndarray) -> None:
        # IndexFlat.remove_ids compacts in place and keeps the order of the remaining rows.
        selector = faiss.IDSelectorBatch(rows.size, faiss.swig_ptr(rows))
        removed = self._raw.remove_ids(selector)
        if self._cos is not None:
            self._cos.remove_ids(selector)
        self._views.clear()
        if removed != rows.size:
            raise RuntimeError(f"index of {self.train_id}: removed {removed} rows instead of {rows.size}")
        drop = set(rows.tolist())
        self._ids = [i for r, i in enumerate(self._ids) if r not in drop]
        self._plate_of = [p for r, p in enumerate(self._plate_of) if r not in drop]
        self._row = {image_id: r for r, image_id in enumerate(self._ids)}

    def _recount(self) -> None:
        counts: dict[str, int] = {}
        for plate in self._plate_of:
            counts[plate] = counts.get(plate, 0) + 1
        self._plates = counts

    def _index(self, metric: Metric) -> faiss.Index:
        if metric is Metric.EUCLIDEAN:
            return self._raw
        if self._cos is None:
            cos = faiss.IndexFlatIP(self.dim)
            if self.size:
                cos.add(normalised(self.vectors()))
            self._cos = cos
        return self._cos

    # --- search ------------------------------------------------------------------------------
    def knn(
        self,
        queries: np.ndarray,
        k: int,
        metric: Metric,
        selection: Selection,
        exclude_rows: Sequence[int],
    ) -> list[Neighbours]:
        """The k nearest allowed rows for each query row; `exclude_rows[j]` (>= 0) is a row never
        returned for query j (the query image itself). Queries come from `query_vector` or
        `prepare` (unit length for cosine). Caller holds `lock`."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise InvalidRequest(f"query vectors must have {self.dim} dimensions, got {queries.shape[-1]}")
        nq = queries.shape[0]
        if self.size == 0 or selection.count == 0 or nq == 0:
            empty = Neighbours(np.zeros(0, np.int64), np.zeros(0, np.float64))
            return [empty] * nq
        search = self._searcher(metric, selection)
        excluding = max(exclude_rows) >= 0
        # One more than needed, to see whether the k-th hit ties with the next candidate.
        fetch = min(k + 1 + (1 if excluding else 0), selection.count)
        distances, labels = search(queries, fetch)
        return [
            self._finish(
                search, queries[j : j + 1], distances[j], labels[j], k, fetch, int(exclude_rows[j]), metric, selection
            )
            for j in range(nq)
        ]

    def uses_ann(self, metric: Metric, selection: Selection) -> bool:
        """Whether a search with this metric and selection goes to the approximate index: cosine,
        an index matching the rows, and a filter that allows enough rows (else exact)."""
        ann = self.ann
        if ann is None or metric is not Metric.COSINE or ann.stats.size != self.size or self.size == 0:
            return False
        fraction = selection.count / self.size
        return fraction >= self.ann_min_allowed and (fraction == 1.0 or ann.breadth_for(fraction) < ann.max_breadth)

    def _searcher(self, metric: Metric, selection: Selection):
        """(queries, k) -> (distances, labels) on the index this search uses, filter inside."""
        if self.uses_ann(metric, selection):
            ann = self.ann
            assert ann is not None  # uses_ann needs one
            selector = selection.params.sel if selection.params is not None else None
            fraction = selection.count / self.size
            return lambda q, k: ann.search(q, k, selector, fraction)
        index = self._index(metric)
        return lambda q, k: index.search(q, k, params=selection.params)

    def _finish(self, search, query, raw_d, raw_i, k, fetch, exclude, metric, selection) -> Neighbours:
        while True:
            # FAISS puts missing results (-1) at the end.
            found = fetch if raw_i[fetch - 1] >= 0 else int(np.count_nonzero(raw_i >= 0))
            rows, dist = raw_i[:found], _as_distance(raw_d[:found], metric)
            if exclude >= 0 and found:
                if rows[0] == exclude:  # the usual place of the query image
                    rows, dist = rows[1:], dist[1:]
                else:
                    keep = rows != exclude
                    rows, dist = rows[keep], dist[keep]
            if found < fetch or fetch >= selection.count or rows.size <= k:
                break  # every allowed candidate has been seen
            if dist[k - 1] != dist[-1]:
                break  # the last candidate seen lies beyond the k-th: nothing tied is missing
            # Candidates tied with the k-th hit may lie beyond what FAISS returned: fetch more.
            fetch = min(fetch * 2, selection.count)
            found_d, found_i = search(query, fetch)
            raw_d, raw_i = found_d[0], found_i[0]
        upto = min(k + 1, rows.size)
        if upto > 1 and (dist[1:upto] == dist[: upto - 1]).any():
            names = np.asarray([self._ids[r] for r in rows.tolist()])
            order = np.lexsort((names, dist))
            rows, dist = rows[order], dist[order]
        return Neighbours(rows[:k], dist[:k])


def _as_distance(raw: np.ndarray, metric: Metric) -> np.ndarray:
    """FAISS scores -> the reported distance (ascending = more similar)."""
    values = raw.astype(np.float64)
    if metric is Metric.COSINE:
        return np.minimum(np.maximum(1.0 - values, 0.0), 2.0)
    return np.sqrt(np.maximum(values, 0.0))
