"""Benchmark of the web UI: the response time of every page over HTTP, on a tiny walkthrough's
data, against the 300 ms target of issue 15 (there is no earlier UI to compare with: the target
is the baseline, and each page's median is printed as a fraction of it).

The data: `bioims walkthrough` with the tiny options of tests/support/ui_walkthrough.py (1 synthetic
plate of 60 images, 64 x 80 px, a one-epoch training, its embeddings, search index and
evaluation report), run through the CLI into a temporary directory, or an earlier run's
directory (--walkthrough DIR holding home/ and out/). The UI (bioims.ui.server.UiServer) serves
it on a free loopback port in this process; each page is fetched once cold (the first request
after start, which loads the search index or imports the report's libraries), then --repeats
times over a keep-alive connection.

Run:  .venv/bin/python benchmarks/ui.py [--walkthrough DIR] [--repeats 20]
Last line:  pages=<n> worst_median_ms=<x> over_300ms=<names or none>
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ui_walkthrough import build_tiny_walkthrough

TARGET_MS = 300.0


def build_walkthrough(base: Path) -> None:
    started = time.perf_counter()
    build_tiny_walkthrough(base)
    print(f"tiny walkthrough built in {time.perf_counter() - started:.0f} s")


def pages(data, train_id: str) -> list[tuple[str, str, int]]:
    """(name, path, expected status) of every page the UI has."""
    plate = data.plates()[0]["plateId"]
    images = data.plate_images(plate)
    image = next(i for i in images if i.get("trainLabel") not in (None, "", "DMSO"))
    dmso = next(t for t, v in data.tags().items() if v == "moa:DMSO")
    search = f"/search?trainId={quote(train_id)}&imageId={quote(image['imageId'])}"
    return [
        ("plates", "/plates", 200),
        ("plate (MOA colours)", f"/plates/{plate}", 200),
        ("plate (compound colours, page 2)", f"/plates/{plate}?by=compound&page=2", 200),
        ("image", f"/images/{image['imageId']}", 200),
        ("search form", "/search", 200),
        ("search, K=10", search + "&k=10", 200),
        ("search, K=50, exclude moa:DMSO", search + f"&k=50&exclude={dmso}", 200),
        ("trainings", "/trainings", 200),
        ("training + model card", f"/trainings/{train_id}", 200),
        ("evaluation report", f"/trainings/{train_id}/report", 200),
        ("thumbnail object", "/object/" + data.thumbnail_key(image), 200),
        ("404 page", "/images/no-such-image", 404),
    ]


def fetch(connection: http.client.HTTPConnection, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response.status, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--walkthrough", type=Path, default=None, help="An earlier tiny walkthrough (home/ and out/ inside)."
    )
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    base = args.walkthrough or Path(tempfile.mkdtemp(prefix="bioims-ui-bench-"))
    if args.walkthrough is None:
        build_walkthrough(base)
    os.environ["BIOIMS_HOME"] = str(base / "home")
    os.environ["BIOIMS_BACKEND"] = "local"
    from bioims.ui.data import UiData
    from bioims.ui.server import UiServer

    summary = json.loads((base / "out" / "walkthrough-summary.json").read_text())
    data = UiData()
    server = UiServer(data, "127.0.0.1", 0).start()
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    print(
        f"UI at {server.url} on {base}; {summary['images']} images; cold = first request after start; "
        f"warm = median (max) of {args.repeats}; target {TARGET_MS:.0f} ms"
    )
    print(f"{'page':36s} {'status':>6s} {'cold ms':>8s} {'warm ms':>8s} {'max ms':>7s} {'/target':>8s}")
    medians, over = {}, []
    try:
        for name, path, expected in pages(data, summary["baselineTrainId"]):
            status, cold = fetch(connection, path)
            if status != expected:
                raise SystemExit(f"{name}: {path} answered {status}, expected {expected}")
            times = [fetch(connection, path)[1] for _ in range(args.repeats)]
            medians[name] = statistics.median(times)
            if medians[name] > TARGET_MS:
                over.append(name)
            print(
                f"{name:36s} {status:6d} {cold:8.1f} {medians[name]:8.1f} {max(times):7.1f} "
                f"{medians[name] / TARGET_MS:8.3f}"
            )
    finally:
        connection.close()
        server.stop()
    print(f"pages={len(medians)} worst_median_ms={max(medians.values()):.1f} over_300ms={','.join(over) or 'none'}")


if __name__ == "__main__":
    main()
