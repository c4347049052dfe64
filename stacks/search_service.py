"""The Fargate search service: one task consuming the search and management queues, with an HTTP
API reachable only inside the VPC under a private Cloud Map name.

No load balancer and no public address: the task sits in private subnets, its security group
admits the API port only from the search clients' security group (`clients`: attach it to whatever
in the VPC calls the API; the stack outputs its id), and clients inside the VPC resolve
`search.<deployment>.bioims.internal`. Deployments stop the old task before starting the new one
(at most one consumer writes index snapshots), and a deployment that fails rolls back.

The web UI runs in the same task on its loopback (`uiPort`, never in a port mapping or a security
group rule) and is reached only through ECS Exec's SSM port forwarding (docs/ui.md); its read
access is the "web-ui" entry of stacks/access.py.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_servicediscovery as discovery
from constructs import Construct

from stacks.access import Needs, needs_of
from stacks.environment import runtime_environment
from stacks.grants import DeploymentResources, grant_needs
from stacks.images import REPO_ROOT, RepositoryImage
from stacks.log_groups import log_group
from stacks.nag import acknowledge
from stacks.queues import MAX_RECEIVE_COUNT
from stacks.settings import DeploymentSettings

SEARCH_DOCKERFILE = Path("search_service/Dockerfile")
SERVICE_NAME = "search"
HEALTH_PROBE = (
    "import os, urllib.request; "
    "urllib.request.urlopen('http://127.0.0.1:' + os.environ['BIOIMS_SEARCH_PORT'] + '/health', timeout=4)"
)


def task_needs() -> Needs:
    """The search service's own access and the web UI's read access: both run in the task."""
    return needs_of("search-service") | needs_of("web-ui")


def namespace_name(settings: DeploymentSettings) -> str:
    return f"{settings.deployment.lower()}.bioims.internal"


def service_url(settings: DeploymentSettings) -> str:
    return f"http://{SERVICE_NAME}.{namespace_name(settings)}:{settings.search_port}"


class SearchService(Construct):
    """ECS cluster, task definition, Fargate service and private DNS name of the search service."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        vpc: ec2.IVpc,
        settings: DeploymentSettings,
        resources: DeploymentResources,
        *,
        dockerfile: Path = SEARCH_DOCKERFILE,
        root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.url = service_url(settings)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"{settings.deployment} search service task",
        )
        grant_needs(self.task_role, self, task_needs(), resources)
        self.task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=settings.search_cpu,
            memory_limit_mib=settings.search_memory_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.image = RepositoryImage(self, "Image", dockerfile, root=root)
        environment = runtime_environment(settings) | {
            "BIOIMS_SEARCH_PORT": str(settings.search_port),
            # mark a search `error` on its last delivery, before the queue moves it to the DLQ
            "BIOIMS_SEARCH_MAX_RECEIVES": str(MAX_RECEIVE_COUNT),
            # the web UI beside the API, on 127.0.0.1 only (search_service/main.py, bioims/ui/server.py)
            "BIOIMS_UI_PORT": str(settings.ui_port),
        }
        self.task.add_container(
            "Search",
            image=ecs.ContainerImage.from_docker_image_asset(self.image.asset),
            environment=environment,
            logging=ecs.LogDriver.aws_logs(stream_prefix="search", log_group=log_group(self, "Logs", settings)),
            port_mappings=[ecs.PortMapping(container_port=settings.search_port, name="http")],
            essential=True,
            # an init process reaps the processes ECS Exec sessions start (AWS's advice for ECS Exec)
            linux_parameters=ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True),
            # ECS ignores the image's HEALTHCHECK: the same probe of /health, declared here, lets ECS
            # replace a task that stops answering.
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", HEALTH_PROBE],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                start_period=Duration.seconds(120),
                retries=3,
            ),
        )
        self.clients = ec2.SecurityGroup(
            self,
            "ClientSecurityGroup",
            vpc=vpc,
            description="Search service clients: members may call the search HTTP API",
            allow_all_outbound=False,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Search service: HTTP API from the search client security group only",
            allow_all_outbound=True,
        )
        self.security_group.connections.allow_from(
            self.clients, ec2.Port.tcp(settings.search_port), "Search HTTP API from its clients"
        )
        self.namespace = discovery.PrivateDnsNamespace(
            self,
            "Namespace",
            name=namespace_name(settings),
            vpc=vpc,
            description=f"{settings.deployment} private names",
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task,
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            assign_public_ip=False,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.security_group],
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            # ECS Exec: the only way in to the web UI (SSM port forwarding); CDK grants the task role
            # the four ssmmessages channel actions the SSM agent in the task needs.
            enable_execute_command=True,
            cloud_map_options=ecs.CloudMapOptions(
                name=SERVICE_NAME, cloud_map_namespace=self.namespace, dns_record_type=discovery.DnsRecordType.A
            ),
        )
        acknowledge(
            self.task,
            "ECS2",
            "The environment holds names only (backend, deployment, region, port), never secrets; the service "
            "reads everything else from SSM at start.",
        )
        acknowledge(
            self.task,
            "IAM5[Resource::*]",
            "ecr:GetAuthorizationToken (image pulls) has no resource-level permissions; the pull itself is "
            "limited to the image's repository.",
        )
        acknowledge(
            self.task_role,
            "IAM5[Resource::*]",
            "ECS Exec (SSM port forwarding to the web UI): the ssmmessages channel actions have no "
            "resource-level permissions; who may open a session is decided by ecs:ExecuteCommand on the caller.",
        )
