"""The matrix as a diagram: hosts in columns by role, cloud names grouped, worst verdict.

Up to MAX_HOSTS hosts each host is a node; beyond that the hosts of a role fold into one
node ("dc: 120 hosts") and the edges between role groups carry counts, so the picture
stays readable at 500 hosts. Cloud names are always grouped (login, health, pki, …).
"""

from __future__ import annotations

from collections import defaultdict

from hybridports.merge.model import RANK, VERDICT_ORDER, Cell, Matrix, worst
from hybridports.report.svg import Diagram, Edge, Node

MAX_HOSTS = 24
CLOUD = "Microsoft cloud"
COLUMNS = (
    "client",
    "connect",
    "cloud-sync-agent",
    "pta-agent",
    "adfs",
    "wap",
    "sql",
    "dc",
    "proxy",
    CLOUD,
    "other",
)
COLOURS = {
    "blocked": "#9b1c1c",
    "filtered": "#d9480f",
    "closed": "#e03131",
    "error": "#9c36b5",
    "partial": "#e8a20c",
    "unknown": "#795548",
    "not-probed": "#74828f",
    "skipped": "#adb5bd",
    "allowed": "#37b24d",
    "open": "#1f7a36",
}
assert tuple(COLOURS) == VERDICT_ORDER


def diagram_of(matrix: Matrix) -> Diagram:
    hosts = _hosts(matrix)
    grouped = len(hosts) > MAX_HOSTS
    not_probed = set(matrix.not_probed)

    def node_id(cell: Cell, source: bool) -> str:
        name = cell.key.source if source else cell.key.destination
        role = (cell.source_role if source else cell.destination_role) or ""
        if role == "entra":
            return f"cloud:{'(inbound)' if source else cell.group or 'other'}"
        if grouped:
            return f"role:{_column(matrix, name)}"
        return f"host:{name}"

    edges: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in matrix.cells:
        edges[(node_id(cell, True), node_id(cell, False))].append(cell)
    verdict_of: dict[str, list[str]] = defaultdict(list)
    edge_list: list[Edge] = []
    for (source, target), cells in edges.items():
        verdict = worst([c.verdict for c in cells])
        failing = sum(1 for c in cells if c.failing)
        verdict_of[source].append(verdict)
        verdict_of[target].append(verdict)
        title = (
            f"{_name(source)} → {_name(target)}: {len(cells)} flow{'s' if len(cells) != 1 else ''}"
            f", worst {verdict}" + (f", {failing} required failing" if failing else "")
        )
        edge_list.append(
            Edge(
                source,
                target,
                verdict,
                len(cells),
                title,
                dashed=verdict == "not-probed",
                faint=verdict in ("open", "allowed", "skipped"),
            )
        )
    # Failing edges drawn last, on top.
    edge_list.sort(key=lambda e: (-RANK[e.verdict], e.source, e.target))
    nodes = _nodes(matrix, hosts, grouped, not_probed, edges, verdict_of)
    note = f"grouped by role: {len(hosts)} hosts" if grouped else ""
    return Diagram(COLUMNS, tuple(nodes), tuple(edge_list), COLOURS, note)


def _name(node: str) -> str:
    kind, _, name = node.partition(":")
    if kind == "cloud":
        return CLOUD if name == "(inbound)" else f"cloud {name}"
    return name


def _hosts(matrix: Matrix) -> list[str]:
    names: dict[str, None] = {}
    for cell in matrix.cells:
        if cell.source_role != "entra":
            names[cell.key.source] = None
        if not cell.cloud:
            names[cell.key.destination] = None
    for host in matrix.not_probed:
        names[host] = None
    return sorted(names)


def _column(matrix: Matrix, host: str) -> str:
    role = matrix.host_roles.get(host)
    return role if role in COLUMNS else "other"


def _nodes(
    matrix: Matrix,
    hosts: list[str],
    grouped: bool,
    not_probed: set[str],
    edges: dict[tuple[str, str], list[Cell]],
    verdict_of: dict[str, list[str]],
) -> list[Node]:
    addresses: dict[str, str] = {}
    cloud_names: dict[str, set[str]] = defaultdict(set)
    for cell in matrix.cells:
        if cell.source_address:
            addresses.setdefault(cell.key.source, cell.source_address)
        if cell.destination_address and not cell.cloud:
            addresses.setdefault(cell.key.destination, cell.destination_address)
        if cell.cloud:
            cloud_names[cell.group or "other"].add(cell.key.destination)
    used = {n for pair in edges for n in pair}
    nodes: list[Node] = []

    def node_verdict(node: str) -> str | None:
        found = verdict_of.get(node)
        return worst(found) if found else None

    if grouped:
        members: dict[str, list[str]] = defaultdict(list)
        for host in hosts:
            members[_column(matrix, host)].append(host)
        for column in COLUMNS:
            group = members.get(column)
            if not group:
                continue
            missing = sum(1 for h in group if h in not_probed)
            sub = f"{len(group)} hosts" + (f", {missing} not probed" if missing else "")
            node = f"role:{column}"
            nodes.append(
                Node(node, column, column, sub, node_verdict(node), dashed=missing > 0, title=sub)
            )
    else:
        for host in hosts:
            node = f"host:{host}"
            missing = host in not_probed
            sub = "not probed" if missing else addresses.get(host, "")
            nodes.append(
                Node(
                    node,
                    host,
                    _column(matrix, host),
                    sub,
                    node_verdict(node),
                    dashed=missing,
                    filter=host,
                    title=f"{host} ({matrix.host_roles.get(host, 'role unknown')})"
                    + (": no probe result" if missing else ""),
                )
            )
    if "cloud:(inbound)" in used:
        nodes.append(
            Node("cloud:(inbound)", CLOUD, CLOUD, "inbound", node_verdict("cloud:(inbound)"))
        )
    for cloud_group in sorted(cloud_names):
        node = f"cloud:{cloud_group}"
        names = sorted(cloud_names[cloud_group])
        count = f"{len(names)} name{'s' if len(names) != 1 else ''}"
        nodes.append(
            Node(
                node,
                cloud_group,
                CLOUD,
                count,
                node_verdict(node),
                title=f"{cloud_group}: "
                + ", ".join(names[:20])
                + (", …" if len(names) > 20 else ""),
            )
        )
    return nodes
