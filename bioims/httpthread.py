"""A threaded HTTP server that runs in a background thread or the foreground.

The search service's HTTP API and the web UI serve the same way; this is the one place that
starts, serves and stops such a server.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class BackgroundHttpServer:
    """`handler_class` served on (host, port); port 0 picks a free port (see `address`, `url`)."""

    thread_name = "http"

    def __init__(self, handler_class: type[BaseHTTPRequestHandler], host: str, port: int):
        self._server = ThreadingHTTPServer((host, port), handler_class)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def before_serving(self) -> None:
        """Work to start once serving begins (nothing by default)."""

    def start(self) -> Self:
        self.before_serving()
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.before_serving()
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
