"""The original's client as its callers used it (docs/original.md §6.1-6.2), written from that description.

Requests are built by string formatting with no escaping, exactly as the original's `bioims.py`
builds them; the payload bytes go to the real Lambda handler (`lambdas/<service>.py`) and the
answer bytes are decoded the way the original's client decodes them (`decode_answer`), then
post-processed per method as the original did (including its double `json.loads`,
docs/original.md §8.6 #45, which fails on any correct answer). Event invocations run the handler and answer the
Lambda status 202, ignoring the body, as AWS does.
"""

from __future__ import annotations

import importlib
import json
from typing import Any


class OriginalClientError(Exception):
    """What the original's client raised on an error answer ("Error: " + body)."""


def decode_answer(invoke_status: int, payload: bytes) -> Any:
    """The original's getResponseBodyAsJson: raise on a failed invoke or a statusCode above 299
    (message "Error: " + body), `"{}"` for an empty payload, text for a non-JSON payload, a
    string body JSON-decoded when it parses, anything else returned as it is."""
    if invoke_status > 299:
        raise OriginalClientError(f"invoke failed with {invoke_status}")
    text = payload.decode("utf-8")
    if not text:
        return "{}"
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        return text
    if "statusCode" not in answer or answer["statusCode"] > 299:
        raise OriginalClientError("Error: " + answer["body"])  # a TypeError unless the body is a string
    body = answer["body"]
    if isinstance(body, str):
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            return body
    return body


class Lambdas:
    """Invokes the deployed handler modules with raw payload bytes, as boto3's invoke would."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def invoke(self, service: str, payload: bytes, invocation_type: str = "RequestResponse") -> tuple[int, bytes]:
        handler = importlib.import_module(f"lambdas.{service.replace('-', '_')}").handler
        event = json.loads(payload.decode("utf-8"))
        self.calls.append((service, event.get("method", "")))
        answer = handler(event, None)
        if invocation_type == "Event":
            return 202, b""
        return 200, json.dumps(answer).encode("utf-8")


class _Client:
    service = ""

    def __init__(self, lambdas: Lambdas):
        self.lambdas = lambdas

    def _sync(self, request: str) -> Any:
        status, payload = self.lambdas.invoke(self.service, bytes(request, encoding="utf-8"))
        return decode_answer(status, payload)

    def _async(self, request: str) -> int:
        status, _ = self.lambdas.invoke(self.service, bytes(request, encoding="utf-8"), "Event")
        return status


class ConfigurationClient(_Client):
    service = "configuration"

    def setParameter(self, key, value):
        return self._sync(f'{{ "method": "setParameter", "key": "{key}", "value": "{value}" }}')

    def getParameter(self, key):
        return self._sync(f'{{ "method": "getParameter", "key": "{key}" }}')["Item"]["value"]

    def getAll(self):
        rows = json.loads(self._sync('{ "method": "getAll" }'))  # the original's double decode
        return {r["key1"]: r["value"] for r in rows}

    def getHistory(self, key):
        rows = json.loads(self._sync(f'{{ "method": "getHistory", "key": "{key}" }}'))  # double decode
        return sorted((int(r["timestamp1"]), r["key1"], r["value"]) for r in rows if r["timestamp1"] != "LATEST")

    def getDefaultTrainId(self):
        return self._sync('{ "method": "getDefaultTrainId" }')

    def setDefaultTrainId(self, value):
        return self._sync(f'{{ "method": "setDefaultTrainId", "value": "{value}" }}')

    def deleteParameter(self, key):
        return self._sync(f'{{ "method": "deleteParameter", "key": "{key}" }}')


class LabelClient(_Client):
    service = "label"

    def createCategory(self, category, description):
        return self._async(
            f'{{ "method": "createCategory", "category": "{category}", "description": "{description}" }}'
        )

    def updateCategoryDescription(self, category, description):
        return self._async(
            f'{{ "method": "updateCategoryDescription", "category": "{category}", "description": "{description}" }}'
        )

    def deleteCategory(self, category):
        return self._async(f'{{ "method": "deleteCategory", "category": "{category}" }}')

    def createLabel(self, category, label):
        return self._sync(f'{{ "method": "createLabel", "category": "{category}", "label": "{label}" }}')

    def updateLabel(self, category, label):
        # the original sends `label`, not oldlabel/newlabel (docs/original.md §8.6 #46)
        return self._async(f'{{ "method": "updateLabel", "category": "{category}", "label": "{label}" }}')

    def getIndex(self, category, label):
        return json.loads(self._sync(f'{{ "method": "getIndex", "category": "{category}", "label": "{label}" }}'))[
            "index"
        ]

    def listCategories(self):
        return [r["category"] for r in json.loads(self._sync('{ "method": "listCategories" }'))]

    def listLabels(self, category):
        return [
            (r["label"], r["index1"]) for r in self._sync(f'{{ "method": "listLabels", "category": "{category}" }}')
        ]


class MessageClient(_Client):
    service = "message"

    def getMessage(self, messageId):
        return json.loads(self._sync(f'{{ "method": "getMessage", "messageId": "{messageId}" }}'))

    def createMessage(self, message):
        return json.loads(self._sync(f'{{ "method": "createMessage", "message": "{message}" }}'))["messageId"]

    def listMessage(self, messageId):
        return json.loads(self._sync(f'{{ "method": "listMessage", "messageId": "{messageId}" }}'))

    def deleteMessage(self, messageId):
        return self._sync(f'{{ "method": "deleteMessage", "messageId": "{messageId}" }}')

    def addMessage(self, messageId, message):
        return self._sync(f'{{ "method": "addMessage", "messageId": "{messageId}", "message": "{message}" }}')


class ArtifactClient(_Client):
    service = "artifact"

    def getArtifacts(self, contextId, trainId):
        return self._sync(f'{{ "method": "getArtifacts", "contextId": "{contextId}", "trainId": "{trainId}" }}')

    def createArtifact(self, artifact):
        return self._sync(f'{{ "method": "createArtifact", "artifact": {json.dumps(artifact)} }}')

    def deleteArtifacts(self, contextId, trainId):
        return self._sync(f'{{ "method": "deleteArtifacts", "contextId": "{contextId}", "trainId": "{trainId}" }}')

    def addAnnotation(self, contextId, trainId, artifact, annotation):
        return self._sync(
            f'{{ "method": "addAnnotation", "contextId": "{contextId}", "trainId": "{trainId}", "artifact": '
            f'"{artifact}", "annotation": "{annotation}" }}'
        )

    def createDescribeStacksArtifact(self, contextId, trainId):
        return self._sync(
            f'{{ "method": "createDescribeStacksArtifact", "contextId": "{contextId}", "trainId": "{trainId}" }}'
        )


class TagClient(_Client):
    service = "tag"

    def createTag(self, tagValue):
        return self._sync(f'{{ "method": "createTag", "tagValue": "{tagValue}" }}')

    def getTagByValue(self, tagValue):
        return self._sync(f'{{ "method": "getTagByValue", "tagValue": "{tagValue}" }}')

    def getTagById(self, tagId):
        return self._sync(f'{{ "method": "getTagById", "tagId": "{tagId}" }}')

    def getAllTags(self):
        return self._sync('{ "method": "getAllTags" }')


class TrainingConfigurationClient(_Client):
    service = "training-configuration"

    def createTraining(self, training):
        return self._sync(f'{{ "method": "createTraining", "training": {json.dumps(training)} }}')

    def updateTraining(self, trainId, attribute, value):
        return self._sync(
            f'{{ "method": "updateTraining", "trainId": "{trainId}", "attribute": "{attribute}", "value": "{value}" }}'
        )

    def getTraining(self, trainId):
        return self._sync(f'{{ "method": "getTraining", "trainId": "{trainId}" }}')

    def deleteTraining(self, trainId):
        return self._async(f'{{ "method": "deleteTraining", "trainId": "{trainId}" }}')

    def createEmbedding(self, embedding):
        return self._sync(f'{{ "method": "createEmbedding", "embedding": {json.dumps(embedding)} }}')

    def getEmbeddingInfo(self, embeddingName):
        return self._sync(f'{{ "method": "getEmbeddingInfo", "embeddingName": "{embeddingName}" }}')["Item"]

    def getEmbeddingTrainings(self, embeddingName):
        return self._sync(f'{{ "method": "getEmbeddingTrainings", "embeddingName": "{embeddingName}" }}')

    def deleteEmbedding(self, embeddingName):
        return self._async(f'{{ "method": "deleteEmbedding", "embeddingName": "{embeddingName}" }}')

    def getTrainingJobInfo(self, trainingJobName):
        return self._sync(f'{{ "method": "getTrainingJobInfo", "trainingJobName": "{trainingJobName}" }}')


class ImageManagementClient(_Client):
    service = "image-management"

    def populateSourcePlate(self, inputBucket, inputKey):
        body = self._sync(
            f'{{ "method": "populateSourcePlate", "inputBucket": "{inputBucket}", "inputKey": "{inputKey}" }}'
        )
        return json.loads(body)  # the original's double decode

    def getImageInfo(self, imageId, trainId):
        return self._sync(f'{{ "method": "getImageInfo", "imageId": "{imageId}", "trainId": "{trainId}" }}')

    def getImagesByPlateId(self, plateId):
        return self._sync(f'{{ "method": "getImagesByPlateId", "plateId": "{plateId}" }}')

    def getImagesByPlateIdAndTrainId(self, plateId, trainId):
        return self._sync(
            f'{{ "method": "getImagesByPlateIdAndTrainId", "plateId": "{plateId}", "trainId": "{trainId}" }}'
        )

    def getImageIdsByPlateId(self, plateId):
        return self._sync(f'{{ "method": "getImageIdsByPlateId", "plateId": "{plateId}" }}')

    def getWellsByPlateId(self, plateId):
        return self._sync(f'{{ "method": "getWellsByPlateId", "plateId": "{plateId}" }}')

    def getImagesByPlateAndWellId(self, plateId, wellId):
        return self._sync(f'{{ "method": "getImagesByPlateAndWellId", "plateId": "{plateId}", "wellId": "{wellId}" }}')

    def getPlateImageStatus(self, plateId):
        return self._sync(f'{{ "method": "getPlateImageStatus", "plateId": "{plateId}" }}')

    def createPlateMessageId(self, plateId):
        return self._sync(f'{{ "method": "createPlateMessageId", "plateId": "{plateId}" }}')

    def getPlateMessageId(self, plateId):
        return self._sync(f'{{ "method": "getPlateMessageId", "plateId": "{plateId}" }}')

    def validatePlate(self, plateId):
        return self._sync(f'{{ "method": "validatePlate", "plateId": "{plateId}" }}')

    def createImageTrainResult(self, imageId, trainId, embeddingVector, roiEmbeddingKey):
        return self._sync(
            f'{{ "method": "createImageTrainResult", "imageId": "{imageId}", "trainId": "{trainId}", '
            f'"embeddingVector": "{embeddingVector}", "roiEmbeddingKey": "{roiEmbeddingKey}" }}'
        )

    def listCompatiblePlates(self, width, height, depth, channels):
        return self._sync(
            f'{{ "method": "listCompatiblePlates", "width": {width}, "height": {height}, "depth": {depth}, '
            f'"channels": {channels} }}'
        )

    def getImageTags(self, imageId):
        return self._sync(f'{{ "method": "getImageTags", "imageId": "{imageId}" }}')

    def updateImageTags(self, imageId, tagList):
        return self._sync(
            f'{{ "method": "updateImageTags", "imageId": "{imageId}", "tagList": {json.dumps(tagList)} }}'
        )


class ProcessPlateClient(_Client):
    service = "process-plate"

    def processPlate(self, plateId):
        # the original sends no embeddingName (docs/original.md §8.6 #46)
        return self._sync(f'{{ "method": "processPlate", "plateId": "{plateId}" }}')

    def uploadSourcePlate(self, inputBucket, inputKey):
        return self._sync(
            f'{{ "method": "uploadSourcePlate", "inputBucket": "{inputBucket}", "inputKey": "{inputKey}" }}'
        )

    def describeExecution(self, executionArn):
        return self._sync(f'{{ "method": "describeExecution", "executionArn": "{executionArn}" }}')


class TrainClient(_Client):
    """`train` goes to the train Lambda; the original's train-build and train-compute Lambdas are
    the train Lambda's startTrainingBuild / startTrainingCompute methods here (the discovery
    document points both output keys at it)."""

    service = "train"

    def train(self, embeddingName, filterBucket="", filterKey="", executeProcessPlate="true", useSpot="true"):
        return self._sync(
            f'{{ "method": "train", "embeddingName": "{embeddingName}", "filterBucket": "{filterBucket}", '
            f'"filterKey": "{filterKey}", "executeProcessPlate": "{executeProcessPlate}", "useSpot": "{useSpot}" '
            "}"
        )

    def startTrainingBuild(self, trainId):
        return self._async(f'{{ "method": "startTrainingBuild", "trainId": "{trainId}" }}')

    def startTrainingCompute(self, trainId):
        # the original sends no useSpot (a KeyError in its Lambda, docs/original.md §8.6 #46)
        return self._sync(f'{{ "method": "startTrainingCompute", "trainId": "{trainId}" }}')


class EmbeddingClient(_Client):
    service = "embedding"

    def executeImageEmbeddingCompute(self, trainInfo, embeddingInfo, plateId, imageId):
        return self._sync(
            f'{{ "method": "executeImageEmbeddingCompute", "trainInfo": {json.dumps(trainInfo)}, '
            f'"embeddingInfo": {json.dumps(embeddingInfo)}, "plateId": "{plateId}", "imageId": "{imageId}" }}'
        )


class SearchClient(_Client):
    service = "search"

    def submitSearch(self, search):
        return self._sync(f'{{ "method": "submitSearch", "search": {json.dumps(search)} }}')

    def processPlate(self, trainId, plateId):
        return self._sync(f'{{ "method": "processPlate", "trainId": "{trainId}", "plateId": "{plateId}" }}')

    def searchByImageId(self, trainId, imageId):
        return self._sync(f'{{ "method": "searchByImageId", "trainId": "{trainId}", "queryImageId": "{imageId}" }}')

    def updateSearchStatus(self, searchId, status):
        return self._sync(f'{{ "method": "updateSearchStatus", "searchId": "{searchId}", "status": "{status}" }}')

    def getSearchResults(self, searchId):
        return self._sync(f'{{ "method": "getSearchResults", "searchId": "{searchId}" }}')

    def getSearchStatus(self, searchId):
        return self._sync(f'{{ "method": "getSearchStatus", "searchId": "{searchId}" }}')

    def loadTagLabelMap(self):
        return self._sync('{ "method": "loadTagLabelMap" }')

    def logTrainList(self):
        return self._sync('{ "method": "logTrainList" }')

    def deleteTraining(self, trainId):
        return self._sync(f'{{ "method": "deleteTraining", "trainId": "{trainId}" }}')


class Resources:
    """The original's BioimageSearchResources over a describe_stacks document: a stack by exact
    name, its first output whose key starts with a prefix (docs/original.md §6.1)."""

    def __init__(self, document: dict):
        self.document = document

    @classmethod
    def from_s3(cls, s3, bucket: str, key: str) -> Resources:
        """params={'bucket': ..., 'key': ...}: the document is read from S3."""
        return cls(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")))

    def stack(self, name: str):
        for stack in self.document["Stacks"]:
            if stack["StackName"] == name:
                return stack
        return ""

    def output(self, stack_name: str, prefix: str) -> str:
        for output in self.stack(stack_name)["Outputs"]:
            if output["OutputKey"].startswith(prefix):
                return output["OutputValue"]
        return ""
