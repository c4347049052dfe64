#!/usr/bin/env python3
"""The CDK app: `python app.py` (or `cdk synth`) synthesises every stack of one deployment.

Context (`-c key=value` or cdk.json) chooses the deployment; see stacks/settings.py and
docs/deploy.md. cdk-nag's AwsSolutions pack validates every template at synthesis: a finding that
is neither fixed nor acknowledged with its reason fails the synthesis.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.deployment import build_deployment
from stacks.settings import ContextError, settings_from_context


HERE = Path(__file__).resolve().parent


def cdk_json_context() -> dict:
    """cdk.json's context, so `python app.py` synthesises what `cdk synth` does (the CDK CLI
    passes its own context, cdk.json plus `-c` values, and that wins over these)."""
    return json.loads((HERE / "cdk.json").read_text())["context"]


def main() -> None:
    app = App(context=cdk_json_context(), outdir=os.environ.get("CDK_OUTDIR", str(HERE / "cdk.out")))
    try:
        settings = settings_from_context(app.node.try_get_context, env=os.environ)
    except ContextError as error:
        print(f"bioims CDK app: {error}", file=sys.stderr)
        sys.exit(2)
    build_deployment(app, settings)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
