"""Publication of deployed resource names, the contract with `bioims.config`.

Each slot of `bioims.resources` becomes an SSM String parameter `/<deployment>/<slot>` and a stack
output whose Description is exactly `slot:<slot>`; `bioims.config` reads either (BIOIMS_DISCOVERY).
"""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from bioims import resources


class PublishedName(Construct):
    """One slot's value as an SSM parameter and a stack output."""

    def __init__(self, scope: Construct, deployment: str, slot: str, value: str) -> None:
        key = resources.output_key(slot)
        super().__init__(scope, f"Published{key}")
        self.slot = slot
        self.parameter = ssm.StringParameter(
            self,
            "Parameter",
            parameter_name=resources.ssm_parameter_name(deployment, slot),
            string_value=value,
            description=f"bioims resource slot {slot} of deployment {deployment}",
            tier=ssm.ParameterTier.STANDARD,
        )
        self.output = CfnOutput(self, "Output", value=value, description=f"slot:{slot}")
        self.output.override_logical_id(key)


def publish(scope: Construct, deployment: str, slots: dict[str, str]) -> list[PublishedName]:
    """Publish several slots at once (sorted, so templates do not depend on dict order)."""
    return [PublishedName(scope, deployment, slot, slots[slot]) for slot in sorted(slots)]
