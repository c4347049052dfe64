"""The AWS runtime: Step Functions executions, SageMaker and Batch descriptions through boto3."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from botocore.exceptions import ClientError

from bioims import resources
from bioims.errors import BadRequest, NotFound
from bioims.ids import new_id
from bioims.runtime.ports import Observer, run_parts, split_parts
from bioims.workflows.definitions import workflow as lookup


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def container_cpus() -> int:
    """The CPUs this process may use: its affinity set, capped by a cgroup v2 CPU quota (a
    container limited to 2 CPUs on a larger host sees every host CPU in its affinity);
    BIOIMS_WORKERS overrides."""
    configured = os.environ.get("BIOIMS_WORKERS", "").strip()
    if configured:
        return max(1, int(configured))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


class AwsRuntime:
    def __init__(self, context):
        self.ctx = context
        self.observer: Observer = Observer()  # executions run in Step Functions: nothing to observe here

    def _client(self, service: str):
        return self.ctx.stores.aws_client(service)

    def start_workflow(self, workflow: str, payload: dict, *, wait: bool = False, on_start=None) -> dict:
        lookup(workflow)  # unknown names fail here, before any call
        arn = self.ctx.settings.resource(resources.state_machine_slot(workflow))
        response = self._client("stepfunctions").start_execution(
            stateMachineArn=arn, name=f"{workflow}-{new_id()}"[:80], input=json.dumps(payload)
        )
        if on_start is not None:
            on_start(response["executionArn"])
        return {"executionArn": response["executionArn"], "startDate": _jsonable(response["startDate"])}

    def describe_execution(self, execution_arn: str) -> dict:
        try:
            response = self._client("stepfunctions").describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ExecutionDoesNotExist":
                raise NotFound(f"execution {execution_arn!r} does not exist") from None
            if code == "InvalidArn":
                raise BadRequest(f"{execution_arn!r} is not an execution ARN") from None
            raise
        return _jsonable(response)

    def describe_training_job(self, name: str) -> dict:
        try:
            return _jsonable(self._client("sagemaker").describe_training_job(TrainingJobName=name))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
                raise NotFound(f"training job {name!r} does not exist") from None
            raise

    def describe_job(self, job_id: str) -> dict:
        jobs = self._client("batch").describe_jobs(jobs=[job_id]).get("jobs", [])
        if not jobs:
            raise NotFound(f"Batch job {job_id!r} does not exist")
        return _jsonable(jobs[0])

    def map_parts(self, function, items):
        """In a Batch container: one part per CPU of the container (container_cpus), each in a
        spawned process with its own context; one part in this process where one CPU (or item)
        is there."""
        if not items:
            return []
        cpus = container_cpus()
        if cpus <= 1 or len(items) <= 1 or multiprocessing.parent_process() is not None:
            return [function(self.ctx, list(items))]
        parts = split_parts(items, cpus)
        with ProcessPoolExecutor(max_workers=len(parts), mp_context=multiprocessing.get_context("spawn")) as pool:
            return run_parts(pool, self.ctx, function, parts)

    def run_training_job(self, request, *, observer=None) -> dict:
        raise RuntimeError("on AWS, training jobs run inside the train state machine (SageMaker)")

    def run_workflow(self, definition, payload: dict, *, observer=None) -> dict:
        raise RuntimeError("on AWS, child workflows run inside their parent's state machine (Step Functions)")
