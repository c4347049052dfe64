"""A damaged SQLite database (zeroed header, damaged pages): every command answers one clear
error naming the file and how to restore it, `bioims status` reports no counts, and nothing is
written into the file."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from bioims import tables
from bioims.services.api import handle_json
from tests.support.backends import local_context
from tests.support.crash import bioims


def _home_with_rows(tmp_path):
    home = tmp_path / "home"
    ctx = local_context(home)
    tags = ctx.service("tag")
    for i in range(150):  # rows on several pages
        tags.create(f"compound:c{i:04d}-" + "x" * 60)
    database = ctx.settings.database_path
    ctx.stores._database().connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return home, database


def _zero_header(path):
    with open(path, "r+b") as handle:
        handle.write(b"\0" * 100)


def _damage_pages(path):
    """Overwrite the middle pages (table b-tree pages of the tag rows) with garbage."""
    size = path.stat().st_size
    page = 4096
    with open(path, "r+b") as handle:
        for offset in range(page * 2, size - page, page * 3):
            handle.seek(offset)
            handle.write(b"\xa5" * 64)


@pytest.mark.parametrize("damage", [_zero_header, _damage_pages])
def test_a_damaged_database_is_one_clear_error_and_never_written(damage, tmp_path):
    home, database = _home_with_rows(tmp_path)
    damage(database)
    before = hashlib.sha256(database.read_bytes()).hexdigest()

    status = bioims(home, "status")
    assert status.returncode == 1, status.stdout + status.stderr
    assert "Traceback" not in status.stderr and "BioimsTag" not in status.stdout  # no counts
    message = " ".join(status.stderr.split())  # rich wraps long lines
    assert message.startswith("error: the database") and message.count("error:") == 1, message
    assert str(database) in message.replace(" ", "") or str(database) in message
    assert "damaged" in message and "backup" in message

    # A service call through the CLI: the same error, once, and no trace of the service's log.
    listing = bioims(home, "tag", "getAllTags")
    assert listing.returncode == 1, listing.stdout + listing.stderr
    told = " ".join(listing.stderr.split())
    assert (
        told.startswith("error:")
        and told.count("error:") == 1
        and told.count("is damaged") == 1
        and "Traceback" not in listing.stderr
    ), told

    # A write through the service: refused with the same error, the file untouched.
    ctx = local_context(home)
    try:
        response = handle_json(ctx.service("tag"), {"method": "createTag", "tagValue": "moa:new"})
    except Exception as exc:  # the test reports what escaped
        pytest.fail(f"the service raised instead of answering: {exc!r}")
    assert response["statusCode"] == 503 and response["body"]["error"] == "StoreDamaged"
    assert str(database) in response["body"]["message"]
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    assert (
        not (database.parent / (database.name + "-wal")).exists()
        or (database.parent / (database.name + "-wal")).stat().st_size == 0
    )


def test_a_healthy_database_opens_and_counts(tmp_path):
    home, database = _home_with_rows(tmp_path)
    status = bioims(home, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["tables"][tables.TAG.name] == 301  # 150 tags, their reverse rows, the counter
    assert sqlite3.connect(database).execute("PRAGMA quick_check").fetchone()[0] == "ok"
