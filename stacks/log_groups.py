"""CloudWatch log groups with the deployment's retention (never the default "keep forever")."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.checkov_skips import skip_check
from stacks.settings import LOG_RETENTION, DeploymentSettings


def retention(days: int) -> logs.RetentionDays:
    return logs.RetentionDays[LOG_RETENTION[days]]


def log_group(scope: Construct, construct_id: str, settings: DeploymentSettings) -> logs.LogGroup:
    """A log group that expires its events and goes away with its stack (logs are not data)."""
    group = logs.LogGroup(
        scope,
        construct_id,
        retention=retention(settings.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    skip_check(
        group,
        "CKV_AWS_158",
        "CloudWatch Logs encrypts every log group at rest with service-managed keys; these logs hold ids, "
        "timings and errors, no image data, so a customer-managed key per group is not worth its cost.",
    )
    return group
