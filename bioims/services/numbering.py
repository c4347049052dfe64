"""Dense, unique integer numbers for named rows (label indices, tag ids), safe under concurrency.

The original derived label indices from a row count and tag ids from a counter that reset to 1 on
any error, with check-then-put races (ORIGINAL.md 8.3 #17-18). Here a caller first *claims* the
name with a conditional put (exactly one creator wins), then the winner takes the next number
from an atomic counter; losers wait for the winner's number. A claim abandoned by a crash is taken
over after `stale_after_ms`.
"""

from __future__ import annotations

import time

from bioims.ids import now_ms
from bioims.services.api import ServiceError
from bioims.store import Condition, ConditionFailed, Table, Update


class NumberingTimeout(ServiceError):
    status = 503


def get_or_assign_number(
    table: Table,
    key: dict,
    attributes: dict,
    *,
    number_attr: str,
    counter_key: dict,
    counter_attr: str,
    first_number: int,
    stale_after_ms: int = 30_000,
) -> tuple[int, bool]:
    """The number of the row at `key`, assigning the next free one if the row is new.

    Returns (number, created)."""
    deadline = time.monotonic() + stale_after_ms / 1000 + 30
    while True:
        row = table.get(key)
        if row is not None and row.get(number_attr) is not None:
            return int(row[number_attr]), False
        if row is None:
            claim = now_ms()
            try:
                table.put({**key, **attributes, number_attr: None, "claimedAt": claim}, condition=Condition.not_exists())
            except ConditionFailed:
                continue  # someone else claimed it a moment ago: read their row again
            return _assign(table, key, number_attr, counter_key, counter_attr, first_number, claim), True
        claimed = str(row.get("claimedAt") or "0")
        if int(now_ms()) - int(claimed.split(".")[0]) > stale_after_ms:
            claim = now_ms()
            try:
                table.update(key, Update(set={"claimedAt": claim}), condition=Condition(equals={"claimedAt": row.get("claimedAt")}))
            except ConditionFailed:
                continue
            return _assign(table, key, number_attr, counter_key, counter_attr, first_number, claim), True
        if time.monotonic() > deadline:
            raise NumberingTimeout(f"{table.spec.name}: timed out waiting for the number of {key}")
        time.sleep(0.02)


def _assign(table: Table, key: dict, number_attr: str, counter_key: dict, counter_attr: str, first_number: int, claim: str) -> int:
    counter = table.update(counter_key, Update(add={counter_attr: 1}))
    number = int(counter[counter_attr]) - 1 + first_number
    table.update(key, Update(set={number_attr: number}, remove=("claimedAt",)), condition=Condition(equals={"claimedAt": claim}))
    return number
