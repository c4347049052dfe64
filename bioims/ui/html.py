"""Small HTML helpers for the UI's server-rendered pages: escaping, the page frame, tables,
pagination and label colours. No template engine: pages are plain functions returning strings."""

from __future__ import annotations

import html
import zlib
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

PER_PAGE = 100  # rows or cards per page; longer lists get a pager

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}header .brand{font-size:1.1em;margin-right:1em}
main{padding:1em 1.5em}h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.15em;margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.3em 0 1em;background:#fff}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;font-size:.92em;vertical-align:top}
th{background:#eef2f7}.num{text-align:right}
.empty,.notice{padding:1em;border:1px dashed #aab;background:#fff;max-width:52em}
.error{padding:1em;border:2px solid #c0392b;background:#fdecea;max-width:52em}
.strip img{height:48px;margin-right:2px;background:#000}
.cards{display:flex;flex-wrap:wrap;gap:.6em}
.card{background:#fff;border:2px solid #ddd;padding:.3em;width:170px;font-size:.8em}
.card img{width:160px;background:#000;display:block}
.card.query{border-color:#1f3a5f}
.highlight .card.same-moa{border-color:#27ae60;box-shadow:0 0 0 2px #27ae60}
.grid td{width:2.6em;height:2.2em;text-align:center;font-size:.7em;padding:0}
.grid td a{display:block;color:#000;text-decoration:none;height:100%}
.legend span{display:inline-block;margin:0 .8em .3em 0;font-size:.85em}
.legend i{display:inline-block;width:1em;height:1em;margin-right:.3em;vertical-align:middle;border:1px solid #999}
.pager{margin:.6em 0}.pager a,.pager span{margin-right:.6em}
form.search label{display:inline-block;margin:0 1em .5em 0;vertical-align:top}
select[multiple]{min-width:14em;height:5.5em}
.medium{max-width:100%;background:#000}
pre{background:#fff;border:1px solid #ddd;padding:.5em;overflow:auto;max-height:30em}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def url(path: str, **params: Any) -> str:
    """A local URL; list values repeat their parameter, None and "" are left out."""
    items = []
    for key, value in params.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and v != "" and v is not False:
                items.append((key, "1" if v is True else str(v)))
    return path + ("?" + urlencode(items) if items else "")


def seg(value: str) -> str:
    """One URL path segment."""
    return quote(str(value), safe="")


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)} - bioimage-search</title><style>{STYLE}</style></head><body>"
        "<header><span class=brand>bioimage-search</span><a href='/plates'>Plates</a>"
        "<a href='/search'>Search</a><a href='/trainings'>Trainings</a></header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str = "") -> str:
    """rows hold HTML already escaped by the caller."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paginate(
    items: Sequence, page_number: int, base: str, per_page: int = PER_PAGE, **params: Any
) -> tuple[Sequence, str]:
    """(the items of this page, the pager's HTML; empty when everything fits on one page)."""
    pages = max(1, -(-len(items) // per_page))
    page_number = min(max(page_number, 1), pages)
    start = (page_number - 1) * per_page
    chosen = items[start : start + per_page]
    if pages == 1:
        return chosen, ""
    links = []
    if page_number > 1:
        links.append(f"<a rel=prev href='{esc(url(base, page=page_number - 1, **params))}'>&laquo; previous</a>")
    links.append(f"<span>page {page_number} of {pages} ({start + 1}-{start + len(chosen)} of {len(items)})</span>")
    if page_number < pages:
        links.append(f"<a rel=next href='{esc(url(base, page=page_number + 1, **params))}'>next &raquo;</a>")
    return chosen, f"<nav class=pager>{''.join(links)}</nav>"


def colour(label: str) -> str:
    """A stable, light colour per label (same label, same colour on every page)."""
    if not label:
        return "#ffffff"
    hue = zlib.crc32(label.encode("utf-8")) % 360
    return f"hsl({hue},70%,75%)"


def legend(labels: Iterable[str]) -> str:
    return (
        "<div class=legend>"
        + "".join(
            f"<span><i style='background:{colour(label)}'></i>{esc(label)}</span>" for label in sorted(set(labels))
        )
        + "</div>"
    )


def fmt_number(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return esc(value)
