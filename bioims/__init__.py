"""bioimage-search: deep phenotyping of high-content cell-imaging screens.

The same code runs on one machine (the default "local" backend: SQLite tables, a directory of
objects, in-process services) and on AWS (DynamoDB, S3, SQS, Lambda, Step Functions, Batch,
SageMaker). `bioims.client("image-management")` gives the same API on both.
"""

from __future__ import annotations

__version__ = "0.1.0"


def client(name: str, context=None):
    """A client of one service (the original's client classes and method names)."""
    from bioims.clients.base import client as _client

    return _client(name, context)


__all__ = ["client"]
