"""Context parsing: typed values from cdk.json, strings from `-c`, clear errors for bad values."""

from __future__ import annotations

import pytest

from stacks.settings import CONTEXT_KEYS, ContextError, DeploymentSettings, settings_from_context


def settings(**context) -> DeploymentSettings:
    return settings_from_context(context.get, env={})


def test_defaults_are_the_documented_ones():
    s = settings()
    assert s == DeploymentSettings()
    assert (s.deployment, s.nat_gateways, s.max_azs, s.retain_data) == ("bioims", 1, 2, True)
    assert s.stack_name("Storage") == "bioims-Storage" and s.ssm_prefix == "/bioims"


def test_strings_from_the_command_line_are_converted():
    s = settings(
        deployment="lab2",
        retainData="false",
        natGateways="2",
        sourceBuckets="bbbc021-images, other-images",
        searchCpu="2048",
        searchMemoryMiB="8192",
        logRetentionDays="30",
        enableTraining="no",
    )
    assert s.deployment == "lab2" and s.retain_data is False and s.nat_gateways == 2
    assert s.source_buckets == ("bbbc021-images", "other-images")
    assert (s.search_cpu, s.search_memory_mib, s.log_retention_days) == (2048, 8192, 30)
    assert s.enable_training is False


def test_typed_values_from_cdk_json_are_accepted():
    s = settings(retainData=False, natGateways=2, sourceBuckets=["bbbc021-images"])
    assert s.retain_data is False and s.nat_gateways == 2 and s.source_buckets == ("bbbc021-images",)


def test_account_and_region_come_from_the_cdk_environment():
    s = settings_from_context({}.get, env={"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"})
    assert (s.account, s.region) == ("123456789012", "eu-west-1")
    assert settings(region="us-west-2").region == "us-west-2"


@pytest.mark.parametrize(
    "context, key",
    [
        ({"deployment": "9lives"}, "deployment"),
        ({"deployment": "has_underscore"}, "deployment"),
        ({"account": "12345"}, "account"),
        ({"region": "mars-1"}, "region"),
        ({"dataBucketName": "Upper_Case"}, "dataBucketName"),
        ({"sourceBuckets": "ok-bucket,x"}, "sourceBuckets"),
        ({"dataBucketName": "a-bucket", "existingDataBucket": "b-bucket"}, "existingDataBucket"),
        ({"existingDataBucket": "same-bucket", "resourceBucketName": "same-bucket"}, "different"),
        ({"retainData": "maybe"}, "retainData"),
        ({"natGateways": "one"}, "natGateways"),
        ({"natGateways": "3"}, "natGateways"),
        ({"maxAzs": "0"}, "maxAzs"),
        ({"lustreStorageGiB": "2000"}, "lustreStorageGiB"),
        ({"searchCpu": "3000"}, "searchCpu"),
        ({"searchCpu": "1024", "searchMemoryMiB": "1024"}, "searchMemoryMiB"),
        ({"searchPort": "80"}, "searchPort"),
        ({"uiPort": "443"}, "uiPort"),
        ({"uiPort": "8080", "searchPort": "8080"}, "uiPort"),
        ({"logRetentionDays": "10"}, "logRetentionDays"),
        ({"batchMaxVcpus": 1.5}, "batchMaxVcpus"),
    ],
)
def test_bad_values_name_their_key(context, key):
    with pytest.raises(ContextError, match=key):
        settings(**context)


def test_every_context_key_maps_to_a_setting():
    names = set(DeploymentSettings.__dataclass_fields__)
    from stacks.settings import _KEYS

    assert set(_KEYS) == set(CONTEXT_KEYS) and set(_KEYS.values()) == names


def test_ui_port_defaults_to_the_cli_default_and_follows_context():
    from bioims.ui import DEFAULT_PORT

    assert settings().ui_port == DEFAULT_PORT == 8765
    assert settings(uiPort="9000").ui_port == 9000
