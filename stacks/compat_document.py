"""The original's discovery document, written by the deployment itself to the resource bucket.

The original's client can find every resource from a copy of a CloudFormation `describe_stacks`
answer in S3 (`BioimageSearchResources(params={'bucket', 'key'})`; bioims/discovery.py builds it).
Here the document is built at synthesis with this deployment's resource names as CloudFormation
values, and an SDK-call custom resource (s3:PutObject on that one key, s3:DeleteObject when the
stack goes) writes it on every deployment that changes a value. CloudFormation has no resource
that writes an S3 object, so a small provider Lambda (the one aws-cdk-lib ships for SDK calls) is
the smallest way; its role may write and delete that one object only.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from bioims.discovery import DOCUMENT_KEY, describe_stacks_document
from stacks.checkov_skips import skip_check
from stacks.log_groups import log_group
from stacks.nag import acknowledge
from stacks.settings import DeploymentSettings

# Logical id aws-cdk-lib gives the one provider function of every AwsCustomResource in a stack.
PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


class CompatStack(Stack):
    """`<deployment>-Compat`: only the document writer, so the service stacks keep one kind of function."""

    def __init__(
        self, scope: Construct, settings: DeploymentSettings, bucket: s3.IBucket, slots: dict[str, str], **kwargs
    ) -> None:
        name = settings.stack_name("Compat")
        super().__init__(
            scope,
            name,
            stack_name=name,
            description=f"{settings.deployment}: the original's discovery document",
            **kwargs,
        )
        self.document = CompatDiscoveryDocument(self, "DiscoveryDocument", bucket, slots, settings)


class CompatDiscoveryDocument(Construct):
    """Writes `describe_stacks_document` (slot values: CloudFormation tokens) to `bucket`/DOCUMENT_KEY."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        bucket: s3.IBucket,
        slots: dict[str, str],
        settings: DeploymentSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.document = describe_stacks_document(slots.get)
        body = stack.to_json_string(self.document)
        put = cr.AwsSdkCall(
            service="S3",
            action="putObject",
            parameters={
                "Bucket": bucket.bucket_name,
                "Key": DOCUMENT_KEY,
                "Body": body,
                "ContentType": "application/json",
            },
            physical_resource_id=cr.PhysicalResourceId.of(DOCUMENT_KEY),
        )
        self.resource = cr.AwsCustomResource(
            self,
            "Writer",
            on_create=put,
            on_update=put,
            on_delete=cr.AwsSdkCall(
                service="S3", action="deleteObject", parameters={"Bucket": bucket.bucket_name, "Key": DOCUMENT_KEY}
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["s3:PutObject", "s3:DeleteObject"], resources=[bucket.arn_for_objects(DOCUMENT_KEY)]
                    )
                ]
            ),
            install_latest_aws_sdk=False,
            log_group=log_group(self, "ProviderLogs", settings),
        )
        provider = stack.node.find_child(PROVIDER_ID)
        acknowledge(
            provider,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The SDK-call provider of aws-cdk-lib logs through the basic execution policy; it runs only during "
            "deployments.",
        )
        acknowledge(
            provider, "L1", "The SDK-call provider's runtime is chosen by the pinned aws-cdk-lib, not by this app."
        )
        function = provider.node.find_child("Resource")
        for check, reason in (
            (
                "CKV_AWS_115",
                "Runs once per deployment as a CloudFormation custom resource provider; no concurrency to cap.",
            ),
            (
                "CKV_AWS_116",
                "CloudFormation invokes it synchronously and reports a failure as the stack's own; no "
                "dead-letter queue applies.",
            ),
            (
                "CKV_AWS_117",
                "Calls only the S3 API to write one object during deployment; it reaches no resource inside the VPC.",
            ),
            (
                "CKV_AWS_173",
                "Has no environment variables of its own that carry data; nothing to encrypt with a customer key.",
            ),
        ):
            skip_check(function, check, reason)
