"""Deployment settings of the CDK app, read once from CDK context and validated.

Every tunable fact of the infrastructure (names, sizes, counts) comes from here, so a user changes a
deployment with `cdk deploy -c key=value` (or `cdk.json`) and never by editing a stack. Values given
with `-c` arrive as strings; values in `cdk.json` may be typed; both are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from bioims.ui import DEFAULT_PORT as DEFAULT_UI_PORT

DEPLOYMENT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,30}$")
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
# Fargate's valid (cpu, memory MiB) pairs: memory steps allowed for each cpu size.
FARGATE_MEMORY = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
# FSx for Lustre SCRATCH_2 capacity: 1200 GiB or a multiple of 2400 GiB.
LUSTRE_SCRATCH_SIZES = "1200 or a multiple of 2400"


class ContextError(ValueError):
    """A context value is missing or invalid; the message names the key and the fix."""


@dataclass(frozen=True)
class DeploymentSettings:
    """What a deployment is made of. Field docs are the context keys users set (camelCase)."""

    deployment: str = "bioims"  # stack-name prefix and SSM parameter path /<deployment>/
    account: str | None = None  # account; default CDK_DEFAULT_ACCOUNT or environment-agnostic
    region: str | None = None  # region; default CDK_DEFAULT_REGION or environment-agnostic
    data_bucket_name: str | None = None  # name for the created data bucket (default: generated)
    resource_bucket_name: str | None = None  # name for the created resource bucket
    existing_data_bucket: str | None = None  # use this existing bucket instead of creating one
    existing_resource_bucket: str | None = None  # same for the resource bucket
    source_buckets: tuple[str, ...] = ()  # buckets holding source images, granted read-only
    retain_data: bool = True  # keep tables and buckets when the stacks are destroyed
    max_azs: int = 2  # availability zones of the VPC
    nat_gateways: int = 1  # NAT gateways (1 = cheapest; one per AZ for zone redundancy)
    batch_max_vcpus: int = 256  # per compute environment
    lustre_storage_gib: int = 1200  # FSx for Lustre SCRATCH_2 capacity
    search_cpu: int = 1024  # Fargate CPU units of the search service task
    search_memory_mib: int = 4096  # Fargate memory of the search service task
    search_port: int = 8080  # port of the search service's HTTP API inside the VPC
    ui_port: int = DEFAULT_UI_PORT  # port of the web UI on the search task's loopback (SSM port forwarding)
    enable_training: bool = True  # SageMaker training with FSx for Lustre (the largest idle cost)
    training_image_uri: str | None = None  # SageMaker training image; default built from training/Dockerfile
    log_retention_days: int = 90  # CloudWatch log retention of functions, workflows, services

    @property
    def ssm_prefix(self) -> str:
        return f"/{self.deployment}"

    def stack_name(self, part: str) -> str:
        return f"{self.deployment}-{part}"


_KEYS = {
    "deployment": "deployment",
    "account": "account",
    "region": "region",
    "dataBucketName": "data_bucket_name",
    "resourceBucketName": "resource_bucket_name",
    "existingDataBucket": "existing_data_bucket",
    "existingResourceBucket": "existing_resource_bucket",
    "sourceBuckets": "source_buckets",
    "retainData": "retain_data",
    "maxAzs": "max_azs",
    "natGateways": "nat_gateways",
    "batchMaxVcpus": "batch_max_vcpus",
    "lustreStorageGiB": "lustre_storage_gib",
    "searchCpu": "search_cpu",
    "searchMemoryMiB": "search_memory_mib",
    "searchPort": "search_port",
    "uiPort": "ui_port",
    "enableTraining": "enable_training",
    "trainingImageUri": "training_image_uri",
    "logRetentionDays": "log_retention_days",
}
CONTEXT_KEYS: tuple[str, ...] = tuple(_KEYS)


def settings_from_context(get: Any, *, env: Mapping[str, str] | None = None) -> DeploymentSettings:
    """Build settings from a context getter (`app.node.try_get_context`) and the environment
    (`CDK_DEFAULT_ACCOUNT`/`CDK_DEFAULT_REGION` fill account/region when not given)."""
    defaults = DeploymentSettings()
    types = {f.name: f.type for f in fields(DeploymentSettings)}
    values: dict[str, Any] = {}
    for key, name in _KEYS.items():
        raw = get(key)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue
        values[name] = _convert(key, raw, types[name], getattr(defaults, name))
    env = env or {}
    values.setdefault("account", env.get("CDK_DEFAULT_ACCOUNT") or None)
    values.setdefault("region", env.get("CDK_DEFAULT_REGION") or None)
    settings = DeploymentSettings(**values)
    validate(settings)
    return settings


def _convert(key: str, raw: Any, annotation: str, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ContextError(f"context {key!r} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(str(raw).strip()) if not isinstance(raw, (int, float)) else int(raw)
        except ValueError:
            raise ContextError(f"context {key!r} must be an integer, not {raw!r}") from None
    if isinstance(default, tuple):
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if not isinstance(raw, str):
        raise ContextError(f"context {key!r} must be a string, not {raw!r}")
    return raw.strip()


def validate(s: DeploymentSettings) -> None:
    """Raise ContextError for the first invalid value, naming the context key."""
    if not DEPLOYMENT_PATTERN.match(s.deployment):
        raise ContextError(
            "context 'deployment' must start with a letter and hold up to 31 letters, digits or '-', not "
            f"{s.deployment!r}"
        )
    if s.account is not None and not ACCOUNT_PATTERN.match(s.account):
        raise ContextError(f"context 'account' must be a 12-digit AWS account id, not {s.account!r}")
    if s.region is not None and not REGION_PATTERN.match(s.region):
        raise ContextError(f"context 'region' must be an AWS region such as us-east-1, not {s.region!r}")
    for key, value in (
        ("dataBucketName", s.data_bucket_name),
        ("resourceBucketName", s.resource_bucket_name),
        ("existingDataBucket", s.existing_data_bucket),
        ("existingResourceBucket", s.existing_resource_bucket),
        *(("sourceBuckets", b) for b in s.source_buckets),
    ):
        if value is not None and (not BUCKET_PATTERN.match(value) or ".." in value):
            raise ContextError(f"context {key!r}: {value!r} is not a valid S3 bucket name")
    for created, existing, what in (
        ("dataBucketName", "existingDataBucket", (s.data_bucket_name, s.existing_data_bucket)),
        ("resourceBucketName", "existingResourceBucket", (s.resource_bucket_name, s.existing_resource_bucket)),
    ):
        if all(what):
            raise ContextError(f"set either {created!r} (create a bucket) or {existing!r} (use one), not both")
    named = [
        b
        for b in (s.data_bucket_name or s.existing_data_bucket, s.resource_bucket_name or s.existing_resource_bucket)
        if b
    ]
    if len(named) == 2 and named[0] == named[1]:
        raise ContextError("the data bucket and the resource bucket must be different buckets")
    if not 1 <= s.max_azs <= 6:
        raise ContextError(f"context 'maxAzs' must be between 1 and 6, not {s.max_azs}")
    if not 1 <= s.nat_gateways <= s.max_azs:
        raise ContextError(f"context 'natGateways' must be between 1 and maxAzs ({s.max_azs}), not {s.nat_gateways}")
    if not 1 <= s.batch_max_vcpus <= 10_000:
        raise ContextError(f"context 'batchMaxVcpus' must be between 1 and 10000, not {s.batch_max_vcpus}")
    if not (s.lustre_storage_gib == 1200 or (s.lustre_storage_gib > 0 and s.lustre_storage_gib % 2400 == 0)):
        raise ContextError(f"context 'lustreStorageGiB' must be {LUSTRE_SCRATCH_SIZES}, not {s.lustre_storage_gib}")
    if s.search_cpu not in FARGATE_MEMORY:
        raise ContextError(f"context 'searchCpu' must be one of {sorted(FARGATE_MEMORY)}, not {s.search_cpu}")
    if s.search_memory_mib not in FARGATE_MEMORY[s.search_cpu]:
        allowed = FARGATE_MEMORY[s.search_cpu]
        raise ContextError(
            f"context 'searchMemoryMiB' {s.search_memory_mib} is not valid with searchCpu {s.search_cpu} "
            f"(allowed {allowed[0]}..{allowed[-1]} in steps of {allowed[1] - allowed[0]})"
        )
    if not 1024 <= s.search_port <= 65535:
        raise ContextError(f"context 'searchPort' must be between 1024 and 65535, not {s.search_port}")
    if not 1024 <= s.ui_port <= 65535:
        raise ContextError(f"context 'uiPort' must be between 1024 and 65535, not {s.ui_port}")
    if s.ui_port == s.search_port:
        raise ContextError(
            f"context 'uiPort' must differ from 'searchPort' (both {s.ui_port}): both listen in one task"
        )
    if s.log_retention_days not in LOG_RETENTION:
        raise ContextError(
            f"context 'logRetentionDays' must be one of {sorted(LOG_RETENTION)}, not {s.log_retention_days}"
        )


# CloudWatch Logs retention periods (days -> aws_logs.RetentionDays member name).
LOG_RETENTION: dict[int, str] = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
