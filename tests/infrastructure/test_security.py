"""The security findings issue 18 requires fixed in the templates (not suppressed): data bucket
versions that expire, SageMaker's network-interface actions tied to the deployment's VPC, the
search API open to its clients' security group only, reserved concurrency on the heavy functions,
and the Lambdas' real place (outside the VPC) stated in the docs."""

from __future__ import annotations

import json

from stacks.functions import FUNCTION_SIZES, handler_module
from stacks.images import REPO_ROOT
from tests.infrastructure.conftest import as_list, statements


def test_data_bucket_keeps_versions_and_expires_old_ones(assembly):
    buckets = assembly.resources("AWS::S3::Bucket", "Storage")
    (data,) = [b for key, b in buckets.items() if "DataBucket" in key]
    props = data["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 0) > 0 for r in rules)
    assert all(b["Properties"].get("VersioningConfiguration") == {"Status": "Enabled"} for b in buckets.values())


def test_sagemaker_mutating_ec2_actions_are_conditioned_and_only_describe_is_on_star(assembly):
    ec2 = [
        (lid, s)
        for lid, s in statements(assembly.template("Training"))
        if any(a.startswith("ec2:") for a in as_list(s["Action"]))
    ]
    assert ec2
    mutating_seen = set()
    for logical_id, statement in ec2:
        actions = [a for a in as_list(statement["Action"]) if a.startswith("ec2:")]
        mutating = [a for a in actions if not a.startswith("ec2:Describe")]
        if as_list(statement["Resource"]) == ["*"]:
            assert mutating == [], f"{logical_id}: {mutating} on *"
            continue
        for resource in as_list(statement["Resource"]):
            text = json.dumps(resource)
            assert any(kind in text for kind in (":subnet/", ":security-group/", ":network-interface/")), text
            if ":network-interface/*" in text:  # SageMaker names the interfaces: the VPC condition binds them
                assert "ec2:Vpc" in statement.get("Condition", {}).get("ArnEquals", {}), statement
        mutating_seen.update(mutating)
    assert mutating_seen == {
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
    }


def test_search_port_is_open_to_the_client_security_group_only(assembly):
    template = assembly.template("SearchService")
    ingress = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]
    inline = [
        rule
        for r in template["Resources"].values()
        if r["Type"] == "AWS::EC2::SecurityGroup"
        for rule in r["Properties"].get("SecurityGroupIngress", [])
    ]
    assert inline == []
    assert ingress and all("SourceSecurityGroupId" in rule and "CidrIp" not in rule for rule in ingress)
    outputs = template["Outputs"]
    assert "SearchClientSecurityGroupId" in outputs


def test_compute_heavy_functions_reserve_concurrency(assembly):
    functions = assembly.resources("AWS::Lambda::Function", "Services")
    by_handler = {f["Properties"]["ImageConfig"]["Command"][0]: f["Properties"] for f in functions.values()}
    heavy = {s: size.reserved for s, size in FUNCTION_SIZES.items() if size.reserved}
    assert {"image-artifact", "image-management", "process-plate", "train", "search"} <= set(heavy)
    for service, reserved in heavy.items():
        assert by_handler[f"{handler_module(service)}.handler"]["ReservedConcurrentExecutions"] == reserved


def test_docs_say_where_each_compute_runs(assembly):
    """The Lambdas are outside the VPC, Batch, Fargate and SageMaker inside: the docs must not claim otherwise."""
    functions = assembly.resources("AWS::Lambda::Function", "Services")
    assert functions and all("VpcConfig" not in f["Properties"] for f in functions.values())
    for doc in ("README.md", "docs/deploy.md"):
        text = (REPO_ROOT / doc).read_text()
        assert "all in private subnets" not in text, doc
        assert "outside the VPC" in text, f"{doc} does not say the Lambdas run outside the VPC"
