"""The UI's HTTP server on the standard library's threading server (like the search API).

Routes: /plates, /plates/{plateId}, /images/{imageId}, /search, /trainings, /trainings/{trainId},
/trainings/{trainId}/report, /object/{artifact key} (thumbnails, figures), /health. Binds
127.0.0.1 unless told otherwise: the UI has no login, so it is reached over loopback locally and
through SSM port forwarding on AWS, never through a public endpoint.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from bioims import errors
from bioims.errors import NotFound
from bioims.httpthread import BackgroundHttpServer
from bioims.ui import DEFAULT_PORT, views
from bioims.ui.data import UiData

log = logging.getLogger("bioims.ui")


def route(data: UiData, path: str, query: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of one GET; the whole of the UI's behaviour, testable without sockets."""
    params = views.Params(parse_qs(query, keep_blank_values=False))
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    html = "text/html; charset=utf-8"
    try:
        if not parts:
            return 302, "/plates", b""
        if parts[0] == "object" and len(parts) > 1:
            key = "/".join(parts[1:])
            body = data.object_bytes(key)
            if body is None:
                raise NotFound(f"no object {key!r}")
            return 200, mimetypes.guess_type(key)[0] or "application/octet-stream", body
        if parts == ["health"]:
            return 200, "application/json", b'{"status": "ok"}'
        page = _page(data, parts, params)
        if page is None:
            raise NotFound(f"There is no page {path!r}.")
        status, text = page
        return status, html, text.encode()
    except NotFound as exc:  # the status from the one mapping, the page of its own
        return errors.status_of(exc), html, views.not_found_page(exc.message).encode()


def _page(data: UiData, parts: list[str], params: views.Params) -> tuple[int, str] | None:
    def ok(text: str) -> tuple[int, str]:
        return 200, text

    match parts:
        case ["plates"]:
            return ok(views.plates_view(data, params))
        case ["plates", plate_id]:
            return ok(views.plate_view(data, plate_id, params))
        case ["images", image_id]:
            return ok(views.image_view(data, image_id, params))
        case ["search"]:
            return views.search_view(data, params)
        case ["trainings"]:
            return ok(views.trainings_view(data, params))
        case ["trainings", train_id]:
            return ok(views.training_view(data, train_id, params))
        case ["trainings", train_id, "report"]:
            return ok(views.report_view(data, train_id, params))
    return None


def _handler_class(data: UiData) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "bioims-ui"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes (see bioims.search.httpapi)

        def log_message(self, format: str, *args) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            try:
                status, content_type, body = route(data, parts.path, parts.query)
            except Exception as exc:  # status from the one mapping: a page that says so, no stack trace
                status, answer = errors.answer(exc)
                if status >= 500:
                    log.exception("ui: internal error on %s", self.path)
                content_type, body = "text/html; charset=utf-8", views.error_page(answer["message"]).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            if status == 302:
                self.send_header("Location", content_type)
                content_type, body = "text/plain", b""
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if parts.path.startswith("/object/") and status == 200:
                self.send_header("Cache-Control", "max-age=300")
            self.end_headers()
            self.wfile.write(body)

    return Handler


class UiServer(BackgroundHttpServer):
    """The UI in a background thread or the foreground. port 0 picks a free port (see `url`)."""

    thread_name = "ui-http"

    def __init__(self, data: UiData, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self.data = data
        super().__init__(_handler_class(data), host, port)

    def before_serving(self) -> None:
        """Load the search index in the background, so the first search does not wait for it."""
        threading.Thread(target=self.data.warm_search, name="ui-warm-search", daemon=True).start()


def ui_from_env(env, search_port: int | None, context=None) -> UiServer | None:
    """The UI beside the search service in its container, when BIOIMS_UI_PORT is set (unset,
    "" or "none": no UI). It listens on BIOIMS_UI_HOST (127.0.0.1: reached by SSM port forwarding
    only) and searches through the HTTP API on the task's loopback."""
    text = str(env.get("BIOIMS_UI_PORT", "")).strip().lower()
    if text in ("", "none", "off"):
        return None
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"BIOIMS_UI_PORT must be a port number or none, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"BIOIMS_UI_PORT must be 0-65535, not {port}")
    search_url = f"http://127.0.0.1:{search_port}" if search_port else None
    return UiServer(UiData(context, search_url=search_url), env.get("BIOIMS_UI_HOST", "127.0.0.1"), port)
