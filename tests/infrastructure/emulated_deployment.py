"""Deploy the synthesised cloud assembly (`python app.py` -> cdk.out) on moto in server mode.

What a user's `cdk deploy --all` does, against an emulator on 127.0.0.1: bootstrap facts
(the bootstrap version parameter, the asset bucket, Batch's service-linked role), then each
stack in dependency order through CloudFormation CreateStack with its template uploaded to the
asset bucket (TemplateURL; two templates exceed the 51,200-byte inline limit). The templates go
through moto_adaptations.adapt() and nothing else. Images are not built: the containers are run
from their staged asset directories by emulated_containers.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto_adaptations import Adapted, adapt

ACCOUNT = "123456789012"
REGION = "us-east-1"
QUALIFIER = "hnb659fds"  # CDK's default bootstrap qualifier
BOOTSTRAP_VERSION = "30"
ASSET_BUCKET = f"cdk-{QUALIFIER}-assets-{ACCOUNT}-{REGION}"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Assembly:
    """A cloud assembly directory: its stacks in dependency order and their asset manifests."""

    outdir: Path

    @property
    def manifest(self) -> dict:
        return json.loads((self.outdir / "manifest.json").read_text())

    def stacks(self) -> list[str]:
        artifacts = self.manifest["artifacts"]
        stacks = {k: v for k, v in artifacts.items() if v["type"] == "aws:cloudformation:stack"}
        ordered: list[str] = []

        def visit(name: str, path: tuple[str, ...] = ()) -> None:
            if name in ordered:
                return
            if name in path:
                raise ValueError(f"stack dependency cycle: {path + (name,)}")
            for dependency in stacks[name].get("dependencies", []):
                if dependency in stacks:
                    visit(dependency, path + (name,))
            ordered.append(name)

        for name in sorted(stacks):
            visit(name)
        return ordered

    def template(self, stack: str) -> dict:
        file = self.manifest["artifacts"][stack]["properties"]["templateFile"]
        return json.loads((self.outdir / file).read_text())

    def docker_images(self) -> dict[str, dict]:
        """Image tag -> its asset source (directory under outdir, Dockerfile path inside it)."""
        found = {}
        for path in self.outdir.glob("*.assets.json"):
            for tag, asset in json.loads(path.read_text()).get("dockerImages", {}).items():
                found[tag] = asset["source"]
        return found


@dataclass
class Deployed:
    """The deployment as CloudFormation reports it."""

    endpoint: str
    stacks: dict[str, dict]  # name -> DescribeStacks entry
    adapted: dict[str, Adapted] = field(default_factory=dict)

    def client(self, service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def physical_resources(self, stack: str, type_name: str) -> dict[str, str]:
        """Logical id -> physical id of the stack's resources of one type."""
        found = {}
        pages = self.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack)
        for page in pages:
            for summary in page["StackResourceSummaries"]:
                if summary["ResourceType"] == type_name:
                    found[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
        return found

    def exports(self) -> dict[str, str]:
        found = {}
        for page in self.client("cloudformation").get_paginator("list_exports").paginate():
            for export in page["Exports"]:
                found[export["Name"]] = export["Value"]
        return found


def bootstrap(endpoint: str) -> None:
    """What `cdk bootstrap` and a fresh account provide that the templates rely on."""
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=endpoint)
    ssm.put_parameter(
        Name=f"/cdk-bootstrap/{QUALIFIER}/version", Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )
    boto3.client("s3", region_name=REGION, endpoint_url=endpoint).create_bucket(Bucket=ASSET_BUCKET)
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)
    # AWS creates this service-linked role with the first compute environment; moto's
    # create_service_linked_role names it in lower case, so it is created as a role.
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(
        RoleName="AWSServiceRoleForBatch",
        Path="/aws-service-role/batch.amazonaws.com/",
        AssumeRolePolicyDocument=json.dumps(trust),
    )


def deploy(assembly: Assembly, endpoint: str, *, timeout: float = 120.0) -> Deployed:
    """Create every stack of the assembly in dependency order; fail naming the first stack and
    resource that did not reach CREATE_COMPLETE."""
    # moto reads a TemplateURL as path-style only when its host is `localhost`
    template_host = endpoint.replace("127.0.0.1", "localhost")
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    deployed = Deployed(endpoint, {})
    for stack in assembly.stacks():
        adapted = adapt(assembly.template(stack), stack)
        deployed.adapted[stack] = adapted
        key = f"{stack}.template.json"
        s3.put_object(Bucket=ASSET_BUCKET, Key=key, Body=json.dumps(adapted.template).encode())
        cfn.create_stack(
            StackName=stack,
            TemplateURL=f"{template_host}/{ASSET_BUCKET}/{key}",
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        deadline = time.monotonic() + timeout
        while True:
            (description,) = cfn.describe_stacks(StackName=stack)["Stacks"]
            if not description["StackStatus"].endswith("_IN_PROGRESS"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stack} still {description['StackStatus']} after {timeout} s")
            time.sleep(0.1)
        if description["StackStatus"] != "CREATE_COMPLETE":
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
            failed = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                for e in events
                if "FAILED" in e["ResourceStatus"]
            ]
            raise RuntimeError(
                f"{stack} ended {description['StackStatus']}: {failed or description.get('StackStatusReason')}"
            )
        deployed.stacks[stack] = description
    return deployed


def resolve_import_path(expression: Any, exports: dict[str, str]) -> str:
    """An FSx ImportPath expression (Fn::Join of strings and Fn::ImportValue) against the exports."""
    if isinstance(expression, str):
        return expression
    if "Fn::ImportValue" in expression:
        return exports[expression["Fn::ImportValue"]]
    if "Fn::Join" in expression:
        delimiter, parts = expression["Fn::Join"]
        return delimiter.join(resolve_import_path(p, exports) for p in parts)
    raise ValueError(f"cannot resolve {expression!r}")
