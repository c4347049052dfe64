"""Re-ingesting plates under names already stored: the same content is idempotent, another copy
(different source or checksums in the manifest) is a 409 that says so and how to replace the
plate, and changes nothing."""

from __future__ import annotations

import json

import pytest

from bioims import client, tables
from bioims.bbbc021.ingest import IngestError, ingest
from bioims.services.api import handle_json


def _rows(ctx) -> list[dict]:
    return sorted(ctx.stores.table(tables.IMAGE_MANAGEMENT).scan_all(), key=repr)


def test_another_copy_under_the_same_plate_names_is_refused(bbbc021_copy, second_copy, local_ctx, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    first = ingest(bbbc021_copy, context=local_ctx)
    assert [p.status for p in first.plates] == ["uploaded", "uploaded"]
    before = _rows(local_ctx)

    with pytest.raises(IngestError) as refused:
        ingest(second_copy, context=local_ctx)
    message = str(refused.value)
    assert "different content" in message and "To replace it" in message and str(second_copy.resolve()) in message
    assert _rows(local_ctx) == before  # the stored plates keep reading the first copy
    images = client("image-management", local_ctx).getImagesByPlateId(first.plates[0].plate_id)
    assert {r["bucket"] for r in images} == {str(bbbc021_copy.resolve())}

    again = ingest(bbbc021_copy, context=local_ctx)  # the same content: idempotent
    assert [p.status for p in again.plates] == ["already uploaded", "already uploaded"]
    assert _rows(local_ctx) == before


def test_the_service_answers_409_for_a_changed_manifest(local_ctx, tmp_path):
    """A lab's manifest whose checksums (metadata) changed under the same plateSourceId."""
    bucket = local_ctx.stores.resource_bucket

    def upload(checksum: str) -> dict:
        manifest = {
            "plateSourceId": "P1",
            "images": [
                {
                    "wellSourceId": "A01",
                    "imageSourceId": "f1",
                    "sourceBucket": str(tmp_path),
                    "sourceKey": "f1.tif",
                    "metadata": {"sha256": checksum},
                }
            ],
        }
        bucket.put_bytes("m.json", json.dumps(manifest).encode())
        return handle_json(
            local_ctx.service("image-management"),
            {"method": "populateSourcePlate", "inputBucket": bucket.bucket, "inputKey": "m.json"},
        )

    created = upload("aa")
    assert created["statusCode"] == 201
    assert upload("aa")["statusCode"] == 409  # the same plate again: the known 409 naming its plateId
    changed = upload("bb")
    assert changed["statusCode"] == 409 and changed["body"]["differentContent"] is True
    assert changed["body"]["plateId"] == created["body"]["plateId"]
    assert "different content" in changed["body"]["message"]
