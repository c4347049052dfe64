"""The search service's HTTP API on the standard library's threading HTTP server.

Routes: GET /health, GET /trainings, GET /trainings/{trainId}, POST /search, GET /openapi.json.
Binds 127.0.0.1 unless told otherwise; on AWS it listens inside the VPC only (no public
endpoint). Errors are JSON {error, message} with a 4xx status; a stack trace never leaves.
"""

from __future__ import annotations

import json
import logging
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from bioims import errors, jsonlimits
from bioims.errors import InvalidRequest, NotFound, PayloadTooLarge, UnknownTraining
from bioims.httpthread import BackgroundHttpServer
from bioims.search.engine import SearchEngine
from bioims.search.openapi import document

log = logging.getLogger("bioims.search.http")

MAX_BODY = 1 << 20  # 1 MiB: a query is a few hundred numbers at most
DISCARD_LIMIT = 16 * MAX_BODY


class _PayloadTooLarge(PayloadTooLarge):
    """Named so because the API's 413 body has always said "_PayloadTooLarge"."""


def _handler_class(engine: SearchEngine) -> type[BaseHTTPRequestHandler]:
    openapi = json.dumps(document()).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "bioims-search"
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args) -> None:  # route access logs to logging
            log.debug("%s " + format, self.address_string(), *args)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path == "/health":
                self._send(200, health(engine))
            elif path == "/openapi.json":
                self._send_bytes(200, openapi)
            elif path == "/trainings":
                self._send(200, {"trainings": engine.trainings()})
            elif path.startswith("/trainings/"):
                self._guard(lambda: training_detail(engine, unquote(path[len("/trainings/") :])))
            else:
                self._send(*errors.answer(NotFound(f"no route GET {path}")))

        def do_POST(self) -> None:
            path = urlsplit(self.path).path.rstrip("/")
            if path != "/search":
                self._send(*errors.answer(NotFound(f"no route POST {path}")))
                return
            self._guard(lambda: engine.search(self._json_body()).to_json())

        def _json_body(self) -> dict:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise InvalidRequest("invalid Content-Length") from None
            if length > MAX_BODY:
                self._discard(length)
                raise _PayloadTooLarge(f"request body of {length} bytes exceeds {MAX_BODY}")
            raw = self.rfile.read(length) if length > 0 else b""
            try:
                body = jsonlimits.loads(raw or b"null")
            except jsonlimits.JsonInputError as exc:
                raise InvalidRequest(f"request body: {exc}") from None
            if not isinstance(body, dict):
                raise InvalidRequest("request body must be a JSON object")
            return body

        def _discard(self, length: int) -> None:
            """Read (and drop) a moderately oversized body so the client sees the 413 rather
            than a broken pipe; beyond that the connection is simply closed."""
            if length <= DISCARD_LIMIT:
                while length > 0:
                    chunk = self.rfile.read(min(length, 1 << 16))
                    if not chunk:
                        break
                    length -= len(chunk)

        def _guard(self, produce) -> None:
            try:
                self._send(200, produce())
            except Exception as exc:  # status and body from the one mapping; a stack trace never leaves
                if not isinstance(exc, errors.RequestError):
                    log.exception("search http: internal error")
                self._send(*errors.answer(exc))

        def _send(self, status: int, body: dict) -> None:
            self._send_bytes(status, json.dumps(body).encode("utf-8"))

        def _send_bytes(self, status: int, data: bytes) -> None:
            if status == 413:
                self.close_connection = True  # the unread body would corrupt the next request
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def health(engine: SearchEngine) -> dict:
    trainings = engine.trainings()
    return {
        "status": "ok",
        "trainings": len(trainings),
        "images": sum(t["images"] for t in trainings),
        "uptimeSeconds": round(time.time() - engine.started_at, 3),
        "tags": engine.tag_summary(),
        "loadErrors": list(engine.load_errors),
    }


def training_detail(engine: SearchEngine, train_id: str) -> dict:
    for entry in engine.trainings():
        if entry["trainId"] == train_id:
            return {**entry, "plates": engine.training(train_id).plates()}
    raise UnknownTraining(f"training {train_id!r} is not loaded in the search index")


class SearchHttpServer(BackgroundHttpServer):
    """The HTTP API in a background thread or the foreground. port 0 picks a free port (see `url`)."""

    thread_name = "search-http"

    def __init__(self, engine: SearchEngine, host: str = "127.0.0.1", port: int = 0):
        super().__init__(_handler_class(engine), host, port)
