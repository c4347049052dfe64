"""One function per page: read through UiData, answer HTML. Unknown ids raise NotFound (the
server answers the 404 page); the search page shows a search service that is down inline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bioims.errors import NotFound, status_of
from bioims.ui.data import MEDIUM, THUMBNAIL, Hit, SearchFailed, SearchUnavailable, UiData, well_position
from bioims.ui.html import colour, esc, fmt_number, legend, page, paginate, seg, table, url

STRIP = 8  # thumbnails in a plate's strip on the plates page
MAX_K = 200


class Params:
    """Query parameters: first value, all values, integers with defaults."""

    def __init__(self, query: Mapping[str, list[str]]):
        self.query = query

    def get(self, name: str, default: str = "") -> str:
        return (self.query.get(name) or [default])[0].strip()

    def all(self, name: str) -> list[str]:
        return [v for v in self.query.get(name, []) if v.strip()]

    def int(self, name: str, default: int, low: int = 1, high: int = 1_000_000) -> int:
        try:
            return min(max(int(self.get(name, str(default))), low), high)
        except ValueError:
            return default


def thumb(image: dict, name: str = THUMBNAIL, css: str = "", lazy: bool = True) -> str:
    if not image.get("plateId"):
        return ""
    key = UiData.thumbnail_key(image, name)
    alt = image.get("imageSourceId") or image.get("imageId")
    return f"<img class='{css}'{' loading=lazy' if lazy else ''} src='/object/{esc(key)}' alt='{esc(alt)}'>"


def moa_of(image: dict) -> str:
    return str(image.get("trainLabel") or "") if image.get("trainCategory", "moa") == "moa" else ""


def meta(image: dict, name: str) -> Any:
    return (image.get("metadata") or {}).get(name)


def image_link(image: dict, text: str | None = None) -> str:
    return (
        f"<a href='/images/{seg(image['imageId'])}'>{esc(text or image.get('imageSourceId') or image['imageId'])}</a>"
    )


# --- plates ------------------------------------------------------------------------------------
def plates_view(data: UiData, params: Params) -> str:
    plates = data.plates()
    if not plates:
        return page(
            "Plates",
            "<div class=empty>No plates yet. Upload some with <code>bioims bbbc021 ingest</code> "
            "or run <code>bioims walkthrough</code>, then reload this page.</div>",
        )
    chosen, pager = paginate(plates, params.int("page", 1), "/plates", per_page=50)
    rows = []
    for plate in chosen:
        info = data.plate(plate["plateId"])
        images = data.plate_images(plate["plateId"])
        strip = "".join(f"<a href='/images/{seg(i['imageId'])}'>{thumb(i)}</a>" for i in images[:STRIP])
        rows.append(
            [
                f"<a href='/plates/{seg(plate['plateId'])}'>{esc(plate.get('plateSourceId') or plate['plateId'])}</a>",
                esc(plate["plateId"]),
                f"<span class=num>{esc(info.get('wellCount', ''))}</span>",
                f"<span class=num>{esc(plate.get('imageCount', len(images)))}</span>",
                esc(plate.get("searchReady", "")),
                f"<div class=strip>{strip}</div>",
            ]
        )
    body = (
        f"<p>{len(plates)} plates.</p>{pager}"
        + table(["plate", "plateId", "wells", "images", "status", "thumbnails"], rows)
        + pager
    )
    return page("Plates", body)


def plate_view(data: UiData, plate_id: str, params: Params) -> str:
    plate = data.plate(plate_id)
    images = data.plate_images(plate_id)
    by = "compound" if params.get("by") == "compound" else "moa"
    label = (lambda i: str(meta(i, "compound") or "")) if by == "compound" else moa_of
    name = plate.get("plateSourceId") or plate_id
    if not images:
        return page(f"Plate {name}", "<div class=empty>This plate has no images.</div>")
    wells: dict[tuple[int, int], list[dict]] = {}
    for image in images:
        wells.setdefault(well_position(image.get("wellSourceId", "")), []).append(image)
    rows_n = max(8, 1 + max(r for r, _ in wells)) if wells else 8
    cols_n = max(12, 1 + max(c for _, c in wells)) if wells else 12
    grid = ["<table class=grid><tr><th></th>" + "".join(f"<th>{c + 1}</th>" for c in range(cols_n)) + "</tr>"]
    for r in range(rows_n):
        cells = []
        for c in range(cols_n):
            members = wells.get((r, c))
            if not members:
                cells.append("<td></td>")
                continue
            first = members[0]
            text = label(first)
            tip = (
                f"{first.get('wellSourceId')}: {meta(first, 'compound')} @ {meta(first, 'concentration')} "
                f"({moa_of(first) or 'no MOA'}), {len(members)} images"
            )
            cells.append(
                f"<td style='background:{colour(text)}' title='{esc(tip)}'><a "
                f"href='/images/{seg(first['imageId'])}'>{len(members)}</a></td>"
            )
        grid.append(f"<tr><th>{esc(_row_name(r))}</th>{''.join(cells)}</tr>")
    grid.append("</table>")
    labels = [label(i) for i in images if label(i)]
    switch = (
        f"colour by: <b>MOA</b> | <a href='{esc(url('/plates/' + seg(plate_id), by='compound'))}'>compound</a>"
        if by == "moa"
        else f"colour by: <a href='{esc(url('/plates/' + seg(plate_id)))}'>MOA</a> | <b>compound</b>"
    )
    chosen, pager = paginate(
        images, params.int("page", 1), "/plates/" + seg(plate_id), per_page=48, by=by if by == "compound" else None
    )
    cards = "".join(_card(i) for i in chosen)
    body = (
        f"<p>plateId {esc(plate_id)}; {len(images)} images in {len(wells)} wells; status "
        f"{esc(plate.get('searchReady', ''))}; "
        f"{esc(plate.get('plateDims', ''))}</p><p>{switch}</p>{''.join(grid)}{legend(labels)}"
        f"<h2>Images</h2>{pager}<div class=cards>{cards}</div>{pager}"
    )
    return page(f"Plate {name}", body)


def _row_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _card(image: dict, extra: str = "", css: str = "card", lazy: bool = True) -> str:
    lines = [
        f"{image_link(image, image.get('wellSourceId') or image['imageId'])} {esc(image.get('plateSourceId', ''))}",
        f"{esc(meta(image, 'compound') or '')} @ "
        f"{esc(meta(image, 'concentration') if meta(image, 'concentration') is not None else '')}",
        f"MOA: {esc(moa_of(image) or '-')}",
    ]
    return (
        f"<div class='{css}' data-image-id='{esc(image['imageId'])}'><a "
        f"href='/images/{seg(image['imageId'])}'>{thumb(image, lazy=lazy)}</a>" + "<br>".join(lines) + extra + "</div>"
    )


# --- an image ----------------------------------------------------------------------------------
def image_view(data: UiData, image_id: str, params: Params) -> str:
    image = data.image(image_id)
    tags = data.tags()
    artifacts = data.artifacts(image_id)
    messages = data.messages(image.get("messageId"))
    trainings = [t for t in data.trainings() if t.get("embeddingName")]
    channels = table(
        ["channel", "key"], [[esc(c.get("name")), esc(c.get("keysuffix"))] for c in image.get("channelKeys", [])]
    )
    labels = table(
        ["field", "value"],
        [
            [esc(k), esc(v)]
            for k, v in [
                ("plate", image.get("plateSourceId")),
                ("well", image.get("wellSourceId")),
                ("label category", image.get("trainCategory")),
                ("label", image.get("trainLabel")),
                ("subclass", image.get("trainSubclass")),
                *sorted((image.get("metadata") or {}).items()),
                (
                    "size",
                    f"{image.get('width')} x {image.get('height')} x {image.get('depth')}, "
                    f"{image.get('channels')} channels",
                ),
                ("status", image.get("searchReady")),
            ]
        ],
    )
    tag_list = ", ".join(esc(tags.get(int(t), t)) for t in image.get("tagArr", [])) or "none"
    roi_rows = [
        [
            esc(k.split("#", 1)[1]),
            esc(v.get("status")),
            f"<span class=num>{esc(v.get('roiCount'))}</span>",
            esc(v.get("error") or ""),
        ]
        for k, v in sorted(image.items())
        if k.startswith("roiStatus#") and isinstance(v, dict)
    ]
    rois = (
        table(["embedding", "status", "ROIs", "error"], roi_rows)
        if roi_rows
        else "<div class=empty>No ROIs yet (the image has not been processed).</div>"
    )
    artifact_rows = [
        [f"<a href='/object/{esc(a['key'])}'>{esc(a['key'])}</a>", esc(a.get("description", ""))]
        for a in artifacts
        if a.get("key")
    ]
    log = (
        table(
            ["time", "message"],
            [[esc(m.get("timestamp", m.get("createTimestamp", ""))), esc(m.get("message", ""))] for m in messages],
        )
        if messages
        else "<div class=empty>No messages.</div>"
    )
    search_links = (
        " ".join(
            "<a class=search-link "
            f"href='{esc(url('/search', trainId=t['trainId'], imageId=image_id))}'>{esc(t['trainId'])}</a> "
            f"({esc(t.get('description', ''))})"
            for t in trainings
        )
        or "no trainings yet"
    )
    body = (
        f"<p><a href='/plates/{seg(image['plateId'])}'>plate "
        f"{esc(image.get('plateSourceId') or image['plateId'])}</a> &middot; imageId {esc(image_id)}</p>"
        f"<p>Search for similar images with training: {search_links}</p>"
        "<div "
        f"style='display:flex;gap:1.5em;flex-wrap:wrap'><div>{thumb(image, MEDIUM, 'medium')}<br>{thumb(image)}</div>"
        f"<div><h2>Labels</h2>{labels}<h2>Tags</h2><p>{tag_list}</p><h2>ROIs</h2>{rois}</div></div>"
        f"<h2>Channels</h2>{channels}<h2>Artifacts</h2>{table(['key', 'description'], artifact_rows)}<h2>Message "
        f"log</h2>{log}"
    )
    return page(f"Image {image.get('imageSourceId') or image_id}", body)


# --- search by example -------------------------------------------------------------------------
def search_view(data: UiData, params: Params) -> tuple[int, str]:
    trainings = [
        t
        for t in data.trainings()
        if t.get("status") in ("embedded", "loaded", "completed", "trained") or t.get("embeddingStatus")
    ]
    if not trainings:
        return 200, page(
            "Search by example",
            "<div class=empty>No trained and embedded training to search yet. "
            "Train one (<code>bioims train</code>, <code>bioims embed</code>) or run <code>bioims "
            "walkthrough</code>.</div>",
        )
    tags = data.tags()
    train_id = params.get("trainId") or trainings[0]["trainId"]
    image_id = params.get("imageId")
    k = params.int("k", 10, 1, MAX_K)
    include = _tag_ids(params.all("include"))
    exclude = _tag_ids(params.all("exclude"))
    require_moa = params.get("requireMoa") == "1"
    highlight = params.get("sameMoa", "1") != "0"
    form = _search_form(trainings, tags, train_id, image_id, k, include, exclude, require_moa, highlight)
    if not image_id:
        return 200, page(
            "Search by example",
            form + "<div class=notice>Pick a training and a query image (open an image and follow its "
            "search link, or paste an imageId), then press Search.</div>",
        )
    status, results = 200, ""
    try:
        query = data.image(image_id)
    except NotFound as exc:
        return status_of(exc), page("Search by example", form + f"<div class=error>No image {esc(image_id)}.</div>")
    try:
        hits = data.search(train_id, image_id, k, include, exclude, require_moa)
        results = _hits(query, hits, highlight)
    except SearchUnavailable as exc:
        status, results = (
            status_of(exc),
            f"<div class='error search-down'><b>The search service is not available.</b> {esc(exc)}</div>",
        )
    except SearchFailed as exc:
        status, results = status_of(exc), f"<div class=error><b>The search failed:</b> {esc(exc)}</div>"
    return status, page("Search by example", form + results)


def _tag_ids(values: list[str]) -> list[int]:
    return sorted({int(v) for v in values if v.strip().isdigit()})


def _search_form(trainings, tags, train_id, image_id, k, include, exclude, require_moa, highlight) -> str:
    options = "".join(
        f"<option value='{esc(t['trainId'])}'{' selected' if t['trainId'] == train_id else ''}>"
        f"{esc(t['trainId'])} - {esc(t.get('description', ''))}</option>"
        for t in trainings
    )

    def tag_select(name: str, chosen: list[int]) -> str:
        return (
            f"<select multiple name={name} id={name}-tags>"
            + "".join(
                f"<option value={i}{' selected' if i in chosen else ''}>{esc(v)}</option>"
                for i, v in sorted(tags.items(), key=lambda x: x[1])
            )
            + "</select>"
        )

    return (
        "<form class=search method=get action='/search'>"
        f"<label>training<br><select name=trainId id=train-id>{options}</select></label>"
        f"<label>query imageId<br><input name=imageId id=image-id size=28 value='{esc(image_id)}'></label>"
        f"<label>K<br><input name=k id=k type=number min=1 max={MAX_K} value={k} style='width:5em'></label>"
        f"<label>only images with a tag<br>{tag_select('include', include)}</label>"
        f"<label>no images with a tag<br>{tag_select('exclude', exclude)}</label>"
        f"<label><input type=checkbox name=requireMoa value=1{' checked' if require_moa else ''}> only images "
        "with an MOA</label>"
        f"<input type=hidden name=sameMoa value={'1' if highlight else '0'} id=same-moa-value>"
        "<br><button type=submit id=search-button>Search</button></form>"
    )


def _hits(query: dict, hits: list[Hit], highlight: bool) -> str:
    query_moa = moa_of(query)
    same = sum(1 for h in hits if query_moa and moa_of(h.image) == query_moa)
    toggle = (
        f"<label><input type=checkbox id=same-moa{' checked' if highlight else ''} "
        "onchange=\"document.getElementById('hits').classList.toggle('highlight',this.checked);"
        "document.getElementById('same-moa-value').value=this.checked?'1':'0'\"> highlight the query's MOA "
        f"({esc(query_moa or 'none')}): {same} of {len(hits)}</label>"
    )
    cards = []
    for hit in hits:
        is_same = bool(query_moa) and moa_of(hit.image) == query_moa
        extra = f"<br>rank {hit.rank}, distance <span class=distance>{hit.distance:.4f}</span>"
        cards.append(_card(hit.image, extra, "card hit same-moa" if is_same else "card hit", lazy=False))
    if not hits:
        listing = "<div class=empty>No image matches these filters.</div>"
    else:
        listing = f"<div id=hits class='cards{' highlight' if highlight else ''}'>{''.join(cards)}</div>"
    return (
        f"<h2>Query</h2><div class=cards>{_card(query, '', 'card query', lazy=False)}</div><h2>{len(hits)} "
        f"nearest images</h2><p>{toggle}</p>{listing}"
    )


# --- trainings ---------------------------------------------------------------------------------
def trainings_view(data: UiData, params: Params) -> str:
    trainings = data.trainings()
    if not trainings:
        return page(
            "Trainings",
            "<div class=empty>No trainings yet. Start one with <code>bioims train</code> or run <code>bioims "
            "walkthrough</code>.</div>",
        )
    chosen, pager = paginate(trainings, params.int("page", 1), "/trainings")
    rows = []
    for t in chosen:
        summary = t.get("trainingSummary") or {}
        metric = (
            f"{esc(summary.get('validationMetric', ''))} {fmt_number(summary.get('validationBest'))}" if summary else ""
        )
        rows.append(
            [
                f"<a href='/trainings/{seg(t['trainId'])}'>{esc(t['trainId'])}</a>",
                esc(t.get("embeddingName")),
                esc(t.get("description", "")),
                esc(t.get("status", "")),
                f"<span class=num>{esc(t.get('imageCount', ''))}</span>",
                f"<span class=num>{esc(t.get('roiCount', ''))}</span>",
                metric,
                f"<a href='/trainings/{seg(t['trainId'])}/report'>report</a> &middot; <a "
                f"href='{esc(url('/search', trainId=t['trainId']))}'>search</a>",
            ]
        )
    return page(
        "Trainings",
        f"<p>{len(trainings)} trainings.</p>{pager}"
        + table(["trainId", "embedding", "description", "status", "images", "ROIs", "validation", ""], rows)
        + pager,
    )


def training_view(data: UiData, train_id: str, params: Params) -> str:
    training = data.training(train_id)
    card = data.model_card(training)
    fields = {k: v for k, v in training.items() if not isinstance(v, (dict, list))}
    summary = training.get("trainingSummary") or {}
    body = (
        f"<p><a href='/trainings/{seg(train_id)}/report'>evaluation report</a> &middot; "
        f"<a href='{esc(url('/search', trainId=train_id))}'>search with this training</a></p>"
        "<h2>Training</h2>"
        + table(["field", "value"], [[esc(k), esc(v)] for k, v in sorted(fields.items())])
        + "<h2>Metrics</h2>"
        + (
            table(["metric", "value"], [[esc(k), fmt_number(v)] for k, v in sorted(summary.items())])
            if summary
            else "<div class=empty>No training metrics yet (status " + esc(training.get("status", "")) + ").</div>"
        )
        + "<h2>Model card</h2>"
        + (
            _tree(card)
            if card is not None
            else "<div class=empty>No model card yet: the training has not finished.</div>"
        )
    )
    return page(f"Training {train_id}", body)


def _tree(value: Any, depth: int = 0) -> str:
    """A JSON value as nested tables (lists of scalars inline, long lists folded)."""
    if isinstance(value, dict):
        rows = [[esc(k), _tree(v, depth + 1)] for k, v in value.items()]
        return table(["", ""], rows) if rows else "{}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return esc(", ".join(map(str, value)))
        inner = "".join(_tree(v, depth + 1) for v in value)
        return f"<details><summary>{len(value)} entries</summary>{inner}</details>"
    return fmt_number(value)


# --- the evaluation report ---------------------------------------------------------------------
METRIC_ROWS = (
    ("nsc", "NSC (not same compound, cosine 1-NN)"),
    ("nscb", "NSCB (not same compound or batch)"),
    ("nsc_left_out", "NSC, each compound in its leave-one-out model"),
    ("nscb_left_out", "NSCB, each compound in its leave-one-out model"),
)


def report_view(data: UiData, train_id: str, params: Params) -> str:
    data.training(train_id)
    metrics = data.report_metrics(train_id)
    if metrics is None:
        return page(
            f"Evaluation of {train_id}",
            f"<div class=empty>No evaluation report for this training yet. Write one with "
            f"<code>bioims report --train-id {esc(train_id)}</code> (the walkthrough does it for its baseline).</div>",
        )
    files = data.report_files(train_id)
    rows = []
    for name, title in METRIC_ROWS:
        block = metrics.get(name)
        if name.endswith("_left_out") and name not in metrics:
            continue
        if not block:
            rows.append([esc(title), "", "not computed", "", ""])
            continue
        ci = f"{block['ci_low']:.3f} - {block['ci_high']:.3f}" if block.get("ci_low") is not None else ""
        rows.append(
            [
                esc(title),
                f"{block['correct']}/{block['total']}",
                f"{block['accuracy']:.3f}",
                ci,
                fmt_number(block.get("chance")),
            ]
        )
    vote = metrics.get("compound_vote")
    rows.append(
        [
            "mAP (MOA retrieval, other compounds)",
            "",
            "not computed" if metrics.get("map") is None else f"{metrics['map']:.3f}",
            "",
            "",
        ]
    )
    if vote:
        rows.append(
            [
                f"compound vote (original, k={esc(vote.get('k'))})",
                f"{vote['correct']}/{vote['total']}",
                f"{vote['accuracy']:.3f}",
                "",
                "",
            ]
        )
    body = [
        f"<p>Level <b>{esc(metrics.get('level'))}</b>, {esc(metrics.get('n_queries'))} labelled profiles, "
        f"{esc(metrics.get('n_features'))} features. "
        f"<a href='/trainings/{seg(train_id)}'>training</a></p>",
        table(["metric", "correct/total", "accuracy", "95% CI", "chance"], rows),
    ]
    for protocol in ("nsc", "nscb"):
        matrix = (metrics.get("confusion") or {}).get(protocol)
        if matrix:
            body.append(
                f"<h2>{protocol.upper()} confusion matrix (rows: true MOA, columns: predicted)</h2>"
                + _confusion(matrix)
            )
            if f"confusion_{protocol}.png" in files:
                body.append(
                    f"<img src='/object/{esc(files[f'confusion_{protocol}.png'])}' alt='{protocol} confusion' "
                    "style='max-width:40em'>"
                )
    for name, title in (("tsne.png", "t-SNE map of well profiles"), ("umap.png", "UMAP map of well profiles")):
        if name in files:
            body.append(
                f"<h2>{title}</h2><img src='/object/{esc(files[name])}' alt='{esc(title)}' style='max-width:40em'>"
            )
    body.append("<h2>Per-compound results</h2>" + _compounds(metrics))
    notes = metrics.get("notes") or []
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    return page(f"Evaluation of {train_id}", "".join(body))


def _confusion(matrix: dict) -> str:
    labels = matrix["labels"]
    rows = [
        [f"<b>{esc(label)}</b>"] + [f"<span class=num>{esc(v)}</span>" for v in values]
        for label, values in zip(labels, matrix["matrix"], strict=True)
    ]
    return table(["true \\ predicted"] + list(labels), rows)


def _compounds(metrics: dict) -> str:
    """Per compound: MOA, NSC/NSCB correct of its queries and what the wrong ones were taken for,
    and the original's vote (the rows of bioims.evaluation.report.compound_table, without pandas,
    so the UI runs where only the search service's packages are installed)."""
    rows: dict[str, dict[str, str]] = {}
    columns = ["moa"]
    for protocol in ("nsc", "nscb"):
        records = (metrics.get("queries") or {}).get(protocol) or []
        if not records:
            continue
        name = protocol.upper()
        columns += [name, f"{name} wrong as"]
        by_compound: dict[str, list[dict]] = {}
        for record in records:
            by_compound.setdefault(str(record["compound"]), []).append(record)
        for compound, group in by_compound.items():
            row = rows.setdefault(compound, {"moa": str(group[0].get("true_moa", ""))})
            row[name] = f"{sum(bool(r['correct']) for r in group)}/{len(group)}"
            row[f"{name} wrong as"] = ", ".join(sorted({str(r["predicted_moa"]) for r in group if not r["correct"]}))
    vote = (metrics.get("compound_vote") or {}).get("per_compound") or []
    if vote:
        columns.append("vote predicted")
        for record in vote:
            row = rows.setdefault(str(record["compound"]), {"moa": str(record.get("true_moa", ""))})
            row["vote predicted"] = str(record.get("predicted_moa") or "")
    if not rows:
        return "<div class=empty>No per-compound results.</div>"
    ordered = sorted(rows.items(), key=lambda item: (item[1].get("moa", ""), item[0]))
    return table(["compound"] + columns, [[esc(c)] + [esc(row.get(col, "")) for col in columns] for c, row in ordered])


def not_found_page(message: str) -> str:
    return page("Not found", f"<div class=error>{esc(message)}</div><p><a href='/plates'>Back to the plates</a></p>")


def error_page(message: str) -> str:
    return page("Error", f"<div class=error>{esc(message)}</div>")
