"""Approximate nearest-neighbour index of one training (cosine), for trainings too large for
exact search to answer quickly (exact costs ~63 ms per query at 1M x 256, linear in the size).

Below `AnnPolicy.min_images` search stays exact. Above it, the kind is chosen by size: HNSW
(graph, `IndexHNSWFlat`, no training) up to `ivf_min_images`, an inverted file (`IndexIVFFlat`,
k-means coarse quantizer with ~4 sqrt(n) lists) beyond, where HNSW's build time and graph memory
grow too large. Both store full vectors, so the distances they report are exact; only the
candidate set is approximate. Tag filters stay inside the search: the filter's IDSelector is
passed in the kind's own search parameters.

The search breadth (IVF nprobe, HNSW efSearch) is calibrated when the index is built: doubled until
recall@10 against exact search over a sample of the indexed vectors (query by image, the image
itself left out, as the service queries) reaches `target_recall`, then doubled twice more as a
margin for filtered queries and for queries outside the sample. The measured recall and the
single-query latencies of both (one FAISS thread) are kept with the index and reported.
A filter that allows a fraction f of the rows widens the breadth by 1/f (as many allowed vectors
scanned as in the calibration); one that allows fewer than `exact_below_fraction` of the rows, or
would need the whole index, goes to exact search.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import faiss
import numpy as np

HNSW = "hnsw"
IVF = "ivf"
RECALL_K = 10
HNSW_MAX_EF = 4096


@dataclass(frozen=True)
class AnnPolicy:
    """When and how a training gets an approximate index (environment: BIOIMS_SEARCH_ANN_MIN_IMAGES,
    BIOIMS_SEARCH_ANN_IVF_MIN_IMAGES, BIOIMS_SEARCH_ANN_RECALL, BIOIMS_SEARCH_ANN_REQUIRE_FASTER=0|1)."""

    min_images: int = 200_000  # exact below (exact: ~13 ms per query at 200k x 256, one thread)
    ivf_min_images: int = 500_000  # HNSW below, IVF from here
    target_recall: float = 0.99
    calibration_queries: int = 500
    exact_below_fraction: float = 0.02
    margin_doublings: int = 2  # breadth doubled this often beyond the calibrated one
    require_faster: bool = True  # keep exact search when the built index is not faster
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_images < 1 or self.ivf_min_images < 1:
            raise ValueError("ANN size thresholds must be positive")
        if not 0.0 < self.target_recall <= 1.0:
            raise ValueError(f"target recall must be in (0, 1], not {self.target_recall}")
        if self.calibration_queries < 1:
            raise ValueError("calibration needs at least one query")

    @staticmethod
    def from_env(env=None) -> AnnPolicy:
        env = os.environ if env is None else env
        default = AnnPolicy()
        try:
            return AnnPolicy(
                min_images=int(env.get("BIOIMS_SEARCH_ANN_MIN_IMAGES", default.min_images)),
                ivf_min_images=int(env.get("BIOIMS_SEARCH_ANN_IVF_MIN_IMAGES", default.ivf_min_images)),
                target_recall=float(env.get("BIOIMS_SEARCH_ANN_RECALL", default.target_recall)),
                require_faster=_flag(env.get("BIOIMS_SEARCH_ANN_REQUIRE_FASTER", "1")),
            )
        except ValueError as exc:
            raise ValueError(f"bad BIOIMS_SEARCH_ANN_* setting: {exc}") from None

    def kind_for(self, size: int) -> str | None:
        """None (exact), HNSW or IVF for a training of `size` images."""
        if size < self.min_images:
            return None
        return IVF if size >= self.ivf_min_images else HNSW


def _flag(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes"):
        return True
    if value.strip().lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected 0 or 1, got {value!r}")


@dataclass(frozen=True)
class AnnStats:
    """What the calibration measured (reported by `bioims search serve` and GET /trainings)."""

    kind: str
    size: int
    breadth: int  # nprobe (IVF) or efSearch (HNSW)
    lists: int  # IVF lists; 0 for HNSW
    recall_at_10: float
    ann_ms: float  # median single-query latency, one thread
    exact_ms: float
    build_s: float

    def as_dict(self) -> dict:
        return asdict(self)


class AnnIndex:
    """A trained approximate index over the unit-length rows of a training (labels = rows)."""

    def __init__(self, index: faiss.Index, stats: AnnStats):
        self.index = index
        self.stats = stats

    @property
    def kind(self) -> str:
        return self.stats.kind

    @property
    def max_breadth(self) -> int:
        return self.stats.lists if self.kind == IVF else HNSW_MAX_EF

    def breadth_for(self, allowed_fraction: float) -> int:
        """The calibrated breadth widened by 1 / the filter's allowed fraction, so a filtered
        search scans about as many allowed vectors as the calibrated unfiltered one."""
        widened = math.ceil(self.stats.breadth / max(allowed_fraction, 1e-9))
        return int(min(max(widened, self.stats.breadth), self.max_breadth))

    def params(self, selector=None, allowed_fraction: float = 1.0) -> faiss.SearchParameters:
        """Search parameters at the calibrated breadth (widened for a filter), with the filter's
        selector (or none)."""
        breadth = self.breadth_for(allowed_fraction)
        if self.kind == IVF:
            params = faiss.SearchParametersIVF(nprobe=breadth)
        else:
            params = faiss.SearchParametersHNSW(efSearch=breadth)
        if selector is not None:
            params.sel = selector
        return params

    def search(
        self, queries: np.ndarray, k: int, selector=None, allowed_fraction: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k, params=self.params(selector, allowed_fraction))

    # --- persistence -------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self.index).tobytes()

    def stats_json(self) -> str:
        return json.dumps(self.stats.as_dict(), sort_keys=True)

    @staticmethod
    def from_bytes(data: bytes, stats_json: str) -> AnnIndex:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        stats = AnnStats(**json.loads(stats_json))
        if index.ntotal != stats.size:
            raise ValueError(f"ANN index holds {index.ntotal} vectors, its stats say {stats.size}")
        return AnnIndex(index, stats)


def _train(kind: str, unit: np.ndarray, policy: AnnPolicy) -> tuple[faiss.Index, int]:
    n, d = unit.shape
    if kind == HNSW:
        index = faiss.IndexHNSWFlat(d, policy.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = policy.hnsw_ef_construction
        index.add(unit)
        return index, 0
    lists = int(min(max(16, 4 * math.sqrt(n)), n // 39 if n >= 39 * 16 else 16))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(policy.seed)
    sample = unit if n <= lists * 40 else unit[np.sort(rng.choice(n, lists * 40, replace=False))]
    index.cp.seed = policy.seed
    index.cp.niter = 10
    index.train(sample)
    index.add(unit)
    return index, lists


def _median_ms(search, queries: np.ndarray) -> float:
    times = []
    for j in range(queries.shape[0]):
        start = time.perf_counter()
        search(queries[j : j + 1])
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = RECALL_K) -> float:
    """Mean over queries of |found[:k] & truth[:k]| / |truth[:k]| (-1 = no result ignored)."""
    hits, total = 0, 0
    for f, t in zip(found, truth, strict=True):
        t = t[t >= 0][:k]
        hits += len(set(f[f >= 0][:k].tolist()) & set(t.tolist()))
        total += len(t)
    return hits / total if total else 1.0


def _without_self(labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row's result list with the query row removed, cut to RECALL_K (-1 padded)."""
    out = np.full((labels.shape[0], RECALL_K), -1, dtype=np.int64)
    for j, (found, row) in enumerate(zip(labels, rows, strict=True)):
        kept = found[found != row][:RECALL_K]
        out[j, : kept.size] = kept
    return out


def build_ann(unit: np.ndarray, exact_search: Callable, policy: AnnPolicy, kind: str | None = None) -> AnnIndex:
    """Train, fill and calibrate an approximate index over `unit` (n, d) float32 unit rows;
    `exact_search(queries, k) -> (scores, rows)` searches the same rows exactly (inner product)."""
    kind = kind or policy.kind_for(unit.shape[0]) or HNSW
    started = time.perf_counter()
    faiss.omp_set_num_threads(max(1, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 1)
    try:
        index, lists = _train(kind, unit, policy)
    finally:
        faiss.omp_set_num_threads(1)
    n = unit.shape[0]
    rng = np.random.default_rng(policy.seed + 1)
    rows = np.sort(rng.choice(n, min(policy.calibration_queries, n), replace=False))
    queries = np.ascontiguousarray(unit[rows])
    fetch = min(RECALL_K + 1, n)
    _, truth = exact_search(queries, fetch)
    truth = _without_self(truth, rows)
    breadth = 1 if kind == IVF else 16
    limit = lists if kind == IVF else HNSW_MAX_EF
    while True:
        ann = AnnIndex(index, AnnStats(kind, n, breadth, lists, 0.0, 0.0, 0.0, 0.0))
        _, found = ann.search(queries, fetch)
        recall = recall_at_k(_without_self(found, rows), truth)
        if recall >= policy.target_recall or breadth >= limit:
            break
        breadth = min(breadth * 2, limit)
    if policy.margin_doublings and breadth < limit:
        # Filtered queries (fewer allowed vectors in each probed list or graph neighbourhood) and
        # queries outside the sample need some breadth beyond the sample's: double it twice more.
        breadth = min(breadth * 2**policy.margin_doublings, limit)
        ann = AnnIndex(index, AnnStats(kind, n, breadth, lists, 0.0, 0.0, 0.0, 0.0))
        _, found = ann.search(queries, fetch)
        recall = recall_at_k(_without_self(found, rows), truth)
    timed = queries[: min(100, queries.shape[0])]
    ann_ms = _median_ms(lambda q: ann.search(q, fetch), timed)
    exact_ms = _median_ms(lambda q: exact_search(q, fetch), timed)
    stats = AnnStats(kind, n, breadth, lists, recall, ann_ms, exact_ms, time.perf_counter() - started)
    return AnnIndex(index, stats)
