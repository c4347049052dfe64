"""What services and the CLI need from a runtime: workflows, container jobs, training jobs.

Two implementations: `local` (the workflow runner in this process, jobs in worker processes,
training in a subprocess) and `aws` (Step Functions, Batch, SageMaker through boto3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

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
