"""Table definitions (docs/original.md §3), defined once: the SQLite adapter creates them, the DynamoDB
adapter addresses them and the CDK stacks deploy them from these specs.

`BioimsImageManagement` has two sparse GSIs so that compatible plates and per-training rows of a
plate are one query, not a full-table scan or N+1 reads (docs/original.md §8.3 #21);
`plateIdIndex` projects all attributes for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    partition_key: str
    sort_key: str
    indexes: tuple[IndexSpec, ...] = ()

    def key_of(self, item: dict) -> dict:
        return {self.partition_key: item[self.partition_key], self.sort_key: item[self.sort_key]}

    def index(self, name: str) -> IndexSpec:
        for spec in self.indexes:
            if spec.name == name:
                return spec
        raise KeyError(f"table {self.name} has no index {name!r}")


CONFIGURATION = TableSpec("BioimsConfiguration", "key1", "timestamp1")
LABEL = TableSpec("BioimsLabel", "category", "label")
MESSAGE = TableSpec("BioimsMessage", "messageId", "timestamp1")
ARTIFACT = TableSpec("BioimsArtifact", "contextId", "artifact")
TAG = TableSpec("BioimsTag", "tagValue", "tagType")
TRAINING_CONFIGURATION = TableSpec(
    "BioimsTrainingConfiguration",
    "embeddingName",
    "trainId",
    (IndexSpec("trainIdIndex", "trainId", "embeddingName"),),
)
IMAGE_MANAGEMENT = TableSpec(
    "BioimsImageManagement",
    "imageId",
    "trainId",
    (
        # image origin rows of a plate (only they carry `plateId`)
        IndexSpec("plateIdIndex", "plateId", "imageId"),
        # per-training rows of a plate: `trainPlateId` = "<trainId>#<plateId>"
        IndexSpec("trainPlateIndex", "trainPlateId", "imageId"),
        # validated plate rows by geometry: `plateDims` = "<width>x<height>x<depth>x<channels>"
        IndexSpec("plateDimsIndex", "plateDims", "imageId"),
        # every plate row (they carry `plateList` = "plate"): listing plates without a scan
        IndexSpec("plateListIndex", "plateList", "imageId"),
    ),
)
SEARCH = TableSpec("BioimsSearch", "searchId", "imageId")

ALL_TABLES: tuple[TableSpec, ...] = (
    CONFIGURATION,
    LABEL,
    MESSAGE,
    ARTIFACT,
    TAG,
    TRAINING_CONFIGURATION,
    IMAGE_MANAGEMENT,
    SEARCH,
)

# Local-runtime bookkeeping (workflow executions, jobs); not part of the original data model.
EXECUTION = TableSpec("BioimsExecution", "executionArn", "record")

ORIGIN = "origin"  # reserved sort-key value: the base/metadata row
LATEST = "LATEST"  # reserved sort-key value of configuration and message tables
