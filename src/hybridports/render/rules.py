"""Plan rows → grouped allow rules (the one place that decides what a rule covers)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from hybridports.model import PortRange, Role, Transport
from hybridports.plan import Plan, PlannedFlow
from hybridports.render.interface import AllowRule, Endpoint, RenderError, RenderOptions, RuleSet

# Azure service tags for cloud endpoint groups (§4.9; U19: PTA/app-proxy tags undocumented).
SERVICE_TAGS = {
    "login": "AzureActiveDirectory",
    "sync-service": "AzureActiveDirectory",
    "sspr": "AzureActiveDirectory",
    "servicebus": "ServiceBus",
    "health": "AzureCloud",
    "appproxy": "AzureCloud",
    "sso": "AzureActiveDirectory",
    "cdn": "AzureFrontDoor.Frontend",
    "pki": "Internet",
    "other": "AzureCloud",
}


def rules_for(plan: Plan, options: RenderOptions, egress: str) -> RuleSet:
    topology = plan.topology
    if options.host is not None and topology.host(options.host) is None:
        known = ", ".join(h.name for h in topology.hosts)
        raise RenderError(
            f"--host {options.host!r} is not a host of the topology ({known})", file=topology.file
        )
    if egress == "proxy" and topology.proxy is None:
        raise RenderError("--cloud-egress proxy needs a proxy: in the topology", file=topology.file)
    rows = [r for r in plan.flows if r.required or not options.required_only]
    if egress == "proxy":
        rows = [r for r in rows if not r.is_cloud]  # the planned host→proxy rows remain
    addresses = _addresses(plan, options)
    if options.host is None:
        return RuleSet(
            forward=_group(rows, addresses, egress, options),
            warnings=_warnings(egress),
            topology=topology.name,
        )
    host = options.host
    inbound = [r for r in rows if r.destination == host]
    outbound = [r for r in rows if r.source == host]
    own = topology.host(host)
    assert own is not None
    return RuleSet(
        inbound=_group(inbound, addresses, egress, options),
        outbound=_group(outbound, addresses, egress, options),
        host=host,
        host_addresses=(addresses[host],),
        warnings=_warnings(egress),
        topology=topology.name,
    )


def _warnings(egress: str) -> tuple[str, ...]:
    if egress == "resolve":
        return (
            "cloud names were resolved now and pinned as addresses: they change; re-render often",
        )
    return ()


def _addresses(plan: Plan, options: RenderOptions) -> dict[str, str]:
    result: dict[str, str] = {}
    topology = plan.topology
    for host in topology.hosts:
        if host.kind == "dns":
            found = options.resolved.get(host.address)
            if not found:
                raise RenderError(
                    f"host {host.name!r} has the DNS name {host.address!r}, which did not "
                    "resolve; address rules need its IP",
                    file=topology.file,
                )
            result[host.name] = found[0]
        else:
            result[host.name] = host.address
    if topology.proxy is not None:
        proxy_host = topology.proxy.host
        resolved = options.resolved.get(proxy_host, (proxy_host,))
        result[proxy_host] = resolved[0]
    return result


def _side(
    row: PlannedFlow, source: bool, addresses: dict[str, str], egress: str, options: RenderOptions
) -> Endpoint:
    name = row.source if source else row.destination
    role = row.source_role if source else row.destination_role
    if role is Role.ENTRA and source:
        return Endpoint(any=True, names=("Microsoft cloud",))
    if role is Role.ENTRA:
        if egress == "resolve":
            names = options.samples.get(name, ()) if row.wildcard or row.template else (name,)
            found = tuple(a for n in names for a in options.resolved.get(n, ()))
            if not found:
                raise RenderError(
                    f"--cloud-egress resolve: {name} did not resolve (a wildcard resolves "
                    "through its endpoint_samples; else use --cloud-egress any, proxy or tags)"
                )
            return Endpoint(addresses=tuple(sorted(found)), names=(name,))
        return Endpoint(any=True, names=(name,))
    return Endpoint(addresses=(addresses[name],), hosts=(name,))


GroupKey = tuple[Transport, PortRange, bool, str | None, Endpoint, Endpoint]


@dataclass
class _Merged:
    ids: list[str] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)
    required: bool = False

    def add(self, row: PlannedFlow) -> None:
        self.ids.extend(i for i in row.catalog_ids if i not in self.ids)
        if row.purpose not in self.purposes:
            self.purposes.append(row.purpose)
        self.required = self.required or row.required


def _group(
    rows: Iterable[PlannedFlow], addresses: dict[str, str], egress: str, options: RenderOptions
) -> tuple[AllowRule, ...]:
    """Group by catalog flow and ports, then merge groups that cover the same pairs."""
    by_flow: dict[tuple[object, ...], list[tuple[Endpoint, Endpoint, PlannedFlow]]] = defaultdict(
        list
    )
    for row in rows:
        tag = None
        if row.is_cloud and egress == "tags":
            tag = SERVICE_TAGS.get(row.group or "other", "AzureCloud")
        flow_key = (row.catalog_id, row.transport, row.ports, row.rpc_dynamic, tag)
        source = _side(row, True, addresses, egress, options)
        destination = _side(row, False, addresses, egress, options)
        by_flow[flow_key].append((source, destination, row))
    merged: dict[GroupKey, _Merged] = {}
    for flow_items in by_flow.values():
        for items in _products(flow_items):
            first = items[0][2]
            tag = None
            if first.is_cloud and egress == "tags":
                tag = SERVICE_TAGS.get(first.group or "other", "AzureCloud")
            key: GroupKey = (
                first.transport,
                first.ports,
                first.rpc_dynamic,
                tag,
                _union(e for e, _, _ in items),
                _union(e for _, e, _ in items),
            )
            entry = merged.setdefault(key, _Merged())
            for _, _, row in items:
                entry.add(row)
    rules = [
        AllowRule(
            source=source,
            destination=destination,
            transport=transport,
            ports=(ports,),
            catalog_ids=tuple(entry.ids),
            purposes=tuple(entry.purposes),
            required=entry.required,
            rpc_dynamic=rpc,
            service_tag=tag,
        )
        for (transport, ports, rpc, tag, source, destination), entry in merged.items()
    ]
    rules.sort(
        key=lambda r: (
            r.transport.value,
            r.ports[0].low,
            r.ports[0].high,
            r.catalog_ids,
            r.source.addresses,
            r.destination.addresses,
            r.destination.names,
        )
    )
    return tuple(rules)


Pair = tuple[Endpoint, Endpoint, PlannedFlow]


def _products(items: list[Pair]) -> list[list[Pair]]:
    """Split a flow's pairs into groups whose sources times destinations are exactly the pairs.

    The planner fans a catalog flow out from every source of a role to every destination of
    a role, so one group is the rule; should a plan ever hold only some of the pairs (sources
    times destinations would allow more), a group per source keeps a rule from allowing a
    pair the plan does not have.
    """
    sources = {(s.addresses, s.names, s.any) for s, _, _ in items}
    destinations = {(d.addresses, d.names, d.any) for _, d, _ in items}
    pairs = {((s.addresses, s.names, s.any), (d.addresses, d.names, d.any)) for s, d, _ in items}
    if len(pairs) == len(sources) * len(destinations):
        return [items]
    by_source: dict[tuple[object, ...], list[Pair]] = defaultdict(list)
    for item in items:
        source = item[0]
        by_source[(source.addresses, source.names, source.any)].append(item)
    return list(by_source.values())


def _union(endpoints: Iterable[Endpoint]) -> Endpoint:
    items = list(endpoints)
    return Endpoint(
        addresses=tuple(sorted({a for e in items for a in e.addresses})),
        names=tuple(sorted({n for e in items for n in e.names})),
        hosts=tuple(sorted({h for e in items for h in e.hosts})),
        any=any(e.any for e in items),
    )
