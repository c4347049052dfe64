"""Container jobs by name: the function that does the work, the same on both backends.

AWS Batch runs `batch_jobs/<job>.py`, whose main() parses the job parameters and calls the
function below; the local runner calls it directly in a worker process. Each function takes
(context, **params) with string parameters and returns a small JSON-able summary. Jobs are
idempotent: complete outputs are skipped, so a retry or a re-run does only the missing work.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

JOBS: dict[str, str] = {
    "plate-preprocessing": "bioims.imaging.jobs:plate_preprocessing",
    "image-preprocessing": "bioims.imaging.jobs:image_preprocessing",
    "embedding-compute": "bioims.features.jobs:embedding_compute",  # networks go on to bioims.learning.jobs
}

# Parameters of each job (the Batch job definition declares them; the entry point parses them).
JOB_PARAMETERS: dict[str, tuple[str, ...]] = {
    "plate-preprocessing": ("plateId",),
    "image-preprocessing": ("imageId", "embeddingName", "plateId"),
    "embedding-compute": ("trainId", "plateId"),
}


class UnknownJob(KeyError):
    pass


def job_function(job: str) -> Callable[..., dict[str, Any]]:
    if job not in JOBS:
        raise UnknownJob(f"unknown job {job!r}; known: {', '.join(sorted(JOBS))}")
    module_name, attribute = JOBS[job].split(":")
    return getattr(importlib.import_module(module_name), attribute)


def run_job(job: str, context, params: dict[str, Any]) -> dict[str, Any]:
    expected = set(JOB_PARAMETERS[job])
    missing = expected - set(params)
    if missing:
        raise ValueError(f"job {job}: missing parameters {sorted(missing)}")
    return job_function(job)(context, **{k: str(params[k]) for k in expected}) or {}


def parse_job_arguments(job: str, argv: list[str]) -> dict[str, str]:
    """`--plateId X --embeddingName Y` -> dict; used by the container entry points."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"bioims-{job}", description=f"bioimage-search {job} job")
    for name in JOB_PARAMETERS[job]:
        parser.add_argument(f"--{name}", required=True)
    # The original's jobs also took --region and --bucket; accept and ignore them (settings say).
    parser.add_argument("--region")
    parser.add_argument("--bucket")
    parser.add_argument("--describeStacks")
    args = parser.parse_args(argv)
    return {name: getattr(args, name) for name in JOB_PARAMETERS[job]}


def container_main(job: str, argv: list[str]) -> int:
    """The body of every Batch container entry point: parse the job's arguments, run the job with
    the settings of the environment, print its JSON summary. Exit code 0 on success, 1 (with a JSON
    error on stderr) when the job failed, so Batch retries it or fails the workflow step."""
    import json
    import sys

    from bioims import context

    params = parse_job_arguments(job, argv)
    try:
        summary = run_job(job, context.get(), params)
    except Exception as exc:  # the job failed: say why
        print(json.dumps({"job": job, "params": params, "error": type(exc).__name__, "message": str(exc)}), file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str, sort_keys=True))
    return 0
