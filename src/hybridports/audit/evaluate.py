"""Decide, for one packet class, what a normalised policy does with it.

A query is a flow's first packet: one source and one destination (an address, a client
network, or a name whose addresses are unknown), one protocol and a destination port set.
The evaluator walks the chains with *boxes*, products of three interval sets (source
addresses, destination addresses, destination ports), so a rule that matches part of a
range splits the box instead of being tested port by port. What falls out is, for every
port, accepted, dropped, or unknown (a rule that might match could not be decided), with
the rule that decided.

Rules are found through a per-chain index (by destination, source or port when the rule is
narrow there; a short list of broad rules otherwise), so one query visits the rules that
can touch it, not the whole chain: cost grows with rules + flows, not their product.
"""

from __future__ import annotations

import bisect
import fnmatch
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from hybridports.audit.interface import (
    Action,
    AddressMatch,
    Chain,
    InterfaceMatch,
    Match,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import (
    ALL_ADDRESSES,
    ALL_PORTS,
    EMPTY,
    Intervals,
)

# ICMP carries no ports: its queries use this one pseudo-port, which no port match covers.
PORTLESS = Intervals.span(0, 0)
EPHEMERAL = Intervals.span(1024, 65535)  # a client's source port: some port in here
MAX_DEPTH = 32  # jump nesting; nft and iptables refuse loops, a parser bug must not hang us
# Which end of a flow is the local host at a position (whose process a program rule names).
_LOCAL_END = {"input": "destination", "output": "source"}
# The interfaces a packet has at each hook: no output interface before routing (prerouting,
# input); a packet the host itself sends has no input interface (output, and postrouting
# after output). A forwarded packet keeps its input interface at postrouting.
_HAS_INTERFACES = {
    "prerouting": (True, False),
    "input": (True, False),
    "forward": (True, True),
    "output": (False, True),
    "postrouting": (True, True),
}


@dataclass(frozen=True, slots=True)
class _At:
    """Where a chain runs: the local end (whose process a program rule names), and which
    interfaces the packet has there."""

    local: Side | None = None
    has_in: bool = True
    has_out: bool = True


INDEX_SPAN = 1 << 16  # rules narrower than this on a dimension are indexed there
SHADOW_LIMIT = 400  # earlier rules examined per rule by the shadow check


@dataclass(frozen=True, slots=True)
class Side:
    """One end of a query."""

    addresses: Intervals
    # False: ``addresses`` stands in for addresses we do not know (a cloud name is "some
    # public address"). A rule that covers part of them cannot be decided.
    exact: bool = True
    name: str = ""
    tags: frozenset[str] = frozenset()  # service tags a name belongs to (lower case)
    interface: str | None = None  # the audited firewall's interface towards it, if known
    # The local process at this end (program, service), when known: Windows rules that name
    # a program are decided with it; None makes such rules undecidable.
    process: tuple[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class Query:
    source: Side
    destination: Side
    protocol: str  # tcp, udp, icmp, icmpv6
    ports: Intervals  # destination ports; PORTLESS for ICMP
    family: int
    rpc_dynamic: bool = False  # the flow is the DC's dynamic RPC range (Windows RPC keyword)
    source_ports: Intervals = EPHEMERAL


@dataclass(frozen=True, slots=True)
class Box:
    source: Intervals
    destination: Intervals
    ports: Intervals
    accepted_by: tuple[str, ...] = ()  # labels of the accepts met so far (earlier chains)
    # Undecidable accept/drop rules this box may have matched: (action, label, why). The box
    # goes on as if it had not; its verdict stands only if it ends the same way.
    pending: tuple[tuple[Action, str, str], ...] = ()


@dataclass
class Outcome:
    """Per-port result of a query: accepted boxes, dropped and unknown ones, with labels."""

    accepted: list[tuple[Box, str]] = field(default_factory=list)
    dropped: list[tuple[Box, str]] = field(default_factory=list)
    unknown: list[tuple[Box, str]] = field(default_factory=list)
    undecidable: dict[str, str] = field(default_factory=dict)  # rule label → why

    def ports(self, query: Query) -> tuple[Intervals, Intervals, Intervals]:
        """(allowed, blocked, unknown) ports: a port is allowed only when every part of the
        source and destination ranges is accepted on it."""
        blocked = Intervals.of(span for box, _ in self.dropped for span in box.ports.spans)
        unknown = Intervals.of(span for box, _ in self.unknown for span in box.ports.spans)
        unknown = unknown - blocked
        return query.ports - blocked - unknown, blocked, unknown


class Evaluator:
    """Evaluates queries against one ruleset; keeps per-chain indexes between queries."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self._indexes: dict[str, ChainIndex] = {}

    def evaluate(self, query: Query, positions: Iterable[str]) -> Outcome:
        """The packet through the given positions in order: the forward path, a host's input
        or output, or (host-based policies) output at the source then input at the
        destination."""
        outcome = Outcome()
        boxes = [Box(query.source.addresses, query.destination.addresses, query.ports)]
        sent_here = False  # between output and the next host's arrival: no input interface
        for position in positions:
            if position == "output":
                sent_here = True
            elif position in ("prerouting", "input"):
                sent_here = False  # arrived at a host (the other end of a host policy)
            for key in self.ruleset.hooks.get(position, ()):
                chain = self.ruleset.chains[key]
                if chain.families is not None and query.family not in chain.families:
                    continue
                end = _LOCAL_END.get(position)
                has_in, has_out = _HAS_INTERFACES.get(position, (True, True))
                has_in = has_in and not sent_here
                at = _At(None if end is None else getattr(query, end), has_in, has_out)
                boxes = self._base_chain(chain, boxes, query, outcome, at)
                if not boxes:
                    return outcome
        for box in boxes:
            outcome.accepted.append((box, _accept_label(box.accepted_by)))
        return outcome

    def _base_chain(
        self, chain: Chain, boxes: list[Box], query: Query, outcome: Outcome, at: _At
    ) -> list[Box]:
        accepted: list[Box] = []
        returned = self._chain(chain, boxes, query, outcome, accepted, 0, at)
        policy = Action.DROP if chain.policy is Action.DROP else Action.ACCEPT
        accepted += _settle(returned, policy, chain.policy_label, outcome)
        return accepted

    def _chain(
        self,
        chain: Chain,
        boxes: list[Box],
        query: Query,
        outcome: Outcome,
        accepted: list[Box],
        depth: int,
        at: _At,
    ) -> list[Box]:
        """Run boxes through a chain; return what falls off its end or RETURNs."""
        if depth > MAX_DEPTH:
            label = f"{chain.key} (jumps nested deeper than {MAX_DEPTH})"
            outcome.unknown.extend((box, label) for box in boxes)
            return []
        returned: list[Box] = []
        remaining = boxes
        for rule in self._index(chain).candidates(query):
            if not remaining:
                break
            relation = _relation(rule, query, at)
            if relation is None:
                continue
            if isinstance(relation, str):
                if rule.action is Action.CONTINUE:
                    continue
                could, remaining = split_boxes(remaining, _could_match(rule, query))
                if rule.action in (Action.ACCEPT, Action.DROP):
                    mark = (rule.action, rule.label, relation)
                    remaining += [replace(box, pending=(*box.pending, mark)) for box in could]
                elif could:
                    outcome.undecidable.setdefault(rule.label, relation)
                    outcome.unknown.extend((box, rule.label) for box in could)
                continue
            if rule.action is Action.CONTINUE:
                continue
            matched, remaining = split_boxes(remaining, relation)
            if not matched:
                continue
            if rule.action is Action.ACCEPT:
                accepted.extend(_settle(matched, Action.ACCEPT, rule.label, outcome))
            elif rule.action is Action.DROP:
                _settle(matched, Action.DROP, rule.label, outcome)
            elif rule.action is Action.RETURN:
                returned.extend(matched)
            elif rule.action in (Action.JUMP, Action.GOTO):
                target = self.ruleset.chains.get(rule.target or "")
                if target is None:
                    outcome.unknown.extend(
                        (b, f"{rule.label} (no chain {rule.target})") for b in matched
                    )
                    continue
                back = self._chain(target, matched, query, outcome, accepted, depth + 1, at)
                if rule.action is Action.JUMP:
                    remaining = remaining + back
                else:
                    returned.extend(back)
        return returned + remaining

    def _index(self, chain: Chain) -> ChainIndex:
        index = self._indexes.get(chain.key)
        if index is None:
            index = self._indexes[chain.key] = ChainIndex(chain)
        return index


def _settle(boxes: list[Box], action: Action, label: str, outcome: Outcome) -> list[Box]:
    """Boxes meet an accept or a drop. One that may have matched an undecidable rule with
    the other action is unknown; the rest is decided. Returns the accepted boxes."""
    accepted: list[Box] = []
    for box in boxes:
        other = next((p for p in box.pending if p[0] is not action), None)
        if other is not None:
            outcome.undecidable.setdefault(other[1], other[2])
            outcome.unknown.append((box, other[1]))
        elif action is Action.DROP:
            outcome.dropped.append((box, label))
        else:
            accepted.append(replace(box, accepted_by=(*box.accepted_by, label), pending=()))
    return accepted


def _accept_label(labels: tuple[str, ...]) -> str:
    """The accept that says most: the last explicit rule, else the last policy."""
    explicit = [label for label in labels if " policy " not in f" {label} "]
    return (explicit or list(labels) or [""])[-1]


# --- matching -------------------------------------------------------------------------------

Region = tuple[Intervals, Intervals, Intervals]  # source, destination, ports a rule matches


def _relation(rule: Rule, query: Query, at: _At) -> Region | str | None:
    """What part of the query the rule matches: a region, None (no part), or a reason why
    it cannot be decided. Understood conditions are checked first: a rule whose known
    conditions already exclude the query does not match, whatever else it holds."""
    m = rule.match
    if m.families is not None and query.family not in m.families:
        return None
    if m.new_connection is False:
        return None
    if m.protocols is not None and (query.protocol in m.protocols) == m.negate_protocols:
        return None
    if m.icmp_types is not None and (
        query.protocol not in ("icmp", "icmpv6")
        or (8 if query.protocol == "icmp" else 128) not in m.icmp_types
    ):
        return None
    ports = _port_part(m, query)
    if ports is not None and not ports:
        return None
    undecided: list[str] = []
    if m.source_ports is not None:
        if query.protocol not in ("tcp", "udp"):
            return None
        if not (query.source_ports & m.source_ports):
            return None
        if not query.source_ports.issubset(m.source_ports):
            undecided.append(
                f"matches source ports {m.source_ports}; a client's source port varies"
            )
    in_name = query.source.interface if at.has_in else ""
    out_name = query.destination.interface if at.has_out else ""
    why = _interface(m.in_interface, in_name, "input interface")
    if why is False:
        return None
    why_out = _interface(m.out_interface, out_name, "output interface")
    if why_out is False:
        return None
    undecided += [w for w in (why, why_out) if isinstance(w, str)]
    process = _process(m, at.local)
    if process is False:
        return None
    if isinstance(process, str):
        undecided.append(process)
    source = _address_part(m.source, query.source)
    if source is None:
        return None
    destination = _address_part(m.destination, query.destination)
    if destination is None:
        return None
    undecided += [part for part in (source, destination) if isinstance(part, str)]
    if m.unknown is not None:
        undecided.insert(
            0, f"the policy holds a construct hybridports cannot evaluate: {m.unknown}"
        )
    if undecided:
        return "; ".join(undecided)
    assert isinstance(source, Intervals) and isinstance(destination, Intervals)
    return source, destination, ports if ports is not None else query.ports


def _process(m: Match, local: Side | None) -> bool | str:
    if m.program is None and m.service is None:
        return True
    if local is None or local.process is None:
        named = " ".join(
            f"{k} {v}" for k, v in (("program", m.program), ("service", m.service)) if v
        )
        return f"applies to {named} only; which process sends or serves this flow is not known"
    program, service = local.process
    if m.program is not None and m.program != program:
        return False
    return not (m.service is not None and m.service != service)


def _port_part(m: Match, query: Query) -> Intervals | None:
    if m.rpc_dynamic:
        return query.ports if query.rpc_dynamic and query.protocol == "tcp" else EMPTY
    if m.ports is None:
        return None
    if query.protocol not in ("tcp", "udp"):
        return EMPTY  # a port match implies a protocol that carries ports
    return query.ports & m.ports


def _interface(match: InterfaceMatch | None, actual: str | None, what: str) -> bool | str:
    """True: matches; False: does not; text: cannot tell (no interface map). ``actual`` is
    "" where the packet has no such interface at this hook."""
    if match is None:
        return True
    if actual is None:
        if match.names == frozenset({"lo"}):
            return match.negate  # traffic between hosts never uses the loopback
        names = ", ".join(sorted(match.names))
        return f"matches {what} {'not ' if match.negate else ''}{names}; give --interface"
    hit = bool(actual) and any(fnmatch.fnmatchcase(actual, name) for name in match.names)
    return hit != match.negate


def _address_part(match: AddressMatch | None, side: Side) -> Intervals | str | None:
    if match is None:
        return side.addresses
    if match.unresolved is not None:
        return f"refers to {match.unresolved}, which the policy file does not resolve"
    if side.tags and match.tags & side.tags:
        return side.addresses
    if side.exact:
        part = side.addresses & match.addresses
        return part if part else None
    if side.addresses.issubset(match.addresses):
        return side.addresses
    if not (side.addresses & match.addresses):
        return None
    return (
        f"matches {len(match.addresses.spans)} address range(s) that may or may not hold "
        f"{side.name or 'this side'} (its addresses are not known)"
    )


def _could_match(rule: Rule, query: Query) -> Region:
    """For an undecidable rule: the widest part of the query it might match."""
    m = rule.match
    ports = _port_part(m, query)
    source = query.source.addresses
    destination = query.destination.addresses
    # Understood addresses narrow what an undecidable rule might take.
    if m.source is not None and m.source.unresolved is None and query.source.exact:
        source = source & (m.source.addresses or ALL_ADDRESSES)
    target = m.destination
    if target is not None and target.unresolved is None and query.destination.exact:
        destination = destination & (target.addresses or ALL_ADDRESSES)
    return (source, destination, ports if ports is not None else query.ports)


def split_boxes(boxes: list[Box], region: Region) -> tuple[list[Box], list[Box]]:
    """Split every box into its part inside ``region`` and the parts outside."""
    inside: list[Box] = []
    outside: list[Box] = []
    rs, rd, rp = region
    for box in boxes:
        s, d, p = box.source & rs, box.destination & rd, box.ports & rp
        if not (s and d and p):
            outside.append(box)
            continue
        inside.append(replace(box, source=s, destination=d, ports=p))
        # box minus region as disjoint boxes: outside on source; else outside on destination;
        # else outside on ports.
        if rest := box.source - rs:
            outside.append(replace(box, source=rest))
        if rest := box.destination - rd:
            outside.append(replace(box, source=s, destination=rest))
        if rest := box.ports - rp:
            outside.append(replace(box, source=s, destination=d, ports=rest))
    return inside, outside


# --- index ----------------------------------------------------------------------------------


class _SpanIndex:
    """Rules by the intervals they are narrow on; finds those overlapping a query set."""

    def __init__(self) -> None:
        self._entries: list[tuple[int, int, int]] = []
        self._lows: list[int] = []
        self._widest = 0

    def add(self, spans: Intervals, position: int) -> None:
        for lo, hi in spans.spans:
            self._entries.append((lo, hi, position))
            self._widest = max(self._widest, hi - lo)

    def freeze(self) -> None:
        self._entries.sort()
        self._lows = [lo for lo, _, _ in self._entries]

    def all(self) -> Iterator[int]:
        return (position for _, _, position in self._entries)

    def overlapping(self, values: Intervals) -> Iterator[int]:
        for lo, hi in values.spans:
            start = bisect.bisect_left(self._lows, lo - self._widest)
            end = bisect.bisect_right(self._lows, hi)
            for elo, ehi, position in self._entries[start:end]:
                if ehi >= lo and elo <= hi:
                    yield position


class _PairIndex:
    """Rules narrow on both destination and source: by destination span, then by source
    within it, so a flow finds the rules for its own pair without walking every rule that
    shares its destination (thousands of sources may reach one DC)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[int, int], int] = {}
        self._destinations = _SpanIndex()
        self._sources: list[_SpanIndex] = []

    def add(self, destination: Intervals, source: Intervals, position: int) -> None:
        for span in destination.spans:
            key = self._keys.get(span)
            if key is None:
                key = self._keys[span] = len(self._sources)
                self._sources.append(_SpanIndex())
                self._destinations.add(Intervals((span,)), key)
            self._sources[key].add(source, position)

    def freeze(self) -> None:
        self._destinations.freeze()
        for index in self._sources:
            index.freeze()

    def overlapping(self, destination: Intervals, source: Intervals | None) -> Iterator[int]:
        for key in self._destinations.overlapping(destination):
            index = self._sources[key]
            yield from (index.all() if source is None else index.overlapping(source))


def _narrow(values: Intervals | None) -> bool:
    return (
        values is not None
        and 0 < len(values.spans) <= 8
        and all(hi - lo < INDEX_SPAN for lo, hi in values.spans)
    )


class ChainIndex:
    def __init__(self, chain: Chain) -> None:
        self.rules = chain.rules
        self.by_pair = _PairIndex()
        self.by_destination = _SpanIndex()
        self.by_source = _SpanIndex()
        self.by_port = _SpanIndex()
        self.broad: list[int] = []
        for position, rule in enumerate(chain.rules):
            if rule.action is Action.CONTINUE and rule.match.unknown is None:
                continue  # never changes a verdict
            m = rule.match
            if m.unknown is None and _plain(m.destination) and _plain(m.source):
                assert m.destination is not None and m.source is not None
                self.by_pair.add(m.destination.addresses, m.source.addresses, position)
            elif m.unknown is None and _plain(m.destination):
                assert m.destination is not None
                self.by_destination.add(m.destination.addresses, position)
            elif m.unknown is None and _plain(m.source):
                assert m.source is not None
                self.by_source.add(m.source.addresses, position)
            elif m.unknown is None and not m.rpc_dynamic and _narrow(m.ports) and m.ports:
                self.by_port.add(m.ports, position)
            else:
                self.broad.append(position)
        for index in (self.by_pair, self.by_destination, self.by_source, self.by_port):
            index.freeze()

    def earlier_overlapping(
        self, position: int, source: Intervals, destination: Intervals, ports: Intervals
    ) -> list[int] | None:
        """Rules before ``position`` that could cover part of a region (for the shadow
        check). Narrow rules only count where the region itself is narrow: many narrow
        rules seldom add up to a broad one. None when there are too many to check."""
        broad = self.broad[: bisect.bisect_left(self.broad, position)]
        if len(broad) > SHADOW_LIMIT:
            return None
        found = set(broad)
        if _narrow(destination):
            found.update(self.by_destination.overlapping(destination))
            found.update(self.by_pair.overlapping(destination, source if _narrow(source) else None))
        if _narrow(source):
            found.update(self.by_source.overlapping(source))
        if _narrow(ports):
            found.update(self.by_port.overlapping(ports))
        earlier = sorted(i for i in found if i < position)
        return earlier if len(earlier) <= SHADOW_LIMIT else None

    def candidates(self, query: Query) -> list[Rule]:
        found = set(self.broad)
        found.update(self.by_pair.overlapping(query.destination.addresses, query.source.addresses))
        found.update(self.by_destination.overlapping(query.destination.addresses))
        found.update(self.by_source.overlapping(query.source.addresses))
        if query.protocol in ("tcp", "udp"):
            found.update(self.by_port.overlapping(query.ports))
        return [self.rules[i] for i in sorted(found)]


def _plain(match: AddressMatch | None) -> bool:
    return (
        match is not None
        and match.unresolved is None
        and not match.tags
        and _narrow(match.addresses)
    )


__all__ = [
    "ALL_PORTS",
    "PORTLESS",
    "Box",
    "Evaluator",
    "Outcome",
    "Query",
    "Region",
    "Side",
    "split_boxes",
]
