"""The one place where the synthesised templates are changed before moto deploys them.

Each adaptation works around a gap of moto 5.2 (server mode) that real CloudFormation does not
have (measured: /work/shared/notes/moto-cloudformation.md); docs/deploy.md lists them with the
reason. Each one checks that the template has exactly the shape it expects and raises
`AdaptationError` otherwise, so a project error (a wrong reference, a missing property) is never
rewritten into something that deploys. Nothing else in the emulated deployment edits a template.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What the emulator gives the resources moto cannot create (FSx for Lustre).
EMULATED_FILE_SYSTEM_ID = "fs-0e0e0e0e0e0e0e0e0"
EMULATED_MOUNT_NAME = "emulated"
BATCH_SERVICE_ROLE = "AWSServiceRoleForBatch"  # what AWS uses when ServiceRole is left out


class AdaptationError(RuntimeError):
    """A template does not have the shape an adaptation was written for: look at the template."""


@dataclass
class Adapted:
    """A template after adaptation, and what was done to it."""

    template: dict
    applied: list[str] = field(default_factory=list)  # one line per change, for the test's log
    # FSx file systems replaced: emulated id -> the ImportPath expression (S3 URI) of the original
    file_systems: dict[str, Any] = field(default_factory=dict)


def _walk(node: Any, visit: Callable[[Any], Any]) -> Any:
    """Rebuild `node` bottom-up, letting `visit` replace any dict or list."""
    if isinstance(node, dict):
        node = {k: _walk(v, visit) for k, v in node.items()}
    elif isinstance(node, list):
        node = [_walk(v, visit) for v in node]
    return visit(node)


def _resources(template: dict, type_name: str) -> dict[str, dict]:
    return {k: r for k, r in template.get("Resources", {}).items() if r["Type"] == type_name}


def _references(template: dict, logical_id: str) -> list[Any]:
    found = []

    def visit(node):
        if isinstance(node, dict) and (
            node.get("Ref") == logical_id or ("Fn::GetAtt" in node and node["Fn::GetAtt"][0] == logical_id)
        ):
            found.append(node)
        return node

    _walk(template, visit)
    return found


# --- the adaptations ---------------------------------------------------------------------------------
def ssm_parameter_tags(template: dict, stack: str, out: Adapted) -> None:
    """moto answers 500 to `AWS::SSM::Parameter.Tags` given as a map (the documented type, which
    CDK writes); it expects a list of Key/Value. Same tags, list form."""
    for logical_id, resource in _resources(template, "AWS::SSM::Parameter").items():
        tags = resource["Properties"].get("Tags")
        if isinstance(tags, dict):
            resource["Properties"]["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
            out.applied.append(f"{stack}/{logical_id}: SSM parameter tags as a list")


def fifo_queue_names(template: dict, stack: str, out: Adapted) -> None:
    """moto rejects an unnamed FIFO queue ("Queue name must end in .fifo"); CloudFormation
    generates `<stack>-<logicalId>-<random>.fifo`. The same scheme, without the random part."""
    for logical_id, resource in _resources(template, "AWS::SQS::Queue").items():
        props = resource["Properties"]
        if props.get("FifoQueue") is True and "QueueName" not in props:
            props["QueueName"] = f"{stack}-{logical_id}"[:75] + ".fifo"
            out.applied.append(f"{stack}/{logical_id}: generated FIFO queue name {props['QueueName']}")


def batch_compute_environments(template: dict, stack: str, out: Adapted) -> None:
    """moto's AWS::Batch::ComputeEnvironment wants `Type` upper case (CDK writes `managed`, which
    CloudFormation accepts) and a `ServiceRole` (optional on AWS, which then uses the
    service-linked role AWSServiceRoleForBatch: given here by that ARN); and moto has no
    Fn::GetAtt for Batch resources, whose `Ref` is the same ARN."""
    batch_ids = {k for k, r in template.get("Resources", {}).items() if r["Type"].startswith("AWS::Batch::")}
    for logical_id, resource in _resources(template, "AWS::Batch::ComputeEnvironment").items():
        props = resource["Properties"]
        if props.get("Type") not in ("managed", "unmanaged", "MANAGED", "UNMANAGED"):
            raise AdaptationError(f"{stack}/{logical_id}: compute environment Type {props.get('Type')!r}")
        props["Type"] = props["Type"].upper()
        if "ServiceRole" not in props:
            props["ServiceRole"] = {
                "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/batch.amazonaws.com/"
                + BATCH_SERVICE_ROLE
            }
            out.applied.append(f"{stack}/{logical_id}: ServiceRole = the Batch service-linked role")
    arn_attributes = {"ComputeEnvironmentArn", "JobQueueArn", "JobDefinitionArn"}

    def visit(node):
        if isinstance(node, dict) and "Fn::GetAtt" in node and node["Fn::GetAtt"][0] in batch_ids:
            target, attribute = node["Fn::GetAtt"]
            if attribute not in arn_attributes:
                raise AdaptationError(f"{stack}: Fn::GetAtt {target}.{attribute} is not an ARN attribute")
            out.applied.append(f"{stack}: Fn::GetAtt {target}.{attribute} -> Ref {target}")
            return {"Ref": target}
        return node

    template["Resources"] = _walk(template["Resources"], visit)
    template["Outputs"] = _walk(template.get("Outputs", {}), visit)


def lustre_file_systems(template: dict, stack: str, out: Adapted) -> None:
    """moto cannot create AWS::FSx::FileSystem. The file system is left out; its `Ref` becomes a
    fixed file-system id and its `LustreMountName` a fixed mount name, which the emulated SageMaker
    resolves back to the bucket the file system imports (its ImportPath, kept unresolved here and
    resolved against the deployed stacks). Any other attribute, or no ImportPath, is an error."""
    for logical_id, resource in _resources(template, "AWS::FSx::FileSystem").items():
        props = resource["Properties"]
        import_path = props.get("LustreConfiguration", {}).get("ImportPath")
        if props.get("FileSystemType") != "LUSTRE" or import_path is None:
            raise AdaptationError(f"{stack}/{logical_id}: not a Lustre file system importing from S3")
        del template["Resources"][logical_id]
        out.file_systems[EMULATED_FILE_SYSTEM_ID] = import_path
        values = {"Ref": EMULATED_FILE_SYSTEM_ID, "LustreMountName": EMULATED_MOUNT_NAME}

        def visit(node, logical_id=logical_id, values=values):
            if isinstance(node, dict):
                if node.get("Ref") == logical_id:
                    return values["Ref"]
                if "Fn::GetAtt" in node and node["Fn::GetAtt"][0] == logical_id:
                    attribute = node["Fn::GetAtt"][1]
                    if attribute not in values:
                        raise AdaptationError(f"{stack}: Fn::GetAtt {logical_id}.{attribute} has no emulated value")
                    return values[attribute]
            return node

        template["Resources"] = _walk(template["Resources"], visit)
        template["Outputs"] = _walk(template.get("Outputs", {}), visit)
        _drop_depends_on(template, logical_id)
        out.applied.append(
            f"{stack}/{logical_id}: FSx for Lustre left out ({EMULATED_FILE_SYSTEM_ID}, mount {EMULATED_MOUNT_NAME})"
        )


def service_discovery(template: dict, stack: str, out: Adapted) -> None:
    """moto cannot create AWS::ServiceDiscovery::PrivateDnsNamespace or ::Service. Both are left
    out, with the ECS services' ServiceRegistries entries that point at them (nothing in bioims
    resolves the private DNS name: clients reach the search service through its queues and table).
    A reference to them from anywhere else is an error."""
    removed = set(_resources(template, "AWS::ServiceDiscovery::PrivateDnsNamespace")) | set(
        _resources(template, "AWS::ServiceDiscovery::Service")
    )
    if not removed:
        return
    for logical_id, resource in _resources(template, "AWS::ECS::Service").items():
        registries = resource["Properties"].get("ServiceRegistries")
        if registries is None:
            continue
        kept = [r for r in registries if r.get("RegistryArn", {}).get("Fn::GetAtt", [None])[0] not in removed]
        if kept:
            raise AdaptationError(f"{stack}/{logical_id}: a service registry that is not created here: {kept}")
        del resource["Properties"]["ServiceRegistries"]
        out.applied.append(f"{stack}/{logical_id}: ServiceRegistries left out")
    for logical_id in removed:
        del template["Resources"][logical_id]
        out.applied.append(f"{stack}/{logical_id}: Cloud Map resource left out")
    for logical_id in removed:
        left = _references(template, logical_id)
        if left:
            raise AdaptationError(f"{stack}: {logical_id} is still referenced: {left}")
        _drop_depends_on(template, logical_id)


def sdk_call_custom_resources(template: dict, stack: str, out: Adapted) -> None:
    """moto runs a custom resource's Lambda only in Docker, and the SDK-call provider's code is a
    CDK asset zip the emulator does not upload. The `Custom::AWS` resources (the Compat stack's
    writer of the original's discovery document) and their provider function are left out; any
    other custom resource, or a reference to these from elsewhere, is an error."""
    calls = _resources(template, "Custom::AWS")
    if not calls:
        return
    providers = set()
    for logical_id, resource in calls.items():
        token = resource["Properties"].get("ServiceToken", {})
        target = token.get("Fn::GetAtt", [None])[0] if isinstance(token, dict) else None
        if target not in template["Resources"] or template["Resources"][target]["Type"] != "AWS::Lambda::Function":
            raise AdaptationError(f"{stack}/{logical_id}: ServiceToken is not a function of this template: {token}")
        providers.add(target)
    removed = set(calls) | providers
    for logical_id in sorted(removed):
        del template["Resources"][logical_id]
        out.applied.append(f"{stack}/{logical_id}: SDK-call custom resource left out")
    for logical_id in removed:
        left = _references(template, logical_id)
        if left:
            raise AdaptationError(f"{stack}: {logical_id} is still referenced: {left}")
        _drop_depends_on(template, logical_id)
    if any(
        r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"
        for r in template["Resources"].values()
    ):
        raise AdaptationError(f"{stack}: a custom resource other than an SDK call")


def _drop_depends_on(template: dict, logical_id: str) -> None:
    for resource in template.get("Resources", {}).values():
        depends = resource.get("DependsOn")
        if isinstance(depends, list) and logical_id in depends:
            resource["DependsOn"] = [d for d in depends if d != logical_id]
        elif depends == logical_id:
            del resource["DependsOn"]


ADAPTATIONS = (
    ssm_parameter_tags,
    fifo_queue_names,
    batch_compute_environments,
    lustre_file_systems,
    service_discovery,
    sdk_call_custom_resources,
)


def adapt(template: dict, stack: str) -> Adapted:
    """A copy of `template` that moto can create, and the list of what changed."""
    out = Adapted(copy.deepcopy(template))
    for adaptation in ADAPTATIONS:
        adaptation(out.template, stack, out)
    json.dumps(out.template)  # still a JSON template
    return out
