"""Fixtures of the BBBC021 tests: the real design (loaded once) and a local HTTP file server with
Range support and fault injection, standing in for data.broadinstitute.org."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bioims.bbbc021.design import Design, load_design


@pytest.fixture(scope="session")
def design() -> Design:
    return load_design()


@dataclass
class ServerState:
    root: Path
    ignore_range: bool = False
    truncate_once: set[str] = field(default_factory=set)  # names whose first GET stops half-way
    log: list[tuple[str, str | None]] = field(default_factory=list)  # (name, Range header)


def _handler(state: ServerState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            range_header = self.headers.get("Range")
            state.log.append((name, range_header))
            path = state.root / name
            if "/" in name or not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start = 0
            if range_header and not state.ignore_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if name in state.truncate_once:
                state.truncate_once.discard(name)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def http_server(tmp_path):
    """(base_url, state): serves files of state.root on 127.0.0.1."""
    state = ServerState(root=tmp_path / "served")
    state.root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", state
    finally:
        server.shutdown()
        server.server_close()
