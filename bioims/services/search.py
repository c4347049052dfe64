"""Search service (docs/original.md §2.12): submit searches and read their results from BioimsSearch;
feed the search service's index through the management queue.

The search itself runs in the search service (bioims.search: the Fargate task on AWS; on the
local backend the same code, embedded in this process unless `bioims search serve` runs).
Against the original's defects (docs/original.md §8.5 #42-44): JSON messages, one FIFO group per
trainId; embeddings and large tag sets travel as objects, not as base64 lines in SQS; `running` is
a real status and `submitTimestamp` a real timestamp; `searchByImageId` returns the hits and can
wait longer than 30 s; `queryOrigin` is rejected instead of silently ignored; `getSearchResults`
answers an object.
"""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, StrictFloat, StrictInt

from bioims import ids, keys, resources, tables
from bioims.errors import BadRequest, NotFound
from bioims.search import messages as m
from bioims.search.query import MAX_HITS, SearchQuery, parse_query
from bioims.search.results import FINAL_STATUSES, TableResults, new_header
from bioims.search.server import EmbeddedSearch
from bioims.services.api import Request, Service, api
from bioims.services.models import EmbeddingName, Flag, Id, NumericInt
from bioims.services.wire import Wire, get_item
from bioims.store.ports import Update
from bioims.vectors import decode_vector

DEFAULT_WAIT_SECONDS = 30.0
MAX_WAIT_SECONDS = 600.0
POLL_SECONDS = 0.3


def _results_encode(result: dict, params: dict) -> list:
    """The original's hit rows {searchId, imageId, rank: "0", distance: "..."} (strings), by rank;
    each row also carries the search's status."""
    return [
        {
            "searchId": result["searchId"],
            "imageId": h["imageId"],
            "rank": str(h["rank"]),
            "distance": str(h["distance"]),
            "status": result["status"],
        }
        for h in result["hits"]
    ]


def _results_decode(body: list, params: dict) -> dict:
    hits = [{"imageId": r["imageId"], "rank": int(r["rank"]), "distance": float(r["distance"])} for r in body]
    return {"searchId": params.get("searchId"), "status": body[0].get("status") if body else None, "hits": hits}


class SubmitRequest(Request):
    search: SearchQuery


class SearchByImageRequest(Request):
    trainId: Id
    queryImageId: Id
    metric: Any = None
    maxHits: Any = None
    requireMoa: Any = None
    inclusionTags: Any = None
    exclusionTags: Any = None
    waitSeconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = DEFAULT_WAIT_SECONDS


class SearchIdRequest(Request):
    searchId: Id


class StatusRequest(Request):
    searchId: Id
    status: Literal["submitted", "running", "completed", "error"]


class Hit(Request):
    imageId: Id
    rank: Annotated[NumericInt, Field(ge=0, lt=MAX_HITS)]
    distance: StrictFloat | StrictInt


class CreateResultsRequest(Request):
    searchId: Id
    hits: Annotated[list[Hit], Field(max_length=MAX_HITS)]
    candidateCount: Annotated[StrictInt, Field(ge=0)] | None = None


class ProcessPlateRequest(Request):
    plateId: Id
    trainId: Id | None = None
    embeddingName: EmbeddingName | None = None


class TrainRequest(Request):
    trainId: Id


class LoadTrainingRequest(Request):
    trainId: Id
    wait: Flag = True


class LoadTagsRequest(Request):
    embeddingName: EmbeddingName
    wait: Flag = True


class NoParams(Request):
    pass


class SearchService(Service):
    name = "search"

    def __init__(self, context):
        super().__init__(context)
        self._embedded = None
        self._embedded_guard = threading.Lock()  # the map's threads send (and drain) at once

    # --- plumbing ------------------------------------------------------------------------------
    @property
    def results(self) -> TableResults:
        return TableResults(self.table(tables.SEARCH))

    def _send(self, slot: str, message: dict, dedup_id: str | None = None) -> str:
        queue = self.ctx.stores.queue(slot)
        return queue.send(m.encode(message), group_id=m.group_id(message), dedup_id=dedup_id or ids.new_message_id())

    def embedded(self):
        """The in-process search service of the local backend (None on AWS)."""
        if self.ctx.settings.backend != "local":
            return None
        with self._embedded_guard:
            if self._embedded is None:
                self._embedded = EmbeddedSearch(self.ctx.stores, tag_source=self.ctx.tag.all_tags)
            return self._embedded

    def _deliver(self) -> bool:
        """Locally, handle what was just sent (unless a `bioims search serve` process does)."""
        embedded = self.embedded()
        return embedded.drain() if embedded is not None else False

    def _header(self, search_id: str) -> dict:
        header = self.results.header(search_id)
        if header is None:
            raise NotFound(f"search {search_id!r} does not exist")
        return header

    @staticmethod
    def _public(header: dict) -> dict:
        return {k: v for k, v in header.items() if k != "imageId"}

    # --- searches ------------------------------------------------------------------------------
    def submit(self, search: SearchQuery | dict) -> str:
        query = parse_query(search)
        if query.queryImageId is None:
            raise BadRequest("submitSearch needs queryImageId (search by vector through the search service's HTTP API)")
        self.ctx.training_configuration.training(query.trainId)
        search_id = ids.new_id()
        self.results.table.put(new_header(search_id, query))
        try:
            self._send(resources.SEARCH_QUEUE, m.search_by_image_id(search_id, query), dedup_id=search_id)
        except Exception as exc:
            self.results.mark_error(search_id, f"the search could not be queued: {type(exc).__name__}: {exc}")
            raise
        return search_id

    @api(SubmitRequest)
    def submitSearch(self, request: SubmitRequest) -> dict:
        """Queue a search {trainId, queryImageId, metric?, maxHits?, requireMoa?, inclusionTags?,
        exclusionTags?}; its status goes submitted -> running -> completed | error."""
        search_id = self.submit(request.search)
        self._deliver()
        return {"searchId": search_id}

    @api(SearchByImageRequest)
    def searchByImageId(self, request: SearchByImageRequest) -> dict:
        """Submit a search and wait (up to waitSeconds) for it to end; answers the hits."""
        fields = request.model_dump(exclude={"waitSeconds"}, exclude_none=True)
        search_id = self.submit(fields)
        delivered = self._deliver()
        deadline = time.monotonic() + request.waitSeconds
        header = self._header(search_id)
        while header.get("status") not in FINAL_STATUSES and not delivered and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            header = self._header(search_id)
        out: dict[str, Any] = {"searchId": search_id, "status": header.get("status")}
        if header.get("status") == "completed":
            out["hits"] = self._hits(search_id)
        elif header.get("status") == "error":
            out["errorReason"] = header.get("errorReason", "")
        else:
            out["timedOut"] = True
        return out

    def _hits(self, search_id: str) -> list[dict]:
        return [
            {"imageId": r["imageId"], "rank": int(r["rank"]), "distance": float(r["distance"])}
            for r in self.results.hits(search_id)
        ]

    @api(SearchIdRequest, wire=Wire(_results_encode, _results_decode))
    def getSearchResults(self, request: SearchIdRequest) -> dict:
        """Hits ordered by rank (empty until the search completed)."""
        header = self._header(request.searchId)
        return {"searchId": request.searchId, "status": header.get("status"), "hits": self._hits(request.searchId)}

    @api(SearchIdRequest, wire=get_item(lambda r: r, lambda item: item))
    def getSearchStatus(self, request: SearchIdRequest) -> dict:
        return self._public(self._header(request.searchId))

    @api(StatusRequest)
    def updateSearchStatus(self, request: StatusRequest) -> dict:
        self._header(request.searchId)
        if request.status == "error":
            self.results.mark_error(request.searchId, "set by updateSearchStatus")
        elif request.status == "running":
            self.results.mark_running(request.searchId)
        else:
            self.results.table.update(
                {"searchId": request.searchId, "imageId": tables.ORIGIN}, Update(set={"status": request.status})
            )
        return {"searchId": request.searchId, "status": request.status}

    @api(CreateResultsRequest)
    def createSearchResults(self, request: CreateResultsRequest) -> dict:
        """Record the hits of a search (what an external search service calls) and complete it."""
        self._header(request.searchId)
        ranks = sorted(h.rank for h in request.hits)
        if ranks != list(range(len(ranks))):
            raise BadRequest("hit ranks must be 0, 1, ..., n-1, each once")
        if len({h.imageId for h in request.hits}) != len(request.hits):
            raise BadRequest("each image may be a hit only once")
        if any(not np.isfinite(h.distance) for h in request.hits):
            raise BadRequest("distances must be finite numbers")
        hits = [h.model_dump() for h in request.hits]
        self.results.write_results(
            request.searchId, hits, request.candidateCount if request.candidateCount is not None else len(hits)
        )
        return {"searchId": request.searchId, "hitCount": len(hits)}

    # --- loading the index ---------------------------------------------------------------------
    @api(ProcessPlateRequest)
    def processPlate(self, request: ProcessPlateRequest) -> dict:
        """With trainId: load the plate's image embeddings of that training into the index. With
        embeddingName: load the tags of the plate's images for that embedding."""
        if (request.trainId is None) == (request.embeddingName is None):
            raise BadRequest("processPlate needs exactly one of trainId and embeddingName")
        self.ctx.image_management.plate(request.plateId)
        if request.trainId is not None:
            out = self._plate_embeddings(request.trainId, request.plateId)
        else:
            assert request.embeddingName is not None  # exactly one of the two, checked above
            out = self._plate_tags(request.embeddingName, request.plateId)
        self._deliver()
        return out

    def _plate_embeddings(self, train_id: str, plate_id: str) -> dict:
        training = self.ctx.training_configuration.training(train_id)
        data = self.ctx.stores.data
        key = keys.plate_embeddings_key(train_id, plate_id)
        source = "plate-embeddings-file"
        if not data.exists(key):
            # No per-plate file: stage one from the per-image training rows.
            rows = [r for r in self.ctx.image_management.plate_train_rows(plate_id, train_id) if r.get("embedding")]
            if not rows:
                return {"plateId": plate_id, "trainId": train_id, "images": 0, "queued": False}
            try:
                vectors = np.stack([decode_vector(r["embedding"]) for r in rows])
            except ValueError as exc:
                raise BadRequest(f"plate {plate_id}: stored embeddings cannot be read: {exc}") from None
            buffer = io.BytesIO()
            np.savez(buffer, image_ids=np.asarray([r["imageId"] for r in rows]), embeddings=vectors.astype(np.float32))
            key = keys.search_staging_key(f"{train_id}-{plate_id}-embeddings.npz")
            data.put_bytes(key, buffer.getvalue(), content_type="application/octet-stream")
            source = "training-rows"
        message_id = self._send(
            resources.MANAGEMENT_QUEUE, m.plate_embedding(train_id, training["embeddingName"], plate_id, key)
        )
        return {
            "plateId": plate_id,
            "trainId": train_id,
            "key": key,
            "source": source,
            "queued": True,
            "messageId": message_id,
        }

    def _plate_tags(self, embedding_name: str, plate_id: str) -> dict:
        self.ctx.training_configuration.embedding(embedding_name)
        images = self.ctx.image_management.plate_images(plate_id)
        # Every image of the plate, untagged ones with [], so a reload also clears removed tags.
        tags = {row["imageId"]: [int(t) for t in (row.get("tagArr") or [])] for row in images}
        message = m.plate_tags(embedding_name, plate_id, images=tags)
        if len(m.encode(message)) > m.MAX_INLINE_BYTES:
            key = keys.search_staging_key(f"tags-{embedding_name}-{plate_id}.json")
            self.ctx.stores.data.put_bytes(
                key, json.dumps({"images": message["images"]}).encode(), content_type="application/json"
            )
            message = m.plate_tags(embedding_name, plate_id, key=key)
        message_id = self._send(resources.MANAGEMENT_QUEUE, message)
        tagged = sum(1 for v in tags.values() if v)
        return {
            "plateId": plate_id,
            "embeddingName": embedding_name,
            "images": len(tags),
            "tagged": tagged,
            "queued": True,
            "messageId": message_id,
        }

    @api(NoParams)
    def loadTagLabelMap(self, request: NoParams) -> dict:
        """Send the tag service's id -> value map to the search service (needed by requireMoa)."""
        labels = self.ctx.tag.all_tags()
        message = m.load_tag_label_map(labels)
        if len(m.encode(message)) > m.MAX_INLINE_BYTES:
            key = keys.search_staging_key(f"tag-labels-{ids.new_id()}.json")
            self.ctx.stores.data.put_bytes(
                key, json.dumps({"tags": message["tags"]}).encode(), content_type="application/json"
            )
            message = m.load_tag_label_map(key=key)
        message_id = self._send(resources.MANAGEMENT_QUEUE, message)
        self._deliver()
        return {"tags": len(labels), "messageId": message_id}

    @api(NoParams)
    def logTrainList(self, request: NoParams) -> dict:
        message_id = self._send(resources.MANAGEMENT_QUEUE, m.log_train_list())
        self._deliver()
        return {"messageId": message_id}

    @api(TrainRequest)
    def deleteTraining(self, request: TrainRequest) -> dict:
        """Unload a training from the search index (its snapshots included)."""
        message_id = self._send(resources.MANAGEMENT_QUEUE, m.delete_training(request.trainId))
        data = self.ctx.stores.data
        for info in list(data.list(keys.search_staging_key(f"{request.trainId}-"))):
            data.delete(info.key)
        self._deliver()
        return {"trainId": request.trainId, "messageId": message_id}

    @api(LoadTrainingRequest)
    def startTrainingLoad(self, request: LoadTrainingRequest) -> dict:
        """Run the search-train-loader workflow: processPlate for every plate of the training."""
        self.ctx.training_configuration.training(request.trainId)
        return self.start_workflow("search-train-loader", {"trainId": request.trainId}, request.wait)

    @api(LoadTagsRequest)
    def startTagLoad(self, request: LoadTagsRequest) -> dict:
        """Run the search-tag-loader workflow: processPlate for every plate of the embedding."""
        self.ctx.training_configuration.embedding(request.embeddingName)
        return self.start_workflow("search-tag-loader", {"embeddingName": request.embeddingName}, request.wait)
