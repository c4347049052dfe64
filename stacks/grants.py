"""Turn a consumer's `Needs` (stacks/access.py) into IAM statements on its role.

Statements name exact actions (never `service:*`) on the deployment's own resources. The only
wildcards are in resource paths that are scoped on purpose (object-key areas of a bucket, the
deployment's SSM parameter path, executions of one state machine); each is acknowledged for
cdk-nag with its reason through `stacks.nag.scoped_wildcards`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from bioims import tables as table_specs
from stacks.access import Needs
from stacks.nag import anchor_of, scoped_wildcards

TABLE_READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable")
TABLE_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
INDEX_READ = ("dynamodb:Query", "dynamodb:Scan")
OBJECT_READ = ("s3:GetObject",)
OBJECT_WRITE = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
# ListBucket without a prefix condition: without it S3 answers 403 instead of 404 for a missing
# key, which would break the "skip outputs that exist" checks that make every step re-runnable.
BUCKET_LIST = ("s3:ListBucket",)
SSM_READ = ("ssm:GetParametersByPath",)
QUEUE_SEND = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
QUEUE_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)
WORKFLOW_START = ("states:StartExecution",)
EXECUTION_READ = ("states:DescribeExecution", "states:StopExecution")
TRAINING_JOB_READ = ("sagemaker:DescribeTrainingJob",)


@dataclass
class DeploymentResources:
    """The deployed resources that grants may point at, gathered from the stacks."""

    deployment: str
    tables: dict[str, dynamodb.ITable]
    data_bucket: s3.IBucket
    resource_bucket: s3.IBucket
    source_buckets: tuple[s3.IBucket, ...] = ()
    queues: dict[str, sqs.IQueue] = field(default_factory=dict)
    workflow_names: dict[str, str] = field(default_factory=dict)  # workflow -> state machine name

    def table(self, name: str) -> dynamodb.ITable:
        if name not in self.tables:
            raise KeyError(f"no table {name!r} in this deployment")
        return self.tables[name]


def _spec(name: str) -> table_specs.TableSpec:
    for spec in table_specs.ALL_TABLES:
        if spec.name == name:
            return spec
    raise KeyError(f"no table spec {name!r}")


def grant_ssm_read(role: iam.IRole, scope: Construct, deployment: str) -> None:
    """Read the deployment's resource names (bioims.config discovery) and nothing else in SSM."""
    stack = Stack.of(scope)
    path = stack.format_arn(service="ssm", resource="parameter", resource_name=deployment)
    below = stack.format_arn(service="ssm", resource="parameter", resource_name=f"{deployment}/*")
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(SSM_READ), resources=[path, below]))
    scoped_wildcards(scope).add(
        f":parameter/{deployment}/*", "Resource names of this deployment only: GetParametersByPath on its own path."
    )


def grant_needs(role: iam.IRole, scope: Construct, needs: Needs, res: DeploymentResources) -> None:
    """Add the statements `needs` calls for to `role`; `scope` owns the nag acknowledgements."""
    acks = scoped_wildcards(scope)
    grant_ssm_read(role, scope, res.deployment)
    for name in sorted(needs.read_tables | needs.write_tables):
        table = res.table(name)
        actions = TABLE_READ + (TABLE_WRITE if name in needs.write_tables else ())
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=[table.table_arn]))
        indexes = [f"{table.table_arn}/index/{index.name}" for index in _spec(name).indexes]
        if indexes:
            role.add_to_principal_policy(iam.PolicyStatement(actions=list(INDEX_READ), resources=indexes))

    if needs.read_objects or needs.write_objects:
        bucket = res.data_bucket
        anchor = anchor_of(bucket)
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(BUCKET_LIST), resources=[bucket.bucket_arn]))
        for pattern in sorted(needs.objects_read_only):
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(OBJECT_READ), resources=[bucket.arn_for_objects(pattern)])
            )
            acks.add(
                f"/{pattern}",
                f"Read access to one key area of the data bucket ({pattern}), from the key layout.",
                anchor=anchor,
            )
        for pattern in sorted(needs.write_objects):
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(OBJECT_READ + OBJECT_WRITE if pattern in needs.read_objects else OBJECT_WRITE),
                    resources=[bucket.arn_for_objects(pattern)],
                )
            )
            acks.add(
                f"/{pattern}",
                f"Write access to one key area of the data bucket ({pattern}), from the key layout.",
                anchor=anchor,
            )

    whole_buckets: list[tuple[s3.IBucket, bool]] = []
    if needs.read_resource_bucket or needs.write_resource_bucket:
        whole_buckets.append((res.resource_bucket, needs.write_resource_bucket))
    if needs.read_source_buckets:
        whole_buckets.extend((bucket, False) for bucket in res.source_buckets)
    for bucket, writable in whole_buckets:
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(BUCKET_LIST), resources=[bucket.bucket_arn]))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(OBJECT_READ + (OBJECT_WRITE if writable else ())), resources=[bucket.arn_for_objects("*")]
            )
        )
        acks.add(
            "/*",
            "Every object of the resource bucket (the user's landing zone) or of a source-image bucket named in "
            "context: the consumer reads keys the user chose.",
            anchor=anchor_of(bucket),
        )

    for slot in sorted(needs.send_queues | needs.consume_queues):
        if slot not in res.queues:
            raise KeyError(f"no queue for slot {slot!r} in this deployment")
        actions = set(QUEUE_SEND if slot in needs.send_queues else ()) | set(
            QUEUE_CONSUME if slot in needs.consume_queues else ()
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=sorted(actions), resources=[res.queues[slot].queue_arn])
        )

    stack = Stack.of(scope)
    for workflow in sorted(needs.start_workflows):
        name = res.workflow_names.get(workflow)
        if name is None:
            continue  # the workflow is not deployed (its entry points do not exist yet)
        machine = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        executions = stack.format_arn(
            service="states", resource="execution", resource_name=f"{name}:*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(WORKFLOW_START), resources=[machine]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(EXECUTION_READ), resources=[executions]))
        acks.add(
            f":execution:{name}:*", f"Executions of the {workflow} state machine only (their names are generated)."
        )

    if needs.describe_training_jobs:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(TRAINING_JOB_READ),
                resources=[training_jobs_arn(stack)],
                conditions=deployment_tag_condition(res.deployment),
            )
        )
        acks.add(":training-job/*", TRAINING_JOBS_REASON)


DEPLOYMENT_TAG = "bioims:deployment"
TRAINING_JOBS_REASON = (
    "SageMaker training jobs are named at run time; access is limited to the jobs tagged with this "
    "deployment's name (the train state machine tags every job it creates)."
)


def training_jobs_arn(stack: Stack) -> str:
    return stack.format_arn(service="sagemaker", resource="training-job", resource_name="*")


def deployment_tag_condition(deployment: str, *, request: bool = False) -> dict:
    key = "aws:RequestTag" if request else "aws:ResourceTag"
    return {"StringEquals": {f"{key}/{DEPLOYMENT_TAG}": deployment}}
