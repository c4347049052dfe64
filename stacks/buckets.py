"""The deployment's S3 buckets: created by the app, so a deployment needs no hand-made bucket
and no bucket name in the code (docs/original.md §8.1 #1), or imported by name from context.

Created buckets block all public access, accept TLS 1.2+ requests only, are encrypted (SSE-S3),
log server access to a log bucket and abort stale multipart uploads. Imported buckets keep the
settings their owner gave them; the app only grants access to them.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.checkov_skips import skip_check
from stacks.nag import acknowledge
from stacks.settings import DeploymentSettings

MULTIPART_ABORT_DAYS = 7
NONCURRENT_VERSION_DAYS = 30


def _removal(settings: DeploymentSettings) -> dict:
    if settings.retain_data:
        return {"removal_policy": RemovalPolicy.RETAIN}
    return {"removal_policy": RemovalPolicy.DESTROY, "auto_delete_objects": True}


class AccessLogBucket(Construct):
    """Receives the server access logs of the other buckets; logs expire with the log retention."""

    def __init__(self, scope: Construct, construct_id: str, settings: DeploymentSettings) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Resource",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logging requires SSE-S3 targets
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,  # a deleted or overwritten log stays recoverable for a day
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(MULTIPART_ABORT_DAYS),
                )
            ],
            **_removal(settings),
        )
        acknowledge(
            self.bucket,
            "S1",
            "This is the access-log target of the other buckets; logging it into itself would loop.",
        )
        skip_check(
            self.bucket,
            "CKV_AWS_18",
            "This is the access-log target of the other buckets; logging it into itself would loop.",
        )


class SecureBucket(Construct):
    """A private, TLS-only, encrypted bucket that logs access; or an existing bucket by name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: DeploymentSettings,
        *,
        name: str | None = None,
        existing: str | None = None,
        access_logs: s3.IBucket | None = None,
        versioned: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.created = existing is None
        if existing is not None:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "Imported", existing)
            return
        if access_logs is None:
            raise ValueError(f"{construct_id}: a created bucket needs an access-log bucket")
        lifecycle = [s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(MULTIPART_ABORT_DAYS))]
        if versioned:
            lifecycle.append(s3.LifecycleRule(noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS)))
        self.bucket = s3.Bucket(
            self,
            "Resource",  # the construct's own resource: logical ids read <Parent><Id>, e.g. BucketsDataBucket
            bucket_name=name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{construct_id}/",
            versioned=versioned,
            lifecycle_rules=lifecycle,
            **_removal(settings),
        )


class DeploymentBuckets(Construct):
    """Data bucket (system-managed artifacts), resource bucket (user landing zone), source buckets
    (read-only images such as BBBC021) and, when any bucket is created, the access-log bucket."""

    def __init__(self, scope: Construct, construct_id: str, settings: DeploymentSettings) -> None:
        super().__init__(scope, construct_id)
        creates = settings.existing_data_bucket is None or settings.existing_resource_bucket is None
        self.access_logs = AccessLogBucket(self, "AccessLogBucket", settings).bucket if creates else None
        self.data = SecureBucket(
            self,
            "DataBucket",
            settings,
            name=settings.data_bucket_name,
            existing=settings.existing_data_bucket,
            access_logs=self.access_logs,
            versioned=True,  # models, embeddings and index snapshots survive an overwrite or delete
        ).bucket
        self.resource = SecureBucket(
            self,
            "ResourceBucket",
            settings,
            name=settings.resource_bucket_name,
            existing=settings.existing_resource_bucket,
            access_logs=self.access_logs,
            versioned=True,
        ).bucket
        self.sources: tuple[s3.IBucket, ...] = tuple(
            s3.Bucket.from_bucket_name(self, f"Source{i}", name) for i, name in enumerate(settings.source_buckets)
        )
