"""The queue side of the search service on both backends: management messages load the index,
search messages end as `completed` with the right hits or as `error` with a reason, and bad
messages never stop the service."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from bioims import ids, keys, resources, tables
from bioims.search import SearchQuery
from bioims.search import messages as m
from bioims.search.handlers import Disposition
from bioims.search.results import COMPLETED, ERROR, TableResults, new_header
from bioims.search.server import SearchServer, ServiceOptions

from .reference import LABELS, brute_force, random_data

FAST = ServiceOptions(
    http_port=None, max_receives=3, search_visibility_timeout=0, management_visibility_timeout=0, wait_seconds=0
)


def _send(ctx, slot, message):
    ctx.stores.queue(slot).send(m.encode(message), group_id=m.group_id(message), dedup_id=ids.new_message_id())


def _submit(ctx, query: dict) -> str:
    """What submitSearch does: header row, then the message."""
    search_id = ids.new_id()
    parsed = SearchQuery.model_validate(query)
    ctx.stores.table(tables.SEARCH).put(new_header(search_id, parsed))
    _send(ctx, resources.SEARCH_QUEUE, m.search_by_image_id(search_id, parsed))
    return search_id


def _publish(ctx, data, train_id="train1", embedding="emb1"):
    """What the loaders do: plate embedding files in the data bucket, then management messages."""
    for plate in sorted(set(data.plates)):
        rows = data.plate_rows(plate)
        buffer = io.BytesIO()
        np.savez(buffer, image_ids=np.asarray([data.image_ids[r] for r in rows]), embeddings=data.vectors[rows])
        ctx.stores.data.put_bytes(keys.plate_embeddings_key(train_id, plate), buffer.getvalue())
        _send(ctx, resources.MANAGEMENT_QUEUE, m.plate_embedding(train_id, embedding, plate))
        tags = {data.image_ids[r]: data.tags[data.image_ids[r]] for r in rows if data.image_ids[r] in data.tags}
        _send(ctx, resources.MANAGEMENT_QUEUE, m.plate_tags(embedding, plate, images=tags))
    _send(ctx, resources.MANAGEMENT_QUEUE, m.load_tag_label_map(LABELS))


def test_searches_through_the_queues(backend_ctx):
    ctx = backend_ctx
    data = random_data(120, 8, seed=31)
    service = SearchServer(ctx.stores, options=FAST)
    _publish(ctx, data)
    query = {
        "trainId": "train1",
        "queryImageId": data.image_ids[5],
        "maxHits": 12,
        "requireMoa": True,
        "exclusionTags": [11],
    }
    good = _submit(ctx, query)
    unknown_image = _submit(ctx, {"trainId": "train1", "queryImageId": "noSuchImage"})
    unknown_training = _submit(ctx, {"trainId": "noSuchTraining", "queryImageId": data.image_ids[5]})
    euclid = _submit(
        ctx, {"trainId": "train1", "queryImageId": data.image_ids[7], "metric": "Euclidean", "maxHits": 500}
    )
    service.drain()

    results = TableResults(ctx.stores.table(tables.SEARCH))
    header = results.header(good)
    assert header["status"] == COMPLETED and header["hitCount"] == 12 and header["attempts"] == 1
    assert int(header["submitTimestamp"]) <= int(header["startTimestamp"]) <= int(header["completeTimestamp"])
    expected, distances = brute_force(data, query_id=data.image_ids[5], k=12, require_moa=True, exclusion=[11])
    hits = results.hits(good)
    assert [h["imageId"] for h in hits] == expected and [h["rank"] for h in hits] == list(range(12))
    np.testing.assert_allclose([h["distance"] for h in hits], distances, atol=1e-5)

    everything = results.hits(euclid)
    assert len(everything) == 119  # maxHits beyond the candidates: all of them, no failure
    assert everything == sorted(everything, key=lambda h: (h["distance"], h["imageId"]))

    for search_id, needle in ((unknown_image, "noSuchImage"), (unknown_training, "noSuchTraining")):
        header = results.header(search_id)
        assert header["status"] == ERROR and needle in header["errorReason"]
        assert results.hits(search_id) == []
    assert ctx.stores.queue(resources.SEARCH_QUEUE).approximate_count() == 0
    assert ctx.stores.queue(resources.MANAGEMENT_QUEUE).approximate_count() == 0

    # A new service process over the same stores answers the same (restart loses nothing).
    restarted = SearchServer(ctx.stores, options=FAST)
    restarted.engine.load()
    again = _submit(ctx, query)
    restarted.drain()
    assert [h["imageId"] for h in results.hits(again)] == expected


@pytest.mark.parametrize(
    "body, expected",
    [
        ("this is not json", "not JSON"),
        ('["a list"]', "JSON object"),
        ('{"type": "reticulate"}', "unknown message type"),
        ('{"type": "plateEmbedding", "trainId": "t"}', "embeddingName"),
        (
            '{"type": "plateTags", "embeddingName": "e", "plateId": "p", "images": [{"imageId": "a", "tags": ["x"]}]}',
            "tag ids",
        ),
        ('{"type": "loadTagLabelMap", "tags": {"one": "moa:x"}}', "integers"),
        ('{"type": "deleteTraining", "trainId": "../etc"}', "trainId"),
    ],
)
def test_malformed_management_messages_are_rejected_with_a_reason(local_ctx, body, expected):
    service = SearchServer(local_ctx.stores, options=FAST)
    handled = service.handler.handle_management([body])[0]
    assert handled.disposition is Disposition.REJECTED and expected in handled.reason


def test_poison_messages_are_dead_lettered_and_the_service_goes_on(local_ctx):
    ctx = local_ctx
    service = SearchServer(ctx.stores, options=FAST)
    data = random_data(30, 4, seed=32, plates=1)
    queue = ctx.stores.queue(resources.SEARCH_QUEUE)
    queue.send("{broken", group_id="g", dedup_id="d1")
    queue.send(
        json.dumps({"type": "searchByImageId", "searchId": "s1", "trainId": "train1"}), group_id="g", dedup_id="d2"
    )
    ctx.stores.queue(resources.MANAGEMENT_QUEUE).send('{"type": "nonsense"}', group_id="g", dedup_id="d3")
    # A plate whose embedding file never appears: retried max_receives times, then given up.
    _send(ctx, resources.MANAGEMENT_QUEUE, m.plate_embedding("train9", "emb1", "ghost"))
    _publish(ctx, data)
    after = _submit(ctx, {"trainId": "train1", "queryImageId": data.image_ids[0], "maxHits": 3})
    service.drain()

    results = TableResults(ctx.stores.table(tables.SEARCH))
    assert results.header(after)["status"] == COMPLETED and len(results.hits(after)) == 3
    assert results.header("s1")["status"] == ERROR and "queryImageId" in results.header("s1")["errorReason"]
    failed = [
        json.loads(ctx.stores.data.get_bytes(i.key)) for i in ctx.stores.data.list(keys.search_root() + "failed/")
    ]
    reasons = sorted(f["reason"] for f in failed)
    assert len(failed) == 3, reasons
    assert any("not JSON" in r for r in reasons) and any("unknown message type" in r for r in reasons)
    ghost = next(f for f in failed if "ghost" in f["body"])
    assert ghost["receiveCount"] == FAST.max_receives and "no plate embeddings file" in ghost["reason"]
    assert service.management.stats.given_up == 1 and service.management.stats.retried == FAST.max_receives - 1
    assert queue.approximate_count() == 0


def test_a_redelivered_search_replaces_its_earlier_hits(local_ctx):
    results = TableResults(local_ctx.stores.table(tables.SEARCH))
    query = SearchQuery(trainId="t1", queryImageId="q")
    local_ctx.stores.table(tables.SEARCH).put(new_header("s1", query))
    results.mark_running("s1")
    results.write_results("s1", [{"imageId": f"a{i}", "rank": i, "distance": 0.1 * i} for i in range(5)], 9)
    results.mark_running("s1")  # the message came back (e.g. the delete was lost)
    results.write_results(
        "s1", [{"imageId": "a3", "rank": 0, "distance": 0.0}, {"imageId": "b", "rank": 1, "distance": 0.5}], 9
    )
    assert [(h["imageId"], h["rank"]) for h in results.hits("s1")] == [("a3", 0), ("b", 1)]
    rows = list(local_ctx.stores.table(tables.SEARCH).query_all("s1"))
    assert sorted(r["imageId"] for r in rows) == ["a3", "b", "origin"]
    assert results.header("s1")["attempts"] == 2


def test_a_search_that_fails_every_time_ends_as_error_not_a_hang(local_ctx):
    ctx = local_ctx
    service = SearchServer(ctx.stores, options=FAST)
    data = random_data(20, 4, seed=33, plates=1)
    _publish(ctx, data)
    service.drain()

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise ConnectionError("table unavailable")

    service.handler.results.write_results = broken  # the results table keeps failing
    search_id = _submit(ctx, {"trainId": "train1", "queryImageId": data.image_ids[1]})
    service.drain()
    header = TableResults(ctx.stores.table(tables.SEARCH)).header(search_id)
    assert len(calls) == FAST.max_receives
    assert header["status"] == ERROR and "table unavailable" in header["errorReason"]
