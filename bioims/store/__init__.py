"""Storage ports and the factory that picks adapters for the configured backend."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bioims import resources
from bioims.config import Settings
from bioims.store.localfs import LocalObjectStore
from bioims.store.ports import (
    Condition,
    ConditionFailed,
    Item,
    ItemNotFound,
    Message,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    Page,
    Queue,
    SortKey,
    StoreDamaged,
    StoreError,
    Table,
    Update,
)
from bioims.store.queues import MemoryQueue, SqliteQueue, SqsQueue
from bioims.store.sqlite_table import SqliteDatabase, SqliteTable
from bioims.tables import TableSpec

if TYPE_CHECKING:
    from bioims.store.sqlite_table import SqliteDatabase

__all__ = [
    "Condition",
    "ConditionFailed",
    "Item",
    "ItemNotFound",
    "Message",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "Page",
    "Queue",
    "SortKey",
    "StoreDamaged",
    "StoreError",
    "Stores",
    "Table",
    "Update",
]


class Stores:
    """Tables, object stores and queues of one backend, created on first use and cached."""

    def __init__(self, settings: Settings, *, memory_queues: bool = False):
        self.settings = settings
        self.memory_queues = memory_queues
        self._tables: dict[str, Table] = {}
        self._objects: dict[str, ObjectStore] = {}
        self._queues: dict[str, Queue] = {}
        self._lock = threading.RLock()
        self._sqlite: SqliteDatabase | None = None
        self._boto: dict[str, object] = {}
        self._session: Any = None  # a boto3 Session, made on first use
        self._thread_resources = threading.local()

    # --- backend plumbing ------------------------------------------------------------------------
    def _database(self):
        if self._sqlite is None:
            self._sqlite = SqliteDatabase(self.settings.database_path)
        return self._sqlite

    def _aws(self, service: str, kind: str = "client"):
        """boto3 clients are thread-safe and shared; resources are not, so each thread gets its
        own. Creation is serialised: building clients from one session is not thread-safe."""
        import boto3

        with self._lock:
            if self._session is None:
                self._session = boto3.session.Session(region_name=self.settings.region)
            if kind == "resource":
                cache = self._thread_resources.__dict__
                if service not in cache:
                    cache[service] = self._session.resource(service)
                return cache[service]
            if service not in self._boto:
                self._boto[service] = self._session.client(service)
            return self._boto[service]

    # --- tables --------------------------------------------------------------------------------
    def table(self, spec: TableSpec) -> Table:
        with self._lock:
            if spec.name not in self._tables:
                physical = self.settings.table_name(spec.name)
                if self.settings.backend == "local":
                    self._tables[spec.name] = SqliteTable(self._database(), spec, physical)
                else:
                    from bioims.store.dynamodb_table import DynamoTable

                    self._tables[spec.name] = DynamoTable(spec, physical, lambda: self._aws("dynamodb", "resource"))
            return self._tables[spec.name]

    # --- objects -------------------------------------------------------------------------------
    @property
    def data(self) -> ObjectStore:
        """The system-managed data ("artifact") bucket."""
        return self.bucket(self.settings.resource(resources.DATA_BUCKET))

    @property
    def resource_bucket(self) -> ObjectStore:
        """The user landing zone: manifests, filters, training scripts."""
        return self.bucket(self.settings.resource(resources.RESOURCE_BUCKET))

    def bucket(self, name: str) -> ObjectStore:
        """An object store by bucket name. A name that is a filesystem path (`/data/bbbc021` or
        `file:///data/bbbc021`) is a local directory on either backend, so source images can be
        read in place; other names are buckets (directories under BIOIMS_HOME/objects locally)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("bucket name must be a non-empty string")
        with self._lock:
            if name not in self._objects:
                if name.startswith("file://") or name.startswith("/"):
                    root = Path(name[len("file://") :] if name.startswith("file://") else name)
                    self._objects[name] = LocalObjectStore(root, bucket=name)
                elif self.settings.backend == "local":
                    _check_bucket_name(name)
                    self._objects[name] = LocalObjectStore(self.settings.objects_root / name, bucket=name)
                else:
                    from bioims.store.s3 import S3ObjectStore

                    self._objects[name] = S3ObjectStore(name, self._aws("s3"))
            return self._objects[name]

    # --- queues --------------------------------------------------------------------------------
    def queue(self, slot: str) -> Queue:
        with self._lock:
            if slot not in self._queues:
                name = self.settings.resource(slot)
                if self.settings.backend == "local":
                    self._queues[slot] = (
                        MemoryQueue(name) if self.memory_queues else SqliteQueue(self._database(), name)
                    )
                else:
                    self._queues[slot] = SqsQueue(name, self._aws("sqs"))
            return self._queues[slot]

    def aws_client(self, service: str):
        """A boto3 client for the configured region (runtime adapters use this)."""
        return self._aws(service)


def _check_bucket_name(name: str) -> None:
    if "/" in name or name in (".", "..") or name.startswith("."):
        raise ValueError(f"invalid bucket name {name!r}")
