"""Objects in S3 (boto3). Large objects are streamed with managed multipart transfers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from botocore.exceptions import ClientError

from bioims.store.ports import ObjectInfo, ObjectNotFound, Payload, payload_bytes


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class S3ObjectStore:
    def __init__(self, bucket: str, client):
        self.bucket = bucket
        self._s3 = client

    def put_bytes(self, key: str, data: Payload, *, content_type: str | None = None) -> None:
        kwargs = {"ContentType": content_type} if content_type else {}
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=payload_bytes(data), **kwargs)

    def put_file(self, key: str, path: str, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        self._s3.upload_file(path, self.bucket, key, ExtraArgs=extra)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(f"s3://{self.bucket}/{key} not found") from None
            raise

    def open(self, key: str) -> IO[bytes]:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(f"s3://{self.bucket}/{key} not found") from None
            raise

    def download(self, key: str, path: str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            self._s3.download_file(self.bucket, key, tmp)
            os.replace(tmp, target)
        except ClientError as exc:
            os.unlink(tmp)
            if _missing(exc):
                raise ObjectNotFound(f"s3://{self.bucket}/{key} not found") from None
            raise
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return ObjectInfo(key, response["ContentLength"], response["LastModified"].timestamp())

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield ObjectInfo(entry["Key"], entry["Size"], entry["LastModified"].timestamp())

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def local_path(self, key: str) -> str | None:
        return None
