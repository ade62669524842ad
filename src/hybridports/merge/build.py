"""Result files (+ the plan, when the topology is given) → the readiness matrix.

Without the plan a cell's purpose, reference and roles come from the catalog by the row's
catalog id; with it they come from the planned row, and every planned flow of a host that
should have been probed but has no result becomes a "not-probed" cell: a gap is shown,
never left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hybridports.catalog import Catalog
from hybridports.merge.load import AuditRow, ProbeRow, ResultFile
from hybridports.merge.model import Cell, Evidence, Finding, FlowKey, InputFile, Matrix
from hybridports.model import Role
from hybridports.plan import Plan, PlannedFlow

# Sources nobody runs a probe on: user networks, the Microsoft cloud, the proxy.
UNPROBED_ROLES = frozenset({Role.CLIENT, Role.ENTRA, Role.PROXY})


def build_matrix(files: list[ResultFile], catalog: Catalog, plan: Plan | None = None) -> Matrix:
    planned = {plan_key(f): f for f in plan.flows} if plan is not None else {}
    groups = _endpoint_groups(catalog)
    cells: dict[FlowKey, Cell] = {}

    def cell(key: FlowKey) -> Cell:
        found = cells.get(key)
        if found is None:
            found = cells[key] = _new_cell(key, planned.get(key), catalog, groups)
        return found

    for item in files:
        for row in item.probe_rows:
            assert item.source is not None
            target = cell(_probe_key(item.source, row))
            _add_probe(target, item, row)
        for audit in item.audit_rows:
            target = cell(_audit_key(audit))
            _add_audit(target, item, audit)
    not_probed: tuple[str, ...] = ()
    if plan is not None:
        not_probed = _add_gaps(plan, files, cell)
    first = files[0]
    return Matrix(
        topology=first.topology,
        digest=first.digest,
        inputs=tuple(InputFile(f.path, f.kind, f.version, f.what, f.checks) for f in files),
        cells=tuple(sorted(cells.values(), key=_order)),
        coverage_known=plan is not None,
        not_probed=not_probed,
        findings=tuple(
            Finding(
                f.path,
                x.get("kind", ""),
                x.get("rule", ""),
                x.get("detail", ""),
                x.get("severity", ""),
            )
            for f in files
            for x in f.findings
        ),
        host_roles=_host_roles(plan, cells.values()),
    )


def _order(cell: Cell) -> tuple[object, ...]:
    k = cell.key
    return (k.source, cell.cloud, k.destination, k.transport, k.low, k.high, k.catalog_id)


def plan_key(flow: PlannedFlow) -> FlowKey:
    return FlowKey(
        flow.source,
        flow.destination,
        flow.transport.value,
        flow.ports.low,
        flow.ports.high,
        flow.catalog_id,
    )


def _probe_key(source: str, row: ProbeRow) -> FlowKey:
    low, high = row.flow_ports
    return FlowKey(source, row.destination, row.transport, low, high, row.catalog_id)


def _audit_key(row: AuditRow) -> FlowKey:
    low, high = row.ports
    return FlowKey(row.source, row.destination, row.transport, low, high, row.catalog_id)


def _endpoint_groups(catalog: Catalog) -> dict[str, str]:
    return {e.host: e.group for e in catalog.endpoints}


def _new_cell(
    key: FlowKey, flow: PlannedFlow | None, catalog: Catalog, groups: dict[str, str]
) -> Cell:
    if flow is not None:
        return Cell(
            key=key,
            protocol=flow.protocol,
            required=flow.required,
            source_address=flow.source_address,
            destination_address=flow.destination_address,
            source_role=flow.source_role.value,
            destination_role=flow.destination_role.value,
            cloud=flow.is_cloud,
            purpose=flow.purpose,
            reference=flow.reference,
            spec=flow.spec,
            group=flow.group,
        )
    try:
        known = catalog.flow(key.catalog_id)
    except KeyError:
        return Cell(key=key)
    cloud = known.destination is Role.ENTRA
    return Cell(
        key=key,
        protocol=known.protocol,
        source_role=known.source.value,
        destination_role=known.destination.value,
        cloud=cloud,
        purpose=known.purpose,
        reference=known.reference,
        spec=known.spec,
        group=groups.get(key.destination, "other") if cloud else None,
    )


def _add_probe(cell: Cell, item: ResultFile, row: ProbeRow) -> None:
    cell.required = cell.required or row.required
    cell.protocol = cell.protocol or row.protocol
    cell.source_address = cell.source_address or item.source_address
    if not cell.cloud:
        cell.destination_address = cell.destination_address or row.address
    port = f"{row.port}/{row.transport}" if row.port is not None else f"{row.transport}"
    check = f"{row.protocol} {port}"
    if row.tested_name and row.tested_name != row.destination:
        check += f" to {row.tested_name}"
    if row.address:
        check += f" at {row.address}"
    if row.via:
        check += f" via {row.via}"
    cell.evidence.append(Evidence(item.path, "probe", row.verdict, check, row.detail))


def _add_audit(cell: Cell, item: ResultFile, row: AuditRow) -> None:
    cell.required = cell.required or row.required
    cell.protocol = cell.protocol or row.protocol
    cell.purpose = cell.purpose or row.purpose
    cell.source_address = cell.source_address or row.source_address
    cell.destination_address = cell.destination_address or row.destination_address
    assert item.policy is not None
    _, fmt, host = item.policy
    check = f"{fmt} policy" + (f" of {host}" if host else "")
    if row.matched_rule:
        check += f", {row.matched_rule}"
    parts = [row.detail] if row.detail else []
    if row.unknown_ports and row.verdict != "allowed":
        parts.insert(0, f"undecided ports {_ranges(row.unknown_ports)}")
    if row.blocked_ports and row.verdict != "allowed":
        parts.insert(0, f"blocked ports {_ranges(row.blocked_ports)}")
    detail = "; ".join(parts)
    cell.evidence.append(
        Evidence(item.path, "audit", row.verdict, check, detail, row.blocked_ports)
    )


def _ranges(pairs: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in pairs)


def _add_gaps(
    plan: Plan, files: list[ResultFile], cell: Callable[[FlowKey], Cell]
) -> tuple[str, ...]:
    """A "not-probed" evidence on every planned flow of a probe-able host that no probe has."""
    probes = {f.source: f for f in files if f.source is not None}
    probed_keys = {
        _probe_key(f.source, r) for f in files if f.source is not None for r in f.probe_rows
    }
    missing: list[str] = []
    for flow in plan.flows:
        host = plan.topology.host(flow.source)
        if host is None or flow.source_role in UNPROBED_ROLES:
            continue
        if all(r in UNPROBED_ROLES for r in host.roles):
            continue
        key = plan_key(flow)
        if key in probed_keys:
            continue
        probe = probes.get(flow.source)
        if probe is None:
            if flow.source not in missing:
                missing.append(flow.source)
            detail = (
                f"no probe result from {flow.source}: run `hybridports probe TOPOLOGY "
                f"--from {flow.source} --format json` on it and merge the file"
            )
        else:
            detail = f"the probe from {flow.source} has no check for this flow (run with --only?)"
        gap = Evidence(probe.path if probe else "", "plan", "not-probed", "planned flow", detail)
        cell(key).evidence.append(gap)
    return tuple(missing)


# The diagram's column for a host: its first role in this order (the topology lists roles
# in any order; a Connect server that is also a PTA agent is drawn with the Connect servers).
ROLE_PRIORITY = (
    "connect",
    "cloud-sync-agent",
    "pta-agent",
    "adfs",
    "wap",
    "sql",
    "dc",
    "client",
    "proxy",
)


def _host_roles(plan: Plan | None, cells: Iterable[Cell]) -> dict[str, str]:
    """Each host's role: from the topology, else guessed from the catalog ids of its flows."""
    roles: dict[str, set[str]] = {}
    if plan is not None:
        for host in plan.topology.hosts:
            roles[host.name] = {r.value for r in host.roles}
    known = set(roles)
    for item in cells:
        if item.key.source not in known and item.source_role:
            roles.setdefault(item.key.source, set()).add(item.source_role)
        destination = item.key.destination
        if not item.cloud and destination not in known and item.destination_role:
            roles.setdefault(destination, set()).add(item.destination_role)
    order = {r: i for i, r in enumerate(ROLE_PRIORITY)}
    return {
        host: min(found, key=lambda r: order.get(r, len(order))) for host, found in roles.items()
    }
