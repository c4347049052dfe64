"""Search results and status in the BioimsSearch table (docs/original.md §3.5), defined once.

Header row (imageId = "origin"): the query, `status` (submitted -> running -> completed | error),
`submitTimestamp` (a real ms timestamp; the original stored a function object), `hitCount`,
`candidateCount`, `errorReason`. Hit rows (imageId = the hit): `rank` (0-based int) and
`distance` (float: the metric the hits were ranked by). A re-run of the same search (a redelivered
message) replaces its hits: rows of the earlier run that are no longer hits are removed.
"""

from __future__ import annotations

from typing import Protocol

from bioims import ids, tables
from bioims.search.query import SearchQuery
from bioims.store.ports import Table, Update

SUBMITTED = "submitted"
RUNNING = "running"
COMPLETED = "completed"
ERROR = "error"
STATUSES = (SUBMITTED, RUNNING, COMPLETED, ERROR)
FINAL_STATUSES = (COMPLETED, ERROR)


class ResultsWriter(Protocol):
    """Where the queue handler puts what happened to a search."""

    def mark_running(self, search_id: str) -> None: ...

    def write_results(self, search_id: str, hits: list[dict], candidate_count: int) -> None: ...

    def mark_error(self, search_id: str, reason: str) -> None: ...


def header_key(search_id: str) -> dict:
    return {"searchId": search_id, "imageId": tables.ORIGIN}


def new_header(search_id: str, query: SearchQuery) -> dict:
    """The header row `submitSearch` writes before the search message is sent."""
    row = {
        "searchId": search_id,
        "imageId": tables.ORIGIN,
        "trainId": query.trainId,
        "queryImageId": query.queryImageId,
        "metric": query.metric.value,
        "maxHits": query.maxHits,
        "requireMoa": query.requireMoa,
        "inclusionTags": list(query.inclusionTags),
        "exclusionTags": list(query.exclusionTags),
        "submitTimestamp": ids.now_ms(),
        "status": SUBMITTED,
    }
    return row


class TableResults:
    """ResultsWriter and reader over the BioimsSearch table (any Table adapter)."""

    def __init__(self, table: Table):
        self.table = table

    def mark_running(self, search_id: str) -> None:
        self.table.update(
            header_key(search_id),
            Update(
                set={"status": RUNNING, "startTimestamp": ids.now_ms()}, remove=("errorReason",), add={"attempts": 1}
            ),
        )

    def write_results(self, search_id: str, hits: list[dict], candidate_count: int) -> None:
        previous = self.table.get(header_key(search_id)) or {}
        rows = [
            {"searchId": search_id, "imageId": h["imageId"], "rank": int(h["rank"]), "distance": float(h["distance"])}
            for h in hits
        ]
        if rows:
            self.table.batch_write(puts=rows)
        # Only a repeated attempt can have left rows behind (earlier hits, or a crash mid-write).
        if previous.get("hitCount") is not None or int(previous.get("attempts", 1)) > 1:
            keep = {r["imageId"] for r in rows} | {tables.ORIGIN}
            stale = [
                {"searchId": search_id, "imageId": r["imageId"]}
                for r in self.table.query_all(search_id)
                if r["imageId"] not in keep
            ]
            if stale:
                self.table.batch_write(deletes=stale)
        self.table.update(
            header_key(search_id),
            Update(
                set={
                    "status": COMPLETED,
                    "hitCount": len(rows),
                    "candidateCount": int(candidate_count),
                    "completeTimestamp": ids.now_ms(),
                },
                remove=("errorReason",),
            ),
        )

    def mark_error(self, search_id: str, reason: str) -> None:
        self.table.update(
            header_key(search_id),
            Update(set={"status": ERROR, "errorReason": reason[:2000], "completeTimestamp": ids.now_ms()}),
        )

    # --- reads ---------------------------------------------------------------------------------
    def header(self, search_id: str) -> dict | None:
        return self.table.get(header_key(search_id))

    def hits(self, search_id: str) -> list[dict]:
        """Hit rows ordered by rank (the header excluded; leftovers beyond hitCount ignored)."""
        header = self.header(search_id) or {}
        count = header.get("hitCount")
        rows = [r for r in self.table.query_all(search_id) if r["imageId"] != tables.ORIGIN]
        if count is not None:
            rows = [r for r in rows if int(r["rank"]) < int(count)]
        return sorted(rows, key=lambda r: int(r["rank"]))
