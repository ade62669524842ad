"""The audit result as a report Document: JSON, tables, JUnit test cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridports.audit.run import VERDICTS, AuditResult, FlowVerdict
from hybridports.provenance import provenance
from hybridports.report.interface import Table, TestCase

VERDICT_STYLE = {
    "allowed": "green",
    "partial": "yellow",
    "blocked": "bold red",
    "unknown": "magenta",
}
COLUMNS = (
    "Source",
    "Destination",
    "Transport",
    "Ports",
    "Req",
    "Verdict",
    "Blocked ports",
    "Decided by",
    "Purpose",
)
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class AuditDocument:
    result: AuditResult

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VERDICTS, 0)
        for row in self.result.results:
            counts[row.verdict] += 1
        return counts

    def _findings(self) -> list[Any]:
        return sorted(
            self.result.findings,
            key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.kind, f.rule, f.detail),
        )

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            **provenance(r.plan.topology, "audit"),
            "policy": {
                "file": r.policy_file,
                "format": r.ruleset.format,
                "host": r.host,
                "contents": r.ruleset.summary,
                "rules": r.ruleset.rule_count(),
            },
            "results": [row.to_json() for row in r.results],
            "findings": [f.to_json() for f in self._findings()],
            "summary": {
                **self.counts(),
                "flows": len(r.results),
                "required_failing": len(r.failing),
                "ready": not r.failing,
                "findings": len(r.findings),
                "through_proxy": len(r.via_proxy),
            },
        }

    def tables(self) -> list[Table]:
        r = self.result
        where = f"host {r.host}" if r.host else "between the hosts"
        title = f"Audit of {r.policy_file} ({r.ruleset.format}, {where}) for {r.plan.topology.name}"
        rows = tuple(_row(v) for v in r.results)
        styles = tuple(VERDICT_STYLE[v.verdict] for v in r.results)
        tables = [Table(title, COLUMNS, rows, styles, wrap=("Decided by", "Purpose"))]
        findings = self._findings()
        if findings:
            tables.append(
                Table(
                    "Findings",
                    ("Kind", "Severity", "Rule", "Detail"),
                    tuple((f.kind, f.severity, f.rule, f.detail) for f in findings),
                    tuple(
                        {"error": "bold red", "warning": "yellow"}.get(f.severity) for f in findings
                    ),
                    wrap=("Rule", "Detail"),
                )
            )
        return tables

    def flat_table(self) -> Table:
        return Table("Audit", COLUMNS, tuple(_row(v) for v in self.result.results))

    def summary(self) -> list[str]:
        r = self.result
        counts = self.counts()
        parts = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
        lines = [f"{len(r.results)} flows: {parts or 'none'}"]
        if r.failing:
            lines.append(f"{len(r.failing)} required flow(s) not allowed: not ready")
        else:
            lines.append("every required flow is allowed")
        if r.via_proxy:
            lines.append(
                f"{len(r.via_proxy)} cloud flow(s) go through the proxy; its rows stand for them"
            )
        if r.findings:
            kinds: dict[str, int] = {}
            for f in r.findings:
                kinds[f.kind] = kinds.get(f.kind, 0) + 1
            shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            lines.append(f"{len(r.findings)} finding(s): {shown}")
        return lines

    def test_cases(self) -> list[TestCase]:
        r = self.result
        suite = f"audit {r.ruleset.format}: {r.policy_file}"
        cases = []
        for v in r.results:
            if not v.flow.required:
                continue
            flow = v.flow
            name = (
                f"{flow.source} -> {flow.destination} {flow.transport.value}/{flow.ports} "
                f"({flow.catalog_id})"
            )
            evidence = "\n".join(f"{p}: {o} by {rule}" for p, o, rule in v.evidence)
            failure = None
            if v.verdict != "allowed":
                ports = f" ports {_ports(v)}" if v.blocked_ports or v.unknown_ports else ""
                failure = f"{v.verdict}{ports}: {v.matched_rule or 'no rule'}"
            cases.append(
                TestCase(suite, name, f"hybridports.audit.{flow.source}", failure, evidence)
            )
        return cases


def _ports(v: FlowVerdict) -> str:
    values = v.blocked_ports | v.unknown_ports
    return str(values)


def _row(v: FlowVerdict) -> tuple[str, ...]:
    flow = v.flow
    icmp = flow.transport.value == "icmp"
    return (
        flow.source,
        flow.destination,
        flow.transport.value,
        "-" if icmp else str(flow.ports),
        "yes" if flow.required else "no",
        v.verdict,
        "" if v.verdict == "allowed" else ("echo" if icmp else _ports(v)),
        v.matched_rule,
        flow.purpose,
    )
