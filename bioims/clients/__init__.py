"""Client classes with the original's names and method signatures (docs/original.md §6.2), fixed.

`bioims.client(name)` is the entry point; bioims.clients.base holds the transports."""

from bioims.clients.base import ClientError, ServiceClient, client

__all__ = ["ClientError", "ServiceClient", "client"]
