"""Tables in one SQLite database file (WAL mode), safe with several processes writing at once.

Each logical table is one SQLite table keyed by (pk, sk) holding the item as JSON, plus a pair of
columns per GSI (NULL when the item lacks the index's partition attribute, which makes the index
sparse as in DynamoDB). Read-modify-write operations run inside `BEGIN IMMEDIATE` transactions,
so conditional puts, counters and list appends are atomic across processes.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bioims.store.itemops import apply_update, check_condition, decode_item, encode_item
from bioims.store.ports import Condition, Item, ItemNotFound, Page, SortKey, StoreDamaged, Update
from bioims.tables import TableSpec

_BUSY_TIMEOUT_MS = 120_000


# Messages of sqlite3.DatabaseError that mean damaged files (not a busy or locked database).
_DAMAGE = ("malformed", "not a database", "corrupt", "disk i/o error", "database or disk is full")


def damage_message(path: Path, detail: str) -> str:
    """The one error a damaged database gives: which file, what SQLite said, how to restore."""
    return (
        f"the database {path} is damaged ({detail}); nothing was written into it. To restore: stop bioims, "
        f"copy your backup over it and delete its -wal and -shm files beside it; or move it away and re-run "
        f"the commands that built it (`sqlite3 FILE .recover` may salvage rows)"
    )


def is_damage(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and any(m in str(exc).lower() for m in _DAMAGE)


class SqliteDatabase:
    """One database file; a connection per thread and per process (connections are not shared
    across fork). Each process checks the file (`PRAGMA quick_check`) when it first opens it and
    refuses a damaged one, as it does once damage shows during use: no write goes into it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._created: set[str] = set()
        self._lock = threading.Lock()
        self._checked_pid: int | None = None
        self._check_lock = threading.Lock()  # not _lock: ensure_table holds that while connecting
        self.damage: str | None = None

    def connection(self) -> sqlite3.Connection:
        if self.damage is not None:
            raise StoreDamaged(self.damage)
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            try:
                conn = self._open()
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                raise self.damaged(exc) from None
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        if self._checked_pid != os.getpid():
            with self._check_lock:
                if self._checked_pid != os.getpid():
                    problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
                    if problems != ["ok"]:
                        conn.close()
                        raise sqlite3.DatabaseError("database disk image is malformed: " + "; ".join(problems)[:400])
                    self._checked_pid = os.getpid()
        for _ in range(50):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                time.sleep(0.05)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def damaged(self, exc: BaseException) -> StoreDamaged:
        """Remember the damage (later calls are refused at once) and the error to raise."""
        self.damage = self.damage or damage_message(self.path, str(exc))
        return StoreDamaged(self.damage)

    def ensure_table(self, spec: TableSpec) -> None:
        if spec.name in self._created:
            return
        with self._lock:
            conn = self.connection()
            columns = ["pk TEXT NOT NULL", "sk TEXT NOT NULL", "item TEXT NOT NULL"]
            for index in spec.indexes:
                columns += [f'"{_col(index.name, "pk")}" TEXT', f'"{_col(index.name, "sk")}" TEXT']
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{spec.name}" ({", ".join(columns)}, PRIMARY KEY (pk, sk)) WITHOUT ROWID'
            )
            for index in spec.indexes:
                conn.execute(
                    f'CREATE INDEX IF NOT EXISTS "{spec.name}_{index.name}" ON "{spec.name}" '
                    f'("{_col(index.name, "pk")}", "{_col(index.name, "sk")}", pk, sk)'
                )
            self._created.add(spec.name)

    def table_names(self) -> list[str]:
        rows = self.connection().execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        return sorted(r[0] for r in rows)


def _col(index_name: str, part: str) -> str:
    return f"g_{index_name}_{part}"


def _guarded(method):
    """Damage found while reading or writing becomes StoreDamaged (and closes the store)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            raise self._db.damaged(exc) from None

    return wrapper


class SqliteTable:
    def __init__(self, database: SqliteDatabase, spec: TableSpec, physical_name: str | None = None):
        if physical_name and physical_name != spec.name:
            spec = TableSpec(physical_name, spec.partition_key, spec.sort_key, spec.indexes)
        self.spec = spec
        self._db = database
        database.ensure_table(spec)
        self._name = f'"{spec.name}"'

    # --- helpers -------------------------------------------------------------------------------
    def _key_values(self, key: Item) -> tuple[str, str]:
        pk, sk = key.get(self.spec.partition_key), key.get(self.spec.sort_key)
        if not isinstance(pk, str) or not isinstance(sk, str) or not pk or not sk:
            raise ValueError(
                f"{self.spec.name}: key needs non-empty strings {self.spec.partition_key!r} and {self.spec.sort_key!r}"
            )
        return pk, sk

    def _row_values(self, item: Item) -> list:
        pk, sk = self._key_values(item)
        values: list = [pk, sk, encode_item(item)]
        for index in self.spec.indexes:
            gpk, gsk = item.get(index.partition_key), item.get(index.sort_key)
            if isinstance(gpk, str) and isinstance(gsk, str):
                values += [gpk, gsk]
            else:
                values += [None, None]
        return values

    def _insert_sql(self) -> str:
        n = 3 + 2 * len(self.spec.indexes)
        return f"INSERT OR REPLACE INTO {self._name} VALUES ({', '.join('?' * n)})"

    def _read(self, conn: sqlite3.Connection, pk: str, sk: str) -> Item | None:
        row = conn.execute(f"SELECT item FROM {self._name} WHERE pk=? AND sk=?", (pk, sk)).fetchone()
        return decode_item(row[0]) if row else None

    def _transaction(self):
        return _Immediate(self._db.connection())

    # --- Table port ----------------------------------------------------------------------------
    @_guarded
    def get(self, key: Item, *, consistent: bool = True) -> Item | None:
        pk, sk = self._key_values(key)
        return self._read(self._db.connection(), pk, sk)

    @_guarded
    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        values = self._row_values(item)
        with self._transaction() as conn:
            if condition is not None:
                old = self._read(conn, values[0], values[1])
                check_condition(old, condition, self.spec.name, self.spec.key_of(item))
            conn.execute(self._insert_sql(), values)

    @_guarded
    def update(self, key: Item, update: Update, *, condition: Condition | None = None) -> Item:
        pk, sk = self._key_values(key)
        clean_key = {self.spec.partition_key: pk, self.spec.sort_key: sk}
        with self._transaction() as conn:
            old = self._read(conn, pk, sk)
            check_condition(old, condition, self.spec.name, clean_key)
            new = apply_update(old, clean_key, update, old_is_private=True)  # decoded just now
            conn.execute(self._insert_sql(), self._row_values(new))
        return new

    @_guarded
    def delete(self, key: Item, *, condition: Condition | None = None) -> Item | None:
        pk, sk = self._key_values(key)
        with self._transaction() as conn:
            old = self._read(conn, pk, sk)
            check_condition(old, condition, self.spec.name, {self.spec.partition_key: pk, self.spec.sort_key: sk})
            if old is not None:
                conn.execute(f"DELETE FROM {self._name} WHERE pk=? AND sk=?", (pk, sk))
        if old is None and condition is not None and condition.exists:
            raise ItemNotFound(f"{self.spec.name}: no item {key}")
        return old

    @_guarded
    def query(
        self,
        partition: str,
        sort: SortKey | None = None,
        *,
        index: str | None = None,
        limit: int | None = None,
        start_key: Item | None = None,
        descending: bool = False,
    ) -> Page:
        if index is None:
            pk_col, sk_col, order = "pk", "sk", ["sk"]
        else:
            spec = self.spec.index(index)
            pk_col, sk_col = f'"{_col(spec.name, "pk")}"', f'"{_col(spec.name, "sk")}"'
            order = [sk_col, "pk", "sk"]
        where = [f"{pk_col} = ?"]
        args: list = [partition]
        if sort is not None:
            clause, sort_args = _sort_clause(sk_col, sort)
            where.append(clause)
            args += sort_args
        if start_key is not None:
            cursor = [start_key["_sk"]] if index is None else [start_key["_gsk"], start_key["_pk"], start_key["_sk"]]
            op = "<" if descending else ">"
            where.append(f"({', '.join(order)}) {op} ({', '.join('?' * len(order))})")
            args += cursor
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT item, pk, sk{', ' + sk_col if index else ''} FROM {self._name} WHERE {' AND '.join(where)} "
            f"ORDER BY {', '.join(o + ' ' + direction for o in order)}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._db.connection().execute(sql, args).fetchall()
        items = [decode_item(r[0]) for r in rows]
        next_key = None
        if limit is not None and len(rows) == limit:
            last = rows[-1]
            next_key = {"_pk": last[1], "_sk": last[2]}
            if index is not None:
                next_key["_gsk"] = last[3]
        return Page(items, next_key)

    def query_all(
        self,
        partition: str,
        sort: SortKey | None = None,
        *,
        index: str | None = None,
        descending: bool = False,
    ) -> Iterator[Item]:
        start = None
        while True:
            page = self.query(partition, sort, index=index, limit=1000, start_key=start, descending=descending)
            yield from page.items
            if page.next_key is None:
                return
            start = page.next_key

    @_guarded
    def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Item] = ()) -> None:
        rows = [self._row_values(item) for item in puts]
        keys = [self._key_values(key) for key in deletes]
        with self._transaction() as conn:
            if rows:
                conn.executemany(self._insert_sql(), rows)
            if keys:
                conn.executemany(f"DELETE FROM {self._name} WHERE pk=? AND sk=?", keys)

    @_guarded
    def scan(self, *, limit: int | None = None, start_key: Item | None = None) -> Page:
        sql = f"SELECT item, pk, sk FROM {self._name}"
        args: list = []
        if start_key is not None:
            sql += " WHERE (pk, sk) > (?, ?)"
            args = [start_key["_pk"], start_key["_sk"]]
        sql += " ORDER BY pk, sk"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._db.connection().execute(sql, args).fetchall()
        next_key = {"_pk": rows[-1][1], "_sk": rows[-1][2]} if limit is not None and len(rows) == limit else None
        return Page([decode_item(r[0]) for r in rows], next_key)

    def scan_all(self) -> Iterator[Item]:
        start = None
        while True:
            page = self.scan(limit=1000, start_key=start)
            yield from page.items
            if page.next_key is None:
                return
            start = page.next_key

    @_guarded
    def count(self) -> int:
        return self._db.connection().execute(f"SELECT COUNT(*) FROM {self._name}").fetchone()[0]


def _sort_clause(column: str, sort: SortKey) -> tuple[str, list]:
    if sort.op == "eq":
        return f"{column} = ?", [sort.value]
    if sort.op == "begins_with":
        # substr comparison keeps it exact for any characters (no LIKE wildcards).
        return f"substr({column}, 1, ?) = ?", [len(sort.value), sort.value]
    if sort.op == "between":
        return f"{column} BETWEEN ? AND ?", [sort.value, sort.upper]
    ops = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
    return f"{column} {ops[sort.op]} ?", [sort.value]


class _Immediate:
    """`BEGIN IMMEDIATE ... COMMIT`, rolled back on error: one writer at a time across processes."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return self.conn
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
