"""Fixtures shared by every test tier."""

from __future__ import annotations

import os

import pytest

from tests.support.backends import installed, local_context, moto_context

# Tests never touch a real account or the user's data directory.
os.environ.setdefault("BIOIMS_BACKEND", "local")


def _avoid_cpython_ast_depth_bug() -> None:
    """CPython before 3.11.8 can corrupt the ast module's recursion-depth counter when ast.parse
    runs in several threads at once (python/cpython#106905); every later ast.parse in that process
    then fails with "SystemError: AST constructor recursion depth mismatch", including pytest's
    assertion rewriting of the next test modules. The threaded parses come from traceback
    formatting (3.11 parses the failing line to place its carets) in moto's Step Functions threads
    and the search service's threads. Without carets, tracebacks stay complete and no thread parses."""
    import sys
    import traceback

    if sys.version_info[:3] < (3, 11, 8) and hasattr(traceback, "_extract_caret_anchors_from_line_segment"):
        traceback._extract_caret_anchors_from_line_segment = lambda segment: None


_avoid_cpython_ast_depth_bug()


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
