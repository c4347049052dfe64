"""Label service (docs/original.md §2.3): categories of labels with dense integer indices (class ids).

Row kinds: category header {category, label: "origin", description, nextIndex}; label
{category, label, index1}; index marker {category: "unique#<category>", label: "unique#<index>",
index1, value: <label>} for index -> label lookups.
Indices are unique and dense (0, 1, ...) per category even under concurrent creation, because
they are class ids; a label cannot be created in a category that does not exist; updateLabel works
(docs/original.md §8.3 #17).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bioims import tables
from bioims.errors import BadRequest, Conflict, NotFound
from bioims.services.api import Request, Service, api
from bioims.services.models import Name, NumericInt, Text
from bioims.services.numbering import get_or_assign_number
from bioims.services.wire import Wire, mapped_list
from bioims.store import Condition, ConditionFailed, Update

ORIGIN = tables.ORIGIN
UNIQUE = "unique#"


class CategoryRequest(Request):
    category: Name


class CreateCategoryRequest(Request):
    category: Name
    description: Text = ""


class LabelRequest(Request):
    category: Name
    label: Name


class IndexRequest(Request):
    category: Name
    index: Annotated[NumericInt, Field(ge=0)]


class UpdateLabelRequest(Request):
    category: Name
    oldlabel: Name
    newlabel: Name


# listLabels: the original's label rows {category, label, index1}, in index order.
LABELS_WIRE = Wire(
    lambda result, params: [
        {"category": result["category"], "label": x["label"], "index1": x["index"]} for x in result["labels"]
    ],
    lambda body, params: {
        "category": params.get("category"),
        "labels": [{"label": r["label"], "index": int(r["index1"])} for r in body],
    },
)


def _check_name(value: str, what: str) -> None:
    if value == ORIGIN or value.startswith(UNIQUE):
        raise BadRequest(f"{what} {value!r} is reserved")


class LabelService(Service):
    name = "label"

    @property
    def _table(self):
        return self.table(tables.LABEL)

    def _header(self, category: str) -> dict:
        header = self._table.get({"category": category, "label": ORIGIN})
        if header is None:
            raise NotFound(f"label category {category!r} does not exist")
        return header

    def _labels(self, category: str) -> list[dict]:
        rows = [r for r in self._table.query_all(category) if r["label"] != ORIGIN]
        for row in rows:
            if row.get("index1") is None:  # numbering interrupted by a crash: finish it now
                row["index1"], _ = self.create_label(category, row["label"])
        return rows

    def create_label(self, category: str, label: str) -> tuple[int, bool]:
        _check_name(label, "label")
        self._header(category)
        return get_or_assign_number(
            self._table,
            {"category": category, "label": label},
            {},
            number_attr="index1",
            counter_key={"category": category, "label": ORIGIN},
            counter_attr="nextIndex",
            first_number=0,
            reverse=lambda index: {
                "category": UNIQUE + category,
                "label": f"{UNIQUE}{index}",
                "index1": index,
                "value": label,
            },
            fault_prefix="label",
        )

    def index_map(self, category: str) -> dict[str, int]:
        """label -> index of a whole category (one query)."""
        self._header(category)
        return {r["label"]: int(r["index1"]) for r in self._labels(category)}

    @api(CreateCategoryRequest)
    def createCategory(self, request: CreateCategoryRequest) -> dict:
        _check_name(request.category, "category")
        try:
            self._table.put(
                {"category": request.category, "label": ORIGIN, "description": request.description, "nextIndex": 0},
                condition=Condition.not_exists(),
            )
            created = True
        except ConditionFailed:
            created = False
        return {"category": request.category, "created": created}

    @api(CreateCategoryRequest)
    def updateCategoryDescription(self, request: CreateCategoryRequest) -> dict:
        self._header(request.category)
        self._table.update(
            {"category": request.category, "label": ORIGIN}, Update(set={"description": request.description})
        )
        return {"category": request.category, "description": request.description}

    @api(CategoryRequest)
    def deleteCategory(self, request: CategoryRequest) -> dict:
        self._header(request.category)
        rows = list(self._table.query_all(request.category)) + list(self._table.query_all(UNIQUE + request.category))
        self._table.batch_write(deletes=rows)
        return {"category": request.category, "deleted": len(rows)}

    @api(LabelRequest)
    def createLabel(self, request: LabelRequest) -> dict:
        """Create a label (or return the index it already has)."""
        index, created = self.create_label(request.category, request.label)
        return {"category": request.category, "label": request.label, "index": index, "created": created}

    @api(CategoryRequest, wire=LABELS_WIRE)
    def listLabels(self, request: CategoryRequest) -> dict:
        self._header(request.category)
        labels = sorted(self._labels(request.category), key=lambda r: int(r["index1"]))
        return {
            "category": request.category,
            "labels": [{"label": r["label"], "index": int(r["index1"])} for r in labels],
        }

    @api(
        wire=mapped_list(
            "categories",
            lambda c: {
                "category": c["category"],
                "label": ORIGIN,
                "description": c["description"],
                "nextIndex": c["labelCount"],
            },
            lambda r: {
                "category": r["category"],
                "description": r.get("description", ""),
                "labelCount": int(r.get("nextIndex", 0)),
            },
        )
    )
    def listCategories(self, request: Request) -> dict:
        headers = [r for r in self._table.scan_all() if r["label"] == ORIGIN and not r["category"].startswith(UNIQUE)]
        return {
            "categories": [
                {
                    "category": r["category"],
                    "description": r.get("description", ""),
                    "labelCount": int(r.get("nextIndex", 0)),
                }
                for r in sorted(headers, key=lambda r: r["category"])
            ]
        }

    @api(LabelRequest)
    def getIndex(self, request: LabelRequest) -> dict:
        row = self._table.get({"category": request.category, "label": request.label})
        if row is None:
            raise NotFound(f"label {request.label!r} does not exist in category {request.category!r}")
        index = row.get("index1")
        if index is None:  # numbering interrupted by a crash: finish it now
            index, _ = self.create_label(request.category, request.label)
        return {"category": request.category, "label": request.label, "index": int(index)}

    @api(IndexRequest)
    def getLabel(self, request: IndexRequest) -> dict:
        """The label holding an index (the reverse of getIndex)."""
        row = self._table.get({"category": UNIQUE + request.category, "label": f"{UNIQUE}{request.index}"})
        if row is None:
            raise NotFound(f"no label with index {request.index} in category {request.category!r}")
        return {"category": request.category, "label": row["value"], "index": request.index}

    @api(UpdateLabelRequest)
    def updateLabel(self, request: UpdateLabelRequest) -> dict:
        """Rename a label, keeping its index."""
        _check_name(request.newlabel, "label")
        old = self._table.get({"category": request.category, "label": request.oldlabel})
        if old is None or old.get("index1") is None:
            raise NotFound(f"label {request.oldlabel!r} does not exist in category {request.category!r}")
        index = int(old["index1"])
        try:
            self._table.put(
                {"category": request.category, "label": request.newlabel, "index1": index},
                condition=Condition.not_exists(),
            )
        except ConditionFailed:
            raise Conflict(f"label {request.newlabel!r} already exists in category {request.category!r}") from None
        self._table.put(
            {
                "category": UNIQUE + request.category,
                "label": f"{UNIQUE}{index}",
                "index1": index,
                "value": request.newlabel,
            }
        )
        self._table.delete({"category": request.category, "label": request.oldlabel})
        return {"category": request.category, "label": request.newlabel, "index": index}
