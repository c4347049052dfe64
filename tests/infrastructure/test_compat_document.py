"""The deployment writes the original's discovery document (a describe_stacks answer) to its
resource bucket: read from the synthesised template, the custom resource's S3 call puts, under
the documented key, a document in which the original client's look-ups (stack name, output-key
prefix) land on this deployment's functions, queues and job definitions, and its provider may
write only that one object."""

from __future__ import annotations

import json

from conftest import as_list, statements

from bioims.discovery import DOCUMENT_KEY, ORIGINAL_STACKS


def _render(value) -> str:
    """A CloudFormation string value with each intrinsic replaced by a readable marker."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(_render(p) for p in parts)
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::ImportValue" in value:
        return f"<Import:{_render(value['Fn::ImportValue'])}>"
    if "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected intrinsic {value}")


def _original_lookup(document: dict, stack_name: str, prefix: str) -> str | None:
    """What the original's client does: the stack by exact name, its first output key with the prefix."""
    for stack in document["Stacks"]:
        if stack["StackName"] == stack_name:
            for output in stack["Outputs"]:
                if output["OutputKey"].startswith(prefix):
                    return output["OutputValue"]
    return None


def test_the_deployment_writes_the_original_discovery_document(full_assembly):
    template = full_assembly.template("Compat")
    (writer,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::AWS"]
    create = json.loads(_render(writer["Properties"]["Create"]))
    assert json.loads(_render(writer["Properties"]["Update"])) == create
    assert (create["service"], create["action"]) == ("S3", "putObject")
    assert create["parameters"]["Key"] == DOCUMENT_KEY
    assert "BucketsResourceBucket" in create["parameters"]["Bucket"]
    document = json.loads(create["parameters"]["Body"])
    assert [s["StackName"] for s in document["Stacks"]] == [name for name, _ in ORIGINAL_STACKS]

    services = full_assembly.deployment.services
    logical = {
        s: services.get_logical_id(f.function.node.default_child) for s, f in services.functions.functions.items()
    }
    label = _original_lookup(document, "BioimageSearchLabelStack", "ExportsOutputFnGetAttlabelFunction")
    assert label is not None and logical["label"] in label  # the label function of this deployment
    train = _original_lookup(document, "BioimageSearchTrainStack", "ExportsOutputFnGetAtttrainFunction")
    build = _original_lookup(document, "BioimageSearchTrainStack", "ExportsOutputFnGetAtttrainBuildFunction")
    assert logical["train"] in train and logical["train"] in build
    spot = _original_lookup(document, "BioimageSearchBatchSetupStack", "batchSpotQueueName")
    assert spot is not None and "SpotQueue" in spot and "bioims-Batch" in spot
    jobs = _original_lookup(document, "BioimageSearchPlatePreprocessingStack", "platePreprocessingJobDefinitionArn")
    assert jobs is not None and "bioims-Batch" in jobs
    for stack_name, outputs in ORIGINAL_STACKS:  # every function the deployment has is listed
        for prefix, slot in outputs:
            service = slot.removeprefix("Function/")
            if slot.startswith("Function/") and service in logical:
                assert logical[service] in (_original_lookup(document, stack_name, prefix) or ""), (stack_name, prefix)

    # the provider may write and delete that one object, nothing else
    written = [s for _, s in statements(template) if {"s3:PutObject", "s3:DeleteObject"} & set(as_list(s["Action"]))]
    assert written and all(set(as_list(s["Action"])) <= {"s3:PutObject", "s3:DeleteObject"} for s in written)
    assert all(_render(r).endswith(f"/{DOCUMENT_KEY}") for s in written for r in as_list(s["Resource"]))
