"""JSON from outside (request bodies, `@file` option values) parsed with a nesting limit.

Python's json decoder recurses per nesting level: a body of 100,000 '[' raises RecursionError,
and a few thousand levels that still parse make every later recursive step (validation,
re-encoding) fail the same way. Bad input must be a clear 400, so depth is bounded here, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 64  # far beyond any request of this API (the deepest is 3 levels)


class JsonInputError(ValueError):
    """The text is not JSON, or is nested deeper than allowed."""


def depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), computed without recursion."""
    deepest, stack = 0, [(value, 0)]
    children: Iterable[Any]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    if depth(value) > max_depth:
        raise JsonInputError(f"JSON nested deeper than {max_depth} levels")
    return value


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads that raises JsonInputError (a ValueError) for bad or too deeply nested input."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonInputError(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise JsonInputError(f"not JSON: {exc}") from None
    return check_depth(value, max_depth)
