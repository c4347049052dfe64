"""Fixtures shared by every test tier."""

from __future__ import annotations

import os

import pytest

from tests.support.backends import installed, local_context, moto_context

# Tests never touch a real account or the user's data directory.
os.environ.setdefault("BIOIMS_BACKEND", "local")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOIMS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BIOIMS_BACKEND", "local")
    from bioims import config, context

    config.set_settings(None)
    context.reset()
    yield
    config.set_settings(None)
    context.reset()


@pytest.fixture
def local_ctx(tmp_path):
    ctx = local_context(tmp_path / "local", memory_queues=True)
    with installed(ctx):
        yield ctx


@pytest.fixture
def aws_ctx(tmp_path):
    with moto_context(tmp_path / "aws") as ctx, installed(ctx):
        yield ctx


@pytest.fixture(params=["local", "aws"])
def backend_ctx(request, tmp_path):
    """The same test on the local backend and on moto (DynamoDB, S3, SQS)."""
    if request.param == "local":
        ctx = local_context(tmp_path / "local", memory_queues=True)
        with installed(ctx):
            yield ctx
    else:
        with moto_context(tmp_path / "aws") as ctx, installed(ctx):
            yield ctx
