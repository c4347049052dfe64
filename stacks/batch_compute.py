"""AWS Batch compute: a spot and an on-demand EC2 compute environment and one queue preferring each.

AWS Batch places a queue's jobs in its compute environments in ascending `order`: the on-demand
queue tries on-demand first and the spot queue tries spot first (the original had it the other way
round, docs/original.md §1.5, §8.1 #6), overflowing into the other kind only when its
own environment is at maxvCpus. The on-demand queue has the higher priority, so when both queues
compete for the shared on-demand environment its jobs are placed first.

Instances run in private subnets with IMDSv2 required and a hop limit of 1, so job containers
cannot borrow the instance role: job code runs with its own job role (stacks/job_definitions.py).
"""

from __future__ import annotations

from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.nag import acknowledge
from stacks.settings import DeploymentSettings

ON_DEMAND_QUEUE_PRIORITY = 10
SPOT_QUEUE_PRIORITY = 1
ROOT_VOLUME_GIB = 60  # container images with torch are several GB; scratch space for one image's outputs


class BatchCompute(Construct):
    """Two managed EC2 compute environments (spot, on-demand) and their two job queues."""

    def __init__(self, scope: Construct, construct_id: str, vpc: ec2.IVpc, settings: DeploymentSettings) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "InstanceSecurityGroup",
            vpc=vpc,
            description="Batch instances: no inbound traffic; outbound to ECR, S3, DynamoDB, SQS, SSM",
            allow_all_outbound=True,
        )
        template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GIB, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        common = {
            "vpc": vpc,
            "vpc_subnets": subnets,
            "security_groups": [self.security_group],
            "maxv_cpus": settings.batch_max_vcpus,
            "minv_cpus": 0,
            "launch_template": template,
            "use_optimal_instance_classes": True,
            "update_to_latest_image_version": True,
        }
        self.on_demand = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "OnDemand",
            spot=False,
            allocation_strategy=batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
            **common,
        )
        self.spot = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "Spot",
            spot=True,
            allocation_strategy=batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED,
            **common,
        )
        self.on_demand_queue = batch.JobQueue(
            self,
            "OnDemandQueue",
            priority=ON_DEMAND_QUEUE_PRIORITY,
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=self.on_demand, order=1),
                batch.OrderedComputeEnvironment(compute_environment=self.spot, order=2),
            ],
        )
        self.spot_queue = batch.JobQueue(
            self,
            "SpotQueue",
            priority=SPOT_QUEUE_PRIORITY,
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=self.spot, order=1),
                batch.OrderedComputeEnvironment(compute_environment=self.on_demand, order=2),
            ],
        )
        for environment in (self.on_demand, self.spot):
            acknowledge(
                environment,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]",
                "The ECS agent on Batch instances needs exactly this AWS-maintained policy; job code does not get "
                "it (IMDSv2 hop limit 1) and runs with its own job role.",
            )
