"""Planned flows → evaluator queries: which addresses, which interface, which positions.

Where the policy stands decides the positions a flow's first packet meets:
- a firewall between the hosts (nftables, iptables without ``--host``): the forward path;
- a host's own policy (``--host H``): input for flows to H, output for flows from H;
- a host-based format (NSG, security group, Windows Firewall) without ``--host``: the same
  policy at both ends — output at the source host, input at the destination host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from hybridports.audit.evaluate import PORTLESS, Query, Side
from hybridports.audit.interface import (
    FORWARD_PATH,
    INBOUND_PATH,
    OUTBOUND_PATH,
)
from hybridports.audit.intervals import ALL_V4, ALL_V6, Intervals, network_interval
from hybridports.audit.programs import server_process
from hybridports.errors import UserError
from hybridports.model import Role, Transport
from hybridports.plan import Plan, PlannedFlow
from hybridports.render.rules import SERVICE_TAGS
from hybridports.topology import Host

# Not on the internet: a cloud name never resolves into these (RFC 1918, 6598, 5735, 4193…).
_NOT_PUBLIC = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/3",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)
PUBLIC_V4 = ALL_V4 - Intervals.of(
    s for n in _NOT_PUBLIC if ":" not in n for s in network_interval(n).spans
)
PUBLIC_V6 = ALL_V6 - Intervals.of(
    s for n in _NOT_PUBLIC if ":" in n for s in network_interval(n).spans
)
# Hosts whose traffic is never filtered by the audited host-based policy.
_NOT_POLICY_HOSTS = (Role.ENTRA, Role.CLIENT, Role.PROXY)


@dataclass(frozen=True)
class InterfaceMap:
    """``--interface IFNAME=CIDR[,CIDR…]``: which addresses lie behind which interface."""

    entries: tuple[tuple[str, Intervals, int], ...] = ()  # (name, addresses, prefix length)

    @staticmethod
    def parse(values: list[str]) -> InterfaceMap:
        entries: list[tuple[str, Intervals, int]] = []
        for value in values:
            name, sep, cidrs = value.partition("=")
            if not sep or not name.strip() or not cidrs.strip():
                raise UserError(f"--interface {value!r}: expected IFNAME=CIDR[,CIDR…]")
            for cidr in cidrs.split(","):
                try:
                    net = ipaddress.ip_network(cidr.strip(), strict=False)
                except ValueError:
                    raise UserError(
                        f"--interface {value!r}: {cidr.strip()!r} is not a CIDR"
                    ) from None
                entries.append((name.strip(), network_interval(net), net.prefixlen))
        return InterfaceMap(tuple(entries))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def lookup(self, addresses: Intervals, default_route: bool, family: int) -> str | None:
        """The interface with the longest prefix holding all of ``addresses``; names whose
        addresses are unknown go to the interface holding the default route."""
        if default_route:
            universe = ALL_V4 if family == 4 else ALL_V6
            for name, values, _ in self.entries:
                if universe.issubset(values):
                    return name
            return None
        best: tuple[int, str] | None = None
        for name, values, length in self.entries:
            if addresses.issubset(values) and (best is None or length > best[0]):
                best = (length, name)
        return best[1] if best else None


@dataclass(frozen=True)
class Placement:
    """One planned flow, its query, and where the policy meets it."""

    flow: PlannedFlow
    query: Query
    positions: tuple[str, ...]
    ends: tuple[str, ...]  # "forward", or which end of the flow: "source", "destination"


def placements(
    plan: Plan, host: str | None, host_policy: bool, interfaces: InterfaceMap
) -> tuple[list[Placement], list[PlannedFlow]]:
    """Placements for every flow the policy decides, and the flows left out (through the
    proxy: their proxy row stands for them)."""
    hosts = {h.name: h for h in plan.topology.hosts}
    out: list[Placement] = []
    via_proxy: list[PlannedFlow] = []
    for flow in plan.flows:
        if flow.via:
            via_proxy.append(flow)
            continue
        if host is not None and host not in (flow.source, flow.destination):
            continue
        positions: tuple[str, ...]
        if host is not None:
            if flow.source == flow.destination:
                continue
            inbound = flow.destination == host
            positions = INBOUND_PATH if inbound else OUTBOUND_PATH
            ends: tuple[str, ...] = ("destination",) if inbound else ("source",)
        elif host_policy:
            at_source = flow.source_role not in _NOT_POLICY_HOSTS
            at_destination = flow.destination_role not in _NOT_POLICY_HOSTS
            positions = (OUTBOUND_PATH if at_source else ()) + (
                INBOUND_PATH if at_destination else ()
            )
            ends = ("source",) * at_source + ("destination",) * at_destination
            if not positions:
                continue
        else:
            positions, ends = FORWARD_PATH, ("forward",)
        out.append(Placement(flow, _query(flow, hosts, interfaces), positions, ends))
    return out, via_proxy


def _query(flow: PlannedFlow, hosts: dict[str, Host], interfaces: InterfaceMap) -> Query:
    family = _family(flow, hosts)
    source = _side(flow, True, hosts, family, interfaces)
    destination = _side(flow, False, hosts, family, interfaces)
    served_by = server_process(
        flow.destination_role,
        flow.transport.value,
        flow.ports.low,
        flow.ports.high,
        flow.rpc_dynamic,
    )
    if served_by is not None:
        destination = replace(destination, process=served_by)
    if flow.transport is Transport.ICMP:
        protocol, ports = ("icmp" if family == 4 else "icmpv6"), PORTLESS
    else:
        protocol = flow.transport.value
        ports = Intervals.span(flow.ports.low, flow.ports.high)
    return Query(source, destination, protocol, ports, family, rpc_dynamic=flow.rpc_dynamic)


def _family(flow: PlannedFlow, hosts: dict[str, Host]) -> int:
    for name in (flow.source, flow.destination):
        host = hosts.get(name)
        if host is not None and host.ip_version is not None:
            return host.ip_version
    for address in (flow.source_address, flow.destination_address):
        if address:
            try:
                return ipaddress.ip_network(address, strict=False).version
            except ValueError:
                pass
    return 4


def _side(
    flow: PlannedFlow, source: bool, hosts: dict[str, Host], family: int, interfaces: InterfaceMap
) -> Side:
    name = flow.source if source else flow.destination
    role = flow.source_role if source else flow.destination_role
    address = flow.source_address if source else flow.destination_address
    host = hosts.get(name)
    if host is not None and host.kind in ("ip", "network"):
        values = network_interval(host.address)
    elif address:
        try:
            values = network_interval(address)
        except ValueError:
            values = Intervals()
    else:
        values = Intervals()
    if values:
        interface = interfaces.lookup(values, False, family) if interfaces else None
        return Side(values, True, name, interface=interface)
    public = role in (Role.ENTRA,) or host is None
    stand_in = (
        (PUBLIC_V4 if family == 4 else PUBLIC_V6) if public else (ALL_V4 if family == 4 else ALL_V6)
    )
    tags: frozenset[str] = frozenset()
    if role is Role.ENTRA:
        tag = SERVICE_TAGS.get(flow.group or "other", "AzureCloud").lower()
        tags = frozenset({tag, "internet"} | ({"azurecloud"} if tag != "internet" else set()))
    interface = interfaces.lookup(stand_in, public, family) if interfaces else None
    return Side(stand_in, False, name, tags, interface)
