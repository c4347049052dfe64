"""On the aws backend a failing AWS call is one line naming the service, the call and the cause, and
a non-zero exit; the stack trace only with --debug or BIOIMS_DEBUG=1 (issue 18, item 5).

Through the installed `bioims` console script, against: no credentials at all; moto in server mode
on 127.0.0.1 (AWS_ENDPOINT_URL) with no deployment, with a deployment whose Lambda function is
missing, and with one whose Lambda invocation fails (moto answers FunctionError: it cannot run the
function without Docker). Throttling (TooManyRequestsException) takes the same botocore ClientError
path as ResourceNotFoundException; no emulator throttles on demand.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bioims import resources

SCRIPT = Path(sys.executable).with_name("bioims")
REGION = "us-east-1"


def _clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BIOIMS_"))}
    env.update(
        BIOIMS_BACKEND="aws",
        BIOIMS_HOME=str(home),
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        AWS_CONFIG_FILE=str(home / "none"),
    )
    return env


def _bioims(env: dict, *args: str) -> subprocess.CompletedProcess:
    assert SCRIPT.is_file(), f"{SCRIPT} missing: install the package (pip install -e .)"
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300)


def _one_line(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _traced(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1 and "Traceback" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def moto_server():
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto[server] (flask) is part of the dev extras
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"moto server mode unavailable: {exc}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_no_credentials(tmp_path):
    env = _clean_env(tmp_path)
    line = _one_line(
        _bioims(env, "configuration", "getAll"), "ssm", "GetParametersByPath", "Unable to locate credentials"
    )
    assert line.startswith("error: AWS call ssm GetParametersByPath failed")
    _traced(_bioims(env, "--debug", "configuration", "getAll"))
    _traced(_bioims({**env, "BIOIMS_DEBUG": "1"}, "configuration", "getAll"))


def test_missing_deployment_missing_table_missing_function_failed_function(moto_server, tmp_path, monkeypatch):
    import boto3

    env = {
        **_clean_env(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server,
    }
    # no stack, no parameters: the discovery names where it looked
    _one_line(_bioims(env, "configuration", "getAll"), "not found in SSM parameters under /bioims/")
    _one_line(_bioims({**env, "BIOIMS_DISCOVERY": "stacks"}, "configuration", "getAll"), "not found in stack outputs")
    # a table the deployment should have is missing
    _one_line(
        _bioims(env, "status"),
        "AWS call dynamodb DescribeTable failed: ResourceNotFoundException",
        "BioimsConfiguration",
    )

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(key, value)
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=moto_server)
    ssm.put_parameter(
        Name=resources.ssm_parameter_name("bioims", resources.function_slot("configuration")),
        Value="BioimsConfigurationFn",
        Type="String",
    )
    _one_line(
        _bioims(env, "configuration", "getAll"),
        "AWS call lambda Invoke failed: ResourceNotFoundException",
        "BioimsConfigurationFn",
    )
    _traced(_bioims(env, "--debug", "configuration", "getAll"))

    iam = boto3.client("iam", region_name=REGION, endpoint_url=moto_server)
    role = iam.create_role(RoleName="bioims-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    raise RuntimeError('boom')\n")
    boto3.client("lambda", region_name=REGION, endpoint_url=moto_server).create_function(
        FunctionName="BioimsConfigurationFn",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    _one_line(
        _bioims(env, "configuration", "getAll"),
        "AWS call lambda Invoke of BioimsConfigurationFn failed: function error",
    )
