"""The service framework: request routing, validation and the response envelope, defined once.

A service is a class whose API methods are marked with `@api(RequestModel)`. `handle(service,
event)` is what a Lambda handler and the local client both call with the same JSON event
`{"method": ..., <params>}`; it answers `{"statusCode": int, "body": <JSON object>}`:
  200/201  the method's result (always a JSON object)
  400      unknown or missing method, missing/invalid/unknown parameters (the body says which)
  404      an id that does not exist
  409      a conflicting write (e.g. duplicate upload)
  500      only for genuine internal faults, never for bad input
  503      a damaged store or contention: not the caller's fault
Statuses and bodies come from the error family's one mapping (bioims.errors.answer). That is
the *native* answer (what workflows read). `handle_wire` / `to_wire` give a Lambda caller
the original's wire shapes instead (bioims.services.wire; docs/compatibility.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from bioims import errors, jsonlimits
from bioims.services.models import EMBEDDING_NAME_PATTERN, ID_PATTERN, ID_RULE
from bioims.services.wire import NATIVE, Wire

if TYPE_CHECKING:  # the composition root sits above the services; they only name its type
    from bioims.context import Context

log = logging.getLogger("bioims.services")


class Request(BaseModel):
    """Base of every request model: unknown parameters are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, populate_by_name=True)


class NoParams(Request):
    pass


class DescribeExecutionRequest(Request):
    executionArn: Annotated[StrictStr, Field(min_length=1, max_length=2048)] | None = None
    ExecutionArn: Annotated[StrictStr, Field(min_length=1, max_length=2048)] | None = None


ModelT = TypeVar("ModelT", bound=Request)


@dataclass(frozen=True)
class ApiMethod:
    name: str
    model: type[Request]
    function: Callable[..., Any]
    status: int = 200
    doc: str = ""
    wire: Wire = NATIVE


def api(model: type[Request] = NoParams, *, name: str | None = None, status: int = 200, wire: Wire = NATIVE):
    """Mark a service method as part of the API; `model` validates its parameters, `wire` says
    how its answer travels to a Lambda caller (the original's shape, bioims.services.wire)."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        method = ApiMethod(name or function.__name__, model, function, status, (function.__doc__ or "").strip(), wire)
        function.__bioims_api__ = method  # type: ignore[attr-defined]
        return function

    return mark


class Service:
    """Base class: a service holds its context (stores, runtime, the other services as typed
    accessors: `self.ctx.image_management`, ...)."""

    name: ClassVar[str] = ""

    def __init__(self, context: Context):
        self.ctx = context

    def table(self, spec):
        return self.ctx.stores.table(spec)

    def start_workflow(self, workflow: str, payload: dict, wait: bool = True, on_start=None) -> dict:
        """Start a workflow. Locally it runs to the end inside the call (in a background thread
        when wait is false); on AWS it is a Step Functions execution and the call returns at once.
        `on_start(executionArn)` runs as soon as the execution exists (before its steps locally)."""
        if self.ctx.settings.backend == "local":
            return self.ctx.runtime.start_workflow(workflow, payload, wait=wait, on_start=on_start)
        started = self.ctx.runtime.start_workflow(workflow, payload)
        if on_start is not None:
            on_start(started["executionArn"])
        return started

    def describe_execution(self, request: DescribeExecutionRequest) -> dict:
        """describeExecution of the services that start workflows (the original accepted both
        spellings of the ARN and added `ExecutionArn` to the answer)."""
        arn = request.executionArn or request.ExecutionArn
        if not arn:
            raise errors.BadRequest("describeExecution: missing parameter 'executionArn'")
        description = self.ctx.runtime.describe_execution(arn)
        description["ExecutionArn"] = description.get("executionArn", arn)
        return description

    @classmethod
    def api_methods(cls) -> dict[str, ApiMethod]:
        found: dict[str, ApiMethod] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                method = getattr(value, "__bioims_api__", None)
                if method is not None:
                    found[method.name] = method
        return found


def _describe_validation(error: ValidationError) -> str:
    parts = []
    for issue in error.errors():
        location = ".".join(str(p) for p in issue.get("loc", ())) or "request"
        kind = issue.get("type", "")
        if kind == "missing":
            parts.append(f"missing parameter '{location}'")
        elif kind == "extra_forbidden":
            parts.append(f"unknown parameter '{location}'")
        elif kind == "string_pattern_mismatch" and (issue.get("ctx") or {}).get("pattern") in (
            ID_PATTERN,
            EMBEDDING_NAME_PATTERN,
        ):
            parts.append(
                f"invalid parameter '{location}': {issue.get('input')!r} is not a valid id or name: use {ID_RULE}"
            )
        else:
            message = str(issue.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"invalid parameter '{location}': {message}")
    return "; ".join(parts)


def respond(status: int, body: Any) -> dict:
    return {"statusCode": status, "body": body}


def refuse(error: errors.BioimsError) -> dict:
    """The answer of an error found before the method ran (the request's own fault)."""
    return respond(*errors.answer(error))


def handle(service: Service, event: Any) -> dict:
    """Route one request event to the service; never raises, never answers 500 for bad input.
    Errors become status and body through `bioims.errors.answer`, the one mapping of every edge."""
    if not isinstance(event, dict):
        return refuse(errors.BadRequest("the request must be a JSON object with a 'method' field"))
    method_name = event.get("method")
    methods = service.api_methods()
    if method_name is None:
        return refuse(errors.BadRequest("missing parameter 'method'", details={"methods": sorted(methods)}))
    if not isinstance(method_name, str) or method_name not in methods:
        return refuse(
            errors.BadRequest(
                f"unknown method {method_name!r} for service {service.name!r}",
                details={"methods": sorted(methods)},
            )
        )
    method = methods[method_name]
    params = {k: v for k, v in event.items() if k != "method"}
    if jsonlimits.depth(params) > jsonlimits.MAX_DEPTH:
        return refuse(errors.BadRequest(f"{method_name}: parameters nested deeper than {jsonlimits.MAX_DEPTH} levels"))
    try:
        request = method.model.model_validate(params)
    except ValidationError as exc:
        return refuse(errors.BadRequest(f"{method_name}: {_describe_validation(exc)}"))
    try:
        result = method.function(service, request)
    except Exception as exc:
        status, body = errors.answer(exc, method_name)
        if not isinstance(exc, errors.BioimsError):  # an internal fault: the stack trace goes to the log only
            log.error("%s.%s failed: %s", service.name, method_name, exc, exc_info=exc)
        elif status >= 500:  # not the caller's fault, and not to be retried: say what to restore
            log.error("%s.%s -> %s %s", service.name, method_name, status, body["message"])
        else:
            log.info("%s.%s -> %s %s", service.name, method_name, status, body["message"])
        return respond(status, body)
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise TypeError(f"{service.name}.{method_name} must return a dict, got {type(result).__name__}")
    return respond(method.status, result)


def handle_json(service: Service, event: Any) -> dict:
    """`handle` with the event and response passed through JSON (the native answer: what
    workflows and tests of the service logic read)."""
    wire_event = json.loads(json.dumps(event))
    return json.loads(json.dumps(handle(service, wire_event)))


def to_wire(service: Service, event: Any, response: dict) -> dict:
    """A native answer in the original's wire shape: the method's `Wire` encodes a success, a
    GetItem miss is 200 `{}`, an error body is the string of its JSON document."""
    status, body = response["statusCode"], response["body"]
    name = event.get("method") if isinstance(event, dict) else None
    method = service.api_methods().get(name) if isinstance(name, str) else None
    if status == 404 and method is not None and method.wire.empty_when_missing:
        return respond(200, {})
    if status >= 300:
        return respond(status, body if isinstance(body, str) else json.dumps(body))
    if method is None:
        return response
    params = {k: v for k, v in event.items() if k != "method"}
    return respond(status, method.wire.encode(body, params))


def handle_wire(service: Service, event: Any) -> dict:
    """What a Lambda caller receives (the original's contract); the event and answer pass
    through JSON exactly as a Lambda sees them."""
    wire_event = json.loads(json.dumps(event))
    return json.loads(json.dumps(to_wire(service, wire_event, handle(service, wire_event))))
