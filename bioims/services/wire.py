"""The original's Lambda wire contract (docs/original.md §2 and §6), defined once per API method.

A service method returns a JSON object (its *native* result, what workflows and the Python code
use). A caller of the Lambda receives the original's answer shape instead: a list, a DynamoDB
GetItem output `{"Item": ...}` (or `{}` when nothing is there), a bare item, a string, an object.
Each method's `Wire` says how its native result is written on the wire (`encode`) and how the
project's own client reads the wire back into the native result (`decode`), so callers written
for the original and this project's client read the same answers. Error bodies on the wire are
strings: the JSON document of the error (`{"error": ..., "message": ...}`), readable as text and
parseable for details (the original's client does `"Error: " + body`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Encode = Callable[[dict, dict], Any]
Decode = Callable[[Any, dict], dict]


class WireNotFound(LookupError):
    """A GetItem-shaped answer was `{}`: what was asked for does not exist."""


def _same(result: Any, params: dict) -> Any:
    return result


@dataclass(frozen=True)
class Wire:
    """How one method's native result travels: `encode(result, params)` -> wire body,
    `decode(body, params)` -> native result. `empty_when_missing`: a 404 of the method is the
    original's GetItem miss, answered as 200 with the body `{}`."""

    encode: Encode = _same
    decode: Decode = _same
    empty_when_missing: bool = False


NATIVE = Wire()


def listed(field: str, *, keep: tuple[str, ...] = ()) -> Wire:
    """The original answered a bare list: the native result's `field`; the decoder puts the
    request parameters named in `keep` back beside it."""

    def encode(result: dict, params: dict) -> Any:
        return result[field]

    def decode(body: Any, params: dict) -> dict:
        if not isinstance(body, list):
            raise TypeError(f"expected a list on the wire, got {type(body).__name__}")
        return {**{k: params[k] for k in keep if k in params}, field: body}

    return Wire(encode, decode)


def mapped_list(
    field: str, to_row: Callable[[dict], Any], from_row: Callable[[Any], dict], *, keep: tuple[str, ...] = ()
) -> Wire:
    """A bare list whose rows the original shaped differently from the native entries."""

    def encode(result: dict, params: dict) -> Any:
        return [to_row(entry) for entry in result[field]]

    def decode(body: Any, params: dict) -> dict:
        if not isinstance(body, list):
            raise TypeError(f"expected a list on the wire, got {type(body).__name__}")
        return {**{k: params[k] for k in keep if k in params}, field: [from_row(row) for row in body]}

    return Wire(encode, decode)


def get_item(to_item: Callable[[dict], dict], from_item: Callable[[dict], dict]) -> Wire:
    """A DynamoDB GetItem output: `{"Item": item}`, or `{}` where the native method says 404."""

    def encode(result: dict, params: dict) -> Any:
        return {"Item": to_item(result)}

    def decode(body: Any, params: dict) -> dict:
        if not isinstance(body, dict) or "Item" not in body:
            raise WireNotFound("not found")
        return from_item(body["Item"])

    return Wire(encode, decode, empty_when_missing=True)


def bare_item(field: str, *, empty_when_missing: bool = False) -> Wire:
    """The original answered the item itself (no envelope): the native result's `field`."""

    def encode(result: dict, params: dict) -> Any:
        return result[field]

    def decode(body: Any, params: dict) -> dict:
        if body == {} and empty_when_missing:
            raise WireNotFound("not found")
        return {field: body}

    return Wire(encode, decode, empty_when_missing=empty_when_missing)


def scalar(field: str, *, keep: tuple[str, ...] = ()) -> Wire:
    """The original answered one value (a string): the native result's `field`."""

    def encode(result: dict, params: dict) -> Any:
        return result[field]

    def decode(body: Any, params: dict) -> dict:
        return {**{k: params[k] for k in keep if k in params}, field: body}

    return Wire(encode, decode)


def item_or_empty() -> Wire:
    """An item as it is (a bare object), or `{}` where the native method says 404."""

    def decode(body: Any, params: dict) -> dict:
        if body == {}:
            raise WireNotFound("not found")
        return body

    return Wire(_same, decode, empty_when_missing=True)
