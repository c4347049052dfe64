"""The synthesised app deployed on an emulator, then used the way a user uses a deployment.

`python app.py` writes the cloud assembly; every stack is created through CloudFormation on moto
in server mode (127.0.0.1), with the template changes of moto_adaptations only. Then the `bioims`
command, in its own process with only credentials, region and the emulator's endpoint, finds the
deployment through the SSM parameters (and the stack outputs), calls the data services through
their Lambdas, and runs a tiny `bioims walkthrough --backend aws` to its end: every Lambda runs the
handler its template names with the environment its template sets, every Batch job its job
definition's container, the training job the training image's entry point, the search service
its task definition's container (emulated_platform, emulated_containers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from emulated_deployment import free_port
from emulated_platform import emulated_aws

from stacks.images import REPO_ROOT

pytestmark = [pytest.mark.aws, pytest.mark.slow]

DEPLOYMENT = "bioims"  # cdk.json's deployment


def _require_moto_server() -> None:
    """moto's server needs its `server` extra (flask), part of the dev extra."""
    try:
        import flask  # noqa: F401
        import flask_cors  # noqa: F401
    except ImportError as exc:
        message = f"moto's server mode is not installed ({exc}): pip install -e '.[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def cloud_assembly(tmp_path_factory) -> Path:
    """What `python app.py` writes (the CDK CLI runs the same command), as a user runs it. The
    search service's port is chosen with `-c searchPort=...` as the CLI passes it (CDK_CONTEXT_JSON):
    a Fargate task has a network interface of its own, while here it shares this machine's."""
    _require_moto_server()
    outdir = tmp_path_factory.mktemp("assembly") / "cdk.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    env["CDK_OUTDIR"] = str(outdir)
    env["CDK_CONTEXT_JSON"] = json.dumps({"searchPort": free_port()})
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return outdir


def bioims(aws, home: Path, *args: str, extra: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The `bioims` command in a user's shell: nothing of the test process's settings."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(aws.client_environment(home))
    env.update(extra or {})
    command = Path(sys.executable).with_name("bioims")  # the console script `pip install` made
    assert command.is_file(), f"no bioims command beside {sys.executable}"
    return subprocess.run([str(command), *args], cwd=home, env=env, capture_output=True, text=True, timeout=timeout)


def check_every_stack_is_created_and_published(aws, cloud_assembly: Path) -> None:
    manifest = json.loads((cloud_assembly / "manifest.json").read_text())
    stacks = {k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"}
    assert set(aws.deployed.stacks) == stacks
    assert {s["StackStatus"] for s in aws.deployed.stacks.values()} == {"CREATE_COMPLETE"}
    # what the CLI reads: every slot a stack outputs is also an SSM parameter, with the same value
    ssm = aws.deployed.client("ssm")
    parameters = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=f"/{DEPLOYMENT}/", Recursive=True):
        parameters.update({p["Name"][len(DEPLOYMENT) + 2 :]: p["Value"] for p in page["Parameters"]})
    outputs = {
        o["Description"][5:]: o["OutputValue"]
        for s in aws.deployed.stacks.values()
        for o in s.get("Outputs", [])
        if o.get("Description", "").startswith("slot:")
    }
    assert outputs and outputs == {k: v for k, v in parameters.items() if k in outputs}
    # the resources they name exist
    functions = {f["FunctionName"] for f in aws.deployed.client("lambda").list_functions()["Functions"]}
    assert {v for k, v in parameters.items() if k.startswith("Function/")} <= functions
    tables = set(aws.deployed.client("dynamodb").list_tables()["TableNames"])
    assert {v for k, v in parameters.items() if k.startswith("Table/")} <= tables
    machines = {
        m["stateMachineArn"] for m in aws.deployed.client("stepfunctions").list_state_machines()["stateMachines"]
    }
    assert {v for k, v in parameters.items() if k.startswith("StateMachine/")} <= machines
    # the search service's task is running (its container consumes the deployed queues)
    assert aws.containers.runs.services and all(p.poll() is None for p in aws.containers.services)


def check_data_services_through_their_lambdas(aws, tmp_path: Path, discovery: str) -> None:
    key = f"emulated-{discovery}"
    put = bioims(
        aws,
        tmp_path,
        "configuration",
        "setParameter",
        "--key",
        key,
        "--value",
        "42",
        "--json",
        extra={"BIOIMS_BACKEND": "aws", "BIOIMS_DISCOVERY": discovery},
    )
    assert put.returncode == 0, put.stderr
    got = bioims(
        aws,
        tmp_path,
        "configuration",
        "getParameter",
        "--key",
        key,
        "--json",
        extra={"BIOIMS_BACKEND": "aws", "BIOIMS_DISCOVERY": discovery},
    )
    assert got.returncode == 0, got.stderr
    assert "42" in got.stdout
    invoked = [
        name for name, method in aws.containers.runs.lambda_invokes if method in ("setParameter", "getParameter")
    ]
    assert invoked and all("Configuration" in name for name in invoked)
    # the value is in the table the Storage stack created, found through the deployment's parameter
    table = aws.deployed.client("ssm").get_parameter(Name=f"/{DEPLOYMENT}/Table/BioimsConfiguration")["Parameter"][
        "Value"
    ]
    items = aws.deployed.client("dynamodb").scan(TableName=table)["Items"]
    assert any(key in json.dumps(item) for item in items)


def check_a_wrong_handler_or_variable_fails_like_on_aws(aws) -> None:
    """The emulation runs what a function's definition says, so a wrong one fails."""
    lam = aws.deployed.client("lambda")
    name = aws.deployed.client("ssm").get_parameter(Name=f"/{DEPLOYMENT}/Function/configuration")["Parameter"]["Value"]
    real = lam.get_function(FunctionName=name)
    config, code = real["Configuration"], real["Code"]
    event = json.dumps({"method": "getParameter", "key": "anything"}).encode()

    def copy(suffix: str, *, command: list[str], variables: dict) -> str:
        copy_name = f"{DEPLOYMENT}-configuration-{suffix}"
        lam.create_function(
            FunctionName=copy_name,
            Role=config["Role"],
            PackageType="Image",
            Code={"ImageUri": code["ImageUri"]},
            ImageConfig={"Command": command},
            Environment={"Variables": variables},
        )
        return copy_name

    (handler,) = [
        r["Properties"]["ImageConfig"]["Command"]
        for r in aws.deployed.adapted[f"{DEPLOYMENT}-Services"].template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Description"].startswith("bioims configuration service")
    ]
    assert lam.invoke(FunctionName=name, Payload=event).get("FunctionError") is None
    wrong_handler = copy(
        "handler", command=["lambdas.configuration.handle"], variables=config["Environment"]["Variables"]
    )
    answer = lam.invoke(FunctionName=wrong_handler, Payload=event)
    assert answer.get("FunctionError") == "Unhandled"
    assert "ImportModuleError" in answer["Payload"].read().decode()
    variables = {**config["Environment"]["Variables"], "BIOIMS_DEPLOYMENT": "not-deployed"}
    wrong_variable = copy("variable", command=handler, variables=variables)
    answer = json.loads(lam.invoke(FunctionName=wrong_variable, Payload=event)["Payload"].read())
    # its tables are not found under that deployment's names: the service fails, nothing is read
    # (an error body is a string holding a JSON document, as the original's clients expect)
    assert answer["statusCode"] == 500 and "not found" in json.loads(answer["body"])["message"]


def check_tiny_walkthrough(aws, tmp_path: Path) -> None:
    done = bioims(
        aws,
        tmp_path,
        "walkthrough",
        "--backend",
        "aws",
        "--n-plates",
        "1",
        "--size",
        "128x160",
        "--nsc",
        "none",
        "--network",
        "bbbc021-1",
        "--hyperparameter",
        "epochs=1",
        "--hyperparameter",
        "minibatches_per_epoch=4",
        "--poll-seconds",
        "0.2",
        "--out",
        str(tmp_path / "report"),
        "--json",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["backend"] == "aws"
    assert summary["plates"] == 1 and summary["images"] == 60
    assert summary["processed"]["done"] == 60 and summary["processed"]["rois"] > 0
    assert summary["exampleSearch"]["hits"]
    ssm = aws.deployed.client("ssm")
    published = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=f"/{DEPLOYMENT}/", Recursive=True):
        published.update({p["Name"][len(DEPLOYMENT) + 2 :]: p["Value"] for p in page["Parameters"]})
    runs = aws.containers.runs
    # every Batch job ran the container of a deployed job definition, and succeeded
    definitions = {v.rsplit("/", 1)[-1].split(":")[0] for k, v in published.items() if k.startswith("JobDefinition/")}
    assert {definition for definition, _, _ in runs.batch_jobs} == definitions
    assert all(code == 0 for _, _, code in runs.batch_jobs)
    assert sum("ImagePreprocessing" in definition for definition, _, _ in runs.batch_jobs) == 60
    # the baseline trained in the deployed training image, with the deployed role and file system
    # (two training jobs: the baseline and its untrained copy, which the walkthrough compares with it)
    requests = aws.sagemaker.requests
    assert len(requests) == 2
    assert sum(str(request["HyperParameters"].get("untrained", "")).strip('"') == "true" for request in requests) == 1
    for request in requests:
        assert request["AlgorithmSpecification"]["TrainingImage"] == published["TrainingImageUri"]
        assert request["RoleArn"] == published["SageMakerRoleArn"]
        assert (
            request["InputDataConfig"][0]["DataSource"]["FileSystemDataSource"]["FileSystemId"]
            == published["FsxFileSystemId"]
        )
    # the services' Lambdas that the walkthrough needs were invoked through their deployed names
    invoked = {name for name, _ in runs.lambda_invokes}
    functions = {k.split("/", 1)[1]: v for k, v in published.items() if k.startswith("Function/")}
    needed = (
        "configuration",
        "training-configuration",
        "image-management",
        "process-plate",
        "train",
        "embedding",
        "search",
        "tag",
    )
    assert {functions[s] for s in needed} <= invoked


def test_the_deployment_works_as_users_use_it(cloud_assembly, tmp_path_factory, tmp_path):
    """One deployment (about a minute to create), used for every check in turn."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        with emulated_aws(cloud_assembly, tmp_path_factory.mktemp("platform"), monkeypatch) as aws:
            check_every_stack_is_created_and_published(aws, cloud_assembly)
            for discovery in ("ssm", "stacks"):
                check_data_services_through_their_lambdas(aws, tmp_path / discovery, discovery)
            check_a_wrong_handler_or_variable_fails_like_on_aws(aws)
            check_tiny_walkthrough(aws, tmp_path / "walkthrough")
