"""`bioims.client(name)`: the same client API on both backends.

local: the request event goes through JSON into the service handler in this process (exactly what
a Lambda receives); aws: the service's Lambda is invoked synchronously. Non-2xx answers raise
ClientError with the service's message (the original swallowed or double-decoded them).
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from bioims import errors, resources
from bioims.context import Context
from bioims.context import get as current_context
from bioims.errors import BadGateway, NotFound
from bioims.services.api import handle_wire
from bioims.services.registry import SERVICE_CLASSES, service_class
from bioims.services.wire import Wire, WireNotFound

# The client class of each service; the names come from the services' table, so a service
# without a client (or a client of no service) fails at import.
_CLIENT_CLASS_OF: dict[str, str] = {
    "configuration": "bioims.clients.data:ConfigurationClient",
    "label": "bioims.clients.data:LabelClient",
    "message": "bioims.clients.data:MessageClient",
    "artifact": "bioims.clients.data:ArtifactClient",
    "tag": "bioims.clients.data:TagClient",
    "training-configuration": "bioims.clients.data:TrainingConfigurationClient",
    "image-management": "bioims.clients.data:ImageManagementClient",
    "image-artifact": "bioims.clients.processing:ImageArtifactClient",
    "process-plate": "bioims.clients.processing:ProcessPlateClient",
    "train": "bioims.clients.train:TrainClient",
    "embedding": "bioims.clients.embedding:EmbeddingClient",
    "search": "bioims.clients.search:SearchClient",
}
if set(_CLIENT_CLASS_OF) != set(SERVICE_CLASSES):
    raise RuntimeError(f"client table and service table differ: {sorted(set(_CLIENT_CLASS_OF) ^ set(SERVICE_CLASSES))}")
CLIENT_CLASSES: dict[str, str] = {name: _CLIENT_CLASS_OF[name] for name in SERVICE_CLASSES}


class LambdaError(BadGateway):
    """The service's Lambda function failed (a crash, a timeout) instead of answering."""


class ClientError(RuntimeError):
    """A service answered with an error status."""

    def __init__(self, service: str, method: str, status: int, body: Any):
        self.service, self.method, self.status, self.body = service, method, status, body
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{service}.{method} failed ({status}): {message}")

    def __reduce__(self):  # rebuilt from its parts when it crosses a process pool
        return (type(self), (self.service, self.method, self.status, self.body), dict(vars(self)))


def _wire_of(service: str, method: str) -> Wire | None:
    """The wire contract of a service method (None for a method this build does not know)."""
    try:
        api_method = service_class(service).api_methods().get(method)
    except Exception:  # a service whose implementation is not in this build
        return None
    return api_method.wire if api_method is not None else None


class LocalTransport:
    def __init__(self, context):
        self.context = context

    def invoke(self, service: str, event: dict) -> dict:
        return handle_wire(self.context.service(service), event)


class LambdaTransport:
    def __init__(self, context):
        self.context = context

    def invoke(self, service: str, event: dict) -> dict:
        function = self.context.settings.resource(resources.function_slot(service))
        response = self.context.stores.aws_client("lambda").invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            detail = payload.decode(errors="replace")[:2000]
            message = (
                f"AWS call lambda Invoke of {function} failed: function error ({response['FunctionError']}): {detail}"
            )
            status, body = errors.answer(LambdaError(message))
            return {"statusCode": status, "body": body}
        return json.loads(payload or b"{}")


class ServiceClient:
    """Generic client: `call(method, **params)`; unknown attributes call the method of that name."""

    service: str = ""

    def __init__(self, service: str, transport):
        self.service = service
        self.transport = transport

    def call(self, method: str, **params: Any) -> dict:
        """Invoke `method`; the answer in the original's wire shape is read back into the
        service's native result (a dict) by the method's Wire (bioims.services.wire)."""
        event = {"method": method, **{k: v for k, v in params.items() if v is not None}}
        response = self.transport.invoke(self.service, event)
        status = int(response.get("statusCode", 500)) if isinstance(response, dict) else 500
        body = response.get("body") if isinstance(response, dict) else response
        if status >= 300:
            if isinstance(body, str):  # error bodies are the string of a JSON document
                try:
                    body = json.loads(body)
                except json.JSONDecodeError:
                    pass
            raise ClientError(self.service, method, status, body)
        wire = _wire_of(self.service, method)
        if wire is None:
            return body if isinstance(body, dict) else {"value": body}
        try:
            return wire.decode(body, event)
        except WireNotFound:
            raise ClientError(self.service, method, *errors.answer(NotFound(f"nothing found for {params}"))) from None

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda **params: self.call(method, **params)


def transport_for(context):
    settings = context.settings
    if settings.backend == "local" or settings.services == "inprocess":
        return LocalTransport(context)
    return LambdaTransport(context)


def client_class(name: str) -> type[ServiceClient]:
    if name not in CLIENT_CLASSES:
        raise ValueError(f"unknown service {name!r}; known: {', '.join(sorted(CLIENT_CLASSES))}")
    module_name, class_name = CLIENT_CLASSES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def client(name: str, context: Context | None = None) -> ServiceClient:
    ctx = context or current_context()
    return client_class(name)(name, transport_for(ctx))
