"""Dense, unique integer numbers for named rows (label indices, tag ids), safe under concurrency
and under a crash at any write.

Class ids and tag ids must never collide, even when two callers create names at once or one
crashes half-way (docs/original.md §8.3 #17-18). So every step is a conditional write that any
caller may also perform on behalf of another, so nobody ever waits for a writer
that may have died (no lock, no lease, no timeout):

1. *claim*: the name's row is created without a number (exactly one creator wins);
2. *pending*: the row records the number it is about to take: the lowest number whose reverse row
   does not exist, found from the counter (a hint: every number below it is taken);
3. *reverse*: the reverse row (number -> name) is created if absent. It is the authority on who
   holds a number: if another name got there first, the row moves on to the next free number;
4. *counter*: raised to at least number + 1 (a max, never an add, so repeating it is harmless);
5. *number*: the name's row gets its number and loses `pending`.

A caller that finds a row without a number continues from wherever the row is, so a re-run (or a
concurrent caller) after a crash between any two steps completes the same number: numbers stay
dense (a number is only taken while every lower one is taken), unique (one pending number per
name, one name per reverse row) and complete (the reverse row exists before the number is
visible). `BIOIMS_FAULT=<prefix>-claimed|-number-taken|-reverse-written|-counter-raised` kills the
process after the matching step (tests).
"""

from __future__ import annotations

from collections.abc import Callable

from bioims import faults
from bioims.errors import Unavailable
from bioims.store import Condition, ConditionFailed, Table, Update

_MAX_ROUNDS = 10_000  # each round makes progress unless another caller did; bounded as a safety net


class NumberingConflict(Unavailable):
    """Numbering made no progress within its bound of rounds (contention): 503, try again."""


def get_or_assign_number(
    table: Table,
    key: dict,
    attributes: dict,
    *,
    number_attr: str,
    counter_key: dict,
    counter_attr: str,
    first_number: int,
    reverse: Callable[[int], dict],
    value_attr: str = "value",
    fault_prefix: str = "number",
) -> tuple[int, bool]:
    """The number of the row at `key`, assigning the next free one if it has none. `reverse(n)`
    is the reverse row for number n (its `value_attr` names this row). Returns (number, created):
    created is True when this call finished the assignment."""
    row = table.get(key)
    if row is not None and row.get(number_attr) is not None:
        return int(row[number_attr]), False
    if row is None:
        try:
            table.put({**key, **attributes}, condition=Condition.not_exists())
        except ConditionFailed:
            pass  # another caller claimed it a moment ago: continue from its row
        faults.point(f"{fault_prefix}-claimed")
    value = reverse(first_number)[value_attr]
    for _ in range(_MAX_ROUNDS):
        row = table.get(key)
        if row is None:  # deleted under us (its category went): claim it again
            try:
                table.put({**key, **attributes}, condition=Condition.not_exists())
            except ConditionFailed:
                pass
            continue
        if row.get(number_attr) is not None:
            return int(row[number_attr]), True
        pending = row.get("pending")
        if pending is None:
            candidate = _next_free(table, counter_key, counter_attr, first_number, reverse)
            if not _move_pending(table, key, None, candidate, number_attr):
                continue
            faults.point(f"{fault_prefix}-number-taken")
            pending = candidate
        pending = int(pending)
        wanted = reverse(pending)
        try:
            table.put(wanted, condition=Condition.not_exists())
        except ConditionFailed:
            holder = table.get(table.spec.key_of(wanted))
            if holder is None or holder.get(value_attr) != value:
                # Another name holds this number: take the next free one (only from this state).
                _move_pending(
                    table,
                    key,
                    pending,
                    _next_free(table, counter_key, counter_attr, first_number, reverse),
                    number_attr,
                )
                continue
        faults.point(f"{fault_prefix}-reverse-written")
        _raise_counter(table, counter_key, counter_attr, pending - first_number + 1)
        faults.point(f"{fault_prefix}-counter-raised")
        try:
            table.update(
                key,
                Update(set={number_attr: pending}, remove=("pending", "claimedAt")),
                condition=Condition(equals={"pending": pending}),
            )
        except ConditionFailed:
            continue  # another caller finished it: read its number
        return pending, True
    raise NumberingConflict(f"{table.spec.name}: could not number {key} (too much contention); try again")


def _move_pending(table: Table, key: dict, current: int | None, new: int, number_attr: str) -> bool:
    """Move the row's pending number from `current` to `new`, only while the row has no number:
    a finished row also has no `pending`, and a caller that read the row before it was finished
    must not start numbering it again (that gave one name two numbers and left a gap)."""
    try:
        table.update(
            key,
            Update(set={"pending": new}),
            condition=Condition(exists=True, equals={"pending": current, number_attr: None}),
        )
        return True
    except ConditionFailed:
        return False


def _next_free(
    table: Table, counter_key: dict, counter_attr: str, first_number: int, reverse: Callable[[int], dict]
) -> int:
    """The lowest number without a reverse row at or above the counter's hint."""
    counter = table.get(counter_key) or {}
    number = first_number + int(counter.get(counter_attr) or 0)
    while table.get(table.spec.key_of(reverse(number))) is not None:
        number += 1
    return number


def _raise_counter(table: Table, counter_key: dict, counter_attr: str, at_least: int) -> None:
    """counter = max(counter, at_least), atomically."""
    while True:
        counter = table.get(counter_key)
        current = None if counter is None else counter.get(counter_attr)
        if current is not None and int(current) >= at_least:
            return
        try:
            table.update(
                counter_key, Update(set={counter_attr: at_least}), condition=Condition(equals={counter_attr: current})
            )
            return
        except ConditionFailed:
            continue
