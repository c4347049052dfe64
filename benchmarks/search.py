"""Search latency, side by side in one run: one filtered query through the search engine's API
(`SearchEngine.search`, what the HTTP API and the queue consumer call) against raw FAISS on the
same index with the same selector, and against the original's method (distance to every allowed
vector, then a full sort; docs/original.md §5.3), here vectorised with numpy, which is already far
faster than the original's Java comparator sort.

Workload per query (the MOA evaluation's pattern): query by imageId, cosine, maxHits 100,
requireMoa, the query's own compound excluded; the engine's filter cache is in its steady state
(one filter per compound). A second, "cold" mode gives every query a filter never seen before
(five random compounds + requireMoa), so the engine computes its mask each time. For
information, the main query is also timed through the HTTP API (one keep-alive connection).
Every method runs on one thread (FAISS omp=1, BLAS limited to 1); each method runs a block of
queries at a time (its steady state), the order of methods rotated between rounds.

Approximate search (bioims.search.ann), side by side with exact in the same run, at --ann-size
(default 1M x 256): the engine's default policy builds the training's index (IVF from 500k
images), calibrated to recall@10 >= 0.99; then the same filtered queries (maxHits 10, requireMoa,
own compound excluded) go through `SearchEngine.search` with the approximate index and with it
detached (exact), blocks alternated. Recall@10 is the overlap of the two result lists.
The vectors here are clustered (--ann-clusters centres, Gaussian spread --ann-spread per
dimension relative to the centres' unit scale, then L2-normalised), as embeddings of cells of
different treatments are; on structureless vectors (uniform on the sphere) no approximate index
helps: the calibration must probe every list to reach the recall, and the engine then keeps
exact search (it never uses an approximate index that is not faster).

    python benchmarks/search.py [--sizes 13200,100000,1000000] [--queries 300] [--k 100] [--ann-size 1000000]

Last line: overhead_vs_faiss=<largest p50(engine) / p50(raw FAISS) over N>
speedup_vs_original=<smallest p50(original) / p50(engine) over N>
ann_recall_at_10=<mean recall@10 of the filtered queries> ann_speedup_vs_exact=<p50(exact) / p50(approximate)>.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bioims.search import Metric, SearchEngine, pin_faiss_thread
from bioims.search.ann import AnnPolicy, recall_at_k
from bioims.search.httpapi import SearchHttpServer
from bioims.search.query import parse_query

MOA_TAGS = list(range(1, 14))  # 13 MOAs, as BBBC021
COMPOUND_TAGS = list(range(14, 53))  # 39 compounds
BATCH_TAGS = list(range(53, 63))  # 10 weeks
LABELS = (
    {t: f"moa:m{t}" for t in MOA_TAGS}
    | {t: f"compound:c{t}" for t in COMPOUND_TAGS}
    | {t: f"batch:w{t}" for t in BATCH_TAGS}
)
TRAIN = "benchTrain"
PLATE_SIZE = 10_000
ROUNDS = 10


def build(
    n: int, d: int, rng: np.random.Generator, vectors: np.ndarray | None = None, ann_policy: AnnPolicy | None = None
) -> tuple[SearchEngine, list[str], np.ndarray, np.ndarray]:
    """An engine with n unit-length vectors in plates, tags like BBBC021 (a compound per image,
    the MOA of most compounds, a batch), and the tag labels. Exact search unless `ann_policy`."""
    if vectors is None:
        vectors = rng.standard_normal((n, d), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"img{i:07d}" for i in range(n)]
    compound = rng.choice(COMPOUND_TAGS, n)
    moa_of_compound = {c: (MOA_TAGS[i % len(MOA_TAGS)] if i < 35 else None) for i, c in enumerate(COMPOUND_TAGS)}
    batch = rng.choice(BATCH_TAGS, n)
    engine = SearchEngine(ann_policy=ann_policy or AnnPolicy(min_images=n + 1))
    for start in range(0, n, PLATE_SIZE):
        plate = f"plate{start // PLATE_SIZE:04d}"
        rows = range(start, min(n, start + PLATE_SIZE))
        engine.add_plate(TRAIN, "bench", plate, ids[start : start + PLATE_SIZE], vectors[start : start + PLATE_SIZE])
        tags = {}
        for r in rows:
            moa = moa_of_compound[int(compound[r])]
            tags[ids[r]] = [int(compound[r]), int(batch[r])] + ([moa] if moa else [])
        engine.set_plate_tags("bench", plate, tags)
    engine.set_tag_labels(LABELS)
    return engine, ids, vectors, compound


def percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples) * 1e3
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def run_size(n: int, d: int, queries: int, k: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    engine, ids, vectors, compound = build(n, d, rng)
    index = engine.training(TRAIN)
    cosine = index._index(Metric.COSINE)  # the engine's own FAISS index: the same one for raw FAISS
    norms = np.linalg.norm(vectors, axis=1)
    build_s = time.perf_counter() - t0
    query_rows = rng.choice(n, queries, replace=False)
    timings: dict[str, list[float]] = {
        m: [] for m in ("engine", "raw_faiss", "original", "engine_cold", "raw_faiss_cold", "http")
    }
    server = SearchHttpServer(engine).start()  # for information: the same query over HTTP (keep-alive)
    connection = http.client.HTTPConnection(*server.address, timeout=60)

    def filtered(row: int) -> dict:
        return {
            "trainId": TRAIN,
            "queryImageId": ids[row],
            "maxHits": k,
            "requireMoa": True,
            "exclusionTags": [int(compound[row])],
        }

    def selection_for(query: dict):
        parsed = parse_query(query)
        return index.filters.selection(
            parsed.tag_filter,
            rows_version=index.version,
            size=index.size,
            image_ids=lambda: index.image_ids,
            tags=engine._tags["bench"],
            labels=engine.labels,
        )

    def raw_faiss(row: int, selection) -> np.ndarray:
        q = vectors[row : row + 1]  # already unit length, as the engine's normalised copy
        _, labels = cosine.search(q, k + 1, params=selection.params)
        found = labels[0]
        return found[(found >= 0) & (found != row)][:k]

    def original(row: int, mask: np.ndarray) -> np.ndarray:
        distance = -(vectors @ vectors[row]) / (norms * norms[row])  # every vector
        candidates = np.flatnonzero(mask)
        candidates = candidates[candidates != row]
        order = np.argsort(distance[candidates], kind="stable")  # full sort
        return candidates[order[:k]]

    used: set[tuple[int, ...]] = set()

    def cold_query(row: int) -> dict:
        """A filter never used before in this run (five compounds out of 39: 575,757 choices)."""
        while True:
            compounds = tuple(sorted(rng.choice(COMPOUND_TAGS, 5, replace=False).tolist()))
            if compounds not in used:
                used.add(compounds)
                return {
                    "trainId": TRAIN,
                    "queryImageId": ids[row],
                    "maxHits": k,
                    "requireMoa": True,
                    "inclusionTags": list(compounds),
                }

    def forget_cold_filters() -> None:
        """Drop the cold mode's cache entries (untimed) so they do not evict the main filters."""
        cache = index.filters._cache
        for key in [key for key in cache if key[0].inclusion]:
            del cache[key]

    def timed(name: str, rows: list[int]) -> None:
        """One method over a block of queries; per-query inputs are prepared outside the clock."""
        for row in rows:
            if name == "engine":
                query = filtered(row)
                start = time.perf_counter()
                engine.search(query)
            elif name == "raw_faiss":
                selection = selection_for(filtered(row))
                start = time.perf_counter()
                raw_faiss(row, selection)
            elif name == "http":
                body = json.dumps(filtered(row))
                start = time.perf_counter()
                connection.request("POST", "/search", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                json.loads(response.read())
                if response.status != 200:
                    raise RuntimeError(f"HTTP search failed: {response.status}")
            elif name == "original":
                mask = selection_for(filtered(row)).mask
                start = time.perf_counter()
                original(row, mask)
            elif name == "engine_cold":
                query = cold_query(row)  # a filter the engine has not seen: it computes the mask
                start = time.perf_counter()
                engine.search(query)
            else:
                selection = selection_for(cold_query(row))
                start = time.perf_counter()
                raw_faiss(row, selection)
            timings[name].append(time.perf_counter() - start)
        forget_cold_filters()

    with threadpool_limits(1):
        pin_faiss_thread()
        for row in query_rows.tolist():  # the main filters (one per compound) are in the engine's cache
            selection_for(filtered(row))
        checked = 0
        for row in query_rows[:20].tolist():  # the three methods agree (and every cache is warm)
            query = filtered(row)
            selection = selection_for(query)
            engine_rows = [index.row_of(x) for x in engine.search(query).image_ids]
            assert engine_rows == raw_faiss(row, selection).tolist(), "engine and raw FAISS disagree"
            assert engine_rows == original(row, selection.mask).tolist(), "engine and the original method disagree"
            checked += 1
        # Blocks of queries per method (each method in its steady state), the method order rotated
        # between rounds so that drift in machine load is shared.
        names = list(timings)
        for turn, block in enumerate(np.array_split(query_rows, ROUNDS)):
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                timed(name, block.tolist())
    out = {"n": n, "build_s": build_s, "checked": checked}
    for name, samples in timings.items():
        out[name] = percentiles(samples)
    connection.close()
    server.stop()
    # Release them before the next size (rebinding rather than `del`: the nested query functions close over them).
    engine = index = cosine = vectors = None
    gc.collect()
    return out


def clustered(n: int, d: int, clusters: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around `clusters` centres that themselves group around 13 (MOA-like) centres
    (float32, built in chunks to bound memory)."""
    groups = rng.standard_normal((len(MOA_TAGS), d), dtype=np.float32)
    centres = groups[rng.integers(0, len(MOA_TAGS), clusters)] + rng.standard_normal((clusters, d), dtype=np.float32)
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        chunk = centres[rng.integers(0, clusters, stop - start)]
        chunk += spread * rng.standard_normal((stop - start, d), dtype=np.float32)
        out[start:stop] = chunk
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def run_ann(n: int, d: int, queries: int, clusters: int, spread: float, seed: int) -> dict:
    """Approximate vs exact through the engine on the same filtered queries."""
    rng = np.random.default_rng(seed)
    vectors = clustered(n, d, clusters, spread, rng)
    policy = AnnPolicy.from_env()  # the engine's default unless BIOIMS_SEARCH_ANN_* say otherwise
    engine, ids, compound = (lambda e, i, _v, c: (e, i, c))(*build(n, d, rng, vectors, ann_policy=policy))
    del vectors  # the engine holds its own copies
    t0 = time.perf_counter()
    built = engine.refresh_ann()
    build_s = time.perf_counter() - t0
    index = engine.training(TRAIN)
    ann = index.ann
    if ann is None:
        raise SystemExit(
            f"no approximate index was attached at {n} (policy {policy}, built {built}, report {engine.trainings()})"
        )
    rows = rng.choice(n, queries, replace=False).tolist()

    def query(row: int) -> dict:
        return {
            "trainId": TRAIN,
            "queryImageId": ids[row],
            "maxHits": 10,
            "requireMoa": True,
            "exclusionTags": [int(compound[row])],
        }

    timings: dict[str, list[float]] = {"ann": [], "exact": []}
    found: dict[str, dict[int, list[str]]] = {"ann": {}, "exact": {}}
    with threadpool_limits(1):
        pin_faiss_thread()
        for row in rows[:20]:  # warm the filter cache (one filter per compound) on both paths
            engine.search(query(row))
        for turn, block in enumerate(np.array_split(np.asarray(rows), ROUNDS)):
            for name in ("ann", "exact") if turn % 2 == 0 else ("exact", "ann"):
                index.ann = ann if name == "ann" else None  # detached: the same engine searches exactly
                for row in block.tolist():
                    q = query(row)
                    start = time.perf_counter()
                    result = engine.search(q)
                    timings[name].append(time.perf_counter() - start)
                    found[name][row] = result.image_ids
        index.ann = ann
    position = {image_id: i for i, image_id in enumerate(ids)}
    recall = recall_at_k(
        [np.array([position[i] for i in found["ann"][r]]) for r in rows],
        [np.array([position[i] for i in found["exact"][r]]) for r in rows],
    )
    out = {"n": n, "build_s": build_s, "stats": ann.stats.as_dict(), "recall": recall}
    for name, samples in timings.items():
        out[name] = percentiles(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="13200,100000,1000000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ann-size", type=int, default=1_000_000, help="size of the approximate-vs-exact comparison (0: skip)"
    )
    parser.add_argument("--ann-clusters", type=int, default=2000)
    parser.add_argument("--ann-spread", type=float, default=1.5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else []
    rows = []
    print(f"d={args.dim} k={args.k} queries/N={args.queries}; cosine, requireMoa + own compound excluded; 1 thread; ms")
    header = (
        f"{'N':>9} {'engine p50/p99':>16} {'raw FAISS p50/p99':>18} {'original p50/p99':>18} {'eng/FAISS':>9}"
        f" {'orig/eng':>8} {'cold eng/FAISS':>14} {'HTTP p50/p99':>16}"
    )
    print(header)
    for n in sizes:
        r = run_size(n, args.dim, args.queries, args.k, args.seed)
        overhead = r["engine"][0] / r["raw_faiss"][0]
        speedup = r["original"][0] / r["engine"][0]
        cold = r["engine_cold"][0] / r["raw_faiss_cold"][0]
        rows.append((n, overhead, speedup, cold))
        print(
            f"{n:>9} {r['engine'][0]:>7.3f}/{r['engine'][1]:<8.3f} {r['raw_faiss'][0]:>8.3f}/{r['raw_faiss'][1]:<9.3f}"
            f" {r['original'][0]:>8.3f}/{r['original'][1]:<9.3f} {overhead:>9.3f} {speedup:>8.1f} {cold:>14.3f}"
            f" {r['http'][0]:>7.3f}/{r['http'][1]:<8.3f}"
            f"   (build {r['build_s']:.1f}s, p99 ratio {r['engine'][1] / r['raw_faiss'][1]:.3f}, agreement "
            f"checked on {r['checked']})",
            flush=True,
        )
    last = []
    if rows:
        worst_overhead = max(o for _, o, _, _ in rows)
        worst_speedup = min(s for _, _, s, _ in rows)
        last.append(f"overhead_vs_faiss={worst_overhead:.3f} speedup_vs_original={worst_speedup:.1f}")
    if args.ann_size:
        a = run_ann(args.ann_size, args.dim, args.queries, args.ann_clusters, args.ann_spread, args.seed)
        st = a["stats"]
        speedup = a["exact"][0] / a["ann"][0]
        print(
            f"approximate vs exact at {a['n']} x {args.dim} ({args.ann_clusters} clusters, spread {args.ann_spread}; "
            f"maxHits 10, requireMoa, own compound excluded; 1 thread):"
        )
        print(
            f"  index {st['kind']} ({st['lists']} lists, nprobe {st['breadth']}) built and calibrated in "
            f"{a['build_s']:.1f} s; "
            f"calibration (unfiltered, {st['size']} rows): recall@10 {st['recall_at_10']:.4f}, "
            f"{st['ann_ms']:.3f} ms vs exact {st['exact_ms']:.3f} ms"
        )
        print(
            f"  filtered queries through the engine: approximate p50/p99 {a['ann'][0]:.3f}/{a['ann'][1]:.3f} ms, "
            f"exact {a['exact'][0]:.3f}/{a['exact'][1]:.3f} ms: {speedup:.1f}x; recall@10 {a['recall']:.4f} "
            f"(targets: >= 0.99 {'met' if a['recall'] >= 0.99 else 'NOT met'}, >= 5x "
            f"{'met' if speedup >= 5 else 'NOT met'})"
        )
        last.append(f"ann_recall_at_10={a['recall']:.4f} ann_speedup_vs_exact={speedup:.1f}")
    print(" ".join(last))


if __name__ == "__main__":
    main()
