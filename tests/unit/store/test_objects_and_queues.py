"""ObjectStore and Queue ports on the local adapters and on moto (S3, SQS)."""

from __future__ import annotations

import os

import pytest

from bioims import resources
from bioims.store import ObjectNotFound
from bioims.store.localfs import LocalObjectStore
from bioims.store.queues import MemoryQueue, SqliteQueue
from bioims.store.s3 import S3ObjectStore
from bioims.store.sqlite_table import SqliteDatabase


def _record_s3_calls(store) -> list[str]:
    """Names of the S3 operations the store's client makes from now on (empty off S3)."""
    calls: list[str] = []
    if isinstance(store, S3ObjectStore):
        store._s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    return calls


def test_object_store_roundtrip_list_delete(backend_ctx, tmp_path):
    store = backend_ctx.stores.data
    store.put_bytes("a/b/one.bin", b"1")
    store.put_bytes("a/b/two.bin", b"22")
    store.put_bytes("a/c.bin", b"333")
    big = tmp_path / "big.bin"
    # Above boto3's 8 MiB multipart threshold: on S3 the upload and the download go in parts.
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    s3_calls = _record_s3_calls(store)
    store.put_file("z/big.bin", str(big))
    assert store.get_bytes("a/b/two.bin") == b"22"
    assert [i.key for i in store.list("a/b/")] == ["a/b/one.bin", "a/b/two.bin"]
    assert [i.key for i in store.list("a/")] == ["a/b/one.bin", "a/b/two.bin", "a/c.bin"]
    assert store.head("a/c.bin").size == 3 and store.head("nope") is None
    with store.open("z/big.bin") as stream:
        assert stream.read() == big.read_bytes()
    calls_before_download = len(s3_calls)
    store.download("z/big.bin", str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == big.read_bytes()
    if isinstance(store, S3ObjectStore):
        assert s3_calls.count("UploadPart") == 2 and "CompleteMultipartUpload" in s3_calls
        assert s3_calls[calls_before_download:].count("GetObject") == 2  # two ranged reads
    store.delete("a/c.bin")
    assert not store.exists("a/c.bin")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("a/c.bin")
    with pytest.raises(ObjectNotFound):
        store.download("missing", str(tmp_path / "never.bin"))
    assert not (tmp_path / "never.bin").exists()


def test_local_writes_are_atomic_and_keys_checked(tmp_path):
    store = LocalObjectStore(tmp_path / "bucket")
    store.put_bytes("x/y.npy", b"abc")
    leftovers = [p.name for p in (tmp_path / "bucket" / "x").iterdir()]
    assert leftovers == ["y.npy"]
    for bad in ["", "/abs", "a/../b", "a//b", "a\\b"]:
        with pytest.raises(ValueError):
            store.put_bytes(bad, b"")


def test_path_buckets_read_in_place(backend_ctx, tmp_path):
    source = tmp_path / "plates"
    (source / "P1").mkdir(parents=True)
    (source / "P1" / "f.tif").write_bytes(b"tiff")
    store = backend_ctx.stores.bucket(str(source))
    assert store.get_bytes("P1/f.tif") == b"tiff"
    assert store.local_path("P1/f.tif") == str(source / "P1" / "f.tif")


@pytest.fixture(params=["memory", "sqlite", "sqs"])
def queue(request, tmp_path, aws_ctx):
    if request.param == "memory":
        return MemoryQueue("q")
    if request.param == "sqlite":
        return SqliteQueue(SqliteDatabase(tmp_path / "q.sqlite"), "q")
    return aws_ctx.stores.queue(resources.SEARCH_QUEUE)


def test_queue_send_receive_delete_and_visibility(queue):
    queue.send('{"n": 1}', group_id="g", dedup_id="d1")
    queue.send('{"n": 2}', group_id="g", dedup_id="d2")
    first = queue.receive(1, visibility_timeout=30)
    assert [m.body for m in first] == ['{"n": 1}']
    queue.delete(first[0].receipt)
    second = queue.receive(10, visibility_timeout=30)
    assert [m.body for m in second] == ['{"n": 2}']
    queue.delete(second[0].receipt)
    assert queue.receive(10) == []


def test_queue_redelivers_undeleted_messages(tmp_path):
    for queue in (MemoryQueue("q"), SqliteQueue(SqliteDatabase(tmp_path / "r.sqlite"), "q")):
        queue.send("m")
        got = queue.receive(1, visibility_timeout=0.05)
        assert got[0].receive_count == 1
        import time

        time.sleep(0.1)
        again = queue.receive(1, visibility_timeout=30)
        assert again[0].body == "m" and again[0].receive_count == 2
        queue.delete(got[0].receipt)  # a stale receipt deletes nothing
        assert queue.approximate_count() == 1
        queue.delete(again[0].receipt)
        assert queue.approximate_count() == 0


def test_queue_deduplicates(tmp_path):
    for queue in (MemoryQueue("q"), SqliteQueue(SqliteDatabase(tmp_path / "d.sqlite"), "q")):
        queue.send("a", dedup_id="same")
        queue.send("a", dedup_id="same")
        assert len(queue.receive(10)) == 1
