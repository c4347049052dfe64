"""`<deployment>-Network`: the deployment's one VPC and the subnet training runs in."""

from __future__ import annotations

from aws_cdk import Fn, Stack
from constructs import Construct

from bioims import resources
from stacks.network import PrivateVpc
from stacks.published import publish
from stacks.settings import DeploymentSettings


class NetworkStack(Stack):
    def __init__(self, scope: Construct, settings: DeploymentSettings, **kwargs) -> None:
        self._zone_count = settings.max_azs
        name = settings.stack_name("Network")
        super().__init__(scope, name, stack_name=name, description=f"{settings.deployment}: VPC", **kwargs)
        self.network = PrivateVpc(self, "Network", settings)
        self.vpc = self.network.vpc
        self.training_subnet = self.network.training_subnet
        publish(self, settings.deployment, {resources.TRAINING_SUBNETS: self.training_subnet.subnet_id})

    @property
    def availability_zones(self) -> list[str]:
        """The VPC's zones, chosen by CloudFormation at deploy time (`Fn::GetAZs`) in every case.

        Why: with a concrete account and region (which the CDK toolkit always hands the app) CDK
        would look the zones up with AWS calls during synthesis, so `cdk synth` failed without
        credentials; deploy-time selection synthesises offline and deploys the same."""
        return [Fn.select(index, Fn.get_azs()) for index in range(self._zone_count)]
