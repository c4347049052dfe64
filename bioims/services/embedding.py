"""Embedding service (the original's embedding-management, docs/original.md §2.10, with the start calls
it lacked): compute a training's embeddings with its model and follow the computation.

  startComputeEmbedding       every compatible plate (the embedding-compute workflow, then the
                              training row records the result)
  startComputePlateEmbedding  one plate (the plate-embedding-compute workflow)
  describeExecution           either workflow's state (the original's only method)
  getEmbeddingStatus          per plate: embedded images and whether the plate's array file exists
  createFeatureTraining       record a training of kind "cellprofiler" (CellProfiler measurements,
                              no SageMaker job): its training row and card; it embeds like any other

The work itself is the embedding-compute job (bioims.jobs.embeddings): eval mode, image embedding =
re-normalised mean of its ROI embeddings, per-image rows for image-management and one array file
per plate for the search loader.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bioims import keys, tables
from bioims.errors import BadRequest, Conflict, NotFound
from bioims.features.card import KIND, feature_card, read_card, write_card
from bioims.features.cellprofiler import DEFAULT_GROUPS, FeatureError
from bioims.services.api import DescribeExecutionRequest, Request, Service, api
from bioims.services.models import EmbeddingName, Flag, Id, Name, Text
from bioims.services.training_configuration import CreateTrainingRequest, TrainingModel


class TrainRequest(Request):
    trainId: Id
    wait: Flag = True  # local backend: run the workflow to the end inside the call


class PlateRequest(Request):
    trainId: Id
    plateId: Id
    wait: Flag = True


class TrainInfo(BaseModel):
    """The training row the original passed along (only trainId is read; the rest is ignored)."""

    model_config = ConfigDict(extra="allow")
    trainId: Id


class EmbeddingInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    embeddingName: EmbeddingName


class ImageComputeRequest(Request):
    """The original's plate-embedding-compute event (EmbeddingClient.executeImageEmbeddingCompute)."""

    trainInfo: TrainInfo
    embeddingInfo: EmbeddingInfo
    plateId: Id
    imageId: Id
    trainingJobInfo: Any = (
        None  # the original's DescribeTrainingJob output: accepted and not needed (the model is the training's)
    )
    wait: Flag = True


class StatusRequest(Request):
    trainId: Id


class FeatureTrainingRequest(Request):
    trainId: Id
    embeddingName: Name
    groups: list[Name] | None = None  # default: bioims.features.cellprofiler.DEFAULT_GROUPS
    description: Text = "CellProfiler features (cp-measure), no training"


class EmbeddingService(Service):
    name = "embedding"

    def _trained(self, train_id: str) -> dict:
        training = self.ctx.training_configuration.training(train_id)
        if not self.ctx.stores.data.exists(keys.model_card_key(train_id)):
            raise BadRequest(
                f"training {train_id} has no model yet (status {training.get('status', 'created')!r}); train it first"
            )
        return training

    @api(TrainRequest)
    def startComputeEmbedding(self, request: TrainRequest) -> dict:
        self._trained(request.trainId)
        self.ctx.training_configuration.update(request.trainId, {"status": "embedding"})
        execution = self.start_workflow("embedding-compute", {"trainId": request.trainId}, request.wait)
        return {"trainId": request.trainId, **execution}

    @api(PlateRequest)
    def startComputePlateEmbedding(self, request: PlateRequest) -> dict:
        self._trained(request.trainId)
        self.ctx.image_management.plate(request.plateId)
        execution = self.start_workflow(
            "plate-embedding-compute", {"trainId": request.trainId, "plateId": request.plateId}, request.wait
        )
        return {"trainId": request.trainId, "plateId": request.plateId, **execution}

    @api(ImageComputeRequest)
    def executeImageEmbeddingCompute(self, request: ImageComputeRequest) -> dict:
        """The original's single-image embedding computation. The work runs as the image's plate
        embedding workflow (idempotent: images already embedded are not recomputed), then the
        image's row for the training is read back."""
        train_id = request.trainInfo.trainId
        training = self._trained(train_id)
        if training["embeddingName"] != request.embeddingInfo.embeddingName:
            raise BadRequest(
                f"embeddingInfo names {request.embeddingInfo.embeddingName!r} but training {train_id} belongs to "
                f"{training['embeddingName']!r}"
            )
        management = self.ctx.image_management
        image = management.image(request.imageId)
        if image.get("plateId") != request.plateId:
            raise BadRequest(f"image {request.imageId} is not on plate {request.plateId}")
        execution = self.start_workflow(
            "plate-embedding-compute", {"trainId": train_id, "plateId": request.plateId}, request.wait
        )
        out = {"imageId": request.imageId, "plateId": request.plateId, "trainId": train_id, **execution}
        row = self.table(tables.IMAGE_MANAGEMENT).get({"imageId": request.imageId, "trainId": train_id})
        out["embedded"] = row is not None and bool(row.get("embedding"))
        return out

    @api(FeatureTrainingRequest, status=201)
    def createFeatureTraining(self, request: FeatureTrainingRequest) -> dict:
        """Record a CellProfiler-feature training of an embedding; idempotent for the same groups."""
        configuration = self.ctx.training_configuration
        embedding = configuration.embedding(request.embeddingName)
        try:
            card = feature_card(embedding, request.groups or DEFAULT_GROUPS)
        except FeatureError as exc:
            raise BadRequest(str(exc)) from None
        try:
            existing = configuration.training(request.trainId)
        except NotFound:
            existing = None
        if existing is not None:
            recorded = read_card(self.ctx.stores.data, request.trainId) or {}
            if (
                existing.get("kind") != KIND
                or existing["embeddingName"] != request.embeddingName
                or recorded.get("groups") != card["groups"]
            ):
                raise Conflict(f"training {request.trainId!r} already exists with other settings")
            return {"training": existing, "card": recorded}
        model = TrainingModel(
            embeddingName=request.embeddingName, trainId=request.trainId, kind=KIND, description=request.description
        )
        configuration.createTraining(CreateTrainingRequest(training=model))
        # the card marks the training ready to embed (as a network's model card does): written last
        write_card(self.ctx.stores.data, request.trainId, card)
        row = configuration.update(
            request.trainId, {"status": "trained", "modelCardKey": keys.model_card_key(request.trainId)}
        )
        return {"training": row, "card": card}

    @api(DescribeExecutionRequest)
    def describeExecution(self, request: DescribeExecutionRequest) -> dict:
        return self.describe_execution(request)

    @api(StatusRequest)
    def getEmbeddingStatus(self, request: StatusRequest) -> dict:
        configuration = self.ctx.training_configuration
        training = configuration.training(request.trainId)
        embedding = configuration.embedding(training["embeddingName"])
        management = self.ctx.image_management
        plates = management.plates_for_embedding(embedding)
        rows = []
        for plate in plates:
            rows.append(
                {
                    "plateId": plate["plateId"],
                    "plateSourceId": plate.get("plateSourceId", ""),
                    "embeddedImages": len(management.plate_train_rows(plate["plateId"], request.trainId)),
                    "arrayFile": self.ctx.stores.data.exists(
                        keys.plate_embeddings_key(request.trainId, plate["plateId"])
                    ),
                }
            )
        rows.sort(key=lambda r: r["plateSourceId"])
        return {
            "trainId": request.trainId,
            "status": training.get("status", "created"),
            "plates": rows,
            "complete": bool(rows) and all(r["arrayFile"] for r in rows),
        }
