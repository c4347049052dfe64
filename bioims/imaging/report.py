"""Telemetry of the imaging jobs: lines appended to the message logs of plates and images
(docs/original.md §2.4), best effort: a missing log never fails the work it describes."""

from __future__ import annotations

from bioims.errors import NotFound


def log_message(ctx, message_id: str | None, text: str) -> None:
    if not message_id:
        return
    try:
        ctx.service("message").add(message_id, text)
    except NotFound:
        pass
