"""Condition checks and atomic updates applied to in-memory items, shared by the adapters that
implement them in Python (SQLite, memory) so both follow DynamoDB's semantics exactly once."""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from typing import Any

from bioims.store.ports import Condition, ConditionFailed, Item, Update


def check_condition(old: Item | None, condition: Condition | None, table: str, key: Item) -> None:
    if condition is None:
        return
    if condition.exists is True and old is None:
        raise ConditionFailed(f"{table}: item {key} does not exist")
    if condition.exists is False and old is not None:
        raise ConditionFailed(f"{table}: item {key} already exists")
    for attribute, expected in condition.equals.items():
        actual = None if old is None else old.get(attribute)
        if actual != expected:
            raise ConditionFailed(f"{table}: item {key} has {attribute}={actual!r}, expected {expected!r}")


def apply_update(old: Item | None, key: Item, update: Update, *, old_is_private: bool = False) -> Item:
    """The item after `update`; `old` is not modified unless `old_is_private` (an item decoded
    for this update alone, which nobody else holds: updated in place, without a deep copy)."""
    item: Item = (old if old_is_private else copy.deepcopy(old)) if old is not None else dict(key)
    for attribute, value in update.set_if_missing.items():
        item.setdefault(attribute, copy.deepcopy(value))
    for attribute, value in update.set.items():
        item[attribute] = copy.deepcopy(value)
    for attribute in update.remove:
        item.pop(attribute, None)
    for attribute, delta in update.add.items():
        current = item.get(attribute, 0)
        if not isinstance(current, (int, float)) or isinstance(current, bool):
            raise ConditionFailed(f"attribute {attribute} is not a number")
        item[attribute] = current + delta
    for attribute, values in update.append.items():
        current = item.get(attribute, [])
        if not isinstance(current, list):
            raise ConditionFailed(f"attribute {attribute} is not a list")
        item[attribute] = current + copy.deepcopy(list(values))
    return item


def to_plain(value: Any) -> Any:
    """Convert adapter-native values (Decimal, tuples, sets) to plain JSON-compatible values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and infinity cannot be stored in a table")
    return value


def encode_item(item: Item) -> str:
    """The item as canonical JSON, with adapter-native values converted as `to_plain` does (json
    itself writes tuples as lists and calls `_plain_default` for Decimals and sets), without first
    copying the whole item."""
    try:
        return json.dumps(item, separators=(",", ":"), sort_keys=True, allow_nan=False, default=_plain_default)
    except ValueError as exc:
        if "Out of range float values" in str(exc):
            raise ValueError("NaN and infinity cannot be stored in a table") from None
        raise


def _plain_default(value: Any) -> Any:
    if isinstance(value, (Decimal, set)):
        return to_plain(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def decode_item(text: str) -> Item:
    return json.loads(text)
