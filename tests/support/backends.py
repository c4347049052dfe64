"""Contexts for tests: a local backend in a temporary directory, and an aws backend on moto.

Both build their stores through the production factory (bioims.store.Stores) from Settings, so a
test that passes on both exercises the real adapters. The moto backend creates tables from
bioims.tables specs, the two buckets and FIFO queues, the way the CDK app deploys them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from bioims import context as context_module
from bioims import resources
from bioims.config import Settings
from bioims.context import Context
from bioims.store import Stores
from bioims.tables import ALL_TABLES

DATA_BUCKET = "test-bioims-data"
RESOURCE_BUCKET = "test-bioims-resource"


def local_context(home: Path, *, memory_queues: bool = False) -> Context:
    settings = Settings(backend="local", home=Path(home))
    return Context(settings, Stores(settings, memory_queues=memory_queues))


@contextlib.contextmanager
def moto_context(home: Path) -> Iterator[Context]:
    """A Context whose tables, buckets and queues live in moto (DynamoDB, S3, SQS)."""
    import boto3
    from moto import mock_aws

    from bioims.store.dynamodb_table import create_table

    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN")
    }
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_SESSION_TOKEN": "testing",
        }
    )
    try:
        # Lambda invokes go to moto's simple backend (no Docker); tests dispatch them in-process.
        with mock_aws(config={"lambda": {"use_docker": False}, "batch": {"use_docker": False}}):
            region = "us-east-1"
            dynamodb = boto3.client("dynamodb", region_name=region)
            for spec in ALL_TABLES:
                create_table(dynamodb, spec)
            s3 = boto3.client("s3", region_name=region)
            s3.create_bucket(Bucket=DATA_BUCKET)
            s3.create_bucket(Bucket=RESOURCE_BUCKET)
            sqs = boto3.client("sqs", region_name=region)
            queue_urls = {}
            for slot, name in (
                (resources.SEARCH_QUEUE, "BioimsSearchQueue.fifo"),
                (resources.MANAGEMENT_QUEUE, "BioimsManagementQueue.fifo"),
            ):
                queue_urls[slot] = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
            settings = Settings(
                backend="aws",
                home=Path(home),
                region=region,
                services="inprocess",
                overrides={
                    resources.DATA_BUCKET: DATA_BUCKET,
                    resources.RESOURCE_BUCKET: RESOURCE_BUCKET,
                    **queue_urls,
                },
            )
            yield Context(settings, Stores(settings))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def installed(context: Context) -> Iterator[Context]:
    """Make `context` the process-wide one (what bioims.client() and handlers use)."""
    previous = context_module._current
    context_module.use(context)
    try:
        yield context
    finally:
        context_module.use(previous)
