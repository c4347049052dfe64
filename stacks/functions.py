"""The service Lambdas: one function per service, all from the one image built by lambdas/Dockerfile.

Why container images: the services need numpy, scipy, scikit-image, FAISS and pydantic's compiled
core, which a zip asset could only carry by installing Linux wheels during synthesis (network, and
Docker or pip platform tricks). An image asset is only staged at synthesis (offline, fast) and
built by `cdk deploy`, which needs Docker anyway for the Batch and search-service images. Every
function uses the same image (one build) with its own handler as the command.

A function exists for each service whose implementation (bioims/services/<name>.py, registered in
bioims.services.registry) and handler (lambdas/<name>.py) are both present.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from bioims.services.registry import SERVICE_CLASSES
from stacks.access import SERVICE_NEEDS, needs_of
from stacks.checkov_skips import skip_check
from stacks.environment import runtime_environment
from stacks.grants import DeploymentResources, grant_needs
from stacks.images import REPO_ROOT, RepositoryImage
from stacks.log_groups import log_group
from stacks.settings import DeploymentSettings

LAMBDA_DOCKERFILE = Path("lambdas/Dockerfile")


@dataclass(frozen=True)
class FunctionSize:
    memory_mb: int
    timeout_seconds: int
    # Reserved concurrency of the compute-heavy functions: caps what a burst of workflows (a Map of
    # 20 per plate) can take from the account's pool, so the table services always find room.
    # Step Functions retries a throttled invoke (Lambda.TooManyRequestsException, stacks/asl.py).
    reserved: int | None = None


# Sizes by what a service does: table reads/writes are small; image work and loaders are not.
DEFAULT_SIZE = FunctionSize(512, 60)
FUNCTION_SIZES: dict[str, FunctionSize] = {
    "configuration": FunctionSize(256, 30),
    "label": FunctionSize(256, 30),
    "message": FunctionSize(256, 30),
    "tag": FunctionSize(256, 60),
    "artifact": FunctionSize(256, 60),
    "training-configuration": FunctionSize(256, 60),
    "image-management": FunctionSize(1024, 900, reserved=10),  # a plate upload writes thousands of rows
    "image-artifact": FunctionSize(3008, 300, reserved=40),  # reads an image's channels, writes thumbnails
    "process-plate": FunctionSize(1024, 900, reserved=10),  # an upload creates the plate's rows in-process
    "train": FunctionSize(1024, 900, reserved=5),  # builds the training set of a training
    "embedding": FunctionSize(512, 120),
    "search": FunctionSize(1024, 300, reserved=10),  # stages a plate's embeddings for the search service
}


def handler_module(service: str) -> str:
    return f"lambdas.{service.replace('-', '_')}"


def deployable_services(root: Path = REPO_ROOT) -> list[str]:
    """Services whose implementation and Lambda handler exist under `root`."""
    found = []
    for service, target in SERVICE_CLASSES.items():
        module_path = root / (target.split(":")[0].replace(".", "/") + ".py")
        handler_path = root / (handler_module(service).replace(".", "/") + ".py")
        if module_path.is_file() and handler_path.is_file():
            if service not in SERVICE_NEEDS:
                raise KeyError(f"service {service!r} has no access entry; add it to stacks/access.py")
            found.append(service)
    return found


class ServiceFunction(Construct):
    """One service's Lambda: its image command, size, environment, log group and role."""

    def __init__(
        self,
        scope: Construct,
        service: str,
        image: RepositoryImage,
        settings: DeploymentSettings,
        resources: DeploymentResources,
    ) -> None:
        super().__init__(scope, "".join(p.capitalize() for p in service.split("-")) + "Function")
        size = FUNCTION_SIZES.get(service, DEFAULT_SIZE)
        self.service = service
        logs = log_group(self, "Logs", settings)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{settings.deployment} {service} service function",
        )
        # Its own log group only (instead of the AWS-managed basic execution policy).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[logs.log_group_arn])
        )
        grant_needs(self.role, self, needs_of(service), resources)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=lambda_.DockerImageCode.from_ecr(
                image.asset.repository, tag_or_digest=image.asset.image_tag, cmd=[f"{handler_module(service)}.handler"]
            ),
            description=f"bioims {service} service ({settings.deployment})",
            memory_size=size.memory_mb,
            timeout=Duration.seconds(size.timeout_seconds),
            architecture=lambda_.Architecture.X86_64,
            environment=runtime_environment(settings),
            role=self.role,
            log_group=logs,
            reserved_concurrent_executions=size.reserved,
        )
        self._explain_scanner_findings(size)

    def _explain_scanner_findings(self, size: FunctionSize) -> None:
        """checkov's Lambda findings that do not apply to a synchronously invoked service function."""
        skip_check(
            self.function,
            "CKV_AWS_117",
            "Not in the VPC: the function calls only AWS APIs (DynamoDB, S3, SQS, SSM, Step Functions, Batch) "
            "over TLS with IAM and reaches nothing inside the VPC; docs/deploy.md says where each compute runs.",
        )
        skip_check(
            self.function,
            "CKV_AWS_116",
            "Invoked synchronously (Step Functions tasks and clients wait for the answer and retry); a dead-letter "
            "queue only receives failed asynchronous invocations, of which there are none.",
        )
        skip_check(
            self.function,
            "CKV_AWS_173",
            "The environment holds names only (backend, deployment, region); it is encrypted at rest with the "
            "Lambda service key, and no secret is ever placed in it.",
        )
        if size.reserved is None:
            skip_check(
                self.function,
                "CKV_AWS_115",
                "A light table service (single-item reads and writes); only the compute-heavy functions reserve "
                "concurrency, so that they cannot starve these of the account's pool.",
            )


class ServiceFunctions(Construct):
    """Every deployable service's function, sharing one image."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: DeploymentSettings,
        resources: DeploymentResources,
        *,
        root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.image = RepositoryImage(self, "Image", LAMBDA_DOCKERFILE, root=root)
        self.functions: dict[str, ServiceFunction] = {
            service: ServiceFunction(self, service, self.image, settings, resources)
            for service in deployable_services(root)
        }

    @staticmethod
    def available(root: Path = REPO_ROOT) -> bool:
        return (root / LAMBDA_DOCKERFILE).is_file() and bool(deployable_services(root))
