"""What services and the CLI need from a runtime: workflows, container jobs, training jobs.

Two implementations: `local` (the workflow runner in this process, jobs in worker processes,
training in a subprocess) and `aws` (Step Functions, Batch, SageMaker through boto3).
"""

from __future__ import annotations

import concurrent.futures as futures
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the port names the workflow type only in annotations: workflows sit above it
    from bioims.workflows.dsl import Workflow


class TrainingJobRequest(BaseModel):
    """A training job, described once for both backends (SageMaker CreateTrainingJob fields)."""

    model_config = ConfigDict(extra="forbid")

    trainingJobName: str = Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
    trainId: str
    # Passed to the script as --name value (SageMaker hyperparameters are strings).
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    # The script run as `python -m <entryModule>` locally: the script-mode main that the training
    # image's entry (training/train.py) runs on AWS, from the installed package, so an installed
    # copy trains without the repository's deployment folders.
    entryModule: str = "bioims.learning.scriptmode"
    # Data bucket prefix the script reads (SM_CHANNEL_TRAINING is the bucket root view).
    channelPrefix: str = ""
    # Data bucket keys where the model and checkpoints go.
    modelPrefix: str
    checkpointPrefix: str
    instanceType: str = "ml.g4dn.xlarge"
    useSpot: bool = False
    maxRuntimeSeconds: int = 24 * 3600


T = TypeVar("T")
R = TypeVar("R")


class WorkerDied(RuntimeError):
    """A worker process running a part of a job died (killed, out of memory): the job fails."""


def split_parts(items: Sequence[T], parts: int) -> list[list[T]]:
    """`items` as at most `parts` contiguous runs of near-equal length, in their order (none for
    no items)."""
    count = max(1, min(parts, len(items)))
    bounds = [len(items) * i // count for i in range(count + 1)]
    return [list(items[bounds[i] : bounds[i + 1]]) for i in range(count) if bounds[i] < bounds[i + 1]]


_worker_contexts: dict[str, Any] = {}
_WORKER_CONTEXTS = 4


def worker_context(context_class: Any, settings: Any) -> Any:
    """The context a worker process uses for `settings`, built once (stores reopened) and reused
    by every task the worker runs. The parent passes its Context class (pickled by reference), so
    nothing here imports the composition root above it."""
    key = repr(settings)
    context = _worker_contexts.pop(key, None)
    if context is None:
        context = context_class.from_settings(settings)
    _worker_contexts[key] = context  # most recent last; a long-lived worker keeps a few
    while len(_worker_contexts) > _WORKER_CONTEXTS:
        _worker_contexts.pop(next(iter(_worker_contexts)))
    return context


def _part_in_worker(context_class: Any, settings: Any, function: Callable[[Any, list[T]], R], part: list[T]) -> R:
    return function(worker_context(context_class, settings), part)


def run_parts(
    executor: futures.Executor, context: Any, function: Callable[[Any, list[T]], R], parts: list[list[T]]
) -> list[R]:
    """`function(worker context, part)` for every part on `executor`'s processes; the results in
    the parts' order. The first failed part's error is raised once every part has ended (no part
    is left running behind the caller); a dead worker raises WorkerDied."""
    submitted = [executor.submit(_part_in_worker, type(context), context.settings, function, p) for p in parts]
    futures.wait(submitted)
    results: list[R] = []
    for index, future in enumerate(submitted):
        try:
            results.append(future.result())
        except futures.BrokenExecutor as exc:
            name = getattr(getattr(function, "func", function), "__qualname__", "a job's part")
            raise WorkerDied(
                f"a worker process died while running {name} on part {index + 1} of {len(parts)} "
                f"({type(exc).__name__}); the job stopped before using any part's result: run it again"
            ) from None
    return results


class Observer:
    """Progress callbacks of a running workflow; the CLI renders them, tests record them."""

    def workflow_started(self, execution_arn: str, workflow: str, payload: dict) -> None: ...

    def workflow_finished(self, execution_arn: str, workflow: str, status: str, error: str | None) -> None: ...

    def step_started(self, workflow: str, step: str) -> None: ...

    def step_finished(self, workflow: str, step: str) -> None: ...

    def map_progress(self, workflow: str, step: str, done: int, total: int, failed: int) -> None: ...

    def log(self, message: str) -> None: ...


class Runtime(Protocol):
    """Everything services, the workflow runner and the CLI call on a runtime. The runner (local
    backend only) also runs training jobs and child workflows through it; the AWS adapter answers
    those two with an error, since Step Functions runs them there."""

    observer: Observer

    def start_workflow(
        self, workflow: str, payload: dict, *, wait: bool = False, on_start: Callable[[str], None] | None = None
    ) -> dict:
        """Start an execution; returns {executionArn, startDate} (and status/output if waited).
        `on_start(executionArn)` runs once the execution exists."""
        ...

    def run_workflow(self, definition: Workflow, payload: dict, *, observer: Observer | None = None) -> dict:
        """Run a child workflow to its end in this process; returns its execution description."""
        ...

    def run_training_job(self, request: TrainingJobRequest, *, observer: Observer | None = None) -> dict:
        """Run a training job to its end; returns its SageMaker-shaped description."""
        ...

    def describe_execution(self, execution_arn: str) -> dict:
        """{executionArn, status: RUNNING|SUCCEEDED|FAILED|TIMED_OUT|ABORTED, input, output?, error?, cause?}"""
        ...

    def describe_training_job(self, name: str) -> dict:
        """SageMaker-shaped: {TrainingJobName, TrainingJobStatus, FailureReason?, ModelArtifacts?...}"""
        ...

    def describe_job(self, job_id: str) -> dict: ...

    def map_parts(self, function: Callable[[Any, list[T]], R], items: Sequence[T]) -> list[R]:
        """`function(context, part)` over `items` split into contiguous parts, one per process
        this runtime may use (the local worker processes; the Batch container's CPUs), with the
        results in the parts' order; one part run in this process where only one CPU (or item)
        is there. `function` must be a module-level function (it is pickled by reference) whose
        parts are independent; a failed part raises its error, a dead worker WorkerDied."""
        ...
