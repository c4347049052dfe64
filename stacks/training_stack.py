"""`<deployment>-Training`: FSx for Lustre, the SageMaker execution role, training security group and image
(the training subnet is published by the Network stack)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from bioims import resources
from stacks.grants import DeploymentResources
from stacks.images import REPO_ROOT
from stacks.published import publish
from stacks.settings import DeploymentSettings
from stacks.training import TrainingInfrastructure


class TrainingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        settings: DeploymentSettings,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        deployed: DeploymentResources,
        *,
        root: Path = REPO_ROOT,
        **kwargs,
    ) -> None:
        name = settings.stack_name("Training")
        super().__init__(
            scope, name, stack_name=name, description=f"{settings.deployment}: SageMaker training", **kwargs
        )
        self.training = TrainingInfrastructure(self, "Training", vpc, subnet, settings, deployed, root=root)
        lustre = self.training.lustre.file_system
        slots = {
            resources.SAGEMAKER_ROLE_ARN: self.training.execution.role.role_arn,
            resources.FSX_FILE_SYSTEM_ID: lustre.file_system_id,
            resources.FSX_MOUNT_NAME: lustre.mount_name,
            resources.TRAINING_SECURITY_GROUP: self.training.security_group.security_group_id,
        }
        if self.training.image_uri is not None:
            slots[resources.TRAINING_IMAGE_URI] = self.training.image_uri
        publish(self, settings.deployment, slots)
