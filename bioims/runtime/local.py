"""The local runtime: workflows run by the local runner, training jobs as subprocesses running
the same SageMaker script-mode entry (training/train.py) with the same SM_* environment.

Executions and training jobs are recorded in the local BioimsExecution table so
`describeExecution` / `getTrainingJobInfo` answer like their AWS counterparts.
"""

from __future__ import annotations

import concurrent.futures as futures
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bioims import keys, resources, tables
from bioims.errors import NotFound
from bioims.ids import new_id
from bioims.learning.progress import PROGRESS_PREFIX
from bioims.processes import current_owner, owner_alive
from bioims.runtime.ports import Observer, TrainingJobRequest, run_parts, split_parts
from bioims.store import Condition, ConditionFailed, Update
from bioims.workflows.definitions import workflow as lookup
from bioims.workflows.dsl import Workflow
from bioims.workflows.runner import StepFailed, WorkflowRunner, local_worker_count, shared_process_pool

OWNER_DIED = "OwnerDied"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class LocalRuntime:
    def __init__(self, context):
        self.ctx = context
        self.observer: Observer = Observer()

    @property
    def _executions(self):
        return self.ctx.stores.table(tables.EXECUTION)

    # --- workflows -----------------------------------------------------------------------------
    def start_workflow(self, workflow: str, payload: dict, *, wait: bool = True, on_start=None) -> dict:
        """Run a workflow; locally this waits for the end unless wait=False (then a thread runs it).
        `on_start(executionArn)` is called once the execution is recorded, before any step runs,
        so a caller can point at it even if this process dies during the run."""
        definition = lookup(workflow)
        arn = self._new_execution(definition.name, payload)
        if on_start is not None:
            on_start(arn)
        if wait:
            outcome = self._run_recorded(definition, payload, arn, self.observer)
            return {
                "executionArn": outcome["executionArn"],
                "startDate": outcome["startDate"],
                "status": outcome["status"],
            }
        thread = threading.Thread(
            target=self._run_recorded, args=(definition, payload, arn, self.observer), daemon=True
        )
        thread.start()
        return {"executionArn": arn, "startDate": self.describe_execution(arn)["startDate"]}

    def run_workflow(self, definition: Workflow, payload: dict, *, observer: Observer | None = None) -> dict:
        arn = self._new_execution(definition.name, payload)
        return self._run_recorded(definition, payload, arn, observer or self.observer)

    def _new_execution(self, workflow: str, payload: dict) -> str:
        arn = f"arn:bioims:local:execution:{workflow}:{new_id()}"
        self._executions.put(
            {
                "executionArn": arn,
                "record": "origin",
                "workflow": workflow,
                "status": "RUNNING",
                "input": json.dumps(payload),
                "startDate": _now_iso(),
                **current_owner(),
            }
        )
        return arn

    def _run_recorded(self, definition, payload: dict, arn: str, observer: Observer) -> dict:
        observer.workflow_started(arn, definition.name, payload)
        runner = WorkflowRunner(self.ctx, observer)
        status, error, cause, output = "SUCCEEDED", None, None, None
        try:
            output = runner.run(definition, payload)
        except StepFailed as exc:
            status, error, cause = "FAILED", exc.error, f"{exc.step}: {exc.cause}"
        except BaseException as exc:
            status, error, cause = "FAILED", type(exc).__name__, str(exc)
            self._finish(arn, status, error, cause, None, runner.executed)
            observer.workflow_finished(arn, definition.name, status, f"{error}: {cause}")
            raise
        self._finish(arn, status, error, cause, output, runner.executed)
        observer.workflow_finished(arn, definition.name, status, None if status == "SUCCEEDED" else f"{error}: {cause}")
        return self.describe_execution(arn)

    def _finish(self, arn, status, error, cause, output, executed) -> None:
        values = {"status": status, "stopDate": _now_iso(), "steps": executed}
        if output is not None:
            values["output"] = json.dumps(output, default=str)
        if error:
            values["error"], values["cause"] = error, cause
        self._executions.update({"executionArn": arn, "record": "origin"}, Update(set=values))

    def _settle_if_orphaned(self, row: dict, running: str, values: dict) -> dict:
        """A row still `running` whose owner process is gone is finished with `values` (once:
        conditional on the status), so it does not stay running forever."""
        if row.get("status") != running or owner_alive(row):
            return row
        key = {"executionArn": row["executionArn"], "record": "origin"}
        try:
            return self._executions.update(
                key, Update(set={**values, "stopDate": _now_iso()}), condition=Condition(equals={"status": running})
            )
        except ConditionFailed:
            return self._executions.get(key) or row

    def describe_execution(self, execution_arn: str) -> dict:
        row = self._executions.get({"executionArn": execution_arn, "record": "origin"})
        if row is None:
            raise NotFound(f"execution {execution_arn!r} does not exist")
        row = self._settle_if_orphaned(
            row,
            "RUNNING",
            {
                "status": "FAILED",
                "error": OWNER_DIED,
                "cause": f"process {row.get('pid')} running this execution ended before it finished "
                "(killed or crashed); "
                "run the same command again: finished steps are skipped",
            },
        )
        out = {k: row[k] for k in ("executionArn", "status", "startDate", "input") if k in row}
        out["name"] = execution_arn.rsplit(":", 1)[-1]
        out["stateMachineArn"] = f"arn:bioims:local:stateMachine:{row.get('workflow')}"
        for optional in ("stopDate", "output", "error", "cause", "steps"):
            if optional in row:
                out[optional] = row[optional]
        return out

    # --- training jobs -------------------------------------------------------------------------
    def _data_root(self) -> Path:
        return self.ctx.settings.objects_root / self.ctx.settings.resource(resources.DATA_BUCKET)

    def run_training_job(self, request: dict | TrainingJobRequest, *, observer: Observer | None = None) -> dict:
        """Run the script-mode training entry as a subprocess and wait for it; the job is
        recorded so getTrainingJobInfo answers like SageMaker's DescribeTrainingJob."""
        job = request if isinstance(request, TrainingJobRequest) else TrainingJobRequest.model_validate(request)
        observer = observer or self.observer
        root = self._data_root()
        model_dir = root / job.modelPrefix
        checkpoint_dir = root / job.checkpointPrefix
        output_dir = root / keys.training_prefix(job.trainId) / "output"
        for directory in (model_dir, checkpoint_dir, output_dir):
            directory.mkdir(parents=True, exist_ok=True)
        log_path = output_dir / "training.log"
        env = dict(os.environ)
        env.update(
            {
                "SM_CHANNEL_TRAINING": str(root / job.channelPrefix) if job.channelPrefix else str(root),
                "SM_MODEL_DIR": str(model_dir),
                "SM_OUTPUT_DATA_DIR": str(output_dir),
                "SM_CHECKPOINT_DIR": str(checkpoint_dir),
                "SM_HOSTS": json.dumps(["algo-1"]),
                "SM_CURRENT_HOST": "algo-1",
                "SM_NUM_GPUS": "0",
                "SM_TRAINING_JOB_NAME": job.trainingJobName,
                "PYTHONUNBUFFERED": "1",
            }
        )
        args = [sys.executable, "-m", job.entryModule]
        for name, value in sorted(job.hyperparameters.items()):
            args += [f"--{name}", str(value)]
        key = {"executionArn": f"trainingjob:{job.trainingJobName}", "record": "origin"}
        self._executions.put(
            {
                **key,
                "status": "InProgress",
                "request": job.model_dump(),
                "startDate": _now_iso(),
                "log": str(log_path),
                **current_owner(),
            }
        )
        observer.log(f"training job {job.trainingJobName} started; log: {log_path}")
        started = time.monotonic()
        project_root = Path(__file__).resolve().parents[2]
        env["PYTHONPATH"] = os.pathsep.join([str(project_root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(project_root)
            )
            assert process.stdout is not None
            for raw in process.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode(errors="replace").rstrip()
                if line.startswith(PROGRESS_PREFIX):
                    observer.log(line[len(PROGRESS_PREFIX) :])
            code = process.wait()
        elapsed = int(time.monotonic() - started)
        if code == 0:
            values = {"status": "Completed", "stopDate": _now_iso(), "seconds": elapsed}
        else:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            values = {
                "status": "Failed",
                "stopDate": _now_iso(),
                "seconds": elapsed,
                "failureReason": f"exit code {code}: " + "\n".join(tail),
            }
        self._executions.update(key, Update(set=values))
        return self.describe_training_job(job.trainingJobName)

    def describe_training_job(self, name: str) -> dict:
        row = self._executions.get({"executionArn": f"trainingjob:{name}", "record": "origin"})
        if row is None:
            raise NotFound(f"training job {name!r} does not exist")
        row = self._settle_if_orphaned(
            row,
            "InProgress",
            {
                "status": "Failed",
                "seconds": 0,
                "failureReason": f"process {row.get('pid')} running this training job ended before it finished "
                "(killed or crashed)",
            },
        )
        request = row.get("request", {})
        out = {
            "TrainingJobName": name,
            "TrainingJobStatus": row["status"],
            "TrainingStartTime": row.get("startDate"),
            "HyperParameters": request.get("hyperparameters", {}),
            "ModelArtifacts": {"S3ModelArtifacts": request.get("modelPrefix", "")},
            "CheckpointConfig": {"S3Uri": request.get("checkpointPrefix", "")},
            "LogPath": row.get("log"),
        }
        if "stopDate" in row:
            out["TrainingEndTime"] = row["stopDate"]
            out["TrainingTimeInSeconds"] = row.get("seconds", 0)
        if row.get("failureReason"):
            out["FailureReason"] = row["failureReason"]
        return out

    def describe_job(self, job_id: str) -> dict:
        raise NotFound(f"local jobs run inside workflows; there is no job {job_id!r} to describe")

    # --- parts of a job on the worker processes ------------------------------------------------
    def map_parts(self, function, items):
        """One part per worker process of the shared pool the maps use (BIOIMS_WORKERS, else the
        cores). In this process, as one part, with one worker, one item, or when this process
        is itself a worker (no pool inside a pool)."""
        workers = local_worker_count()
        if not items:
            return []
        if workers <= 1 or len(items) <= 1 or multiprocessing.parent_process() is not None:
            return [function(self.ctx, list(items))]
        parts = split_parts(items, workers)
        try:
            return run_parts(shared_process_pool(workers), self.ctx, function, parts)
        except futures.BrokenExecutor:  # the pool broke before this call (a worker of an earlier map died)
            return run_parts(shared_process_pool(workers, replace_broken=True), self.ctx, function, parts)
