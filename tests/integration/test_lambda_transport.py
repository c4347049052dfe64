"""On AWS the client invokes each service's Lambda; here moto's Lambda is dispatched in-process to
the real handler modules (moto runs Lambda code only in Docker, see shared/notes)."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from dataclasses import replace

import boto3
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend

import bioims
from bioims import resources
from bioims.clients import ClientError
from bioims.context import Context
from tests.support.backends import installed


@pytest.fixture
def lambda_ctx(aws_ctx, monkeypatch):
    """aws_ctx with clients going through Lambda invokes of functions named in settings."""
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handler(e, c): return e")
    lam = boto3.client("lambda", region_name="us-east-1")
    names = {}
    for service in ("label", "tag"):
        name = f"bioims-{service}"
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role,
            Handler="h.handler",
            Code={"ZipFile": archive.getvalue()},
        )
        names[resources.function_slot(service)] = name

    def dispatch(self, function_name, qualifier, body, headers, response_headers):
        service = function_name.rsplit("-", 1)[-1] if "-" in function_name else function_name
        module = importlib.import_module(f"lambdas.{service.replace('-', '_')}")
        return json.dumps(module.handler(json.loads(body), None)).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", dispatch)
    settings = replace(aws_ctx.settings, services="lambda").with_overrides(**names)
    ctx = Context(settings, aws_ctx.stores)
    with installed(ctx):
        yield ctx


@pytest.mark.aws
def test_clients_invoke_the_service_lambdas(lambda_ctx):
    labels = bioims.client("label")
    assert type(labels.transport).__name__ == "LambdaTransport"
    labels.createCategory("moa")
    assert labels.createLabel("moa", "DMSO")["index"] == 0
    with pytest.raises(ClientError) as error:
        labels.getIndex("moa", "absent")
    assert error.value.status == 404
    with pytest.raises(ClientError) as error:
        labels.call("createLabel", category=7)
    assert error.value.status == 400
    assert bioims.client("tag").createTag("moa:DMSO")["id"] == 1
    # the rows were written through the handlers into DynamoDB
    table = lambda_ctx.stores.table(__import__("bioims.tables", fromlist=["LABEL"]).LABEL)
    assert {r["label"] for r in table.query_all("moa")} == {"origin", "DMSO"}


@pytest.mark.aws
def test_a_crashed_lambda_is_a_502_lambda_error(lambda_ctx, monkeypatch):
    """A function that fails instead of answering (Lambda's x-amz-function-error) reaches the
    caller as the family's 502 (LambdaError), through the one mapping."""

    def crash(self, function_name, qualifier, body, headers, response_headers):
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", crash)
    with pytest.raises(ClientError) as error:
        bioims.client("label").getIndex("moa", "absent")
    assert error.value.status == 502 and error.value.body["error"] == "LambdaError"
    assert "function error (Unhandled)" in error.value.body["message"] and "boom" in error.value.body["message"]
