"""The "LATEST row + timestamped history rows" pattern shared by configuration and messages."""

from __future__ import annotations

from bioims.ids import now_ms
from bioims.store import Condition, ConditionFailed, Table
from bioims.tables import LATEST


def write_latest_and_history(table: Table, item: dict) -> str:
    """Write `item` as the LATEST row and as a history row; returns the history sort key.

    History rows are keyed by the millisecond timestamp; writes within the same millisecond get a
    ".<n>" suffix (which still sorts between that millisecond and the next), never overwriting.
    """
    sort_name = table.spec.sort_key
    stamp = now_ms()
    candidate = stamp
    for attempt in range(1, 1000):
        try:
            table.put({**item, sort_name: candidate, "createTimestamp": stamp}, condition=Condition.not_exists())
            break
        except ConditionFailed:
            candidate = f"{stamp}.{attempt:03d}"
    table.put({**item, sort_name: LATEST, "createTimestamp": stamp})
    return candidate


def history_rows(table: Table, partition: str) -> list[dict]:
    """All history rows of a partition, oldest first, without the LATEST row."""
    return [row for row in table.query_all(partition) if row[table.spec.sort_key] != LATEST]
