"""One self-contained HTML file: inline CSS, inline JS, inline SVG; nothing fetched.

A document that offers ``html_page()`` (merge) gets the full report: a ready/not-ready
banner, verdict counts, its diagram, a sortable and filterable table of every check and
its sections (the firewall changes). Any other document is shown as its static tables.

Escaping: text in the markup goes through ``html.escape``; the table's rows travel as
JSON in a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` written as
``\\u`` escapes, and the script puts them in the page with ``textContent`` only. A
Content-Security-Policy allows no network access and only the page's own script (by its
hash), so even a string that escaped escaping could not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Protocol

from hybridports.report.interface import Document, RenderOptions, Reporter, Table


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text | verdict | port | pre | link
    filter: bool = False  # offer a drop-down of this column's values
    hidden: bool = False  # data only (e.g. the URL behind a link column)
    href: str | None = None  # link: the column holding the URL


@dataclass(frozen=True)
class CheckTable:
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    verdicts: tuple[str, ...]  # the verdict column sorts in this order (worst first)


@dataclass(frozen=True)
class Section:
    title: str
    intro: str = ""
    items: tuple[str, ...] = ()
    code: tuple[tuple[str, str], ...] = ()  # (caption, preformatted text)
    table: Table | None = None


@dataclass(frozen=True)
class HtmlPage:
    title: str
    status: str = ""  # "ready", "not-ready" or "" (no verdict)
    headline: str = ""
    summary: tuple[str, ...] = ()
    counts: tuple[tuple[str, int], ...] = ()  # verdict → number, shown as badges
    colours: dict[str, str] = field(default_factory=dict)  # verdict → colour
    diagram: str = ""  # SVG markup built by report.svg (escaped there)
    checks: CheckTable | None = None
    sections: tuple[Section, ...] = ()
    generator: str = "hybridports"


class HtmlDocument(Document, Protocol):
    def html_page(self) -> HtmlPage: ...


def _asset(name: str) -> str:
    return (resources.files("hybridports.report") / "assets" / name).read_text(encoding="utf-8")


def _json_for_script(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _table_data(checks: CheckTable) -> dict[str, object]:
    """Rows as indexes into one list of distinct strings: 100k rows stay a few megabytes."""
    strings: dict[str, int] = {}
    rows = [[strings.setdefault(value, len(strings)) for value in row] for row in checks.rows]
    return {
        "columns": [
            {"name": c.name, "kind": c.kind, "filter": c.filter, "hidden": c.hidden, "href": c.href}
            for c in checks.columns
        ],
        "verdicts": list(checks.verdicts),
        "strings": list(strings),
        "rows": rows,
    }


def _static_table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return f'<table class="static"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(section: Section) -> str:
    parts = [f"<section><h2>{escape(section.title)}</h2>"]
    if section.intro:
        parts.append(f"<p>{escape(section.intro)}</p>")
    if section.items:
        parts.append(
            '<ul class="items">'
            + "".join(f"<li><code>{escape(i)}</code></li>" for i in section.items)
            + "</ul>"
        )
    for caption, text in section.code:
        parts.append(
            f'<figure><figcaption>{escape(caption)} <button type="button" class="copy">'
            f"Copy</button></figcaption><pre>{escape(text)}</pre></figure>"
        )
    if section.table is not None:
        parts.append(_static_table(section.table))
    parts.append("</section>")
    return "".join(parts)


def _checks(page: HtmlPage) -> str:
    if page.checks is None:
        return ""
    filters = "".join(
        f'<label>{escape(c.name)} <select data-column="{i}"><option value="">all</option>'
        "</select></label>"
        for i, c in enumerate(page.checks.columns)
        if c.filter
    )
    return (
        '<section id="checks"><h2>Every check</h2>'
        f'<div class="controls">{filters}'
        '<label>Text <input type="search" id="text" placeholder="filter: host, port, detail…">'
        '</label><span id="status" role="status"></span>'
        '<span class="pager"><button type="button" id="prev">&lsaquo; Previous</button>'
        '<button type="button" id="next">Next &rsaquo;</button></span></div>'
        '<table id="table"><thead><tr></tr></thead><tbody></tbody></table>'
        "<noscript><p>The table needs JavaScript; the same rows are in "
        "<code>--format csv</code> and <code>--format json</code>.</p></noscript>"
        '<script type="application/json" id="checks-data">'
        f"{_json_for_script(_table_data(page.checks))}</script></section>"
    )


def render_page(page: HtmlPage) -> str:
    script = _asset("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'"
    )
    colours = "".join(
        f".v-{escape(v)}{{--c:{escape(c)}}}" for v, c in page.colours.items() if _safe_class(v)
    )
    badges = "".join(
        f'<button type="button" class="badge v-{escape(v)}" data-verdict="{escape(v)}">'
        f"{n} {escape(v)}</button>"
        for v, n in page.counts
        if _safe_class(v)
    )
    summary = "".join(f"<li>{escape(line)}</li>" for line in page.summary)
    diagram = (
        f'<section id="diagram-section"><h2>Diagram</h2><div class="diagram">{page.diagram}'
        "</div></section>"
        if page.diagram
        else ""
    )
    banner = (
        f'<div class="banner {escape(page.status)}">{escape(page.headline)}</div>'
        if page.headline
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{escape(page.generator)}">'
        f"<title>{escape(page.title)}</title>"
        f"<style>{_asset('report.css')}{colours}</style></head>\n<body>"
        f"<header><h1>{escape(page.title)}</h1>{banner}"
        f'<div class="badges">{badges}</div><ul class="summary">{summary}</ul></header>\n'
        f"<main>{diagram}\n{_checks(page)}\n"
        + "\n".join(_section(s) for s in page.sections)
        + f"</main>\n<script>{script}</script>\n</body></html>\n"
    )


def _safe_class(name: str) -> bool:
    return name.replace("-", "").isalnum()


def _generic_page(document: Document) -> HtmlPage:
    return HtmlPage(
        title="hybridports report",
        summary=tuple(document.summary()),
        sections=tuple(Section(t.title, table=t) for t in document.tables()),
    )


class HtmlReporter(Reporter):
    name = "html"
    media_type = "text/html"

    def render(self, document: Document, options: RenderOptions) -> str:
        page_of = getattr(document, "html_page", None)
        page: HtmlPage = page_of() if page_of is not None else _generic_page(document)
        return render_page(page)
