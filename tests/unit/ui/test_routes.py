"""The UI's pages on an empty system, on both backends (SQLite/files and moto's DynamoDB/S3):
empty states, 404 pages for unknown ids, the object guard, pagination and the search-service-down
message. Pages with data are tested in a real browser (tests/e2e/test_ui_browser.py)."""

from __future__ import annotations

import html
import re
import socket

import pytest
from click.testing import CliRunner

from bioims.ui.data import SearchUnavailable, UiData, well_position
from bioims.ui.html import paginate
from bioims.ui.server import route


def _text(body: bytes) -> str:
    return re.sub(r"<[^>]+>", " ", body.decode())


def test_empty_system_shows_empty_states(backend_ctx):
    data = UiData(backend_ctx)
    status, _, body = route(data, "/plates", "")
    assert status == 200 and "No plates yet" in _text(body)
    status, _, body = route(data, "/trainings", "")
    assert status == 200 and "No trainings yet" in _text(body)
    status, _, body = route(data, "/search", "")
    assert status == 200 and "No trained and embedded training" in _text(body)


def test_unknown_ids_and_paths_answer_the_404_page(backend_ctx):
    data = UiData(backend_ctx)
    for path, message in [
        ("/plates/nope", "no plate 'nope'"),
        ("/images/nope", "no image 'nope'"),
        ("/trainings/nope", "no training 'nope'"),
        ("/trainings/nope/report", "no training 'nope'"),
        ("/nowhere", "There is no page '/nowhere'"),
        ("/plates/a/b/c", "There is no page"),
    ]:
        status, content_type, body = route(data, path, "")
        assert status == 404 and content_type.startswith("text/html"), path
        assert "Not found" in body.decode() and message in html.unescape(_text(body)), path


def test_objects_outside_the_artifacts_or_missing_are_404(backend_ctx):
    data = UiData(backend_ctx)
    backend_ctx.stores.data.put_bytes("bbbc021/plate.tif", b"raw")
    for key in ["artifact/missing.png", "../secret", "artifact/../../etc/passwd", "bbbc021/plate.tif", "artifact//x"]:
        assert route(data, "/object/" + key, "")[0] == 404, key


def test_an_artifact_object_is_served_with_its_type(backend_ctx):
    backend_ctx.stores.data.put_bytes("artifact/plate/p/default/image/i/thumbnail-2d.png", b"\x89PNG...")
    status, content_type, body = route(
        UiData(backend_ctx), "/object/artifact/plate/p/default/image/i/thumbnail-2d.png", ""
    )
    assert (status, content_type, body) == (200, "image/png", b"\x89PNG...")


def test_root_redirects_to_the_plates():
    assert route(UiData(), "/", "")[:2] == (302, "/plates")


def test_pagination_past_200_items():
    items = list(range(250))
    first, pager = paginate(items, 1, "/plates", per_page=100, by="compound")
    assert (
        first == list(range(100))
        and "page 1 of 3 (1-100 of 250)" in pager
        and "page=2" in pager
        and "by=compound" in pager
    )
    third, pager = paginate(items, 3, "/plates", per_page=100)
    assert third == list(range(200, 250)) and "201-250 of 250" in pager and "page=2" in pager and "next" not in pager
    beyond, _ = paginate(items, 99, "/plates", per_page=100)
    assert beyond == third  # a page past the end shows the last one
    assert paginate(items[:100], 1, "/plates", per_page=100)[1] == ""  # one page: no pager


def test_well_names_map_to_grid_positions():
    assert well_position("A01") == (0, 0) and well_position("D09") == (3, 8) and well_position("P24") == (15, 23)
    assert well_position("AA1") == (26, 0) and well_position("") == (-1, -1) and well_position("??") == (-1, -1)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_search_service_that_is_down_is_reported(local_ctx):
    data = UiData(local_ctx, search_url=f"http://127.0.0.1:{_closed_port()}", search_timeout=2)
    with pytest.raises(SearchUnavailable, match="not reachable"):
        data.search("t", "i", 5, [], [], False)


def test_cli_rejects_a_bad_search_url_and_a_taken_port():
    from bioims.cli.main import main_group

    result = CliRunner().invoke(main_group, ["ui", "--search-url", "ftp://x"])
    assert result.exit_code != 0 and "--search-url must start with http" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = CliRunner().invoke(main_group, ["ui", "--port", str(taken.getsockname()[1])])
    assert result.exit_code != 0 and "cannot serve on" in result.output


def test_the_search_service_container_starts_the_ui_on_loopback_when_asked(local_ctx, monkeypatch):
    import urllib.request

    from bioims.search.server import ServiceOptions
    from bioims.ui.server import ui_from_env
    from search_service.main import start_ui

    assert ui_from_env({}, 8080) is None and ui_from_env({"BIOIMS_UI_PORT": "none"}, 8080) is None
    for bad in ("http", "70000"):
        with pytest.raises(ValueError, match="BIOIMS_UI_PORT"):
            ui_from_env({"BIOIMS_UI_PORT": bad}, 8080)
    monkeypatch.setenv("BIOIMS_UI_PORT", "0")
    server = start_ui(ServiceOptions(http_port=8080))
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "/plates", timeout=10) as response:
            assert response.status == 200 and b"No plates yet" in response.read()
    finally:
        server.stop()
