"""Every workflow of the system, defined once (docs/original.md §1.11-1.14, §A).

The local runner executes these; the CDK app translates the same objects into Step Functions
state machines. Failures fail the execution (docs/original.md §8.2 #11), plate validation
tolerates unreadable images (§8.2 #12), flat fields are computed once per plate (§8.4 #31),
trainings poll nothing by hand: jobs are awaited by the platform (§8.2 #13), and embeddings are
computed by one job per plate, so the model is loaded once, not once per image.
"""

from __future__ import annotations

from bioims.workflows.dsl import (
    BatchJob,
    Choice,
    Fail,
    Invoke,
    Item,
    Map,
    Ref,
    StartWorkflow,
    TrainingJob,
    Workflow,
)


def _validated(prefix: str) -> tuple:
    return (
        Invoke(
            f"{prefix} Validate Plate",
            "image-management",
            "validatePlate",
            {"plateId": Ref("$.plateId")},
            result="validation",
        ),
        Choice(
            f"{prefix} Plate Valid?",
            Ref("$.validation.status"),
            "VALIDATED",
            then=(),
            otherwise=(
                Fail(f"{prefix} Plate Invalid", "PlateNotValidated", "the plate did not validate; see validatePlate"),
            ),
        ),
    )


def _training_plates(prefix: str) -> tuple:
    """Training row -> embedding row -> compatible plates, at $.training, $.embedding, $.plates."""
    return (
        Invoke(
            f"{prefix} Training Info",
            "training-configuration",
            "getTraining",
            {"trainId": Ref("$.trainId")},
            result="training",
        ),
        Invoke(
            f"{prefix} Embedding Info",
            "training-configuration",
            "getEmbeddingInfo",
            {"embeddingName": Ref("$.training.training.embeddingName")},
            result="embedding",
        ),
        _plate_survey(prefix),
    )


def _plate_survey(prefix: str) -> Invoke:
    return Invoke(
        f"{prefix} Plate Survey",
        "image-management",
        "listCompatiblePlates",
        {
            "width": Ref("$.embedding.embedding.inputWidth"),
            "height": Ref("$.embedding.embedding.inputHeight"),
            "depth": Ref("$.embedding.embedding.inputDepth"),
            "channels": Ref("$.embedding.embedding.inputChannels"),
        },
        result="plates",
    )


UPLOAD_SOURCE_PLATE = Workflow(
    name="upload-source-plate",
    description="Inspect every image of a new plate, validate the plate, make thumbnails.",
    inputs=("plateId",),
    timeout_minutes=60,
    steps=(
        Invoke(
            "Plate Images", "image-management", "getImageIdsByPlateId", {"plateId": Ref("$.plateId")}, result="images"
        ),
        Map(
            "Inspect Images",
            Ref("$.images.imageIds"),
            (Invoke("Inspect Image", "image-artifact", "inspectImage", {"imageId": Item("$")}),),
            max_concurrency=20,
            # Locally on the worker processes, not threads of the main process: on a whole
            # 1024 x 1280 plate, 0.5 ms main + 4.1 ms workers' CPU per field against 5.9 ms main
            # (the reads contend for one interpreter), and less wall time (1.55 s vs 2.14 s, median of 3).
            local_workers="processes",
        ),
        *_validated("Upload"),
        Map(
            "Image Artifacts",
            Ref("$.images.imageIds"),
            (Invoke("Default Artifacts", "image-artifact", "generateDefaultArtifacts", {"imageId": Item("$")}),),
            max_concurrency=20,
            local_workers="processes",
        ),
        # Last: only a workflow that got here makes the upload complete (a re-upload resumes others).
        Invoke("Upload Finished", "image-management", "finishPlateUpload", {"plateId": Ref("$.plateId")}),
    ),
)

PROCESS_PLATE = Workflow(
    name="process-plate",
    description="Flat fields of a plate, then normalisation, segmentation and ROIs of every image.",
    inputs=("plateId", "embeddingName"),
    timeout_minutes=360,
    steps=(
        Invoke(
            "Embedding Info",
            "training-configuration",
            "getEmbeddingInfo",
            {"embeddingName": Ref("$.embeddingName")},
            result="embedding",
        ),
        *_validated("Process"),
        BatchJob("Plate Flat Fields", "plate-preprocessing", {"plateId": Ref("$.plateId")}),
        Invoke(
            "Images To Process",
            "image-management",
            "getImageIdsByPlateId",
            {"plateId": Ref("$.plateId")},
            result="images",
        ),
        Map(
            "Process Images",
            Ref("$.images.imageIds"),
            (
                BatchJob(
                    "Image ROIs",
                    "image-preprocessing",
                    {"imageId": Item("$"), "embeddingName": Ref("$.embeddingName"), "plateId": Ref("$.plateId")},
                ),
            ),
            max_concurrency=0,
            local_workers="processes",
        ),
    ),
)

TRAIN = Workflow(
    name="train",
    description="Optionally process every compatible plate, build the training set, train, record the model.",
    inputs=("trainId",),
    timeout_minutes=48 * 60,
    steps=(
        *_training_plates("Train"),
        Choice(
            "Process Plates?",
            Ref("$.training.training.executeProcessPlate"),
            True,
            then=(
                Map(
                    "Process Plates",
                    Ref("$.plates.plates"),
                    (
                        StartWorkflow(
                            "Process Plate",
                            "process-plate",
                            {"plateId": Item("$.plateId"), "embeddingName": Ref("$.training.training.embeddingName")},
                        ),
                    ),
                    max_concurrency=5,
                ),
            ),
            otherwise=(),
        ),
        Invoke("Build Training Set", "train", "buildTrainingSet", {"trainId": Ref("$.trainId")}, result="build"),
        TrainingJob(
            "Train Model",
            Invoke("Training Job Request", "train", "trainingJobRequest", {"trainId": Ref("$.trainId")}),
            result="job",
        ),
        Invoke("Record Model", "train", "completeTraining", {"trainId": Ref("$.trainId")}, result="model"),
    ),
)

PLATE_EMBEDDING_COMPUTE = Workflow(
    name="plate-embedding-compute",
    description="Embeddings of every image of one plate with one training's model.",
    inputs=("trainId", "plateId"),
    timeout_minutes=60,
    steps=(
        BatchJob("Plate Embeddings", "embedding-compute", {"trainId": Ref("$.trainId"), "plateId": Ref("$.plateId")}),
    ),
)

EMBEDDING_COMPUTE = Workflow(
    name="embedding-compute",
    description="Embeddings of every compatible plate with one training's model.",
    inputs=("trainId",),
    timeout_minutes=24 * 60,
    steps=(
        *_training_plates("Embedding"),
        Map(
            "Embed Plates",
            Ref("$.plates.plates"),
            (
                BatchJob(
                    "Plate Embeddings",
                    "embedding-compute",
                    {"trainId": Ref("$.trainId"), "plateId": Item("$.plateId")},
                ),
            ),
            max_concurrency=10,
            local_workers="processes",
        ),
        Invoke("Record Embeddings", "train", "completeEmbedding", {"trainId": Ref("$.trainId")}, result="embeddings"),
    ),
)

SEARCH_TRAIN_LOADER = Workflow(
    name="search-train-loader",
    description="Load every image embedding of a training into the search service.",
    inputs=("trainId",),
    timeout_minutes=24 * 60,
    steps=(
        *_training_plates("Loader"),
        Map(
            "Load Plates",
            Ref("$.plates.plates"),
            (
                Invoke(
                    "Load Plate Embeddings",
                    "search",
                    "processPlate",
                    {"trainId": Ref("$.trainId"), "plateId": Item("$.plateId")},
                ),
            ),
            max_concurrency=10,
        ),
    ),
)

SEARCH_TAG_LOADER = Workflow(
    name="search-tag-loader",
    description="Load the tags of every image of an embedding's plates into the search service.",
    inputs=("embeddingName",),
    timeout_minutes=24 * 60,
    steps=(
        Invoke(
            "Tag Loader Embedding Info",
            "training-configuration",
            "getEmbeddingInfo",
            {"embeddingName": Ref("$.embeddingName")},
            result="embedding",
        ),
        _plate_survey("Tag Loader"),
        Map(
            "Load Plate Tags",
            Ref("$.plates.plates"),
            (
                Invoke(
                    "Load Plate Tags Call",
                    "search",
                    "processPlate",
                    {"embeddingName": Ref("$.embeddingName"), "plateId": Item("$.plateId")},
                ),
            ),
            max_concurrency=10,
        ),
    ),
)

WORKFLOWS: dict[str, Workflow] = {
    w.name: w
    for w in (
        UPLOAD_SOURCE_PLATE,
        PROCESS_PLATE,
        TRAIN,
        PLATE_EMBEDDING_COMPUTE,
        EMBEDDING_COMPUTE,
        SEARCH_TRAIN_LOADER,
        SEARCH_TAG_LOADER,
    )
}


def workflow(name: str) -> Workflow:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise KeyError(f"unknown workflow {name!r}; known: {', '.join(sorted(WORKFLOWS))}") from None
