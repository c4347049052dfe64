"""Parameter types shared by request models: strict strings for ids and names, lenient flags."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictInt, StrictStr

# Ids and names: non-empty strict strings (a number where an id belongs is an error, not coerced).
Name = Annotated[StrictStr, Field(min_length=1, max_length=1024)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=256)]
Text = Annotated[StrictStr, Field(max_length=400_000)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


def _flag(value: Any) -> Any:
    """Accept true/false as booleans or as the strings the original used ("true"/"false")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("must be true or false")


Flag = Annotated[bool, BeforeValidator(_flag)]


def _dimension(value: Any) -> Any:
    """Image dimensions arrive as numbers or (from the original's clients) numeric strings."""
    if isinstance(value, bool):
        raise ValueError("must be a positive integer")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and value >= 1:
        return value
    raise ValueError("must be a positive integer")


Dimension = Annotated[int, BeforeValidator(_dimension)]
