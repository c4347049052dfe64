"""`<deployment>-Storage`: the DynamoDB tables and S3 buckets, published as slots."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from bioims import resources
from stacks.buckets import DeploymentBuckets
from stacks.published import publish
from stacks.settings import DeploymentSettings
from stacks.tables import ServiceTables


class StorageStack(Stack):
    def __init__(self, scope: Construct, settings: DeploymentSettings, **kwargs) -> None:
        name = settings.stack_name("Storage")
        super().__init__(
            scope, name, stack_name=name, description=f"{settings.deployment}: tables and buckets", **kwargs
        )
        self.tables = ServiceTables(self, "Tables", settings)
        self.buckets = DeploymentBuckets(self, "Buckets", settings)
        slots = {
            resources.DATA_BUCKET: self.buckets.data.bucket_name,
            resources.RESOURCE_BUCKET: self.buckets.resource.bucket_name,
        }
        slots.update({resources.table_slot(n): t.table_name for n, t in self.tables.by_name.items()})
        publish(self, settings.deployment, slots)
