"""Queue consumption with at-least-once semantics: a message is deleted only once handled.

Up to 10 messages per receive with long polling (throughput), a visibility timeout longer than the
work (a running search is not redelivered), and failed messages are not deleted (docs/original.md
§8.5 #42). A message that keeps
failing is given up after `max_receives` deliveries: its search is marked `error`, and then it
is either left for the queue's redrive policy (SQS: the DLQ) or, locally, recorded as failed
and deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bioims import ids
from bioims.search.handlers import Disposition, Handled
from bioims.store.ports import Message, Queue

log = logging.getLogger("bioims.search")

DeadLetter = Callable[[str, Message, str], None]  # (queue name, message, reason)


@dataclass
class ConsumerStats:
    received: int = 0
    done: int = 0
    rejected: int = 0
    retried: int = 0
    given_up: int = 0


class QueueConsumer:
    """Receives batches from one queue and hands their bodies to `handle` (one Handled each).

    dead_letter: where a given-up message is recorded before it is deleted (local backend). None
    means the queue has its own dead-letter queue: given-up messages are left to its redrive.
    on_give_up: called with (body, reason) when a message is given up (e.g. mark the search error).
    """

    def __init__(
        self,
        queue: Queue,
        handle: Callable[[Sequence[str]], Sequence[Handled]],
        *,
        max_receives: int = 5,
        visibility_timeout: float = 120.0,
        wait_seconds: float = 10.0,
        batch_size: int = 10,
        dead_letter: DeadLetter | None = None,
        on_give_up: Callable[[str, str], None] | None = None,
        before_handling: Callable[[], object] | None = None,
    ):
        if max_receives < 1 or batch_size < 1:
            raise ValueError("max_receives and batch_size must be at least 1")
        self.queue = queue
        self.handle = handle
        self.max_receives = max_receives
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self.batch_size = batch_size
        self.dead_letter = dead_letter
        self.on_give_up = on_give_up
        # Called after a batch arrives and before it is handled (the search consumer first handles
        # management messages that were sent before the searches it just received).
        self.before_handling = before_handling
        self.stats = ConsumerStats()

    def poll_once(self, wait_seconds: float | None = None) -> int:
        """Receive one batch and handle it; returns the number of messages received."""
        batch = self.queue.receive(
            self.batch_size,
            wait_seconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            visibility_timeout=self.visibility_timeout,
        )
        if not batch:
            return 0
        self.stats.received += len(batch)
        if self.before_handling is not None:
            self.before_handling()
        try:
            outcomes = list(self.handle([message.body for message in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"handler answered {len(outcomes)} outcomes for {len(batch)} messages")
        except Exception as exc:  # the handler itself broke: every message of the batch retries
            log.exception("search: handler failed for a batch of %d messages", len(batch))
            outcomes = [Handled(Disposition.RETRY, f"{type(exc).__name__}: {exc}")] * len(batch)
        for message, outcome in zip(batch, outcomes, strict=True):
            self._settle(message, outcome)
        return len(batch)

    def _settle(self, message: Message, outcome: Handled) -> None:
        if outcome.disposition is Disposition.DONE:
            self.stats.done += 1
            self.queue.delete(message.receipt)
            return
        if outcome.disposition is Disposition.RETRY and message.receive_count < self.max_receives:
            self.stats.retried += 1
            log.warning(
                "search: message %s failed (attempt %d of %d), will retry: %s",
                message.message_id,
                message.receive_count,
                self.max_receives,
                outcome.reason,
            )
            return
        if outcome.disposition is Disposition.REJECTED:
            self.stats.rejected += 1
        else:
            self.stats.given_up += 1
        log.error("search: giving up message %s: %s", message.message_id, outcome.reason)
        if self.on_give_up is not None:
            self.on_give_up(message.body, outcome.reason)
        if self.dead_letter is not None:
            self.dead_letter(self.queue.name, message, outcome.reason)
            self.queue.delete(message.receipt)


def object_dead_letter(snapshots) -> DeadLetter:
    """Record given-up messages as JSON objects (bioims.keys.search_failed_message_key)."""

    def record(queue_name: str, message: Message, reason: str) -> None:
        snapshots.record_failure(
            queue_name,
            message.message_id,
            {
                "messageId": message.message_id,
                "body": message.body,
                "reason": reason,
                "receiveCount": message.receive_count,
                "failedTimestamp": ids.now_ms(),
            },
        )

    return record
