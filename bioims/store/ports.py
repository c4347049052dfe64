"""The storage ports: what services need from a table, an object store and a queue.

Adapters: DynamoDB / S3 / SQS (boto3) on AWS; SQLite / a local directory / an in-process or
SQLite queue locally. Items are plain JSON-like dicts (str, int, float, bool, None, list, dict);
adapters convert to and from their native types.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal, Protocol

from bioims.errors import Conflict, Unavailable
from bioims.tables import TableSpec

Item = dict[str, Any]


class StoreError(RuntimeError):
    """Base class of storage errors."""


class ConditionFailed(Conflict, StoreError):
    """A conditional write found the item in a state other than the one required. Services catch
    it where it is part of their logic; one that reaches the edge is the caller's conflicting
    write: 409, named Conflict and prefixed with the operation (the store does not know it)."""

    wire_name = "Conflict"
    names_operation = True


class ItemNotFound(StoreError):
    """An update or delete that required an existing item found none."""


class StoreDamaged(Unavailable, StoreError):
    """The store's files are damaged: nothing more is read from or written into it. The message
    names the file and how to restore it (503: not the caller's fault, and not to be retried)."""


class ObjectNotFound(StoreError, FileNotFoundError):
    """No object under that key."""


@dataclass(frozen=True)
class SortKey:
    """A sort-key condition for `Table.query`."""

    op: Literal["eq", "begins_with", "between", "lt", "le", "gt", "ge"]
    value: str
    upper: str | None = None  # for "between"

    @staticmethod
    def eq(value: str) -> SortKey:
        return SortKey("eq", value)

    @staticmethod
    def begins_with(prefix: str) -> SortKey:
        return SortKey("begins_with", prefix)

    @staticmethod
    def between(low: str, high: str) -> SortKey:
        return SortKey("between", low, high)

    @staticmethod
    def lt(value: str) -> SortKey:
        return SortKey("lt", value)

    @staticmethod
    def le(value: str) -> SortKey:
        return SortKey("le", value)

    @staticmethod
    def gt(value: str) -> SortKey:
        return SortKey("gt", value)

    @staticmethod
    def ge(value: str) -> SortKey:
        return SortKey("ge", value)

    def matches(self, candidate: str) -> bool:
        if self.op == "eq":
            return candidate == self.value
        if self.op == "begins_with":
            return candidate.startswith(self.value)
        if self.op == "between":
            return self.value <= candidate <= (self.upper or "")
        if self.op == "lt":
            return candidate < self.value
        if self.op == "le":
            return candidate <= self.value
        if self.op == "gt":
            return candidate > self.value
        return candidate >= self.value


@dataclass(frozen=True)
class Condition:
    """A write condition. `exists`: True = the item must exist, False = must not exist.
    `equals`: attributes that must currently hold these values (missing counts as None)."""

    exists: bool | None = None
    equals: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def not_exists() -> Condition:
        return Condition(exists=False)

    @staticmethod
    def must_exist() -> Condition:
        return Condition(exists=True)


@dataclass
class Page:
    items: list[Item]
    next_key: Item | None = None


@dataclass(frozen=True)
class Update:
    """An atomic update: set attributes, remove attributes, add to numbers (creating them at
    0), append to lists (creating them empty)."""

    set: dict[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    add: dict[str, int | float] = field(default_factory=dict)
    append: dict[str, list[Any]] = field(default_factory=dict)
    set_if_missing: dict[str, Any] = field(default_factory=dict)


class Table(Protocol):
    spec: TableSpec

    def get(self, key: Item, *, consistent: bool = True) -> Item | None: ...

    def put(self, item: Item, *, condition: Condition | None = None) -> None: ...

    def update(self, key: Item, update: Update, *, condition: Condition | None = None) -> Item:
        """Apply atomically; creates the item unless the condition requires it to exist.
        Returns the item after the update."""
        ...

    def delete(self, key: Item, *, condition: Condition | None = None) -> Item | None:
        """Delete and return the old item (None if there was none)."""
        ...

    def query(
        self,
        partition: str,
        sort: SortKey | None = None,
        *,
        index: str | None = None,
        limit: int | None = None,
        start_key: Item | None = None,
        descending: bool = False,
    ) -> Page: ...

    def query_all(
        self,
        partition: str,
        sort: SortKey | None = None,
        *,
        index: str | None = None,
        descending: bool = False,
    ) -> Iterator[Item]: ...

    def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Item] = ()) -> None:
        """Write many items; retries unprocessed ones; not atomic as a whole."""
        ...

    def scan(self, *, limit: int | None = None, start_key: Item | None = None) -> Page: ...

    def scan_all(self) -> Iterator[Item]: ...

    def count(self) -> int: ...


Buffer = bytes | bytearray | memoryview
# An object's content: one bytes-like buffer, or a tuple of them stored one after the other (a
# header and a view of a large array need not be joined into a new bytes object first).
Payload = Buffer | tuple[Buffer, ...]


def payload_bytes(data: Payload) -> bytes | bytearray:
    """The payload as one bytes object (for stores whose client wants one)."""
    if isinstance(data, tuple):
        return b"".join(data)
    return data if isinstance(data, bytes | bytearray) else bytes(data)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: float  # seconds since the epoch


class ObjectStore(Protocol):
    bucket: str

    def put_bytes(self, key: str, data: Payload, *, content_type: str | None = None) -> None:
        """Store `data` (bytes-like, or a tuple of bytes-like parts stored one after the other)."""
        ...

    def put_file(self, key: str, path: str, *, content_type: str | None = None) -> None:
        """Upload a (possibly large) file, streamed."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def open(self, key: str) -> IO[bytes]:
        """A readable binary stream of the object (caller closes it)."""
        ...

    def download(self, key: str, path: str) -> None:
        """Stream an object to a local file (atomic: the file appears complete or not at all)."""
        ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """All objects whose key starts with prefix, in key order."""
        ...

    def delete(self, key: str) -> None: ...

    def local_path(self, key: str) -> str | None:
        """A filesystem path of the object when it is on local disk (no copy needed), else None."""
        ...


@dataclass(frozen=True)
class Message:
    message_id: str
    body: str
    receipt: str
    receive_count: int = 1


class Queue(Protocol):
    name: str

    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str: ...

    def receive(
        self, max_messages: int = 10, *, wait_seconds: float = 0.0, visibility_timeout: float = 60.0
    ) -> list[Message]: ...

    def delete(self, receipt: str) -> None: ...

    def approximate_count(self) -> int: ...
