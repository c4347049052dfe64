"""cdk-nag (v3) acknowledgements, each made beside the resource it concerns with its reason.

cdk-nag v3 reports IAM wildcard findings one by one, named by the flattened resource string
(`AwsSolutions-IAM5[Resource::<...>/artifact/plate/*]`). Resources that point into another stack
only get their final form (an `Fn::ImportValue`) when the app resolves references, so
`ScopedWildcards` acknowledges a role's findings at validation time, after resolution and before
cdk-nag runs, and only those whose wildcard is one the grant helpers made on purpose (an object
prefix, a parameter path, executions of one state machine): any other wildcard still fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import jsii
from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct, IValidation

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions rule (e.g. "S1" or "IAM5[Resource::*]") on `scope` and below."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule} needs a real reason, not {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}-{rule}", reason=reason))


def flatten_reference(node: Any) -> str:
    """A CloudFormation value as cdk-nag names it in findings (Join/Sub/GetAtt/ImportValue/Ref)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def wildcard_resources(document: dict) -> list[str]:
    """The flattened Allow resources of a policy document that contain '*'."""
    found: list[str] = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        resources = statement.get("Resource", [])
        for resource in resources if isinstance(resources, list) else [resources]:
            flat = flatten_reference(resource)
            if "*" in flat and flat not in found:
                found.append(flat)
    return found


def _policy_documents(resource: CfnResource) -> Iterable[dict]:
    stack = Stack.of(resource)
    if isinstance(resource, (iam.CfnPolicy, iam.CfnManagedPolicy)):
        yield stack.resolve(resource.policy_document)
    elif isinstance(resource, iam.CfnRole):
        for policy in stack.resolve(resource.policies) or []:
            yield stack.resolve(policy)["PolicyDocument"]


@jsii.implements(IValidation)
class ScopedWildcards:
    """Acknowledges, under `scope`, the IAM5 resource findings a grant helper made deliberately:
    a finding matches an entry when its flattened resource ends with the entry's tail (e.g.
    "/artifact/plate/*/*") and contains its anchor (the target's logical id or literal name)."""

    def __init__(self, scope: Construct) -> None:
        self._scope = scope
        self._entries: dict[tuple[str, str], str] = {}
        scope.node.add_validation(self)

    def add(self, tail: str, reason: str, *, anchor: str = "") -> None:
        self._entries.setdefault((anchor, tail), reason)

    def reason_for(self, flat: str) -> str | None:
        for (anchor, tail), reason in self._entries.items():
            if flat.endswith(tail) and anchor in flat:
                return reason
        return None

    def validate(self) -> list[str]:
        for construct in self._scope.node.find_all():
            if not isinstance(construct, (iam.CfnPolicy, iam.CfnManagedPolicy, iam.CfnRole)):
                continue
            for document in _policy_documents(construct):
                for flat in wildcard_resources(document):
                    reason = self.reason_for(flat)
                    if reason is not None:
                        acknowledge(construct, f"IAM5[Resource::{flat}]", reason)
        return []


def anchor_of(resource: IConstruct) -> str:
    """What identifies a resource inside a flattened reference: its logical id when this app
    creates it (it appears in GetAtt and export names), else its literal name (imports)."""
    child = resource.node.default_child
    if isinstance(child, CfnResource):
        return Stack.of(child).resolve(child.logical_id)
    name = getattr(resource, "bucket_name", None) or getattr(resource, "table_name", None)
    if isinstance(name, str) and "${Token" not in name:
        return name
    raise ValueError(f"cannot anchor a wildcard on {resource.node.path}")


def scoped_wildcards(scope: Construct) -> ScopedWildcards:
    """The ScopedWildcards validation of `scope` (one per scope, created on first use)."""
    existing = getattr(scope, "_bioims_scoped_wildcards", None)
    if existing is None:
        existing = ScopedWildcards(scope)
        scope._bioims_scoped_wildcards = existing
    return existing
