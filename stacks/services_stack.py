"""`<deployment>-Services`: one Lambda per service, published as `Function/<service>` slots."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stack
from constructs import Construct

from bioims import resources
from stacks.client_policy import ClientAccessPolicy
from stacks.functions import ServiceFunctions
from stacks.grants import DeploymentResources
from stacks.images import REPO_ROOT
from stacks.published import publish
from stacks.settings import DeploymentSettings


class ServicesStack(Stack):
    def __init__(
        self,
        scope: Construct,
        settings: DeploymentSettings,
        deployed: DeploymentResources,
        *,
        root: Path = REPO_ROOT,
        **kwargs,
    ) -> None:
        name = settings.stack_name("Services")
        super().__init__(
            scope, name, stack_name=name, description=f"{settings.deployment}: service functions", **kwargs
        )
        self.functions = ServiceFunctions(self, "Services", settings, deployed, root=root)
        self.client_policy = ClientAccessPolicy(
            self, "ClientAccess", settings, {s: f.function for s, f in self.functions.functions.items()}, deployed
        )
        publish(
            self,
            settings.deployment,
            {resources.function_slot(s): f.function.function_name for s, f in self.functions.functions.items()},
        )

    @property
    def function_arns(self) -> dict[str, str]:
        return {s: f.function.function_arn for s, f in self.functions.functions.items()}
