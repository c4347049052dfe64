"""External tools the deploy tests run as users do (the CDK toolkit, checkov), found where .ci/run
installs them inside the checkout. In CI (CI=true) a missing tool fails the test; elsewhere the
test is skipped with the command that installs it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
INSTALL = {
    "cdk": "npm ci --no-audit --no-fund   (installs the aws-cdk version package.json pins)",
    "checkov": "see the checkov line in .ci/run",
}


def require_tool(name: str, path: Path, *, override_env: str) -> str:
    """The tool's path: `$override_env`, the checkout's copy, or a failure in CI / a skip elsewhere."""
    chosen = os.environ.get(override_env) or (str(path) if path.exists() else None)
    if chosen and (Path(chosen).exists() or shutil.which(chosen)):
        return chosen
    message = f"{name} is not installed at {path} (install: {INSTALL[name]})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
