"""Shared CLI plumbing: JSON/rich output, error reporting without stack traces."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class CliError(click.ClickException):
    """An error the user can act on; printed without a stack trace, exit code 1."""


def emit(value: Any, as_json: bool) -> None:
    """Print a result: compact JSON for machines, pretty JSON for people."""
    if as_json:
        click.echo(json.dumps(value, default=str))
    else:
        console.print_json(json.dumps(value, default=str))


def run_cli(group: click.Group) -> None:
    from bioims.clients.base import ClientError
    from bioims.config import ConfigError
    from bioims.store.ports import StoreDamaged

    try:
        group.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ClientError, ConfigError, StoreDamaged) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted; re-run the same command to continue where it stopped")
        sys.exit(130)
