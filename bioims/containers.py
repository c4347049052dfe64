"""The body of every Batch container entry point (batch_jobs/*.py): parse the job's arguments, run
the job (bioims.workflows.jobs) with the context of the environment, print its JSON summary.

It sits beside the composition root (bioims.context), which it needs; the job table below it
does not.
"""

from __future__ import annotations

import json
import sys

from bioims import context
from bioims.workflows.jobs import parse_job_arguments, run_job


def container_main(job: str, argv: list[str]) -> int:
    """Exit code 0 on success, 1 (with a JSON error on stderr) when the job failed, so Batch
    retries it or fails the workflow step."""
    params = parse_job_arguments(job, argv)
    try:
        summary = run_job(job, context.get(), params)
    except Exception as exc:  # the job failed: say why
        print(
            json.dumps({"job": job, "params": params, "error": type(exc).__name__, "message": str(exc)}),
            file=sys.stderr,
        )
        return 1
    print(json.dumps(summary, default=str, sort_keys=True))
    return 0
