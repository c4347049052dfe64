#!/usr/bin/env python3
"""The CDK app: `python app.py` (or `cdk synth`) synthesises every stack of one deployment.

Context (`-c key=value` or cdk.json) chooses the deployment; see stacks/settings.py and
docs/deploy.md. cdk-nag's AwsSolutions pack and CloudFormation's rules validate every template
at synthesis: a finding that is neither fixed nor acknowledged with its reason fails it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stacks.app_builder import create_app
from stacks.settings import ContextError

HERE = Path(__file__).resolve().parent


def main() -> None:
    try:
        app, _ = create_app(outdir=os.environ.get("CDK_OUTDIR", str(HERE / "cdk.out")))
    except ContextError as error:
        print(f"bioims CDK app: {error}", file=sys.stderr)
        sys.exit(2)
    app.synth()


if __name__ == "__main__":
    main()
