"""The original's resource discovery document (docs/original.md §6.1), pointing at this deployment.

The original's client (`BioimageSearchResources`) finds every Lambda, Batch queue and job definition
in a CloudFormation `describe_stacks` answer: the stack with an exact name
(`BioimageSearchConfigurationStack`, ...) and its first output whose key starts with a fixed prefix
(`ExportsOutputFnGetAttconfigurationFunction`, ...). It can also load a copy of that answer from S3
(`params={'bucket', 'key'}`). `describe_stacks_document` writes such a document with the original's
stack names and output keys and this deployment's resource names as values, so code written for
the original finds this project's Lambdas unmodified. The original's separate train-build,
train-compute and plate-embedding-compute Lambdas are methods of the train and embedding services
here, so their output keys point at those services' functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from bioims import resources
from bioims.config import ConfigError

# (original stack name, [(output-key prefix the original's client looks up, this project's slot)])
ORIGINAL_STACKS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("BioimageSearchBaseStack", ()),
    (
        "BioimageSearchConfigurationStack",
        (("ExportsOutputFnGetAttconfigurationFunction", resources.function_slot("configuration")),),
    ),
    ("BioimageSearchLabelStack", (("ExportsOutputFnGetAttlabelFunction", resources.function_slot("label")),)),
    ("BioimageSearchMessageStack", (("ExportsOutputFnGetAttmessageFunction", resources.function_slot("message")),)),
    (
        "BioimageSearchImageArtifactStack",
        (("ExportsOutputFnGetAttdefaultArtifactFunction", resources.function_slot("image-artifact")),),
    ),
    (
        "BioimageSearchBatchSetupStack",
        (
            ("batchOnDemandQueueName", resources.BATCH_ON_DEMAND_QUEUE),
            ("batchSpotQueueName", resources.BATCH_SPOT_QUEUE),
        ),
    ),
    (
        "BioimageSearchPlatePreprocessingStack",
        (("platePreprocessingJobDefinitionArn", resources.job_definition_slot("plate-preprocessing")),),
    ),
    (
        "BioimageSearchTrainingConfigurationStack",
        (("ExportsOutputFnGetAtttrainingConfigurationFunction", resources.function_slot("training-configuration")),),
    ),
    ("BioimageSearchArtifactStack", (("ExportsOutputFnGetAttartifactFunction", resources.function_slot("artifact")),)),
    (
        "BioimageSearchImageManagementStack",
        (("ExportsOutputFnGetAttimageManagementFunction", resources.function_slot("image-management")),),
    ),
    (
        "BioimageSearchProcessPlateStack",
        (("ExportsOutputFnGetAttprocessPlateFunction", resources.function_slot("process-plate")),),
    ),
    (
        "BioimageSearchTrainStack",
        (
            ("ExportsOutputFnGetAtttrainFunction", resources.function_slot("train")),
            ("ExportsOutputFnGetAtttrainBuildFunction", resources.function_slot("train")),
            ("ExportsOutputFnGetAtttrainComputeFunction", resources.function_slot("train")),
        ),
    ),
    (
        "BioimageSearchEmbeddingStack",
        (
            ("ExportsOutputFnGetAttembeddingComputeFunction", resources.function_slot("embedding")),
            ("ExportsOutputFnGetAttplateEmbeddingComputeFunction", resources.function_slot("embedding")),
        ),
    ),
    ("BioimageSearchSearchStack", (("ExportsOutputFnGetAttsearchFunction", resources.function_slot("search")),)),
    ("BioimageSearchTagStack", (("ExportsOutputFnGetAtttagFunction", resources.function_slot("tag")),)),
)


# Where the deployment writes the document in its resource bucket (stacks/compat_document.py).
DOCUMENT_KEY = "compat/describe-stacks.json"

# The original client's Step Functions look-ups (docs/original.md §6.2): method -> (the name prefix it
# matches with `startswith` over ListStateMachines, the workflow here that does that work).
STATE_MACHINE_LOOKUPS: dict[str, tuple[str, str]] = {
    "startComputePlateEmbedding": ("PlateEmbeddingCompute", "plate-embedding-compute"),
    "startComputeEmbedding": ("EmbeddingCompute", "embedding-compute"),
    "startTrainingLoad": ("SearchTrainLoader", "search-train-loader"),
    "startTagLoad": ("SearchTagLoader", "search-tag-loader"),
}


def workflow_prefix(workflow: str) -> str:
    """A workflow's name in the original's style (`plate-embedding-compute` -> `PlateEmbeddingCompute`):
    the prefix its state machine's physical name starts with."""
    return "".join(part.capitalize() for part in workflow.split("-"))


def _output_key(prefix: str, slot: str) -> str:
    """A CDK-style export key: the prefix plus hash-like suffixes (stable for a slot), so a
    `startswith(prefix)` look-up finds it and `trainFunction` never matches `trainBuildFunction`'s key."""
    if not prefix.startswith("ExportsOutputFnGetAtt"):
        return prefix
    digest = hashlib.sha256(f"{prefix}|{slot}".encode()).hexdigest().upper()
    return f"{prefix}{digest[:8]}Arn{digest[8:16]}"


def describe_stacks_document(resolve: Callable[[str], str | None]) -> dict:
    """`{"Stacks": [{"StackName", "StackStatus", "Outputs": [{"OutputKey", "OutputValue"}]}]}` in
    the original's names; `resolve(slot)` gives this deployment's value of a slot (None when it
    has none: that output is left out, as it was absent in the original's stacks)."""
    stacks = []
    for stack_name, outputs in ORIGINAL_STACKS:
        listed = []
        for prefix, slot in outputs:
            value = resolve(slot)
            if value:
                listed.append(
                    {
                        "OutputKey": _output_key(prefix, slot),
                        "OutputValue": value,
                        "Description": f"bioimage-search {slot}",
                    }
                )
        stacks.append({"StackName": stack_name, "StackStatus": "CREATE_COMPLETE", "Outputs": listed})
    return {"Stacks": stacks}


def settings_resolver(settings) -> Callable[[str], str | None]:
    """Slot values of a deployment from its settings (None for a slot it does not have)."""

    def resolve(slot: str) -> str | None:
        try:
            return settings.resource(slot)
        except ConfigError:  # a resource this deployment does not have (e.g. no Batch stack)
            return None

    return resolve
