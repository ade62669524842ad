"""Audit one policy file against a plan: parse, place every flow, evaluate, find problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridports.audit import PARSERS
from hybridports.audit.evaluate import Evaluator, Outcome
from hybridports.audit.findings import policy_findings
from hybridports.audit.interface import Finding, ParseOptions, PolicyError, Ruleset
from hybridports.audit.intervals import Intervals
from hybridports.audit.queries import InterfaceMap, Placement, placements
from hybridports.errors import UserError
from hybridports.files import read_input
from hybridports.plan import Plan, PlannedFlow

VERDICTS = ("allowed", "partial", "blocked", "unknown")


@dataclass(frozen=True)
class FlowVerdict:
    flow: PlannedFlow
    verdict: str  # allowed | blocked | partial | unknown
    blocked_ports: Intervals
    unknown_ports: Intervals
    matched_rule: str
    ends: tuple[str, ...]
    # Every decision behind the verdict: (ports, outcome, rule label), in port order.
    evidence: tuple[tuple[str, str, str], ...] = ()

    @property
    def failing(self) -> bool:
        return self.flow.required and self.verdict != "allowed"

    def to_json(self) -> dict[str, Any]:
        flow = self.flow
        return {
            "source": flow.source,
            "destination": flow.destination,
            "transport": flow.transport.value,
            "ports": flow.ports.as_list(),
            "required": flow.required,
            "verdict": self.verdict,
            "blocked_ports": self.blocked_ports.as_lists(),
            "matched_rule": self.matched_rule,
            "unknown_ports": self.unknown_ports.as_lists(),
            "source_address": flow.source_address,
            "destination_address": flow.destination_address,
            "protocol": flow.protocol,
            "catalog_id": flow.catalog_id,
            "catalog_ids": list(flow.catalog_ids),
            "purpose": flow.purpose,
            "reference": flow.reference,
            "checked_at": list(self.ends),
            "evidence": [
                {"ports": ports, "outcome": outcome, "rule": rule}
                for ports, outcome, rule in self.evidence
            ],
        }


@dataclass
class AuditResult:
    plan: Plan
    ruleset: Ruleset
    policy_file: str
    host: str | None
    results: list[FlowVerdict]
    findings: list[Finding]
    via_proxy: list[PlannedFlow] = field(default_factory=list)

    @property
    def failing(self) -> list[FlowVerdict]:
        return [r for r in self.results if r.failing]


def read_policy(path: Path, format_name: str, options: ParseOptions) -> Ruleset:
    parser = PARSERS.get(format_name)
    if parser is None:
        raise UserError(
            f"unknown --policy-format {format_name!r} (expected one of: {', '.join(PARSERS)})"
        )
    data = read_input(path, "policy file")
    if format_name == "windows":  # PowerShell 5.1 writes UTF-16 or the ANSI code page
        from hybridports.audit.windows import decode_export

        text = decode_export(data, str(path))
    else:
        text = _decode(data, path)
    if not text.strip():
        raise PolicyError("empty policy file (nothing to audit)", file=path)
    return parser.parse(text, str(path), options)


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM (PowerShell 5.1's Out-File default)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise PolicyError("not valid UTF-16 text", file=path) from None
    if b"\x00" in data[:4096]:
        raise PolicyError("binary file, not a policy export", file=path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError(f"not UTF-8 text (byte {exc.start})", file=path, line=line) from None


def audit(plan: Plan, ruleset: Ruleset, host: str | None, interfaces: InterfaceMap) -> AuditResult:
    if host is not None and plan.topology.host(host) is None:
        names = ", ".join(h.name for h in plan.topology.hosts)
        raise UserError(f"--host {host!r} is not a host of {plan.topology.file} ({names})")
    placed, via_proxy = placements(plan, host, ruleset.host_policy, interfaces)
    evaluator = Evaluator(ruleset)
    results: list[FlowVerdict] = []
    undecidable: dict[str, str] = {}
    for placement in placed:
        outcome = evaluator.evaluate(placement.query, placement.positions)
        undecidable.update(outcome.undecidable)
        results.append(_verdict(placement, outcome))
    findings = list(ruleset.findings)
    for label, why in sorted(undecidable.items()):
        findings.append(Finding("undecidable", label, why))
    findings += policy_findings(plan, ruleset, host, placed, interfaces)
    return AuditResult(plan, ruleset, ruleset.file, host, results, findings, via_proxy)


def _verdict(placement: Placement, outcome: Outcome) -> FlowVerdict:
    query = placement.query
    allowed, blocked, unknown = outcome.ports(query)
    if unknown:
        verdict = "unknown"
    elif not blocked:
        verdict = "allowed"
    elif not allowed:
        verdict = "blocked"
    else:
        verdict = "partial"
    evidence = _evidence(query.ports, outcome)
    if verdict == "allowed":
        rule = next((label for _, o, label in evidence if o == "accepted"), "")
    elif verdict == "unknown":
        rule = next((label for _, o, label in evidence if o == "unknown"), "")
    else:
        rule = next((label for _, o, label in evidence if o == "dropped"), "")
    if query.protocol not in ("tcp", "udp"):
        # ICMP has no ports: the flow's "ports" are its ICMP type, blocked or not as a whole.
        whole = Intervals.span(placement.flow.ports.low, placement.flow.ports.high)
        blocked = whole if blocked else Intervals()
        unknown = whole if unknown else Intervals()
    return FlowVerdict(
        placement.flow,
        verdict,
        blocked,
        unknown,
        rule,
        placement.ends,
        evidence,
    )


def _evidence(ports: Intervals, outcome: Outcome) -> tuple[tuple[str, str, str], ...]:
    """Which rule decided which ports, merged per (outcome, rule), dropped first."""
    merged: dict[tuple[str, str], Intervals] = {}
    for kind, items in (
        ("dropped", outcome.dropped),
        ("unknown", outcome.unknown),
        ("accepted", outcome.accepted),
    ):
        for box, label in items:
            key = (kind, label)
            merged[key] = merged.get(key, Intervals()) | box.ports
    order = {"dropped": 0, "unknown": 1, "accepted": 2}
    rows = sorted(merged.items(), key=lambda item: (order[item[0][0]], item[1].low, item[0][1]))
    return tuple(
        (str(values) if ports != Intervals.span(0, 0) else "-", kind, label)
        for (kind, label), values in rows
    )
