"""Telemetry of the imaging jobs: lines appended to the message logs of plates and images
(docs/original.md §2.4), best effort: a missing log never fails the work it describes."""

from __future__ import annotations

from bioims.errors import NotFound
from bioims.services.message import MessageService


def log_message(messages: MessageService, message_id: str | None, text: str) -> None:
    if not message_id:
        return
    try:
        messages.add(message_id, text)
    except NotFound:
        pass
