"""Clients of the data services. Method names and positional arguments follow the original's
bioims CLI (docs/original.md §6.2); every call is synchronous and raises ClientError on failure, so
no error is lost (§8.6 #48)."""

from __future__ import annotations

from typing import Any

from bioims.clients.base import ServiceClient


class ConfigurationClient(ServiceClient):
    def setParameter(self, key: str, value: str) -> dict:
        return self.call("setParameter", key=key, value=value)

    def getParameter(self, key: str) -> str:
        return self.call("getParameter", key=key)["value"]

    def getAll(self) -> dict[str, str]:
        return self.call("getAll")["parameters"]

    def getHistory(self, key: str) -> list[tuple[int, str, str]]:
        return [(int(float(h["timestamp"])), key, h["value"]) for h in self.call("getHistory", key=key)["history"]]

    def getDefaultTrainId(self) -> str:
        return self.call("getDefaultTrainId")["value"]

    def setDefaultTrainId(self, value: str) -> dict:
        return self.call("setDefaultTrainId", value=value)

    def deleteParameter(self, key: str) -> dict:
        return self.call("deleteParameter", key=key)


class LabelClient(ServiceClient):
    def createCategory(self, category: str, description: str = "") -> dict:
        return self.call("createCategory", category=category, description=description)

    def updateCategoryDescription(self, category: str, description: str) -> dict:
        return self.call("updateCategoryDescription", category=category, description=description)

    def deleteCategory(self, category: str) -> dict:
        return self.call("deleteCategory", category=category)

    def createLabel(self, category: str, label: str) -> dict:
        return self.call("createLabel", category=category, label=label)

    def updateLabel(self, category: str, oldlabel: str, newlabel: str) -> dict:
        return self.call("updateLabel", category=category, oldlabel=oldlabel, newlabel=newlabel)

    def getIndex(self, category: str, label: str) -> int:
        return self.call("getIndex", category=category, label=label)["index"]

    def getLabel(self, category: str, index: int) -> str:
        return self.call("getLabel", category=category, index=index)["label"]

    def listCategories(self) -> list[str]:
        return [c["category"] for c in self.call("listCategories")["categories"]]

    def listLabels(self, category: str) -> list[tuple[str, int]]:
        return [(x["label"], x["index"]) for x in self.call("listLabels", category=category)["labels"]]


class MessageClient(ServiceClient):
    def getMessage(self, messageId: str) -> dict:
        return self.call("getMessage", messageId=messageId)

    def createMessage(self, message: str) -> str:
        return self.call("createMessage", message=message)["messageId"]

    def listMessage(self, messageId: str) -> list[dict]:
        return self.call("listMessage", messageId=messageId)["messages"]

    def addMessage(self, messageId: str, message: str) -> dict:
        return self.call("addMessage", messageId=messageId, message=message)

    def deleteMessage(self, messageId: str) -> dict:
        return self.call("deleteMessage", messageId=messageId)


class ArtifactClient(ServiceClient):
    def getArtifacts(self, contextId: str, trainId: str) -> list[dict]:
        return self.call("getArtifacts", contextId=contextId, trainId=trainId)["artifacts"]

    def createArtifact(self, artifact: dict) -> dict:
        return self.call("createArtifact", artifact=artifact)

    def deleteArtifacts(self, contextId: str, trainId: str) -> dict:
        return self.call("deleteArtifacts", contextId=contextId, trainId=trainId)

    def addAnnotation(self, contextId: str, trainId: str, artifact: str, annotation: str) -> dict:
        return self.call(
            "addAnnotation", contextId=contextId, trainId=trainId, artifact=artifact, annotation=annotation
        )

    def createDescribeStacksArtifact(self, contextId: str, trainId: str) -> dict:
        return self.call("createDescribeStacksArtifact", contextId=contextId, trainId=trainId)


class TagClient(ServiceClient):
    def createTag(self, tagValue: str) -> dict:
        return self.call("createTag", tagValue=tagValue)

    def createTags(self, tagValues: list[str]) -> list[dict]:
        return self.call("createTags", tagValues=tagValues)["tags"]

    def getTagByValue(self, tagValue: str) -> dict:
        return self.call("getTagByValue", tagValue=tagValue)

    def getTagById(self, tagId: int) -> dict:
        return self.call("getTagById", tagId=tagId)

    def getAllTags(self) -> list[dict]:
        return self.call("getAllTags")["tags"]


class TrainingConfigurationClient(ServiceClient):
    def createTraining(self, training: dict) -> dict:
        return self.call("createTraining", training=training)["training"]

    def updateTraining(self, trainId: str, attribute: str, value: Any) -> dict:
        return self.call("updateTraining", trainId=trainId, attribute=attribute, value=value)["training"]

    def getTraining(self, trainId: str) -> dict:
        return self.call("getTraining", trainId=trainId)["training"]

    def deleteTraining(self, trainId: str) -> dict:
        return self.call("deleteTraining", trainId=trainId)

    def createEmbedding(self, embedding: dict) -> dict:
        return self.call("createEmbedding", embedding=embedding)["embedding"]

    def getEmbeddingInfo(self, embeddingName: str) -> dict:
        return self.call("getEmbeddingInfo", embeddingName=embeddingName)["embedding"]

    def listEmbeddings(self) -> list[dict]:
        return self.call("listEmbeddings")["embeddings"]

    def getEmbeddingTrainings(self, embeddingName: str) -> list[dict]:
        return self.call("getEmbeddingTrainings", embeddingName=embeddingName)["trainings"]

    def deleteEmbedding(self, embeddingName: str, force: bool = False) -> dict:
        return self.call("deleteEmbedding", embeddingName=embeddingName, force=force)

    def getTrainingJobInfo(self, trainingJobName: str) -> dict:
        return self.call("getTrainingJobInfo", trainingJobName=trainingJobName)


class ImageManagementClient(ServiceClient):
    def populateSourcePlate(self, inputBucket: str, inputKey: str) -> str:
        return self.call("populateSourcePlate", inputBucket=inputBucket, inputKey=inputKey)["plateId"]

    def getImageInfo(self, imageId: str, trainId: str = "origin") -> dict:
        return self.call("getImageInfo", imageId=imageId, trainId=trainId)["image"]

    def getPlateInfo(self, plateId: str) -> dict:
        return self.call("getPlateInfo", plateId=plateId)["plate"]

    def listPlates(self) -> list[dict]:
        return self.call("listPlates")["plates"]

    def getImagesByPlateId(self, plateId: str) -> list[dict]:
        return self.call("getImagesByPlateId", plateId=plateId)["images"]

    def getImagesByPlateIdAndTrainId(self, plateId: str, trainId: str) -> list[dict]:
        return self.call("getImagesByPlateIdAndTrainId", plateId=plateId, trainId=trainId)["images"]

    def getImageIdsByPlateId(self, plateId: str) -> list[str]:
        return self.call("getImageIdsByPlateId", plateId=plateId)["imageIds"]

    def getWellsByPlateId(self, plateId: str) -> list[str]:
        return self.call("getWellsByPlateId", plateId=plateId)["wellIds"]

    def getImagesByPlateAndWellId(self, plateId: str, wellId: str) -> list[dict]:
        return self.call("getImagesByPlateAndWellId", plateId=plateId, wellId=wellId)["images"]

    def applyInspectionResult(self, inspectionResult: dict) -> dict:
        return self.call("applyInspectionResult", inspectionResult=inspectionResult)

    def getPlateImageStatus(self, plateId: str) -> dict:
        return self.call("getPlateImageStatus", plateId=plateId)

    def createPlateMessageId(self, plateId: str) -> str:
        return self.call("createPlateMessageId", plateId=plateId)["messageId"]

    def getPlateMessageId(self, plateId: str) -> str:
        return self.call("getPlateMessageId", plateId=plateId)["messageId"]

    def validatePlate(self, plateId: str) -> str:
        return self.call("validatePlate", plateId=plateId)["status"]

    def createImageTrainResult(
        self, imageId: str, trainId: str, embeddingVector, roiEmbeddingKey: str = "", roiCount: int = 0
    ) -> dict:
        return self.call(
            "createImageTrainResult",
            imageId=imageId,
            trainId=trainId,
            embeddingVector=embeddingVector,
            roiEmbeddingKey=roiEmbeddingKey,
            roiCount=roiCount,
        )

    def createImageTrainResults(self, trainId: str, plateId: str, results: list[dict]) -> dict:
        return self.call("createImageTrainResults", trainId=trainId, plateId=plateId, results=results)

    def deleteImageTrainResults(self, plateId: str, trainId: str) -> dict:
        return self.call("deleteImageTrainResults", plateId=plateId, trainId=trainId)

    def listCompatiblePlates(self, width: int, height: int, depth: int, channels: int) -> list[dict]:
        return self.call("listCompatiblePlates", width=width, height=height, depth=depth, channels=channels)["plates"]

    def getImageTags(self, imageId: str) -> list[int]:
        return self.call("getImageTags", imageId=imageId)["tags"]

    def updateImageTags(self, imageId: str, tagList: list[int]) -> dict:
        return self.call("updateImageTags", imageId=imageId, tagList=tagList)

    def updateImageTagsBatch(self, items: list[dict]) -> dict:
        return self.call("updateImageTagsBatch", items=items)
