"""The Table port behaves the same on SQLite and on DynamoDB (moto)."""

from __future__ import annotations

import pytest

from bioims import tables
from bioims.store import Condition, ConditionFailed, ItemNotFound, SortKey, Update


@pytest.fixture
def table(backend_ctx):
    return backend_ctx.stores.table(tables.IMAGE_MANAGEMENT)


def _rows(n, plate="P1"):
    return [{"imageId": f"img{i:03d}", "trainId": "origin", "plateId": plate, "n": i, "f": i / 4} for i in range(n)]


def test_put_get_roundtrip_keeps_types(table):
    item = {
        "imageId": "a",
        "trainId": "origin",
        "i": 3,
        "f": 2.5,
        "b": True,
        "l": [1, "x", {"k": [2]}],
        "m": {"z": None},
    }
    table.put(item)
    assert table.get({"imageId": "a", "trainId": "origin"}) == item
    assert table.get({"imageId": "a", "trainId": "other"}) is None


def test_conditional_put(table):
    table.put({"imageId": "a", "trainId": "origin", "v": 1}, condition=Condition.not_exists())
    with pytest.raises(ConditionFailed):
        table.put({"imageId": "a", "trainId": "origin", "v": 2}, condition=Condition.not_exists())
    table.put({"imageId": "a", "trainId": "origin", "v": 3}, condition=Condition(equals={"v": 1}))
    with pytest.raises(ConditionFailed):
        table.put({"imageId": "a", "trainId": "origin", "v": 4}, condition=Condition(equals={"v": 1}))
    assert table.get({"imageId": "a", "trainId": "origin"})["v"] == 3


def test_update_is_atomic_set_add_append_remove(table):
    key = {"imageId": "u", "trainId": "origin"}
    with pytest.raises(ConditionFailed):
        table.update(key, Update(set={"a": 1}), condition=Condition.must_exist())
    first = table.update(
        key, Update(set={"a": 1, "gone": "x"}, add={"n": 2}, append={"l": [1]}, set_if_missing={"c": "first"})
    )
    assert first == {**key, "a": 1, "gone": "x", "n": 2, "l": [1], "c": "first"}
    second = table.update(
        key, Update(remove=("gone",), add={"n": 3}, append={"l": [2, 3]}, set_if_missing={"c": "second"})
    )
    assert second == {**key, "a": 1, "n": 5, "l": [1, 2, 3], "c": "first"}
    assert table.get(key) == second


def test_delete_returns_old_item(table):
    table.put({"imageId": "d", "trainId": "origin", "v": 1})
    assert table.delete({"imageId": "d", "trainId": "origin"})["v"] == 1
    assert table.delete({"imageId": "d", "trainId": "origin"}) is None
    with pytest.raises((ItemNotFound, ConditionFailed)):
        table.delete({"imageId": "d", "trainId": "origin"}, condition=Condition.must_exist())


@pytest.mark.parametrize(
    "condition, expected",
    [
        (None, ["origin", "t1", "t2", "t3", "u1"]),
        (SortKey.eq("t2"), ["t2"]),
        (SortKey.begins_with("t"), ["t1", "t2", "t3"]),
        (SortKey.between("t2", "u1"), ["t2", "t3", "u1"]),
        (SortKey.lt("t2"), ["origin", "t1"]),
        (SortKey.le("t2"), ["origin", "t1", "t2"]),
        (SortKey.gt("t2"), ["t3", "u1"]),
        (SortKey.ge("t3"), ["t3", "u1"]),
    ],
)
def test_query_sort_key_conditions(table, condition, expected):
    for sk in ["t3", "origin", "u1", "t1", "t2"]:
        table.put({"imageId": "q", "trainId": sk})
    table.put({"imageId": "other", "trainId": "t1"})
    assert [r["trainId"] for r in table.query_all("q", condition)] == expected
    assert [r["trainId"] for r in table.query_all("q", condition, descending=True)] == expected[::-1]


def test_query_pages_cover_everything_once(table):
    table.batch_write(puts=_rows(57))
    seen, start, pages = [], None, 0
    while True:
        page = table.query("P1", index="plateIdIndex", limit=10, start_key=start)
        seen += [r["imageId"] for r in page.items]
        pages += 1
        if not page.next_key:
            break
        start = page.next_key
    assert seen == [f"img{i:03d}" for i in range(57)]
    assert pages >= 6


def test_gsi_is_sparse_and_projects_all(table):
    table.batch_write(puts=_rows(3) + [{"imageId": "plate#P1", "trainId": "origin", "plateList": "plate"}])
    rows = list(table.query_all("P1", index="plateIdIndex"))
    assert [r["imageId"] for r in rows] == ["img000", "img001", "img002"]
    assert rows[1]["f"] == 0.25
    assert [r["imageId"] for r in table.query_all("plate", index="plateListIndex")] == ["plate#P1"]


def test_batch_write_many_and_deletes(table):
    rows = _rows(130)
    table.batch_write(puts=rows)
    assert table.count() == 130
    table.batch_write(deletes=[{"imageId": r["imageId"], "trainId": "origin"} for r in rows[:100]])
    assert sorted(r["imageId"] for r in table.scan_all()) == [r["imageId"] for r in rows[100:]]


def test_scan_pages(table):
    table.batch_write(puts=_rows(25))
    start, seen = None, []
    while True:
        page = table.scan(limit=7, start_key=start)
        seen += page.items
        if not page.next_key:
            break
        start = page.next_key
    assert sorted(r["imageId"] for r in seen) == [f"img{i:03d}" for i in range(25)]


@pytest.mark.parametrize(
    "key", [{"imageId": "", "trainId": "origin"}, {"imageId": 5, "trainId": "origin"}, {"imageId": "a"}]
)
def test_invalid_keys_are_rejected(table, key):
    with pytest.raises(ValueError):
        table.put(key)
