"""The environment every deployed process (Lambda, Batch job, search task, training job) runs with."""

from __future__ import annotations

from aws_cdk import Aws

from stacks.settings import DeploymentSettings


def runtime_environment(settings: DeploymentSettings) -> dict[str, str]:
    """What every deployed process needs to find the rest: backend, deployment, region; services
    run in-process (each process has the IAM its code needs, stacks/access.py), and a scratch
    home under /tmp (the only writable path in Lambda)."""
    return {
        "BIOIMS_BACKEND": "aws",
        "BIOIMS_DEPLOYMENT": settings.deployment,
        "BIOIMS_REGION": Aws.REGION,
        "BIOIMS_SERVICES": "inprocess",
        "BIOIMS_HOME": "/tmp/bioims",
    }
