"""Identifier schemes, defined once (docs/original.md §3.7).

plate/well/image/train/search ids: 22-character base58 strings (the short-uuid format of the
original); message ids: UUID v4; timestamps: milliseconds since the epoch as decimal strings.
Deterministic ids (from a namespace and parts) make re-running an upload idempotent.
"""

from __future__ import annotations

import hashlib
import time
import uuid

# The short-uuid alphabet (no 0, 1, I, O, l): unambiguous when read aloud or copied by hand.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 22


def _encode(number: int) -> str:
    base = len(ALPHABET)
    chars = []
    for _ in range(ID_LENGTH):
        number, digit = divmod(number, base)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_id() -> str:
    """A fresh random 22-character id (122 random bits)."""
    return _encode(uuid.uuid4().int)


def derived_id(*parts: str) -> str:
    """A 22-character id determined by `parts`: the same inputs always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return _encode(int.from_bytes(digest[:16], "big"))


def new_message_id() -> str:
    return str(uuid.uuid4())


def now_ms() -> str:
    """Milliseconds since the epoch as a decimal string, the original's timestamp format."""
    return str(time.time_ns() // 1_000_000)


def is_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(c in ALPHABET for c in value)
