"""Wire the stacks of one deployment together: the only place that knows which stack feeds which.

Parts whose entry point does not exist yet (a Dockerfile, the Lambda handlers, the workflow
definitions) are not instantiated; they appear as soon as their files land.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import App, Environment, Stack, Tags

from bioims import resources
from stacks.asl import Bindings, TrainingBindings
from stacks.batch_stack import BatchStack
from stacks.compat_document import CompatStack
from stacks.environment import runtime_environment
from stacks.functions import ServiceFunctions, deployable_services
from stacks.grants import DEPLOYMENT_TAG, DeploymentResources
from stacks.images import REPO_ROOT
from stacks.network_stack import NetworkStack
from stacks.search_stack import SearchQueuesStack, SearchServiceStack
from stacks.services_stack import ServicesStack
from stacks.settings import DeploymentSettings
from stacks.state_machines import WorkflowTargets, state_machine_name
from stacks.storage_stack import StorageStack
from stacks.training_stack import TrainingStack
from stacks.workflows_stack import WorkflowsStack, deployable_workflows, training_tags


@dataclass
class Deployment:
    settings: DeploymentSettings
    network: NetworkStack
    storage: StorageStack
    queues: SearchQueuesStack
    batch: BatchStack
    training: TrainingStack | None
    resources: DeploymentResources
    search_service: SearchServiceStack | None = None
    services: ServicesStack | None = None
    workflows: WorkflowsStack | None = None
    compat: CompatStack | None = None
    planned_workflows: list[str] = field(default_factory=list)

    @property
    def stacks(self) -> list[Stack]:
        found = [
            self.network,
            self.storage,
            self.queues,
            self.batch,
            self.training,
            self.search_service,
            self.services,
            self.workflows,
            self.compat,
        ]
        return [s for s in found if s is not None]


def build_deployment(app: App, settings: DeploymentSettings, *, root: Path = REPO_ROOT) -> Deployment:
    env = Environment(account=settings.account, region=settings.region) if settings.account or settings.region else None
    common = {"env": env} if env else {}
    Tags.of(app).add(DEPLOYMENT_TAG, settings.deployment)

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
    training = None
    if settings.enable_training:
        training = TrainingStack(app, settings, network.vpc, network.training_subnet, deployed, root=root, **common)
    search_service = None
    if SearchServiceStack.available(root):
        search_service = SearchServiceStack(app, settings, network.vpc, deployed, root=root, **common)
    deployment = Deployment(settings, network, storage, queues, batch, training, deployed, search_service)
    if not ServiceFunctions.available(root):
        return deployment

    # Which workflows can run is known before any function exists, so the functions' roles can
    # name the state machines they start (by physical name: no reference cycle).
    trains = training is not None and training.training.image_uri is not None
    workflows = deployable_workflows(set(deployable_services(root)), set(batch.jobs), trains)
    deployed.workflow_names = {w: state_machine_name(settings, w) for w in workflows}
    deployment.planned_workflows = workflows
    deployment.services = ServicesStack(app, settings, deployed, root=root, **common)
    deployment.compat = CompatStack(app, settings, deployed.resource_bucket, _compat_slots(deployment), **common)
    if workflows:
        deployment.workflows = WorkflowsStack(
            app, settings, workflows, _bindings(deployment), _targets(deployment), **common
        )
    return deployment


def _compat_slots(d: Deployment) -> dict[str, str]:
    """The slots the original's discovery document names: functions, Batch queues, job definitions."""
    slots = {resources.function_slot(s): f.function.function_name for s, f in d.services.functions.functions.items()}
    slots[resources.BATCH_ON_DEMAND_QUEUE] = d.batch.compute.on_demand_queue.job_queue_arn
    slots[resources.BATCH_SPOT_QUEUE] = d.batch.compute.spot_queue.job_queue_arn
    slots.update({resources.job_definition_slot(j): jd.definition.job_definition_arn for j, jd in d.batch.jobs.items()})
    return slots


def _bindings(d: Deployment) -> Bindings:
    t = d.training.training if d.training is not None else None
    training = None
    if t is not None and t.image_uri is not None:
        training = TrainingBindings(
            role_arn=t.execution.role.role_arn,
            image_uri=t.image_uri,
            file_system_id=t.lustre.file_system.file_system_id,
            mount_name=t.lustre.file_system.mount_name,
            subnet_ids=(d.network.training_subnet.subnet_id,),
            security_group_id=t.security_group.security_group_id,
            data_bucket=d.resources.data_bucket.bucket_name,
            environment=runtime_environment(d.settings),
            tags=training_tags(d.settings),
        )
    return Bindings(
        functions=d.services.function_arns,
        job_definitions={job: jd.definition.job_definition_arn for job, jd in d.batch.jobs.items()},
        job_queues={
            "on-demand": d.batch.compute.on_demand_queue.job_queue_arn,
            "spot": d.batch.compute.spot_queue.job_queue_arn,
        },
        training=training,
    )


def _targets(d: Deployment) -> WorkflowTargets:
    bindings = _bindings(d)
    return WorkflowTargets(
        functions=dict(bindings.functions),
        job_definitions=dict(bindings.job_definitions),
        job_queues=dict(bindings.job_queues),
        sagemaker_role_arn=d.training.training.execution.role.role_arn if d.training is not None else None,
    )
