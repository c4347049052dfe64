"""`bioims compat`: what code written for the original needs to find this deployment."""

from __future__ import annotations

import json

import click

from bioims import context as context_module
from bioims.cli.common import UsageError
from bioims.discovery import describe_stacks_document, settings_resolver


@click.group("compat")
def compat_group() -> None:
    """Compatibility with the original bioimage-search (docs/compatibility.md)."""


@compat_group.command("describe-stacks")
@click.option(
    "--out",
    default=None,
    help="Also write the document to s3://BUCKET/KEY (what BioimageSearchResources(params={'bucket', 'key'}) reads).",
)
def describe_stacks(out: str | None) -> None:
    """Print a CloudFormation describe_stacks document with the original's stack names and
    output keys, pointing at this deployment's Lambdas, Batch queues and job definitions."""
    if out is not None and (not out.startswith("s3://") or "/" not in out[5:] or out.endswith("/")):
        raise UsageError(f"--out must be s3://BUCKET/KEY, not {out!r}")
    ctx = context_module.get()
    document = describe_stacks_document(settings_resolver(ctx.settings))
    text = json.dumps(document, indent=1)
    if out is not None:
        bucket, key = out[5:].split("/", 1)
        ctx.stores.aws_client("s3").put_object(
            Bucket=bucket, Key=key, Body=text.encode(), ContentType="application/json"
        )
    click.echo(text)
