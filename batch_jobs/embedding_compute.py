"""Container entry point of the embedding-compute job (AWS Batch; docs/original.md §4.9).

    python -m batch_jobs.embedding_compute --trainId ID --plateId ID [--region R] [--bucket B]

Settings (backend, deployment, region) come from the environment the job definition sets. The
work is bioims.workflows.jobs' "embedding-compute" function (bioims.jobs.embeddings), the same one
the local runner calls; it is idempotent, so Batch's retry or a re-run only completes what is
missing. Prints the job's JSON summary; exit code 0 on success, 1 (with a JSON error on stderr)
when the job failed.
"""

from __future__ import annotations

import sys

JOB = "embedding-compute"


def main(argv: list[str] | None = None) -> int:
    from bioims.containers import container_main

    return container_main(JOB, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
