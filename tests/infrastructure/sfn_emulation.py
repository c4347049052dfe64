"""Run the synthesised state machines in moto's Step Functions engine.

What is real: the state machine definitions, read from the synthesised templates with their
references resolved to the moto resources created here; the service Lambdas, dispatched in this
process to the real handler modules (lambdas/<service>.py) over moto's DynamoDB, S3 and SQS.

What is patched, and why (moto 5.2 gaps, /work/shared/notes/moto-step-functions.md): moto runs
Lambda code only in Docker, so its invoke is replaced by a dispatch to the handlers (a raised
exception becomes a Lambda function error, as in AWS); moto's Batch and Step Functions service
tasks pass the state machine's parameter names (`JobName`, `StateMachineArn`) to boto3, which
wants `jobName`, `stateMachineArn`, and return boto3's lower-case keys where AWS returns
`ExecutionArn`, `Status`: both are translated at that boundary. A child execution started
without a name gets a UUID, as on AWS (moto names it "None", so a second one would collide).
Batch submissions go one at a time (moto's Batch backend is not thread-safe); jobs succeed at
once and run nothing (their work is tested through the job functions the local runner calls).

moto's engine has no `sagemaker:createTrainingJob.sync` at all; `emulate(..., sagemaker_workdir=
...)` adds one (EmulatedSageMaker): the request goes to moto's SageMaker (botocore validates its
shape), then the training image's entry point runs over the Lustre channel the request names, as
SageMaker would run it, and its model lands where SageMaker puts it.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from stacks.functions import handler_module
from stacks.images import REPO_ROOT

REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}


# --- moto gaps -------------------------------------------------------------------------------------
def _lower_first(parameters: dict, *, nested: tuple[str, ...] = ()) -> dict:
    """boto3 names for the top-level keys (and inside the `nested` structures)."""
    out = {}
    for key, value in parameters.items():
        if key in nested and isinstance(value, dict):
            value = {k[:1].lower() + k[1:]: _lower_items(v) for k, v in value.items()}
        out[key[:1].lower() + key[1:]] = value
    return out


def _lower_items(value: Any) -> Any:
    if isinstance(value, list):
        return [_lower_items(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: v for k, v in value.items()}
    return value


def _upper_first(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: item for key, item in value.items()}
    return value


def patch_moto(monkeypatch, functions: dict[str, str]) -> list[dict]:
    """Dispatch Lambda invokes to the real handlers (by function name -> service) and fix the
    Batch / Step Functions service-task key casing. Returns the list of dispatched events."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as batch_task,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_task,
    )

    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    calls: list[dict] = []

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        service = functions[name]
        event = json.loads(body)
        calls.append({"service": service, **event})
        handler = importlib.import_module(handler_module(service)).handler
        try:
            return json.dumps(handler(event, None)).encode()
        except Exception as exc:  # what Lambda does with an unhandled exception
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)

    original_batch = batch_task.StateTaskServiceBatch._eval_service_task
    # moto's Batch backend is not thread-safe and the engine runs Map iterations in threads
    one_submission_at_a_time = threading.Lock()

    def batch_eval(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        parameters = _lower_first(normalised_parameters, nested=("ContainerOverrides",))
        with one_submission_at_a_time:
            result = original_batch(self, env, resource_runtime_part, parameters, state_credentials)
        env.stack[-1] = _upper_first(env.stack[-1])
        return result

    monkeypatch.setattr(batch_task.StateTaskServiceBatch, "_eval_service_task", batch_eval)

    original_batch_resolver = batch_task.StateTaskServiceBatch._build_sync_resolver

    def batch_sync_resolver(self, *args, **kwargs):
        # the .sync poll (describe_jobs) reads the same backend that other Map iterations write
        resolve = original_batch_resolver(self, *args, **kwargs)

        def resolve_alone():
            with one_submission_at_a_time:
                return resolve()

        return resolve_alone

    monkeypatch.setattr(batch_task.StateTaskServiceBatch, "_build_sync_resolver", batch_sync_resolver)

    original_sfn = sfn_task.StateTaskServiceSfn._eval_service_task

    def sfn_eval(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        parameters = _lower_first(normalised_parameters)
        if self.resource.api_action.lower() == "startexecution":
            # AWS names an execution started without a Name by a UUID; moto's engine names it
            # "None", so a second child of the same state machine would already exist.
            parameters.setdefault("name", str(uuid.uuid4()))
        result = original_sfn(self, env, resource_runtime_part, parameters, state_credentials)
        env.stack[-1] = _upper_first(env.stack[-1])
        return result

    def sfn_response(self, response, boto_service_name=None, service_action_name=None):
        if service_action_name == "describe_execution" and isinstance(response, dict):
            upper = _upper_first(response)
            response.clear()
            response.update(upper)

    monkeypatch.setattr(sfn_task.StateTaskServiceSfn, "_eval_service_task", sfn_eval)
    monkeypatch.setattr(sfn_task.StateTaskServiceSfn, "_normalise_response", sfn_response)
    return calls


# --- SageMaker training, emulated ------------------------------------------------------------------
TRAINING_ENTRY = "training.train"  # the training image's ENTRYPOINT (training/Dockerfile)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _s3_location(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


@dataclass
class EmulatedSageMaker:
    """What SageMaker does with one CreateTrainingJob, offline and only from the request: mount the
    FSx for Lustre channel (a copy of the objects under the DirectoryPath, from the bucket the file
    system imports), run the training image's entry point with SageMaker's script-mode variables
    and the job's hyperparameters as `--name value`, upload the model directory as
    `<S3OutputPath>/<job>/output/model.tar.gz` and the checkpoints to the checkpoint URI, and
    record the job's end (Completed, or Failed with the script's reason) in moto."""

    workdir: Path
    file_systems: dict[str, tuple[str, str]]  # file system id -> (mount name, bucket it imports)
    requests: list[dict] = field(default_factory=list)  # every CreateTrainingJob it ran, in order
    # request -> (argv, working directory, base environment) of the training container; default:
    # this interpreter running TRAINING_ENTRY over the repository with this process's environment
    launcher: Callable[[dict], tuple[list[str], Path, dict[str, str]]] | None = None

    def run(self, request: dict) -> None:
        from moto.sagemaker.models import sagemaker_backends

        self.requests.append(request)
        name = request["TrainingJobName"]
        job = sagemaker_backends[ACCOUNT][REGION].training_jobs[name]
        try:
            self._train(name, request)
        except Exception as exc:  # what SageMaker reports for a job that did not finish
            job.training_job_status = job.secondary_status = "Failed"
            job.failure_reason = f"{type(exc).__name__}: {exc}"
        else:
            job.training_job_status = job.secondary_status = "Completed"

    def _channel(self, request: dict, target: Path) -> None:
        (channel,) = request["InputDataConfig"]
        source = channel["DataSource"]["FileSystemDataSource"]
        if source["FileSystemType"] != "FSxLustre" or source["FileSystemId"] not in self.file_systems:
            raise ValueError(f"no such file system: {source['FileSystemType']} {source['FileSystemId']}")
        mount, bucket = self.file_systems[source["FileSystemId"]]
        root = f"/{mount}/"
        if not source["DirectoryPath"].startswith(root):
            raise ValueError(f"DirectoryPath {source['DirectoryPath']!r} is not under the mount {root!r}")
        prefix = source["DirectoryPath"][len(root) :]
        s3 = boto3.client("s3", region_name=REGION)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                path = target / item["Key"][len(prefix) :].lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())

    def _train(self, name: str, request: dict) -> None:
        job_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))
        channel, model, output, checkpoints = (job_dir / d for d in ("channel", "model", "output", "checkpoints"))
        for directory in (channel, model, output, checkpoints):
            directory.mkdir()
        self._channel(request, channel)
        if self.launcher is not None:
            args, cwd, base = self.launcher(request)
        else:
            args, cwd = [sys.executable, "-m", TRAINING_ENTRY], REPO_ROOT
            base = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        env = {
            **base,
            **request.get("Environment", {}),
            "BIOIMS_HOME": str(job_dir / "home"),  # the container's own /tmp
            "SM_CHANNEL_TRAINING": str(channel),
            "SM_MODEL_DIR": str(model),
            "SM_OUTPUT_DIR": str(output),
            "SM_CHECKPOINT_DIR": str(checkpoints),
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_CURRENT_HOST": "algo-1",
            "SM_NUM_GPUS": "0",
            "SM_TRAINING_JOB_NAME": name,
        }
        args = list(args)
        for key, value in sorted(request.get("HyperParameters", {}).items()):
            args += [f"--{key}", value]
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"AlgorithmError: exit code {done.returncode}: {done.stderr.strip()[-2000:]}")
        s3 = boto3.client("s3", region_name=REGION)
        bucket, prefix = _s3_location(request["OutputDataConfig"]["S3OutputPath"])
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            for path in sorted(model.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(model)), recursive=False)
        s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{name}/output/model.tar.gz", Body=archive.getvalue())
        if "CheckpointConfig" in request:
            bucket, prefix = _s3_location(request["CheckpointConfig"]["S3Uri"])
            for path in sorted(p for p in checkpoints.rglob("*") if p.is_file()):
                s3.put_object(
                    Bucket=bucket, Key=f"{prefix.rstrip('/')}/{path.relative_to(checkpoints)}", Body=path.read_bytes()
                )


def patch_sagemaker_sync(monkeypatch, sagemaker: EmulatedSageMaker) -> None:
    """Give moto's engine a `sagemaker:createTrainingJob.sync` integration that creates the job in
    moto's SageMaker, runs it with `sagemaker`, and answers like Step Functions: the job's
    DescribeTrainingJob when it completed, States.TaskFailed with that description when not."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    one_job_at_a_time = threading.Lock()  # one emulated instance: trainings run one after another

    class SageMakerTrainingSync(StateTaskServiceCallback):
        def __init__(self) -> None:
            # the engine needs the callback endpoint that WaitForTaskToken support sets up
            super().__init__(
                supported_integration_patterns={ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}
            )

        def _validate_service_integration_is_supported(self) -> None:
            if (
                self.resource.api_action.lower() != "createtrainingjob"
                or self.resource.condition != ResourceCondition.Sync
            ):
                raise ValueError(f"only sagemaker:createTrainingJob.sync is emulated, not {self.resource.resource_arn}")

        def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
            client = boto3.client("sagemaker", region_name=resource_runtime_part.region)
            response = client.create_training_job(**normalised_parameters)  # botocore validates the request
            response.pop("ResponseMetadata", None)
            env.stack.append(response)

        def _build_sync_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
            env.stack.pop()  # CreateTrainingJob's answer; .sync answers with the finished job
            name = normalised_parameters["TrainingJobName"]
            client = boto3.client("sagemaker", region_name=resource_runtime_part.region)
            with one_job_at_a_time:
                sagemaker.run(normalised_parameters)

            def resolve() -> dict:
                described = _jsonable(client.describe_training_job(TrainingJobName=name))
                if described["TrainingJobStatus"] == "Completed":
                    return described
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(
                            taskFailedEventDetails=TaskFailedEventDetails(
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                                error=StatesErrorNameType.StatesTaskFailed.to_name(),
                                cause=to_json_str(described),
                            )
                        ),
                    )
                )

            return resolve

    original = state_task_factory.state_task_service_for

    def service_for(service_name: str):
        return SageMakerTrainingSync() if service_name == "sagemaker" else original(service_name=service_name)

    monkeypatch.setattr(state_task_factory, "state_task_service_for", service_for)


# --- templates -> definitions ----------------------------------------------------------------------
@dataclass
class References:
    """Values of the synthesised resources inside moto: (stack, logical id) -> {Ref, <attribute>...}."""

    templates: dict[str, dict]
    values: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def export(self, name: str) -> tuple[str, Any]:
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == name:
                    return stack, output["Value"]
        raise KeyError(f"no stack exports {name!r}")

    def resolve(self, node: Any, stack: str) -> Any:
        if isinstance(node, str) or node is None or isinstance(node, (int, float, bool)):
            return node
        if isinstance(node, list):
            return [self.resolve(item, stack) for item in node]
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(str(self.resolve(item, stack)) for item in items)
        if "Ref" in node:
            if node["Ref"] in PSEUDO:
                return PSEUDO[node["Ref"]]
            return self._value(stack, node["Ref"], "Ref")
        if "Fn::GetAtt" in node:
            logical_id, attribute = node["Fn::GetAtt"]
            return self._value(stack, logical_id, attribute)
        if "Fn::ImportValue" in node:
            producer, value = self.export(node["Fn::ImportValue"])
            return self.resolve(value, producer)
        if "Fn::Sub" in node:
            text = node["Fn::Sub"]
            for name, value in PSEUDO.items():
                text = text.replace("${" + name + "}", value)
            if "${" in text:
                raise KeyError(f"unresolved Fn::Sub {text!r}")
            return text
        return {key: self.resolve(value, stack) for key, value in node.items()}

    def _value(self, stack: str, logical_id: str, attribute: str) -> str:
        try:
            return self.values[(stack, logical_id)][attribute]
        except KeyError:
            raise KeyError(f"{stack}/{logical_id}.{attribute} has no moto counterpart in this test") from None


def logical_id(construct) -> str:
    from aws_cdk import Stack

    child = construct.node.default_child
    return Stack.of(child).resolve(child.logical_id)


# --- the emulated deployment -----------------------------------------------------------------------
@dataclass
class EmulatedWorkflows:
    machines: dict[str, str]  # workflow -> state machine ARN in moto
    functions: dict[str, str]  # function name -> service
    auxiliary: dict[str, set[str]]  # workflow -> state names that are not steps
    calls: list[dict]
    sagemaker: EmulatedSageMaker | None = None

    def run(self, workflow: str, payload: dict, *, timeout: float = 60.0) -> Execution:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.start_execution(stateMachineArn=self.machines[workflow], input=json.dumps(payload))["executionArn"]
        return wait(arn, self.auxiliary[workflow], timeout=timeout)


@dataclass
class Execution:
    arn: str
    description: dict
    history: list[dict]
    auxiliary: set[str]

    @property
    def status(self) -> str:
        return self.description["status"]

    @property
    def output(self) -> dict:
        return json.loads(self.description["output"])

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]

    def steps(self) -> list[str]:
        """Workflow steps in the order they first ran (auxiliary states left out)."""
        return first_occurrences(n for n in self.states_entered() if n not in self.auxiliary)


def first_occurrences(names) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


def wait(execution_arn: str, auxiliary: set[str], *, timeout: float = 60.0) -> Execution:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout} s")
        time.sleep(0.05)
    history = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        history.extend(page["events"])
    return Execution(execution_arn, description, history, auxiliary)


# What training steps name: values SageMaker would get (moto cannot run createTrainingJob.sync).
FILE_SYSTEM = {"Ref": "fs-0123456789abcdef0", "LustreMountName": "emulated"}
SUBNET = {"Ref": "subnet-0123456789abcdef0"}
SECURITY_GROUP = {"GroupId": "sg-0123456789abcdef0"}


def emulate(synthesis, monkeypatch, *, data_bucket: str, sagemaker_workdir: Path | None = None) -> EmulatedWorkflows:
    """Create in moto what the Services, Batch and Workflows stacks deploy, with the synthesised
    state machine definitions, and patch moto so they execute. With `sagemaker_workdir`, training
    steps run too (EmulatedSageMaker, working there); without, they fail as moto has no such step."""
    deployment = synthesis.deployment
    settings = deployment.settings
    refs = References(synthesis.templates)
    functions: dict[str, str] = {}
    # First: with execution switched on, moto keeps state machines in its engine's own backend.
    calls = patch_moto(monkeypatch, functions)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="emulated-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    lam = boto3.client("lambda", region_name=REGION)
    services_stack = deployment.services.stack_name
    for service, construct in deployment.services.functions.functions.items():
        name = f"{settings.deployment}-{service}"
        arn = lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role,
            Handler="x.handler",
            Code={"ZipFile": b"handled in-process"},
        )["FunctionArn"]
        functions[name] = service
        refs.values[(services_stack, logical_id(construct.function))] = {"Ref": name, "Arn": arn}

    batch = boto3.client("batch", region_name=REGION)
    batch_stack = deployment.batch.stack_name
    environment = batch.create_compute_environment(
        computeEnvironmentName="emulated", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    for label, queue in (
        ("on-demand", deployment.batch.compute.on_demand_queue),
        ("spot", deployment.batch.compute.spot_queue),
    ):
        arn = batch.create_job_queue(
            jobQueueName=f"emulated-{label}",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )["jobQueueArn"]
        refs.values[(batch_stack, logical_id(queue))] = {"Ref": arn, "JobQueueArn": arn}
    for job, definition in deployment.batch.jobs.items():
        arn = batch.register_job_definition(
            jobDefinitionName=job,
            type="container",
            containerProperties={"image": "emulated", "vcpus": 1, "memory": 512, "command": ["true"]},
        )["jobDefinitionArn"]
        refs.values[(batch_stack, logical_id(definition.definition))] = {"Ref": arn}

    if deployment.training is not None:
        training = deployment.training.training
        training_role = iam.create_role(RoleName="emulated-sagemaker", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        refs.values[(deployment.training.stack_name, logical_id(training.execution.role))] = {"Arn": training_role}
        refs.values[(deployment.training.stack_name, logical_id(training.lustre.file_system))] = FILE_SYSTEM
        refs.values[(deployment.training.stack_name, logical_id(training.security_group))] = SECURITY_GROUP
    refs.values[(deployment.network.stack_name, logical_id(deployment.network.training_subnet))] = SUBNET
    refs.values[(deployment.storage.stack_name, logical_id(deployment.storage.buckets.data))] = {"Ref": data_bucket}
    sagemaker = None
    if sagemaker_workdir is not None:
        sagemaker = EmulatedSageMaker(
            sagemaker_workdir, {FILE_SYSTEM["Ref"]: (FILE_SYSTEM["LustreMountName"], data_bucket)}
        )
        patch_sagemaker_sync(monkeypatch, sagemaker)

    sfn = boto3.client("stepfunctions", region_name=REGION)
    machines: dict[str, str] = {}
    auxiliary: dict[str, set[str]] = {}
    workflows_stack = deployment.workflows.stack_name
    template = synthesis.templates[workflows_stack]
    for workflow in deployment.planned_workflows:  # children first
        construct = deployment.workflows.machines[workflow]
        resource = template["Resources"][logical_id(construct.state_machine)]
        definition = refs.resolve(resource["Properties"]["DefinitionString"], workflows_stack)
        arn = sfn.create_state_machine(
            name=resource["Properties"]["StateMachineName"], definition=definition, roleArn=role
        )["stateMachineArn"]
        refs.values[(workflows_stack, logical_id(construct.state_machine))] = {"Ref": arn, "Arn": arn}
        machines[workflow] = arn
        auxiliary[workflow] = set(construct.translation.auxiliary)
    return EmulatedWorkflows(machines, functions, auxiliary, calls, sagemaker)
