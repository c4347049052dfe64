"""Client of the search service (docs/original.md §6.2 SearchClient), with the original's method names.
Every call is synchronous; `searchByImageId` waits for the hits instead of a status."""

from __future__ import annotations

from typing import Any

from bioims.clients.base import ServiceClient


class SearchClient(ServiceClient):
    def submitSearch(self, search: dict[str, Any]) -> dict:
        """{searchId, status}: the search is queued (and, locally, usually already done)."""
        return self.call("submitSearch", search=search)

    def searchByImageId(self, trainId: str, queryImageId: str, **search: Any) -> dict:
        """Search and wait for the result: {searchId, status, hits: [{imageId, rank, distance}]}."""
        return self.call("searchByImageId", trainId=trainId, queryImageId=queryImageId, **search)

    def getSearchResults(self, searchId: str) -> dict:
        """{searchId, status, hits: [{imageId, rank, distance}] ordered by rank}."""
        answer = self.call("getSearchResults", searchId=searchId)
        if answer["status"] is None:  # no hits on the wire: the status comes from the header
            answer["status"] = self.getSearchStatus(searchId)["status"]
        return answer

    def getSearchStatus(self, searchId: str) -> dict:
        return self.call("getSearchStatus", searchId=searchId)

    def updateSearchStatus(self, searchId: str, status: str) -> dict:
        return self.call("updateSearchStatus", searchId=searchId, status=status)

    def processPlate(self, plateId: str, trainId: str | None = None, embeddingName: str | None = None) -> dict:
        return self.call("processPlate", plateId=plateId, trainId=trainId, embeddingName=embeddingName)

    def startTrainingLoad(self, trainId: str, wait: bool = True) -> dict:
        return self.call("startTrainingLoad", trainId=trainId, wait=wait)

    def startTagLoad(self, embeddingName: str, wait: bool = True) -> dict:
        return self.call("startTagLoad", embeddingName=embeddingName, wait=wait)

    def loadTagLabelMap(self) -> dict:
        return self.call("loadTagLabelMap")

    def logTrainList(self) -> dict:
        return self.call("logTrainList")

    def deleteTraining(self, trainId: str) -> dict:
        return self.call("deleteTraining", trainId=trainId)
