"""moto in server mode with the compute platforms it lacks: the emulated AWS a deployment runs on.

`emulated_aws()` starts moto's server on 127.0.0.1 in this process (so its backends can be
extended here), deploys the cloud assembly through CloudFormation (emulated_deployment), and makes
the deployed compute run (emulated_containers):
- Lambda invokes (from clients, and from state machines) run the function's handler in its warm
  container;
- a Batch job runs its definition's container; its exit code decides SUCCEEDED or FAILED;
- `sagemaker:createTrainingJob.sync` runs the training image's entry point
  (sfn_emulation.EmulatedSageMaker) over the file system the request names;
- each ECS service with a desired count runs its task's container until the end.
Step Functions executes the deployed state machines in moto's engine (with the request-casing
fixes of sfn_emulation.patch_moto).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from emulated_containers import WORKER, ContainerError, Containers, Images, Platform, python_module
from emulated_deployment import (
    CREDENTIALS,
    REGION,
    Assembly,
    Deployed,
    bootstrap,
    deploy,
    free_port,
    resolve_import_path,
)
from moto_adaptations import EMULATED_MOUNT_NAME
from sfn_emulation import EmulatedSageMaker, patch_moto, patch_sagemaker_sync


@dataclass
class EmulatedAws:
    endpoint: str
    port: int
    deployed: Deployed
    containers: Containers
    sagemaker: EmulatedSageMaker

    def client_environment(self, home: Path) -> dict[str, str]:
        """What a user's shell has: credentials, region, and (here) the emulator's endpoint."""
        return {
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "BIOIMS_HOME": str(home),
        }


def _state_machines_from_templates_execute(monkeypatch) -> None:
    """moto's AWS::StepFunctions::StateMachine always goes to its plain Step Functions backend,
    while with execution switched on the API (and the engine) use the executing one: the
    resource is created in the backend the API serves."""
    from moto.stepfunctions import models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    monkeypatch.setattr(models, "stepfunctions_backends", stepfunctions_parser_backends)


def _functions_from_templates_keep_their_image_config(monkeypatch) -> None:
    """moto's AWS::Lambda::Function passes a fixed list of properties to CreateFunction and leaves
    out `ImageConfig` (and `PackageType`), so every image function would run the image's default
    CMD: they are passed on as CreateFunction receives them."""
    from moto.awslambda.models import ImageConfig, LambdaFunction

    create = LambdaFunction.create_from_cloudformation_json.__func__

    def create_with_image_config(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        function = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json["Properties"]
        function.image_config = ImageConfig(properties.get("ImageConfig", {}))
        function.package_type = properties.get("PackageType", function.package_type)
        return function

    monkeypatch.setattr(LambdaFunction, "create_from_cloudformation_json", classmethod(create_with_image_config))


def _patch_compute(monkeypatch, containers: Containers) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.batch_simple.models import BatchSimpleBackend

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        function = self.get_function(function_name, qualifier)
        event = json.loads(body or b"{}")
        containers.runs.lambda_invokes.append(
            (function.function_name, event.get("method") if isinstance(event, dict) else None)
        )
        try:
            answer = containers.invoke_lambda(function).request({"event": event})
        except ContainerError as exc:
            answer = {"error": {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc)}}
        if "error" in answer:  # what Lambda answers for a function error
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(answer["error"]).encode()
        return json.dumps(answer["result"]).encode()

    def run_job(self, include_start_attempt, job):
        self.backend._jobs[job.job_id] = job
        job.job_started_at = datetime.now()
        job.log_stream_name = job._stream_name
        if include_start_attempt:
            job._start_attempt()
        try:
            code = containers.run_batch_job(job)
        except ContainerError as exc:
            containers.runs.batch_jobs.append((job.job_definition.name, [str(exc)], -1))
            code = -1
        job._mark_stopped(success=code == 0)

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    monkeypatch.setattr(BatchSimpleBackend, "_mark_job_as_finished", run_job)


def _training_launcher(images: Images, platform: Platform):
    def launch(request: dict):
        image = images.image(request["AlgorithmSpecification"]["TrainingImage"])
        argv = image.dockerfile.entrypoint + image.dockerfile.cmd
        module = python_module(argv, "training image")
        env = platform.environment(image, {}, f"training-{request['TrainingJobName']}")
        workdir = platform.workdir(image)
        return [sys.executable, str(WORKER), str(workdir), "main", module, *argv[3:]], workdir, env

    return launch


def _file_systems(deployed: Deployed) -> dict[str, tuple[str, str]]:
    exports = deployed.exports()
    found = {}
    for adapted in deployed.adapted.values():
        for file_system_id, import_path in adapted.file_systems.items():
            uri = urlparse(resolve_import_path(import_path, exports))
            if uri.scheme != "s3" or uri.path.strip("/"):
                raise ValueError(f"{file_system_id} imports {uri.geturl()!r}: the emulation mounts whole buckets only")
            found[file_system_id] = (EMULATED_MOUNT_NAME, uri.netloc)
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _start_services(deployed: Deployed, containers: Containers) -> None:
    ecs = deployed.client("ecs")
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for service in ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []:
            if service.get("desiredCount", 0) < 1:
                continue
            task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
            for definition in task["containerDefinitions"]:
                for mapping in definition.get("portMappings", []):
                    # awsvpc tasks have their own network interface; here they share this machine's
                    if not _port_free(mapping["containerPort"]):
                        raise ContainerError(
                            f"{service['serviceName']}: port {mapping['containerPort']} is taken on this machine"
                        )
                containers.start_service(service["serviceName"], definition)


@contextlib.contextmanager
def emulated_aws(assembly_dir: Path, workdir: Path, monkeypatch) -> Iterator[EmulatedAws]:
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # this process's own boto3 calls (SageMaker emulation)
    monkeypatch.setenv("MOTO_PORT", str(port))  # moto's engine calls Lambda and Batch back here
    # before any resource exists: Lambda and Batch records go to the backends that never use Docker
    monkeypatch.setitem(default_user_config, "lambda", {"use_docker": False})
    monkeypatch.setitem(default_user_config, "batch", {"use_docker": False})
    patch_moto(monkeypatch, {})  # state machines execute; Batch/SFN request casing (sfn_emulation)
    _state_machines_from_templates_execute(monkeypatch)
    _functions_from_templates_keep_their_image_config(monkeypatch)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    containers = None
    try:
        bootstrap(endpoint)
        assembly = Assembly(assembly_dir)
        deployed = deploy(assembly, endpoint)
        images = Images(assembly_dir, assembly.docker_images())
        platform = Platform(endpoint, REGION, workdir, dict(CREDENTIALS))
        containers = Containers(images, platform)
        _patch_compute(monkeypatch, containers)
        sagemaker = EmulatedSageMaker(
            workdir / "sagemaker", _file_systems(deployed), launcher=_training_launcher(images, platform)
        )
        sagemaker.workdir.mkdir(parents=True, exist_ok=True)
        patch_sagemaker_sync(monkeypatch, sagemaker)
        _start_services(deployed, containers)
        yield EmulatedAws(endpoint, port, deployed, containers, sagemaker)
    finally:
        if containers is not None:
            containers.stop()
        server.stop()
