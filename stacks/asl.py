"""Translate a `bioims.workflows` definition into Amazon States Language (pure data, no CDK).

The same `Workflow` objects the local runner executes become state machines here, so both run
the same steps in the same order over the same state:

* the execution state is the workflow input; a step with `result` stores its value at
  `$.<result>` (ResultPath), other results are discarded (ResultPath null), as in the runner;
* `Invoke` is a Lambda task on the service's function with `{"method", <params>}` and the
  workflow flag, whose answer is the response body (the handler raises on an error status);
* `Map` gives each iteration `{item: <element>, <parent fields the iterator reads>}`;
* `BatchJob` is `batch:submitJob.sync` with the job's parameters (the job definition's command
  passes them to the entry point), `TrainingJob` is the request Invoke followed by
  `sagemaker:createTrainingJob.sync`, `StartWorkflow` is `states:startExecution.sync:2`;
* every task retries throttling and transient service errors, and catches everything else into
  a Fail state (error `StepFailed`, cause `<step>: <error>: <cause>`): a failed job ends the
  execution as FAILED with its cause (docs/original.md §8.2 #11). A `Fail` step keeps its own error.

Auxiliary states (the step-failure Pass states, Fail/Succeed ends, the spot/on-demand choice of a
training job) are listed in `Translation.auxiliary` so a trace maps back to workflow steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bioims.workflows.dsl import (
    WORKFLOW_FLAG,
    BatchJob,
    Choice,
    Fail,
    Invoke,
    Item,
    Map,
    Ref,
    StartWorkflow,
    TrainingJob,
    Workflow,
    referenced_fields,
    walk_names,
)
from bioims.workflows.jobs import JOB_PARAMETERS

ITEM_FIELD = "item"
STEP_FAILED = "StepFailed"
FAILURE_FIELD = "failure"
TRAINING_REQUEST_FIELD = "trainingJobRequest"
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
MAX_STATE_NAME = 80

LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "ServiceThrottled",  # the service answered 503 (bioims.services.entry)
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
BATCH_RETRY = {
    "ErrorEquals": ["Batch.AWSBatchException", "Batch.ServerException", "Batch.TooManyRequestsException"],
    "IntervalSeconds": 5,
    "MaxAttempts": 6,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
SAGEMAKER_RETRY = {
    # Step Functions reports SageMaker throttling and transient API failures as
    # SageMaker.AmazonSageMakerException (or a bare ThrottlingException), not by the API's own code.
    "ErrorEquals": [
        "ThrottlingException",
        "SageMaker.AmazonSageMakerException",
        "SageMaker.ThrottlingException",
        "SageMaker.InternalFailure",
    ],
    "IntervalSeconds": 5,
    "MaxAttempts": 6,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
# No instance of the requested type free in the account's quota: wait for one (up to ~8 h).
SAGEMAKER_CAPACITY_RETRY = {
    "ErrorEquals": ["SageMaker.ResourceLimitExceededException"],
    "IntervalSeconds": 60,
    "MaxAttempts": 9,
    "BackoffRate": 2,
}
SFN_RETRY = {
    "ErrorEquals": [
        "StepFunctions.ExecutionLimitExceededException",
        "StepFunctions.SdkClientException",
        "StepFunctions.AWSStepFunctionsException",
    ],
    "IntervalSeconds": 5,
    "MaxAttempts": 6,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}


class TranslationError(ValueError):
    """The workflow uses something this deployment cannot run (a missing function, job, ...)."""


@dataclass(frozen=True)
class TrainingBindings:
    """Where SageMaker training runs: what the train state machine puts in CreateTrainingJob."""

    role_arn: str
    image_uri: str
    file_system_id: str
    mount_name: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    data_bucket: str
    environment: Mapping[str, str]
    tags: Mapping[str, str]
    volume_gib: int = 50
    spot_wait_extra_seconds: int = 24 * 3600


@dataclass(frozen=True)
class Bindings:
    """The deployed resources a definition points at (ARNs, or CDK tokens inside the app)."""

    functions: Mapping[str, str] = field(default_factory=dict)  # service -> Lambda function ARN
    job_definitions: Mapping[str, str] = field(default_factory=dict)  # job -> job definition ARN
    job_queues: Mapping[str, str] = field(default_factory=dict)  # "on-demand" | "spot" -> queue ARN
    state_machines: Mapping[str, str] = field(default_factory=dict)  # workflow -> state machine ARN
    training: TrainingBindings | None = None


@dataclass
class Translation:
    definition: dict
    auxiliary: set[str]  # state names that are not workflow steps
    services: set[str]
    jobs: set[str]
    children: set[str]
    trains: bool


def _escape(text: str) -> str:
    """A literal inside an intrinsic function's single-quoted string."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("{", "\\{").replace("}", "\\}")


def _path(value: Ref | Item) -> str:
    if isinstance(value, Item):
        return f"$.{ITEM_FIELD}" if value.path == "$" else f"$.{ITEM_FIELD}{value.path[1:]}"
    return value.path


def _parameters(params: Mapping[str, Any], *, as_strings: bool = False) -> dict:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, (Ref, Item)):
            out[f"{key}.$"] = f"States.Format('{{}}', {_path(value)})" if as_strings else _path(value)
        elif isinstance(value, dict):
            out[key] = _parameters(value, as_strings=as_strings)
        elif isinstance(value, (list, tuple)):
            if any(isinstance(v, (Ref, Item)) for v in value):
                raise TranslationError(f"parameter {key!r}: references inside lists are not supported")
            out[key] = list(value)
        else:
            out[key] = str(value) if as_strings and value is not None else value
    return out


def _result_path(result: str | None) -> str | None:
    return f"$.{result}" if result else None


class _Scope:
    """The states of one state list (the workflow, or a Map's item processor)."""

    def __init__(self, translator: _Translator, label: str) -> None:
        self.t = translator
        self.label = label
        self.states: dict[str, dict] = {}

    @property
    def fail(self) -> str:
        """This scope's Fail state (created on first use: every state must be reachable). Its
        error is always STEP_FAILED (a Fail state may not re-raise the reserved `States.*` names);
        the cause reads `<step>: <error>: <cause>`, like the local runner's StepFailed."""
        name = f"{self.label} Failed"
        if name not in self.states:
            self.add(self.t.aux(name), {"Type": "Fail", "Error": STEP_FAILED, "CausePath": "$.Cause"})
        return name

    @property
    def done(self) -> str:
        name = f"{self.label} Succeeded"
        if name not in self.states:
            self.add(self.t.aux(name), {"Type": "Succeed"})
        return name

    def add(self, name: str, state: dict) -> str:
        if name in self.t.names:
            raise TranslationError(f"state name {name!r} is used twice in workflow {self.t.workflow.name}")
        if len(name) > MAX_STATE_NAME:
            raise TranslationError(f"state name {name!r} is longer than {MAX_STATE_NAME} characters")
        self.t.names.add(name)
        self.states[name] = state
        return name

    def catch(self, step_name: str, *, prefix: bool = True) -> list[dict]:
        """Catch everything into a Pass that shapes {Error, Cause} for this scope's Fail state."""
        handler = self.t.aux(f"{step_name} Failed")
        fail = self.fail
        cause = (
            f"States.Format('{{}}: {{}}: {{}}', '{_escape(step_name)}', $.{FAILURE_FIELD}.Error, "
            f"$.{FAILURE_FIELD}.Cause)"
            if prefix
            else f"$.{FAILURE_FIELD}.Cause"  # a Map: its failed iteration already named the step
        )
        self.add(handler, {"Type": "Pass", "Parameters": {"Cause.$": cause}, "Next": fail})
        return [{"ErrorEquals": ["States.ALL"], "ResultPath": f"$.{FAILURE_FIELD}", "Next": handler}]

    def sequence(self, steps, next_state: str) -> str:
        for step in reversed(steps):
            next_state = self.step(step, next_state)
        return next_state

    # --- one step ---------------------------------------------------------------------------------
    def step(self, step, next_state: str) -> str:
        if isinstance(step, Invoke):
            return self.invoke(step, next_state, step.result)
        if isinstance(step, BatchJob):
            return self.batch(step, next_state)
        if isinstance(step, TrainingJob):
            return self.training(step, next_state)
        if isinstance(step, StartWorkflow):
            return self.start_workflow(step, next_state)
        if isinstance(step, Choice):
            return self.choice(step, next_state)
        if isinstance(step, Fail):
            return self.add(step.name, {"Type": "Fail", "Error": step.error, "Cause": step.cause})
        if isinstance(step, Map):
            return self.map(step, next_state)
        raise TranslationError(f"unknown step type {type(step).__name__}")

    def _task(
        self,
        name: str,
        resource: str,
        parameters: dict,
        result: str | None,
        retry: list[dict],
        next_state: str,
        **extra,
    ) -> str:
        state = {
            "Type": "Task",
            "Resource": resource,
            "Parameters": parameters,
            "ResultPath": _result_path(result),
            **extra,
            "Retry": retry,
            "Catch": self.catch(name),
            "Next": next_state,
        }
        return self.add(name, state)

    def invoke(self, step: Invoke, next_state: str, result: str | None) -> str:
        function = self.t.bindings.functions.get(step.service)
        if function is None:
            raise TranslationError(f"step {step.name!r}: service {step.service!r} has no function in this deployment")
        self.t.services.add(step.service)
        parameters = {"method": step.method, WORKFLOW_FLAG: True, **_parameters(step.params)}
        return self._task(step.name, function, parameters, result, [LAMBDA_RETRY], next_state)

    def batch(self, step: BatchJob, next_state: str) -> str:
        definition = self.t.bindings.job_definitions.get(step.job)
        queue = self.t.bindings.job_queues.get(step.queue)
        if definition is None:
            raise TranslationError(f"step {step.name!r}: job {step.job!r} has no job definition in this deployment")
        if queue is None:
            raise TranslationError(f"step {step.name!r}: no {step.queue} job queue in this deployment")
        expected = set(JOB_PARAMETERS[step.job])
        if set(step.params) != expected:
            raise TranslationError(
                f"step {step.name!r}: job {step.job} takes {sorted(expected)}, not {sorted(step.params)}"
            )
        self.t.jobs.add(step.job)
        parameters = {
            "JobName": step.job,
            "JobDefinition": definition,
            "JobQueue": queue,
            "Parameters": _parameters(step.params, as_strings=True),
        }
        extra = {}
        if step.result:
            extra["ResultSelector"] = {"jobId.$": "$.JobId", "jobName.$": "$.JobName", "status.$": "$.Status"}
        return self._task(
            step.name,
            "arn:aws:states:::batch:submitJob.sync",
            parameters,
            step.result,
            [BATCH_RETRY],
            next_state,
            **extra,
        )

    def training(self, step: TrainingJob, next_state: str) -> str:
        binding = self.t.bindings.training
        if binding is None:
            raise TranslationError(f"step {step.name!r}: this deployment has no training image or SageMaker role")
        self.t.trains = True
        request = f"$.{TRAINING_REQUEST_FIELD}"
        common = {
            "TrainingJobName.$": f"{request}.trainingJobName",
            "RoleArn": binding.role_arn,
            "AlgorithmSpecification": {"TrainingImage": binding.image_uri, "TrainingInputMode": "File"},
            "HyperParameters.$": f"{request}.hyperparameters",
            "InputDataConfig": [
                {
                    "ChannelName": "training",
                    "DataSource": {
                        "FileSystemDataSource": {
                            "FileSystemId": binding.file_system_id,
                            "FileSystemType": "FSxLustre",
                            "FileSystemAccessMode": "ro",
                            "DirectoryPath.$": f"States.Format('/{binding.mount_name}/{{}}', {request}.channelPrefix)",
                        }
                    },
                }
            ],
            "OutputDataConfig": {
                "S3OutputPath.$": f"States.Format('s3://{binding.data_bucket}/{{}}', {request}.modelPrefix)"
            },
            "CheckpointConfig": {
                "S3Uri.$": f"States.Format('s3://{binding.data_bucket}/{{}}', {request}.checkpointPrefix)"
            },
            "ResourceConfig": {
                "InstanceCount": 1,
                "InstanceType.$": f"{request}.instanceType",
                "VolumeSizeInGB": binding.volume_gib,
            },
            "VpcConfig": {"SecurityGroupIds": [binding.security_group_id], "Subnets": list(binding.subnet_ids)},
            "Environment": dict(binding.environment),
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(binding.tags.items())],
        }
        on_demand = {**common, "StoppingCondition": {"MaxRuntimeInSeconds.$": f"{request}.maxRuntimeSeconds"}}
        spot = {
            **common,
            "EnableManagedSpotTraining": True,
            "StoppingCondition": {
                "MaxRuntimeInSeconds.$": f"{request}.maxRuntimeSeconds",
                "MaxWaitTimeInSeconds.$": f"States.MathAdd({request}.maxRuntimeSeconds, "
                f"{binding.spot_wait_extra_seconds})",
            },
        }
        selector = {
            "TrainingJobName.$": "$.TrainingJobName",
            "TrainingJobStatus.$": "$.TrainingJobStatus",
            "ModelArtifacts.$": "$.ModelArtifacts",
        }
        resource = "arn:aws:states:::sagemaker:createTrainingJob.sync"
        retry = [SAGEMAKER_RETRY, SAGEMAKER_CAPACITY_RETRY]
        job = self.t.aux(f"{step.name} On Demand")
        spot_job = self.t.aux(f"{step.name} On Spot")
        for name, parameters in ((job, on_demand), (spot_job, spot)):
            state = {
                "Type": "Task",
                "Resource": resource,
                "Parameters": parameters,
                "ResultSelector": selector,
                "ResultPath": _result_path(step.result),
                "Retry": retry,
                "Catch": self.catch(step.name if name == job else name),
                "Next": next_state,
            }
            self.add(name, state)
        which = self.add(
            self.t.aux(f"{step.name} Spot?"),
            {
                "Type": "Choice",
                "Choices": [{"Variable": f"{request}.useSpot", "BooleanEquals": True, "Next": spot_job}],
                "Default": job,
            },
        )
        request_state = self.invoke(step.request, which, TRAINING_REQUEST_FIELD)
        # A marker state with the step's own name starts the step, as the runner records it.
        return self.add(step.name, {"Type": "Pass", "Next": request_state})

    def start_workflow(self, step: StartWorkflow, next_state: str) -> str:
        machine = self.t.bindings.state_machines.get(step.workflow)
        if machine is None:
            raise TranslationError(f"step {step.name!r}: workflow {step.workflow!r} is not deployed")
        self.t.children.add(step.workflow)
        parameters = {
            "StateMachineArn": machine,
            "Input": {**_parameters(step.input), f"{STARTED_BY}.$": "$$.Execution.Id"},
        }
        return self._task(
            step.name,
            "arn:aws:states:::states:startExecution.sync:2",
            parameters,
            step.result,
            [SFN_RETRY],
            next_state,
            ResultSelector={"executionArn.$": "$.ExecutionArn", "status.$": "$.Status"},
        )

    def choice(self, step: Choice, next_state: str) -> str:
        then_start = self.sequence(step.then, next_state)
        otherwise_start = self.sequence(step.otherwise, next_state)
        if isinstance(step.equals, bool):
            operator = "BooleanEquals"
        elif isinstance(step.equals, (int, float)):
            operator = "NumericEquals"
        else:
            operator = "StringEquals"
        rule = {"Variable": step.path.path, operator: step.equals, "Next": then_start}
        return self.add(step.name, {"Type": "Choice", "Choices": [rule], "Default": otherwise_start})

    def map(self, step: Map, next_state: str) -> str:
        inner = _Scope(self.t, f"{step.name} Item")
        if step.result:
            last = step.iterator[-1] if step.iterator else None
            if last is None or not getattr(last, "result", None):
                raise TranslationError(f"map {step.name!r} keeps its result: its last step must keep one too")
            end = inner.add(
                self.t.aux(f"{step.name} Item Result"), {"Type": "Pass", "OutputPath": f"$.{last.result}", "End": True}
            )
        else:
            end = inner.done
        start = inner.sequence(step.iterator, end)
        fields = sorted(referenced_fields(step.iterator) - {ITEM_FIELD})
        selector = {f"{ITEM_FIELD}.$": "$$.Map.Item.Value", **{f"{f}.$": f"$.{f}" for f in fields}}
        state = {
            "Type": "Map",
            "ItemsPath": step.items.path,
            "ItemSelector": selector,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": start,
                "States": _in_execution_order(inner.states, start),
            },
            "MaxConcurrency": step.max_concurrency,
            "ResultPath": _result_path(step.result),
            "Catch": self.catch(step.name, prefix=False),
            "Next": next_state,
        }
        return self.add(step.name, state)


def _in_execution_order(states: dict[str, dict], start: str) -> dict[str, dict]:
    """The states listed in the order an execution meets them (built backwards, read forwards)."""
    order: list[str] = []
    pending = [start]
    while pending:
        name = pending.pop(0)
        if name in order or name not in states:
            continue
        order.append(name)
        state = states[name]
        pending += [c["Next"] for c in state.get("Choices", [])]
        pending += [n for n in (state.get("Next"), state.get("Default")) if n]
        pending += [c["Next"] for c in state.get("Catch", [])]
    order += [name for name in states if name not in order]
    return {name: states[name] for name in order}


class _Translator:
    def __init__(self, workflow: Workflow, bindings: Bindings) -> None:
        self.workflow = workflow
        self.bindings = bindings
        self.names: set[str] = set()
        self.auxiliary: set[str] = set()
        self.services: set[str] = set()
        self.jobs: set[str] = set()
        self.children: set[str] = set()
        self.trains = False

    def aux(self, name: str) -> str:
        self.auxiliary.add(name)
        return name

    def translate(self) -> Translation:
        steps = walk_names(self.workflow.steps)
        duplicates = {n for n in steps if steps.count(n) > 1}
        if duplicates:
            raise TranslationError(f"workflow {self.workflow.name}: step names used twice: {sorted(duplicates)}")
        top = _Scope(self, self.workflow.name)
        start = top.sequence(self.workflow.steps, top.done)
        definition = {
            "Comment": f"bioims workflow {self.workflow.name}: {self.workflow.description}",
            "StartAt": start,
            "States": _in_execution_order(top.states, start),
            "TimeoutSeconds": self.workflow.timeout_minutes * 60,
        }
        return Translation(definition, self.auxiliary, self.services, self.jobs, self.children, self.trains)


def translate(workflow: Workflow, bindings: Bindings) -> Translation:
    """The ASL definition of `workflow` over `bindings`; raises TranslationError when the
    deployment lacks something the workflow uses."""
    return _Translator(workflow, bindings).translate()


def requirements(workflow: Workflow) -> dict[str, set[str]]:
    """What a workflow needs deployed: services, jobs, child workflows, training (without ARNs)."""
    found: dict[str, set[str]] = {"services": set(), "jobs": set(), "workflows": set(), "training": set()}

    def visit(steps) -> None:
        for step in steps:
            if isinstance(step, Invoke):
                found["services"].add(step.service)
            elif isinstance(step, BatchJob):
                found["jobs"].add(step.job)
            elif isinstance(step, TrainingJob):
                found["services"].add(step.request.service)
                found["training"].add(step.name)
            elif isinstance(step, StartWorkflow):
                found["workflows"].add(step.workflow)
            elif isinstance(step, Choice):
                visit(step.then)
                visit(step.otherwise)
            elif isinstance(step, Map):
                visit(step.iterator)

    visit(workflow.steps)
    return found
