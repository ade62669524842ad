"""Topology + catalog → concrete flows. Pure: no I/O, deterministic order."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from hybridports.catalog import Catalog
from hybridports.model import ALWAYS, CatalogFlow, Endpoint, Feature, PortRange, Role, Transport
from hybridports.topology import Host, Topology

# Which client zone a client flow belongs to, by its destination role (§1.2, §3.3, §3.6):
# intranet devices reach DCs, AD FS and the Seamless SSO endpoint; internet devices reach WAP.
CLIENT_ZONE_BY_DESTINATION = {
    Role.DC: "intranet",
    Role.ADFS: "intranet",
    Role.ENTRA: "intranet",
    Role.WAP: "internet",
}


PROXY_REFERENCE = (
    "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-install-prerequisites"
)


@dataclass(frozen=True, slots=True)
class PlannedFlow:
    source: str
    source_address: str | None
    destination: str
    destination_address: str | None
    protocol: str
    transport: Transport
    ports: PortRange
    catalog_id: str
    required: bool
    purpose: str
    reference: str
    source_role: Role
    destination_role: Role
    phase: str
    phase_detail: str
    level: str
    spec: tuple[str, ...]
    catalog_ids: tuple[str, ...] = ()
    endpoint_id: str | None = None
    group: str | None = None
    wildcard: bool = False
    template: bool = False
    # Printed as "*.name" in front of a real host: a name rule must cover both (§6 item 18).
    wildcard_apex: bool = False
    via: str | None = None
    # The DC's dynamic RPC range: probed through the endpoint mapper, not port by port.
    rpc_dynamic: bool = False

    @property
    def is_cloud(self) -> bool:
        return self.destination_role is Role.ENTRA

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_address": self.source_address,
            "destination": self.destination,
            "destination_address": self.destination_address,
            "protocol": self.protocol,
            "transport": self.transport.value,
            "ports": self.ports.as_list(),
            "catalog_id": self.catalog_id,
            "required": self.required,
            "purpose": self.purpose,
            "reference": self.reference,
            "catalog_ids": list(self.catalog_ids),
            "spec": list(self.spec),
            "source_role": self.source_role.value,
            "destination_role": self.destination_role.value,
            "level": self.level,
            "phase": self.phase,
            "phase_detail": self.phase_detail,
            "endpoint_id": self.endpoint_id,
            "group": self.group,
            "wildcard": self.wildcard,
            "template": self.template,
            "wildcard_apex": self.wildcard_apex,
            "via": self.via,
        }


@dataclass(frozen=True)
class Gap:
    cloud: str
    feature: str
    role: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {
            "cloud": self.cloud,
            "feature": self.feature,
            "role": self.role,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Plan:
    topology: Topology
    flows: tuple[PlannedFlow, ...]
    gaps: tuple[Gap, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def flows_from(self, host: str) -> tuple[PlannedFlow, ...]:
        return tuple(f for f in self.flows if f.source == host)

    def to_json(self) -> dict[str, Any]:
        topo = self.topology
        return {
            "topology": topo.name,
            "cloud": topo.cloud.value,
            "features": sorted(f.value for f in topo.features),
            "proxy": topo.proxy.display if topo.proxy else None,
            "flows": [f.to_json() for f in self.flows],
            "gaps": [g.to_json() for g in self.gaps],
            "warnings": list(self.warnings),
        }


def plan(topology: Topology, catalog: Catalog) -> Plan:
    features = topology.features
    by_role: dict[Role, list[Host]] = defaultdict(list)
    for host in topology.hosts:
        for role in host.roles:
            by_role[role].append(host)
    host_order = {h.name: i for i, h in enumerate(topology.hosts)}

    def wanted(flow: CatalogFlow) -> bool:
        return flow.enabled(features) and (topology.proxy is not None or not flow.only_with_proxy)

    onprem: dict[Role, list[CatalogFlow]] = defaultdict(list)
    for flow in catalog.flows:
        if flow.destination is not Role.ENTRA and wanted(flow):
            onprem[flow.source].append(flow)
    # A cloud name is planned for a role when its generic cloud flow is (features, requires).
    cloud: dict[Role, list[Endpoint]] = defaultdict(list)
    for endpoint in catalog.endpoints_for(topology.cloud):
        if not endpoint.enabled(features):
            continue
        for role in endpoint.sources:
            if wanted(catalog.flow(catalog.endpoint_flow[(endpoint.id, role)])):
                cloud[role].append(endpoint)

    rows: list[PlannedFlow] = []
    for host in topology.hosts:
        for role in host.roles:
            for flow in onprem.get(role, ()):
                rows.extend(_host_rows(topology, host, flow, by_role[flow.destination]))
            rows.extend(
                _cloud_row(topology, catalog, host, role, endpoint)
                for endpoint in cloud.get(role, ())
            )
    for flow in onprem.get(Role.ENTRA, ()):
        # Inbound from the Microsoft cloud (F-07): the source is the cloud, not a host.
        rows.extend(_entra_rows(topology, flow, by_role[flow.destination]))
    rows.extend(_proxy_rows(topology, rows))

    merged = _merge(rows)
    merged.sort(key=lambda r: _order(r, host_order))
    warnings = [
        *topology.warnings,
        *_idle_host_warnings(topology, merged),
        *_client_warnings(topology),
    ]
    gaps = _gaps(topology, catalog)
    warnings.extend(
        f"no {g.cloud} endpoint list for {g.feature} from {g.role}: {g.detail}" for g in gaps
    )
    return Plan(topology=topology, flows=tuple(merged), gaps=gaps, warnings=tuple(warnings))


def _port_ranges(topology: Topology, flow: CatalogFlow, destination: Host) -> Iterable[PortRange]:
    if flow.rpc_dynamic:
        configured = destination.rpc_dynamic_ports or topology.rpc_dynamic_ports
        if configured:
            return configured
    return (flow.ports,)


def _zone_allows(host: Host, flow: CatalogFlow) -> bool:
    if host.zone == "any" or flow.source is not Role.CLIENT:
        return True
    return CLIENT_ZONE_BY_DESTINATION.get(flow.destination, host.zone) == host.zone


def _host_rows(
    topology: Topology, host: Host, flow: CatalogFlow, destinations: list[Host]
) -> Iterable[PlannedFlow]:
    if not _zone_allows(host, flow):
        return
    # Everything that depends on the flow alone is computed once, not per destination.
    phase = flow.phase_for(topology.features)
    shared = {
        "source": host.name,
        "source_address": host.address,
        "protocol": flow.protocol,
        "transport": flow.transport,
        "catalog_id": flow.id,
        "required": flow.is_required(topology.features),
        "purpose": flow.purpose,
        "reference": flow.reference,
        "source_role": flow.source,
        "destination_role": flow.destination,
        "phase": phase.coarse,
        "phase_detail": phase.value,
        "level": flow.level.value,
        "spec": flow.spec,
        "catalog_ids": (flow.id,),
        "rpc_dynamic": flow.rpc_dynamic,
    }
    for destination in destinations:
        if destination is host:
            continue  # a host's traffic to itself never crosses a firewall
        for ports in _port_ranges(topology, flow, destination):
            yield PlannedFlow(
                destination=destination.name,
                destination_address=destination.address,
                ports=ports,
                **shared,  # type: ignore[arg-type]
            )


def _entra_rows(
    topology: Topology, flow: CatalogFlow, destinations: list[Host]
) -> Iterable[PlannedFlow]:
    phase = flow.phase_for(topology.features)
    for destination in destinations:
        yield PlannedFlow(
            source="entra",
            source_address=None,
            destination=destination.name,
            destination_address=destination.address,
            protocol=flow.protocol,
            transport=flow.transport,
            ports=flow.ports,
            catalog_id=flow.id,
            required=flow.is_required(topology.features),
            purpose=flow.purpose,
            reference=flow.reference,
            source_role=Role.ENTRA,
            destination_role=flow.destination,
            phase=phase.coarse,
            phase_detail=phase.value,
            level=flow.level.value,
            spec=flow.spec,
            catalog_ids=(flow.id,),
        )


def _cloud_row(
    topology: Topology, catalog: Catalog, host: Host, role: Role, endpoint: Endpoint
) -> PlannedFlow:
    flow = catalog.flow(catalog.endpoint_flow[(endpoint.id, role)])
    return PlannedFlow(
        source=host.name,
        source_address=host.address,
        destination=endpoint.host,
        destination_address=None,
        protocol=endpoint.protocol,
        transport=endpoint.transport,
        ports=endpoint.ports,
        catalog_id=flow.id,
        required=endpoint.is_required(topology.features),
        purpose=endpoint.purpose,
        reference=endpoint.reference,
        source_role=role,
        destination_role=Role.ENTRA,
        phase=endpoint.phase.coarse,
        phase_detail=endpoint.phase.value,
        level=endpoint.level.value,
        spec=endpoint.spec,
        catalog_ids=(flow.id,),
        endpoint_id=endpoint.id,
        group=endpoint.group,
        wildcard=endpoint.wildcard,
        template=endpoint.template,
        wildcard_apex=endpoint.wildcard_apex,
        via=topology.proxy.display if topology.proxy else None,
    )


def _proxy_rows(topology: Topology, rows: list[PlannedFlow]) -> Iterable[PlannedFlow]:
    """With a proxy, every host that goes to the cloud also needs the proxy port (S-07)."""
    proxy = topology.proxy
    if proxy is None:
        return
    first: dict[str, PlannedFlow] = {}
    required: dict[str, bool] = defaultdict(bool)
    for row in rows:
        if row.is_cloud:
            first.setdefault(row.source, row)
            required[row.source] |= row.required
    for source, row in first.items():
        yield PlannedFlow(
            source=source,
            source_address=row.source_address,
            destination=proxy.host,
            destination_address=proxy.host if _is_ip(proxy.host) else None,
            protocol="HTTP proxy",
            transport=Transport.TCP,
            ports=PortRange(proxy.port, proxy.port),
            catalog_id="proxy",
            required=required[source],
            purpose="Outbound HTTP(S) to the cloud through the configured proxy",
            reference=PROXY_REFERENCE,
            source_role=row.source_role,
            destination_role=Role.PROXY,
            phase="always",
            phase_detail="always",
            level="conditional",
            spec=("S-07", "C-06"),
            catalog_ids=("proxy",),
            group="proxy",
        )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _merge(rows: list[PlannedFlow]) -> list[PlannedFlow]:
    """One row per (source, destination, transport, port range): overlapping ranges merge."""
    groups: dict[tuple[str, str, Transport], list[PlannedFlow]] = defaultdict(list)
    for row in rows:
        groups[(row.source, row.destination, row.transport)].append(row)
    merged: list[PlannedFlow] = []
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        group.sort(key=lambda r: (r.ports.low, -r.ports.high))
        current = group[0]
        for row in group[1:]:
            if row.ports.overlaps(current.ports):
                current = _combine(current, row)
            else:
                merged.append(current)
                current = row
        merged.append(current)
    return merged


LEVEL_RANK = {"required": 0, "conditional": 1, "optional": 2, "advisory": 3}


def _combine(first: PlannedFlow, other: PlannedFlow) -> PlannedFlow:
    # The most basic flow (required, then unconditional; else the first) speaks for the row.
    def rank(row: PlannedFlow) -> tuple[bool, int]:
        return (not row.required, LEVEL_RANK.get(row.level, 9))

    lead, extra = (other, first) if rank(other) < rank(first) else (first, other)
    return replace(
        lead,
        ports=PortRange(
            min(first.ports.low, other.ports.low), max(first.ports.high, other.ports.high)
        ),
        required=first.required or other.required,
        catalog_ids=_unique((*lead.catalog_ids, *extra.catalog_ids)),
        spec=_unique((*lead.spec, *extra.spec)),
        phase=_wider_phase(first.phase, other.phase),
        phase_detail=lead.phase_detail if first.phase == other.phase else "always",
    )


def _wider_phase(a: str, b: str) -> str:
    return a if a == b else "always"


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _order(row: PlannedFlow, host_order: dict[str, int]) -> tuple[Any, ...]:
    source_rank = host_order.get(row.source, len(host_order))
    if row.destination in host_order:
        destination_rank: tuple[int, int, str] = (0, host_order[row.destination], "")
    else:
        destination_rank = (1, 0, row.destination)
    return (
        source_rank,
        row.source,
        destination_rank,
        row.ports.low,
        row.ports.high,
        row.transport.value,
    )


def _idle_host_warnings(topology: Topology, rows: list[PlannedFlow]) -> Iterable[str]:
    used = {r.source for r in rows} | {r.destination for r in rows}
    for host in topology.hosts:
        if host.name not in used:
            roles = ", ".join(r.value for r in host.roles)
            yield (
                f"host {host.name!r} ({roles}) has no planned flow: "
                "no enabled feature uses its roles"
            )


def _client_warnings(topology: Topology) -> Iterable[str]:
    for host in topology.hosts_with(Role.CLIENT):
        if host.kind == "network" and host.zone == "any" and host.ip_version is not None:
            network = ipaddress.ip_network(host.address)
            if network.prefixlen == 0:
                yield (
                    f"client {host.name!r} is {host.address} with zone 'any': it gets the intranet "
                    "flows too (to domain controllers and AD FS); set zone: internet or intranet"
                )


def _gaps(topology: Topology, catalog: Catalog) -> tuple[Gap, ...]:
    """Feature/role pairs that some cloud documents endpoints for, but not this one (§6 item 27)."""
    played = {role for host in topology.hosts for role in host.roles}
    wanted = {ALWAYS, *topology.features}
    documented: dict[tuple[str, Role], set[str]] = defaultdict(set)
    for endpoint in catalog.endpoints:
        for role in endpoint.sources:
            documented[(endpoint.feature, role)].add(endpoint.cloud.value)
    facts = {
        (str(f.cloud), str(feature)): f.text
        for f in catalog.facts
        if f.kind == "cloud-gap" and f.cloud is not None
        for feature in f.features
    }
    gaps = []
    for (feature, role), clouds in sorted(documented.items()):
        if feature in wanted and role in played and topology.cloud.value not in clouds:
            detail = facts.get((topology.cloud.value, feature), "not documented by Microsoft")
            gaps.append(Gap(topology.cloud.value, feature, role.value, detail))
    return tuple(gaps)


__all__ = ["Feature", "Gap", "Plan", "PlannedFlow", "plan"]
