"""Shared CLI plumbing: JSON/rich output, exit codes, and error reporting as one line (a stack
trace only with --debug or BIOIMS_DEBUG=1)."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from bioims.clients.base import ClientError
from bioims.errors import BioimsError, status_of
from bioims.services import models

console = Console()
err_console = Console(stderr=True, highlight=False)

# Exit codes of every command (shown at the end of each command's --help).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 failed (the work, a service or an AWS call failed); 2 usage error (a bad "
    "option, value or request, nothing was done); 3 partly failed (some items failed, the rest is "
    "done; re-run to retry them); 130 interrupted (re-run to continue). Errors are one line; "
    "--debug or BIOIMS_DEBUG=1 adds the stack trace."
)


class CliError(click.ClickException):
    """An error the user can act on; printed without a stack trace, exit code 1."""


class UsageError(CliError):
    """A bad value caught before any work was done: exit code 2."""

    exit_code = EXIT_USAGE


_Command = TypeVar("_Command", bound=Callable[..., Any])


def listen_options(default_port: int, host_help: str, port_help: str) -> Callable[[_Command], _Command]:
    """--host (loopback by default: what we serve has no login) and --port (0: any free port) of a
    command that serves HTTP until interrupted (`bioims ui`, `bioims search serve`)."""

    def decorate(command: _Command) -> _Command:
        command = click.option(
            "--port",
            type=click.IntRange(0, 65535),
            default=default_port,
            show_default=True,
            help=f"{port_help} (0: any free port).",
        )(command)
        return click.option("--host", default="127.0.0.1", show_default=True, help=host_help)(command)

    return decorate


def cannot_serve(host: str, port: int, exc: OSError) -> CliError:
    """The error of a server that could not bind (port taken, address not ours)."""
    return CliError(f"cannot serve on {host}:{port}: {exc}")


def emit(value: Any, as_json: bool) -> None:
    """Print a result: compact JSON for machines, pretty JSON for people."""
    if as_json:
        click.echo(json.dumps(value, default=str))
    else:
        console.print_json(json.dumps(value, default=str))


def debug_enabled() -> bool:
    return os.environ.get("BIOIMS_DEBUG", "").strip().lower() in ("1", "true", "yes")


def quiet_service_log() -> None:
    """The services log each error they answer (for Lambda's logs); the CLI prints that answer
    already, as one line, so their log (a stack trace for a 500) is shown only with --debug."""
    if not debug_enabled():
        service_log = logging.getLogger("bioims.services")
        service_log.addHandler(logging.NullHandler())
        service_log.propagate = False


def document_exit_codes(command: click.Command) -> None:
    """Append the exit codes to the help of `command` and of every command below it."""
    if EXIT_CODES_HELP not in (command.epilog or ""):
        command.epilog = f"{command.epilog}\n\n{EXIT_CODES_HELP}" if command.epilog else EXIT_CODES_HELP
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            document_exit_codes(sub)


def aws_call_of(exc: BaseException) -> tuple[str, str]:
    """(service, operation) of the botocore call that raised `exc`, read from the client frame in
    its traceback (botocore's own errors name neither the service nor, for credentials, the call)."""
    service, operation = "aws", getattr(exc, "operation_name", "") or ""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "_make_api_call":
            client = frame.f_locals.get("self")
            meta = getattr(client, "meta", None)
            if meta is not None:
                service = meta.service_model.service_name
            operation = frame.f_locals.get("operation_name") or operation
        tb = tb.tb_next
    return service, operation


def describe_aws_error(exc: BaseException) -> str:
    """One line naming the AWS service, the call and the cause."""
    service, operation = aws_call_of(exc)
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        cause = f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".rstrip(": ")
    else:
        cause = f"{type(exc).__name__}: {exc}"
    call = f"{service} {operation}".strip()
    return f"AWS call {call} failed: {cause}"


def exit_code_of(status: int) -> int:
    """The exit code of an error's HTTP-style status (bioims.errors.status_of, or a service's
    answer): the request's own fault (400) is a usage error, anything else a failure."""
    return EXIT_USAGE if status == 400 else EXIT_FAILED


def _fail(message: str, code: int) -> None:
    # escaped: a message may hold brackets ("bioimage-search[aws]") that are not markup
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    if debug_enabled():
        err_console.print(traceback.format_exc(), soft_wrap=True, markup=False)
    sys.exit(code)


def run_cli(group: click.Group) -> None:
    """Run the command line; every outcome becomes an exit code (see EXIT_CODES_HELP)."""
    try:
        # standalone_mode=False returns (instead of raising) a click Exit's code: pass it on.
        code = group.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        if debug_enabled():
            err_console.print(traceback.format_exc(), soft_wrap=True, markup=False)
        sys.exit(exc.exit_code)
    except ClientError as exc:  # a service's answer, as received: its status decides
        _fail(str(exc), exit_code_of(exc.status))
    except BioimsError as exc:  # the error family (store, config, services...): its status decides
        _fail(exc.message, exit_code_of(status_of(exc)))
    except KeyboardInterrupt:
        err_console.print("interrupted; re-run the same command to continue where it stopped")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if type(exc).__module__.startswith(("botocore", "boto3", "s3transfer")):
            _fail(describe_aws_error(exc), EXIT_FAILED)
        _fail(f"{type(exc).__name__}: {exc} (an internal error; --debug shows where)", EXIT_FAILED)
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        sys.exit(code)


class _Pattern(click.ParamType):
    """A string checked against one of bioims' name rules before any work is done."""

    def __init__(self, name: str, pattern: str, max_length: int, rule: str):
        import re

        self.name, self._regex, self._max, self._rule = name, re.compile(pattern), max_length, rule

    def convert(self, value: Any, param, ctx) -> str:
        text = str(value)
        if len(text) > self._max or not self._regex.match(text):
            self.fail(f"{text!r} is not a valid {self.name}: at most {self._max} {self._rule}", param, ctx)
        return text


def _types() -> tuple[_Pattern, _Pattern]:
    return (
        _Pattern("embedding name", models.EMBEDDING_NAME_PATTERN, models.EMBEDDING_NAME_MAX, models.ID_RULE),
        _Pattern("id", models.ID_PATTERN, 256, models.ID_RULE),
    )


EMBEDDING_NAME, ID = _types()
