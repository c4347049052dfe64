"""Batch job definitions built from the batch_jobs/ Dockerfiles, each with a job role of its own.

A job runs unprivileged with a role limited to what its code uses (stacks/access.py), never with
the instance's role (docs/original.md §1.10, §8.7 #50). The image's
ENTRYPOINT runs the entry point; the job definition's command passes it the job's parameters
(`--plateId Ref::plateId`, from bioims.workflows.jobs), which the state machine fills in, the
same parameters the local runner gives the same job function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from bioims.workflows.jobs import JOB_PARAMETERS
from stacks.access import needs_of
from stacks.environment import runtime_environment
from stacks.grants import DeploymentResources, grant_needs
from stacks.images import REPO_ROOT, RepositoryImage, find_dockerfile
from stacks.log_groups import log_group
from stacks.nag import acknowledge
from stacks.settings import DeploymentSettings


@dataclass(frozen=True)
class BatchJobSpec:
    """One Batch job: its entry point and the resources one attempt gets."""

    job: str
    entry: str  # path of the entry point, relative to the repository root
    vcpus: int
    memory_mib: int
    timeout_minutes: int
    attempts: int = 2

    def dockerfile(self, root: Path = REPO_ROOT) -> Path | None:
        return find_dockerfile(Path(self.entry), self.job, root)


# Sizes of the original's job definitions (docs/original.md §1.10) where it had them.
BATCH_JOBS: tuple[BatchJobSpec, ...] = (
    BatchJobSpec(
        "plate-preprocessing", "batch_jobs/plate_preprocessing.py", vcpus=1, memory_mib=7500, timeout_minutes=90
    ),
    BatchJobSpec(
        "image-preprocessing", "batch_jobs/image_preprocessing.py", vcpus=1, memory_mib=7500, timeout_minutes=180
    ),
    BatchJobSpec("embedding-compute", "batch_jobs/embedding_compute.py", vcpus=2, memory_mib=8192, timeout_minutes=120),
)


class ContainerJobDefinition(Construct):
    """A Batch job definition for one entry point: image, size, timeout, retries, logs, job role."""

    def __init__(
        self,
        scope: Construct,
        spec: BatchJobSpec,
        dockerfile: Path,
        settings: DeploymentSettings,
        resources: DeploymentResources,
        *,
        root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(scope, _construct_id(spec.job))
        self.spec = spec
        self.image = RepositoryImage(self, "Image", dockerfile, root=root)
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"{settings.deployment} Batch job {spec.job}",
        )
        grant_needs(self.job_role, self, needs_of(spec.job), resources)
        logs = log_group(self, "Logs", settings)
        container = batch.EcsEc2ContainerDefinition(
            self,
            "Container",
            image=ecs.ContainerImage.from_docker_image_asset(self.image.asset),
            cpu=spec.vcpus,
            memory=Size.mebibytes(spec.memory_mib),
            job_role=self.job_role,
            privileged=False,
            command=job_command(spec.job),
            # the job's processes: as many as its vCPUs (bioims.runtime.aws.container_cpus)
            environment={**runtime_environment(settings), "BIOIMS_WORKERS": str(spec.vcpus)},
            logging=ecs.LogDriver.aws_logs(stream_prefix=spec.job, log_group=logs),
        )
        self.definition = batch.EcsJobDefinition(
            self,
            "Definition",
            container=container,
            retry_attempts=spec.attempts,
            timeout=Duration.minutes(spec.timeout_minutes),
            propagate_tags=True,
        )
        acknowledge(
            container.execution_role,  # not the job role: a wildcard there must still fail
            "IAM5[Resource::*]",
            "ecr:GetAuthorizationToken (image pulls) has no resource-level permissions; the pull itself is "
            "limited to the image's repository.",
        )


def job_command(job: str) -> list[str]:
    """`--name Ref::name` for every parameter of the job: Batch substitutes the submitted values."""
    command: list[str] = []
    for name in JOB_PARAMETERS[job]:
        command += [f"--{name}", f"Ref::{name}"]
    return command


def _construct_id(job: str) -> str:
    return "".join(part.capitalize() for part in job.split("-")) + "Job"
