"""`bioims <service> <method> [--param value ...]`: every API method of every service.

Option values are JSON when they parse as JSON (numbers, lists, objects, true/false), except for
parameters that only take strings; `@path` reads the value from a JSON file. Output is the
response body as JSON.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import click

from bioims import client
from bioims.services.registry import available_services, service_class
from cli.common import CliError, emit


def _string_only(annotation: Any) -> bool:
    """True when a field accepts only strings (so '123' must stay a string)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _string_only(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return all(_string_only(a) for a in args)
    return annotation is str


def _parse(value: str, string_only: bool) -> Any:
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise CliError(f"file {path} does not exist")
        return json.loads(path.read_text())
    if string_only:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _method_command(service: str, method_name: str, api_method) -> click.Command:
    fields = api_method.model.model_fields
    params = [
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
            name: _parse(value, _string_only(fields[name].annotation)) for name, value in values.items() if value is not None
        }
        body = client(service).call(method_name, **request)
        emit(body, as_json)

    return click.Command(method_name, params=params, callback=callback, help=api_method.doc or f"{service} {method_name}")


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
