"""The one VPC of a deployment (docs/original.md §8.1 #8).

Batch instances, the search service and SageMaker training run in private subnets. Outbound
traffic to S3 and DynamoDB goes through gateway endpoints (free, and it keeps the bulk of the data
off the NAT gateway); everything else (ECR image pulls, SQS, SSM, CloudWatch, Batch/ECS agents)
leaves through NAT. One NAT gateway (about 33 USD a month plus 0.045 USD per GB) is cheaper than
the nine interface endpoints the same services would need in each AZ (about 7 USD each per AZ and
month); `natGateways` raises it to one per AZ for zone redundancy. Nothing in the VPC is reachable
from the internet: the public subnets hold only the NAT gateways.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.log_groups import log_group
from stacks.settings import DeploymentSettings

VPC_CIDR = "10.40.0.0/16"
PRIVATE_SUBNET_MASK = 20  # 4,096 addresses per AZ: room for a 256-vCPU Batch fleet and Fargate tasks
PUBLIC_SUBNET_MASK = 26  # NAT gateways only


class PrivateVpc(Construct):
    """A VPC with private subnets, NAT egress, S3/DynamoDB gateway endpoints and rejected-traffic flow logs."""

    def __init__(self, scope: Construct, construct_id: str, settings: DeploymentSettings) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=settings.max_azs,
            nat_gateways=settings.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=PUBLIC_SUBNET_MASK),
                ec2.SubnetConfiguration(
                    name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=PRIVATE_SUBNET_MASK
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            restrict_default_security_group=False,
        )
        # Only rejected flows: they answer "why can't X reach Y" at a fraction of the cost of ALL.
        flow_log_group = log_group(self, "FlowLogs", settings)
        self.vpc.add_flow_log(
            "RejectedTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

    @property
    def training_subnet(self) -> ec2.ISubnet:
        """FSx for Lustre lives in one subnet; training jobs run beside it (no cross-AZ traffic)."""
        return self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnets[0]
