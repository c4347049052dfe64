"""Names of every deployed resource a client needs, defined once.

The CDK app publishes each slot below as an SSM parameter `/<deployment>/<slot>` and as a stack
output; `bioims.config` reads them back. On the local backend the same slots resolve to local
names (directories, SQLite tables, in-process services).
"""

from __future__ import annotations

from typing import Final

# Service names: the client factory, the Lambda handler modules and the CLI use these.
SERVICES: Final[tuple[str, ...]] = (
    "configuration",
    "label",
    "message",
    "artifact",
    "tag",
    "training-configuration",
    "image-management",
    "image-artifact",
    "process-plate",
    "train",
    "embedding",
    "search",
)

# Workflows (state machines on AWS, the local runner here).
WORKFLOWS: Final[tuple[str, ...]] = (
    "upload-source-plate",
    "process-plate",
    "train",
    "embedding-compute",
    "plate-embedding-compute",
    "search-train-loader",
    "search-tag-loader",
)

DATA_BUCKET: Final = "DataBucket"
RESOURCE_BUCKET: Final = "ResourceBucket"
SEARCH_QUEUE: Final = "SearchQueueUrl"
MANAGEMENT_QUEUE: Final = "ManagementQueueUrl"
BATCH_ON_DEMAND_QUEUE: Final = "BatchOnDemandQueue"
BATCH_SPOT_QUEUE: Final = "BatchSpotQueue"
SEARCH_SERVICE_URL: Final = "SearchServiceUrl"
SAGEMAKER_ROLE_ARN: Final = "SageMakerRoleArn"
TRAINING_IMAGE_URI: Final = "TrainingImageUri"
FSX_FILE_SYSTEM_ID: Final = "FsxFileSystemId"
FSX_MOUNT_NAME: Final = "FsxMountName"
TRAINING_SUBNETS: Final = "TrainingSubnetIds"
TRAINING_SECURITY_GROUP: Final = "TrainingSecurityGroupId"


def function_slot(service: str) -> str:
    """Slot holding the Lambda function name of a service, e.g. `Function/image-management`."""
    return f"Function/{service}"


def state_machine_slot(workflow: str) -> str:
    """Slot holding the state machine ARN of a workflow, e.g. `StateMachine/process-plate`."""
    return f"StateMachine/{workflow}"


def table_slot(table_name: str) -> str:
    """Slot holding the physical name of a table (lets two deployments share an account)."""
    return f"Table/{table_name}"


def job_definition_slot(job: str) -> str:
    """Slot holding a Batch job definition ARN, e.g. `JobDefinition/image-preprocessing`."""
    return f"JobDefinition/{job}"


def ssm_parameter_name(deployment: str, slot: str) -> str:
    return f"/{deployment}/{slot}"


def output_key(slot: str) -> str:
    """CloudFormation output keys allow only alphanumerics: `Function/image-management` ->
    `FunctionImageManagement`."""
    parts = slot.replace("-", "/").split("/")
    return "".join(p[:1].upper() + p[1:] for p in parts if p)
