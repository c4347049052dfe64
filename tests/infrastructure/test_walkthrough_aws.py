"""`bioims walkthrough --backend aws` against moto, as far as moto goes: the synthesised state
machines execute in moto's engine, the service Lambdas are the real handlers, DynamoDB/S3/SQS are
moto's, and every Batch job the state machines submit is run in-process by the job function its
container would run. SageMaker training cannot run in moto, so the walkthrough must stop at the
baseline training with a clear cause, after plates were staged in S3, uploaded, inspected,
validated, thumbnailed, processed into ROIs and the training set was built."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sfn_emulation import emulate

import bioims
from bioims import keys, resources
from bioims.context import Context
from bioims.walkthrough import Reporter, Walkthrough, WalkthroughError, WalkthroughOptions
from bioims.workflows import jobs as workflow_jobs
from tests.support.backends import installed

pytestmark = pytest.mark.aws


class Recorder(Reporter):
    def __init__(self):
        self.finished: list[str] = []

    def step_finished(self, name, seconds, skipped, summary):
        self.finished.append(name)


def _run_batch_jobs_in_process(monkeypatch, ctx) -> list[tuple[str, dict]]:
    """What the Batch containers would do: run the job function for each submitted job."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as batch_task,
    )

    # The job definitions give each container BIOIMS_WORKERS = its vCPUs (1 here; test_resources checks
    # it): as in those containers, the jobs run in this process, where moto's in-process mock lives
    # (a spawned part process would not see it).
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    ran: list[tuple[str, dict]] = []
    one_at_a_time = threading.Lock()
    submit = batch_task.StateTaskServiceBatch._eval_service_task

    def run_then_submit(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        definition = str(normalised_parameters.get("JobDefinition", "")).rsplit("/", 1)[-1].split(":")[0]
        parameters = dict(normalised_parameters.get("Parameters") or {})
        # moto's Batch backend is not thread-safe and the engine runs Map items in threads: one
        # job at a time (its work, then its submission and .sync wait)
        with one_at_a_time:
            if definition in workflow_jobs.JOBS:
                workflow_jobs.run_job(definition, ctx, parameters)
                ran.append((definition, parameters))
            return submit(self, env, resource_runtime_part, normalised_parameters, state_credentials)

    monkeypatch.setattr(batch_task.StateTaskServiceBatch, "_eval_service_task", run_then_submit)
    return ran


def test_walkthrough_on_aws_runs_to_the_sagemaker_training(aws_ctx, assembly, monkeypatch, tmp_path):
    emulated = emulate(assembly, monkeypatch, data_bucket=aws_ctx.settings.resource(resources.DATA_BUCKET))
    machines = {resources.state_machine_slot(w): arn for w, arn in emulated.machines.items()}
    ctx = Context(replace(aws_ctx.settings.with_overrides(**machines), services="inprocess"), aws_ctx.stores)
    ran = _run_batch_jobs_in_process(monkeypatch, ctx)
    options = WalkthroughOptions(
        synthetic_dir=tmp_path / "plates",
        out=tmp_path / "out",
        n_plates=1,
        height=128,
        width=160,
        cell_scale=0.5,
        nsc="none",
        poll_seconds=0.05,
        hyperparameters={"epochs": 1, "minibatches_per_epoch": 4},
    )
    recorder = Recorder()
    with installed(ctx), pytest.raises(WalkthroughError) as stopped:
        Walkthrough(options, recorder, ctx).run()

    assert recorder.finished == ["data", "configure", "embedding", "ingest", "process"]
    # moto's engine has no SageMaker .sync integration: that is where the emulation ends
    assert "baseline training ended FAILED" in str(stopped.value)
    assert "sagemaker:createTrainingJob.sync" in str(stopped.value)
    management = bioims.client("image-management", ctx)
    (plate,) = management.listPlates()
    assert plate["searchReady"] == "VALIDATED" and plate["imageCount"] == 60
    # the images were read from S3, where the walkthrough staged them
    staged = {i.key for i in ctx.stores.resource_bucket.list(options.source_prefix)}
    row = management.getImagesByPlateId(plate["plateId"])[0]
    assert row["bucket"] == ctx.stores.resource_bucket.bucket
    assert {options.source_prefix + c["keysuffix"] for c in row["channelKeys"]} <= staged
    # Batch jobs (flat fields, then one per image) produced ROI files and thumbnails in S3
    assert sorted({job for job, _ in ran}) == ["image-preprocessing", "plate-preprocessing"]
    assert sum(job == "image-preprocessing" for job, _ in ran) == 60
    data = {i.key for i in ctx.stores.data.list("")}
    assert sum(k.endswith(keys.SUFFIX_TRAIN) for k in data) == 60
    assert any(k.endswith("thumbnail-2d.png") for k in data)
    # the train workflow built the training set before SageMaker was needed
    (training,) = bioims.client("training-configuration", ctx).getEmbeddingTrainings("bbbc021")
    assert training["roiCount"] > 0 and training.get("manifestKey") in data
