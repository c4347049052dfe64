"""`bioims ui [--host 127.0.0.1] [--port 8765] [--search-url URL]`: the web UI on the configured
backend (bioims.ui). Loopback by default: the UI has no login; on AWS reach it through SSM port
forwarding (docs/ui.md)."""

from __future__ import annotations

import click

from bioims.cli.common import CliError, cannot_serve, console, listen_options
from bioims.ui import DEFAULT_PORT
from bioims.ui.data import UiData
from bioims.ui.server import UiServer


@click.command("ui")
@listen_options(DEFAULT_PORT, "Address to listen on (0.0.0.0 exposes the UI, which has no login).", "Port")
@click.option(
    "--search-url",
    default=None,
    help="The search service's HTTP API (e.g. http://127.0.0.1:8080); default: the search client.",
)
@click.option(
    "--search-timeout",
    type=click.FloatRange(0.5, 600),
    default=30,
    show_default=True,
    help="Seconds to wait for a search.",
)
def ui(host: str, port: int, search_url: str | None, search_timeout: float) -> None:
    """Browse plates and images, search by example, read trainings and evaluation reports."""
    if search_url is not None and not search_url.startswith(("http://", "https://")):
        raise CliError(f"--search-url must start with http:// or https://, not {search_url!r}")
    try:
        server = UiServer(UiData(search_url=search_url, search_timeout=search_timeout), host, port)
    except OSError as exc:
        raise cannot_serve(host, port, exc) from None
    console.print(f"bioimage-search UI on {server.url}/ (Ctrl-C stops it)", highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"warning: the UI has no login and now listens on {host}: keep it off public networks", style="yellow"
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
