"""Train service (docs/original.md §2.9, §4.6-4.8): start trainings, and the steps of the train workflow.

API for people and clients:
  train                     one training of an embedding (baseline, or with an exclusion list)
  trainLeaveOneCompoundOut  one training per compound exclusion list of the embedding (the
                            original's 38 NSC models), or a chosen subset; re-running it starts only
                            the trainings that do not exist yet
  resumeTraining            run the train workflow again for an existing training (after a failure
                            or an interruption; checkpoints make the job continue where it stopped)
  getTrainingStatus         a training's state: row status, workflow, training job, latest progress
  listTrainings             the same for every training of an embedding
Steps of the train workflow (bioims.workflows.definitions.TRAIN):
  buildTrainingSet          the training set as a manifest (bioims.learning.manifest); an empty or
                            inconsistent set fails here with a message listing what is wrong
  trainingJobRequest        the training job (SageMaker on AWS, a subprocess locally)
  completeTraining          record the model and its card on the training row
  completeEmbedding         (embedding-compute workflow) record that every plate is embedded

Bad input fails early: the embedding check and the filter list are validated before a training
is created; the build checks every ROI file (docs/original.md §8.4 #35); the job's hyperparameters
are validated before a job is launched. The training's state is one call away.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from typing import Annotated, Any, Literal

from pydantic import Field

from bioims import keys
from bioims.errors import BadRequest, NotFound
from bioims.ids import new_id
from bioims.learning.hyperparameters import (
    UNTRAINED_ARGUMENT,
    HyperparameterError,
    resolve_config,
    split_build_parameters,
)
from bioims.learning.manifest import TrainingSetError, parse_exclusion_list, prepare_training_set
from bioims.runtime.ports import TrainingJobRequest
from bioims.services.api import Request, Service, api
from bioims.services.models import BucketName, EmbeddingName, Flag, Id, Name, ObjectKey, Text
from bioims.services.training_configuration import CreateTrainingRequest, TrainingModel
from bioims.store import ObjectNotFound

TRAIN_WORKFLOW = "train"
JOB_NAME_PREFIX = "bioims"


class TrainRequest(Request):
    embeddingName: EmbeddingName
    filterBucket: BucketName = ""
    filterKey: ObjectKey = ""
    executeProcessPlate: Flag = False
    useSpot: Flag = True
    description: Text = ""
    wait: Flag = True  # local backend: run the workflow to the end inside the call
    untrained: Flag = False  # the network at its seeded initial weights: what training is measured against


class LeaveOneOutRequest(Request):
    embeddingName: EmbeddingName
    compounds: Annotated[list[Name], Field(max_length=10_000)] | None = None
    executeProcessPlate: Flag = False
    useSpot: Flag = True
    wait: Flag = True


class TrainIdRequest(Request):
    trainId: Id


class ResumeRequest(Request):
    trainId: Id
    wait: Flag = True


class TrainingStepRequest(Request):
    """The original's training-build / training-compute event: {trainId, useSpot}."""

    trainId: Id
    useSpot: Flag | None = None
    wait: Flag = True


class EmbeddingRequest(Request):
    embeddingName: EmbeddingName


def compound_of(filter_key: str) -> str:
    """The compound label of an exclusion list key (`.../<label>-filter.txt`), else ""."""
    name = filter_key.rsplit("/", 1)[-1]
    return name[: -len(keys.FILTER_SUFFIX)] if name.endswith(keys.FILTER_SUFFIX) else ""


class TrainService(Service):
    name = "train"

    # --- helpers ---------------------------------------------------------------------------------
    @property
    def _configuration(self):
        return self.ctx.training_configuration

    def _log(self, training: dict, text: str) -> None:
        if training.get("messageId"):
            self.ctx.message.add(training["messageId"], text)

    def _filter_store(self, bucket: str):
        return self.ctx.stores.bucket(bucket) if bucket else self.ctx.stores.resource_bucket

    def _exclusions(self, training: dict) -> set[str]:
        key = training.get("filterKey") or ""
        if not key:
            return set()
        bucket = training.get("filterBucket") or ""
        try:
            return parse_exclusion_list(self._filter_store(bucket).get_bytes(key))
        except ObjectNotFound:
            raise BadRequest(f"filter list {key!r} not found in bucket {bucket or 'resource'!r}") from None

    def _create(
        self,
        embedding_name: str,
        filter_bucket: str,
        filter_key: str,
        execute: bool,
        spot: bool,
        description: str,
        kind: Literal["network", "untrained", "cellprofiler"] | None = None,
    ) -> dict:
        self._configuration.embedding(embedding_name)
        if filter_key:
            bucket = filter_bucket or self.ctx.stores.resource_bucket.bucket
            if not self._filter_store(bucket).exists(filter_key):
                raise BadRequest(f"filter list {filter_key!r} not found in bucket {bucket!r}")
            filter_bucket = bucket
        train_id = new_id()
        message_id = self.ctx.message.create(f"Begin messages for trainid={train_id}")
        model = TrainingModel(
            embeddingName=embedding_name,
            trainId=train_id,
            messageId=message_id,
            filterBucket=filter_bucket,
            filterKey=filter_key,
            executeProcessPlate=execute,
            useSpot=spot,
            description=description,
            kind=kind,
        )
        return self._configuration.createTraining(CreateTrainingRequest(training=model))["training"]

    def _run(self, train_id: str, wait: bool) -> dict:
        # Recorded when the execution starts: a status query finds it even if this process dies.
        execution = self.start_workflow(
            TRAIN_WORKFLOW,
            {"trainId": train_id},
            wait,
            on_start=lambda arn: self._configuration.update(train_id, {"executionArn": arn}),
        )
        out = {"trainId": train_id, "executionArn": execution["executionArn"], "startDate": execution.get("startDate")}
        if "status" in execution:
            out["status"] = execution["status"]
            if execution["status"] != "SUCCEEDED":
                described = self.ctx.runtime.describe_execution(execution["executionArn"])
                out["error"], out["cause"] = described.get("error"), described.get("cause")
        return out

    def _plates_rows(self, embedding: dict) -> list[dict]:
        management = self.ctx.image_management
        plates = management.plates_for_embedding(embedding)
        return [row for plate in plates for row in management.plate_images(plate["plateId"])]

    def _read_progress(self, train_id: str) -> dict | None:
        try:
            return json.loads(self.ctx.stores.data.get_bytes(keys.checkpoint_prefix(train_id) + keys.PROGRESS_FILE))
        except (ObjectNotFound, json.JSONDecodeError):
            return None

    def status(self, training: dict) -> dict:
        """The state of one training, from its row, its workflow, its job and its progress file."""
        out: dict[str, Any] = {
            k: training.get(k)
            for k in (
                "trainId",
                "embeddingName",
                "filterKey",
                "kind",
                "status",
                "statusMessage",
                "sagemakerJobName",
                "executionArn",
                "imageCount",
                "roiCount",
                "trainingSummary",
                "embeddingStatus",
                "createTimestamp",
            )
            if training.get(k) not in (None, "")
        }
        out["compound"] = compound_of(training.get("filterKey") or "")
        state = training.get("status", "created")
        if training.get("executionArn"):
            try:
                execution = self.ctx.runtime.describe_execution(training["executionArn"])
            except NotFound:
                execution = {}
            out["execution"] = {k: execution[k] for k in ("status", "error", "cause") if execution.get(k)}
            if execution.get("status") in ("FAILED", "TIMED_OUT", "ABORTED") and state not in ("trained", "embedded"):
                state = "failed"
        if training.get("sagemakerJobName"):
            try:
                job = self.ctx.runtime.describe_training_job(training["sagemakerJobName"])
                out["job"] = {k: job[k] for k in ("TrainingJobStatus", "FailureReason") if job.get(k)}
            except NotFound:
                pass
        progress = self._read_progress(training["trainId"])
        if progress is not None:
            out["progress"] = progress
        out["state"] = state
        return out

    # --- API: trainings ----------------------------------------------------------------------------
    @api(TrainRequest, status=201)
    def train(self, request: TrainRequest) -> dict:
        """Create a training of an embedding and run the train workflow."""
        training = self._create(
            request.embeddingName,
            request.filterBucket,
            request.filterKey,
            request.executeProcessPlate,
            request.useSpot,
            request.description,
            "untrained" if request.untrained else None,
        )
        return {"embeddingName": request.embeddingName, **self._run(training["trainId"], request.wait)}

    @api(LeaveOneOutRequest, status=201)
    def trainLeaveOneCompoundOut(self, request: LeaveOneOutRequest) -> dict:
        """One training per compound exclusion list (train-filter/<embedding>/<label>-filter.txt)."""
        embedding = self._configuration.embedding(request.embeddingName)
        resources = self.ctx.stores.resource_bucket
        lists = {
            compound_of(info.key): info.key
            for info in resources.list(keys.train_filter_prefix(request.embeddingName))
            if compound_of(info.key)
        }
        if not lists:
            raise BadRequest(
                f"embedding {request.embeddingName!r} has no exclusion lists under "
                f"{keys.train_filter_prefix(request.embeddingName)} (bioims bbbc021 ingest writes them)"
            )
        wanted = sorted(lists)
        if request.compounds is not None:
            chosen = {keys.normalize_label(c) for c in request.compounds}
            unknown = sorted(chosen - set(lists))
            if unknown:
                raise BadRequest(f"no exclusion list for {unknown}; known: {sorted(lists)}")
            wanted = sorted(chosen)
        existing = {
            t.get("filterKey"): t
            for t in self._configuration.trainings(embedding["embeddingName"])
            if t.get("filterKey")
        }
        created, kept = [], []
        for compound in wanted:
            if lists[compound] in existing:
                kept.append({"compound": compound, "trainId": existing[lists[compound]]["trainId"], "existing": True})
                continue
            training = self._create(
                request.embeddingName,
                resources.bucket,
                lists[compound],
                request.executeProcessPlate,
                request.useSpot,
                f"leave out {compound}",
            )
            created.append({"compound": compound, "trainId": training["trainId"]})
        background = self.ctx.settings.backend == "local" and not request.wait
        if background:  # one local training at a time: they share this machine's cores
            ids = [c["trainId"] for c in created]
            threading.Thread(target=lambda: [self._run(i, True) for i in ids], daemon=True).start()
        else:
            for entry in created:
                entry.update(self._run(entry["trainId"], request.wait))
        return {
            "embeddingName": request.embeddingName,
            "trainings": sorted(created + kept, key=lambda t: t["compound"]),
        }

    @api(ResumeRequest)
    def resumeTraining(self, request: ResumeRequest) -> dict:
        """Run the train workflow again for an existing training; finished work is not redone."""
        training = self._configuration.training(request.trainId)
        self._log(training, "training restarted")
        return {"embeddingName": training["embeddingName"], **self._run(request.trainId, request.wait)}

    @api(TrainingStepRequest)
    def startTrainingBuild(self, request: TrainingStepRequest) -> dict:
        """The original's train-build entry (TrainClient.startTrainingBuild): build the training
        set of an existing training, the train workflow's first step."""
        if request.useSpot is not None:
            self._configuration.update(request.trainId, {"useSpot": request.useSpot})
        return self.buildTrainingSet(TrainIdRequest(trainId=request.trainId))

    @api(TrainingStepRequest)
    def startTrainingCompute(self, request: TrainingStepRequest) -> dict:
        """The original's train-compute entry (TrainClient.startTrainingCompute): train the model
        of an existing training. Runs the train workflow for it, which skips the finished build and
        runs the training job and what follows; answers the job's name (`trainingJobName`) once
        the workflow has requested the job (at once locally; later on AWS, see getTrainingStatus)."""
        if request.useSpot is not None:
            self._configuration.update(request.trainId, {"useSpot": request.useSpot})
        training = self._configuration.training(request.trainId)
        self._log(training, "training compute started")
        run = self._run(request.trainId, request.wait)
        job_name = self._configuration.training(request.trainId).get("sagemakerJobName", "")
        return {"trainingJobName": job_name, "embeddingName": training["embeddingName"], **run}

    @api(TrainIdRequest)
    def getTrainingStatus(self, request: TrainIdRequest) -> dict:
        return self.status(self._configuration.training(request.trainId))

    @api(EmbeddingRequest)
    def listTrainings(self, request: EmbeddingRequest) -> dict:
        self._configuration.embedding(request.embeddingName)
        trainings = [self.status(t) for t in self._configuration.trainings(request.embeddingName)]
        return {
            "embeddingName": request.embeddingName,
            "trainings": sorted(trainings, key=lambda t: (t["compound"], t["trainId"])),
        }

    # --- API: workflow steps -------------------------------------------------------------------------
    @api(TrainIdRequest)
    def buildTrainingSet(self, request: TrainIdRequest) -> dict:
        """Training set = ROIs of labelled images on compatible plates minus the exclusion list."""
        configuration = self._configuration
        training = configuration.training(request.trainId)
        embedding = configuration.embedding(training["embeddingName"])
        configuration.update(request.trainId, {"status": "building"})
        try:
            build, _ = split_build_parameters(embedding.get("trainingHyperparameters"))
            manifest = prepare_training_set(
                self.ctx.stores.data,
                request.trainId,
                training["embeddingName"],
                self._plates_rows(embedding),
                self._exclusions(training),
                category=embedding.get("labelCategory", "moa"),
                **build,
            )
        except (TrainingSetError, HyperparameterError) as exc:
            configuration.update(request.trainId, {"status": "failed", "statusMessage": str(exc)})
            self._log(training, f"training build failed: {exc}")
            raise BadRequest(str(exc)) from None
        manifest_key, list_key = keys.training_manifest_key(request.trainId), keys.image_list_key(request.trainId)
        self.ctx.artifact.register_objects(request.trainId, request.trainId, [list_key, manifest_key], "training set")
        configuration.update(
            request.trainId,
            {
                "status": "built",
                "statusMessage": "",
                "manifestKey": manifest_key,
                "imageListKey": list_key,
                "imageCount": manifest.counts["images"],
                "roiCount": manifest.counts["rois"],
            },
        )
        self._log(training, f"training set built: {json.dumps(manifest.counts, sort_keys=True)}")
        return {
            "trainId": request.trainId,
            "manifestKey": manifest_key,
            "imageListKey": list_key,
            "counts": manifest.counts,
            "validation": manifest.validation,
            "classes": [
                {"index": c.index, "name": c.name, "rois": c.rois, "compounds": len(c.compounds)}
                for c in manifest.classes
            ],
            "notes": manifest.notes,
        }

    @api(TrainIdRequest)
    def trainingJobRequest(self, request: TrainIdRequest) -> dict:
        """The training job of a built training set (validated here, before anything is launched)."""
        configuration = self._configuration
        training = configuration.training(request.trainId)
        if not training.get("manifestKey"):
            raise BadRequest(f"training {request.trainId} has no training set yet; run buildTrainingSet first")
        embedding = configuration.embedding(training["embeddingName"])
        try:
            _, script = split_build_parameters(embedding.get("trainingHyperparameters"))
            given_network = script.pop("network", embedding.get("network", "bbbc021-1"))
            if given_network != embedding.get("network", given_network):
                raise HyperparameterError(
                    f"trainingHyperparameters name network {given_network!r} but the embedding's network is "
                    f"{embedding['network']!r}"
                )
            script["network"] = given_network
            script.setdefault("embedding_dim", embedding.get("embeddingVectorLength", 256))
            resolve_config(script)
        except HyperparameterError as exc:
            configuration.update(request.trainId, {"status": "failed", "statusMessage": str(exc)})
            raise BadRequest(str(exc)) from None
        hyperparameters = {k: _text(v) for k, v in script.items()}
        hyperparameters["train_manifest"] = training["manifestKey"]
        if training.get("kind") == "untrained":
            hyperparameters[UNTRAINED_ARGUMENT] = "true"
        job = TrainingJobRequest(
            trainingJobName=f"{JOB_NAME_PREFIX}-{request.trainId}-{new_id()[:8]}",
            trainId=request.trainId,
            hyperparameters=hyperparameters,
            modelPrefix=keys.model_prefix(request.trainId),
            checkpointPrefix=keys.checkpoint_prefix(request.trainId),
            instanceType=embedding.get("trainingInstanceType", "ml.g4dn.xlarge"),
            useSpot=bool(training.get("useSpot", False)),
        )
        configuration.update(request.trainId, {"status": "training", "sagemakerJobName": job.trainingJobName})
        self._log(training, f"training job {job.trainingJobName} requested")
        return job.model_dump()

    @api(TrainIdRequest)
    def completeTraining(self, request: TrainIdRequest) -> dict:
        """Put the job's model and card under the training's keys and record its summary."""
        configuration = self._configuration
        training = configuration.training(request.trainId)
        store = self.ctx.stores.data
        model_key, card_key = keys.model_key(request.trainId), keys.model_card_key(request.trainId)
        if not (store.exists(model_key) and store.exists(card_key)):
            self._unpack_job_output(training)
        card = json.loads(store.get_bytes(card_key))
        summary = {
            "network": card["network"],
            "epochsCompleted": card["epochs"]["completed"],
            "bestEpoch": card["epochs"]["best"],
            "stoppedEarly": card["epochs"]["stoppedEarly"],
            "validationMetric": card["validation"]["metric"],
            "validationBest": card["validation"]["best"],
            "trainingSeconds": card["trainingSeconds"],
            "device": card["device"],
        }
        self.ctx.artifact.register_objects(request.trainId, request.trainId, [model_key, card_key], "model")
        configuration.update(
            request.trainId,
            {
                "status": "trained",
                "statusMessage": "",
                "modelKey": model_key,
                "modelCardKey": card_key,
                "trainingSummary": summary,
            },
        )
        self._log(training, f"training complete: {json.dumps(summary, sort_keys=True)}")
        return {"trainId": request.trainId, "modelKey": model_key, "modelCardKey": card_key, "summary": summary}

    def _unpack_job_output(self, training: dict) -> None:
        """SageMaker leaves SM_MODEL_DIR as <modelPrefix><job>/output/model.tar.gz: extract the two files."""
        store = self.ctx.stores.data
        job = training.get("sagemakerJobName") or ""
        archive = f"{keys.model_prefix(training['trainId'])}{job}/output/model.tar.gz"
        try:
            data = store.get_bytes(archive)
        except ObjectNotFound:
            raise NotFound(
                f"training {training['trainId']} has no model: neither {keys.model_key(training['trainId'])} nor "
                f"{archive}"
            ) from None
        wanted = {
            keys.MODEL_FILE: keys.model_key(training["trainId"]),
            keys.CARD_FILE: keys.model_card_key(training["trainId"]),
        }
        found: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise BadRequest(f"{archive} lacks {missing}")
        store.put_bytes(wanted[keys.MODEL_FILE], found[keys.MODEL_FILE])
        store.put_bytes(wanted[keys.CARD_FILE], found[keys.CARD_FILE], content_type="application/json")

    @api(TrainIdRequest)
    def completeEmbedding(self, request: TrainIdRequest) -> dict:
        """After the embedding-compute workflow: count embedded images per plate, record it."""
        configuration = self._configuration
        training = configuration.training(request.trainId)
        embedding = configuration.embedding(training["embeddingName"])
        management = self.ctx.image_management
        plates = management.plates_for_embedding(embedding)
        counts = [
            {"plateId": p["plateId"], "images": len(management.plate_train_rows(p["plateId"], request.trainId))}
            for p in plates
        ]
        missing = [
            p["plateId"]
            for p in plates
            if not self.ctx.stores.data.exists(keys.plate_embeddings_key(request.trainId, p["plateId"]))
        ]
        if missing:
            raise BadRequest(f"plates {missing[:5]} have no embeddings for training {request.trainId}")
        total = sum(c["images"] for c in counts)
        configuration.update(
            request.trainId, {"status": "embedded", "embeddingStatus": f"{total} images on {len(counts)} plates"}
        )
        self._log(training, f"embeddings complete: {total} images on {len(counts)} plates")
        return {"trainId": request.trainId, "plates": counts, "images": total}


def _text(value: Any) -> str:
    """SageMaker hyperparameters are strings; booleans in the lower-case form the script parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


__all__ = ["TrainService", "compound_of"]
