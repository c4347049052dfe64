"""Settings from the environment, and discovery of deployed names from SSM or stack outputs."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from bioims import resources
from bioims.config import ConfigError, clear_discovery_cache, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_overrides(tmp_path):
    settings = load_settings({})
    assert settings.backend == "local" and settings.home == Path(".bioims").resolve()
    settings = load_settings(
        {"BIOIMS_BACKEND": "AWS", "BIOIMS_HOME": str(tmp_path), "AWS_REGION": "eu-west-1", "BIOIMS_DEPLOYMENT": "lab2"}
    )
    assert (settings.backend, settings.home, settings.region, settings.deployment) == (
        "aws",
        tmp_path,
        "eu-west-1",
        "lab2",
    )
    assert load_settings({}).resource(resources.DATA_BUCKET) == "bioims-data"


@pytest.mark.parametrize("env", [{"BIOIMS_BACKEND": "gcp"}, {"BIOIMS_DISCOVERY": "dns"}, {"BIOIMS_SERVICES": "rpc"}])
def test_invalid_settings_are_clear_errors(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        load_settings(env)


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    clear_discovery_cache()
    yield
    clear_discovery_cache()


def test_discovery_from_ssm_parameters(aws_env):
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/lab/DataBucket", Value="lab-data-123", Type="String")
        ssm.put_parameter(Name="/lab/Function/label", Value="lab-LabelFn", Type="String")
        ssm.put_parameter(Name="/other/DataBucket", Value="not-mine", Type="String")
        settings = load_settings(
            {"BIOIMS_BACKEND": "aws", "BIOIMS_DEPLOYMENT": "lab", "AWS_DEFAULT_REGION": "us-east-1"}
        )
        assert settings.resource(resources.DATA_BUCKET) == "lab-data-123"
        assert settings.resource(resources.function_slot("label")) == "lab-LabelFn"
        with pytest.raises(ConfigError, match="ResourceBucket"):
            settings.resource(resources.RESOURCE_BUCKET)


def test_discovery_from_stack_outputs(aws_env):
    template = """{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
      "Outputs": {"DataBucket": {"Value": "lab-data", "Description": "slot:DataBucket"},
                  "Other": {"Value": "x", "Description": "not a slot"}}}"""
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack(StackName="lab-Storage", TemplateBody=template)
        cfn.create_stack(StackName="elsewhere-Storage", TemplateBody=template.replace("lab-data", "nope"))
        settings = load_settings({"BIOIMS_BACKEND": "aws", "BIOIMS_DEPLOYMENT": "lab", "BIOIMS_DISCOVERY": "stacks"})
        assert settings.resource(resources.DATA_BUCKET) == "lab-data"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) >= 2 and "bioims walkthrough" in blocks[0]
    test_command = blocks[1].strip()
    ci_lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert test_command in ci_lines
    assert "set -euo pipefail" in ci_lines
