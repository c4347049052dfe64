"""Every deployed state machine, as synthesised, executed by moto's Step Functions engine with the
service Lambdas dispatched in-process to the real handlers; each is compared with the local
runner executing the same workflow definition on the same data (same steps, same order, same
final state), and failures end the execution as FAILED with the failing step in the cause."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import boto3
import numpy as np
import pytest
from sfn_emulation import FILE_SYSTEM, REGION, SECURITY_GROUP, SUBNET, emulate, first_occurrences, wait

from bioims import keys, resources
from bioims.context import Context
from bioims.imaging.io import write_tiff_bytes
from bioims.services.api import handle_json
from bioims.workflows import jobs as workflow_jobs
from bioims.workflows.definitions import WORKFLOWS
from bioims.workflows.runner import StepFailed, WorkflowRunner
from tests.support.backends import installed
from tests.unit.learning.service_screen import EMBEDDING as SCREEN_EMBEDDING
from tests.unit.learning.service_screen import setup_screen

pytestmark = pytest.mark.aws

EMBEDDING = "emb-small"
WIDTH, HEIGHT = 64, 48
CHANNELS = ("dapi", "tubulin", "actin")
EXERCISED = {
    "upload-source-plate",
    "process-plate",
    "plate-embedding-compute",
    "embedding-compute",
    "train",
    "search-train-loader",
    "search-tag-loader",
}


def _field(seed: int) -> list[np.ndarray]:
    """Three uint16 channels with a few bright nuclei on the DNA channel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    dna = np.full((HEIGHT, WIDTH), 300.0)
    for cy, cx in rng.uniform((8, 8), (HEIGHT - 8, WIDTH - 8), (4, 2)):
        dna += 3000.0 * ((yy - cy) ** 2 + (xx - cx) ** 2 <= 16)
    other = 400.0 + rng.normal(0, 20, (2, HEIGHT, WIDTH))
    return [dna.astype(np.uint16), other[0].astype(np.uint16), other[1].astype(np.uint16)]


def _call(ctx, service: str, method: str, **params) -> dict:
    response = handle_json(ctx.service(service), {"method": method, **params})
    assert response["statusCode"] < 300, response
    return response["body"]


def _manifest(ctx, root: Path, name: str, n_fields: int, *, corrupt: bool = False) -> str:
    images = []
    for i in range(n_fields):
        channel_keys = []
        for channel, pixels in zip(CHANNELS, _field(i), strict=True):
            key = f"{name}/f{i}_{channel}.tif"
            data = write_tiff_bytes(pixels)
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data[:20] if corrupt else data)
            channel_keys.append({"name": channel, "keysuffix": key})
        images.append(
            {
                "wellSourceId": f"B{i // 2:02d}",
                "imageSourceId": f"{name}-field-{i}",
                "sourceBucket": str(root),
                "sourceKey": "",
                "channelKeys": channel_keys,
            }
        )
    key = f"source-plate/{name}.json"
    ctx.stores.resource_bucket.put_bytes(key, json.dumps({"plateSourceId": name, "images": images}).encode())
    return key


def _deploy(aws_ctx, assembly, monkeypatch, sagemaker_workdir: Path | None = None):
    """The aws backend on moto with the synthesised state machines deployed in moto's engine."""
    if assembly.deployment.workflows is None:
        pytest.fail("the app deployed no workflow: lambdas/Dockerfile or the services are missing")
    emulated = emulate(
        assembly,
        monkeypatch,
        data_bucket=aws_ctx.settings.resource(resources.DATA_BUCKET),
        sagemaker_workdir=sagemaker_workdir,
    )
    machines = {resources.state_machine_slot(w): arn for w, arn in emulated.machines.items()}
    settings = replace(aws_ctx.settings.with_overrides(**machines), services="inprocess")
    ctx = Context(settings, aws_ctx.stores)
    _call(
        ctx,
        "training-configuration",
        "createEmbedding",
        embedding={"embeddingName": EMBEDDING, "inputWidth": WIDTH, "inputHeight": HEIGHT, "inputChannels": 3},
    )
    return ctx, emulated


@pytest.fixture
def deployed(aws_ctx, assembly, monkeypatch):
    ctx, emulated = _deploy(aws_ctx, assembly, monkeypatch)
    with installed(ctx):
        yield ctx, emulated


@pytest.fixture
def deployed_with_training(aws_ctx, assembly, monkeypatch, tmp_path):
    """As `deployed`, and SageMaker training steps run (EmulatedSageMaker)."""
    workdir = tmp_path / "sagemaker"
    workdir.mkdir()
    ctx, emulated = _deploy(aws_ctx, assembly, monkeypatch, sagemaker_workdir=workdir)
    with installed(ctx):
        yield ctx, emulated


def _upload(ctx, emulated, tmp_path, name="PlateA", n_fields=4, *, corrupt=False):
    key = _manifest(ctx, tmp_path / "images", name, n_fields, corrupt=corrupt)
    started = _call(
        ctx, "process-plate", "uploadSourcePlate", inputBucket=ctx.stores.resource_bucket.bucket, inputKey=key
    )
    assert started["executionArn"].startswith(
        emulated.machines["upload-source-plate"].replace(":stateMachine:", ":execution:")
    )
    return started["plateId"], wait(started["executionArn"], emulated.auxiliary["upload-source-plate"])


def _runner(ctx, workflow: str, payload: dict):
    runner = WorkflowRunner(ctx, allow_processes=False)
    try:
        return runner.run(WORKFLOWS[workflow], payload), runner.executed, None
    except StepFailed as failure:
        return None, runner.executed, failure


def _require(emulated, workflow: str) -> None:
    """Workflows are deployed only when their services and jobs exist in this checkout."""
    if workflow not in emulated.machines:
        pytest.skip(f"workflow {workflow} is not deployed by this build (a service or job it uses is missing)")


def _submitted_jobs() -> list[tuple[str, str, dict]]:
    """(queue, job definition name, parameters) of every job submitted to moto's Batch."""
    batch = boto3.client("batch", region_name=REGION)
    submitted = []
    for queue in batch.describe_job_queues()["jobQueues"]:
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
            for job in batch.list_jobs(jobQueue=queue["jobQueueArn"], jobStatus=status)["jobSummaryList"]:
                described = batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]
                definition = described["jobDefinition"].rsplit("/", 1)[-1].split(":")[0]
                submitted.append((queue["jobQueueName"], definition, described["parameters"]))
    return submitted


def _record_jobs(monkeypatch) -> list[tuple[str, dict]]:
    """Make the local runner record its container jobs instead of running them."""
    ran: list[tuple[str, dict]] = []
    monkeypatch.setattr(workflow_jobs, "run_job", lambda job, context, params: ran.append((job, params)) or {})
    return ran


def _same_jobs(submitted, ran) -> bool:
    """Batch got the jobs, with the parameters (as strings), that the runner gives the job functions."""
    return sorted((d, json.dumps(p, sort_keys=True)) for _, d, p in submitted) == sorted(
        (job, json.dumps({k: str(v) for k, v in params.items()}, sort_keys=True)) for job, params in ran
    )


def test_every_deployed_workflow_has_an_execution_test(assembly):
    assert set(assembly.deployment.planned_workflows) <= EXERCISED, (
        "add an execution scenario for the newly deployed workflows"
    )


def test_upload_source_plate_runs_like_the_local_runner(deployed, tmp_path):
    ctx, emulated = deployed
    plate_id, execution = _upload(ctx, emulated, tmp_path)
    assert execution.status == "SUCCEEDED", execution.description
    output = execution.output
    image_ids = output["images"]["imageIds"]
    assert len(image_ids) == 4 and output["validation"]["status"] == "VALIDATED"
    # the Lambdas ran the real services: rows inspected and validated, thumbnails written
    plate = ctx.service("image-management").plate(plate_id)
    assert (plate["searchReady"], int(plate["width"]), int(plate["height"])) == ("VALIDATED", WIDTH, HEIGHT)
    thumbnails = {info.key for info in ctx.stores.data.list(keys.plate_prefix(plate_id))}
    assert all(any(f"/image/{i}/" in k for k in thumbnails) for i in image_ids)
    inspected = sorted(c["imageId"] for c in emulated.calls if c.get("method") == "inspectImage")
    assert inspected == sorted(image_ids)
    assert all(c.get("bioimsWorkflowCall") is True for c in emulated.calls)

    state, executed, failure = _runner(ctx, "upload-source-plate", {"plateId": plate_id})
    assert failure is None
    assert state == output  # the same data flowed through the same states
    assert execution.steps() == first_occurrences(executed)


def test_process_plate_submits_the_jobs_the_runner_runs(deployed, tmp_path, monkeypatch):
    ctx, emulated = deployed
    plate_id, _ = _upload(ctx, emulated, tmp_path, n_fields=3)
    started = _call(ctx, "process-plate", "processPlate", plateId=plate_id, embeddingName=EMBEDDING)
    execution = wait(started["executionArn"], emulated.auxiliary["process-plate"])
    assert execution.status == "SUCCEEDED", execution.description

    submitted = _submitted_jobs()
    ran = _record_jobs(monkeypatch)
    state, executed, failure = _runner(ctx, "process-plate", {"plateId": plate_id, "embeddingName": EMBEDDING})
    assert failure is None
    assert _same_jobs(submitted, ran)
    assert {q for q, _, _ in submitted} == {"emulated-on-demand"}
    assert len(ran) == 1 + 3
    assert state == execution.output
    assert execution.steps() == first_occurrences(executed)


def test_plate_embedding_compute_submits_one_job_per_plate(deployed, monkeypatch):
    ctx, emulated = deployed
    _require(emulated, "plate-embedding-compute")
    payload = {"trainId": "train-1", "plateId": "plate-1"}
    execution = emulated.run("plate-embedding-compute", payload)
    assert execution.status == "SUCCEEDED", execution.description
    submitted = _submitted_jobs()
    ran = _record_jobs(monkeypatch)
    state, executed, failure = _runner(ctx, "plate-embedding-compute", payload)
    assert failure is None and len(ran) == 1
    assert _same_jobs(submitted, ran)
    assert state == execution.output == payload
    assert execution.steps() == first_occurrences(executed) == ["Plate Embeddings"]


def test_embedding_compute_embeds_every_compatible_plate_then_records(deployed, tmp_path, monkeypatch):
    ctx, emulated = deployed
    _require(emulated, "embedding-compute")
    plates = sorted(_upload(ctx, emulated, tmp_path, name=name, n_fields=2)[0] for name in ("PlateA", "PlateB"))
    _call(ctx, "training-configuration", "createTraining", training={"embeddingName": EMBEDDING, "trainId": "train-1"})
    # moto's Batch runs nothing: put the per-plate files the embedding jobs would write.
    for plate_id in plates:
        ctx.stores.data.put_bytes(
            keys.plate_embeddings_key("train-1", plate_id), b"written by the embedding-compute job"
        )
    execution = emulated.run("embedding-compute", {"trainId": "train-1"})
    assert execution.status == "SUCCEEDED", execution.description
    submitted = _submitted_jobs()
    assert sorted(p["plateId"] for _, job, p in submitted if job == "embedding-compute") == plates
    recorded = execution.output["embeddings"]
    assert sorted(e["plateId"] for e in recorded["plates"]) == plates and recorded["images"] == 0
    ran = _record_jobs(monkeypatch)
    state, executed, failure = _runner(ctx, "embedding-compute", {"trainId": "train-1"})
    assert failure is None and _same_jobs(submitted, ran)
    # the same state, but for the training row, which the first run's last step updated
    assert state.pop("training")["training"]["status"] == "embedded"
    assert state == {k: v for k, v in execution.output.items() if k != "training"}
    assert execution.steps() == first_occurrences(executed)


def test_train_fails_with_the_build_error_when_there_is_nothing_to_train_on(deployed, tmp_path):
    ctx, emulated = deployed
    _require(emulated, "train")
    _upload(ctx, emulated, tmp_path, n_fields=2)
    _call(ctx, "training-configuration", "createTraining", training={"embeddingName": EMBEDDING, "trainId": "train-1"})
    execution = emulated.run("train", {"trainId": "train-1"})
    assert execution.status == "FAILED"
    assert execution.description["cause"].startswith("Build Training Set: ServiceCallFailed: ")
    assert "Train Model" not in execution.steps()
    _, executed, failure = _runner(ctx, "train", {"trainId": "train-1"})
    assert (failure.step, failure.error) == ("Build Training Set", "BadRequest")
    assert execution.steps() == first_occurrences(executed)
    assert ctx.service("training-configuration").training("train-1")["status"] == "failed"


class _RunnerRuntime:
    """What the local runner asks of a runtime in the train workflow, over the moto stores: child
    workflows run by a nested runner (their jobs recorded by _record_jobs), training jobs recorded
    and answered as completed (the model the state machine's training job wrote is already in the
    data bucket, so Record Model finds it). Everything else is the aws runtime's."""

    def __init__(self, ctx, aws_runtime):
        self.ctx, self.aws = ctx, aws_runtime
        self.trainings: list[dict] = []

    def __getattr__(self, name):
        return getattr(self.aws, name)

    def run_workflow(self, workflow, payload: dict, *, observer=None) -> dict:
        runner = WorkflowRunner(self.ctx, allow_processes=False)
        try:
            runner.run(workflow, payload)
        except StepFailed as failure:
            return {
                "executionArn": f"runner:{workflow.name}",
                "status": "FAILED",
                "error": failure.error,
                "cause": failure.cause,
            }
        return {"executionArn": f"runner:{workflow.name}", "status": "SUCCEEDED"}

    def run_training_job(self, request: dict, *, observer=None) -> dict:
        self.trainings.append(request)
        return {"TrainingJobName": request["trainingJobName"], "TrainingJobStatus": "Completed"}


def test_train_processes_the_plates_trains_on_lustre_and_records_the_model(deployed_with_training, monkeypatch):
    ctx, emulated = deployed_with_training
    _require(emulated, "train")
    plates = setup_screen(ctx)  # two labelled plates with ROI files, an embedding for seconds-long training
    started = _call(ctx, "train", "train", embeddingName=SCREEN_EMBEDDING, executeProcessPlate=True, useSpot=True)
    train_id = started["trainId"]
    execution = wait(started["executionArn"], emulated.auxiliary["train"], timeout=600)
    assert execution.status == "SUCCEEDED", execution.description.get("cause")
    output = execution.output

    # every compatible plate was processed by a child process-plate execution, awaited (.sync:2)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    children = sfn.list_executions(stateMachineArn=emulated.machines["process-plate"])["executions"]
    assert sorted(c["status"] for c in children) == ["SUCCEEDED"] * len(plates)
    inputs = [json.loads(sfn.describe_execution(executionArn=c["executionArn"])["input"]) for c in children]
    assert sorted(i["plateId"] for i in inputs) == sorted(plates)
    assert {i["embeddingName"] for i in inputs} == {SCREEN_EMBEDDING}
    assert {i["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"] for i in inputs} == {execution.arn}
    submitted = _submitted_jobs()
    assert sorted(job for _, job, _ in submitted) == ["image-preprocessing"] * sum(map(len, plates.values())) + [
        "plate-preprocessing"
    ] * len(plates)

    # SageMaker got the job the Training Job Request step built: spot, in the VPC, reading FSx
    request = output["trainingJobRequest"]
    training = ctx.service("training-configuration").training(train_id)
    assert request["useSpot"] is True and request["hyperparameters"]["train_manifest"] == training["manifestKey"]
    (sent,) = emulated.sagemaker.requests
    name = sent["TrainingJobName"]
    assert name == request["trainingJobName"] == training["sagemakerJobName"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    job = sagemaker.describe_training_job(TrainingJobName=name)
    bucket = ctx.stores.data.bucket
    assert job["HyperParameters"] == request["hyperparameters"]
    (channel,) = job["InputDataConfig"]
    assert channel["DataSource"]["FileSystemDataSource"] == {
        "FileSystemId": FILE_SYSTEM["Ref"],
        "FileSystemAccessMode": "ro",
        "FileSystemType": "FSxLustre",
        "DirectoryPath": f"/{FILE_SYSTEM['LustreMountName']}/{request['channelPrefix']}",
    }
    assert job["VpcConfig"] == {"SecurityGroupIds": [SECURITY_GROUP["GroupId"]], "Subnets": [SUBNET["Ref"]]}
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/{request['modelPrefix']}"
    assert job["CheckpointConfig"]["S3Uri"] == f"s3://{bucket}/{request['checkpointPrefix']}"
    assert job["ResourceConfig"]["InstanceType"] == request["instanceType"]
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {
        "MaxRuntimeInSeconds": request["maxRuntimeSeconds"],
        "MaxWaitTimeInSeconds": request["maxRuntimeSeconds"] + 24 * 3600,
    }
    assert job["RoleArn"].endswith(":role/emulated-sagemaker")
    assert {"Key": "bioims:deployment", "Value": "bioims"} in sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])[
        "Tags"
    ]
    assert sent["Environment"]["BIOIMS_BACKEND"] == "aws" and sent["Environment"]["BIOIMS_DEPLOYMENT"] == "bioims"
    assert output["job"] == {
        "TrainingJobName": name,
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {
            "S3ModelArtifacts": f"s3://{bucket}/{request['modelPrefix'].rstrip('/')}/{name}/output/model.tar.gz"
        },
    }
    # Record Model unpacked the job's model.tar.gz: the trained network and its card
    assert output["model"]["modelKey"] == training["modelKey"] and training["status"] == "trained"
    assert (
        output["model"]["summary"]["network"] == "bioims-resnet" and output["model"]["summary"]["epochsCompleted"] == 1
    )
    card = json.loads(ctx.stores.data.get_bytes(training["modelCardKey"]))
    assert card["hyperparameters"]["embedding_dim"] == 32
    assert card["data"]["manifestDigest"]

    # the local runner: the same steps in the same order, the same children's jobs, the same request
    ran = _record_jobs(monkeypatch)
    runtime = _RunnerRuntime(ctx, ctx.runtime)
    monkeypatch.setattr(ctx, "_runtime", runtime)
    state, executed, failure = _runner(ctx, "train", {"trainId": train_id})
    assert failure is None
    assert execution.steps() == first_occurrences(executed)
    assert _same_jobs(submitted, ran)
    (local_request,) = runtime.trainings
    assert {k: v for k, v in local_request.items() if k != "trainingJobName"} == {
        k: v for k, v in request.items() if k != "trainingJobName"
    }
    changed = ("training", "trainingJobRequest", "job")  # the row the first run updated; new job names
    assert {k: v for k, v in state.items() if k not in changed} == {k: v for k, v in output.items() if k not in changed}


def test_an_invalid_plate_fails_the_execution_with_the_reason(deployed, tmp_path):
    ctx, emulated = deployed
    plate_id, execution = _upload(ctx, emulated, tmp_path, name="Broken", n_fields=2, corrupt=True)
    assert execution.status == "FAILED"
    assert execution.description["error"] == "PlateNotValidated"
    assert "did not validate" in execution.description["cause"]
    _, executed, failure = _runner(ctx, "upload-source-plate", {"plateId": plate_id})
    assert (failure.step, failure.error) == ("Upload Plate Invalid", "PlateNotValidated")
    assert execution.steps() == first_occurrences(executed)


def test_a_failing_service_call_fails_the_execution_naming_the_step(deployed):
    ctx, emulated = deployed
    plate_id = "no-such-plate"
    execution = emulated.run("process-plate", {"plateId": plate_id, "embeddingName": "no-such-embedding"})
    assert execution.status == "FAILED"
    assert execution.description["error"] == "StepFailed"
    cause = execution.description["cause"]
    assert cause.startswith("Embedding Info: ServiceCallFailed: ")  # <step>: <error>: <cause>
    assert "no-such-embedding" in cause and "NotFound" in cause
    _, executed, failure = _runner(ctx, "process-plate", {"plateId": plate_id, "embeddingName": "no-such-embedding"})
    assert failure.step == "Embedding Info" and failure.error == "NotFound"
    assert execution.steps() == first_occurrences(executed) == ["Embedding Info"]


def test_a_failed_batch_job_fails_the_execution_with_its_cause(deployed, tmp_path, monkeypatch):
    ctx, emulated = deployed
    plate_id, _ = _upload(ctx, emulated, tmp_path, n_fields=2)
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # moto's switch: every job ends FAILED
    execution = emulated.run("process-plate", {"plateId": plate_id, "embeddingName": EMBEDDING})
    assert execution.status == "FAILED"
    assert execution.description["error"] == "StepFailed"
    cause = execution.description["cause"]
    assert cause.startswith("Plate Flat Fields: States.TaskFailed: ")
    job = json.loads(cause.split(": ", 2)[2])  # the failed job's description, as Batch reports it
    assert job["status"] == "FAILED" and job["parameters"] == {"plateId": plate_id}
    assert "Process Images" not in execution.steps()


def test_search_tag_loader_sends_one_message_per_compatible_plate(deployed, tmp_path):
    ctx, emulated = deployed
    _require(emulated, "search-tag-loader")
    plates = sorted(_upload(ctx, emulated, tmp_path, name=name, n_fields=2)[0] for name in ("PlateA", "PlateB"))
    execution = emulated.run("search-tag-loader", {"embeddingName": EMBEDDING})
    assert execution.status == "SUCCEEDED", execution.description
    assert sorted(p["plateId"] for p in execution.output["plates"]["plates"]) == plates
    queue = ctx.stores.queue(resources.MANAGEMENT_QUEUE)
    bodies = [json.loads(m.body) for m in queue.receive(10, visibility_timeout=0)]
    assert sorted(b["plateId"] for b in bodies) == plates
    assert {b["embeddingName"] for b in bodies} == {EMBEDDING}

    state, executed, failure = _runner(ctx, "search-tag-loader", {"embeddingName": EMBEDDING})
    assert failure is None and state == execution.output
    assert execution.steps() == first_occurrences(executed)


def test_search_train_loader_visits_every_compatible_plate(deployed, tmp_path):
    ctx, emulated = deployed
    _require(emulated, "search-train-loader")
    plate_id, _ = _upload(ctx, emulated, tmp_path, n_fields=2)
    _call(ctx, "training-configuration", "createTraining", training={"embeddingName": EMBEDDING, "trainId": "train-1"})
    execution = emulated.run("search-train-loader", {"trainId": "train-1"})
    assert execution.status == "SUCCEEDED", execution.description
    loads = [c for c in emulated.calls if c["service"] == "search" and c["method"] == "processPlate"]
    assert [(c["trainId"], c["plateId"]) for c in loads] == [("train-1", plate_id)]
    state, executed, failure = _runner(ctx, "search-train-loader", {"trainId": "train-1"})
    assert failure is None and state == execution.output
    assert execution.steps() == first_occurrences(executed)
