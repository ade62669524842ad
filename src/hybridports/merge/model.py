"""The readiness matrix: one cell per (source, destination, flow), the worst verdict wins.

Probe verdicts (open/closed/filtered/error/skipped), audit verdicts (allowed/blocked/
partial/unknown) and the gap "not-probed" share one scale, worst first:

    blocked > filtered > closed > error > partial > unknown > not-probed > skipped
    > allowed > open

A policy that denies the flow outright is the surest failure; a probe that saw nothing
come back (filtered) or a refusal (closed) is next; "error" means something answered, but
not the expected service; "partial" and "unknown" are policy results that are not a yes;
"not-probed" is a planned flow nobody checked. All of these fail a required flow (the report
is never "ready" on missing evidence). "skipped" (not testable, reason given) is counted but
does not fail, as in ``probe``. Of the passing verdicts, "allowed" (the policy says yes) is
weaker evidence than "open" (the service answered from the source).
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERDICT_ORDER: tuple[str, ...] = (
    "blocked",
    "filtered",
    "closed",
    "error",
    "partial",
    "unknown",
    "not-probed",
    "skipped",
    "allowed",
    "open",
)
RANK = {verdict: index for index, verdict in enumerate(VERDICT_ORDER)}
FAILING = frozenset(VERDICT_ORDER[: RANK["not-probed"] + 1])
PASSING = frozenset({"allowed", "open"})
# Verdicts a port rule fixes: the firewall change to request. "error" (something answered),
# "unknown" and "not-probed" need a person to look, not a rule.
NEEDS_RULE = frozenset({"blocked", "filtered", "closed", "partial"})

PROBE_VERDICTS = frozenset({"open", "closed", "filtered", "error", "skipped"})
AUDIT_VERDICTS = frozenset({"allowed", "blocked", "partial", "unknown"})


def worst(verdicts: list[str] | tuple[str, ...]) -> str:
    return min(verdicts, key=RANK.__getitem__)


@dataclass(frozen=True, order=True)
class FlowKey:
    """What a cell is about; sorted hosts first, then cloud names, then by port."""

    source: str
    destination: str
    transport: str
    low: int
    high: int
    catalog_id: str

    @property
    def ports(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"

    @property
    def port_label(self) -> str:
        return f"{self.ports}/{self.transport}"


@dataclass(frozen=True)
class Evidence:
    """One check behind a cell: which file, which check, what it found."""

    file: str  # the result file as given on the command line ("" for a coverage gap)
    kind: str  # "probe", "audit" or "plan" (a coverage gap)
    verdict: str
    check: str  # e.g. "Kerberos 88/udp at 198.18.2.10" or "nftables-json fw.json: handle 12"
    detail: str
    blocked_ports: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "kind": self.kind,
            "verdict": self.verdict,
            "check": self.check,
            "detail": self.detail,
            "blocked_ports": [list(p) for p in self.blocked_ports],
        }

    @property
    def line(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.check}: {self.verdict}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Cell:
    key: FlowKey
    protocol: str = ""
    required: bool = False
    source_address: str | None = None
    destination_address: str | None = None
    source_role: str | None = None
    destination_role: str | None = None
    cloud: bool = False
    purpose: str = ""
    reference: str = ""
    spec: tuple[str, ...] = ()
    group: str | None = None  # cloud endpoint group (login, health, pki, …)
    evidence: list[Evidence] = field(default_factory=list)
    change: str | None = None  # the one-line firewall change, for a cell that needs a rule

    @property
    def verdict(self) -> str:
        return worst([e.verdict for e in self.evidence])

    @property
    def failing(self) -> bool:
        """A required flow that is not shown to work: it makes the matrix not ready."""
        return self.required and self.verdict in FAILING

    @property
    def label(self) -> str:
        k = self.key
        return f"{k.source} -> {k.destination} {k.port_label} ({k.catalog_id})"


@dataclass(frozen=True)
class InputFile:
    path: str
    kind: str  # probe | audit
    version: str
    what: str  # "probe from sync01" or "audit nftables-json fw.json (host dc01)"
    checks: int

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.path,
            "kind": self.kind,
            "hybridports_version": self.version,
            "what": self.what,
            "checks": self.checks,
        }


@dataclass(frozen=True)
class Finding:
    """An audit finding, kept with the file it came from."""

    file: str
    kind: str
    rule: str
    detail: str
    severity: str

    def to_json(self) -> dict[str, str]:
        return {
            "file": self.file,
            "kind": self.kind,
            "rule": self.rule,
            "detail": self.detail,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class Matrix:
    topology: str
    digest: str
    inputs: tuple[InputFile, ...]
    cells: tuple[Cell, ...]
    coverage_known: bool  # --topology given: the plan says what should have been checked
    not_probed: tuple[str, ...] = ()  # hosts with planned flows and no probe result
    findings: tuple[Finding, ...] = ()
    host_roles: dict[str, str] = field(default_factory=dict)  # host → role column

    @property
    def failing(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.failing)

    @property
    def ready(self) -> bool:
        return not self.failing

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({c.key.source for c in self.cells}))

    def counts(self) -> dict[str, int]:
        """Cells by worst verdict, every verdict listed (zero included), worst first."""
        counts = dict.fromkeys(VERDICT_ORDER, 0)
        for cell in self.cells:
            counts[cell.verdict] += 1
        return counts
