"""Discovery as the original's client does it (docs/original.md §6.1): `bioims compat describe-stacks
--out s3://...` writes a describe_stacks document; the original's look-ups (stack by exact name,
output by key prefix) read it back from S3 and find this deployment's functions, queues and job
definition, and a request sent to a discovered function is answered by that service."""

from __future__ import annotations

import json

import boto3
from click.testing import CliRunner

from bioims import resources
from bioims.cli.main import main_group
from bioims.config import clear_discovery_cache
from tests.support import original_client as original
from tests.support.backends import RESOURCE_BUCKET

# The original client's look-ups: (stack name, output-key prefix) -> the service answering there.
LOOKUPS = {
    ("BioimageSearchConfigurationStack", "ExportsOutputFnGetAttconfigurationFunction"): "configuration",
    ("BioimageSearchLabelStack", "ExportsOutputFnGetAttlabelFunction"): "label",
    ("BioimageSearchMessageStack", "ExportsOutputFnGetAttmessageFunction"): "message",
    ("BioimageSearchImageArtifactStack", "ExportsOutputFnGetAttdefaultArtifactFunction"): "image-artifact",
    (
        "BioimageSearchTrainingConfigurationStack",
        "ExportsOutputFnGetAtttrainingConfigurationFunction",
    ): "training-configuration",
    ("BioimageSearchArtifactStack", "ExportsOutputFnGetAttartifactFunction"): "artifact",
    ("BioimageSearchImageManagementStack", "ExportsOutputFnGetAttimageManagementFunction"): "image-management",
    ("BioimageSearchProcessPlateStack", "ExportsOutputFnGetAttprocessPlateFunction"): "process-plate",
    ("BioimageSearchTrainStack", "ExportsOutputFnGetAtttrainFunction"): "train",
    ("BioimageSearchTrainStack", "ExportsOutputFnGetAtttrainBuildFunction"): "train",
    ("BioimageSearchTrainStack", "ExportsOutputFnGetAtttrainComputeFunction"): "train",
    ("BioimageSearchEmbeddingStack", "ExportsOutputFnGetAttembeddingComputeFunction"): "embedding",
    ("BioimageSearchEmbeddingStack", "ExportsOutputFnGetAttplateEmbeddingComputeFunction"): "embedding",
    ("BioimageSearchSearchStack", "ExportsOutputFnGetAttsearchFunction"): "search",
    ("BioimageSearchTagStack", "ExportsOutputFnGetAtttagFunction"): "tag",
}


def _publish_deployment(ssm) -> dict[str, str]:
    """SSM parameters as the CDK app publishes them (/bioims/<slot>)."""
    values = {
        resources.function_slot(s): f"arn:aws:lambda:us-east-1:123456789012:function:bioims-{s}"
        for s in resources.SERVICES
    }
    values[resources.BATCH_ON_DEMAND_QUEUE] = "bioims-on-demand"
    values[resources.BATCH_SPOT_QUEUE] = "bioims-spot"
    values[resources.job_definition_slot("plate-preprocessing")] = (
        "arn:aws:batch:us-east-1:123456789012:job-definition/bioims-plate:1"
    )
    for slot, value in values.items():
        ssm.put_parameter(Name=f"/bioims/{slot}", Value=value, Type="String")
    clear_discovery_cache()
    return values


def test_original_lookups_find_this_deployment(aws_ctx):
    values = _publish_deployment(boto3.client("ssm", region_name="us-east-1"))
    try:
        result = CliRunner().invoke(
            main_group, ["compat", "describe-stacks", "--out", f"s3://{RESOURCE_BUCKET}/compat/describe-stacks.json"]
        )
        assert result.exit_code == 0, result.output
        found = original.Resources.from_s3(
            boto3.client("s3", region_name="us-east-1"), RESOURCE_BUCKET, "compat/describe-stacks.json"
        )
        assert found.document["Stacks"] == json.loads(result.output)["Stacks"]
        for (stack, prefix), service in LOOKUPS.items():
            assert found.output(stack, prefix) == values[resources.function_slot(service)], (stack, prefix)
        assert found.output("BioimageSearchBatchSetupStack", "batchOnDemandQueueName") == "bioims-on-demand"
        assert found.output("BioimageSearchBatchSetupStack", "batchSpotQueueName") == "bioims-spot"
        assert found.output("BioimageSearchPlatePreprocessingStack", "platePreprocessingJobDefinitionArn").endswith(
            "bioims-plate:1"
        )
        assert found.stack("BioimageSearchBaseStack") != ""

        # A request to a discovered function reaches the service deployed under that name.
        by_arn = {value: slot.split("/", 1)[1] for slot, value in values.items() if slot.startswith("Function/")}
        arn = found.output("BioimageSearchTagStack", "ExportsOutputFnGetAtttagFunction")
        lambdas = original.Lambdas()
        status, payload = lambdas.invoke(by_arn[arn], b'{ "method": "createTag", "tagValue": "moa:DMSO" }')
        assert original.decode_answer(status, payload)["id"] == 1
    finally:
        clear_discovery_cache()


def test_out_must_name_an_s3_object(local_ctx):
    result = CliRunner().invoke(main_group, ["compat", "describe-stacks", "--out", "/tmp/x.json"])
    assert result.exit_code == 2 and "s3://BUCKET/KEY" in result.output
