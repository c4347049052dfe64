"""The one error family of bioims, at the bottom of the package (it imports nothing from bioims).

Every layer raises these (or a subclass whose name says more, e.g. the imaging and search errors),
so a store, a runtime or an array routine can say "not found" without importing the service
layer. Each class carries its HTTP-style status; `answer` turns any exception into (status, body)
and is the only place that does: the service handler (bioims.services.api.handle), the search
HTTP API, the UI server and the CLI's exit codes all go through it.

  400 BadRequest     the request is malformed or names something invalid (changes nothing)
  404 NotFound       an id that does not exist
  409 Conflict       the request conflicts with the stored state (a duplicate, a state not ready)
  413 PayloadTooLarge  a request body over the limit
  500 BioimsError    a fault that is not the caller's (e.g. the deployment's configuration)
  502 BadGateway     the service behind a call did not answer (its Lambda function failed)
  503 Unavailable    cannot be served now (damaged store, contention): not the caller's fault
  500 InternalError  any exception outside the family: its type and message, never a traceback
"""

from __future__ import annotations

from typing import Any, ClassVar

INTERNAL_ERROR = "InternalError"  # the body's "error" for an exception outside the family


class BioimsError(Exception):
    """An error with an HTTP-style status and a message meant for the caller; `details` are
    extra fields of the error body (e.g. the list of known methods)."""

    status: ClassVar[int] = 500
    # The body's "error": None means the class's own name.
    wire_name: ClassVar[str | None] = None
    # Raised below the layer that knows which operation failed (the store): the edge prefixes
    # the message with the operation's name.
    names_operation: ClassVar[bool] = False

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def __reduce__(self):  # keeps `details` (keyword-only) when it crosses a process pool
        return (type(self), (self.message,), dict(vars(self)))

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.wire_name or type(self).__name__, "message": self.message}
        body.update(self.details)
        return body


class RequestError(BioimsError):
    """The request cannot be served as it is (a 4xx): sending it again unchanged fails again."""

    status = 400


class BadRequest(RequestError):
    status = 400


class NotFound(RequestError):
    status = 404


class Conflict(RequestError):
    status = 409


class PayloadTooLarge(RequestError):
    status = 413


class BadGateway(BioimsError):
    """The service behind the call failed without an answer of its own (e.g. its Lambda crashed)."""

    status = 502


class Unavailable(BioimsError):
    """The request cannot be served now, through no fault of the caller (the message says why)."""

    status = 503


# --- named members whose names travel in error bodies (the search service's API) -------------
class InvalidRequest(BadRequest):
    """Malformed search input: wrong types, out-of-range values, wrong vector length, NaN."""


class UnknownTraining(NotFound):
    """The trainId has no loaded embeddings."""


class UnknownImage(NotFound):
    """The query image has no embedding in that training."""


class NotReady(Conflict):
    """A filter needs state that has not been loaded yet (e.g. the tag-label map)."""


class PlateFileMissing(NotFound):
    """An object a message refers to (plate embeddings, staged tags) is not (yet) in the bucket;
    worth retrying, unlike the other errors."""


def status_of(exc: BaseException) -> int:
    """The HTTP-style status of any exception: its own in the family, 500 outside it."""
    return exc.status if isinstance(exc, BioimsError) else 500


def answer(exc: BaseException, operation: str | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of an exception: the one mapping of every edge. `operation` names what
    failed (a service method) for the errors that cannot know it themselves. An exception outside
    the family is an internal fault: the body names its type and message, never a traceback."""
    prefix = f"{operation}: " if operation else ""
    if isinstance(exc, BioimsError):
        body = exc.body()
        if exc.names_operation and prefix:
            body["message"] = prefix + body["message"]
        return exc.status, body
    return 500, {"error": INTERNAL_ERROR, "message": f"{prefix}{type(exc).__name__}: {exc}"}
