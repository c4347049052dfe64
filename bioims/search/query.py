"""A search request, validated once for every entry point (HTTP, queue message, Lambda, library).

Field names follow the original's `search` object (docs/original.md §2.12): trainId, queryImageId,
metric, maxHits, requireMoa, inclusionTags, exclusionTags. Added: `vector`, to search with an
embedding that is not in the index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from bioims.errors import InvalidRequest

MAX_HITS = 1000
DEFAULT_HITS = 100  # the original's default maxHits
MAX_TAGS = 1000
# trainIds, imageIds and plateIds become object-key parts: keep them to a safe alphabet.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
RESERVED_TRAIN_IDS = frozenset({"tags", "failed", "staging", "origin", "GENERATION", "tag-labels.json"})


class Metric(str, Enum):  # noqa: UP042 - StrEnum would change str() of a member
    COSINE = "Cosine"
    EUCLIDEAN = "Euclidean"

    @classmethod
    def parse(cls, value: Any) -> Metric:
        if isinstance(value, Metric):
            return value
        if isinstance(value, str):
            for metric in cls:
                if metric.value.lower() == value.strip().lower():
                    return metric
        raise InvalidRequest(f"metric must be 'Cosine' or 'Euclidean', not {value!r}")


def check_id(value: Any, what: str) -> str:
    """An id that is safe as an object-key part; raises InvalidRequest otherwise."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidRequest(f"{what} must be 1-128 characters of letters, digits, '_', '.', '-', not {value!r}")
    return value


def check_train_id(value: Any) -> str:
    check_id(value, "trainId")
    if value in RESERVED_TRAIN_IDS:
        raise InvalidRequest(f"trainId {value!r} is reserved")
    return value


MAX_TAG_ID = int(np.iinfo(np.int64).max)  # tag ids are stored and filtered as int64
TagList = Annotated[list[Annotated[StrictInt, Field(ge=0, le=MAX_TAG_ID)]], Field(max_length=MAX_TAGS)]
# A query vector's squared norm must stay a normal float32 with room for the indexed vectors'
# terms: beyond it distances overflow to inf/NaN (no hits), below it cosine normalisation underflows.
MAX_SQUARED_NORM = float(np.finfo(np.float32).max) / 4
MIN_SQUARED_NORM = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class TagFilter:
    """Which candidates a search may return. inclusion: any of these tags (empty = no constraint);
    exclusion: none of these tags; require_moa: at least one tag whose value starts with 'moa:'."""

    inclusion: tuple[int, ...] = ()
    exclusion: tuple[int, ...] = ()
    require_moa: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.inclusion or self.exclusion or self.require_moa)


class SearchQuery(BaseModel):
    """One nearest-neighbour query: by the id of an indexed image (never returned itself) or by vector."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    trainId: str
    queryImageId: str | None = None
    vector: Any = None
    metric: Metric = Metric.COSINE
    maxHits: Annotated[StrictInt, Field(ge=1, le=MAX_HITS)] = DEFAULT_HITS
    requireMoa: bool = False
    inclusionTags: TagList = Field(default_factory=list)
    exclusionTags: TagList = Field(default_factory=list)

    @field_validator("trainId")
    @classmethod
    def _train_id(cls, value: str) -> str:
        try:
            return check_train_id(value)
        except InvalidRequest as exc:
            raise ValueError(exc.message) from None

    @field_validator("queryImageId")
    @classmethod
    def _image_id(cls, value: str | None) -> str | None:
        if value is not None and (not value or len(value) > 256):
            raise ValueError("queryImageId must be a non-empty string of at most 256 characters")
        return value

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, value: Any) -> Metric:
        try:
            return Metric.parse(value)
        except InvalidRequest as exc:
            raise ValueError(exc.message) from None

    @field_validator("requireMoa", mode="before")
    @classmethod
    def _require_moa(cls, value: Any) -> bool:
        # The original sent "true"/"false" strings; accept those and real booleans only.
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("requireMoa must be true/false (or the strings 'true'/'false')")

    @field_validator("vector", mode="before")
    @classmethod
    def _vector(cls, value: Any) -> np.ndarray | None:
        if value is None:
            return None
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError("vector must be a list of numbers") from None
        if array.ndim != 1 or array.size == 0:
            raise ValueError("vector must be a non-empty one-dimensional list of numbers")
        if not np.isfinite(array).all():
            raise ValueError("vector contains NaN or infinity, or numbers beyond float32")
        squared = float(np.dot(array.astype(np.float64), array.astype(np.float64)))
        if squared > MAX_SQUARED_NORM:
            raise ValueError(
                f"vector too large: its squared norm {squared:.3g} overflows float32 distances (at most "
                f"{MAX_SQUARED_NORM:.3g})"
            )
        if 0.0 < squared < MIN_SQUARED_NORM:
            raise ValueError(
                f"vector too small: its squared norm {squared:.3g} underflows float32 (at least {MIN_SQUARED_NORM:.3g})"
            )
        return array

    @model_validator(mode="after")
    def _one_query(self) -> SearchQuery:
        if (self.queryImageId is None) == (self.vector is None):
            raise ValueError("give exactly one of queryImageId and vector")
        return self

    @cached_property
    def tag_filter(self) -> TagFilter:
        return TagFilter(
            tuple(sorted(set(self.inclusionTags))), tuple(sorted(set(self.exclusionTags))), self.requireMoa
        )

    def describe(self) -> dict:
        """The query as JSON (the vector summarised by its length)."""
        out = self.model_dump(exclude={"vector"}, mode="json")
        if self.vector is not None:
            out["vectorLength"] = int(self.vector.size)
        return out


def parse_query(data: SearchQuery | Mapping[str, Any]) -> SearchQuery:
    """A SearchQuery from a query or a JSON-like mapping; InvalidRequest lists every problem."""
    if isinstance(data, SearchQuery):
        return data
    if not isinstance(data, Mapping):
        raise InvalidRequest("a search must be a JSON object")
    try:
        return SearchQuery.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidRequest(describe_validation(exc)) from None


def describe_validation(error: ValidationError) -> str:
    parts = []
    for issue in error.errors():
        location = ".".join(str(p) for p in issue.get("loc", ())) or "request"
        kind = issue.get("type", "")
        if kind == "missing":
            parts.append(f"missing field '{location}'")
        elif kind == "extra_forbidden":
            parts.append(f"unknown field '{location}'")
        else:
            message = issue.get("msg", "invalid").removeprefix("Value error, ")
            parts.append(f"invalid field '{location}': {message}" if location != "request" else message)
    return "; ".join(parts)
