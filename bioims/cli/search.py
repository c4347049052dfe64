"""`bioims search ...`: query the index, load trainings and tags into it, run the search service.

    bioims search query --train-id T --image-id I [--k 10] [--exclude-tag compound:taxol] [--require-moa]
    bioims search load-training --train-id T     (then: load-tags --embedding-name E, load-tag-labels)
    bioims search serve [--host 127.0.0.1] [--port 8080]
    bioims search trainings [--url http://host:8080]   (size, index kind, recall@10, latency)

On the local backend the search runs inside the calling process unless `bioims search serve` is
running, which then owns the queues. Tags may be given as ids or as values ("compound:taxol").
"""

from __future__ import annotations

import click
from rich.table import Table

import bioims
from bioims import context
from bioims.cli.common import EMBEDDING_NAME, ID, CliError, cannot_serve, console, emit, listen_options
from bioims.clients import ClientError


def _client(name: str = "search"):
    return bioims.client(name)


def _tag_ids(values: tuple[str, ...]) -> list[int]:
    """Tag ids from ids or tag values (looked up in the tag service)."""
    out = []
    for value in values:
        if value.strip().isdigit():
            out.append(int(value))
            continue
        try:
            found = _client("tag").getTagByValue(value)
        except ClientError as exc:
            raise CliError(f"tag {value!r}: {exc}") from None
        if not isinstance(found, dict) or "id" not in found:
            raise CliError(f"no tag {value!r}")
        out.append(int(found["id"]))
    return out


def _hits_table(answer: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("rank", justify="right")
    table.add_column("imageId")
    table.add_column("distance", justify="right")
    for hit in answer.get("hits", []):
        table.add_row(str(hit["rank"]), hit["imageId"], f"{hit['distance']:.6f}")
    return table


@click.group("search")
def search_group() -> None:
    """Nearest-neighbour search over image embeddings (and the search service's methods)."""


@search_group.command("query")
@click.option("--train-id", type=ID, required=True, help="Training whose embeddings are searched.")
@click.option("--image-id", required=True, help="Query image (never returned itself).")
@click.option("--k", "max_hits", type=click.IntRange(1, 1000), default=10, show_default=True, help="Number of hits.")
@click.option(
    "--metric", type=click.Choice(["Cosine", "Euclidean"], case_sensitive=False), default="Cosine", show_default=True
)
@click.option(
    "--include-tag", "include", multiple=True, help="Only images with any of these tags (id or value); repeatable."
)
@click.option(
    "--exclude-tag", "exclude", multiple=True, help="No images with any of these tags (id or value); repeatable."
)
@click.option("--require-moa", is_flag=True, help="Only images with an 'moa:' tag.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 600),
    default=60,
    show_default=True,
    help="Seconds to wait for the result.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def query(train_id, image_id, max_hits, metric, include, exclude, require_moa, wait_seconds, as_json) -> None:
    """The K images nearest to IMAGE-ID in TRAIN-ID's index, with tag filters."""
    answer = _client().searchByImageId(
        trainId=train_id,
        queryImageId=image_id,
        maxHits=max_hits,
        metric=metric.capitalize(),
        inclusionTags=_tag_ids(include) or None,
        exclusionTags=_tag_ids(exclude) or None,
        requireMoa=require_moa,
        waitSeconds=wait_seconds,
    )
    if as_json:
        emit(answer, True)
    elif answer.get("status") == "completed":
        console.print(_hits_table(answer, f"search {answer['searchId']}: {len(answer['hits'])} hits for {image_id}"))
    if answer.get("status") == "error":
        raise CliError(f"search {answer['searchId']} failed: {answer.get('errorReason', '')}")
    if answer.get("timedOut"):
        raise CliError(
            f"search {answer['searchId']} is still {answer.get('status')}; read it later with `bioims search "
            f"results --search-id {answer['searchId']}`"
        )


@search_group.command("results")
@click.option("--search-id", required=True)
@click.option("--json", "as_json", is_flag=True)
def results(search_id: str, as_json: bool) -> None:
    """Status and hits of a search."""
    answer = _client().getSearchResults(searchId=search_id)
    if as_json:
        emit(answer, True)
    else:
        console.print(_hits_table(answer, f"search {search_id}: {answer['status']}"))


@search_group.command("load-training")
@click.option("--train-id", required=True)
@click.option("--json", "as_json", is_flag=True)
def load_training(train_id: str, as_json: bool) -> None:
    """Load every plate's image embeddings of a training into the index."""
    emit(_client().startTrainingLoad(trainId=train_id), as_json)


@search_group.command("load-tags")
@click.option("--embedding-name", type=EMBEDDING_NAME, required=True)
@click.option("--json", "as_json", is_flag=True)
def load_tags(embedding_name: str, as_json: bool) -> None:
    """Load the tags of every plate's images for an embedding into the index."""
    emit(_client().startTagLoad(embeddingName=embedding_name), as_json)


@search_group.command("load-tag-labels")
@click.option("--json", "as_json", is_flag=True)
def load_tag_labels(as_json: bool) -> None:
    """Send the tag service's id -> value map to the index (needed by --require-moa)."""
    emit(_client().loadTagLabelMap(), as_json)


@search_group.command("delete-training")
@click.option("--train-id", required=True)
@click.option("--json", "as_json", is_flag=True)
def delete_training(train_id: str, as_json: bool) -> None:
    """Remove a training from the index."""
    emit(_client().deleteTraining(trainId=train_id), as_json)


def _trainings_table(listing: list[dict]) -> Table:
    """Per loaded training: size and how it is searched (exact, or the approximate index with its
    recall@10 against exact and the single-query latencies both measured when it was built)."""
    table = Table(title="loaded trainings")
    for column in ("trainId", "embedding", "images", "plates", "index", "recall@10", "ms/query", "exact ms/query"):
        table.add_column(column, justify="right" if column not in ("trainId", "embedding", "index") else "left")
    for entry in listing:
        index = entry.get("index") or {"kind": "exact"}
        approximate = index["kind"] != "exact"
        kind = index["kind"] + (
            f" (nprobe {index['breadth']})"
            if index["kind"] == "ivf"
            else f" (efSearch {index['breadth']})"
            if approximate
            else ""
        )
        if not approximate and index.get("pending"):
            kind += f" ({index['pending']} pending)"
        if not approximate and index.get("rejected"):
            kind += f" ({index['rejected']['kind']} not faster)"
        table.add_row(
            entry["trainId"],
            entry["embeddingName"],
            str(entry["images"]),
            str(entry["plates"]),
            kind,
            f"{index['recall_at_10']:.4f}" if approximate else "1 (exact)",
            f"{index['ann_ms']:.3f}" if approximate else "",
            f"{index['exact_ms']:.3f}" if approximate else "",
        )
    return table


@search_group.command("trainings")
@click.option("--url", default=None, help="Base URL of a running search service's HTTP API (default: the local index).")
@click.option("--json", "as_json", is_flag=True)
def trainings(url: str | None, as_json: bool) -> None:
    """List the loaded trainings: size, index kind, recall@10 against exact search, latency."""
    if url:
        import json as jsonlib
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(url.rstrip("/") + "/trainings", timeout=30) as response:
                listing = jsonlib.loads(response.read())["trainings"]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            raise CliError(f"cannot read {url}/trainings: {exc}") from None
    else:
        embedded = context.get().search.embedded()
        if embedded is None:
            raise CliError("on the aws backend pass --url of the search service's HTTP API")
        listing = embedded.server().engine.trainings()
    if as_json:
        emit({"trainings": listing}, True)
    else:
        console.print(_trainings_table(listing))


@search_group.command("serve")
@listen_options(8080, "Address of the HTTP API (0.0.0.0 exposes it to the network).", "Port of the HTTP API")
@click.option("--no-http", is_flag=True, help="Only consume the queues.")
@click.option(
    "--max-receives",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Deliveries before a failing message is given up.",
)
def serve(host: str, port: int, no_http: bool, max_receives: int) -> None:
    """Run the search service: consume the search and management queues and serve the HTTP API
    (GET /health, GET /trainings, POST /search, GET /openapi.json) until interrupted."""
    from bioims.search.server import ServerBusy, ServiceOptions
    from bioims.search.server import serve as run

    ctx = context.get()
    options = ServiceOptions(http_host=host, http_port=None if no_http else port, max_receives=max_receives)

    def ready(server) -> None:
        loaded = server.engine.trainings()
        where = server.http.url if server.http is not None else "no HTTP API"
        console.print(
            f"search service ready: {len(loaded)} trainings, {sum(t['images'] for t in loaded)} images; {where}"
        )
        if loaded:
            console.print(_trainings_table(loaded))

    try:
        run(ctx.stores, options=options, tag_source=ctx.tag.all_tags, on_ready=ready)
    except ServerBusy as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise cannot_serve(host, port, exc) from None
