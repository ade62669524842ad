"""Findings about the policy itself: rules broader than the plan, rules that can never match,
rules for ports Active Directory no longer uses.

Each check looks at one rule at a time and finds the planned hosts it touches by bisecting a
sorted address list, and the earlier rules that could hide it through the chain index, so the
cost follows the number of rules, not rules times flows.
"""

from __future__ import annotations

import bisect
import fnmatch
from collections import defaultdict
from collections.abc import Iterable

from hybridports.audit.evaluate import Box, ChainIndex, split_boxes
from hybridports.audit.interface import (
    FORWARD_PATH,
    INBOUND_PATH,
    OUTBOUND_PATH,
    Action,
    AddressMatch,
    Chain,
    Finding,
    InterfaceMatch,
    Match,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import (
    ALL_ADDRESSES,
    ALL_PORTS,
    Intervals,
    format_addresses,
    network_interval,
)
from hybridports.audit.queries import PUBLIC_V4, InterfaceMap, Placement
from hybridports.model import Role
from hybridports.plan import Plan

DYNAMIC_RPC = Intervals.span(49152, 65535)
MANAGEMENT = {"tcp": Intervals.of([(22, 22), (3389, 3389), (5985, 5986)])}
# Roles that take no inbound internet traffic (§6 item 1): only WAP (and AD FS from Microsoft
# for the Exchange Online legacy endpoints) does.
NO_INBOUND_INTERNET = (
    Role.CONNECT,
    Role.PTA_AGENT,
    Role.CLOUD_SYNC_AGENT,
    Role.DC,
    Role.SQL,
)
# Ports Active Directory no longer needs (§3 trust table, §5, §8.2 "stale entries").
LEGACY_PORTS: tuple[tuple[str, Intervals, str], ...] = (
    ("tcp", Intervals.span(42, 42), "WINS replication (TCP 42): not used by AD; a stale entry"),
    ("udp", Intervals.span(42, 42), "WINS (UDP 42): not used by AD; a stale entry"),
    (
        "tcp",
        Intervals.span(5722, 5722),
        "DFSR RPC on TCP 5722 was Windows Server 2008/2008 R2; later DCs use the dynamic range",
    ),
    (
        "tcp",
        Intervals.span(1025, 5000),
        "the pre-2008 dynamic RPC range 1025-5000: needed only with pre-2008 systems (§5)",
    ),
    ("udp", Intervals.of([(137, 138)]), "NetBIOS (UDP 137-138): only for NT4/NetBIOS-only trusts"),
    (
        "tcp",
        Intervals.span(139, 139),
        "NetBIOS session (TCP 139): only for NT4/NetBIOS-only trusts",
    ),
    ("tcp", Intervals.span(1723, 1723), "PPTP (TCP 1723): only for trusts tunnelled through PPTP"),
)

SHADOW_BOXES = 256


def policy_findings(
    plan: Plan,
    ruleset: Ruleset,
    host: str | None,
    placed: list[Placement],
    interfaces: InterfaceMap,
) -> list[Finding]:
    positions = _positions(ruleset, host)
    reachable = _reachable(ruleset, positions)
    planned = _planned_ports(placed)
    hosts = _HostIndex(plan)
    out: list[Finding] = []
    shadowed = [f for chain in ruleset.chains.values() for f in _shadowed(chain)]
    hidden = {f.rule for f in shadowed}  # a rule that never matches allows nothing
    # A platform default rule behind the policy's own deny-all is how NSGs are meant to be.
    out += [f for f in shadowed if "(default rule)" not in f.rule]
    entry = _chain_entries(ruleset, interfaces)
    for chain in reachable:
        inbound_host = host if host and _is_at(ruleset, chain, INBOUND_PATH) else None
        outbound_host = host if host and _is_at(ruleset, chain, OUTBOUND_PATH) else None
        for rule, reach in _reach(chain, entry.get(chain.key, _EVERYWHERE)):
            if rule.action is not Action.ACCEPT or not _opens_new(rule.match):
                continue
            if rule.label in hidden:
                continue
            reach = (
                reach[0] & _behind(rule.match.in_interface, interfaces),
                reach[1] & _behind(rule.match.out_interface, interfaces),
            )
            out += _permissive(rule, reach, hosts, planned, plan, inbound_host, outbound_host)
            out += _legacy(rule, planned)
    return out


# What can reach a rule: (sources, destinations). Guards such as ``! -s 10.20.0.0/16 -j
# RETURN`` at the top of a chain, and the address conditions of the jumps into a chain, narrow
# it; other conditions are ignored (the reach stays wider, never narrower, than the truth).
Reach = tuple[Intervals, Intervals]
_EVERYWHERE: Reach = (ALL_ADDRESSES, ALL_ADDRESSES)


def _behind(match: InterfaceMatch | None, interfaces: InterfaceMap) -> Intervals:
    """Addresses an interface match can see, by the --interface map (all without one)."""
    if match is None or not interfaces:
        return ALL_ADDRESSES
    values = Intervals.of(
        span
        for name, addresses, _ in interfaces.entries
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in match.names)
        for span in addresses.spans
    )
    return ALL_ADDRESSES - values if match.negate else values


def _chain_entries(ruleset: Ruleset, interfaces: InterfaceMap) -> dict[str, Reach]:
    """For user chains: the union of the addresses their jumps and gotos match."""
    spans: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
    for chain in ruleset.chains.values():
        for rule in chain.rules:
            if rule.target and rule.action in (Action.JUMP, Action.GOTO):
                src, dst = spans.setdefault(rule.target, ([], []))
                m = rule.match
                src += (_addresses(m.source) & _behind(m.in_interface, interfaces)).spans
                dst += (_addresses(m.destination) & _behind(m.out_interface, interfaces)).spans
    return {key: (Intervals.of(s), Intervals.of(d)) for key, (s, d) in spans.items()}


def _reach(chain: Chain, entry: Reach) -> Iterable[tuple[Rule, Reach]]:
    sources, destinations = entry
    for rule in chain.rules:
        yield rule, (sources, destinations)
        m = rule.match
        if rule.action in (Action.CONTINUE, Action.JUMP) or m.unknown is not None:
            continue
        only_addresses = (
            m.protocols is None
            and m.ports is None
            and m.source_ports is None
            and not m.rpc_dynamic
            and m.in_interface is None
            and m.out_interface is None
            and m.new_connection is None
        )
        if not only_addresses:
            continue
        if m.destination is None and m.source is not None and not m.source.unresolved:
            sources = sources - _addresses(m.source)
        elif m.source is None and m.destination is not None and not m.destination.unresolved:
            destinations = destinations - _addresses(m.destination)


# --- where -----------------------------------------------------------------------------------


def _positions(ruleset: Ruleset, host: str | None) -> tuple[str, ...]:
    if host is not None or ruleset.host_policy:
        return INBOUND_PATH + OUTBOUND_PATH
    return FORWARD_PATH


def _is_at(ruleset: Ruleset, chain: Chain, path: tuple[str, ...]) -> bool:
    return any(chain.key in ruleset.hooks.get(p, ()) for p in path)


def _reachable(ruleset: Ruleset, positions: tuple[str, ...]) -> list[Chain]:
    seen: dict[str, Chain] = {}
    todo = [k for p in positions for k in ruleset.hooks.get(p, ())]
    while todo:
        key = todo.pop()
        chain = ruleset.chains.get(key)
        if chain is None or key in seen:
            continue
        seen[key] = chain
        todo += [r.target for r in chain.rules if r.target]
    return sorted(seen.values(), key=lambda c: c.key)


def _opens_new(m: Match) -> bool:
    if m.unknown is not None or m.new_connection is False:
        return False
    return not (
        m.in_interface and m.in_interface.names == frozenset({"lo"}) and not m.in_interface.negate
    )


class _HostIndex:
    """Planned hosts with addresses, sorted, to find those a rule's addresses cover."""

    def __init__(self, plan: Plan) -> None:
        entries = []
        for h in plan.topology.hosts:
            if h.kind == "ip":
                values = network_interval(h.address)
                entries.append((values.low, h.name, h.roles))
        entries.sort()
        self.lows = [e[0] for e in entries]
        self.entries = entries

    def covered(self, addresses: Intervals) -> list[tuple[str, tuple[Role, ...]]]:
        out: list[tuple[str, tuple[Role, ...]]] = []
        for lo, hi in addresses.spans:
            start = bisect.bisect_left(self.lows, lo)
            end = bisect.bisect_right(self.lows, hi)
            out += [(name, roles) for _, name, roles in self.entries[start:end]]
        return out


def _planned_ports(placed: list[Placement]) -> dict[tuple[str, str], Intervals]:
    """(destination host, protocol) → every port the plan needs there, from anyone."""
    spans: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for p in placed:
        if p.query.protocol in ("tcp", "udp"):
            spans[(p.flow.destination, p.query.protocol)] += p.query.ports.spans
    return {key: Intervals.of(values) for key, values in spans.items()}


# --- overly permissive --------------------------------------------------------------------


def _protocols(m: Match) -> tuple[str, ...]:
    if m.protocols is None:
        return ("tcp", "udp")
    if m.negate_protocols:
        return tuple(p for p in ("tcp", "udp") if p not in m.protocols)
    return tuple(p for p in ("tcp", "udp") if p in m.protocols)


def _permissive(
    rule: Rule,
    reach: Reach,
    hosts: _HostIndex,
    planned: dict[tuple[str, str], Intervals],
    plan: Plan,
    inbound_host: str | None,
    outbound_host: str | None,
) -> list[Finding]:
    m = rule.match
    if m.rpc_dynamic or outbound_host is not None:
        # The RPC keyword is exactly the dynamic endpoints; outbound breadth is egress policy.
        return []
    sources = _addresses(m.source) & reach[0]
    destinations = _addresses(m.destination) & reach[1]
    ports = ALL_PORTS if m.ports is None else m.ports
    from_anywhere = PUBLIC_V4.issubset(sources)
    to_anywhere = PUBLIC_V4.issubset(destinations) and inbound_host is None
    found: list[str] = []
    scoped: list[str] = []
    if m.protocols is None and m.ports is None and from_anywhere and (to_anywhere or inbound_host):
        where = f"to {inbound_host}" if inbound_host else "to any address"
        found.append(
            f"accepts every new connection from any address {where} (any protocol, any port)"
        )
        return [Finding("overly-permissive", rule.label, text) for text in found]
    if inbound_host is not None:
        role_of = {h.name: h.roles for h in plan.topology.hosts}
        targets = [(inbound_host, role_of.get(inbound_host, ()))]
    else:
        targets = hosts.covered(destinations)
    if m.protocols is None and m.ports is None and targets and not from_anywhere:
        shown = _listed([name for name, _ in targets])
        return [
            Finding(
                "overly-permissive",
                rule.label,
                f"accepts every protocol and port from {format_addresses(sources, 2)} to "
                f"{shown}; the plan needs only its flows there",
            )
        ]
    protocols = _protocols(m)
    if from_anywhere:
        where = "any address" if to_anywhere else ", ".join(n for n, _ in targets[:4]) or ""
        if (
            "tcp" in protocols
            and DYNAMIC_RPC.issubset(ports)
            and (to_anywhere or any(Role.DC in roles for _, roles in targets))
        ):
            found.append(
                f"accepts the whole dynamic RPC range 49152-65535 from any address to {where}; "
                "the plan needs it only from the hosts that use it"
            )
        management = [
            f"{p} {MANAGEMENT[p] & ports}"
            for p in protocols
            if p in MANAGEMENT and MANAGEMENT[p] & ports
        ]
        if management and (to_anywhere or targets):
            found.append(
                f"opens management port(s) {', '.join(management)} from any address to {where}"
            )
        agents = [
            (name, roles) for name, roles in targets if any(r in NO_INBOUND_INTERNET for r in roles)
        ]
        needed_only = all(
            ports.issubset(planned.get((name, p), Intervals()))
            for name, _ in agents
            for p in protocols
        )
        if agents:
            shown = _listed([f"{n} ({', '.join(r.value for r in roles)})" for n, roles in agents])
            text = (
                f"accepts connections from any address, the internet included, to {shown}; "
                "only WAP takes inbound internet traffic"
            )
            if needed_only or not protocols:  # planned ports, too wide a source: scope it
                scoped.append(f"{text}; the ports are planned: scope it to the planned sources")
            else:
                found.append(text)
    if not to_anywhere:
        extra_by_host = [
            f"{name} {protocol} {_short(extra)}"
            for name, _ in targets
            for protocol in protocols
            if (extra := ports - planned.get((name, protocol), Intervals()))
        ]
        if extra_by_host:
            found.append(
                f"accepts from {format_addresses(sources, 2)} ports the plan does not need: "
                f"{_listed(extra_by_host)}"
            )
    return [Finding("overly-permissive", rule.label, text) for text in found] + [
        Finding("overly-permissive", rule.label, text, "info") for text in scoped
    ]


def _listed(items: list[str], limit: int = 3) -> str:
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _addresses(match: AddressMatch | None) -> Intervals:
    """What one side of a rule covers (any address without a match; the Internet tag as the
    public IPv4 space)."""
    if match is None:
        return ALL_ADDRESSES
    if "internet" in match.tags:
        return match.addresses | PUBLIC_V4
    return match.addresses


def _short(values: Intervals, limit: int = 4) -> str:
    spans = values.spans
    text = ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in spans[:limit])
    return text + (",…" if len(spans) > limit else "")


# --- legacy ports ---------------------------------------------------------------------------


def _legacy(rule: Rule, planned: dict[tuple[str, str], Intervals]) -> list[Finding]:
    m = rule.match
    if m.ports is None:
        return []
    out = []
    protocols = _protocols(m)
    for protocol, ports, why in LEGACY_PORTS:
        if protocol not in protocols:
            continue
        hit = m.ports & ports
        if not hit or m.ports.size() > 20000:
            continue  # a huge range is the permissive check's business
        if ports.size() > 1 and hit.size() * 2 < ports.size():
            continue  # one port inside 1025-5000 (3389, say) is not the old RPC range
        needed = Intervals.of(s for (_, p), v in planned.items() if p == protocol for s in v.spans)
        if hit.issubset(needed):
            continue  # the topology plans it (e.g. a DC pinned to 1025-5000)
        out.append(Finding("legacy-port", rule.label, f"allows {protocol} {hit}: {why}", "info"))
    return out


# --- shadowed -----------------------------------------------------------------------------


def _shadowed(chain: Chain) -> list[Finding]:
    index = ChainIndex(chain)
    out: list[Finding] = []
    for position, rule in enumerate(chain.rules):
        m = rule.match
        if rule.action is Action.CONTINUE or m.unknown is not None:
            continue
        if m.new_connection is False:
            continue  # established vs invalid: the model does not tell states apart
        if m.source and (m.source.unresolved or m.source.tags):
            continue
        if m.destination and (m.destination.unresolved or m.destination.tags):
            continue
        region = (_addresses(m.source), _addresses(m.destination), m.ports or ALL_PORTS)
        found = index.earlier_overlapping(position, *region)
        if found is None:
            continue  # too many broad rules before it to check cheaply
        earlier = [
            chain.rules[i]
            for i in found
            if chain.rules[i].action in (Action.ACCEPT, Action.DROP, Action.GOTO)
        ]
        if not earlier:
            continue
        boxes = [Box(*region)]
        covering: list[Rule] = []
        for e in earlier:
            if not _covers_conditions(e.match, m):
                continue
            em = e.match
            cover = (_addresses(em.source), _addresses(em.destination), em.ports or ALL_PORTS)
            inside, boxes = split_boxes(boxes, cover)
            if inside:
                covering.append(e)
            if not boxes or len(boxes) > SHADOW_BOXES:
                break
        if not boxes and covering:
            same = all(e.action is rule.action for e in covering)
            labels = [e.label for e in covering]
            shown = "; ".join(labels[:3]) + (" …" if len(labels) > 3 else "")
            if same:
                out.append(
                    Finding(
                        "redundant",
                        rule.label,
                        f"never matches; earlier rules with the same action already take "
                        f"everything it matches: {shown}",
                        "info",
                    )
                )
            else:
                verb = "its accept never happens" if rule.action is Action.ACCEPT else "its drop"
                out.append(
                    Finding(
                        "shadowed",
                        rule.label,
                        f"can never match ({verb}): earlier rules decide everything it matches "
                        f"first: {shown}",
                    )
                )
    return out


def _covers_conditions(e: Match, r: Match) -> bool:
    """Whether e's conditions other than addresses and ports are no stricter than r's."""
    if e.unknown or e.source_ports is not None or e.rpc_dynamic:
        return False
    if e.source and (e.source.unresolved or e.source.tags):
        return False
    if e.destination and (e.destination.unresolved or e.destination.tags):
        return False
    if e.families is not None and (r.families is None or not r.families <= e.families):
        return False
    if e.protocols is not None:
        if r.protocols is None or e.negate_protocols or r.negate_protocols:
            return False
        if not r.protocols <= e.protocols:
            return False
    if e.ports is not None and (r.protocols is None or not r.protocols <= {"tcp", "udp"}):
        return False
    if e.new_connection is not None and e.new_connection != r.new_connection:
        return False
    if e.program is not None and e.program != r.program:
        return False
    if e.service is not None and e.service != r.service:
        return False
    if e.icmp_types is not None and (r.icmp_types is None or not r.icmp_types <= e.icmp_types):
        return False
    if e.in_interface is not None and e.in_interface != r.in_interface:
        return False
    return not (e.out_interface is not None and e.out_interface != r.out_interface)
