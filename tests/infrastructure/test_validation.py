"""cdk-nag (AwsSolutions) and CloudFormation's own rules find nothing unacknowledged, cfn-lint finds
nothing, and the checks are live: a bad resource or an unexplained wildcard is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks

from stacks.nag import ScopedWildcards, acknowledge, flatten_reference, wildcard_resources


def _report(violations):
    return "\n".join(
        f"{v['plugin']}: {v['ruleName']} at {[c['constructPath'] for c in v['violatingConstructs']]}"
        for v in violations
    )


def test_no_unacknowledged_findings(assembly):
    assert assembly.error is None, _report(assembly.violations)
    assert assembly.violations == []


def test_no_unacknowledged_findings_with_every_part(full_assembly):
    assert full_assembly.error is None, _report(full_assembly.violations)


# W3005 "dependency already enforced by a GetAtt": CDK makes every function and state machine
# depend on its role (and the role's policy) explicitly; the extra DependsOn is harmless.
CFN_LINT_ACCEPTED = {"W3005"}


@pytest.mark.parametrize("which", ["assembly", "full_assembly"])
def test_cfn_lint_finds_no_errors_and_no_unexplained_warnings(which, request):
    from cfnlint.api import lint

    synthesis = request.getfixturevalue(which)
    problems = []
    for name, template in synthesis.templates.items():
        for match in lint(json.dumps(template), regions=["us-east-1", "eu-west-1"]):
            if match.rule.id not in CFN_LINT_ACCEPTED:
                problems.append(f"{name}: {match.rule.id} {match.message}")
    assert problems == []


def _nag(build) -> list[str]:
    app = App()
    stack = Stack(app, "Probe")
    build(stack)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    try:
        app.synth()
    except RuntimeError:
        pass
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    return [v["ruleName"] for p in report["pluginReports"] for v in p["violations"]]


def test_the_checks_catch_an_unencrypted_queue_without_dlq():
    rules = _nag(lambda stack: sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED))
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= set(rules)


def test_scoped_wildcards_acknowledge_only_what_they_were_told():
    def build(stack):
        bucket = s3.Bucket.from_bucket_name(stack, "Data", "probe-data")
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("artifact/plate/*")])
        )
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("other/*")]))
        ScopedWildcards(role).add("/artifact/plate/*", "plate objects of the probe bucket only", anchor="probe-data")

    rules = _nag(build)
    assert "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::probe-data/other/*]" in rules
    assert not any("artifact/plate" in rule for rule in rules)


def test_acknowledgements_need_a_reason():
    app = App()
    with pytest.raises(ValueError):
        acknowledge(Stack(app, "S"), "S1", "ok")


def test_flatten_reference_names_references_like_cdk_nag():
    value = {"Fn::Join": ["", [{"Fn::ImportValue": "st:Export"}, "/artifact/*"]]}
    assert flatten_reference(value) == "st:Export/artifact/*"
    assert flatten_reference({"Fn::GetAtt": ["Bucket", "Arn"]}) == "<Bucket.Arn>"
    assert flatten_reference({"Ref": "AWS::Region"}) == "<AWS::Region>"
    assert flatten_reference({"Fn::Sub": "arn:${AWS::Partition}:s3:::b/*"}) == "arn:<AWS::Partition>:s3:::b/*"
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": [value, "arn:aws:s3:::b"]},
            {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
        ]
    }
    assert wildcard_resources(document) == ["st:Export/artifact/*"]
