"""The firewall change to request for each failing flow.

Always one plain line per flow that a port rule fixes ("allow tcp from A to B port 88
(T1-05 Kerberos)"). With the topology, also the exact rules: the plan cut down to those
flows and written by the render targets, so the ticket carries configuration that
``render`` itself would produce. Flows that failed for another reason ("error": something
answered but not the service; "unknown") are listed to investigate, not turned into
rules; "not-probed" is reported as coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridports.errors import UserError
from hybridports.merge.model import NEEDS_RULE, Cell, FlowKey, Matrix
from hybridports.plan import Plan

DEFAULT_TARGET = "nftables"


@dataclass(frozen=True)
class Config:
    target: str
    host: str | None  # None: a firewall between the hosts (forward path)
    text: str

    @property
    def title(self) -> str:
        where = f"host {self.host}" if self.host else "a firewall between the hosts"
        # Written as render writes a whole policy: loaded alone it would replace the policy.
        return (
            f"{self.target} rules for the failing flows only ({where}): add them to the "
            "existing policy, do not load this file in its place"
        )


@dataclass(frozen=True)
class Changes:
    rules: tuple[Cell, ...]  # cells a port rule fixes, each with its one-line change
    investigate: tuple[Cell, ...]  # failing for another reason ("error", "unknown")
    configs: tuple[Config, ...] = ()
    warnings: tuple[str, ...] = ()


def check_targets(targets: list[str]) -> list[str]:
    from hybridports.render import RENDERERS

    for target in targets:
        if target not in RENDERERS:
            raise UserError(
                f"unknown --target {target!r} (expected one of: {', '.join(RENDERERS)})"
            )
    return list(dict.fromkeys(targets)) or [DEFAULT_TARGET]


def changes_for(matrix: Matrix, plan: Plan | None, targets: list[str]) -> Changes:
    rules: list[Cell] = []
    investigate: list[Cell] = []
    for cell in matrix.cells:
        verdict = cell.verdict
        if verdict in NEEDS_RULE:
            cell.change = change_line(cell)
            rules.append(cell)
        elif cell.failing and verdict != "not-probed":  # gaps are reported as coverage
            investigate.append(cell)
    # Required flows first: they are what blocks readiness.
    rules.sort(key=lambda c: not c.required)
    if plan is None or not rules:
        return Changes(tuple(rules), tuple(investigate))
    configs, warnings = _render(plan, {c.key for c in rules}, targets)
    return Changes(tuple(rules), tuple(investigate), configs, warnings)


def change_line(cell: Cell) -> str:
    k = cell.key
    source = cell.source_address or k.source
    destination = k.destination if cell.cloud else (cell.destination_address or k.destination)
    ranges = _blocked(cell) or [(k.low, k.high)]
    ports = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
    if k.transport == "icmp":
        where = f"type {ports}"
    else:
        where = ("ports " if len(ranges) > 1 or ranges[0][0] != ranges[0][1] else "port ") + ports
    why = " ".join(x for x in (cell.spec[0] if cell.spec else k.catalog_id, cell.protocol) if x)
    optional = "" if cell.required else ", optional"
    return f"allow {k.transport} from {source} to {destination} {where} ({why}{optional})"


def _blocked(cell: Cell) -> list[tuple[int, int]]:
    """The ports an audit found blocked; empty when a probe failed (the whole flow)."""
    if any(e.kind == "probe" and e.verdict in NEEDS_RULE for e in cell.evidence):
        return []
    found = sorted({p for e in cell.evidence for p in e.blocked_ports})
    return found


def _render(
    plan: Plan, keys: set[FlowKey], targets: list[str]
) -> tuple[tuple[Config, ...], tuple[str, ...]]:
    from hybridports.merge.build import plan_key
    from hybridports.render import RENDERERS
    from hybridports.render.run import render

    flows = tuple(f for f in plan.flows if plan_key(f) in keys)
    if not flows:
        return (), ()
    failing = Plan(plan.topology, flows)
    configs: list[Config] = []
    warnings: list[str] = []
    for target in targets:
        hosts: list[str | None] = [None]
        if RENDERERS[target].host_only:
            involved = {f.source for f in flows} | {f.destination for f in flows}
            hosts = [h.name for h in plan.topology.hosts if h.name in involved]
        for host in hosts:
            text, notes = render(failing, target, host=host)
            configs.append(Config(target, host, text))
            warnings += [f"{target}: {n}" for n in notes if f"{target}: {n}" not in warnings]
    return tuple(configs), tuple(warnings)
