"""Several processes writing to the local SQLite tables at once lose nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from bioims import tables
from bioims.config import Settings
from bioims.context import Context
from bioims.store import Stores, Update


def _writer(home: str, worker: int, count: int) -> None:
    settings = Settings(backend="local", home=Path(home))
    table = Stores(settings).table(tables.MESSAGE)
    for i in range(count):
        table.put({"messageId": f"w{worker}", "timestamp1": f"{i:06d}", "detail": f"row {i} of {worker}"})
        table.update({"messageId": "counter", "timestamp1": "LATEST"}, Update(add={"n": 1}, append={"who": [worker]}))


def _tagger(home: str, values: list[str], out) -> None:
    settings = Settings(backend="local", home=Path(home))
    ctx = Context(settings, Stores(settings))
    out.put({v: ctx.service("tag").create(v)[0] for v in values})


def test_four_processes_writing_1000_rows_each(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_writer, args=(str(tmp_path), w, 1000)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=600)
        assert p.exitcode == 0
    table = Stores(Settings(backend="local", home=tmp_path)).table(tables.MESSAGE)
    for w in range(4):
        assert len(list(table.query_all(f"w{w}"))) == 1000
    counter = table.get({"messageId": "counter", "timestamp1": "LATEST"})
    assert counter["n"] == 4000 and len(counter["who"]) == 4000
    assert table.count() == 4001


def test_concurrent_tag_creation_gives_one_id_per_value(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    values = [f"compound:c{i}" for i in range(40)]
    out = spawn.Queue()
    workers = [
        spawn.Process(target=_tagger, args=(str(tmp_path), values[::1] if w % 2 == 0 else values[::-1], out))
        for w in range(4)
    ]
    for p in workers:
        p.start()
    results = [out.get(timeout=600) for _ in workers]
    for p in workers:
        p.join(timeout=60)
    assert all(r == results[0] for r in results)
    assert sorted(results[0].values()) == list(range(1, 41))
