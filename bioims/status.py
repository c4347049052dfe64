"""A summary of one installation: backend, where data lives, rows per table, objects stored."""

from __future__ import annotations

from bioims import resources
from bioims.tables import ALL_TABLES


def installation_status(context) -> dict:
    settings = context.settings
    status: dict = {
        "backend": settings.backend,
        "region": settings.region if settings.backend == "aws" else None,
        "deployment": settings.deployment if settings.backend == "aws" else None,
        "home": str(settings.home) if settings.backend == "local" else None,
        "database": str(settings.database_path) if settings.backend == "local" else None,
        "tables": {},
        "objects": {},
    }
    for spec in ALL_TABLES:
        table = context.stores.table(spec)
        if settings.backend == "local":
            status["tables"][spec.name] = table.count()
        else:
            description = context.stores.aws_client("dynamodb").describe_table(TableName=settings.table_name(spec.name))
            status["tables"][spec.name] = description["Table"].get("ItemCount", 0)  # approximate, updated ~6 h
    for slot in (resources.DATA_BUCKET, resources.RESOURCE_BUCKET):
        store = context.stores.bucket(settings.resource(slot))
        count = size = 0
        for info in store.list(""):
            count += 1
            size += info.size
        status["objects"][store.bucket] = {"count": count, "bytes": size}
    return status
