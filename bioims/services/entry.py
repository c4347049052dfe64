"""The body of every Lambda handler: parse, log, call one service, shape the response."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from bioims import context as context_module
from bioims.services.api import handle

log = logging.getLogger("bioims.lambda")


def make_handler(service_name: str) -> Callable[[Any, Any], dict]:
    def handler(event: Any, lambda_context: Any = None) -> dict:
        started = time.perf_counter()
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
        return response

    handler.__name__ = f"{service_name.replace('-', '_')}_handler"
    return handler
