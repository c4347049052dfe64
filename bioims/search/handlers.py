"""What the search service does with each queue message, independent of the queue technology.

Each message ends in one of three dispositions:
  done      handled; the outcome (results or an `error` status with a reason) is recorded
  rejected  can never succeed (malformed, unknown type, invalid content): a poison message
  retry     failed for a reason that may pass (storage fault, file not there yet)
The consumer deletes `done` messages, and dead-letters the rest once retries are used up.
A search that cannot be answered (unknown trainId or imageId, no embedding, bad filter) is `done`
with status `error` and the reason: the caller learns why instead of waiting forever.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bioims.errors import InvalidRequest, PlateFileMissing, RequestError
from bioims.search import messages as m
from bioims.search.engine import SearchEngine, SearchResult
from bioims.search.query import check_id, parse_query
from bioims.search.results import ResultsWriter
from bioims.search.snapshot import parse_tag_images
from bioims.store.ports import ObjectNotFound

log = logging.getLogger("bioims.search")


class Disposition(str, Enum):  # noqa: UP042 - StrEnum would change str() of a member
    DONE = "done"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(frozen=True)
class Handled:
    disposition: Disposition
    reason: str = ""
    search_id: str | None = None


class MessageHandler:
    """Handles management and search messages against one engine, recording search outcomes
    through a ResultsWriter."""

    def __init__(self, engine: SearchEngine, results: ResultsWriter):
        self.engine = engine
        self.results = results

    # --- search queue --------------------------------------------------------------------------
    def handle_searches(self, bodies: Sequence[str | dict]) -> list[Handled]:
        """A batch of searchByImageId messages; the valid ones are searched together."""
        handled: list[Handled | None] = [None] * len(bodies)
        pending: list[tuple[int, str, Any]] = []
        for place, body in enumerate(bodies):
            search_id = None
            try:
                message = m.decode(body, m.SEARCH_TYPES)
                search_id = check_id(message.get("searchId"), "searchId")
                self.results.mark_running(search_id)
                query = parse_query(m.query_of(message))
                if query.queryImageId is None:
                    raise InvalidRequest("searchByImageId needs queryImageId")
                pending.append((place, search_id, query))
            except RequestError as exc:
                handled[place] = self._search_failed(search_id, exc)
            except Exception as exc:  # storage fault while marking the search running
                handled[place] = Handled(Disposition.RETRY, _describe(exc), search_id)
        outcomes = self.engine.search_many([q for _, _, q in pending]) if pending else []
        for (place, search_id, _), outcome in zip(pending, outcomes, strict=True):
            try:
                if isinstance(outcome, SearchResult):
                    self.results.write_results(search_id, outcome.hits(), outcome.candidates)
                    handled[place] = Handled(Disposition.DONE, search_id=search_id)
                else:
                    self.results.mark_error(search_id, outcome.message)
                    handled[place] = Handled(Disposition.DONE, outcome.message, search_id)
            except Exception as exc:
                handled[place] = Handled(Disposition.RETRY, _describe(exc), search_id)
        return handled  # type: ignore[return-value]

    def _search_failed(self, search_id: str | None, exc: RequestError) -> Handled:
        if search_id is None:  # nothing to record the error on: a poison message
            return Handled(Disposition.REJECTED, exc.message)
        try:
            self.results.mark_error(search_id, exc.message)
        except Exception as write_error:
            return Handled(Disposition.RETRY, _describe(write_error), search_id)
        return Handled(Disposition.DONE, exc.message, search_id)

    def give_up_search(self, body: str | dict, reason: str) -> None:
        """Record the final failure of a search message the consumer stops retrying."""
        try:
            search_id = m.decode(body, m.SEARCH_TYPES).get("searchId")
            if isinstance(search_id, str) and search_id:
                self.results.mark_error(search_id, f"search failed after repeated attempts: {reason}")
        except Exception as exc:
            log.error("search: could not record the failure of a search message: %s", exc)

    # --- management queue ----------------------------------------------------------------------
    def handle_management(self, bodies: Sequence[str | dict]) -> list[Handled]:
        """Management messages, strictly in order (a later message may depend on an earlier one)."""
        return [self.handle_management_one(body) for body in bodies]

    def handle_management_one(self, body: str | dict) -> Handled:
        try:
            message = m.decode(body, m.MANAGEMENT_TYPES)
            reason = self._manage(message)
            return Handled(Disposition.DONE, reason)
        except PlateFileMissing as exc:
            return Handled(Disposition.RETRY, exc.message)
        except RequestError as exc:
            log.warning("search: rejected management message: %s", exc.message)
            return Handled(Disposition.REJECTED, exc.message)
        except Exception as exc:
            log.exception("search: management message failed")
            return Handled(Disposition.RETRY, _describe(exc))

    def _manage(self, message: dict) -> str:
        kind = message["type"]
        if kind == m.PLATE_EMBEDDING:
            train_id, embedding_name, plate_id = m.require(message, "trainId", "embeddingName", "plateId")
            key = message.get("key")
            if key is not None and not isinstance(key, str):
                raise InvalidRequest("plateEmbedding 'key' must be a string")
            count = self.engine.load_plate_embeddings(train_id, embedding_name, plate_id, key)
            return f"loaded {count} embeddings of plate {plate_id} into training {train_id}"
        if kind == m.PLATE_TAGS:
            embedding_name, plate_id = m.require(message, "embeddingName", "plateId")
            if ("images" in message) == ("key" in message):
                raise InvalidRequest("plateTags needs exactly one of 'images' and 'key'")
            if "key" in message:
                images = self._read_object(message["key"]).get("images")
            else:
                images = message["images"]
            count = self.engine.set_plate_tags(embedding_name, plate_id, parse_tag_images(images))
            return f"tagged {count} images of plate {plate_id} for embedding {embedding_name}"
        if kind == m.LOAD_TAG_LABEL_MAP:
            tags = message.get("tags")
            if "key" in message:
                tags = self._read_object(message["key"]).get("tags")
            if tags is not None and not isinstance(tags, dict):
                raise InvalidRequest("loadTagLabelMap 'tags' must be an object {tagId: tagValue}")
            count = self.engine.set_tag_labels(tags)
            return f"loaded {count} tag labels"
        if kind == m.LOG_TRAIN_LIST:
            listing = self.engine.trainings()
            log.info("search: loaded trainings: %s", listing)
            return f"{len(listing)} trainings loaded"
        (train_id,) = m.require(message, "trainId")
        existed = self.engine.delete_training(train_id)
        return f"deleted training {train_id}" if existed else f"training {train_id} was not loaded"

    def _read_object(self, key: Any) -> dict:
        """A JSON object staged in the data bucket by a loader."""
        if not isinstance(key, str) or not key:
            raise InvalidRequest("'key' must be a non-empty string")
        if self.engine.objects is None:
            raise InvalidRequest("this search engine has no object store to read from")
        try:
            body = json.loads(self.engine.objects.get_bytes(key))
        except ObjectNotFound:
            raise PlateFileMissing(f"no object {key!r}") from None
        except ValueError as exc:
            raise InvalidRequest(f"object {key!r} is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise InvalidRequest(f"object {key!r} must hold a JSON object")
        return body


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
