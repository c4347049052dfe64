"""The body of every Lambda handler: parse, log, call one service, shape the response.

Called from a workflow (the event carries WORKFLOW_FLAG), the handler returns the body itself and
raises ServiceCallFailed on an error status, so Step Functions' Retry/Catch see the failure; called
by a client it returns the `{statusCode, body}` envelope in the original's wire shapes
(bioims.services.wire: lists, GetItem outputs, strings; error bodies are strings).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from bioims import context as context_module
from bioims.services.api import handle, to_wire
from bioims.workflows.dsl import WORKFLOW_FLAG

log = logging.getLogger("bioims.lambda")
logging.getLogger().setLevel(logging.INFO)


class ServiceCallFailed(Exception):
    """Raised to Step Functions for a non-2xx answer; the message is the JSON error body."""


class ServiceThrottled(Exception):
    """A transient failure (503) that workflows retry."""


def make_handler(service_name: str) -> Callable[[Any, Any], dict]:
    def handler(event: Any, lambda_context: Any = None) -> Any:
        started = time.perf_counter()
        from_workflow = isinstance(event, dict) and bool(event.pop(WORKFLOW_FLAG, False))
        service = context_module.get().service(service_name)
        response = handle(service, event)
        method = event.get("method") if isinstance(event, dict) else None
        log.info(
            "%s.%s -> %s in %.1f ms",
            service_name,
            method,
            response["statusCode"],
            (time.perf_counter() - started) * 1000,
        )
        if not from_workflow:
            return to_wire(service, event, response)
        if response["statusCode"] == 503:
            raise ServiceThrottled(json.dumps(response["body"]))
        if response["statusCode"] >= 300:
            raise ServiceCallFailed(json.dumps(response["body"]))
        return response["body"]

    handler.__name__ = f"{service_name.replace('-', '_')}_handler"
    return handler
