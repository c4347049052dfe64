"""The running search service: engine + queue consumers + HTTP API, wired to a backend's stores.

The same object runs as the Fargate container's main (search_service/), as `bioims search serve`
on the local backend, and embedded in a local process (`EmbeddedSearch`: queues drained in the
caller's thread right after a message is sent). Start order: load snapshots, then consume and
serve, so nothing is answered from a half-loaded index.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bioims import ids, keys, resources, tables
from bioims.search.consumer import QueueConsumer, object_dead_letter
from bioims.search.engine import SearchEngine
from bioims.search.handlers import Disposition, Handled, MessageHandler
from bioims.search.httpapi import SearchHttpServer
from bioims.search.results import TableResults
from bioims.store.ports import ObjectNotFound

log = logging.getLogger("bioims.search")


@dataclass(frozen=True)
class ServiceOptions:
    http_host: str = "127.0.0.1"
    http_port: int | None = 0  # None: no HTTP API; 0: any free port
    max_receives: int = 3  # on AWS: the queues' redrive maxReceiveCount (stacks/queues.py)
    search_visibility_timeout: float = 120.0
    management_visibility_timeout: float = 900.0
    wait_seconds: float = 1.0  # idle long poll of the search queue = longest wait of a management message

    @staticmethod
    def from_env(env: Mapping[str, str]) -> ServiceOptions:
        """BIOIMS_SEARCH_HOST, BIOIMS_SEARCH_PORT ("none" = no HTTP), BIOIMS_SEARCH_MAX_RECEIVES."""
        port_text = env.get("BIOIMS_SEARCH_PORT", "8080").strip().lower()
        try:
            port = None if port_text in ("", "none", "off") else int(port_text)
            max_receives = int(env.get("BIOIMS_SEARCH_MAX_RECEIVES", str(ServiceOptions.max_receives)))
        except ValueError as exc:
            raise ValueError(f"invalid search service setting: {exc}") from None
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"BIOIMS_SEARCH_PORT must be 0-65535, not {port}")
        if max_receives < 1:
            raise ValueError("BIOIMS_SEARCH_MAX_RECEIVES must be at least 1")
        return ServiceOptions(
            http_host=env.get("BIOIMS_SEARCH_HOST", "127.0.0.1"), http_port=port, max_receives=max_receives
        )


class SearchServer:
    """Owns the engine; `start()` runs the consumers (and HTTP API) in daemon threads."""

    def __init__(
        self,
        stores,
        *,
        tag_source: Callable[[], Mapping[int, str]] | None = None,
        options: ServiceOptions = ServiceOptions(),
    ):
        self.options = options
        self.stores = stores
        self.engine = SearchEngine(stores.data, tag_source=tag_source)
        self.results = TableResults(stores.table(tables.SEARCH))
        self.handler = MessageHandler(self.engine, self.results)
        # Locally there is no DLQ: given-up messages are recorded as objects, then deleted.
        dead_letter = object_dead_letter(self.engine.snapshots) if stores.settings.backend == "local" else None
        self.management = QueueConsumer(
            stores.queue(resources.MANAGEMENT_QUEUE),
            self._handle_management,
            max_receives=options.max_receives,
            visibility_timeout=options.management_visibility_timeout,
            wait_seconds=options.wait_seconds,
            dead_letter=dead_letter,
        )
        self.searches = QueueConsumer(
            stores.queue(resources.SEARCH_QUEUE),
            self.handler.handle_searches,
            max_receives=options.max_receives,
            visibility_timeout=options.search_visibility_timeout,
            wait_seconds=options.wait_seconds,
            dead_letter=dead_letter,
            on_give_up=self.handler.give_up_search,
            before_handling=self._handle_waiting_management,
        )
        self.generation: str | None = None
        self.http: SearchHttpServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _handle_waiting_management(self) -> None:
        """A search received while long-polling may have been sent after a management message
        (load a plate, the tag labels) that arrived during the same poll: handle those first."""
        while self.management.poll_once(wait_seconds=0):
            pass

    def _handle_management(self, bodies: Sequence[str]) -> list[Handled]:
        handled = self.handler.handle_management(bodies)
        if any(h.disposition is Disposition.DONE for h in handled):
            self.generation = ids.new_id()
            self.stores.data.put_bytes(keys.search_generation_key(), self.generation.encode("ascii"))
        return handled

    def stored_generation(self) -> str | None:
        try:
            return self.stores.data.get_bytes(keys.search_generation_key()).decode("ascii")
        except ObjectNotFound:
            return None

    def load(self) -> dict:
        self.generation = self.stored_generation()
        return self.engine.load()

    def start(self, *, load: bool = True) -> SearchServer:
        if load:
            self.load()
        if self.options.http_port is not None:
            self.http = SearchHttpServer(self.engine, self.options.http_host, self.options.http_port).start()
            log.info("search: HTTP API on %s", self.http.url)
        thread = threading.Thread(target=self._consume, name="search-queues", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _consume(self) -> None:
        """One loop for both queues, management first: a search sent after a management message
        (load a plate, load the tag labels) is answered after it. Idle, it long-polls the search
        queue for `wait_seconds`, which bounds how long a management message waits."""
        failures = 0
        while not self._stop.is_set():
            try:
                if self.management.poll_once(wait_seconds=0) == 0:
                    self.engine.refresh_ann()  # management idle: (re)build approximate indexes
                    self.searches.poll_once(wait_seconds=self.options.wait_seconds)
                failures = 0
            except Exception:
                failures += 1
                log.exception("search: receiving from the queues failed")
                self._stop.wait(min(30.0, float(failures)))

    def drain(self, max_batches: int = 10_000) -> int:
        """Handle what is waiting now, management first, in this thread; returns the number of
        messages received. A message that failed becomes visible again only after its
        visibility timeout, so a drain ends instead of spinning on it."""
        total = 0
        for _ in range(max_batches):
            got = self.management.poll_once(wait_seconds=0)
            if got == 0:
                self.engine.refresh_ann()  # management idle: (re)build approximate indexes
                got = self.searches.poll_once(wait_seconds=0)
            if got == 0:
                break
            total += got
        return total

    def stop(self) -> None:
        self._stop.set()
        if self.http is not None:
            self.http.stop()
        for thread in self._threads:
            thread.join(timeout=self.options.wait_seconds + 5)
        self._threads.clear()

    def wait(self) -> None:
        """Block until stopped (the container's main loop)."""
        self._stop.wait()


class ServerLock:
    """An exclusive lock file in the local data directory, held by the process that consumes the
    local queues: a running `bioims search serve`, or an embedded drain. The operating system
    releases it when the holder dies, so a crash never leaves it stuck."""

    def __init__(self, home: Path):
        self.path = Path(home) / "search-server.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


_drain_locks: dict[Path, threading.Lock] = {}
_drain_locks_guard = threading.Lock()


def _drain_lock(home: Path) -> threading.Lock:
    """The one lock of this process's embedded drains of a data directory. Threads of one process
    take turns on it before they try the directory's lock file: with a lock per EmbeddedSearch,
    a thread whose drain found the file locked by another thread of its own process took that for
    a `bioims search serve` process and left its message in the queue (two plates loaded at once
    by the search-train-loader's threads: one plate's embeddings went missing)."""
    with _drain_locks_guard:
        return _drain_locks.setdefault(Path(home).resolve(), threading.Lock())


class EmbeddedSearch:
    """The search service inside a local process (the default on the local backend): after a
    message is sent, `drain()` handles the queues in the caller's thread, unless a `bioims search
    serve` process owns them. Before draining, the engine is reloaded if another process changed
    the index since it was loaded."""

    def __init__(self, stores, *, tag_source: Callable[[], Mapping[int, str]] | None = None):
        self.stores = stores
        self.tag_source = tag_source
        self._server: SearchServer | None = None
        self._lock = _drain_lock(stores.settings.home)
        self._file_lock = ServerLock(stores.settings.home)

    def server(self) -> SearchServer:
        """The embedded server, loaded and current with the stored index."""
        if self._server is None or self._server.generation != self._server.stored_generation():
            server = SearchServer(
                self.stores, tag_source=self.tag_source, options=ServiceOptions(http_port=None, wait_seconds=0)
            )
            server.load()
            self._server = server
        return self._server

    def drain(self) -> bool:
        """Handle waiting messages here; False if another process serves the queues."""
        with self._lock:
            if not self._file_lock.try_acquire():
                return False
            try:
                self.server().drain()
            finally:
                self._file_lock.release()
            return True


class ServerBusy(RuntimeError):
    """Another process already serves the local queues."""


def serve(
    stores,
    *,
    options: ServiceOptions,
    tag_source: Callable[[], Mapping[int, str]] | None = None,
    on_ready: Callable[[SearchServer], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the search service until SIGTERM/SIGINT (or `stop`): the container's and `bioims search
    serve`'s main. On the local backend it first takes the server lock, so embedded drains in
    other processes leave the queues to it."""
    lock = None
    if stores.settings.backend == "local":
        lock = ServerLock(stores.settings.home)
        if not lock.try_acquire():
            raise ServerBusy(f"another search server is running for {stores.settings.home} (lock {lock.path})")
    server = SearchServer(stores, tag_source=tag_source, options=options)
    try:
        summary = server.load()
        log.info("search: index loaded: %s", summary)
        server.start(load=False)
        if on_ready is not None:
            on_ready(server)
        done = stop or threading.Event()
        if threading.current_thread() is threading.main_thread():
            import signal

            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: done.set())
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        if lock is not None:
            lock.release()
