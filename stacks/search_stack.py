"""`<deployment>-Search`: the search and management queues (with dead-letter queues) and, once
search_service/Dockerfile exists, the Fargate search service consuming them."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from bioims import resources
from stacks.grants import DeploymentResources
from stacks.images import REPO_ROOT
from stacks.published import publish
from stacks.queues import QueueWithDeadLetter
from stacks.search_service import SEARCH_DOCKERFILE, SearchService
from stacks.settings import DeploymentSettings


class SearchQueuesStack(Stack):
    """Queues live apart from the service so that services can send before the service exists."""

    def __init__(self, scope: Construct, settings: DeploymentSettings, **kwargs) -> None:
        name = settings.stack_name("Queues")
        super().__init__(scope, name, stack_name=name, description=f"{settings.deployment}: search queues", **kwargs)
        self.search = QueueWithDeadLetter(self, "SearchQueue")
        self.management = QueueWithDeadLetter(self, "ManagementQueue")
        self.queues = {resources.SEARCH_QUEUE: self.search.queue, resources.MANAGEMENT_QUEUE: self.management.queue}
        publish(self, settings.deployment, {slot: queue.queue_url for slot, queue in self.queues.items()})


class SearchServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        settings: DeploymentSettings,
        vpc: ec2.IVpc,
        deployed: DeploymentResources,
        *,
        root: Path = REPO_ROOT,
        **kwargs,
    ) -> None:
        name = settings.stack_name("SearchService")
        super().__init__(scope, name, stack_name=name, description=f"{settings.deployment}: search service", **kwargs)
        self.service = SearchService(
            self, "SearchService", vpc, settings, deployed, dockerfile=SEARCH_DOCKERFILE, root=root
        )
        publish(self, settings.deployment, {resources.SEARCH_SERVICE_URL: self.service.url})
        CfnOutput(
            self,
            "SearchClientSecurityGroupId",
            value=self.service.clients.security_group_id,
            description="Attach to what calls the search HTTP API: the service admits its port from this group only",
        )
        # ECS Exec targets for the web UI's SSM port forwarding (docs/ui.md)
        CfnOutput(
            self,
            "SearchClusterName",
            value=self.service.cluster.cluster_name,
            description="ECS cluster of the search service",
        )
        CfnOutput(
            self,
            "SearchServiceName",
            value=self.service.service.service_name,
            description="ECS service running the search task",
        )
        CfnOutput(self, "UiPort", value=str(settings.ui_port), description="Web UI port on the search task's loopback")

    @staticmethod
    def available(root: Path = REPO_ROOT) -> bool:
        return (root / SEARCH_DOCKERFILE).is_file()
