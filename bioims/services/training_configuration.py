"""Training-configuration service (docs/original.md §2.8): embeddings (processing + network
configurations, trainId "origin") and their trainings.

deleteEmbedding deletes every row, unknown trainIds are 404, updateTraining answers 400 for
attributes it does not accept, numbers stay numbers (docs/original.md §8.3 #19), and the
embedding's ROI geometry is the one image processing uses, so the two cannot disagree (§8.1 #9).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from bioims import tables
from bioims.errors import BadRequest, Conflict, NotFound
from bioims.ids import now_ms
from bioims.services.api import Request, Service, api
from bioims.services.models import BucketName, Dimension, EmbeddingName, Flag, Id, JsonValue, Name, ObjectKey, Text
from bioims.services.wire import bare_item, get_item, listed
from bioims.store import Condition, ConditionFailed, Update

ORIGIN = tables.ORIGIN

Scalar = StrictStr | StrictBool | StrictInt | StrictFloat


class EmbeddingModel(Request):
    embeddingName: EmbeddingName
    inputWidth: Dimension
    inputHeight: Dimension
    inputDepth: Dimension = 1
    inputChannels: Dimension
    # ROI geometry and segmentation of this embedding's ROIs; unset values are taken from the
    # configuration (image-preprocessing-*) when the embedding is created, then never change.
    roiWidth: Dimension | None = None
    roiHeight: Dimension | None = None
    roiDepth: Dimension = 1
    embeddingVectorLength: Dimension = 256
    network: Name = "bbbc021-1"
    trainingHyperparameters: dict[Annotated[StrictStr, Field(min_length=1, max_length=64)], Scalar] = Field(
        default_factory=dict
    )
    trainingInstanceType: Name = "ml.g4dn.xlarge"
    segmentationChannel: Name | None = None
    minVoxels: Dimension | None = None
    labelCategory: Name = "moa"
    subclassCategory: Name = "compound"
    plateMethodArn: Text | None = None
    wellMethodArn: Text | None = None
    imageMethodArn: Text | None = None
    imagePostMethodArn: Text | None = None
    modelTrainingScriptBucket: Text | None = None
    modelTrainingScriptKey: ObjectKey | None = None
    comments: Text = ""


class CreateEmbeddingRequest(Request):
    embedding: EmbeddingModel


class EmbeddingNameRequest(Request):
    embeddingName: EmbeddingName


class DeleteEmbeddingRequest(Request):
    embeddingName: EmbeddingName
    force: Flag = False


class TrainingModel(Request):
    embeddingName: EmbeddingName
    trainId: Id
    messageId: Id | None = None
    filterBucket: BucketName = ""
    filterKey: ObjectKey = ""
    executeProcessPlate: Flag = False
    useSpot: Flag = True
    description: Text = ""
    # None: a network trained by the train service; "untrained": the same network at its seeded
    # initial weights (through the same job); "cellprofiler": CellProfiler features, no training
    kind: Literal["network", "untrained", "cellprofiler"] | None = None


class CreateTrainingRequest(Request):
    training: TrainingModel


class TrainIdRequest(Request):
    trainId: Id


# Attributes the pipeline sets on a training row after creation.
UPDATABLE = {
    "filterBucket",
    "filterKey",
    "sagemakerTrainId",
    "sagemakerJobName",
    "messageId",
    "status",
    "statusMessage",
    "executionArn",
    "imageListKey",
    "manifestKey",
    "modelKey",
    "modelCardKey",
    "trainingSummary",
    "embeddingStatus",
    "imageCount",
    "roiCount",
    "description",
    "useSpot",
}


class UpdateTrainingRequest(Request):
    trainId: Id
    attribute: Name
    value: JsonValue


class JobNameRequest(Request):
    trainingJobName: Name


class TrainingConfigurationService(Service):
    name = "training-configuration"

    @property
    def _table(self):
        return self.table(tables.TRAINING_CONFIGURATION)

    # --- python API used by sibling services -----------------------------------------------------
    def embedding(self, name: str) -> dict:
        row = self._table.get({"embeddingName": name, "trainId": ORIGIN})
        if row is None:
            raise NotFound(f"embedding {name!r} does not exist")
        return row

    def training(self, train_id: str) -> dict:
        if train_id == ORIGIN:
            raise BadRequest("'origin' is reserved and is not a trainId")
        hits = self._table.query(train_id, index="trainIdIndex", limit=1).items
        if not hits:
            raise NotFound(f"training {train_id!r} does not exist")
        row = self._table.get({"embeddingName": hits[0]["embeddingName"], "trainId": train_id})
        if row is None:
            raise NotFound(f"training {train_id!r} does not exist")
        return row

    def update(self, train_id: str, values: dict) -> dict:
        row = self.training(train_id)
        unknown = set(values) - UPDATABLE
        if unknown:
            raise BadRequest(f"attributes {sorted(unknown)} cannot be updated; allowed: {sorted(UPDATABLE)}")
        return self._table.update(
            {"embeddingName": row["embeddingName"], "trainId": train_id},
            Update(set={**values, "updateTimestamp": now_ms()}),
            condition=Condition.must_exist(),
        )

    def trainings(self, embedding_name: str) -> list[dict]:
        return [r for r in self._table.query_all(embedding_name) if r["trainId"] != ORIGIN]

    # --- API -----------------------------------------------------------------------------------
    @api(CreateEmbeddingRequest, status=201)
    def createEmbedding(self, request: CreateEmbeddingRequest) -> dict:
        row = request.embedding.model_dump(exclude_none=True)
        # The configuration is read only for what the embedding leaves unset: an embedding that
        # states its ROI geometry does not depend on (or fail with) the global values.
        configuration = self.ctx.configuration
        if "roiWidth" not in row and "roiHeight" not in row:
            row["roiWidth"] = configuration.int_value("image-preprocessing-roi-size")
        row.setdefault("roiWidth", row.get("roiHeight"))
        row.setdefault("roiHeight", row["roiWidth"])
        if row["roiWidth"] != row["roiHeight"]:
            raise BadRequest(f"ROIs are square: roiWidth {row['roiWidth']} differs from roiHeight {row['roiHeight']}")
        if row["roiWidth"] < 2:
            raise BadRequest(f"roiWidth must be at least 2, not {row['roiWidth']}")
        if "minVoxels" not in row:
            row["minVoxels"] = configuration.int_value("image-preprocessing-min-voxels")
        if "segmentationChannel" not in row:
            row["segmentationChannel"] = configuration.value("image-preprocessing-segmentation-channel")
        row["trainId"] = ORIGIN
        row["createTimestamp"] = now_ms()
        try:
            self._table.put(row, condition=Condition.not_exists())
        except ConditionFailed:
            raise Conflict(f"embedding {row['embeddingName']!r} already exists") from None
        return {"embedding": row}

    @api(EmbeddingNameRequest, wire=get_item(lambda r: r["embedding"], lambda item: {"embedding": item}))
    def getEmbeddingInfo(self, request: EmbeddingNameRequest) -> dict:
        return {"embedding": self.embedding(request.embeddingName)}

    @api()
    def listEmbeddings(self, request: Request) -> dict:
        """Every embedding (one index query on trainId = origin)."""
        rows = list(self._table.query_all(ORIGIN, index="trainIdIndex"))
        return {"embeddings": sorted(rows, key=lambda r: r["embeddingName"])}

    @api(EmbeddingNameRequest, wire=listed("trainings", keep=("embeddingName",)))
    def getEmbeddingTrainings(self, request: EmbeddingNameRequest) -> dict:
        self.embedding(request.embeddingName)
        return {"embeddingName": request.embeddingName, "trainings": self.trainings(request.embeddingName)}

    @api(DeleteEmbeddingRequest)
    def deleteEmbedding(self, request: DeleteEmbeddingRequest) -> dict:
        self.embedding(request.embeddingName)
        rows = list(self._table.query_all(request.embeddingName))
        if len(rows) > 1 and not request.force:
            raise Conflict(
                f"embedding {request.embeddingName!r} has {len(rows) - 1} trainings; delete them first or pass "
                "force=true"
            )
        self._table.batch_write(deletes=rows)
        return {"embeddingName": request.embeddingName, "deleted": len(rows)}

    @api(CreateTrainingRequest, status=201)
    def createTraining(self, request: CreateTrainingRequest) -> dict:
        training = request.training
        if training.trainId == ORIGIN:
            raise BadRequest("'origin' is reserved and is not a trainId")
        self.embedding(training.embeddingName)
        if self._table.query(training.trainId, index="trainIdIndex", limit=1).items:
            raise Conflict(f"training {training.trainId!r} already exists")
        row = training.model_dump(exclude_none=True)
        row["createTimestamp"] = now_ms()
        row.setdefault("status", "created")
        try:
            self._table.put(row, condition=Condition.not_exists())
        except ConditionFailed:
            raise Conflict(f"training {training.trainId!r} already exists") from None
        return {"training": row}

    @api(TrainIdRequest, wire=bare_item("training"))
    def getTraining(self, request: TrainIdRequest) -> dict:
        return {"training": self.training(request.trainId)}

    @api(UpdateTrainingRequest)
    def updateTraining(self, request: UpdateTrainingRequest) -> dict:
        return {"training": self.update(request.trainId, {request.attribute: request.value})}

    @api(TrainIdRequest)
    def deleteTraining(self, request: TrainIdRequest) -> dict:
        row = self.training(request.trainId)
        self._table.delete({"embeddingName": row["embeddingName"], "trainId": request.trainId})
        return {"trainId": request.trainId, "embeddingName": row["embeddingName"], "deleted": 1}

    @api(JobNameRequest)
    def getTrainingJobInfo(self, request: JobNameRequest) -> dict:
        """Status of a training job (SageMaker on AWS, the local trainer here)."""
        return self.ctx.runtime.describe_training_job(request.trainingJobName)
