"""Artifact service (docs/original.md §2.5): which objects belong to which plate, image or training.

Rows: {contextId: "<context>#<trainId>", artifact: "s3key#<key>" (or any string), createTimestamp,
description, annotation: [..]}. Fixed: addAnnotation works (list append), registering the same
artifact twice keeps its first timestamp, every output of the pipeline can be registered (the
original skipped ROI files). `createDescribeStacksArtifact` now snapshots the deployment's
resource names (bioims.config) instead of a first-page DescribeStacks dump.
"""

from __future__ import annotations

import json

from bioims import keys, resources, tables
from bioims.errors import BadRequest, NotFound
from bioims.ids import new_id, now_ms
from bioims.services.api import Request, Service, api
from bioims.services.models import Id, Name, Text
from bioims.services.wire import Wire
from bioims.store import Condition, ConditionFailed, Update


def _artifacts_encode(result: dict, params: dict) -> list:
    """The original's rows: contextId is the composite "<contextId>#<trainId>"."""
    return [
        {
            **{k: v for k, v in a.items() if k not in ("contextId", "trainId")},
            "contextId": f"{a['contextId']}#{a['trainId']}",
        }
        for a in result["artifacts"]
    ]


def _artifacts_decode(body: list, params: dict) -> dict:
    artifacts = []
    for row in body:
        context, _, train = row["contextId"].rpartition("#")
        artifacts.append({**row, "contextId": context, "trainId": train})
    return {"contextId": params.get("contextId"), "trainId": params.get("trainId"), "artifacts": artifacts}


class ArtifactModel(Request):
    contextId: Id
    trainId: Id
    artifact: Name
    description: Text = ""
    annotation: Text | None = None


class CreateRequest(Request):
    artifact: ArtifactModel


class ContextRequest(Request):
    contextId: Id
    trainId: Id


class AnnotationRequest(Request):
    contextId: Id
    trainId: Id
    artifact: Name
    annotation: Text


SEPARATOR = "#"


def context_key(context_id: str, train_id: str) -> str:
    """The table's partition key "<contextId>#<trainId>"; a component holding the separator would
    alias another context's rows, so it is refused (request models refuse it earlier, as ids)."""
    if SEPARATOR in context_id or SEPARATOR in train_id:
        raise BadRequest(f"contextId {context_id!r} and trainId {train_id!r} cannot contain {SEPARATOR!r}")
    return f"{context_id}{SEPARATOR}{train_id}"


class ArtifactService(Service):
    name = "artifact"

    @property
    def _table(self):
        return self.table(tables.ARTIFACT)

    def register(self, context_id: str, train_id: str, artifact: str, description: str = "") -> None:
        self._table.update(
            {"contextId": context_key(context_id, train_id), "artifact": artifact},
            Update(set={"description": description}, set_if_missing={"createTimestamp": now_ms(), "annotation": []}),
        )

    def register_object(self, context_id: str, train_id: str, key: str, description: str = "") -> None:
        """Register an object of the data bucket (artifact = "s3key#<key>")."""
        self.register(context_id, train_id, keys.s3key_artifact(key), description)

    def register_objects(self, context_id: str, train_id: str, object_keys: list[str], description: str = "") -> None:
        stamp, partition = now_ms(), context_key(context_id, train_id)
        self._table.batch_write(
            puts=[
                {
                    "contextId": partition,
                    "artifact": keys.s3key_artifact(k),
                    "description": description,
                    "createTimestamp": stamp,
                    "annotation": [],
                }
                for k in object_keys
            ]
        )

    @staticmethod
    def _present(row: dict) -> dict:
        context, _, train = row["contextId"].rpartition("#")
        out = {
            "contextId": context,
            "trainId": train,
            "artifact": row["artifact"],
            "description": row.get("description", ""),
            "annotation": row.get("annotation", []),
            "createTimestamp": row.get("createTimestamp"),
        }
        if row["artifact"].startswith("s3key#"):
            out["key"] = row["artifact"][len("s3key#") :]
        return out

    def list(self, context_id: str, train_id: str) -> list[dict]:
        return [self._present(r) for r in self._table.query_all(context_key(context_id, train_id))]

    @api(CreateRequest)
    def createArtifact(self, request: CreateRequest) -> dict:
        a = request.artifact
        self.register(a.contextId, a.trainId, a.artifact, a.description)
        if a.annotation:
            self._table.update(
                {"contextId": context_key(a.contextId, a.trainId), "artifact": a.artifact},
                Update(append={"annotation": [a.annotation]}),
            )
        return {"contextId": a.contextId, "trainId": a.trainId, "artifact": a.artifact}

    @api(ContextRequest, wire=Wire(_artifacts_encode, _artifacts_decode))
    def getArtifacts(self, request: ContextRequest) -> dict:
        return {
            "contextId": request.contextId,
            "trainId": request.trainId,
            "artifacts": self.list(request.contextId, request.trainId),
        }

    @api(AnnotationRequest)
    def addAnnotation(self, request: AnnotationRequest) -> dict:
        try:
            row = self._table.update(
                {"contextId": context_key(request.contextId, request.trainId), "artifact": request.artifact},
                Update(append={"annotation": [request.annotation]}),
                condition=Condition.must_exist(),
            )
        except ConditionFailed:
            raise NotFound(
                f"artifact {request.artifact!r} of {request.contextId}#{request.trainId} does not exist"
            ) from None
        return self._present(row)

    @api(ContextRequest)
    def deleteArtifacts(self, request: ContextRequest) -> dict:
        rows = list(self._table.query_all(context_key(request.contextId, request.trainId)))
        self._table.batch_write(deletes=rows)
        return {"contextId": request.contextId, "trainId": request.trainId, "deleted": len(rows)}

    @api(ContextRequest)
    def createDescribeStacksArtifact(self, request: ContextRequest) -> dict:
        """Snapshot the deployment's resource names into the data bucket (for jobs that must not
        call discovery APIs themselves) and register it."""
        settings = self.ctx.settings
        names = {
            "backend": settings.backend,
            "deployment": settings.deployment,
            "region": settings.region,
            "resources": {slot: settings.resource(slot) for slot in (resources.DATA_BUCKET, resources.RESOURCE_BUCKET)},
        }
        key = f"{keys.ARTIFACT_ROOT}/describe-stacks/{request.contextId}/stacks-{new_id()}.json"
        self.ctx.stores.data.put_bytes(key, json.dumps(names, indent=1).encode(), content_type="application/json")
        self.register_object(request.contextId, request.trainId, key, "resource names")
        return {"contextId": request.contextId, "trainId": request.trainId, "key": key}
