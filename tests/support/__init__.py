"""Shared test helpers: backends (local SQLite/dir, moto DynamoDB/S3/SQS) built the way production builds them."""
