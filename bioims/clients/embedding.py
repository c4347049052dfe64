"""Client of the embedding service (docs/original.md §6.2 EmbeddingClient), with the original's method
names. The service starts the workflows it owns, so the client never looks a state machine up by
name (docs/original.md §8.6 #47)."""

from __future__ import annotations

from bioims.clients.base import ServiceClient


class EmbeddingClient(ServiceClient):
    def startComputeEmbedding(self, trainId: str, wait: bool = True) -> dict:
        """Embeddings of every compatible plate with the training's model: {trainId, executionArn, ...}."""
        return self.call("startComputeEmbedding", trainId=trainId, wait=wait)

    def startComputePlateEmbedding(self, trainId: str, plateId: str, wait: bool = True) -> dict:
        return self.call("startComputePlateEmbedding", trainId=trainId, plateId=plateId, wait=wait)

    def getEmbeddingStatus(self, trainId: str) -> dict:
        return self.call("getEmbeddingStatus", trainId=trainId)

    def describeExecution(self, executionArn: str) -> dict:
        return self.call("describeExecution", executionArn=executionArn)
