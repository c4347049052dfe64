"""Queues: in-process (one process, tests and the embedded search service), SQLite (durable and
shared by the processes of one machine: a `bioims search serve` process consumes what the CLI
sends) and SQS. All three give at-least-once delivery with a visibility timeout, like SQS."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from bioims.store.ports import Message
from bioims.store.sqlite_table import SqliteDatabase, _Immediate


@dataclass
class _Entry:
    message_id: str
    body: str
    visible_at: float = 0.0
    receipt: str = ""
    receive_count: int = 0


class MemoryQueue:
    """A thread-safe in-process queue with SQS semantics (visibility timeout, dedup ids)."""

    def __init__(self, name: str):
        self.name = name
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._dedup: dict[str, float] = {}
        self._cond = threading.Condition()

    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str:
        with self._cond:
            now = time.monotonic()
            if dedup_id is not None:
                seen = self._dedup.get(dedup_id)
                if seen is not None and now - seen < 300:
                    return "duplicate"
                self._dedup[dedup_id] = now
            message_id = str(uuid.uuid4())
            self._entries[message_id] = _Entry(message_id, body)
            self._cond.notify_all()
            return message_id

    def receive(
        self, max_messages: int = 10, *, wait_seconds: float = 0.0, visibility_timeout: float = 60.0
    ) -> list[Message]:
        deadline = time.monotonic() + wait_seconds
        with self._cond:
            while True:
                now = time.monotonic()
                out: list[Message] = []
                for entry in self._entries.values():
                    if len(out) >= max_messages:
                        break
                    if entry.visible_at <= now:
                        entry.visible_at = now + visibility_timeout
                        entry.receipt = str(uuid.uuid4())
                        entry.receive_count += 1
                        out.append(
                            Message(
                                entry.message_id, entry.body, f"{entry.message_id}|{entry.receipt}", entry.receive_count
                            )
                        )
                if out or now >= deadline:
                    return out
                self._cond.wait(timeout=min(deadline - now, 0.5))

    def delete(self, receipt: str) -> None:
        message_id, token = receipt.split("|", 1)
        with self._cond:
            entry = self._entries.get(message_id)
            if entry is not None and entry.receipt == token:
                del self._entries[message_id]

    def approximate_count(self) -> int:
        with self._cond:
            return len(self._entries)


class SqliteQueue:
    """A durable queue in the local database, safe for several processes."""

    def __init__(self, database: SqliteDatabase, name: str):
        self.name = name
        self._db = database
        self._table = f'"queue_{name}"'
        conn = database.connection()
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE, "
            "body TEXT, dedup_id TEXT, sent_at REAL, visible_at REAL NOT NULL, receipt TEXT, receive_count "
            "INTEGER NOT NULL DEFAULT 0)"
        )
        conn.execute(f'CREATE INDEX IF NOT EXISTS "queue_{name}_visible" ON {self._table} (visible_at, seq)')

    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str:
        message_id = str(uuid.uuid4())
        now = time.time()
        with _Immediate(self._db.connection()) as conn:
            conn.execute(f"DELETE FROM {self._table} WHERE body IS NULL AND sent_at < ?", (now - 300,))
            if dedup_id is not None:
                row = conn.execute(
                    f"SELECT 1 FROM {self._table} WHERE dedup_id=? AND sent_at > ?", (dedup_id, now - 300)
                ).fetchone()
                if row:
                    return "duplicate"
            conn.execute(
                f"INSERT INTO {self._table} (message_id, body, dedup_id, sent_at, visible_at) VALUES (?, ?, ?, ?, 0)",
                (message_id, body, dedup_id, now),
            )
        return message_id

    def receive(
        self, max_messages: int = 10, *, wait_seconds: float = 0.0, visibility_timeout: float = 60.0
    ) -> list[Message]:
        deadline = time.monotonic() + wait_seconds
        while True:
            now = time.time()
            out: list[Message] = []
            with _Immediate(self._db.connection()) as conn:
                rows = conn.execute(
                    f"SELECT seq, message_id, body, receive_count FROM {self._table} WHERE visible_at <= ? ORDER "
                    "BY seq LIMIT ?",
                    (now, max_messages),
                ).fetchall()
                for seq, message_id, body, count in rows:
                    receipt = str(uuid.uuid4())
                    conn.execute(
                        f"UPDATE {self._table} SET visible_at=?, receipt=?, receive_count=? WHERE seq=?",
                        (now + visibility_timeout, receipt, count + 1, seq),
                    )
                    out.append(Message(message_id, body, f"{message_id}|{receipt}", count + 1))
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def delete(self, receipt: str) -> None:
        message_id, token = receipt.split("|", 1)
        with _Immediate(self._db.connection()) as conn:
            # A tombstone keeps the dedup id for SQS's five-minute window; `send` purges old ones.
            conn.execute(
                f"UPDATE {self._table} SET body=NULL, visible_at=1e18 WHERE message_id=? AND receipt=?",
                (message_id, token),
            )

    def approximate_count(self) -> int:
        return self._db.connection().execute(f"SELECT COUNT(*) FROM {self._table} WHERE body IS NOT NULL").fetchone()[0]


class SqsQueue:
    """An SQS queue (FIFO or standard). FIFO queues need a group id: one per trainId keeps
    per-training order without serialising everything (the original used one group)."""

    def __init__(self, url: str, client):
        self.name = url.rsplit("/", 1)[-1]
        self.url = url
        self._sqs = client
        self.fifo = url.endswith(".fifo")

    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str:
        kwargs: dict = {"QueueUrl": self.url, "MessageBody": body}
        if self.fifo:
            kwargs["MessageGroupId"] = group_id or "bioims"
            kwargs["MessageDeduplicationId"] = dedup_id or str(uuid.uuid4())
        return self._sqs.send_message(**kwargs)["MessageId"]

    def receive(
        self, max_messages: int = 10, *, wait_seconds: float = 0.0, visibility_timeout: float = 60.0
    ) -> list[Message]:
        response = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(int(max_messages), 10)),
            WaitTimeSeconds=int(min(max(wait_seconds, 0), 20)),
            VisibilityTimeout=int(visibility_timeout),
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [
            Message(
                m["MessageId"],
                m["Body"],
                m["ReceiptHandle"],
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, receipt: str) -> None:
        self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)

    def approximate_count(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def encode(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))
