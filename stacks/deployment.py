"""Wire the stacks of one deployment together: the only place that knows which stack feeds which.

Parts whose entry point does not exist yet (a Dockerfile, the Lambda handlers, the workflow
definitions) are not instantiated; they appear as soon as their files land.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import App, Environment, Stack, Tags

from stacks.batch_stack import BatchStack
from stacks.grants import DeploymentResources
from stacks.images import REPO_ROOT
from stacks.network_stack import NetworkStack
from stacks.search_stack import SearchQueuesStack, SearchServiceStack
from stacks.settings import DeploymentSettings
from stacks.storage_stack import StorageStack
from stacks.training_stack import TrainingStack


@dataclass
class Deployment:
    settings: DeploymentSettings
    network: NetworkStack
    storage: StorageStack
    queues: SearchQueuesStack
    batch: BatchStack
    training: TrainingStack
    resources: DeploymentResources
    search_service: SearchServiceStack | None = None
    extra: list[Stack] = field(default_factory=list)

    @property
    def stacks(self) -> list[Stack]:
        found = [self.network, self.storage, self.queues, self.batch, self.training, self.search_service, *self.extra]
        return [s for s in found if s is not None]


def build_deployment(app: App, settings: DeploymentSettings, *, root: Path = REPO_ROOT) -> Deployment:
    env = Environment(account=settings.account, region=settings.region) if settings.account or settings.region else None
    common = {"env": env} if env else {}
    Tags.of(app).add("bioims:deployment", settings.deployment)

    network = NetworkStack(app, settings, **common)
    storage = StorageStack(app, settings, **common)
    queues = SearchQueuesStack(app, settings, **common)
    deployed = DeploymentResources(
        deployment=settings.deployment,
        tables=dict(storage.tables.by_name),
        data_bucket=storage.buckets.data,
        resource_bucket=storage.buckets.resource,
        source_buckets=storage.buckets.sources,
        queues=dict(queues.queues),
    )
    batch = BatchStack(app, settings, network.vpc, deployed, root=root, **common)
    training = TrainingStack(app, settings, network.vpc, network.training_subnet, deployed, root=root, **common)
    search_service = None
    if SearchServiceStack.available(root):
        search_service = SearchServiceStack(app, settings, network.vpc, deployed, root=root, **common)
    return Deployment(settings, network, storage, queues, batch, training, deployed, search_service)
