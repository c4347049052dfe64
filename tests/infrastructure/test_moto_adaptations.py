"""The template adaptations for moto change only what they document and refuse any other shape,
so a project error in a template is never adapted into something that deploys."""

from __future__ import annotations

import json

import pytest
from moto_adaptations import EMULATED_FILE_SYSTEM_ID, EMULATED_MOUNT_NAME, AdaptationError, adapt


def _changed_resources(before: dict, after: dict) -> set[str]:
    ids = set(before["Resources"]) | set(after["Resources"])
    return {i for i in ids if before["Resources"].get(i) != after["Resources"].get(i)}


def test_real_templates_change_only_in_the_documented_resource_types(assembly):
    documented = {
        "AWS::SSM::Parameter",
        "AWS::SQS::Queue",
        "AWS::Batch::ComputeEnvironment",
        "AWS::Batch::JobQueue",
        "AWS::FSx::FileSystem",
        "AWS::ServiceDiscovery::PrivateDnsNamespace",
        "AWS::ServiceDiscovery::Service",
        "AWS::ECS::Service",
        "Custom::AWS",
        "AWS::Lambda::Function",
    }
    for stack, template in assembly.templates.items():
        adapted = adapt(template, stack)
        assert template == json.loads(json.dumps(template))  # the input is left as it was
        for logical_id in _changed_resources(template, adapted.template):
            kind = template["Resources"].get(logical_id, adapted.template["Resources"].get(logical_id))["Type"]
            assert kind in documented, f"{stack}/{logical_id} ({kind}) changed"
        # nothing references a resource that was left out
        text = json.dumps(adapted.template)
        for logical_id in set(template["Resources"]) - set(adapted.template["Resources"]):
            assert f'"{logical_id}"' not in text, f"{stack}: {logical_id} left out but still referenced"


def test_a_lustre_file_system_becomes_fixed_values_and_keeps_its_import_path():
    template = {
        "Resources": {
            "Fs": {
                "Type": "AWS::FSx::FileSystem",
                "Properties": {"FileSystemType": "LUSTRE", "LustreConfiguration": {"ImportPath": "s3://data"}},
            },
            "Param": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Value": {"Fn::GetAtt": ["Fs", "LustreMountName"]}, "Type": "String"},
            },
        },
        "Outputs": {"Id": {"Value": {"Ref": "Fs"}}},
    }
    adapted = adapt(template, "s")
    assert "Fs" not in adapted.template["Resources"]
    assert adapted.template["Resources"]["Param"]["Properties"]["Value"] == EMULATED_MOUNT_NAME
    assert adapted.template["Outputs"]["Id"]["Value"] == EMULATED_FILE_SYSTEM_ID
    assert adapted.file_systems == {EMULATED_FILE_SYSTEM_ID: "s3://data"}


@pytest.mark.parametrize(
    "template, cause",
    [
        # an attribute of the file system that the emulation has no value for
        (
            {
                "Resources": {
                    "Fs": {
                        "Type": "AWS::FSx::FileSystem",
                        "Properties": {"FileSystemType": "LUSTRE", "LustreConfiguration": {"ImportPath": "s3://d"}},
                    },
                    "P": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Fn::GetAtt": ["Fs", "DNSName"]}}},
                }
            },
            "DNSName",
        ),
        # a file system that imports nothing: the training channel would be empty
        (
            {"Resources": {"Fs": {"Type": "AWS::FSx::FileSystem", "Properties": {"FileSystemType": "LUSTRE"}}}},
            "importing from S3",
        ),
        # a Batch attribute that is not the ARN its Ref gives
        (
            {
                "Resources": {
                    "Ce": {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {"Type": "managed"}},
                    "Q": {
                        "Type": "AWS::Batch::JobQueue",
                        "Properties": {
                            "ComputeEnvironmentOrder": [{"ComputeEnvironment": {"Fn::GetAtt": ["Ce", "Status"]}}]
                        },
                    },
                }
            },
            "Status",
        ),
        (
            {"Resources": {"Ce": {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {"Type": "Managed-ish"}}}},
            "Type",
        ),
        # the Cloud Map names used by something other than the ECS service registry
        (
            {
                "Resources": {
                    "Ns": {"Type": "AWS::ServiceDiscovery::PrivateDnsNamespace", "Properties": {"Name": "x.internal"}},
                    "P": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Fn::GetAtt": ["Ns", "Id"]}}},
                }
            },
            "still referenced",
        ),
        # an SDK call whose provider is not a function of the template
        (
            {"Resources": {"C": {"Type": "Custom::AWS", "Properties": {"ServiceToken": "arn:aws:lambda:x"}}}},
            "ServiceToken",
        ),
        # a custom resource the emulation has no rule for
        (
            {
                "Resources": {
                    "F": {"Type": "AWS::Lambda::Function", "Properties": {}},
                    "C": {"Type": "Custom::AWS", "Properties": {"ServiceToken": {"Fn::GetAtt": ["F", "Arn"]}}},
                    "O": {"Type": "Custom::Other", "Properties": {"ServiceToken": "arn:aws:lambda:y"}},
                }
            },
            "other than an SDK call",
        ),
    ],
)
def test_shapes_the_adaptations_were_not_written_for_are_refused(template, cause):
    with pytest.raises(AdaptationError, match=cause):
        adapt(template, "s")
