"""The merged matrix as a report: JSON, tables, CSV rows, JUnit cases and the HTML page."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hybridports import __version__
from hybridports.merge.changes import Changes
from hybridports.merge.diagram import COLOURS, diagram_of
from hybridports.merge.model import PASSING, VERDICT_ORDER, Cell, Matrix
from hybridports.provenance import RESULT_SCHEMA
from hybridports.report.html import CheckTable, Column, HtmlPage, Section
from hybridports.report.interface import Table, TestCase
from hybridports.report.svg import render_svg

STYLE = {
    "blocked": "red",
    "filtered": "yellow",
    "closed": "red",
    "error": "magenta",
    "partial": "yellow",
    "unknown": "magenta",
    "not-probed": "dim",
    "skipped": "dim",
    "allowed": "green",
    "open": "green",
}
COVERAGE_UNKNOWN = "coverage unknown: give --topology"
# In the terminal and Markdown tables, gaps and skips with one reason fold into one row per
# source (every cell is in csv, json and html).
FOLDED = ("not-probed", "skipped")


def _flow(cell: Cell) -> str:
    k = cell.key
    return f"{k.source} → {k.destination} {k.port_label} {cell.protocol}".rstrip()


def _evidence_text(cell: Cell, sep: str = " | ") -> str:
    return sep.join(e.line for e in cell.evidence)


@dataclass(frozen=True)
class MergeDocument:
    matrix: Matrix
    changes: Changes

    # -- JSON ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        m = self.matrix
        return {
            "kind": "merge",
            "hybridports": {"version": __version__, "schema": RESULT_SCHEMA},
            "topology": m.topology,
            "topology_digest": m.digest,
            "verdict_order": list(VERDICT_ORDER),
            "inputs": [i.to_json() for i in m.inputs],
            "coverage": {
                "known": m.coverage_known,
                "not_probed": list(m.not_probed),
                "detail": self._coverage(),
            },
            "results": [_cell_json(c) for c in m.cells],
            "changes": {
                "flows": [
                    {
                        **_key_json(c),
                        "verdict": c.verdict,
                        "required": c.required,
                        "change": c.change,
                    }
                    for c in self.changes.rules
                ],
                "investigate": [
                    {
                        **_key_json(c),
                        "verdict": c.verdict,
                        "required": c.required,
                        "evidence": _evidence_text(c),
                    }
                    for c in self.changes.investigate
                ],
                "configs": [
                    {"target": c.target, "host": c.host, "text": c.text}
                    for c in self.changes.configs
                ],
                "warnings": list(self.changes.warnings),
            },
            "findings": [f.to_json() for f in m.findings],
            "summary": {
                **m.counts(),
                "flows": len(m.cells),
                "sources": len(m.sources),
                "required_failing": len(m.failing),
                "not_probed": len(m.not_probed),
                "coverage": "complete" if m.coverage_known else "unknown",
                "ready": m.ready,
            },
        }

    # -- tables -------------------------------------------------------------------------
    def tables(self) -> list[Table]:
        m = self.matrix
        tables = [self._by_source(), self._attention()]
        tables.append(
            Table(
                "Firewall changes to request",
                ("Verdict", "Flow", "Change"),
                tuple((c.verdict, _flow(c), c.change or "") for c in self.changes.rules),
                tuple(STYLE[c.verdict] for c in self.changes.rules),
                wrap=("Flow", "Change"),
            )
        )
        if self.changes.investigate:
            tables.append(
                Table(
                    "Failing for another reason: investigate",
                    ("Verdict", "Flow", "Evidence"),
                    tuple(
                        (c.verdict, _flow(c), _evidence_text(c, "\n"))
                        for c in self.changes.investigate
                    ),
                    tuple(STYLE[c.verdict] for c in self.changes.investigate),
                    wrap=("Flow", "Evidence"),
                )
            )
        tables += [
            Table(
                config.title, (config.target,), tuple((line,) for line in config.text.splitlines())
            )
            for config in self.changes.configs
        ]
        if m.findings:
            tables.append(
                Table(
                    "Audit findings",
                    ("File", "Kind", "Severity", "Rule", "Detail"),
                    tuple((f.file, f.kind, f.severity, f.rule, f.detail) for f in m.findings),
                    wrap=("Rule", "Detail"),
                )
            )
        return tables

    def _attention(self) -> Table:
        """Every cell that is not passing; gaps and skips with one reason fold per source."""
        rows: list[tuple[str, ...]] = []
        styles: list[str | None] = []
        folded: dict[tuple[str, str, str], list[Cell]] = {}
        for c in self.matrix.cells:
            if c.verdict in PASSING:
                continue
            if c.verdict in FOLDED:
                reason = next(e.detail for e in c.evidence if e.verdict == c.verdict)
                folded.setdefault((c.key.source, c.verdict, reason), []).append(c)
                continue
            rows.append(_attention_row(c))
            styles.append(STYLE[c.verdict])
        for (source, verdict, reason), cells in folded.items():
            if len(cells) <= 2:
                rows += [_attention_row(c) for c in cells]
                styles += [STYLE[verdict]] * len(cells)
                continue
            names = ", ".join(dict.fromkeys(c.key.destination for c in cells))
            required = sum(1 for c in cells if c.required)
            rows.append(
                (
                    source,
                    f"({len(cells)} flows)",
                    "",
                    "",
                    f"{required} of {len(cells)}",
                    verdict,
                    f"{reason}: {_clip(names, 120)}",
                )
            )
            styles.append(STYLE[verdict])
        return Table(
            "Flows that are not shown to work",
            ("Source", "Destination", "Port", "Protocol", "Required", "Verdict", "Evidence"),
            tuple(rows),
            tuple(styles),
            wrap=("Destination", "Protocol", "Evidence"),
        )

    def _by_source(self) -> Table:
        m = self.matrix
        by_source: dict[str, list[Cell]] = {}
        for cell in m.cells:
            by_source.setdefault(cell.key.source, []).append(cell)
        rows = []
        styles: list[str | None] = []
        for source in sorted(by_source):
            cells = by_source[source]
            counts = Counter(c.verdict for c in cells)
            failing = sum(1 for c in cells if c.failing)
            worst = min(counts, key=VERDICT_ORDER.index)
            rows.append(
                (
                    source,
                    next((c.source_address for c in cells if c.source_address), "") or "",
                    str(len(cells)),
                    str(failing),
                    ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts[v]),
                    "no" if failing else "yes",
                )
            )
            styles.append(STYLE[worst] if failing else "green")
        return Table(
            "Readiness by source",
            ("Source", "Address", "Flows", "Required failing", "Verdicts", "Ready"),
            tuple(rows),
            tuple(styles),
            wrap=("Verdicts",),
        )

    def flat_table(self) -> Table:
        columns = (
            "source",
            "source_address",
            "destination",
            "destination_address",
            "protocol",
            "transport",
            "port_low",
            "port_high",
            "catalog_id",
            "spec",
            "required",
            "verdict",
            "failing",
            "evidence",
            "files",
            "change",
            "purpose",
            "reference",
        )
        rows = tuple(
            (
                c.key.source,
                c.source_address or "",
                c.key.destination,
                c.destination_address or "",
                c.protocol,
                c.key.transport,
                str(c.key.low),
                str(c.key.high),
                c.key.catalog_id,
                " ".join(c.spec),
                "true" if c.required else "false",
                c.verdict,
                "true" if c.failing else "false",
                _evidence_text(c),
                " ".join(dict.fromkeys(e.file for e in c.evidence if e.file)),
                c.change or "",
                c.purpose,
                c.reference,
            )
            for c in self.matrix.cells
        )
        return Table("Readiness matrix", columns, rows)

    def summary(self) -> list[str]:
        m = self.matrix
        counts = m.counts()
        kinds = Counter(i.kind for i in m.inputs)
        files = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        parts = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        lines = [
            f"{len(m.cells)} flows from {len(m.sources)} source{'s' if len(m.sources) != 1 else ''}"
            f" ({files} file{'s' if len(m.inputs) != 1 else ''}; topology {m.topology}): {parts}."
        ]
        lines.append(self.headline())
        lines.append(self._coverage())
        lines += [f"warning: {w}" for w in self.changes.warnings]
        return lines

    def headline(self) -> str:
        m = self.matrix
        if m.ready:
            return "READY: every required flow was shown to work" + (
                "" if m.coverage_known else " (in the files given)"
            )
        rules = sum(1 for c in self.changes.rules if c.required)
        return (
            f"NOT READY: {len(m.failing)} required flow{'s' if len(m.failing) != 1 else ''} "
            f"failing; {rules} need{'s' if rules == 1 else ''} a firewall change"
        )

    def _coverage(self) -> str:
        m = self.matrix
        if not m.coverage_known:
            return COVERAGE_UNKNOWN
        if m.not_probed:
            return f"coverage: not probed: {', '.join(m.not_probed)}"
        return "coverage: every host that has planned flows was probed"

    # -- JUnit --------------------------------------------------------------------------
    def test_cases(self) -> list[TestCase]:
        cases = []
        for cell in self.matrix.cells:
            if not cell.required:
                continue
            source = cell.key.source
            detail = "\n".join(e.line for e in cell.evidence)
            if cell.change:
                detail += f"\nchange: {cell.change}"
            failure = skipped = None
            if cell.failing:
                first = next(e for e in cell.evidence if e.verdict == cell.verdict)
                failure = f"{cell.verdict}: {first.check}" + (
                    f": {first.detail}" if first.detail else ""
                )
            elif cell.verdict == "skipped":
                skipped = cell.evidence[0].detail or "not tested"
            cases.append(
                TestCase(
                    suite=f"merge {source}",
                    name=cell.label,
                    classname=f"hybridports.merge.{source}",
                    failure=failure,
                    detail=detail,
                    skipped=skipped,
                )
            )
        return cases

    # -- HTML ---------------------------------------------------------------------------
    def html_page(self) -> HtmlPage:
        m = self.matrix
        rows = tuple(
            (
                c.verdict,
                c.key.source,
                c.key.destination,
                c.key.port_label,
                c.protocol,
                "yes" if c.required else "no",
                _evidence_text(c, "\n"),
                c.change or "",
                " ".join((*c.spec[:1], c.key.catalog_id)),
                c.reference,
                c.purpose,
            )
            for c in m.cells
        )
        checks = CheckTable(
            columns=(
                Column("Verdict", kind="verdict", filter=True),
                Column("Source", filter=True),
                Column("Destination", filter=True),
                Column("Port", kind="port"),
                Column("Protocol"),
                Column("Required", filter=True),
                Column("Evidence", kind="pre"),
                Column("Change", kind="pre"),
                Column("Reference", kind="link", href="URL"),
                Column("URL", hidden=True),
                Column("Purpose", hidden=True),
            ),
            rows=rows,
            verdicts=VERDICT_ORDER,
        )
        sections = [self._changes_section()]
        if self.changes.investigate:
            sections.append(
                Section(
                    "Failing for another reason: investigate",
                    "Something answered but not as expected, or a policy rule could not be "
                    "decided: a port rule will not fix these.",
                    items=tuple(
                        f"{_flow(c)} — {c.verdict}: {_evidence_text(c, '; ')}"
                        for c in self.changes.investigate
                    ),
                )
            )
        if m.findings:
            sections.append(
                Section(
                    "Audit findings",
                    items=tuple(
                        f"[{f.severity or 'info'}] {f.kind} {f.rule}: {f.detail} ({f.file})"
                        for f in m.findings
                    ),
                )
            )
        sections.append(
            Section(
                "Result files",
                items=tuple(
                    f"{i.path}: {i.what}, {i.checks} checks (hybridports {i.version})"
                    for i in m.inputs
                ),
            )
        )
        counts = m.counts()
        return HtmlPage(
            title=f"hybridports readiness: {m.topology}",
            status="ready" if m.ready else "not-ready",
            headline=self.headline(),
            summary=tuple(self.summary()[:1] + self.summary()[2:]),
            counts=tuple((v, n) for v, n in counts.items() if n),
            colours=COLOURS,
            diagram=render_svg(diagram_of(m)),
            checks=checks,
            sections=tuple(sections),
            generator=f"hybridports {__version__} merge",
        )

    def _changes_section(self) -> Section:
        rules = self.changes.rules
        if not rules:
            return Section("Firewall changes to request", "None: no flow failed on a port.")
        intro = "One line per flow that a firewall rule fixes (required flows first)" + (
            "; below, the exact rules written by render for these flows only."
            if self.changes.configs
            else "; give --topology for the exact rules (nftables, iptables, …)."
        )
        return Section(
            "Firewall changes to request",
            intro,
            items=tuple(c.change or "" for c in rules),
            code=tuple((c.title, c.text) for c in self.changes.configs),
        )


def _attention_row(c: Cell) -> tuple[str, ...]:
    return (
        c.key.source,
        c.key.destination,
        c.key.port_label,
        c.protocol,
        "yes" if c.required else "no",
        c.verdict,
        _evidence_text(c, "\n"),
    )


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _key_json(cell: Cell) -> dict[str, Any]:
    k = cell.key
    return {
        "source": k.source,
        "destination": k.destination,
        "transport": k.transport,
        "ports": [k.low, k.high],
        "catalog_id": k.catalog_id,
    }


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {
        **_key_json(cell),
        "source_address": cell.source_address,
        "destination_address": cell.destination_address,
        "protocol": cell.protocol,
        "required": cell.required,
        "verdict": cell.verdict,
        "failing": cell.failing,
        "evidence": [e.to_json() for e in cell.evidence],
        "change": cell.change,
        "spec": list(cell.spec),
        "purpose": cell.purpose,
        "reference": cell.reference,
        "source_role": cell.source_role,
        "destination_role": cell.destination_role,
        "group": cell.group,
    }
