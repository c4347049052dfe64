"""Run the synthesised state machines in moto's Step Functions engine.

What is real: the state machine definitions, read from the synthesised templates with their
references resolved to the moto resources created here; the service Lambdas, dispatched in this
process to the real handler modules (lambdas/<service>.py) over moto's DynamoDB, S3 and SQS.

What is patched, and why (moto 5.2 gaps, /work/shared/notes/moto-step-functions.md): moto runs
Lambda code only in Docker, so its invoke is replaced by a dispatch to the handlers (a raised
exception becomes a Lambda function error, as in AWS); moto's Batch and Step Functions service
tasks pass the state machine's parameter names (`JobName`, `StateMachineArn`) to boto3, which
wants `jobName`, `stateMachineArn`, and return boto3's lower-case keys where AWS returns
`ExecutionArn`, `Status`: both are translated at that boundary. Batch jobs succeed at once and
run nothing (their work is tested through the job functions the local runner calls).
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import boto3

from stacks.functions import handler_module

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

    def batch_eval(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        parameters = _lower_first(normalised_parameters, nested=("ContainerOverrides",))
        result = original_batch(self, env, resource_runtime_part, parameters, state_credentials)
        env.stack[-1] = _upper_first(env.stack[-1])
        return result

    monkeypatch.setattr(batch_task.StateTaskServiceBatch, "_eval_service_task", batch_eval)

    original_sfn = sfn_task.StateTaskServiceSfn._eval_service_task

    def sfn_eval(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        result = original_sfn(self, env, resource_runtime_part, _lower_first(normalised_parameters), state_credentials)
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

    def run(self, workflow: str, payload: dict, *, timeout: float = 60.0) -> "Execution":
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
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history
            if "stateEnteredEventDetails" in e
        ]

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


def emulate(synthesis, monkeypatch, *, data_bucket: str) -> EmulatedWorkflows:
    """Create in moto what the Services, Batch and Workflows stacks deploy, with the synthesised
    state machine definitions, and patch moto so they execute."""
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
            FunctionName=name, Runtime="python3.11", Role=role, Handler="x.handler", Code={"ZipFile": b"handled in-process"}
        )["FunctionArn"]
        functions[name] = service
        refs.values[(services_stack, logical_id(construct.function))] = {"Ref": name, "Arn": arn}

    batch = boto3.client("batch", region_name=REGION)
    batch_stack = deployment.batch.stack_name
    environment = batch.create_compute_environment(
        computeEnvironmentName="emulated", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    for label, queue in (("on-demand", deployment.batch.compute.on_demand_queue), ("spot", deployment.batch.compute.spot_queue)):
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
    return EmulatedWorkflows(machines, functions, auxiliary, calls)
