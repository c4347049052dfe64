"""A managed policy for the people and notebooks that use a deployment through the `bioims` CLI or
`bioims.client` (the default Lambda transport): find the resource names, call the service
functions, follow workflow executions, put manifests and images into the resource bucket and read
results from the data bucket. Attach it to your own role or SageMaker Studio execution role; the
app creates no IAM user (docs/original.md §1.16, §8.7 #50).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.grants import BUCKET_LIST, OBJECT_READ, OBJECT_WRITE, SSM_READ, DeploymentResources
from stacks.nag import anchor_of, scoped_wildcards
from stacks.settings import DeploymentSettings


class ClientAccessPolicy(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: DeploymentSettings,
        functions: dict[str, lambda_.IFunction],
        resources: DeploymentResources,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        d = settings.deployment
        acks = scoped_wildcards(self)
        parameters = stack.format_arn(service="ssm", resource="parameter", resource_name=f"{d}/*")
        executions = stack.format_arn(
            service="states", resource="execution", resource_name=f"{d}-*:*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        stacks = stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{d}-*/*")
        data, landing = resources.data_bucket, resources.resource_bucket
        statements = [
            iam.PolicyStatement(
                actions=list(SSM_READ),
                resources=[stack.format_arn(service="ssm", resource="parameter", resource_name=d), parameters],
            ),
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[stacks]),
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[functions[s].function_arn for s in sorted(functions)]
            ),
            iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions]),
            iam.PolicyStatement(actions=list(BUCKET_LIST), resources=[data.bucket_arn, landing.bucket_arn]),
            iam.PolicyStatement(actions=list(OBJECT_READ), resources=[data.arn_for_objects("*")]),
            iam.PolicyStatement(actions=list(OBJECT_READ + OBJECT_WRITE), resources=[landing.arn_for_objects("*")]),
        ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Use the bioims deployment {d} from the bioims CLI or bioims.client (Lambda transport)",
            statements=statements,
        )
        acks.add(f":parameter/{d}/*", "Resource names of this deployment only (its SSM path).")
        acks.add(f":stack/{d}-*/*", "The stacks of this deployment (stack-output discovery), by name prefix.")
        acks.add(f":execution:{d}-*:*", "Executions of this deployment's state machines, named at run time.")
        acks.add(
            "/*",
            "Read every result in the data bucket; read and write the user's landing zone.",
            anchor=anchor_of(data),
        )
        acks.add(
            "/*", "Read and write the user's landing zone (manifests, images, filter lists).", anchor=anchor_of(landing)
        )
        CfnOutput(self, "Arn", value=self.policy.managed_policy_arn, description=f"IAM policy for users of {d}")
