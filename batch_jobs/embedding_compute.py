"""Container entry point of the embedding-compute job (AWS Batch; ORIGINAL.md 4.9).

    python -m batch_jobs.embedding_compute --trainId ID --plateId ID [--region R] [--bucket B]

Settings (backend, deployment, region) come from the environment the job definition sets. The
work is bioims.workflows.jobs' "embedding-compute" function (bioims.learning.jobs), the same one
the local runner calls; it is idempotent, so Batch's retry or a re-run only completes what is
missing. Prints the job's JSON summary; exit code 0 on success, 1 (with a JSON error on stderr)
when the job failed.
"""

from __future__ import annotations

import json
import sys

JOB = "embedding-compute"


def main(argv: list[str] | None = None) -> int:
    from bioims import context
    from bioims.workflows.jobs import parse_job_arguments, run_job

    params = parse_job_arguments(JOB, sys.argv[1:] if argv is None else argv)
    try:
        summary = run_job(JOB, context.get(), params)
    except Exception as exc:  # the job failed: say why, let Batch retry or fail the step
        print(json.dumps({"job": JOB, "params": params, "error": type(exc).__name__, "message": str(exc)}), file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
