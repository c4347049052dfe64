"""The BBBC021 walkthrough: every step of the pipeline, in order, resumable (docs/original.md §7.5 as one
command). Each step goes through the same services and workflows a user would call, so it runs on
the local backend and, with BIOIMS_BACKEND=aws, against a deployed stack.

Steps: data (synthetic plates or a real copy) -> configure -> embedding -> ingest (labels, tags,
plate uploads with inspection and thumbnails, filter lists) -> process plates (flat fields, ROIs)
-> baseline training -> baseline embeddings -> search index and tags -> leave-one-compound-out
trainings -> their embeddings -> the untrained copy -> CellProfiler features (no training) -> field-statistics baseline
-> evaluation report (every method side by side) -> an example search.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from bioims import client, keys
from bioims import context as context_module
from bioims.clients import ClientError
from bioims.learning.progress import describe_progress, parse_progress
from bioims.runtime.ports import Observer
from bioims.walkthrough.options import WalkthroughError, WalkthroughOptions
from bioims.walkthrough.state import RunState

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
FULL_SIZE = (1024, 1280)


class Reporter:
    """Progress of the walkthrough; the CLI renders it, tests record it."""

    def step_started(self, name: str, description: str) -> None: ...

    def progress(self, done: int, total: int, detail: str = "") -> None: ...

    def note(self, text: str) -> None: ...

    def step_finished(self, name: str, seconds: float, skipped: bool, summary: str) -> None: ...


class _WorkflowProgress(Observer):
    """Forwards the local runner's map progress to the walkthrough's reporter."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def map_progress(self, workflow: str, step: str, done: int, total: int, failed: int) -> None:
        self.reporter.progress(done, total, f"{step}" + (f" ({failed} failed)" if failed else ""))

    def log(self, message: str) -> None:
        report = parse_progress(message)
        if report is None:
            self.reporter.note(message)
            return
        text, done, total = describe_progress(report)
        self.reporter.progress(done, total, text)


def default_hyperparameters(options: WalkthroughOptions) -> dict:
    """Training settings sized for a 2-core machine without a GPU (overridable)."""
    base = {"epochs": 5, "minibatches_per_epoch": 50, "input_norm": "dataset", "seed": options.seed}
    base.update(options.hyperparameters)
    return base


class Walkthrough:
    def __init__(self, options: WalkthroughOptions, reporter: Reporter | None = None, context=None):
        self.options = options
        self.reporter = reporter or Reporter()
        self.ctx = context or context_module.get()
        self.state = RunState(self.ctx.settings.home / "walkthrough" / "state.json")
        self.local = self.ctx.settings.backend == "local"
        if self.local:
            self.ctx.runtime.observer = _WorkflowProgress(self.reporter)
        self.timings: dict[str, float] = {}

    # --- plumbing ----------------------------------------------------------------------------------
    def _step(
        self, name: str, description: str, inputs: dict, work: Callable[[], dict], summary: Callable[[dict], str]
    ) -> dict:
        done = self.state.finished(name, inputs)
        if done is not None:
            self.timings[name] = self.state.seconds(name) or 0.0
            self.reporter.step_finished(name, 0.0, True, summary(done))
            return done
        self.reporter.step_started(name, description)
        started = time.perf_counter()
        outputs = work()
        seconds = time.perf_counter() - started
        self.state.record(name, inputs, outputs, seconds)
        self.timings[name] = seconds
        self.reporter.step_finished(name, seconds, False, summary(outputs))
        return outputs

    def _await(self, result: dict, what: str) -> dict:
        """Wait for a workflow execution (locally the call already waited); fail with its cause."""
        status = result.get("status")
        arn = result.get("executionArn")
        waited = 0
        while status not in TERMINAL:
            if not arn:
                raise WalkthroughError(f"{what}: no execution to wait for ({result})")
            time.sleep(self.options.poll_seconds)
            waited += 1
            described = client("process-plate", self.ctx).describeExecution(arn)
            status = described["status"]
            result = {**result, **{k: described.get(k) for k in ("status", "error", "cause")}}
            self.reporter.progress(waited, 0, f"{what}: {status}")
        if status != "SUCCEEDED":
            described = client("process-plate", self.ctx).describeExecution(arn) if arn else result
            raise WalkthroughError(f"{what} ended {status}: {described.get('error')}: {described.get('cause')}")
        return result

    # --- steps ---------------------------------------------------------------------------------------
    def data(self) -> dict:
        o = self.options

        def work() -> dict:
            from bioims.bbbc021.design import load_design, load_design_from_dir

            if not o.synthetic:
                assert o.bbbc021_dir is not None  # not synthetic: a copy was named
                root = Path(o.bbbc021_dir).resolve()
                design = load_design_from_dir(root)
                present = [p for p in design.plates if (root / p).is_dir()]
                plates = list(o.plates) or present
                if not plates:
                    raise WalkthroughError(f"no plate directories found in {root}")
                return {
                    "root": str(root),
                    "plates": plates,
                    "height": FULL_SIZE[0],
                    "width": FULL_SIZE[1],
                    "synthetic": False,
                }
            from bioims.bbbc021.synthetic.generate import generate
            from bioims.bbbc021.synthetic.model import SynthConfig

            design = load_design()
            plates = list(o.plates) or list(design.select_plates(o.n_plates))
            root = Path(o.synthetic_dir or self.ctx.settings.home / "bbbc021-synthetic").resolve()
            config = SynthConfig(
                seed=o.seed, height=o.height, width=o.width, fields_per_well=o.fields_per_well, cell_scale=o.cell_scale
            )
            workers = max(1, min(4, os.cpu_count() or 1))
            report = generate(
                root, config, plates, workers=workers, progress=lambda d, t: self.reporter.progress(d, t, "fields")
            )
            return {
                "root": str(root),
                "plates": plates,
                "height": o.height,
                "width": o.width,
                "synthetic": True,
                "fields": report.fields_total,
            }

        inputs = {
            k: v
            for k, v in o.describe().items()
            if k
            in (
                "bbbc021_dir",
                "synthetic_dir",
                "plates",
                "n_plates",
                "fields_per_well",
                "height",
                "width",
                "cell_scale",
                "seed",
            )
        }
        return self._step(
            "data",
            "BBBC021 plates" + (" (synthetic)" if o.synthetic else ""),
            inputs,
            work,
            lambda out: f"{len(out['plates'])} plates in {out['root']}",
        )

    def configure(self, data: dict) -> dict:
        o = self.options

        def work() -> dict:
            if data["synthetic"]:
                from bioims.bbbc021.synthetic.model import SynthConfig, recommended_roi

                roi, min_voxels = recommended_roi(
                    SynthConfig(
                        seed=o.seed,
                        height=o.height,
                        width=o.width,
                        fields_per_well=o.fields_per_well,
                        cell_scale=o.cell_scale,
                    )
                )
            else:
                roi, min_voxels = 128, 200
            configuration = client("configuration", self.ctx)
            values = {
                "image-preprocessing-roi-size": str(roi),
                "image-preprocessing-min-voxels": str(min_voxels),
                "image-preprocessing-segmentation-channel": "dapi",
                "default-image-artifact-sizes": "100,1000",
                "default-image-artifact-keys": "thumbnail-2d.png,medium-2d.png",
            }
            for key, value in values.items():
                configuration.setParameter(key, value)
            return {"roiSize": roi, "minVoxels": min_voxels}

        return self._step(
            "configure",
            "configuration (ROI size, nucleus size, thumbnails)",
            {"data": data},
            work,
            lambda out: f"ROI {out['roiSize']} px, nuclei >= {out['minVoxels']} px",
        )

    def embedding(self, data: dict, config: dict) -> dict:
        o = self.options
        wanted = {
            "embeddingName": o.embedding_name,
            "inputWidth": data["width"],
            "inputHeight": data["height"],
            "inputDepth": 1,
            "inputChannels": 3,
            "roiWidth": config["roiSize"],
            "roiHeight": config["roiSize"],
            "minVoxels": config["minVoxels"],
            "segmentationChannel": "dapi",
            "network": o.network,
            "trainingHyperparameters": default_hyperparameters(o),
            "comments": "created by bioims walkthrough",
        }

        def work() -> dict:
            configuration = client("training-configuration", self.ctx)
            try:
                configuration.createEmbedding(wanted)
            except ClientError as exc:
                if exc.status != 409:
                    raise
                existing = configuration.getEmbeddingInfo(o.embedding_name)
                different = sorted(k for k, v in wanted.items() if k != "comments" and existing.get(k) != v)
                if different:
                    raise WalkthroughError(
                        f"embedding {o.embedding_name!r} already exists with other settings ({', '.join(different)}); "
                        "use another --embedding-name or a fresh BIOIMS_HOME"
                    ) from None
            return {"embeddingName": o.embedding_name, "network": o.network}

        return self._step(
            "embedding",
            f"embedding configuration {o.embedding_name!r}",
            wanted,
            work,
            lambda out: f"{out['embeddingName']} ({out['network']})",
        )

    def ingest(self, data: dict, embedding: dict) -> dict:
        o = self.options
        reporter = self.reporter

        class _Progress:
            def stage(self, name: str, total: int | None = None) -> None:
                self.name, self.total, self.done = name, total or 0, 0
                reporter.progress(0, self.total, name)

            def advance(self, name: str, n: int = 1) -> None:
                self.done += n
                reporter.progress(self.done, self.total, name)

            def note(self, message: str) -> None:
                reporter.note(message)

        def work() -> dict:
            from bioims.bbbc021.ingest import ingest

            source_bucket, source_key = None, ""
            if not self.local:
                source_bucket, source_key = self._stage_images(data), o.source_prefix
            report = ingest(
                data["root"],
                data["plates"],
                mode=o.label_mode,
                embedding=embedding["embeddingName"],
                context=self.ctx,
                progress=_Progress(),
                wait=True,
                source_bucket=source_bucket,
                source_key=source_key,
            )
            if report.failed:
                raise WalkthroughError("ingest failed for " + "; ".join(f"{p.plate}: {p.error}" for p in report.failed))
            self._await_uploads([p.plate_id for p in report.plates])
            return {
                "plateIds": {p.plate: p.plate_id for p in report.plates},
                "images": sum(p.images for p in report.plates),
                "filterLists": report.filters,
                "tags": report.tags,
            }

        return self._step(
            "ingest",
            "labels, tags, plate uploads (inspection, thumbnails), filter lists",
            {"data": data, "embedding": embedding, "labelMode": o.label_mode},
            work,
            lambda out: (
                f"{len(out['plateIds'])} plates, {out['images']} images, {len(out['filterLists'])} filter lists"
            ),
        )

    def _stage_images(self, data: dict) -> str:
        """AWS: the services read images from S3, so copy the plates' files (same layout) into the
        resource bucket under `source_prefix`; files already there with the same size are kept."""
        store = self.ctx.stores.resource_bucket
        root = Path(data["root"])
        files = [path for plate in data["plates"] for path in sorted((root / plate).glob("*")) if path.is_file()]
        present = {info.key: info.size for info in store.list(self.options.source_prefix)}
        for index, path in enumerate(files):
            key = self.options.source_prefix + path.relative_to(root).as_posix()
            if present.get(key) != path.stat().st_size:
                store.put_file(key, str(path))
            self.reporter.progress(index + 1, len(files), "staging images in S3")
        return store.bucket

    def _await_uploads(self, plate_ids: list[str]) -> None:
        """On AWS the upload workflows run on after ingest returns: wait until every plate is
        validated (inspection done), or fail naming the plate."""
        if self.local:
            return
        management = client("image-management", self.ctx)
        pending = set(plate_ids)
        waited = 0
        while pending:
            for plate_id in sorted(pending):
                status = management.getPlateImageStatus(plate_id)
                if status.get("UNDEFINED", 0) == 0 and status.get("PREVALIDATION", 0) == 0:
                    plate = management.getPlateInfo(plate_id)
                    if plate.get("searchReady") in ("VALIDATED", "ERROR"):
                        if plate["searchReady"] == "ERROR":
                            raise WalkthroughError(
                                f"plate {plate.get('plateSourceId')} did not validate: {plate.get('validationMessage')}"
                            )
                        pending.discard(plate_id)
            self.reporter.progress(len(plate_ids) - len(pending), len(plate_ids), "upload workflows")
            if pending:
                waited += 1
                if waited * self.options.poll_seconds > 6 * 3600:
                    raise WalkthroughError(f"uploads of {len(pending)} plates did not finish in 6 hours")
                time.sleep(self.options.poll_seconds)

    def process(self, ingested: dict, embedding: dict) -> dict:
        def work() -> dict:
            processing = client("process-plate", self.ctx)
            management = client("image-management", self.ctx)
            plates = sorted(ingested["plateIds"].items())
            counts = {"done": 0, "failed": 0, "rois": 0}
            failures: list[str] = []
            for index, (name, plate_id) in enumerate(plates):
                self.reporter.note(f"plate {index + 1}/{len(plates)}: {name}")
                self._await(
                    processing.processPlate(plate_id, embedding["embeddingName"]), f"processing of plate {name}"
                )
                for row in management.getImagesByPlateId(plate_id):
                    status = row.get(f"roiStatus#{embedding['embeddingName']}") or {}
                    if status.get("status") == "DONE":
                        counts["done"] += 1
                        counts["rois"] += int(status.get("roiCount", 0))
                    elif status.get("status") == "FAILED":
                        counts["failed"] += 1
                        failures.append(f"{row.get('imageSourceId')}: {status.get('error')}")
            return {**counts, "failures": failures[:20]}

        return self._step(
            "process",
            "flat fields, normalisation, nuclei, ROIs",
            {"ingested": ingested, "embedding": embedding},
            work,
            lambda out: f"{out['done']} images, {out['rois']} ROIs, {out['failed']} failed",
        )

    def _ensure_trained(self, train_id: str, label: str) -> None:
        train = client("train", self.ctx)
        status = train.call("getTrainingStatus", trainId=train_id)
        if status.get("state") in ("trained", "embedded", "embedding"):
            return
        result = train.call("resumeTraining", trainId=train_id, wait=True)
        self._await(result, f"training {label}")

    def train_baseline(self, processed: dict, embedding: dict) -> dict:
        def work() -> dict:
            train = client("train", self.ctx)
            existing = [
                t
                for t in train.call("listTrainings", embeddingName=embedding["embeddingName"])["trainings"]
                if not t.get("filterKey") and t.get("kind") in (None, "network")
            ]
            if existing:
                train_id = existing[0]["trainId"]
                self._ensure_trained(train_id, "baseline")
            else:
                result = train.call(
                    "train", embeddingName=embedding["embeddingName"], description="walkthrough baseline", wait=True
                )
                train_id = result["trainId"]
                self._await(result, "baseline training")
            status = train.call("getTrainingStatus", trainId=train_id)
            # the analysis notebooks default to this training
            client("configuration", self.ctx).setDefaultTrainId(train_id)
            return {"trainId": train_id, "summary": status.get("trainingSummary", {}), "rois": status.get("roiCount")}

        return self._step(
            "train-baseline",
            "baseline training (all compounds)",
            {"processed": processed, "embedding": embedding},
            work,
            lambda out: (
                f"trainId {out['trainId']}, {out['summary'].get('epochsCompleted', '?')} epochs, "
                f"validation {out['summary'].get('validationMetric', '')} {out['summary'].get('validationBest', '')}"
            ),
        )

    def _embed(self, train_id: str, label: str) -> dict:
        embedding = client("embedding", self.ctx)
        status = embedding.call("getEmbeddingStatus", trainId=train_id)
        if not status.get("complete"):
            self._await(embedding.call("startComputeEmbedding", trainId=train_id, wait=True), f"embeddings of {label}")
            status = embedding.call("getEmbeddingStatus", trainId=train_id)
        return {**status, "images": sum(int(p.get("embeddedImages", 0)) for p in status.get("plates", []))}

    def embed_baseline(self, trained: dict) -> dict:
        def work() -> dict:
            status = self._embed(trained["trainId"], "the baseline")
            return {"trainId": trained["trainId"], "images": status["images"]}

        return self._step(
            "embed-baseline",
            "embeddings of every image with the baseline model",
            {"trained": trained},
            work,
            lambda out: f"{out['images']} image embeddings",
        )

    def search_index(self, embedded: dict, embedding: dict) -> dict:
        def work() -> dict:
            search = client("search", self.ctx)
            self._await(search.startTrainingLoad(embedded["trainId"]), "search index load")
            self._await(search.startTagLoad(embedding["embeddingName"]), "search tag load")
            search.loadTagLabelMap()
            return {"trainId": embedded["trainId"]}

        return self._step(
            "search",
            "search index and tags",
            {"embedded": embedded, "embedding": embedding},
            work,
            lambda out: f"training {out['trainId']} loaded",
        )

    def nsc_compounds(self, ingested: dict) -> list[str]:
        """The compounds to leave out: annotated compounds with labelled images on the ingested
        plates (DMSO excepted), MOAs taken in turn so the models cover as many MOAs as possible."""
        management = client("image-management", self.ctx)
        moa_of: dict[str, str] = {}
        for plate_id in sorted(ingested["plateIds"].values()):
            for row in management.getImagesByPlateId(plate_id):
                compound = row.get("trainSubclass")
                if row.get("trainLabel") and compound and compound != "DMSO":
                    moa_of[keys.normalize_label(compound)] = row["trainLabel"]
        by_moa: dict[str, list[str]] = {}
        for label in sorted(set(moa_of) & set(ingested["filterLists"])):
            by_moa.setdefault(moa_of[label], []).append(label)
        order: list[str] = []
        while any(by_moa.values()):
            for moa in sorted(by_moa):
                if by_moa[moa]:
                    order.append(by_moa[moa].pop(0))
        return order[: self.options.nsc_count(len(order))]

    def train_nsc(self, ingested: dict, baseline: dict, embedding: dict) -> dict:
        compounds = self.nsc_compounds(ingested)

        def work() -> dict:
            train = client("train", self.ctx)
            trainings: dict[str, str] = {}
            for index, compound in enumerate(compounds):
                self.reporter.progress(index, len(compounds), f"leave out {compound}")
                result = train.call(
                    "trainLeaveOneCompoundOut",
                    embeddingName=embedding["embeddingName"],
                    compounds=[compound],
                    wait=True,
                )
                entry = result["trainings"][0]
                trainings[compound] = entry["trainId"]
                if entry.get("status") not in (None, "SUCCEEDED"):
                    self._await(entry, f"training without {compound}")
                self._ensure_trained(entry["trainId"], f"without {compound}")
            self.reporter.progress(len(compounds), len(compounds), "done")
            return {"trainings": trainings}

        return self._step(
            "train-nsc",
            f"leave-one-compound-out trainings ({len(compounds)})",
            {"compounds": compounds, "baseline": baseline, "embedding": embedding},
            work,
            lambda out: f"{len(out['trainings'])} trainings",
        )

    def embed_nsc(self, nsc: dict) -> dict:
        def work() -> dict:
            images = {}
            for index, (compound, train_id) in enumerate(sorted(nsc["trainings"].items())):
                self.reporter.note(f"embeddings without {compound} ({index + 1}/{len(nsc['trainings'])})")
                status = self._embed(train_id, f"the model without {compound}")
                images[compound] = status["images"]
            return {"images": images}

        return self._step(
            "embed-nsc",
            "embeddings with each leave-one-compound-out model",
            {"nsc": nsc},
            work,
            lambda out: f"{len(out['images'])} models embedded",
        )

    def untrained(self, processed: dict, embedding: dict) -> dict:
        """The baseline network at its seeded initial weights, through the same training job, and
        its embeddings: what training is measured against."""

        def work() -> dict:
            train = client("train", self.ctx)
            existing = [
                t
                for t in train.call("listTrainings", embeddingName=embedding["embeddingName"])["trainings"]
                if t.get("kind") == "untrained"
            ]
            if existing:
                train_id = existing[0]["trainId"]
                self._ensure_trained(train_id, "untrained copy")
            else:
                result = train.call(
                    "train",
                    embeddingName=embedding["embeddingName"],
                    description="walkthrough untrained copy",
                    untrained=True,
                    wait=True,
                )
                train_id = result["trainId"]
                self._await(result, "untrained copy")
            status = self._embed(train_id, "the untrained copy")
            return {"trainId": train_id, "images": status["images"]}

        return self._step(
            "untrained",
            "the baseline network untrained (seeded initial weights) and its embeddings",
            {"processed": processed, "embedding": embedding},
            work,
            lambda out: f"trainId {out['trainId']}, {out['images']} image embeddings",
        )

    def embed_cellprofiler(self, processed: dict, embedding: dict) -> dict:
        train_id = f"{embedding['embeddingName']}-cellprofiler"

        def work() -> dict:
            from bioims.features.cellprofiler import cp_measure_version

            if self.local and cp_measure_version() is None:  # on AWS the Batch job's image has it
                return {
                    "trainId": None,
                    "images": 0,
                    "skipped": "cp-measure is not installed: pip install -e '.[cellprofiler]'",
                }
            client("embedding", self.ctx).call(
                "createFeatureTraining", trainId=train_id, embeddingName=embedding["embeddingName"]
            )
            status = self._embed(train_id, "CellProfiler features")
            return {"trainId": train_id, "images": status["images"]}

        return self._step(
            "embed-cellprofiler",
            "CellProfiler features of every ROI (cp-measure, no training)",
            {"processed": processed, "embedding": embedding},
            work,
            lambda out: out.get("skipped") or f"trainId {out['trainId']}, {out['images']} image profiles",
        )

    def field_statistics(self, ingested: dict) -> dict:
        path = Path(self.options.out).resolve() / "field-statistics.parquet"

        def work() -> dict:
            from bioims.bbbc021.annotations import bbbc021_annotations
            from bioims.jobs.fieldstats import field_statistics_profiles
            from bioims.profiling import write_profiles

            table = field_statistics_profiles(self.ctx, sorted(ingested["plateIds"].values()), bbbc021_annotations())
            write_profiles(table, path)
            return {"path": str(path), "images": len(table)}

        return self._step(
            "field-statistics",
            "field-statistics baseline (per-field intensity and texture, no cells, no learning)",
            {"ingested": ingested, "path": str(path)},
            work,
            lambda out: f"{out['images']} image profiles",
        )

    def evaluate(self, baseline: dict, nsc: dict, compared: tuple[dict, ...] = ()) -> dict:
        out_dir = Path(self.options.out).resolve() / "report"

        def work() -> dict:
            from bioims.bbbc021.annotations import bbbc021_annotations
            from bioims.profiling import read_profiles
            from bioims.reports.training import report_training

            fields = [c for c in compared if "path" in c]
            summary, paths = report_training(
                baseline["trainId"],
                out_dir,
                annotations=bbbc021_annotations(),
                left_out=bool(nsc["trainings"]),
                context=self.ctx,
                baseline=read_profiles(fields[0]["path"]) if fields else None,
            )
            keep = (
                "level",
                "n_queries",
                "nsc",
                "nscb",
                "nsc_left_out",
                "nscb_left_out",
                "map",
                "compound_vote",
                "left_out_trainings",
                "methods",
                "methods_level",
                "methods_images",
                "notes",
            )
            return {
                "metrics": {k: summary.get(k) for k in keep if k in summary},
                "report": str(paths["report"]),
                "dir": str(out_dir),
            }

        return self._step(
            "evaluate",
            "NSC, NSCB, mAP, compound vote, every method side by side, figures",
            {"baseline": baseline, "nsc": nsc, "compared": list(compared), "out": str(out_dir)},
            work,
            lambda out: _metric_line(out["metrics"]),
        )

    def example_search(self, ingested: dict, baseline: dict, searched: dict) -> dict:
        def work() -> dict:
            settle = 0.0 if self.local else max(60.0, 6 * self.options.poll_seconds)
            return example_search(
                self.ctx,
                baseline["trainId"],
                ingested,
                self.options.example_hits,
                settle_seconds=settle,
                poll_seconds=self.options.poll_seconds,
            )

        return self._step(
            "example-search",
            "an example search",
            {"baseline": baseline, "searched": searched, "k": self.options.example_hits},
            work,
            lambda out: f"query {out['query']['imageSourceId']} ({out['query']['compound']}), {len(out['hits'])} hits",
        )

    # --- the whole run ---------------------------------------------------------------------------------
    def run(self) -> dict:
        started = time.perf_counter()
        data = self.data()
        config = self.configure(data)
        embedding = self.embedding(data, config)
        ingested = self.ingest(data, embedding)
        processed = self.process(ingested, embedding)
        baseline = self.train_baseline(processed, embedding)
        embedded = self.embed_baseline(baseline)
        searched = self.search_index(embedded, embedding)
        nsc = self.train_nsc(ingested, baseline, embedding)
        self.embed_nsc(nsc)
        untrained = self.untrained(processed, embedding)
        features = self.embed_cellprofiler(processed, embedding)
        fields = self.field_statistics(ingested)
        evaluation = self.evaluate(baseline, nsc, (untrained, features, fields))
        example = self.example_search(ingested, baseline, searched)
        summary = {
            "backend": self.ctx.settings.backend,
            "options": self.options.describe(),
            "plates": len(ingested["plateIds"]),
            "images": ingested["images"],
            "processed": {k: processed[k] for k in ("done", "failed", "rois")},
            "baselineTrainId": baseline["trainId"],
            "training": baseline["summary"],
            "nscTrainings": nsc["trainings"],
            "untrainedTrainId": untrained["trainId"],
            "cellprofilerTrainId": features["trainId"],
            "metrics": evaluation["metrics"],
            "report": evaluation["report"],
            "exampleSearch": example,
            "stepSeconds": {k: round(v, 1) for k, v in self.timings.items()},
            "wallSeconds": round(time.perf_counter() - started, 1),
        }
        out = Path(self.options.out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        (out / "walkthrough-summary.json").write_text(json.dumps(summary, indent=1, default=str))
        summary["summaryFile"] = str(out / "walkthrough-summary.json")
        return summary


def _metric_line(metrics: dict) -> str:
    parts = []
    for name in ("nsc", "nscb", "nsc_left_out", "compound_vote"):
        block = metrics.get(name)
        if block:
            chance = f", chance {block['chance']:.2f}" if block.get("chance") is not None else ""
            parts.append(f"{name} {block['correct']}/{block['total']} ({block['accuracy']:.2f}{chance})")
    if metrics.get("map") is not None:
        parts.append(f"mAP {metrics['map']:.2f}")
    return ", ".join(parts) or "no metric computable"


def example_search(
    ctx, train_id: str, ingested: dict, k: int, *, settle_seconds: float = 0.0, poll_seconds: float = 1.0
) -> dict:
    """Search the neighbours of one image of an annotated compound among other compounds with a
    known MOA (the query's own compound and DMSO excluded), as the MOA analysis does.

    On AWS the search service applies index and tag loads from its queue after the load workflows
    end, so an empty answer is asked again for up to `settle_seconds` before it is reported."""
    management = client("image-management", ctx)
    tags = client("tag", ctx)
    candidates = []
    for plate_id in sorted(ingested["plateIds"].values()):
        rows = {r["imageId"]: r for r in management.getImagesByPlateId(plate_id)}
        for trained in management.getImagesByPlateIdAndTrainId(plate_id, train_id):
            row = rows.get(trained["imageId"])
            if row and row.get("trainLabel") and row.get("trainSubclass") not in (None, "DMSO"):
                candidates.append(row)
    if not candidates:
        raise WalkthroughError("no embedded image of an annotated compound to search with")
    query = sorted(candidates, key=lambda r: (r["trainSubclass"], r["imageSourceId"]))[0]
    exclude = []
    for compound in (query["trainSubclass"], "DMSO"):
        try:
            exclude.append(tags.getTagByValue(f"compound:{keys.normalize_label(compound)}")["id"])
        except Exception:  # a missing tag only widens the search
            pass
    search = client("search", ctx)
    deadline = time.monotonic() + settle_seconds
    while True:
        result = search.searchByImageId(
            train_id, query["imageId"], maxHits=k, requireMoa=True, exclusionTags=exclude, metric="Cosine"
        )
        if result.get("hits") or time.monotonic() >= deadline:
            break
        time.sleep(poll_seconds)
    hits = []
    for hit in result.get("hits", []):
        row = management.getImageInfo(hit["imageId"])
        metadata = row.get("metadata") or {}
        hits.append(
            {
                "rank": hit["rank"],
                "imageSourceId": row.get("imageSourceId"),
                "plate": row.get("plateSourceId"),
                "well": row.get("wellSourceId"),
                "compound": row.get("trainSubclass") or metadata.get("compound"),
                "concentration": metadata.get("concentration"),
                "moa": row.get("trainLabel") or "",
                "distance": hit["distance"],
            }
        )
    metadata = query.get("metadata") or {}
    return {
        "query": {
            "imageId": query["imageId"],
            "imageSourceId": query["imageSourceId"],
            "compound": query["trainSubclass"],
            "concentration": metadata.get("concentration"),
            "moa": query.get("trainLabel"),
        },
        "hits": hits,
        "sameMoa": sum(1 for h in hits if h["moa"] == query.get("trainLabel")),
    }


def run_walkthrough(options: WalkthroughOptions, reporter: Reporter | None = None, context=None) -> dict:
    return Walkthrough(options, reporter, context).run()
