"""Clients of the plate-processing services (docs/original.md §6.2 ProcessPlateClient and
ImageArtifactClient; the latter speaks the image-artifact service as it is, §8.6 #46)."""

from __future__ import annotations

from bioims.clients.base import ServiceClient


class ProcessPlateClient(ServiceClient):
    def uploadSourcePlate(self, inputBucket: str, inputKey: str, wait: bool = True) -> dict:
        """Create the plate's rows and inspect/validate/thumbnail it; {plateId, executionArn, ...}."""
        return self.call("uploadSourcePlate", inputBucket=inputBucket, inputKey=inputKey, wait=wait)

    def processPlate(self, plateId: str, embeddingName: str, wait: bool = True) -> dict:
        return self.call("processPlate", plateId=plateId, embeddingName=embeddingName, wait=wait)

    def describeExecution(self, executionArn: str) -> dict:
        return self.call("describeExecution", executionArn=executionArn)


class ImageArtifactClient(ServiceClient):
    def inspectImage(self, imageId: str) -> dict:
        return self.call("inspectImage", imageId=imageId)

    def generateDefaultArtifacts(self, imageId: str, force: bool = False) -> dict:
        return self.call("generateDefaultArtifacts", imageId=imageId, force=force)
