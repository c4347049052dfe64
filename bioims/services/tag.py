"""Tag service (docs/original.md §2.11): tag strings ("moa:Actindisruptors", "compound:taxol",
"batch:Week1", ...) with unique integer ids from 1, used to filter searches.

Row kinds: counter {tagValue: "nextId", tagType: "counter", id: <last id>}; reverse lookup
{tagValue: "unique#<id>", tagType: "unique", value}; tag {tagValue, tagType: "id", id}.
Ids are unique under concurrency and the counter never resets (docs/original.md §8.3 #18).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bioims import tables
from bioims.errors import BadRequest, NotFound
from bioims.services.api import Request, Service, api
from bioims.services.models import Name, NumericInt
from bioims.services.numbering import get_or_assign_number
from bioims.services.wire import Wire, item_or_empty, mapped_list


def _tag_row(result: dict, params: dict | None = None) -> dict:
    """The original's tag row {tagValue, tagType: "id", id} plus what this service adds."""
    return {
        "tagValue": result["tagValue"],
        "tagType": "id",
        "id": result["id"],
        **{k: v for k, v in result.items() if k not in ("tagValue", "id")},
    }


TAG_ROW = Wire(_tag_row)

COUNTER_KEY = {"tagValue": "nextId", "tagType": "counter"}
UNIQUE = "unique#"


class ValueRequest(Request):
    tagValue: Name


class ValuesRequest(Request):
    tagValues: Annotated[list[Name], Field(min_length=1, max_length=10_000)]


class IdRequest(Request):
    tagId: Annotated[NumericInt, Field(ge=1)]


def _check_value(value: str) -> None:
    if value == COUNTER_KEY["tagValue"] or value.startswith(UNIQUE):
        raise BadRequest(f"tag value {value!r} is reserved")


class TagService(Service):
    name = "tag"

    @property
    def _table(self):
        return self.table(tables.TAG)

    def create(self, value: str) -> tuple[int, bool]:
        _check_value(value)
        tag_id, created = get_or_assign_number(
            self._table,
            {"tagValue": value, "tagType": "id"},
            {},
            number_attr="id",
            counter_key=COUNTER_KEY,
            counter_attr="id",
            first_number=1,
            reverse=lambda tag_id: {"tagValue": f"{UNIQUE}{tag_id}", "tagType": "unique", "value": value},
            fault_prefix="tag",
        )
        return tag_id, created

    def all_tags(self) -> dict[int, str]:
        """id -> tag value for every tag (the search service's tag-label map). A tag whose
        numbering a crash interrupted is finished first."""
        tags = {}
        for row in self._table.scan_all():
            if row.get("tagType") != "id":
                continue
            tag_id = row.get("id")
            if tag_id is None:
                tag_id, _ = self.create(row["tagValue"])
            tags[int(tag_id)] = row["tagValue"]
        return tags

    @api(ValueRequest, wire=TAG_ROW)
    def createTag(self, request: ValueRequest) -> dict:
        tag_id, created = self.create(request.tagValue)
        return {"tagValue": request.tagValue, "id": tag_id, "created": created}

    @api(ValuesRequest)
    def createTags(self, request: ValuesRequest) -> dict:
        """Create many tags in one call, in the given order; returns each value's id."""
        for value in request.tagValues:
            _check_value(value)
        tags = []
        for value in request.tagValues:
            tag_id, created = self.create(value)
            tags.append({"tagValue": value, "id": tag_id, "created": created})
        return {"tags": tags}

    @api(ValueRequest, wire=Wire(_tag_row, item_or_empty().decode, empty_when_missing=True))
    def getTagByValue(self, request: ValueRequest) -> dict:
        row = self._table.get({"tagValue": request.tagValue, "tagType": "id"})
        if row is None:
            raise NotFound(f"tag {request.tagValue!r} does not exist")
        tag_id = row.get("id")
        if tag_id is None:  # numbering interrupted by a crash: finish it now
            tag_id, _ = self.create(request.tagValue)
        return {"tagValue": request.tagValue, "id": int(tag_id)}

    @api(IdRequest, wire=Wire(_tag_row, item_or_empty().decode, empty_when_missing=True))
    def getTagById(self, request: IdRequest) -> dict:
        row = self._table.get({"tagValue": f"{UNIQUE}{request.tagId}", "tagType": "unique"})
        if row is None:
            raise NotFound(f"tag id {request.tagId} does not exist")
        return {"tagValue": row["value"], "id": request.tagId}

    @api(wire=mapped_list("tags", lambda t: _tag_row(t), lambda r: {"id": int(r["id"]), "tagValue": r["tagValue"]}))
    def getAllTags(self, request: Request) -> dict:
        return {"tags": [{"id": i, "tagValue": v} for i, v in sorted(self.all_tags().items())]}
