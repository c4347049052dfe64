"""Build the CDK app of one deployment: context from cdk.json (plus overrides), the stacks, and
cdk-nag's AwsSolutions checks. `app.py` and the infrastructure tests both use this."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.deployment import Deployment, build_deployment
from stacks.images import REPO_ROOT
from stacks.settings import settings_from_context


def cdk_json_context(path: Path = REPO_ROOT / "cdk.json") -> dict:
    """cdk.json's context, so `python app.py` synthesises what `cdk synth` does (the CDK CLI
    passes its own context, cdk.json plus `-c` values, which wins over these)."""
    return dict(json.loads(path.read_text())["context"])


def create_app(
    *,
    context: Mapping[str, object] | None = None,
    outdir: str | None = None,
    repo_root: Path = REPO_ROOT,
    env: Mapping[str, str] | None = None,
) -> tuple[App, Deployment]:
    """The app and its deployment, ready to `synth()`; raises ContextError for bad context."""
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    settings = settings_from_context(app.node.try_get_context, env=os.environ if env is None else env)
    deployment = build_deployment(app, settings, root=repo_root)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, deployment
