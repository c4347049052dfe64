"""The search service's container entry (Fargate): `python -m search_service`."""
