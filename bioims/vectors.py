"""Embedding vectors as text: base64 of little-endian float32, defined once.

The original stored Python's repr of the bytes (`b'...'`); `decode_vector` still accepts that form
so rows written by the original can be read.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np


def encode_vector(vector) -> str:
    array = np.asarray(vector, dtype="<f4").ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError("embedding vector contains NaN or infinity")
    return base64.b64encode(array.tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    """float32 vector from base64 text (plain, or wrapped as b'...')."""
    if text.startswith("b'") and text.endswith("'"):
        text = text[2:-1]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"embedding is not valid base64: {exc}") from None
    if len(raw) % 4:
        raise ValueError("embedding byte length is not a multiple of 4")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
