"""Settings: which backend, where local data lives, and the names of deployed AWS resources.

Environment variables:
  BIOIMS_BACKEND     local (default) | aws
  BIOIMS_HOME        local data directory (default ./.bioims)
  BIOIMS_REGION      AWS region (else AWS_REGION / AWS_DEFAULT_REGION / us-east-1)
  BIOIMS_DEPLOYMENT  deployment name, the SSM parameter prefix and stack-name prefix (default bioims)
  BIOIMS_DISCOVERY   ssm (default) | stacks: where deployed resource names are read from
  BIOIMS_SERVICES    lambda (default) | inprocess: on AWS, invoke the service Lambdas or run
                     the service code in this process against the deployed tables and buckets

On AWS, names come from SSM parameters `/<deployment>/<slot>` (one paginated
GetParametersByPath) or from the outputs of the stacks named `<deployment>-*` — never from
CDK's generated export-name prefixes as the original did.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from bioims import resources
from bioims.errors import BioimsError

Backend = Literal["local", "aws"]

LOCAL_DATA_BUCKET = "bioims-data"
LOCAL_RESOURCE_BUCKET = "bioims-resource"
# boto3 is only installed with the aws extra: the local backend never imports it.
AWS_EXTRA_INSTALL = "pip install 'bioimage-search[aws]'"


class ConfigError(BioimsError, RuntimeError):
    """A setting is missing or invalid; the message says which and how to fix it (500: a fault
    of the deployment's configuration, not of the request)."""


@dataclass(frozen=True)
class Settings:
    backend: Backend = "local"
    home: Path = Path(".bioims").resolve()
    region: str = "us-east-1"
    deployment: str = "bioims"
    discovery: Literal["ssm", "stacks"] = "ssm"
    # How clients reach services on AWS: invoke the Lambdas, or run the service code in this
    # process against the AWS tables/buckets/queues (users' own code with their credentials).
    services: Literal["lambda", "inprocess"] = "lambda"
    # slot -> value; filled lazily from SSM/stack outputs on AWS, fixed names locally.
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def database_path(self) -> Path:
        return self.home / "bioims.sqlite"

    @property
    def objects_root(self) -> Path:
        return self.home / "objects"

    def __post_init__(self) -> None:
        if self.backend == "aws" and importlib.util.find_spec("boto3") is None:
            raise ConfigError(f"the aws backend needs boto3, which is not installed: {AWS_EXTRA_INSTALL}")

    def with_overrides(self, **slots: str) -> Settings:
        merged = dict(self.overrides)
        merged.update(slots)
        return replace(self, overrides=merged)

    def resource(self, slot: str) -> str:
        """The deployed name of a resource slot (see bioims.resources)."""
        if slot in self.overrides:
            return self.overrides[slot]
        if self.backend == "local":
            return _local_resource(slot)
        found = _discover(self.region, self.deployment, self.discovery)
        if slot not in found:
            raise ConfigError(
                f"resource {slot!r} of deployment {self.deployment!r} not found in "
                f"{'SSM parameters under /' + self.deployment + '/' if self.discovery == 'ssm' else 'stack outputs'}"
                f" (region {self.region}); deploy the CDK app or set BIOIMS_DEPLOYMENT"
            )
        return found[slot]

    def table_name(self, logical_name: str) -> str:
        """Physical table name; locally and by default the logical (original) name."""
        slot = resources.table_slot(logical_name)
        if self.backend == "local" and slot not in self.overrides:
            return logical_name
        try:
            return self.resource(slot)
        except ConfigError:
            return logical_name


def _local_resource(slot: str) -> str:
    if slot == resources.DATA_BUCKET:
        return LOCAL_DATA_BUCKET
    if slot == resources.RESOURCE_BUCKET:
        return LOCAL_RESOURCE_BUCKET
    if slot in (resources.SEARCH_QUEUE, resources.MANAGEMENT_QUEUE):
        return slot.removesuffix("Url")
    if slot.startswith("Table/"):
        return slot.split("/", 1)[1]
    # Functions, state machines and job definitions are in-process on the local backend.
    return f"local:{slot}"


@functools.lru_cache(maxsize=8)
def _discover(region: str, deployment: str, method: str) -> dict[str, str]:
    import boto3

    if method == "ssm":
        ssm = boto3.client("ssm", region_name=region)
        prefix = f"/{deployment}/"
        found: dict[str, str] = {}
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=True):
            for p in page["Parameters"]:
                found[p["Name"][len(prefix) :]] = p["Value"]
        return found
    # Every output the CDK app publishes carries the description "slot:<slot>".
    cfn = boto3.client("cloudformation", region_name=region)
    found = {}
    for page in cfn.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            if not stack["StackName"].startswith(f"{deployment}-"):
                continue
            for out in stack.get("Outputs", []):
                description = out.get("Description", "")
                if description.startswith("slot:"):
                    found[description[5:]] = out["OutputValue"]
    return found


def clear_discovery_cache() -> None:
    _discover.cache_clear()


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment (or a given mapping); validates every value."""
    env = dict(os.environ if env is None else env)
    backend = env.get("BIOIMS_BACKEND", "local").strip().lower() or "local"
    if backend not in ("local", "aws"):
        raise ConfigError(f"BIOIMS_BACKEND must be 'local' or 'aws', not {backend!r}")
    discovery = env.get("BIOIMS_DISCOVERY", "ssm").strip().lower() or "ssm"
    if discovery not in ("ssm", "stacks"):
        raise ConfigError(f"BIOIMS_DISCOVERY must be 'ssm' or 'stacks', not {discovery!r}")
    region = env.get("BIOIMS_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    home = Path(env.get("BIOIMS_HOME") or ".bioims").expanduser().resolve()
    deployment = env.get("BIOIMS_DEPLOYMENT", "bioims").strip() or "bioims"
    services = env.get("BIOIMS_SERVICES", "lambda").strip().lower() or "lambda"
    if services not in ("lambda", "inprocess"):
        raise ConfigError(f"BIOIMS_SERVICES must be 'lambda' or 'inprocess', not {services!r}")
    return Settings(
        backend=backend,  # type: ignore[arg-type]
        home=home,
        region=region,
        deployment=deployment,
        discovery=discovery,  # type: ignore[arg-type]
        services=services,  # type: ignore[arg-type]
    )


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings | None) -> None:
    """Replace (or with None, forget) the process-wide settings. The process-wide Context is
    built from them once; bioims.context.reset() forgets both (settings never reach up to it)."""
    global _current
    _current = settings
