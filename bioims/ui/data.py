"""What the web UI shows, fetched through the same clients and search API as everyone else.

Every read goes through `bioims.client(...)` (the service handlers locally, the Lambdas on AWS),
objects (thumbnails, report figures, model cards) through the data ObjectStore under the
`artifact/` prefix, and searches through the search client or, when a URL is given, the search
service's HTTP API. Unknown ids raise NotFound (bioims.errors); a search service that does not answer raises
SearchUnavailable; the pages turn both into clear messages.
"""

from __future__ import annotations

import json
import posixpath
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import bioims
from bioims import context as context_module
from bioims import keys
from bioims.clients import ClientError
from bioims.errors import BadRequest, NotFound, Unavailable

THUMBNAIL = "thumbnail-2d.png"
MEDIUM = "medium-2d.png"
OBJECT_PREFIX = "artifact/"
REPORT_FILES = (
    "metrics.json",
    "report.md",
    "confusion_nsc.png",
    "confusion_nscb.png",
    "tsne.png",
    "umap.png",
    "compounds.png",
    "compounds.csv",
)


class SearchUnavailable(Unavailable):
    """The search service did not answer (down, unreachable or too slow)."""


class SearchFailed(BadRequest):
    """The search service answered with an error about this query (bad filter, unloaded training)."""


@dataclass(frozen=True)
class Hit:
    image: dict
    rank: int
    distance: float


def _not_found(exc: ClientError) -> bool:
    return exc.status == 404


class UiData:
    """The UI's one door to the system. `search_url`: the search service's HTTP API (e.g. on AWS
    inside its task, http://127.0.0.1:8080); None: the search client (in-process locally)."""

    def __init__(self, context=None, *, search_url: str | None = None, search_timeout: float = 30.0):
        self.ctx = context or context_module.get()
        self.search_url = search_url.rstrip("/") if search_url else None
        self.search_timeout = search_timeout
        self._lock = threading.RLock()  # service calls are serialised: the local backend is one process

    def client(self, name: str):
        return bioims.client(name, self.ctx)

    def _call(self, name: str, method: str, *args, **kwargs) -> Any:
        with self._lock:
            return getattr(self.client(name), method)(*args, **kwargs)

    # --- plates and images ---------------------------------------------------------------------
    def plates(self) -> list[dict]:
        return sorted(self._call("image-management", "listPlates"), key=lambda p: str(p.get("plateSourceId", "")))

    def _lookup(self, method: str, item_id: str, what: str) -> dict:
        """One image-management row by id; an unknown or malformed id is the UI's NotFound (404)."""
        try:
            return self._call("image-management", method, item_id)
        except ClientError as exc:
            if _not_found(exc) or exc.status == 400:
                raise NotFound(f"no {what} {item_id!r}") from None
            raise

    def plate(self, plate_id: str) -> dict:
        return self._lookup("getPlateInfo", plate_id, "plate")

    def plate_images(self, plate_id: str) -> list[dict]:
        rows = self._call("image-management", "getImagesByPlateId", plate_id)
        return sorted(rows, key=lambda r: (well_position(r.get("wellSourceId", "")), str(r.get("imageSourceId", ""))))

    def image(self, image_id: str) -> dict:
        return self._lookup("getImageInfo", image_id, "image")

    def images(self, image_ids: Iterable[str]) -> dict[str, dict]:
        out = {}
        for image_id in image_ids:
            try:
                out[image_id] = self.image(image_id)
            except NotFound:
                out[image_id] = {"imageId": image_id}
        return out

    def artifacts(self, image_id: str) -> list[dict]:
        return self._call("artifact", "getArtifacts", image_id, "origin")

    def messages(self, message_id: str | None) -> list[dict]:
        if not message_id:
            return []
        try:
            return self._call("message", "listMessage", message_id)
        except ClientError as exc:
            if _not_found(exc):
                return []
            raise

    def tags(self) -> dict[int, str]:
        return {int(t["id"]): t["tagValue"] for t in self._call("tag", "getAllTags")}

    # --- trainings -----------------------------------------------------------------------------
    def trainings(self) -> list[dict]:
        out = []
        for embedding in self._call("training-configuration", "listEmbeddings"):
            out.extend(self._call("training-configuration", "getEmbeddingTrainings", embedding["embeddingName"]))
        return sorted(
            (t for t in out if t.get("trainId") != "origin"),
            key=lambda t: str(t.get("createTimestamp", "")),
            reverse=True,
        )

    def training(self, train_id: str) -> dict:
        try:
            training = self._call("training-configuration", "getTraining", train_id)
        except ClientError as exc:
            if _not_found(exc) or exc.status == 400:
                raise NotFound(f"no training {train_id!r}") from None
            raise
        if training.get("trainId") == "origin":
            raise NotFound(f"no training {train_id!r}")
        return training

    def model_card(self, training: dict) -> dict | None:
        key = training.get("modelCardKey") or keys.model_card_key(training["trainId"])
        data = self.object_bytes(key)
        return None if data is None else json.loads(data)

    def report_files(self, train_id: str) -> dict[str, str]:
        """{file name: object key} of the training's published evaluation report."""
        prefix = keys.report_prefix(train_id)
        return {
            posixpath.basename(o.key): o.key
            for o in self.ctx.stores.data.list(prefix)
            if posixpath.basename(o.key) in REPORT_FILES
        }

    def report_metrics(self, train_id: str) -> dict | None:
        data = self.object_bytes(keys.report_prefix(train_id) + "metrics.json")
        return None if data is None else json.loads(data)

    # --- objects -------------------------------------------------------------------------------
    def object_bytes(self, key: str) -> bytes | None:
        """An artifact object's bytes, or None when absent. Only keys under artifact/."""
        if not key.startswith(OBJECT_PREFIX) or ".." in key.split("/") or "//" in key:
            raise NotFound(f"no object {key!r}")
        store = self.ctx.stores.data
        if not store.exists(key):
            return None
        return store.get_bytes(key)

    @staticmethod
    def thumbnail_key(image: dict, name: str = THUMBNAIL) -> str:
        return keys.thumbnail_key(image["plateId"], image["imageId"], name)

    # --- search --------------------------------------------------------------------------------
    def search(
        self, train_id: str, image_id: str, k: int, include: list[int], exclude: list[int], require_moa: bool
    ) -> list[Hit]:
        query = {
            "trainId": train_id,
            "queryImageId": image_id,
            "maxHits": k,
            "requireMoa": require_moa,
            "inclusionTags": include or None,
            "exclusionTags": exclude or None,
        }
        answer = self._search_http(query) if self.search_url else self._search_client(query)
        hits = answer.get("hits", [])
        images = self.images(h["imageId"] for h in hits)
        return [Hit(images[h["imageId"]], int(h["rank"]), float(h["distance"])) for h in hits]

    def _search_client(self, query: dict) -> dict:
        try:
            answer = self._call(
                "search",
                "searchByImageId",
                waitSeconds=self.search_timeout,
                **{k: v for k, v in query.items() if v is not None},
            )
        except ClientError as exc:
            if exc.status >= 500:
                raise SearchUnavailable(f"the search service failed: {exc}") from None
            raise SearchFailed(str(exc.body.get("message") if isinstance(exc.body, dict) else exc)) from None
        if answer.get("timedOut"):
            raise SearchUnavailable(
                f"the search service did not answer within {self.search_timeout:g} s "
                f"(search {answer.get('searchId')} is still {answer.get('status')}): is it running?"
            )
        if answer.get("status") == "error":
            raise SearchFailed(answer.get("errorReason") or "the search failed")
        return answer

    def _search_http(self, query: dict) -> dict:
        body = json.dumps({k: v for k, v in query.items() if v is not None}).encode()
        request = urllib.request.Request(
            f"{self.search_url}/search", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.search_timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", "")
            except ValueError:
                message = ""
            if exc.code >= 500:
                raise SearchUnavailable(
                    f"the search service at {self.search_url} failed ({exc.code}): {message}"
                ) from None
            raise SearchFailed(message or f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SearchUnavailable(
                f"the search service at {self.search_url} is not reachable ({reason}): is it running?"
            ) from None

    def warm_search(self) -> None:
        """Locally, load the in-process search index now rather than on the first search (a
        management message that only logs the loaded trainings goes through the search client)."""
        if self.search_url is None and self.ctx.settings.backend == "local":
            try:
                self._call("search", "logTrainList")
            except ClientError:
                pass  # the first search will report what is wrong


def well_position(well: str) -> tuple[int, int]:
    """("D09") -> (3, 8): zero-based row and column of a well name; (-1, -1) when unparseable."""
    well = (well or "").strip().upper()
    letters = "".join(c for c in well if c.isalpha())
    digits = "".join(c for c in well if c.isdigit())
    if not letters or not digits:
        return (-1, -1)
    row = 0
    for c in letters:
        row = row * 26 + (ord(c) - 64)
    return row - 1, int(digits) - 1
