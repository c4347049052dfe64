"""`<deployment>-Network`: the deployment's one VPC and the subnet training runs in."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from bioims import resources
from stacks.network import PrivateVpc
from stacks.published import publish
from stacks.settings import DeploymentSettings


class NetworkStack(Stack):
    def __init__(self, scope: Construct, settings: DeploymentSettings, **kwargs) -> None:
        name = settings.stack_name("Network")
        super().__init__(scope, name, stack_name=name, description=f"{settings.deployment}: VPC", **kwargs)
        self.network = PrivateVpc(self, "Network", settings)
        self.vpc = self.network.vpc
        self.training_subnet = self.network.training_subnet
        publish(self, settings.deployment, {resources.TRAINING_SUBNETS: self.training_subnet.subnet_id})
