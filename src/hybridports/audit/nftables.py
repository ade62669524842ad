"""``nft -j list ruleset`` (the libnftables JSON schema) as a normalised Ruleset.

Tables of family ip, ip6, inet and netdev are audited; bridge and arp tables filter frames
and ARP, not routed IP traffic, and are ignored with a finding. Base chains are hooked at
their position, ordered by priority and then by file order; a netdev (or inet) ``ingress``
chain counts as the start of prerouting, an ``egress`` chain as the end of postrouting, and
only packets of the chain's device see it.

Choices where the kernel does something the model cannot say:

* NAT statements (dnat, snat, masquerade, redirect) end their chain with accept, as the
  kernel does; a ``nat`` finding says the evaluator does not rewrite addresses.
* ``icmp type``/``icmpv6 type`` become ``Match.icmp_types`` (numbers, negation applied) with
  the protocol they imply: a planned ICMP flow (a ping) matches when echo-request is in them.
* ``ip6 nexthdr`` is read as the transport protocol (it is, unless extension headers come
  first); ``th dport`` as a port of whatever transport the packet carries.
* ``ct state`` sets ``Match.new_connection``: whether the first packet of a new connection
  (state ``new``) matches, following nft's operators (``in`` tests bits, ``==`` compares).
* A verdict map, or a concatenation matched against a set, becomes one rule per element
  (label "… vmap element 22", "… set element 10.0.0.1 . 22"): a packet matches at most one
  element, so first-match order is unchanged.
* A set with the timeout or dynamic flag is read with the elements it held when listed
  (an info finding says so).
* A construct not understood keeps its rule with ``Match.unknown``; when that construct may
  itself decide the packet's fate (queue, fwd, an iptables-nft target, anything unheard of)
  and the rule has no verdict of its own, the rule becomes a DROP, so the evaluator reports
  it as unknown instead of skipping it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, TypeGuard

from hybridports.audit.interface import (
    Action,
    AddressMatch,
    Chain,
    Finding,
    InterfaceMatch,
    Match,
    ParseOptions,
    PolicyError,
    PolicyParser,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import (
    ALL_PORTS,
    ALL_V4,
    ALL_V6,
    EMPTY,
    PORT_MAX,
    Intervals,
    address_range,
    network_interval,
)
from hybridports.audit.jsontext import line_of, load_json

WHAT = "`nft -j list ruleset` output"
# Table family → the IP families its chains see (None: both).
FAMILIES: dict[str, frozenset[int] | None] = {
    "ip": frozenset({4}),
    "ip6": frozenset({6}),
    "inet": None,
    "netdev": None,
}
IGNORED_FAMILIES = ("bridge", "arp")
POSITIONS = ("prerouting", "input", "forward", "output", "postrouting")
# Hook → (position, stage): ingress runs before every prerouting chain, egress after
# every postrouting chain, whatever their priorities.
HOOKS = {
    "ingress": ("prerouting", 0),
    "prerouting": ("prerouting", 1),
    "input": ("input", 1),
    "forward": ("forward", 1),
    "output": ("output", 1),
    "postrouting": ("postrouting", 1),
    "egress": ("postrouting", 2),
}
# Named priorities of the ip, ip6, inet and netdev families (nft(8), CHAINS).
PRIORITIES = {
    "raw": -300,
    "mangle": -150,
    "dstnat": -100,
    "filter": 0,
    "security": 50,
    "srcnat": 100,
}
VERDICTS = {
    "accept": Action.ACCEPT,
    "drop": Action.DROP,
    "continue": Action.CONTINUE,
    "return": Action.RETURN,
    "jump": Action.JUMP,
    "goto": Action.GOTO,
}
# Statements that neither match nor decide: the packet goes on to the next statement.
NO_EFFECT = frozenset(
    {"counter", "log", "mangle", "ct helper", "ct timeout", "ct expectation", "secmark"}
    | {"flow", "dup", "last"}
)
NAT = frozenset({"snat", "dnat", "masquerade", "redirect"})
# Statements that act as a match this audit cannot evaluate (why, for the finding).
UNKNOWN_MATCHES = {
    "limit": "rate limits cannot be evaluated",
    "quota": "byte quotas cannot be evaluated",
    "ct count": "connection counts cannot be evaluated",
    "meter": "per-key rate limits cannot be evaluated",
    "notrack": "later `ct state` matches see untracked, which this audit does not follow",
}
# iptables-nft extensions ("xt"): what the common ones do.
XT_NO_EFFECT = frozenset(
    {"comment", "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TCPMSS", "DSCP", "TOS"}
    | {"CLASSIFY", "CHECKSUM", "TRACE"}
)
XT_NAT = frozenset({"MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP"})
CT_STATES = {"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
CT_NEW = CT_STATES["new"]
# Protocol numbers of the names nft prints (its built-in copy of /etc/protocols).
PROTOCOL_NUMBERS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8,
    "igp": 9, "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29,
    "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43,
    "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "skip": 57,
    "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73, "vmtp": 81,
    "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94, "etherip": 97, "encap": 98, "pim": 103,
    "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133,
    "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137, "manet": 138, "hip": 139,
    "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
}  # fmt: skip
PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}  # the model's names
PORT_PROTOCOLS = {"tcp": "tcp", "udp": "udp", "udplite": "136", "sctp": "132", "dccp": "33"}
# ICMP and ICMPv6 type names as nft prints them.
ICMP_TYPES = {
    "icmp": {
        "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5,
        "echo-request": 8, "router-advertisement": 9, "router-solicitation": 10,
        "time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13,
        "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
        "address-mask-request": 17, "address-mask-reply": 18,
    },
    "icmpv6": {
        "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3,
        "parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
        "mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132,
        "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
        "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137,
        "router-renumbering": 138, "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142,
        "mld2-listener-report": 143,
    },
}  # fmt: skip
ALL_ICMP_TYPES = frozenset(range(256))
NFPROTO = {"ipv4": 4, "ipv6": 6, 2: 4, 10: 6}
ETHERTYPES = {"ip": 4, "ip6": 6, 0x0800: 4, 0x86DD: 6}
REJECT_FAMILY = {"icmp": frozenset({4}), "icmpv6": frozenset({6})}  # icmpx, tcp reset: both
MAX_VARIANTS = 10_000  # rules one nft rule may split into (vmap, concatenated sets)
RELATIONS = {"<": (1, -1), "<=": (1, 0), ">": (-1, 1), ">=": (-1, 0)}


class _Unknown(Exception):
    """A construct this parser cannot evaluate; the message is its text."""


@dataclass(frozen=True)
class _Set:
    name: str
    elements: tuple[object, ...]
    flags: frozenset[str]


@dataclass
class _Table:
    family: str
    name: str
    families: frozenset[int] | None
    sets: dict[str, _Set] = field(default_factory=dict)


@dataclass
class _ChainDecl:
    family: str
    table: str
    name: str
    hook: str | None = None
    priority: int = 0
    policy: Action | None = None
    devices: tuple[str, ...] | None = None  # ingress/egress device(s), None: not listed
    rules: list[tuple[dict[str, object], int | None]] = field(default_factory=list)  # (rule, line)

    @property
    def key(self) -> str:
        return f"{self.family} {self.table} {self.name}"

    @property
    def label(self) -> str:
        return f"table {self.family} {self.table} chain {self.name}"


@dataclass(frozen=True)
class _Field:
    """What a match's left-hand side reads."""

    kind: str  # saddr daddr proto dport sport iif oif ctstate nfproto ethertype icmptype
    text: str
    family: int | None = None  # only packets of this IP family carry the field
    protocol: str | None = None  # implied transport protocol (tcp dport → tcp)


@dataclass(frozen=True)
class _Draft:
    """One rule (or one element of a split rule) while its statements are read."""

    source: AddressMatch | None = None
    destination: AddressMatch | None = None
    protocols: frozenset[str] | None = None
    negate_protocols: bool = False
    ports: Intervals | None = None
    source_ports: Intervals | None = None
    in_interface: InterfaceMatch | None = None
    out_interface: InterfaceMatch | None = None
    new_connection: bool | None = None
    families: frozenset[int] | None = None
    icmp_types: frozenset[int] | None = None
    unknown: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    action: Action | None = None
    target: str | None = None
    reject: bool = False
    maybe_decides: bool = False  # an unknown statement that may end evaluation

    def match(self) -> Match:
        return Match(
            source=self.source,
            destination=self.destination,
            protocols=self.protocols,
            negate_protocols=self.negate_protocols,
            ports=self.ports,
            source_ports=self.source_ports,
            in_interface=self.in_interface,
            out_interface=self.out_interface,
            new_connection=self.new_connection,
            families=self.families,
            icmp_types=self.icmp_types,
            unknown="; ".join(self.unknown) or None,
        )


class NftablesJsonParser(PolicyParser):
    name: ClassVar[str] = "nftables-json"
    description: ClassVar[str] = "nft -j list ruleset"

    def parse(self, text: str, file: str, options: ParseOptions) -> Ruleset:
        try:
            return _Reader(text, file).ruleset()
        except RecursionError:
            raise PolicyError(f"JSON nested too deeply for {WHAT}", file=file) from None


class _Reader:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.multiline = "\n" in text.strip()
        self.entries = _entries(text, file)
        self.tables: dict[tuple[str, str], _Table] = {}
        self.ignored: set[tuple[str, str]] = set()
        self.chains: dict[str, _ChainDecl] = {}
        self.findings: list[Finding] = []
        self.dynamic_noted: set[tuple[str, str, str]] = set()
        self.rule_count = 0

    def fail(self, message: str, line: int | None) -> PolicyError:
        return PolicyError(message, file=self.file, line=line)

    # --- declarations ---------------------------------------------------------------------

    def ruleset(self) -> Ruleset:
        for kind, body, line in self.entries:
            if kind == "table":
                self._table(body, line)
        if not self.tables and not self.ignored:
            raise self.fail("empty ruleset: no tables (nothing to audit)", None)
        for kind, body, line in self.entries:
            if kind in ("set", "map"):
                self._set(body, line)
            elif kind == "chain":
                self._chain(body, line)
        for kind, body, line in self.entries:
            if kind == "rule":
                self._collect_rule(body, line)
        chains = {decl.key: self._build_chain(decl) for decl in self.chains.values()}
        return Ruleset(
            format=NftablesJsonParser.name,
            file=self.file,
            chains=chains,
            hooks=self._hooks(),
            findings=self.findings,
            summary=self._summary(chains),
        )

    def _text(self, body: dict[str, object], key: str, what: str, line: int | None) -> str:
        value = body.get(key)
        if not isinstance(value, str):
            raise self.fail(f"{what} has no {key!r} string: {_compact(body)}", line)
        return value

    def _table_of(self, body: dict[str, object], what: str, line: int | None) -> _Table | None:
        """The table an object belongs to; None when that table is ignored."""
        family = self._text(body, "family", what, line)
        name = self._text(body, "table", what, line)
        if (family, name) in self.ignored:
            return None
        table = self.tables.get((family, name))
        if table is None:
            raise self.fail(f"{what} in table {family} {name}, which the file does not list", line)
        return table

    def _table(self, body: dict[str, object], line: int | None) -> None:
        family = self._text(body, "family", "table", line)
        name = self._text(body, "name", "table", line)
        key = (family, name)
        if key in self.tables or key in self.ignored:
            raise self.fail(f"table {family} {name} is listed twice", line)
        if family in IGNORED_FAMILIES:
            self.ignored.add(key)
            what = {"bridge": "a bridge table filters bridged frames"}.get(
                family, "an arp table filters ARP packets"
            )
            self.findings.append(
                Finding(
                    "ignored-table",
                    f"table {family} {name}",
                    f"{what}, not routed IP traffic: not audited",
                    "info",
                )
            )
        elif family not in FAMILIES:
            self.ignored.add(key)
            self.findings.append(
                Finding(
                    "ignored-table",
                    f"table {family} {name}",
                    f"unknown table family {family!r}: its chains are not audited",
                )
            )
        else:
            self.tables[key] = _Table(family, name, FAMILIES[family])

    def _set(self, body: dict[str, object], line: int | None) -> None:
        table = self._table_of(body, "set", line)
        if table is None:
            return
        name = self._text(body, "name", "set", line)
        elements = body.get("elem", [])
        if not isinstance(elements, list):
            raise self.fail(f"set {name}: 'elem' is not a list: {_compact(elements)}", line)
        flags = body.get("flags", [])
        flag_names = (
            frozenset(f for f in flags if isinstance(f, str))
            if isinstance(flags, list)
            else frozenset()
        )
        if isinstance(flags, str):  # a single flag may be printed as a string
            flag_names = frozenset({flags})
        table.sets[name] = _Set(name, tuple(elements), flag_names)

    def _chain(self, body: dict[str, object], line: int | None) -> None:
        table = self._table_of(body, "chain", line)
        if table is None:
            return
        name = self._text(body, "name", "chain", line)
        decl = _ChainDecl(table.family, table.name, name)
        if decl.key in self.chains:
            raise self.fail(f"{decl.label} is listed twice", line)
        hook = body.get("hook")
        if hook is not None:
            if not isinstance(hook, str) or hook not in HOOKS:
                raise self.fail(f"{decl.label}: unknown hook {_compact(hook)}", line)
            decl.hook = hook
            decl.priority = self._priority(body.get("prio"), decl, line)
            policy = body.get("policy", "accept")
            if policy not in ("accept", "drop"):
                raise self.fail(f"{decl.label}: unknown policy {_compact(policy)}", line)
            decl.policy = Action.ACCEPT if policy == "accept" else Action.DROP
            devices = body.get("dev")
            if isinstance(devices, str):
                decl.devices = (devices,)
            elif isinstance(devices, list) and all(isinstance(d, str) for d in devices):
                decl.devices = tuple(str(d) for d in devices)
        self.chains[decl.key] = decl

    def _priority(self, value: object, decl: _ChainDecl, line: int | None) -> int:
        if _is_int(value):
            return value
        if isinstance(value, str):
            found = re.fullmatch(r"\s*(-?\d{1,10}|[a-z]+)\s*(?:([+-])\s*(\d{1,10}))?\s*", value)
            if found:
                base, sign, offset = found.groups()
                number = int(base) if base[-1].isdigit() else PRIORITIES.get(base)
                if number is not None:
                    delta = int(offset or 0)
                    return number - delta if sign == "-" else number + delta
        raise self.fail(f"{decl.label}: priority {_compact(value)} is not a number or name", line)

    # --- rules ----------------------------------------------------------------------------

    def _collect_rule(self, body: dict[str, object], line: int | None) -> None:
        table = self._table_of(body, "rule", line)
        if table is None:
            return
        chain = self._text(body, "chain", "rule", line)
        decl = self.chains.get(f"{table.family} {table.name} {chain}")
        if decl is None:
            raise self.fail(
                f"rule in chain {chain}, which table {table.family} {table.name} does not list",
                line,
            )
        decl.rules.append((body, line))

    def _build_chain(self, decl: _ChainDecl) -> Chain:
        table = self.tables[(decl.family, decl.table)]
        rules: list[Rule] = []
        for position, (body, line) in enumerate(decl.rules, 1):
            rules.extend(self._rule(decl, table, body, line, position))
        policy_label = ""
        if decl.policy is not None:
            policy_label = f"{decl.label} policy {decl.policy.value}"
            rules = self._device_scope(decl, rules)
        return Chain(decl.key, tuple(rules), decl.policy, policy_label, table.families)

    def _device_scope(self, decl: _ChainDecl, rules: list[Rule]) -> list[Rule]:
        """An ingress/egress chain sees only its devices' packets."""
        if decl.hook not in ("ingress", "egress"):
            return rules
        inbound = decl.hook == "ingress"
        if decl.devices is None:
            if rules or decl.policy is Action.DROP:
                self.findings.append(
                    Finding(
                        "unknown-device",
                        decl.label,
                        f"the {decl.hook} chain's device is not in the JSON (nft 1.0.6 leaves "
                        "it out): audited as if the chain saw every interface",
                    )
                )
            return rules
        devices = frozenset(decl.devices)
        if decl.policy is Action.DROP:
            # Packets of other devices never meet this chain, nor its drop policy.
            skip = Match(
                in_interface=InterfaceMatch(devices, negate=True) if inbound else None,
                out_interface=None if inbound else InterfaceMatch(devices, negate=True),
            )
            label = f"{decl.label} (hook {decl.hook} device {', '.join(sorted(devices))})"
            return [Rule(skip, Action.ACCEPT, label), *rules]
        scoped = []
        for rule in rules:
            own = rule.match.in_interface if inbound else rule.match.out_interface
            names = devices
            if own is not None:
                names = frozenset(
                    d
                    for d in devices
                    if any(fnmatch.fnmatchcase(d, n) for n in own.names) != own.negate
                )
            scope = InterfaceMatch(names)
            match = (
                replace(rule.match, in_interface=scope)
                if inbound
                else replace(rule.match, out_interface=scope)
            )
            scoped.append(replace(rule, match=match))
        return scoped

    def _rule(
        self, decl: _ChainDecl, table: _Table, body: dict[str, object], line: int | None, n: int
    ) -> list[Rule]:
        self.rule_count += 1
        handle = body.get("handle")
        label = f"{decl.label} handle {handle}" if _is_int(handle) else f"{decl.label} rule {n}"
        statements = body.get("expr", [])
        if not isinstance(statements, list):
            raise self.fail(f"{label}: 'expr' is not a list: {_compact(statements)}", line)
        reader = _RuleReader(self, table, label, line)
        drafts = reader.read(statements)
        rule_line = line if self.multiline else None
        rules = []
        for draft in drafts:
            action = draft.action
            if action is None:
                action = Action.DROP if draft.maybe_decides else Action.CONTINUE
            rules.append(
                Rule(
                    draft.match(),
                    action,
                    " ".join((label, *draft.suffix)),
                    target=draft.target,
                    line=rule_line,
                    reject=draft.reject,
                )
            )
        return rules

    def chain_key(self, table: _Table, target: object, label: str, line: int | None) -> str:
        if not isinstance(target, str):
            raise self.fail(f"{label}: jump target {_compact(target)} is not a chain name", line)
        key = f"{table.family} {table.name} {target}"
        if key not in self.chains:
            raise self.fail(
                f"{label}: jumps to chain {target}, which table {table.family} {table.name} "
                "does not list",
                line,
            )
        return key

    def note_dynamic(self, table: _Table, found: _Set, label: str) -> None:
        flags = sorted(found.flags & {"timeout", "dynamic"})
        key = (table.family, table.name, found.name)
        if flags and key not in self.dynamic_noted:
            self.dynamic_noted.add(key)
            self.findings.append(
                Finding(
                    "dynamic-set",
                    label,
                    f"set @{found.name} changes at run time ({', '.join(flags)}): read with "
                    f"the {len(found.elements)} element(s) it held when listed",
                    "info",
                )
            )

    # --- the whole ruleset ----------------------------------------------------------------

    def _hooks(self) -> dict[str, tuple[str, ...]]:
        placed: dict[str, list[tuple[int, int, int, str]]] = {p: [] for p in POSITIONS}
        for order, decl in enumerate(self.chains.values()):
            if decl.hook is not None:
                position, stage = HOOKS[decl.hook]
                placed[position].append((stage, decl.priority, order, decl.key))
        return {p: tuple(entry[3] for entry in sorted(placed[p])) for p in POSITIONS}

    def _summary(self, chains: dict[str, Chain]) -> str:
        parts = [
            _count(len(self.tables), "table"),
            _count(len(chains), "chain"),
            _count(self.rule_count, "rule"),
        ]
        if self.ignored:
            parts.append(f"{_count(len(self.ignored), 'table')} ignored")
        return ", ".join(parts)


class _RuleReader:
    """One nft rule's statements → drafts (several when a map or set splits it)."""

    def __init__(self, reader: _Reader, table: _Table, label: str, line: int | None) -> None:
        self.reader, self.table, self.label, self.line = reader, table, label, line
        self.noted: set[str] = set()

    def unknown(self, drafts: list[_Draft], text: str, why: str, decides: bool) -> list[_Draft]:
        if text not in self.noted:
            self.noted.add(text)
            self.reader.findings.append(
                Finding("unknown-construct", self.label, f"{text}: {why}" if why else text)
            )
        return [
            replace(d, unknown=(*d.unknown, text), maybe_decides=d.maybe_decides or decides)
            for d in drafts
        ]

    def read(self, statements: list[object]) -> list[_Draft]:
        drafts = [_Draft()]
        for statement in statements:
            if not isinstance(statement, dict) or len(statement) != 1:
                drafts = self.unknown(drafts, _compact(statement), "not a statement", True)
                continue
            ((kind, body),) = statement.items()
            if any(d.action is not None for d in drafts):
                drafts = self.unknown(drafts, _stmt_text(kind, body), "after the verdict", True)
                continue
            try:
                drafts = self._statement(drafts, kind, body)
            except _Unknown as exc:
                decides = kind not in ("match", "set", "map", *UNKNOWN_MATCHES)
                drafts = self.unknown(drafts, _stmt_text(kind, body), str(exc), decides)
        return drafts

    def _statement(self, drafts: list[_Draft], kind: str, body: object) -> list[_Draft]:
        if kind in VERDICTS:
            action, target = self._verdict({kind: body})
            return [replace(d, action=action, target=target) for d in drafts]
        if kind == "match":
            if not isinstance(body, dict):
                raise _Unknown("not a match")
            return self._match(drafts, body.get("left"), body.get("op", "=="), body.get("right"))
        if kind == "vmap":
            return self._vmap(drafts, body)
        if kind == "reject":
            # ``reject with icmp``/``icmpv6`` carries its family: nft lists an inet rule's
            # ``meta nfproto`` as that reject type alone, and other packets pass the rule.
            reject_type = body.get("type") if isinstance(body, dict) else None
            only = REJECT_FAMILY.get(reject_type) if isinstance(reject_type, str) else None
            return [
                replace(
                    d,
                    action=Action.DROP,
                    reject=True,
                    families=d.families if only is None else _meet(d.families, only),
                )
                for d in drafts
            ]
        if kind in NAT:
            self._nat(kind, body)
            return [replace(d, action=Action.ACCEPT) for d in drafts]
        if kind in NO_EFFECT:
            return drafts
        if kind in ("set", "map"):  # adds the packet's key to a set: no effect on it ...
            if isinstance(body, dict) and "stmt" in body:  # ... unless it carries a limit
                raise _Unknown("a set update with statements (a per-key limit) is a match")
            return drafts
        if kind == "xt":
            return self._xt(drafts, body)
        if kind in UNKNOWN_MATCHES:
            raise _Unknown(UNKNOWN_MATCHES[kind])
        if kind == "queue":
            raise _Unknown("user space decides the verdict")
        raise _Unknown("statement not understood")

    def _verdict(self, value: object) -> tuple[Action, str | None]:
        if not isinstance(value, dict) or len(value) != 1:
            raise _Unknown(f"verdict {_compact(value)} not understood")
        ((kind, body),) = value.items()
        action = VERDICTS.get(kind)
        if action is None:
            raise _Unknown(f"verdict {kind} not understood")
        if action in (Action.JUMP, Action.GOTO):
            target = body.get("target") if isinstance(body, dict) else None
            return action, self.reader.chain_key(self.table, target, self.label, self.line)
        return action, None

    def _nat(self, kind: str, body: object) -> None:
        rewrites = "destination" if kind in ("dnat", "redirect") else "source"
        self.reader.findings.append(
            Finding(
                "nat",
                self.label,
                f"{_stmt_text(kind, body)}: rewrites the {rewrites} address; the audit does not "
                "follow the rewrite (later chains see the translated packet)",
                "warning" if rewrites == "destination" else "info",
            )
        )

    def _xt(self, drafts: list[_Draft], body: object) -> list[_Draft]:
        name = body.get("name") if isinstance(body, dict) else None
        kind = body.get("type") if isinstance(body, dict) else None
        if not isinstance(name, str) or not isinstance(kind, str):
            raise _Unknown("iptables-nft extension not understood")
        if name in XT_NO_EFFECT:
            return drafts
        if kind == "target" and name == "REJECT":
            return [replace(d, action=Action.DROP, reject=True) for d in drafts]
        if kind == "target" and name in XT_NAT:
            self._nat(name.lower(), None)
            return [replace(d, action=Action.ACCEPT) for d in drafts]
        what = "match" if kind == "match" else "target"
        text = f"xt {kind} {name}"
        why = f"iptables-nft {what} extension; its options are not in nft's JSON"
        return self.unknown(drafts, text, why, kind != "match")

    # --- matches --------------------------------------------------------------------------

    def _match(self, drafts: list[_Draft], left: object, op: object, right: object) -> list[_Draft]:
        if not isinstance(op, str):
            raise _Unknown("operator not understood")
        if isinstance(left, dict) and "concat" in left:
            parts = left["concat"]
            if not isinstance(parts, list):
                raise _Unknown("concatenation not understood")
            fields = [_field(part) for part in parts]
            if op not in ("==", "in"):
                raise _Unknown("a negated concatenation cannot be split into rules")
            if _is_setlike(right):
                elements = self._elements(right)
                return self._split(drafts, elements, fields, "set element", with_verdict=False)
            return [self._constrain_all(d, fields, right) for d in drafts]
        target = _field(left)
        return [self._constrain(d, target, op, right) for d in drafts]

    def _vmap(self, drafts: list[_Draft], body: object) -> list[_Draft]:
        if not isinstance(body, dict):
            raise _Unknown("verdict map not understood")
        key, data = body.get("key"), body.get("data")
        if isinstance(key, dict) and "concat" in key and isinstance(key["concat"], list):
            fields = [_field(part) for part in key["concat"]]
        else:
            fields = [_field(key)]
        return self._split(drafts, self._elements(data), fields, "vmap element", with_verdict=True)

    def _split(
        self,
        drafts: list[_Draft],
        elements: list[object],
        fields: list[_Field],
        name: str,
        with_verdict: bool,
    ) -> list[_Draft]:
        if not elements:  # matches nothing, as an empty set does anywhere else
            return [replace(d, families=frozenset()) for d in drafts]
        if len(drafts) * len(elements) > MAX_VARIANTS:
            raise _Unknown(f"{len(elements)} elements: too many to split into rules")
        out = []
        for draft in drafts:
            for element in elements:
                key: object = element
                verdict: tuple[Action, str | None] | None = None
                if with_verdict:
                    if not isinstance(element, list) or len(element) != 2:
                        raise _Unknown(f"map element {_compact(element)} not understood")
                    key, verdict = _unwrap(element[0]), self._verdict(element[1])
                new = self._constrain_all(draft, fields, key)
                if verdict is not None:
                    new = replace(new, action=verdict[0], target=verdict[1])
                out.append(replace(new, suffix=(*new.suffix, f"{name} {_value_text(key)}")))
        return out

    def _constrain_all(self, draft: _Draft, fields: list[_Field], value: object) -> _Draft:
        if len(fields) == 1:
            return self._constrain(draft, fields[0], "==", value)
        parts = value.get("concat") if isinstance(value, dict) else None
        if not isinstance(parts, list) or len(parts) != len(fields):
            raise _Unknown(f"element {_compact(value)} does not fit the concatenation")
        for target, part in zip(fields, parts, strict=True):
            draft = self._constrain(draft, target, "==", part)
        return draft

    def _elements(self, value: object) -> list[object]:
        """The elements of a set reference, an anonymous set, a list or a single value."""
        if isinstance(value, str) and value.startswith("@"):
            found = self.table.sets.get(value[1:])
            if found is None:
                raise _Unknown(f"set {value} is not in table {self.table.family} {self.table.name}")
            self.reader.note_dynamic(self.table, found, self.label)
            return [_unwrap(e) for e in found.elements]
        if isinstance(value, dict) and "set" in value:
            inner = value["set"]
            items = inner if isinstance(inner, list) else [inner]
            return [_unwrap(e) for e in items]
        if isinstance(value, list):
            return [_unwrap(e) for e in value]
        return [_unwrap(value)]

    def _constrain(self, d: _Draft, target: _Field, op: str, right: object) -> _Draft:
        negate = op == "!="
        if op not in ("==", "in", "!=") and not (
            op in RELATIONS and target.kind in ("dport", "sport")
        ):
            raise _Unknown(f"operator {op} not understood on {target.text}")
        if target.family is not None:
            d = replace(d, families=_meet(d.families, frozenset({target.family})))
        if target.protocol is not None:
            d = _with_protocols(d, frozenset({target.protocol}), False)
        kind = target.kind
        if kind == "ctstate":
            return replace(
                d, new_connection=_ct_new(op, right, self) and d.new_connection is not False
            )
        values = self._elements(right)
        if kind in ("saddr", "daddr"):
            universe = ALL_V4 if target.family == 4 else ALL_V6
            addresses = _union(_address(v, target.family or 4) for v in values)
            if negate:
                addresses = universe - addresses
            side = d.source if kind == "saddr" else d.destination
            if side is not None:
                addresses = side.addresses & addresses
            match = AddressMatch(addresses)
            return replace(d, source=match) if kind == "saddr" else replace(d, destination=match)
        if kind in ("dport", "sport"):
            if op in RELATIONS:
                if len(values) != 1 or not _is_int(values[0]):
                    raise _Unknown(f"{op} needs a number")
                low, high = _relation(op, values[0])
                ports = Intervals.span(low, high)
            else:
                ports = _union(_port(v, target.protocol) for v in values)
                if negate:
                    ports = ALL_PORTS - ports
            current = d.ports if kind == "dport" else d.source_ports
            if current is not None:
                ports = current & ports
            return replace(d, ports=ports) if kind == "dport" else replace(d, source_ports=ports)
        if kind == "proto":
            names = frozenset(name for v in values for name in _protocols(v))
            return _with_protocols(d, names, negate)
        if kind in ("iif", "oif"):
            return self._interface(d, kind, values, negate)
        if kind in ("nfproto", "ethertype"):
            table = NFPROTO if kind == "nfproto" else ETHERTYPES
            families = frozenset(
                table[v] for v in values if isinstance(v, str | int) and v in table
            )
            unknown = [v for v in values if not (isinstance(v, str | int) and v in table)]
            if kind == "nfproto" and unknown:
                raise _Unknown(f"{_value_text(unknown[0])} is not ipv4 or ipv6")
            if negate:
                families = frozenset({4, 6}) - families
            return replace(d, families=_meet(d.families, families))
        if kind == "icmptype":
            types = frozenset(t for v in values for t in _icmp_types(target.protocol or "", v))
            if negate:
                types = ALL_ICMP_TYPES - types
            if d.icmp_types is not None:
                types = d.icmp_types & types
            return replace(d, icmp_types=types)
        raise _Unknown(f"{target.text} not understood")

    def _interface(self, d: _Draft, kind: str, values: list[object], negate: bool) -> _Draft:
        if not all(isinstance(v, str) for v in values):
            raise _Unknown("an interface index, not a name")
        match = InterfaceMatch(frozenset(str(v) for v in values), negate)
        current = d.in_interface if kind == "iif" else d.out_interface
        if current is not None and current != match:
            raise _Unknown("a second interface match in one rule")
        return replace(d, in_interface=match) if kind == "iif" else replace(d, out_interface=match)


# --- JSON entries ---------------------------------------------------------------------------


def _entries(text: str, file: str) -> list[tuple[str, dict[str, object], int | None]]:
    """(kind, body, line) of every object in the "nftables" array."""
    start = text.lstrip("\ufeff \t\r\n")
    first_words = {line.split(" ", 1)[0] for line in start.splitlines()[:50] if line.strip()}
    if first_words & {"table", "flush", "add", "define", "include"} and not start.startswith(
        ("{", "[")
    ):
        raise PolicyError(
            f"this is nft's text syntax, not JSON: {WHAT} expected (list it with `nft -j`)",
            file=file,
            line=1,
        )
    try:
        document = load_json(text, file, WHAT)
    except PolicyError:
        raise
    except ValueError as exc:  # a number too long for int() escapes load_json
        raise PolicyError(f"not valid JSON ({WHAT} expected): {exc}", file=file) from None
    array = document.get("nftables") if isinstance(document, dict) else None
    if not isinstance(array, list):
        raise PolicyError(f'not {WHAT}: no "nftables" array at the top', file=file, line=1)
    entries = []
    for position, entry in enumerate(array, 1):
        line = line_of(entry)
        if not isinstance(entry, dict) or len(entry) != 1:
            raise PolicyError(
                f'entry {position} of "nftables" is not an object with one key: {_compact(entry)}',
                file=file,
                line=line,
            )
        ((kind, body),) = entry.items()
        if kind in ("table", "chain", "rule", "set", "map"):
            if not isinstance(body, dict):
                raise PolicyError(
                    f"{kind} is not an object: {_compact(body)}", file=file, line=line
                )
            entries.append((kind, body, line_of(body) or line))
    return entries


# --- fields and values ----------------------------------------------------------------------

PAYLOAD_FIELDS = {
    ("ip", "saddr"): _Field("saddr", "ip saddr", family=4),
    ("ip", "daddr"): _Field("daddr", "ip daddr", family=4),
    ("ip6", "saddr"): _Field("saddr", "ip6 saddr", family=6),
    ("ip6", "daddr"): _Field("daddr", "ip6 daddr", family=6),
    ("ip", "protocol"): _Field("proto", "ip protocol", family=4),
    ("ip6", "nexthdr"): _Field("proto", "ip6 nexthdr", family=6),
    ("th", "dport"): _Field("dport", "th dport"),
    ("th", "sport"): _Field("sport", "th sport"),
    ("icmp", "type"): _Field("icmptype", "icmp type", protocol="icmp"),
    ("icmpv6", "type"): _Field("icmptype", "icmpv6 type", protocol="icmpv6"),
} | {
    (name, port): _Field(port, f"{name} {port}", protocol=protocol)
    for name, protocol in PORT_PROTOCOLS.items()
    for port in ("dport", "sport")
}
META_FIELDS = {
    "l4proto": "proto",
    "nfproto": "nfproto",
    "protocol": "ethertype",
    "iifname": "iif",
    "iif": "iif",
    "oifname": "oif",
    "oif": "oif",
}


def _field(left: object) -> _Field:
    if isinstance(left, dict) and len(left) == 1:
        ((kind, body),) = left.items()
        if isinstance(body, dict):
            protocol, name, key = body.get("protocol"), body.get("field"), body.get("key")
            if kind == "payload" and isinstance(protocol, str) and isinstance(name, str):
                found = PAYLOAD_FIELDS.get((protocol, name))
                if found is not None:
                    return found
            elif kind == "meta" and isinstance(key, str) and key in META_FIELDS:
                return _Field(META_FIELDS[key], f"meta {key}")
            elif kind == "ct" and body.get("key") == "state" and "dir" not in body:
                return _Field("ctstate", "ct state")
    raise _Unknown("not a field this audit evaluates")


def _unwrap(value: object) -> object:
    """A set element without its per-element extras ({"elem": {"val": …, "comment": …}})."""
    if isinstance(value, dict) and isinstance(value.get("elem"), dict):
        return value["elem"].get("val")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_setlike(value: object) -> bool:
    return (isinstance(value, str) and value.startswith("@")) or (
        isinstance(value, dict) and "set" in value
    )


def _union(parts: Iterable[Intervals]) -> Intervals:
    result = EMPTY
    for part in parts:
        result |= part
    return result


def _meet(current: frozenset[int] | None, new: frozenset[int]) -> frozenset[int]:
    return new if current is None else current & new


def _with_protocols(d: _Draft, names: frozenset[str], negate: bool) -> _Draft:
    """AND a protocol condition into the draft (either side may be negated)."""
    if d.protocols is None:
        return replace(d, protocols=names, negate_protocols=negate)
    current, current_negated = d.protocols, d.negate_protocols
    if not current_negated and not negate:
        return replace(d, protocols=current & names)
    if current_negated and negate:
        return replace(d, protocols=current | names)
    positive, negative = (names, current) if current_negated else (current, names)
    return replace(d, protocols=positive - negative, negate_protocols=False)


def _relation(op: str, number: int) -> tuple[int, int]:
    lower, upper = RELATIONS[op]
    if lower == 1:  # < and <=
        return 0, min(PORT_MAX, number + upper)
    return max(0, number + upper), PORT_MAX


def _address(value: object, family: int) -> Intervals:
    try:
        if isinstance(value, str):
            result = network_interval(value)
        elif isinstance(value, dict) and isinstance(value.get("prefix"), dict):
            prefix = value["prefix"]
            addr, length = prefix.get("addr"), prefix.get("len")
            if not isinstance(addr, str) or not _is_int(length):
                raise _Unknown(f"prefix {_compact(value)} not understood")
            result = network_interval(f"{addr}/{length}")
        elif isinstance(value, dict) and isinstance(value.get("range"), list):
            bounds = value["range"]
            first, last = bounds if len(bounds) == 2 else (None, None)
            if not isinstance(first, str) or not isinstance(last, str):
                raise _Unknown(f"range {_compact(value)} not understood")
            result = address_range(first, last)
        else:
            raise _Unknown(f"address {_compact(value)} not understood")
    except ValueError:
        raise _Unknown(f"address {_value_text(value)} not understood") from None
    if not result.issubset(ALL_V4 if family == 4 else ALL_V6):
        raise _Unknown(f"{_value_text(value)} is not an IPv{family} address")
    return result


def _port_number(value: object, protocol: str | None) -> int:
    if _is_int(value) and 0 <= value <= PORT_MAX:
        return value
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and len(value) <= 5 and int(value) <= PORT_MAX:
            return int(value)
        try:  # nft prints numbers; a service name can only come from a hand-made file
            if protocol in ("tcp", "udp"):
                return socket.getservbyname(value, protocol)
            return socket.getservbyname(value)
        except (OSError, ValueError):
            pass
    raise _Unknown(f"port {_compact(value)} not understood")


def _port(value: object, protocol: str | None) -> Intervals:
    if (
        isinstance(value, dict)
        and isinstance(value.get("range"), list)
        and len(value["range"]) == 2
    ):
        low, high = value["range"]
        return Intervals.span(_port_number(low, protocol), _port_number(high, protocol))
    number = _port_number(value, protocol)
    return Intervals.span(number, number)


def _protocol_number(value: object) -> int:
    if _is_int(value) and 0 <= value <= 255:
        return value
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= 255:
            return int(value)
        if value in PROTOCOL_NUMBERS:
            return PROTOCOL_NUMBERS[value]
    raise _Unknown(f"protocol {_compact(value)} not understood")


def _protocols(value: object) -> set[str]:
    if (
        isinstance(value, dict)
        and isinstance(value.get("range"), list)
        and len(value["range"]) == 2
    ):
        low, high = (_protocol_number(v) for v in value["range"])
        return {PROTOCOL_NAMES.get(n, str(n)) for n in range(low, high + 1)}
    number = _protocol_number(value)
    return {PROTOCOL_NAMES.get(number, str(number))}


def _icmp_types(protocol: str, value: object) -> range:
    """The type numbers of a name, number or range of ICMP (or ICMPv6) types."""
    names = ICMP_TYPES.get(protocol, {})

    def number(v: object) -> int:
        if _is_int(v) and 0 <= v <= 255:
            return v
        if isinstance(v, str) and v in names:
            return names[v]
        raise _Unknown(f"{protocol} type {_compact(v)} not understood")

    if (
        isinstance(value, dict)
        and isinstance(value.get("range"), list)
        and len(value["range"]) == 2
    ):
        low, high = (number(v) for v in value["range"])
        return range(low, high + 1)
    first = number(value)
    return range(first, first + 1)


def _ct_new(op: str, right: object, reader: _RuleReader) -> bool:
    """Does the first packet of a new connection (state new) match this ct state test?"""

    def bits(value: object) -> int:
        if isinstance(value, str) and value in CT_STATES:
            return CT_STATES[value]
        if _is_int(value):
            return value
        if isinstance(value, dict) and isinstance(value.get("|"), list):
            return _or(bits(v) for v in value["|"])
        raise _Unknown(f"ct state {_compact(value)} not understood")

    if _is_setlike(right):  # a set: the state is one of its members
        member = any(bits(v) == CT_NEW for v in reader._elements(right))
        return member if op in ("==", "in") else not member
    mask = _or(bits(v) for v in right) if isinstance(right, list) else bits(right)
    if op == "in":  # nft's implicit operator on a bitmask: any of these bits
        return bool(mask & CT_NEW)
    equal = mask == CT_NEW
    return equal if op == "==" else not equal


def _or(values: Iterable[int]) -> int:
    result = 0
    for value in values:
        result |= value
    return result


# --- text for labels and findings -----------------------------------------------------------


def _compact(value: object, limit: int = 120) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value_text(value: object) -> str:
    value = _unwrap(value)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((kind, body),) = value.items()
        if kind == "prefix" and isinstance(body, dict):
            return f"{body.get('addr')}/{body.get('len')}"
        if kind == "range" and isinstance(body, list) and len(body) == 2:
            return f"{_value_text(body[0])}-{_value_text(body[1])}"
        if kind == "concat" and isinstance(body, list):
            return " . ".join(_value_text(v) for v in body)
        if kind == "set" and isinstance(body, list):
            return "{ " + ", ".join(_value_text(v) for v in body) + " }"
        if kind in ("|", "&", "^") and isinstance(body, list):
            return f" {kind} ".join(_value_text(v) for v in body)
        if kind in ("payload", "meta", "ct", "fib"):
            return _expr_text(value)
    if isinstance(value, list):
        return ",".join(_value_text(v) for v in value)
    return _compact(value)


def _expr_text(value: object) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, body),) = value.items()
        if kind == "payload" and isinstance(body, dict) and "field" in body:
            return f"{body.get('protocol')} {body.get('field')}"
        if kind == "payload" and isinstance(body, dict):
            # A raw payload (nft merges adjacent header matches into one): nft's own syntax.
            # Falling through to _value_text would come back here forever.
            return f"@{body.get('base')},{body.get('offset')},{body.get('len')}"
        if kind == "meta" and isinstance(body, dict):
            return f"meta {body.get('key')}"
        if kind == "ct" and isinstance(body, dict):
            direction = f"{body['dir']} " if "dir" in body else ""
            return f"ct {direction}{body.get('key')}"
        if kind == "fib" and isinstance(body, dict):
            flags = body.get("flags", [])
            items = flags if isinstance(flags, list) else [flags]
            flag_text = " . ".join(_value_text(f) for f in items)
            return f"fib {flag_text} {body.get('result')}"
        if kind == "concat" and isinstance(body, list):
            return " . ".join(_expr_text(v) for v in body)
        if kind in ("&", "|", "^", "<<", ">>") and isinstance(body, list):
            return "(" + f" {kind} ".join(_expr_text(v) for v in body) + ")"
    return _value_text(value)


def _stmt_text(kind: str, body: object) -> str:
    """A statement roughly as nft prints it, for findings."""
    if kind == "match" and isinstance(body, dict):
        op, right = body.get("op", "=="), body.get("right")
        shown = "" if op in ("==", "in") else f" {op}"
        value = {True: "exists", False: "missing"}[right] if isinstance(right, bool) else right
        return f"{_expr_text(body.get('left'))}{shown} {_value_text(value)}"
    over = "over " if isinstance(body, dict) and body.get("inv") else ""
    if kind == "limit" and isinstance(body, dict):
        return f"limit rate {over}{body.get('rate')}/{body.get('per')}"
    if kind == "quota" and isinstance(body, dict):
        return f"quota {over}{body.get('val')} {body.get('val_unit', 'bytes')}"
    if kind == "ct count" and isinstance(body, dict):
        return f"ct count {over}{body.get('val')}"
    if kind == "meter" and isinstance(body, dict):
        inner = body.get("stmt")
        shown = _stmt_text(*next(iter(inner.items()))) if isinstance(inner, dict) and inner else ""
        return f"meter {body.get('name')} {{ {_expr_text(body.get('key'))} {shown} }}"
    if kind in ("dnat", "snat") and isinstance(body, dict) and "addr" in body:
        port = f":{_value_text(body['port'])}" if "port" in body else ""
        return f"{kind} to {_value_text(body['addr'])}{port}"
    if kind == "vmap" and isinstance(body, dict):
        return f"{_expr_text(body.get('key'))} vmap {_value_text(body.get('data'))}"
    if body is None or body == {}:
        return kind
    if isinstance(body, str):
        return f"{kind} {body}"
    return f"{kind} {_compact(body, 80)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


__all__: Sequence[str] = ["NftablesJsonParser"]
