"""checkov suppressions, each made in the construct that creates the resource, with its reason.

checkov (an independent scanner run on the synthesised templates, tests/infrastructure/
test_checkov.py) reads `Metadata.checkov.skip` of a resource. A suppression here says why the
finding does not apply or is accepted; findings that must be fixed are never suppressed (see
docs/deploy.md "Security findings").
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

MIN_REASON = 20


def skip_check(resource: IConstruct, check_id: str, reason: str) -> None:
    """Suppress checkov `check_id` (e.g. "CKV_AWS_117") on `resource` (an L1 or its L2 construct)."""
    if len(reason.strip()) < MIN_REASON:
        raise ValueError(f"suppressing {check_id} needs a real reason, not {reason!r}")
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{resource.node.path} creates no CloudFormation resource to suppress {check_id} on")
    existing = cfn.get_metadata("checkov") or {}
    skips = [s for s in existing.get("skip", []) if s["id"] != check_id]
    cfn.add_metadata("checkov", {"skip": [*skips, {"id": check_id, "comment": reason.strip()}]})
