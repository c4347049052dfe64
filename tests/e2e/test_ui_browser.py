"""The web UI in a real browser: Debian's headless Chromium (/usr/bin/chromium, installed by
.ci/run) driven by Playwright, against `bioims ui` serving a tiny walkthrough's data.

Each page is opened, a search is run by clicking, the neighbour thumbnails are checked to have
loaded (naturalWidth > 0), and screenshots are saved under the test run's output
(<pytest basetemp>/ui-screenshots, or $BIOIMS_UI_SCREENSHOTS). Without Chromium or Playwright the
tests skip with the reason; with CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.ui_walkthrough import bioims_env, build_tiny_walkthrough

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.slow


def _require_browser() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem is None and not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


def _bioims(*args: str, home: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bioims.cli.main", *args], cwd=ROOT, env=bioims_env(home), **kwargs)


class Ui:
    """`bioims ui --port 0` in a subprocess; `url` is where it listens."""

    def __init__(self, home: Path, *extra: str):
        self.process = _bioims(
            "ui", "--port", "0", *extra, home=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not found:
            self.stop()
            raise AssertionError(f"bioims ui did not start: {line}{self.process.stdout.read()}")
        self.url = found.group(0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def _build_once(tmp_path_factory) -> Path:
    """The tiny walkthrough, built once per test run even under pytest-xdist: the first worker
    builds it under the run's shared temporary root while holding a lock, the others wait and reuse it."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    base = root / "ui-walkthrough"
    with open(root / "ui-walkthrough.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "out" / "walkthrough-summary.json").is_file():
            shutil.rmtree(base, ignore_errors=True)
            build_tiny_walkthrough(base)
    return base


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory) -> dict:
    """A private copy (per worker: the in-process search index is not shared between processes) of
    a tiny walkthrough run through the CLI ($BIOIMS_UI_WALKTHROUGH: an earlier run's directory with
    home/ and out/ to reuse instead)."""
    _require_browser()
    reuse = os.environ.get("BIOIMS_UI_WALKTHROUGH")
    source = Path(reuse) if reuse else _build_once(tmp_path_factory)
    base = tmp_path_factory.mktemp("ui-walkthrough-copy")
    for part in ("home", "out"):
        shutil.copytree(source / part, base / part, symlinks=True)
    summary = json.loads((base / "out" / "walkthrough-summary.json").read_text())
    return {"home": base / "home", "trainId": summary["baselineTrainId"], "summary": summary}


@pytest.fixture(scope="module")
def ui(walkthrough):
    server = Ui(walkthrough["home"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = Path(os.environ.get("BIOIMS_UI_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "ui-screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="bioims-chromium-")  # a fresh user-data dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser):
    tab = browser.new_page()
    yield tab
    tab.close()


def _all_loaded(page, selector: str) -> list[int]:
    """naturalWidth of every image matched, after each has finished loading or failing."""
    page.wait_for_function(
        f"Array.from(document.querySelectorAll({json.dumps(selector)})).every(i => i.complete)", timeout=15000
    )
    return page.eval_on_selector_all(selector, "els => els.map(i => i.naturalWidth)")


def test_plates_page_lists_the_plate_with_its_thumbnail_strip(ui, page, shots):
    response = page.goto(f"{ui.url}/plates")
    assert response.status == 200
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "Week3_25421" in rows.first.inner_text() and "VALIDATED" in rows.first.inner_text()
    widths = _all_loaded(page, ".strip img")
    assert len(widths) == 8 and all(w > 0 for w in widths)
    page.screenshot(path=str(shots / "plates.png"), full_page=True)


def test_plate_page_colours_wells_by_moa_and_compound_and_paginates(ui, page, shots):
    page.goto(f"{ui.url}/plates")
    page.click("tbody tr a")
    assert page.locator("h1").inner_text().startswith("Plate Week3_25421")
    coloured = page.locator(".grid td[style]")
    assert coloured.count() == 60  # one image per well, 60 wells
    legend = page.locator(".legend").inner_text()
    assert "DMSO" in legend and "Eg5 inhibitors" in legend
    page.screenshot(path=str(shots / "plate.png"), full_page=True)
    page.click("text=compound")
    assert (
        "taxol" in page.locator(".legend").inner_text() and "Eg5 inhibitors" not in page.locator(".legend").inner_text()
    )
    assert "page 1 of 2 (1-48 of 60)" in page.locator(".pager").first.inner_text()
    assert page.locator(".cards .card").count() == 48
    page.locator(".pager a[rel=next]").first.click()
    assert page.locator(".cards .card").count() == 12 and "page=2" in page.url and "by=compound" in page.url


def test_image_page_then_a_search_by_clicking(ui, walkthrough, page, shots):
    page.goto(f"{ui.url}/plates")
    page.click("tbody tr a")
    page.locator(".cards .card", has_text="MOA: Eg5 inhibitors").first.locator("a").first.click()
    assert page.url.startswith(f"{ui.url}/images/")
    assert all(w > 0 for w in _all_loaded(page, "img"))  # medium and thumbnail
    body = page.locator("main").inner_text()
    for expected in ("Labels", "Tags", "ROIs", "Channels", "dapi", "Message log", "moa:"):
        assert expected in body, expected
    page.screenshot(path=str(shots / "image.png"), full_page=True)

    page.click(f"a.search-link:has-text('{walkthrough['trainId']}')")
    assert "/search?" in page.url
    page.select_option("#exclude-tags", label="moa:DMSO")
    page.fill("#k", "12")
    page.click("#search-button")
    page.wait_for_selector("#hits")
    hits = page.locator("#hits .hit")
    assert hits.count() == 12
    assert all("MOA: DMSO" not in text for text in hits.all_inner_texts())
    distances = [float(d) for d in page.locator("#hits .distance").all_inner_texts()]
    assert distances == sorted(distances)
    widths = _all_loaded(page, "#hits .hit img")
    assert len(widths) == 12 and all(w > 0 for w in widths)
    page.screenshot(path=str(shots / "search.png"), full_page=True)
    same = page.locator("#hits .hit", has_text="MOA: Eg5 inhibitors").count()
    assert (
        page.locator("#hits .same-moa").count() == same
        and f"(Eg5 inhibitors): {same} of 12" in page.locator("main").inner_text()
    )
    assert "highlight" in page.get_attribute("#hits", "class")
    page.uncheck("#same-moa")
    assert "highlight" not in page.get_attribute("#hits", "class")


def test_trainings_model_card_and_evaluation_report(ui, walkthrough, page, shots):
    train_id = walkthrough["trainId"]
    page.goto(f"{ui.url}/trainings")
    assert train_id in page.locator("tbody").inner_text()
    page.click(f"tbody a:has-text('{train_id}')")
    body = page.locator("main").inner_text()
    assert "Model card" in body and "architecture" in body and "validationBest" in body
    page.click("text=evaluation report")
    assert page.url.endswith(f"/trainings/{train_id}/report")
    body = page.locator("main").inner_text()
    for expected in ("NSC (not same compound", "NSCB", "95% CI", "confusion matrix", "t-SNE", "Per-compound results"):
        assert expected in body, expected
    assert all(w > 0 for w in _all_loaded(page, "main img"))
    page.screenshot(path=str(shots / "report.png"), full_page=True)


def test_unknown_ids_answer_the_404_page(ui, page):
    for path, message in (
        ("/images/no-such-image", "no image 'no-such-image'"),
        ("/plates/x", "no plate 'x'"),
        ("/trainings/x/report", "no training 'x'"),
    ):
        response = page.goto(ui.url + path)
        assert response.status == 404 and message in page.locator(".error").inner_text()


def test_empty_system_shows_what_to_do(tmp_path, page, shots):
    server = Ui(tmp_path / "empty-home")
    try:
        page.goto(f"{server.url}/plates")
        assert "No plates yet" in page.locator(".empty").inner_text()
        page.screenshot(path=str(shots / "empty.png"))
        page.goto(f"{server.url}/search")
        assert "No trained and embedded training" in page.locator(".empty").inner_text()
    finally:
        server.stop()


def test_search_service_down_is_reported(walkthrough, page, shots):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Ui(walkthrough["home"], "--search-url", f"http://127.0.0.1:{port}", "--search-timeout", "3")
    try:
        page.goto(f"{server.url}/plates")
        page.click("tbody tr a")
        page.locator(".cards .card a").first.click()
        page.click("a.search-link")
        assert page.locator(".search-down").inner_text().startswith("The search service is not available.")
        assert "not reachable" in page.locator(".search-down").inner_text()
        page.screenshot(path=str(shots / "search-down.png"))
    finally:
        server.stop()


def _hit_ids(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_selector("#hits")
    return page.eval_on_selector_all("#hits .hit", "els => els.map(e => e.dataset.imageId)")


def test_search_through_the_search_services_http_api_gives_the_same_neighbours(ui, walkthrough, page):
    image = walkthrough["summary"]["exampleSearch"]["query"]["imageId"]
    query = f"/search?trainId={walkthrough['trainId']}&imageId={image}&k=10"
    in_process = _hit_ids(page, ui.url + query)
    search = _bioims(
        "search",
        "serve",
        "--port",
        "0",
        home=walkthrough["home"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = search.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line + search.stdout.read()
        server = Ui(walkthrough["home"], "--search-url", found.group(0))
        try:
            assert _hit_ids(page, server.url + query) == in_process and len(in_process) == 10
            assert all(w > 0 for w in _all_loaded(page, "#hits .hit img"))
        finally:
            server.stop()
    finally:
        search.terminate()
        search.wait(timeout=20)
