"""The item operations the SQLite table runs on every write: encoding straight to JSON gives what
converting with `to_plain` first gave, and an update of a freshly decoded item in place gives the
same item as an update of a copy."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from bioims.store.itemops import apply_update, decode_item, encode_item, to_plain
from bioims.store.ports import Update


def _encoded_via_plain(item: dict) -> str:
    return json.dumps(to_plain(item), separators=(",", ":"), sort_keys=True, allow_nan=False)


ITEMS = [
    {"imageId": "a", "trainId": "origin", "width": 1280, "ok": True, "none": None, "f": 0.25},
    {"n": Decimal("3"), "x": Decimal("2.5"), "big": Decimal("12345678901234567890")},
    {"tags": {3, 1, 2}, "pair": (1, (2, Decimal("4"))), "empty": set()},
    {"nested": {"z": [{"d": Decimal("1.0"), "s": {"k"}}], "a": ({"t": (Decimal("0.1"),)},)}},
    {"unicode": "Zellkern µm ✓", "list": [1, 2.0, "3", [Decimal("-7")]]},
]


@pytest.mark.parametrize("item", ITEMS)
def test_encoding_equals_the_plain_conversion(item):
    assert encode_item(item) == _encoded_via_plain(item)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, Decimal("NaN")])
def test_nan_and_infinity_are_refused_with_the_tables_message(bad):
    with pytest.raises(ValueError, match="NaN and infinity cannot be stored in a table"):
        encode_item({"k": "v", "deep": [{"x": bad}]})


def test_values_json_cannot_hold_are_refused():
    with pytest.raises(TypeError, match="bytes"):
        encode_item({"k": b"raw"})


def test_update_in_place_of_a_private_item_equals_an_update_of_a_copy():
    stored = encode_item(
        {"imageId": "i", "trainId": "origin", "status": {"e": {"roiCount": 3}}, "log": [1], "n": 2, "gone": "x"}
    )
    update = Update(
        set={"status": {"e": {"roiCount": 4}}, "new": [{"a": 1}]},
        set_if_missing={"createTimestamp": 5, "n": 100},
        remove=("gone",),
        add={"n": 3},
        append={"log": [2, 3]},
    )
    key = {"imageId": "i", "trainId": "origin"}
    shared = decode_item(stored)
    copied = apply_update(shared, key, update)
    assert shared == decode_item(stored)  # not private: the caller's item is left alone
    private = decode_item(stored)
    in_place = apply_update(private, key, update, old_is_private=True)
    assert in_place == copied
    assert in_place["n"] == 5 and in_place["log"] == [1, 2, 3] and "gone" not in in_place
    update.set["new"][0]["a"] = 99  # the update's values were copied in, not shared
    assert in_place["new"] == [{"a": 1}]
