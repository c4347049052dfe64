"""Parameter types shared by request models: strict strings for ids and names, lenient flags."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StrictStr

from bioims import jsonlimits, keys

# Ids end up in object keys and in composite table keys joined with '#' (artifact contextId,
# trainPlateId): letters, digits, '.', '_', '-' only, starting with a letter or digit, so no id can
# leave its key prefix ('/', '..'), collide with another key ('#') or hold spaces.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# Embedding names end up in object keys, execution names and job names: short and plain.
EMBEDDING_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
EMBEDDING_NAME_MAX = 40
ID_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit (no '/', '#' or spaces)"

# Ids and names: non-empty strict strings (a number where an id belongs is an error, not coerced).
Name = Annotated[StrictStr, Field(min_length=1, max_length=1024)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=ID_PATTERN)]
EmbeddingName = Annotated[StrictStr, Field(min_length=1, max_length=EMBEDDING_NAME_MAX, pattern=EMBEDDING_NAME_PATTERN)]
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


def _numeric(value: Any) -> Any:
    """An integer given as a number or, as the original's clients format requests, as a string
    of digits ("12"); anything else is left for the strict int check to refuse."""
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
        return int(value.strip())
    return value


NumericInt = Annotated[StrictInt, BeforeValidator(_numeric)]


def _object_key(value: str) -> str:
    """An object key given by a caller ("" = none): a relative path that stays in its bucket."""
    if value:
        problem = keys.key_problem(value)
        if problem:
            raise ValueError(problem)
    return value


def _bucket(value: str) -> str:
    """A bucket name given by a caller ("" = the default bucket): S3's naming rules."""
    if value and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value) or ".." in value:
        raise ValueError(f"{value!r} is not a bucket name (3-63 of a-z, 0-9, '.', '-')")
    return value


ObjectKey = Annotated[StrictStr, Field(max_length=1024), AfterValidator(_object_key)]
BucketName = Annotated[StrictStr, Field(max_length=63), AfterValidator(_bucket)]


def _json_value(value: Any) -> Any:
    """A free JSON value (e.g. updateTraining's value): finite numbers, bounded nesting."""
    try:
        jsonlimits.check_depth(value)
    except jsonlimits.JsonInputError as exc:
        raise ValueError(str(exc)) from None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item} is not a number JSON can carry (NaN and infinity are refused)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


JsonValue = Annotated[Any, AfterValidator(_json_value)]
