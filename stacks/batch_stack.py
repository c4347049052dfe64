"""`<deployment>-Batch`: compute environments, queues, and a job definition for every batch_jobs/
entry point whose Dockerfile exists."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from bioims import resources
from stacks.batch_compute import BatchCompute
from stacks.grants import DeploymentResources
from stacks.images import REPO_ROOT
from stacks.job_definitions import BATCH_JOBS, ContainerJobDefinition
from stacks.published import publish
from stacks.settings import DeploymentSettings


class BatchStack(Stack):
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
        name = settings.stack_name("Batch")
        super().__init__(scope, name, stack_name=name, description=f"{settings.deployment}: AWS Batch", **kwargs)
        self.compute = BatchCompute(self, "Compute", vpc, settings)
        self.jobs: dict[str, ContainerJobDefinition] = {}
        for spec in BATCH_JOBS:
            dockerfile = spec.dockerfile(root)
            if dockerfile is not None:
                self.jobs[spec.job] = ContainerJobDefinition(self, spec, dockerfile, settings, deployed, root=root)
        slots = {
            resources.BATCH_ON_DEMAND_QUEUE: self.compute.on_demand_queue.job_queue_arn,
            resources.BATCH_SPOT_QUEUE: self.compute.spot_queue.job_queue_arn,
        }
        slots.update(
            {resources.job_definition_slot(job): d.definition.job_definition_arn for job, d in self.jobs.items()}
        )
        publish(self, settings.deployment, slots)
