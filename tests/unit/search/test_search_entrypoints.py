"""Entry points: `bioims search ...`, the long-running server and its lock, the container entry
and its Dockerfile."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import bioims
from bioims import resources
from bioims.search import messages as m
from bioims.search.server import EmbeddedSearch, ServerBusy, ServiceOptions, serve

from .test_search_lambda import _world

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str):
    from bioims.cli.main import main_group

    return CliRunner().invoke(main_group, list(args), catch_exceptions=False)


def test_cli_query_loads_and_searches(local_ctx):
    data, tag_ids, plate_ids = _world(local_ctx)
    assert _cli("search", "load-training", "--train-id", "T1", "--json").exit_code == 0
    assert _cli("search", "load-tags", "--embedding-name", "emb", "--json").exit_code == 0
    assert _cli("search", "load-tag-labels", "--json").exit_code == 0
    query = data.image_ids[2]
    result = _cli(
        "search",
        "query",
        "--train-id",
        "T1",
        "--image-id",
        query,
        "--k",
        "4",
        "--exclude-tag",
        "compound:taxol",
        "--require-moa",
        "--json",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    expected = bioims.client("search").searchByImageId(
        trainId="T1", queryImageId=query, maxHits=4, exclusionTags=[tag_ids["compound:taxol"]], requireMoa=True
    )
    assert answer["status"] == "completed" and answer["hits"] == expected["hits"] and len(answer["hits"]) == 4
    table = _cli("search", "query", "--train-id", "T1", "--image-id", query, "--k", "3")
    assert table.exit_code == 0 and all(
        h["imageId"] in table.output
        for h in bioims.client("search").searchByImageId(trainId="T1", queryImageId=query, maxHits=3)["hits"]
    )
    again = _cli("search", "results", "--search-id", answer["searchId"], "--json")
    assert json.loads(again.output)["hits"] == answer["hits"]


def test_cli_reports_failed_searches_and_unknown_tags(local_ctx):
    _world(local_ctx)
    _cli("search", "load-training", "--train-id", "T1")
    failed = _cli("search", "query", "--train-id", "T1", "--image-id", "nosuchimage")
    assert failed.exit_code == 1 and "nosuchimage" in failed.output
    unknown = _cli("search", "query", "--train-id", "T1", "--image-id", "x", "--exclude-tag", "compound:nothing")
    assert unknown.exit_code == 1 and "compound:nothing" in unknown.output
    # The generic service methods are offered under the same group.
    assert "getSearchStatus" in _cli("search", "--help").output


def test_server_owns_the_local_queues_while_it_runs(local_ctx):
    data, tag_ids, plate_ids = _world(local_ctx)
    search = bioims.client("search")
    search.startTrainingLoad(trainId="T1")  # embedded: loaded in this process
    stop, ready = threading.Event(), threading.Event()
    servers = []

    def on_ready(server):
        servers.append(server)
        ready.set()

    options = ServiceOptions(http_port=0, wait_seconds=0.1)
    thread = threading.Thread(
        target=serve, args=(local_ctx.stores,), kwargs={"options": options, "on_ready": on_ready, "stop": stop}
    )
    thread.start()
    try:
        assert ready.wait(30)
        server = servers[0]
        assert server.engine.trainings()[0]["images"] == len(data.image_ids)  # loaded from the snapshots
        with pytest.raises(ServerBusy):
            serve(local_ctx.stores, options=options)
        assert EmbeddedSearch(local_ctx.stores).drain() is False  # the queues are the server's
        answer = search.searchByImageId(trainId="T1", queryImageId=data.image_ids[0], maxHits=3, waitSeconds=30)
        assert answer["status"] == "completed" and len(answer["hits"]) == 3  # answered by the server thread
        with urllib.request.urlopen(server.http.url + "/health", timeout=10) as response:
            assert json.loads(response.read())["images"] == len(data.image_ids)
    finally:
        stop.set()
        thread.join(30)
    assert EmbeddedSearch(local_ctx.stores).drain() is True  # the lock is free again


def test_cli_serve_on_a_taken_port_is_one_error_line_and_frees_the_lock(local_ctx):
    import socket

    from bioims.cli.main import main_group

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main_group, ["search", "serve", "--port", str(port)])
    assert result.exit_code == 1 and f"cannot serve on 127.0.0.1:{port}" in result.output
    assert EmbeddedSearch(local_ctx.stores).drain() is True  # the failed start left the queues free


def test_embedded_copies_reload_when_another_process_changed_the_index(local_ctx):
    _, _, plate_ids = _world(local_ctx)
    first, second = EmbeddedSearch(local_ctx.stores), EmbeddedSearch(local_ctx.stores)
    assert second.server().engine.trainings() == []  # loaded before anything was indexed
    buffer = io.BytesIO()
    np.savez(buffer, image_ids=np.asarray(["a1", "a2", "a3"]), embeddings=np.eye(3, 5, dtype=np.float32) + 0.1)
    local_ctx.stores.data.put_bytes("staged/plate.npz", buffer.getvalue())
    message = m.plate_embedding("T1", "emb", plate_ids[0], "staged/plate.npz")
    local_ctx.stores.queue(resources.MANAGEMENT_QUEUE).send(m.encode(message), group_id="T1")
    assert first.drain() is True
    assert second.server().engine.trainings()[0]["images"] == 3


def test_threads_of_one_process_take_turns_draining_and_no_message_is_left(local_ctx):
    """Two threads' embedded searches of one data directory (the search-train-loader loads plates
    in threads): while one drains, the other waits for it, then drains its own message. Before,
    the second found the lock file taken, answered as if a `bioims search serve` process owned
    the queues, and its plate's embeddings stayed in the queue."""
    _, _, plate_ids = _world(local_ctx)
    first, second = EmbeddedSearch(local_ctx.stores), EmbeddedSearch(local_ctx.stores)
    inside, release = threading.Event(), threading.Event()

    class Busy:
        def drain(self) -> None:
            inside.set()
            assert release.wait(30)

    first.server = lambda: Busy()  # type: ignore[method-assign]  # holds the drain until released
    answers: dict[str, bool] = {}
    one = threading.Thread(target=lambda: answers.update(first=first.drain()))
    one.start()
    assert inside.wait(30)
    buffer = io.BytesIO()
    np.savez(buffer, image_ids=np.asarray(["a1", "a2", "a3"]), embeddings=np.eye(3, 5, dtype=np.float32) + 0.1)
    local_ctx.stores.data.put_bytes("staged/plate.npz", buffer.getvalue())
    message = m.plate_embedding("T1", "emb", plate_ids[0], "staged/plate.npz")
    local_ctx.stores.queue(resources.MANAGEMENT_QUEUE).send(m.encode(message), group_id="T1")
    two = threading.Thread(target=lambda: answers.update(second=second.drain()))
    two.start()
    two.join(0.5)
    assert two.is_alive() and "second" not in answers  # waiting for its turn, not giving up
    release.set()
    one.join(30)
    two.join(30)
    assert answers == {"first": True, "second": True}
    assert second.server().engine.trainings()[0]["images"] == 3  # its message was handled


def test_service_options_from_environment():
    options = ServiceOptions.from_env(
        {"BIOIMS_SEARCH_HOST": "0.0.0.0", "BIOIMS_SEARCH_PORT": "9000", "BIOIMS_SEARCH_MAX_RECEIVES": "4"}
    )
    assert (options.http_host, options.http_port, options.max_receives) == ("0.0.0.0", 9000, 4)
    assert (
        ServiceOptions.from_env({}).http_host == "127.0.0.1"
        and ServiceOptions.from_env({"BIOIMS_SEARCH_PORT": "none"}).http_port is None
    )
    for bad in ({"BIOIMS_SEARCH_PORT": "eighty"}, {"BIOIMS_SEARCH_PORT": "70000"}, {"BIOIMS_SEARCH_MAX_RECEIVES": "0"}):
        with pytest.raises(ValueError):
            ServiceOptions.from_env(bad)


def test_container_entry_needs_only_the_slim_dependencies():
    code = (
        "import sys, search_service.main, bioims.context, bioims.search.server, bioims.clients.data, "
        "bioims.store.dynamodb_table, bioims.store.s3, bioims.store.queues;"
        "print([m for m in ('torch', 'pandas', 'scipy', 'skimage', 'sklearn', 'matplotlib', 'click') if m in "
        "sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_dockerfile_installs_only_the_slim_dependencies_and_copies_what_exists():
    """The search image installs numpy, FAISS, pydantic and boto3 only (pinned in
    image-constraints.txt; tests/infrastructure/test_image_contents.py builds and runs it)."""
    from stacks.images import CONTEXT_ALLOW
    from tests.support import dockerfile

    recipe = dockerfile.read(ROOT / "search_service" / "Dockerfile")
    assert sorted(recipe.packages) == ["boto3", "faiss-cpu", "numpy", "pydantic"]
    for source, _ in recipe.copies:
        assert (ROOT / source).exists() and source.split("/")[0] in CONTEXT_ALLOW
    assert recipe.command == ["python", "-m", "search_service"]
