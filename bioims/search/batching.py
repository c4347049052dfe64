"""Batching of concurrent calls without a dispatcher thread (leader/follower).

A caller that finds nobody searching runs its own request at once (no hand-off cost for a lone
query); callers that arrive meanwhile queue up, and when the running batch ends one of them is
woken to run everything that queued, as one batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot:
    __slots__ = ("item", "ready", "done", "value", "error")

    def __init__(self, item):
        self.item = item
        self.ready: threading.Event | None = None  # only callers that must wait get one
        self.done = False
        self.value = None
        self.error: BaseException | None = None


class Batcher(Generic[Item, Result]):
    """`submit(item)` returns `run([... item ...])[i]` (or raises the BaseException at that place)."""

    def __init__(self, run: Callable[[Sequence[Item]], Sequence[Result | BaseException]]):
        self._run = run
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._busy = False
        self.batches = 0
        self.largest_batch = 0

    def submit(self, item: Item) -> Result:
        slot = _Slot(item)
        with self._lock:
            self._pending.append(slot)
            lead = not self._busy
            self._busy = True
            if not lead:
                slot.ready = threading.Event()
        if slot.ready is not None:
            slot.ready.wait()
        if not slot.done:  # we lead: either first to arrive, or promoted by the previous leader
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.value  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            try:
                outcomes = list(self._run([s.item for s in batch]))
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} gave {len(outcomes)} results")
            except BaseException as exc:  # every caller of the batch learns about the failure
                outcomes = [exc] * len(batch)
            for s, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    s.error = outcome
                else:
                    s.value = outcome
                s.done = True
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
        finally:
            with self._lock:
                if self._pending:
                    waiter = self._pending[0].ready
                    assert waiter is not None  # it arrived while a batch ran, so it waits on an event
                    waiter.set()  # promote the next waiter to leader
                else:
                    self._busy = False
            for s in batch:
                if s.ready is not None:
                    s.ready.set()
