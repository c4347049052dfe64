"""Errors of the search engine, each with an HTTP-style status so every entry point (HTTP API,
queue consumer, Lambda service) answers the same way without knowing the cause."""

from __future__ import annotations


class SearchError(Exception):
    """A search or management request that cannot be served; `reason` is meant for the caller."""

    status: int = 500

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def body(self) -> dict:
        return {"error": type(self).__name__, "message": self.reason}


class InvalidRequest(SearchError):
    """Malformed input: wrong types, out-of-range values, wrong vector length, NaN."""

    status = 400


class UnknownTraining(SearchError):
    """The trainId has no loaded embeddings."""

    status = 404


class UnknownImage(SearchError):
    """The query image has no embedding in that training."""

    status = 404


class NotReady(SearchError):
    """A filter needs state that has not been loaded yet (e.g. the tag-label map)."""

    status = 409


class PlateFileMissing(SearchError):
    """An object a message refers to (plate embeddings, staged tags) is not (yet) in the bucket;
    worth retrying, unlike the other errors."""

    status = 404
