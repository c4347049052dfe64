"""SageMaker training infrastructure: FSx for Lustre linked to the data bucket, the training
security group, the SageMaker execution role and the training image.

Everything a training job needs is in the template or published (docs/original.md §1.4, §4.7,
§8.1 #5, #8, §8.4 #34): the auto-import policy is set by CloudFormation (not by a background shell
command that fails silently); the file system, its mount name, subnets and security group are
published as slots (not found by tag or description prefix); SageMaker gets an execution role of
its own (not a Lambda's role with `s3:*` and `iam:PassRole` on `*`); the training image is built
from this repository (not a us-east-1 URI).
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_fsx as fsx
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.access import needs_of
from stacks.grants import DeploymentResources, grant_needs
from stacks.images import REPO_ROOT, RepositoryImage
from stacks.nag import acknowledge, scoped_wildcards
from stacks.settings import DeploymentSettings

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRAINING_DOCKERFILE = Path("training/Dockerfile")
ECR_URI = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repo>[^:@]+)")
# What SageMaker does in the VPC on the job's behalf (network interfaces for the training containers):
# the mutating actions are limited to this deployment's VPC, training subnet and security group;
# only the Describe calls, which have no resource-level permissions, are on "*".
VPC_MUTATING_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
)
VPC_DESCRIBE_ACTIONS = (
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)


class LustreCache(Construct):
    """A SCRATCH_2 FSx for Lustre file system importing the data bucket, updated as objects change,
    reachable only from the training security group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        data_bucket: s3.IBucket,
        clients: ec2.ISecurityGroup,
        settings: DeploymentSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="FSx for Lustre: Lustre ports from the training security group and itself only",
            allow_all_outbound=False,
        )
        self.file_system = fsx.LustreFileSystem(
            self,
            "FileSystem",
            vpc=vpc,
            vpc_subnet=subnet,
            storage_capacity_gib=settings.lustre_storage_gib,
            security_group=self.security_group,
            lustre_configuration=fsx.LustreConfiguration(
                deployment_type=fsx.LustreDeploymentType.SCRATCH_2,
                import_path=f"s3://{data_bucket.bucket_name}",
                auto_import_policy=fsx.LustreAutoImportPolicy.NEW_CHANGED_DELETED,
            ),
            removal_policy=RemovalPolicy.DESTROY,  # a cache of the data bucket: nothing is lost
        )
        self.file_system.connections.allow_default_port_from(clients, "Lustre clients: SageMaker training")
        self.security_group.add_egress_rule(
            self.security_group, ec2.Port.tcp_range(988, 1023), "Lustre servers talk to each other"
        )


class SageMakerExecutionRole(Construct):
    """The role SageMaker training jobs run with: the data they read and write, their logs,
    metrics and network interfaces, the training image; nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: DeploymentSettings,
        resources: DeploymentResources,
        *,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        security_group: ec2.ISecurityGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{settings.deployment} SageMaker training jobs",
        )
        grant_needs(self.role, self, needs_of("sagemaker-training"), resources)
        log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=TRAINING_LOG_GROUP,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_group, f"{log_group}:log-stream:*"],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": TRAINING_LOG_GROUP}},
            )
        )
        self._grant_network_interfaces(vpc, subnet, security_group)
        acknowledge(
            self,
            "IAM5[Resource::*]",
            "SageMaker's Describe calls (network interfaces, VPCs, subnets, security groups, DHCP options) and "
            "PutMetricData have no resource-level permissions; PutMetricData is limited by namespace condition.",
        )
        # Matched on the resolved ARN's tail, so it holds whether the stack's partition, region and
        # account are tokens (environment-agnostic) or concrete (the CDK toolkit's account/region).
        scoped_wildcards(self).add(
            f":log-group:{TRAINING_LOG_GROUP}:log-stream:*",
            "Log streams of SageMaker training jobs are named by job at run time.",
            anchor=":logs:",
        )

    def _grant_network_interfaces(self, vpc: ec2.IVpc, subnet: ec2.ISubnet, security_group: ec2.ISecurityGroup) -> None:
        """Create/delete network interfaces (and their permissions) only in this VPC, with the
        training subnet and security group; the interface ids are SageMaker's, unknown beforehand."""
        stack = Stack.of(self)

        def ec2_arn(resource: str, name: str) -> str:
            return stack.format_arn(service="ec2", resource=resource, resource_name=name)

        vpc_arn = ec2_arn("vpc", vpc.vpc_id)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateNetworkInterface"],
                resources=[
                    ec2_arn("subnet", subnet.subnet_id),
                    ec2_arn("security-group", security_group.security_group_id),
                ],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(VPC_MUTATING_ACTIONS),
                resources=[ec2_arn("network-interface", "*")],
                conditions={"ArnEquals": {"ec2:Vpc": vpc_arn}},
            )
        )
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(VPC_DESCRIBE_ACTIONS), resources=["*"]))
        scoped_wildcards(self).add(
            ":network-interface/*",
            "SageMaker names the training containers' network interfaces at run time; every action on them "
            "requires that they lie in this deployment's VPC (ec2:Vpc condition).",
            anchor=":ec2:",
        )

    def grant_image_pull(self, image_uri: str, image: RepositoryImage | None) -> None:
        """Pull access to the training image: the asset repository, or an ECR repository of this
        account named in `trainingImageUri` (AWS-provided images need no permission)."""
        if image is not None:
            image.asset.repository.grant_pull(self.role)
            return
        match = ECR_URI.match(image_uri)
        if match and match["account"] == Stack.of(self).account:
            repository = ecr.Repository.from_repository_name(self, "TrainingRepository", match["repo"])
            repository.grant_pull(self.role)


class TrainingInfrastructure(Construct):
    """Everything a training job needs besides its request: network, file system, role, image."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        settings: DeploymentSettings,
        resources: DeploymentResources,
        *,
        root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.subnet = subnet
        self.security_group = ec2.SecurityGroup(
            self,
            "TrainingSecurityGroup",
            vpc=vpc,
            description="SageMaker training: no inbound except between the instances of one job",
            allow_all_outbound=True,
        )
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.all_tcp(), "Distributed training between the job's instances"
        )
        self.lustre = LustreCache(
            self, "Lustre", vpc, self.subnet, resources.data_bucket, self.security_group, settings
        )
        self.execution = SageMakerExecutionRole(
            self, "SageMaker", settings, resources, vpc=vpc, subnet=self.subnet, security_group=self.security_group
        )
        self.image: RepositoryImage | None = None
        self.image_uri: str | None = settings.training_image_uri
        if self.image_uri is None and (root / TRAINING_DOCKERFILE).is_file():
            self.image = RepositoryImage(self, "Image", TRAINING_DOCKERFILE, root=root)
            self.image_uri = self.image.image_uri
        if self.image_uri is not None:
            self.execution.grant_image_pull(self.image_uri, self.image)
