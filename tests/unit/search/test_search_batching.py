"""Concurrent queries are batched, answered exactly as alone, and FAISS runs on one thread."""

from __future__ import annotations

import threading

import faiss
import numpy as np

from bioims.search import SearchEngine
from bioims.search.batching import Batcher

from .reference import load, random_data


def test_queries_that_wait_are_run_as_one_batch_with_the_same_answers():
    data = random_data(200, 8, seed=51)
    engine = SearchEngine()
    load(engine, data)
    queries = [
        {"trainId": "train1", "queryImageId": data.image_ids[i], "maxHits": 5 + i, "exclusionTags": [10 + i % 3]}
        for i in range(8)
    ]
    alone = [engine.search(q) for q in queries]

    first_running, release = threading.Event(), threading.Event()
    real = engine.search_many
    sizes = []

    def gated(batch):
        sizes.append(len(batch))
        if len(sizes) == 1:
            first_running.set()
            release.wait(10)
        return real(batch)

    engine._batcher = Batcher(gated)
    answers = [None] * len(queries)

    def ask(i):
        answers[i] = engine.search(queries[i])

    threads = [threading.Thread(target=ask, args=(0,))]
    threads[0].start()
    assert first_running.wait(10)
    for i in range(1, len(queries)):
        threads.append(threading.Thread(target=ask, args=(i,)))
        threads[-1].start()
    while len(engine._batcher._pending) < len(queries) - 1:
        threading.Event().wait(0.005)
    release.set()
    for t in threads:
        t.join(10)
    assert sizes == [1, len(queries) - 1]
    for got, expected in zip(answers, alone, strict=True):
        assert got.image_ids == expected.image_ids
        np.testing.assert_array_equal(got.distances, expected.distances)


def test_errors_reach_only_their_caller():
    engine = SearchEngine()
    engine.add_plate("t1", "e1", "p0", ["a", "b", "c"], np.eye(3, 4, dtype=np.float32) + 0.1)
    outcomes = engine.search_many(
        [
            {"trainId": "t1", "queryImageId": "a"},
            {"trainId": "t1", "queryImageId": "zzz"},
            {"trainId": "t1", "maxHits": -1},
        ]
    )
    assert outcomes[0].image_ids and outcomes[1].status == 404 and outcomes[2].status == 400


def test_searching_threads_use_one_faiss_thread():
    engine = SearchEngine()
    engine.add_plate("t1", "e1", "p0", ["a", "b"], np.eye(2, 4, dtype=np.float32) + 0.1)
    seen = []

    def worker():
        engine.search({"trainId": "t1", "queryImageId": "a"})
        seen.append(faiss.omp_get_max_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [1]
