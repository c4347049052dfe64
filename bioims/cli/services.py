"""`bioims <service> <method> [--param value ...]`: every API method of every service.

Option values are JSON when they parse as JSON (numbers, lists, objects, true/false), except for
parameters that only take strings; `@path` reads the value from a JSON file. Output is the
response body as JSON.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import click

from bioims import client, jsonlimits
from bioims.cli.common import UsageError, emit
from bioims.services.registry import available_services, service_class


def _string_only(annotation: Any) -> bool:
    """True when a field accepts only strings (so '123' must stay a string)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _string_only(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return all(_string_only(a) for a in args)
    return annotation is str


def _parse(name: str, value: str, string_only: bool) -> Any:
    """An option value: `@path` is a JSON file, else JSON when it parses (strings stay strings
    for string-only parameters). Bad files and too deeply nested values are usage errors."""
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise UsageError(f"--{name}: file {path} does not exist")
        try:
            return jsonlimits.loads(path.read_bytes())
        except jsonlimits.JsonInputError as exc:
            raise UsageError(
                f"--{name}: file {path} is {exc}"
                if str(exc).startswith("not JSON")
                else f"--{name}: file {path}: {exc}"
            ) from None
    if string_only:
        return value
    try:
        return jsonlimits.loads(value)
    except jsonlimits.JsonInputError as exc:
        if "nested deeper" in str(exc):
            raise UsageError(f"--{name}: {exc}") from None
        return value


def _method_command(service: str, method_name: str, api_method) -> click.Command:
    fields = api_method.model.model_fields
    params: list[click.Parameter] = [
        click.Option(
            [f"--{name}", name],
            required=field.is_required(),
            help=(field.description or "") + (" (JSON)" if not _string_only(field.annotation) else ""),
        )
        for name, field in fields.items()
    ]
    params.append(click.Option(["--json", "as_json"], is_flag=True, help="Compact JSON output."))

    def callback(as_json: bool, **values: Any) -> None:
        request = {
            name: _parse(name, value, _string_only(fields[name].annotation))
            for name, value in values.items()
            if value is not None
        }
        body = client(service).call(method_name, **request)
        emit(body, as_json)

    return click.Command(
        method_name, params=params, callback=callback, help=api_method.doc or f"{service} {method_name}"
    )


def _service_group(service: str) -> click.Group:
    group = click.Group(service, help=f"Call the {service} service.")
    for method_name, api_method in sorted(service_class(service).api_methods().items()):
        group.add_command(_method_command(service, method_name, api_method))
    return group


def register_service_commands(main: click.Group) -> None:
    for service in available_services():
        if service in main.commands:
            # A richer hand-written group exists (e.g. `search`): add the raw methods under it.
            existing = main.commands[service]
            if isinstance(existing, click.Group):
                for name, command in _service_group(service).commands.items():
                    existing.commands.setdefault(name, command)
            continue
        main.add_command(_service_group(service))
