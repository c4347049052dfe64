"""Synthesise the app once per test session (5-15 s) and share the cloud assembly.

`assembly` is the app exactly as `app.py` builds it from this repository. `full_assembly` is the
same app over a copy of the repository layout in which every entry point's Dockerfile exists, so
the parts that wait for their Dockerfiles (job definitions, search service, training image) are
synthesised and checked too; synthesis only stages those files, it never builds them.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from stacks.app_builder import create_app
from stacks.deployment import Deployment
from stacks.images import CONTEXT_ALLOW, REPO_ROOT
from stacks.job_definitions import BATCH_JOBS
from stacks.search_service import SEARCH_DOCKERFILE
from stacks.training import TRAINING_DOCKERFILE


@dataclass
class Synthesis:
    """A synthesised app: its templates by stack name and the validation report (cdk-nag + CFN rules)."""

    outdir: Path
    deployment: Deployment
    templates: dict[str, dict] = field(default_factory=dict)
    violations: list[dict] = field(default_factory=list)
    error: str | None = None

    def template(self, part: str) -> dict:
        return self.templates[self.deployment.settings.stack_name(part)]

    def resources(self, type_name: str, part: str | None = None) -> dict[str, dict]:
        """Resources of a CloudFormation type, across all stacks or in one, keyed by `stack/logicalId`."""
        found = {}
        for stack, template in self.templates.items():
            if part is not None and stack != self.deployment.settings.stack_name(part):
                continue
            for logical_id, resource in template.get("Resources", {}).items():
                if resource["Type"] == type_name:
                    found[f"{stack}/{logical_id}"] = resource
        return found


def synthesize(outdir: Path, *, context: dict | None = None, repo_root: Path = REPO_ROOT) -> Synthesis:
    app, deployment = create_app(context=context, outdir=str(outdir), repo_root=repo_root, env={})
    result = Synthesis(outdir=outdir, deployment=deployment)
    try:
        app.synth()
    except RuntimeError as error:  # cdk-nag or CloudFormation rules found something: keep the report
        result.error = str(error)
    for stack in deployment.stacks:
        path = outdir / f"{stack.stack_name}.template.json"
        result.templates[stack.stack_name] = json.loads(path.read_text())
    report = outdir / "validation-report.json"
    if report.exists():
        for plugin in json.loads(report.read_text()).get("pluginReports", []):
            for violation in plugin.get("violations", []):
                result.violations.append({"plugin": plugin["pluginName"], **violation})
    return result


def complete_repository(target: Path) -> Path:
    """A copy of the repository's container sources with a Dockerfile for every entry point."""
    for name in CONTEXT_ALLOW:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            shutil.copy2(source, target / name)
    dockerfiles = [TRAINING_DOCKERFILE, SEARCH_DOCKERFILE]
    for spec in BATCH_JOBS:
        existing = spec.dockerfile(target)
        dockerfiles.append(
            existing.relative_to(target)
            if existing
            else Path(spec.entry).parent / f"Dockerfile.{Path(spec.entry).stem}"
        )
    for dockerfile in dockerfiles:
        path = target / dockerfile
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("FROM public.ecr.aws/docker/library/python:3.11-slim\nCOPY . /app\n")
    return target


@pytest.fixture(scope="session")
def assembly(tmp_path_factory) -> Synthesis:
    return synthesize(tmp_path_factory.mktemp("cdk-out"))


@pytest.fixture(scope="session")
def full_assembly(tmp_path_factory) -> Synthesis:
    root = complete_repository(tmp_path_factory.mktemp("repo"))
    return synthesize(tmp_path_factory.mktemp("cdk-out-full"), repo_root=root)


def statements(template: dict):
    """Every (resource logical id, IAM statement) of a template's policies and inline role policies."""
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]
