"""The running search service: engine + queue consumers + HTTP API, wired to a backend's stores.

The same object runs in-process on the local backend (tests, the walkthrough, `bioims search
serve`) and as the Fargate container's main (search_service/). Start order: load snapshots, then
consume and serve, so nothing is answered from a half-loaded index.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Mapping

from bioims import resources, tables
from bioims.search.consumer import QueueConsumer, object_dead_letter
from bioims.search.engine import SearchEngine
from bioims.search.handlers import MessageHandler
from bioims.search.httpapi import SearchHttpServer
from bioims.search.results import TableResults

log = logging.getLogger("bioims.search")


@dataclass(frozen=True)
class ServiceOptions:
    http_host: str = "127.0.0.1"
    http_port: int | None = 0  # None: no HTTP API; 0: any free port
    max_receives: int = 5  # on AWS: the queues' redrive maxReceiveCount
    search_visibility_timeout: float = 120.0
    management_visibility_timeout: float = 900.0
    wait_seconds: float = 10.0

    @staticmethod
    def from_env(env: Mapping[str, str]) -> "ServiceOptions":
        """BIOIMS_SEARCH_HOST, BIOIMS_SEARCH_PORT ("none" = no HTTP), BIOIMS_SEARCH_MAX_RECEIVES."""
        port_text = env.get("BIOIMS_SEARCH_PORT", "8080").strip().lower()
        try:
            port = None if port_text in ("", "none", "off") else int(port_text)
            max_receives = int(env.get("BIOIMS_SEARCH_MAX_RECEIVES", "5"))
        except ValueError as exc:
            raise ValueError(f"invalid search service setting: {exc}") from None
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"BIOIMS_SEARCH_PORT must be 0-65535, not {port}")
        if max_receives < 1:
            raise ValueError("BIOIMS_SEARCH_MAX_RECEIVES must be at least 1")
        return ServiceOptions(http_host=env.get("BIOIMS_SEARCH_HOST", "127.0.0.1"), http_port=port, max_receives=max_receives)


class SearchServer:
    """Owns the engine; `start()` runs the consumers (and HTTP API) in daemon threads."""

    def __init__(self, stores, *, tag_source: Callable[[], Mapping[int, str]] | None = None, options: ServiceOptions = ServiceOptions()):
        self.options = options
        self.engine = SearchEngine(stores.data, tag_source=tag_source)
        self.results = TableResults(stores.table(tables.SEARCH))
        self.handler = MessageHandler(self.engine, self.results)
        # Locally there is no DLQ: given-up messages are recorded as objects, then deleted.
        dead_letter = object_dead_letter(self.engine.snapshots) if stores.settings.backend == "local" else None
        self.management = QueueConsumer(
            stores.queue(resources.MANAGEMENT_QUEUE),
            self.handler.handle_management,
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
        )
        self.http: SearchHttpServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, *, load: bool = True) -> "SearchServer":
        if load:
            self.engine.load()
        if self.options.http_port is not None:
            self.http = SearchHttpServer(self.engine, self.options.http_host, self.options.http_port).start()
            log.info("search: HTTP API on %s", self.http.url)
        for name, consumer in (("search-management", self.management), ("search-queries", self.searches)):
            thread = threading.Thread(target=consumer.run, args=(self._stop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def drain(self, max_batches: int = 1000) -> int:
        """Handle what is waiting now, management first, without background threads (the
        embedded local runtime and tests); returns the number of messages received."""
        total = 0
        for _ in range(max_batches):
            got = self.management.poll_once(wait_seconds=0)
            if got == 0:
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
