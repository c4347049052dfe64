"""Container jobs by name: the function that does the work, the same on both backends.

AWS Batch runs `batch_jobs/<job>.py`, whose main() parses the job parameters and calls the
function below; the local runner calls it directly in a worker process. Each function takes
(context, **params) with string parameters and returns a small JSON-able summary. Jobs are
idempotent: complete outputs are skipped, so a retry or a re-run does only the missing work.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    """Where a job's function lives ("module:function") and the parameters it takes."""

    target: str
    parameters: tuple[str, ...]


# The one table of container jobs. Functions are named by string so that a container imports
# only its own job's code (the imaging images have no torch); tests/unit/test_registries.py
# resolves every entry. The Batch job definitions declare the parameters; entry points parse them.
JOBS: dict[str, JobSpec] = {
    "plate-preprocessing": JobSpec("bioims.jobs.flatfields:plate_preprocessing", ("plateId",)),
    "image-preprocessing": JobSpec("bioims.jobs.rois:image_preprocessing", ("imageId", "embeddingName", "plateId")),
    "embedding-compute": JobSpec("bioims.jobs.embeddings:embedding_compute", ("trainId", "plateId")),
}

JOB_PARAMETERS: dict[str, tuple[str, ...]] = {name: spec.parameters for name, spec in JOBS.items()}


class UnknownJob(KeyError):
    pass


def job_function(job: str) -> Callable[..., dict[str, Any]]:
    if job not in JOBS:
        raise UnknownJob(f"unknown job {job!r}; known: {', '.join(sorted(JOBS))}")
    module_name, attribute = JOBS[job].target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def run_job(job: str, context, params: dict[str, Any]) -> dict[str, Any]:
    expected = set(JOB_PARAMETERS[job])
    missing = expected - set(params)
    if missing:
        raise ValueError(f"job {job}: missing parameters {sorted(missing)}")
    return job_function(job)(context, **{k: str(params[k]) for k in expected}) or {}


def parse_job_arguments(job: str, argv: list[str]) -> dict[str, str]:
    """`--plateId X --embeddingName Y` -> dict; used by the container entry points."""
    parser = argparse.ArgumentParser(prog=f"bioims-{job}", description=f"bioimage-search {job} job")
    for name in JOB_PARAMETERS[job]:
        parser.add_argument(f"--{name}", required=True)
    # The original's jobs also took --region and --bucket; accept and ignore them (settings say).
    parser.add_argument("--region")
    parser.add_argument("--bucket")
    parser.add_argument("--describeStacks")
    args = parser.parse_args(argv)
    return {name: getattr(args, name) for name in JOB_PARAMETERS[job]}
