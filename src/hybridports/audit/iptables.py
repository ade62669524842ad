"""iptables-save / ip6tables-save output as the normalised policy model.

Each ``*table`` … ``COMMIT`` block becomes one chain per declared chain, keyed
``"<family> <table> <chain>"`` (``ip filter FORWARD``, ``ip6 filter FORWARD``); the built-in
chains are hooked at their positions in netfilter's priority order (raw -300, mangle -150,
nat destination -100, filter 0, security 50, nat source 100), so iptables' tables read as
nftables base chains do. A file may hold both families (iptables-save and ip6tables-save
output concatenated).

Deliberate simplifications, each safe (never a silent allow):

* NAT targets (DNAT, SNAT, MASQUERADE, REDIRECT, NETMAP, DNPT, SNPT) decide nothing here:
  the rule continues and a ``nat`` finding says the audit does not follow the rewrite.
* ICMP types: the plan's only ICMP flows are echo requests (the catalog writes ICMP echo as
  port 8), and the model has no ICMP type field. ``--icmp-type`` / ``--icmpv6-type`` echo
  request (or ``any``) therefore adds no condition, and any other type leaves the rule an
  empty protocol set: it matches no planned flow (as the nftables parser does).
* ``--tcp-flags``/``--syn`` are read against the first packet of a TCP connection (a SYN),
  which gives ``new_connection``; unknown only when the answer depends on the ECN bits.
* ``-m multiport --ports P`` (source or destination port in P) becomes two rules with one
  label, destination ports first: the same verdicts in first-match order.
* A raw-table NOTRACK / ``CT --notrack`` continues with a ``notrack`` finding: the later
  ``--ctstate`` rules see those packets as UNTRACKED, which the model cannot say.
* Every other match (limit, recent, owner, mark, physdev, addrtype, …) and every target of
  unknown effect (NFQUEUE, TPROXY, …) is kept as ``Match.unknown`` with an
  ``unknown-construct`` finding. ipsets are not in iptables-save output: ``--match-set``
  leaves its side unresolved.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import pairwise

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
    PORT_MAX,
    Intervals,
    address_range,
    network_interval,
)

# Table → built-in chain → (position, netfilter hook priority).
TABLES: dict[str, dict[str, tuple[str, int]]] = {
    "raw": {"PREROUTING": ("prerouting", -300), "OUTPUT": ("output", -300)},
    "mangle": {
        "PREROUTING": ("prerouting", -150),
        "INPUT": ("input", -150),
        "FORWARD": ("forward", -150),
        "OUTPUT": ("output", -150),
        "POSTROUTING": ("postrouting", -150),
    },
    "nat": {
        "PREROUTING": ("prerouting", -100),
        "OUTPUT": ("output", -100),
        "INPUT": ("input", 100),
        "POSTROUTING": ("postrouting", 100),
    },
    "filter": {"INPUT": ("input", 0), "FORWARD": ("forward", 0), "OUTPUT": ("output", 0)},
    "security": {"INPUT": ("input", 50), "FORWARD": ("forward", 50), "OUTPUT": ("output", 50)},
}
POSITIONS = ("prerouting", "input", "forward", "output", "postrouting")
FAMILY_NAMES = {4: "ip", 6: "ip6"}
UNIVERSE = {4: ALL_V4, 6: ALL_V6}

VERDICTS = {"ACCEPT": Action.ACCEPT, "DROP": Action.DROP, "RETURN": Action.RETURN}
NAT_TARGETS = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "DNPT", "SNPT"})
SOURCE_NAT = frozenset({"SNAT", "MASQUERADE", "SNPT"})
# Targets that change no verdict: the packet goes on to the next rule.
CONTINUE_TARGETS = frozenset(
    {
        "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CONNSECMARK", "SECMARK", "CLASSIFY",
        "DSCP", "TOS", "TTL", "HL", "ECN", "TCPMSS", "TCPOPTSTRIP", "TRACE", "AUDIT",
        "CHECKSUM", "IDLETIMER", "LED", "RATEEST", "SET", "TEE", "HMARK", "NOTRACK", "CT",
    }
)  # fmt: skip

# Protocol names iptables-save prints (and numbers) → the model's names.
PROTOCOLS = {
    "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
    "ipv6-icmp": "icmpv6", "icmpv6": "icmpv6", "58": "icmpv6", "igmp": "2", "ipip": "4",
    "dccp": "33", "ipv6": "41", "gre": "47", "esp": "50", "ah": "51", "ospf": "89",
    "vrrp": "112", "sctp": "132", "mh": "135", "udplite": "136",
}  # fmt: skip

CT_STATES = frozenset({"INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT"})
TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")

ECHO_TYPE = {4: 8, 6: 128}
# Names iptables accepts for --icmp-type / --icmpv6-type (libxt_icmp, libip6t_icmp6).
ICMP_NAMES = frozenset(
    """any echo-reply pong destination-unreachable network-unreachable host-unreachable
    protocol-unreachable port-unreachable fragmentation-needed source-route-failed
    network-unknown host-unknown network-prohibited host-prohibited TOS-network-unreachable
    TOS-host-unreachable communication-prohibited host-precedence-violation precedence-cutoff
    source-quench redirect network-redirect host-redirect TOS-network-redirect
    TOS-host-redirect echo-request ping router-advertisement router-solicitation time-exceeded
    ttl-exceeded ttl-zero-during-transit ttl-zero-during-reassembly parameter-problem
    ip-header-bad required-option-missing timestamp-request timestamp-reply
    address-mask-request address-mask-reply""".split()
)
ICMPV6_NAMES = frozenset(
    """any destination-unreachable no-route communication-prohibited beyond-scope
    address-unreachable port-unreachable failed-policy reject-route packet-too-big
    time-exceeded ttl-exceeded ttl-zero-during-transit ttl-zero-during-reassembly
    parameter-problem bad-header unknown-header-type unknown-option echo-request ping
    echo-reply pong mld-listener-query mld-listener-report mld-listener-done
    mld-listener-reduction router-solicitation router-advertisement neighbour-solicitation
    neighbor-solicitation neighbour-advertisement neighbor-advertisement redirect""".split()
)

HEADER = re.compile(r"#\s*Generated by (ip6?)tables(?:-nft|-legacy)?-save\b")
COUNTERS = re.compile(r"\[\d+:\d+\]")
# An undeclared -j name in this form is a target extension this parser does not know
# (TARPIT, SYNPROXY, …), not a typo for a chain: iptables-save declares every chain.
EXTENSION_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


class _Unknown(Exception):
    """A value this parser cannot evaluate: the construct becomes ``Match.unknown``."""


class _Quoted(str):
    """A word that was written in double quotes: always a value, never an option."""

    __slots__ = ()


# ----------------------------------------------------------------------------- tokens


# Pieces of a line: a quoted run, a gap, a bare run, or a quote that never closes.
PIECE = re.compile(r'"((?:[^"\\]|\\.)*)"|([ \t]+)|([^ \t"]+)|(")', re.DOTALL)
ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def tokenize(line: str) -> list[str]:
    """Words as iptables-restore splits them: only double quotes group, and a backslash
    escapes the next character inside them. Raises ValueError on an unclosed quote."""
    if '"' not in line:
        return [w for w in line.replace("\t", " ").split(" ") if w]
    words: list[str] = []
    parts: list[str] = []
    quoted = False
    for piece in PIECE.finditer(line):
        inside, gap, bare, unclosed = piece.groups()
        if unclosed is not None:
            raise ValueError("unclosed double quote")
        if gap is not None:
            if parts or quoted:
                words.append(_Quoted("".join(parts)) if quoted else "".join(parts))
            parts, quoted = [], False
        elif inside is not None:
            parts.append(ESCAPE.sub(r"\1", inside))
            quoted = True
        else:
            parts.append(bare)
    if parts or quoted:
        words.append(_Quoted("".join(parts)) if quoted else "".join(parts))
    return words


# ----------------------------------------------------------------------------- values


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > PORT_MAX:
        raise _Unknown(f"'{text}' is not a port number")
    return int(text)


def _port_span(text: str) -> Intervals:
    """22, 1024:65535, :1023 or 1024: (iptables-save prints numbers, not service names)."""
    if ":" not in text:
        port = _port(text)
        return Intervals.span(port, port)
    low, _, high = text.partition(":")
    first = _port(low) if low else 0
    last = _port(high) if high else PORT_MAX
    if first > last:
        raise _Unknown(f"port range '{text}' runs backwards")
    return Intervals.span(first, last)


def _port_list(text: str) -> Intervals:
    result = Intervals()
    for part in text.split(","):
        result = result | _port_span(part)
    return result


@lru_cache(maxsize=1 << 16)  # a ruleset names the same hosts over and over
def _network(text: str, family: int) -> Intervals:
    """One address or network; a dotted mask must be contiguous (iptables-save prints a
    non-contiguous one as is, and it is no interval)."""
    address, slash, mask = text.partition("/")
    try:
        if slash and "." in mask:
            bits = int(ipaddress.IPv4Address(mask))
            prefix = bin(bits).count("1")
            if bits != ((1 << 32) - 1) ^ ((1 << (32 - prefix)) - 1):
                raise _Unknown(f"'{text}' has a non-contiguous mask")
            mask = str(prefix)
        network = ipaddress.ip_network(f"{address}/{mask}" if slash else address, strict=False)
    except ValueError:
        raise _Unknown(f"'{text}' is not an address (names are resolved when loading)") from None
    if network.version != family:
        raise _Unknown(f"'{text}' is IPv{network.version} in an IPv{family} table")
    return network_interval(network)


def _address_list(text: str, family: int) -> Intervals:
    result = Intervals()
    for part in text.split(","):
        result = result | _network(part, family)
    return result


def _range(text: str, family: int) -> Intervals:
    first, dash, last = text.partition("-")
    try:
        values = address_range(first, last if dash else first)
    except ValueError:
        raise _Unknown(f"'{text}' is not an address range") from None
    if ipaddress.ip_address(first).version != family:
        raise _Unknown(f"'{text}' is not IPv{family}")
    return values


@lru_cache(maxsize=1 << 16)
def _address_family(text: str) -> int | None:
    """The family of an -s/-d/iprange value, or None for a name or garbage."""
    first = re.split(r"[,/-]", text, maxsplit=1)[0]
    try:
        return ipaddress.ip_address(first).version
    except ValueError:
        return None


# ----------------------------------------------------------------------------- rule drafts


@dataclass
class _Side:
    addresses: Intervals | None = None
    unresolved: list[str] = field(default_factory=list)

    def restrict(self, values: Intervals) -> None:
        self.addresses = values if self.addresses is None else self.addresses & values

    def result(self, family: int) -> AddressMatch | None:
        if self.addresses is None and not self.unresolved:
            return None
        values = UNIVERSE[family] if self.addresses is None else self.addresses
        return AddressMatch(values, unresolved="; ".join(self.unresolved) or None)


def _restrict(current: Intervals | None, values: Intervals) -> Intervals:
    return values if current is None else current & values


@dataclass
class _Construct:
    text: str  # as written: "-m limit --limit 3/min"
    why: str


@dataclass
class _Draft:
    """One ``-A`` line as read; turned into Rules once the whole table is known."""

    chain: str
    number: int
    line: int
    family: int
    source: _Side = field(default_factory=_Side)
    destination: _Side = field(default_factory=_Side)
    protocols: frozenset[str] | None = None
    negate_protocols: bool = False
    ports: Intervals | None = None
    source_ports: Intervals | None = None
    either_ports: Intervals | None = None  # multiport --ports: source or destination
    in_interface: InterfaceMatch | None = None
    out_interface: InterfaceMatch | None = None
    # Whether the first packet of a new connection meets each state-like condition.
    first_packet: list[bool] = field(default_factory=list)
    # The raw table runs before connection tracking: every packet's state reads INVALID.
    before_conntrack: bool = False
    no_echo: bool = False  # an ICMP type match that no echo request meets
    unknown: list[_Construct] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ipsets: list[str] = field(default_factory=list)
    target: str | None = None
    goto: bool = False
    target_args: list[str] = field(default_factory=list)

    @property
    def universe(self) -> Intervals:
        return UNIVERSE[self.family]

    def negated(self, values: Intervals, negate: bool) -> Intervals:
        return self.universe - values if negate else values

    def interface(self, text: str, negate: bool) -> InterfaceMatch:
        name = text[:-1] + "*" if text.endswith("+") else text
        return InterfaceMatch(frozenset({name}), negate)


Handler = Callable[[_Draft, bool, list[str]], None]


def _protocol(draft: _Draft, negate: bool, args: list[str]) -> None:
    name = args[0].lower()
    if name in ("all", "0"):
        if negate:
            raise _Unknown("'! -p all' matches no packet at all")
        draft.protocols, draft.negate_protocols = None, False
        return
    if name in PROTOCOLS:
        proto = PROTOCOLS[name]
    elif name.isdigit() and int(name) <= 255:
        proto = name
    else:
        raise _Unknown(f"protocol '{args[0]}' is not one this parser knows")
    draft.protocols, draft.negate_protocols = frozenset({proto}), negate


def _addresses(side: str) -> Handler:
    def apply(draft: _Draft, negate: bool, args: list[str]) -> None:
        if negate and "," in args[0]:
            raise PolicyError(f"'! {args[0]}': iptables rejects ! with several addresses")
        values = draft.negated(_address_list(args[0], draft.family), negate)
        getattr(draft, side).restrict(values)

    return apply


def _in_interface(draft: _Draft, negate: bool, args: list[str]) -> None:
    draft.in_interface = draft.interface(args[0], negate)


def _out_interface(draft: _Draft, negate: bool, args: list[str]) -> None:
    draft.out_interface = draft.interface(args[0], negate)


def _fragment(draft: _Draft, negate: bool, args: list[str]) -> None:
    raise _Unknown("fragments are not evaluated")


def _counters(draft: _Draft, negate: bool, args: list[str]) -> None:
    """-c PACKETS BYTES: counters only."""


def _ports(attribute: str, parse: Callable[[str], Intervals]) -> Handler:
    def apply(draft: _Draft, negate: bool, args: list[str]) -> None:
        values = parse(args[0])
        values = ALL_PORTS - values if negate else values
        setattr(draft, attribute, _restrict(getattr(draft, attribute), values))

    return apply


def _either_ports(draft: _Draft, negate: bool, args: list[str]) -> None:
    values = _port_list(args[0])
    if negate:  # neither port in the list
        draft.ports = _restrict(draft.ports, ALL_PORTS - values)
        draft.source_ports = _restrict(draft.source_ports, ALL_PORTS - values)
    else:
        draft.either_ports = _restrict(draft.either_ports, values)


def _states(draft: _Draft, negate: bool, args: list[str]) -> None:
    states = {s.upper() for s in args[0].split(",")}
    if not states <= CT_STATES:
        raise _Unknown(f"states {', '.join(sorted(states - CT_STATES))} are not known")
    if draft.before_conntrack:
        meets = "INVALID" in states
    elif "NEW" in states:
        meets = True
    elif states & {"SNAT", "DNAT"}:
        raise _Unknown("whether a new connection was translated is not known here")
    else:
        meets = False
    draft.first_packet.append(meets != negate)


def _flag_set(text: str) -> frozenset[str]:
    if text == "ALL":
        return frozenset(TCP_FLAGS)
    if text == "NONE":
        return frozenset()
    flags = frozenset(text.split(","))
    if not flags <= set(TCP_FLAGS):
        raise _Unknown(f"TCP flags '{text}' are not known")
    return flags


def _tcp_flags(draft: _Draft, negate: bool, args: list[str]) -> None:
    mask, comparison = _flag_set(args[0]), _flag_set(args[1])
    # A connection's first packet is a SYN, with ECE and CWR when it asks for ECN.
    meets = {(mask & syn) == comparison for syn in ({"SYN"}, {"SYN", "ECE", "CWR"})}
    if len(meets) > 1:
        raise _Unknown("whether it matches a SYN depends on ECN")
    draft.first_packet.append(meets.pop() != negate)


def _syn(draft: _Draft, negate: bool, args: list[str]) -> None:
    draft.first_packet.append(not negate)


def _icmp_type(family: int, names: frozenset[str]) -> Handler:
    def apply(draft: _Draft, negate: bool, args: list[str]) -> None:
        text = args[0]
        if text in names:
            echo = text in ("any", "echo-request", "ping")
        else:
            kind, _, code = text.partition("/")
            if not kind.isdigit() or (code and not code.isdigit()):
                raise _Unknown(f"ICMP type '{text}' is not known")
            echo = int(kind) == ECHO_TYPE[family] and (not code or int(code) == 0)
        if echo == negate:  # cannot match an echo request, the only ICMP flow planned
            draft.no_echo = True

    return apply


def _iprange(side: str) -> Handler:
    def apply(draft: _Draft, negate: bool, args: list[str]) -> None:
        values = draft.negated(_range(args[0], draft.family), negate)
        getattr(draft, side).restrict(values)

    return apply


def _comment(draft: _Draft, negate: bool, args: list[str]) -> None:
    draft.comments.append(args[0])


def _match_set(draft: _Draft, negate: bool, args: list[str]) -> None:
    name, flags = args
    first = flags.split(",")[0]
    if first not in ("src", "dst"):
        raise _Unknown(f"ipset direction '{flags}' is not src or dst")
    side = draft.source if first == "src" else draft.destination
    side.unresolved.append(f"{'! ' if negate else ''}ipset {name} {flags}")
    draft.ipsets.append(name)


def _no_effect(draft: _Draft, negate: bool, args: list[str]) -> None:
    """An option that does not change what matches (ipset counter updates)."""


@dataclass(frozen=True)
class _Option:
    arity: int
    apply: Handler


# Options outside any -m module, long and short spellings.
GENERIC: dict[str, _Option] = {
    "-p": _Option(1, _protocol),
    "--protocol": _Option(1, _protocol),
    "-s": _Option(1, _addresses("source")),
    "--source": _Option(1, _addresses("source")),
    "--src": _Option(1, _addresses("source")),
    "-d": _Option(1, _addresses("destination")),
    "--destination": _Option(1, _addresses("destination")),
    "--dst": _Option(1, _addresses("destination")),
    "-i": _Option(1, _in_interface),
    "--in-interface": _Option(1, _in_interface),
    "-o": _Option(1, _out_interface),
    "--out-interface": _Option(1, _out_interface),
    "-f": _Option(0, _fragment),
    "--fragment": _Option(0, _fragment),
    "-c": _Option(2, _counters),
    "--set-counters": _Option(2, _counters),
}
JUMP = ("-j", "--jump")
GOTO = ("-g", "--goto")
MATCH = ("-m", "--match")

_DPORT = _Option(1, _ports("ports", _port_span))
_SPORT = _Option(1, _ports("source_ports", _port_span))
MODULES: dict[str, dict[str, _Option]] = {
    "tcp": {
        "--dport": _DPORT,
        "--destination-port": _DPORT,
        "--sport": _SPORT,
        "--source-port": _SPORT,
        "--tcp-flags": _Option(2, _tcp_flags),
        "--syn": _Option(0, _syn),
    },
    "udp": {
        "--dport": _DPORT,
        "--destination-port": _DPORT,
        "--sport": _SPORT,
        "--source-port": _SPORT,
    },
    "multiport": {
        "--dports": _Option(1, _ports("ports", _port_list)),
        "--destination-ports": _Option(1, _ports("ports", _port_list)),
        "--sports": _Option(1, _ports("source_ports", _port_list)),
        "--source-ports": _Option(1, _ports("source_ports", _port_list)),
        "--ports": _Option(1, _either_ports),
    },
    "conntrack": {"--ctstate": _Option(1, _states)},
    "state": {"--state": _Option(1, _states)},
    "iprange": {
        "--src-range": _Option(1, _iprange("source")),
        "--dst-range": _Option(1, _iprange("destination")),
    },
    "icmp": {"--icmp-type": _Option(1, _icmp_type(4, ICMP_NAMES))},
    "icmp6": {"--icmpv6-type": _Option(1, _icmp_type(6, ICMPV6_NAMES))},
    "comment": {"--comment": _Option(1, _comment)},
    "set": {
        "--match-set": _Option(2, _match_set),
        "--update-counters": _Option(0, _no_effect),
        "--update-subcounters": _Option(0, _no_effect),
    },
}
# -p tcp --dport 22 without -m tcp: iptables loads the protocol's module itself.
IMPLICIT = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmp6"}
MODULE_PROTOCOL = {module: proto for proto, module in IMPLICIT.items()}


def _show(words: list[str]) -> str:
    """Words back as written, quoted where iptables-save quotes them."""
    return " ".join(
        '"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(w, _Quoted) or not w or any(c.isspace() for c in w)
        else w
        for w in words
    )


def _is_option(word: str) -> bool:
    if isinstance(word, _Quoted):
        return False
    return word == "!" or (word.startswith("-") and len(word) > 1 and not word[1:].isdigit())


def _values(words: list[str], start: int) -> int:
    """Index after the values that follow an option of unknown arity."""
    end = start
    while end < len(words) and not _is_option(words[end]):
        end += 1
    return end


def read_rule(draft: _Draft, words: list[str]) -> None:
    """The options of one rule (after ``-A CHAIN``) into the draft. An option without its
    value or a stray word is malformed (PolicyError without a line: the caller adds it)."""
    modules: list[str] = []  # loaded with -m, most recent last
    owner: str | None = None  # the -m whose options follow; "" after -j: target options
    open_unknown: _Construct | None = None  # the construct of an unknown -m module
    negate = False
    i = 0
    while i < len(words):
        word = words[i]
        if not _is_option(word):
            raise PolicyError(f"unexpected word '{word}'")
        if word == "!":
            if negate:
                raise PolicyError("'! !': double negation")
            negate, i = True, i + 1
            continue
        if word in MATCH or word in JUMP or word in GOTO:
            if i + 1 >= len(words) or _is_option(words[i + 1]):
                raise PolicyError(f"'{word}' needs a name")
            if negate:
                raise PolicyError(f"'! {word}': {word} cannot be negated")
            name = words[i + 1]
            if word in MATCH:
                modules.append(name)
                owner = name
                if name not in MODULES:
                    open_unknown = _Construct(f"-m {name}", f"the {name} match is not evaluated")
                    draft.unknown.append(open_unknown)
            else:
                draft.target, draft.goto, owner = name, word in GOTO, ""
            i += 2
            continue
        option = GENERIC.get(word)
        if option is None and owner == "" and word.startswith("--"):
            end = _values(words, i + 1)
            draft.target_args.extend(words[i:end])
            i = end
            continue
        module: str | None = None
        if option is None:
            module, option = _module_option(word, owner, modules, draft.protocols)
        if option is None:
            # A module or an option this parser does not know: keep its text.
            end = _values(words, i + 1)
            text = _show((["!"] if negate else []) + words[i:end])
            if module is not None and module not in MODULES and open_unknown is not None:
                open_unknown.text += " " + text
            elif module is not None:
                why = f"option {word} of the {module} match is not evaluated"
                draft.unknown.append(_Construct(f"-m {module} {text}", why))
            else:
                draft.unknown.append(_Construct(text, "an option this parser does not know"))
            negate, i = False, end
            continue
        args = words[i + 1 : i + 1 + option.arity]
        if len(args) < option.arity or any(a == "!" and not isinstance(a, _Quoted) for a in args):
            raise PolicyError(f"'{word}' needs {option.arity} value(s)")
        try:
            option.apply(draft, negate, args)
        except _Unknown as exc:
            prefix = f"-m {module} " if module in modules else ""  # not implicit ones
            text = prefix + _show((["!"] if negate else []) + [word, *args])
            draft.unknown.append(_Construct(text, str(exc)))
        negate, i = False, i + 1 + option.arity
    if negate:
        raise PolicyError("'!' at the end of the rule")
    if draft.protocols is None:  # -m tcp without -p tcp: iptables refuses; be exact anyway
        for name in modules:
            if name in MODULE_PROTOCOL:
                draft.protocols = frozenset({MODULE_PROTOCOL[name]})


def _module_option(
    word: str, owner: str | None, modules: list[str], protocols: frozenset[str] | None
) -> tuple[str | None, _Option | None]:
    """Which loaded module an option belongs to: the last -m if it is unknown (its options
    are its own) or knows the option, else an earlier one, else the protocol's module. No
    option but a module name: a known module's option this parser does not evaluate."""
    if owner and (owner not in MODULES or word in MODULES[owner]):
        return owner, MODULES.get(owner, {}).get(word)
    for name in reversed(modules):
        if word in MODULES.get(name, {}):
            return name, MODULES[name][word]
    for proto in protocols or ():
        implicit = IMPLICIT.get(proto)
        if implicit and word in MODULES[implicit]:
            return implicit, MODULES[implicit][word]
    return owner or None, None


# ----------------------------------------------------------------------------- tables


@dataclass
class _Declared:
    name: str
    policy: Action | None
    line: int


@dataclass
class _Block:
    """One ``*table`` … ``COMMIT`` block, read but not yet interpreted."""

    table: str
    line: int
    header_family: int | None  # from the "# Generated by ip6tables-save" comment above it
    chains: dict[str, _Declared] = field(default_factory=dict)
    rules: list[tuple[int, str, list[str]]] = field(default_factory=list)  # line, chain, words


def _split(text: str, file: str) -> tuple[list[_Block], list[Finding]]:
    """The file's table blocks; comments that say the dump is incomplete as findings."""
    blocks: list[_Block] = []
    notes: list[Finding] = []
    header: int | None = None
    current: _Block | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            found = HEADER.match(line)
            if found:
                header = 6 if found.group(1) == "ip6" else 4
            elif "legacy tables present" in line or "is incompatible" in line:
                notes.append(Finding("incomplete", "", f"line {number}: {line.lstrip('# ')}"))
            continue
        if line.startswith("*"):
            name = line[1:].strip()
            if current is not None:
                raise PolicyError(
                    f"table *{name} starts before table *{current.table} "
                    f"(line {current.line}) has its COMMIT",
                    file=file,
                    line=number,
                )
            if name not in TABLES:
                raise PolicyError(f"'*{name}' is not an iptables table", file=file, line=number)
            current = _Block(name, number, header)
            blocks.append(current)
            continue
        if current is None:
            raise PolicyError(
                f"'{line[:60]}' outside a *table … COMMIT block: not iptables-save output",
                file=file,
                line=number,
            )
        if line == "COMMIT":
            current = None
        elif line.startswith(":"):
            _declare(current, line, number, file)
        else:
            _add_rule(current, line, number, file)
    if current is not None:
        raise PolicyError(
            f"table *{current.table} has no COMMIT: truncated file?", file=file, line=current.line
        )
    if not blocks:
        raise PolicyError("no *table … COMMIT block: not iptables-save output", file=file)
    return blocks, notes


def _declare(block: _Block, line: str, number: int, file: str) -> None:
    parts = line[1:].split()
    if len(parts) not in (2, 3) or (len(parts) == 3 and not COUNTERS.fullmatch(parts[2])):
        raise PolicyError(
            f"'{line}' is not ':CHAIN POLICY [packets:bytes]'", file=file, line=number
        )
    name, policy_text = parts[0], parts[1]
    if name in block.chains:
        raise PolicyError(f"chain {name} is declared twice", file=file, line=number)
    builtin = name in TABLES[block.table]
    if builtin and policy_text in ("ACCEPT", "DROP"):
        policy: Action | None = VERDICTS[policy_text]
    elif not builtin and policy_text == "-":
        policy = None
    elif builtin:
        raise PolicyError(
            f"built-in chain {name} has policy '{policy_text}', not ACCEPT or DROP",
            file=file,
            line=number,
        )
    else:
        raise PolicyError(
            f"chain {name} is no built-in chain of table {block.table}, "
            f"so it cannot have the policy '{policy_text}'",
            file=file,
            line=number,
        )
    block.chains[name] = _Declared(name, policy, number)


def _add_rule(block: _Block, line: str, number: int, file: str) -> None:
    try:
        words = tokenize(line)
    except ValueError as exc:
        raise PolicyError(f"{exc}: {line[:60]}", file=file, line=number) from None
    if words and COUNTERS.fullmatch(words[0]):  # iptables-save -c
        words = words[1:]
    if not words or words[0] not in ("-A", "--append"):
        found = words[0] if words else line
        raise PolicyError(
            f"'{found}': iptables-save output has only -A rule lines", file=file, line=number
        )
    if len(words) < 2:
        raise PolicyError("-A without a chain", file=file, line=number)
    if words[1] not in block.chains:
        raise PolicyError(
            f"rule for chain {words[1]}, which no ':{words[1]}' line of table "
            f"*{block.table} declares",
            file=file,
            line=number,
        )
    block.rules.append((number, words[1], words[2:]))


def _family(block: _Block, file: str) -> int:
    """The block's family. An explicit address decides (all must agree); then an ICMP match
    only one family has; then the ``# Generated by ip6tables-save`` header above the table;
    else IPv4, as iptables-save is the usual tool."""
    seen: tuple[int, int] | None = None  # family, line
    hint: int | None = None
    for number, _, words in block.rules:
        for before, word in pairwise(words):
            if isinstance(before, _Quoted):
                continue
            if before in ("-s", "--source", "--src", "-d", "--destination", "--dst") or (
                before in ("--src-range", "--dst-range")
            ):
                for part in word.split(","):
                    family = _address_family(part)
                    if family is None:
                        continue
                    if seen is None:
                        seen = (family, number)
                    elif seen[0] != family:
                        raise PolicyError(
                            f"IPv{family} address '{part}' in table *{block.table}, whose "
                            f"line {seen[1]} has an IPv{seen[0]} address",
                            file=file,
                            line=number,
                        )
            elif hint is None and before in MATCH and word in ("icmp", "icmp6"):
                hint = 6 if word == "icmp6" else 4
    if seen is not None:
        return seen[0]
    return hint or block.header_family or 4


# ----------------------------------------------------------------------------- rules


class _TableReader:
    """Turns one block into chains, rules and findings."""

    def __init__(self, block: _Block, family: int, file: str) -> None:
        self.block = block
        self.family = family
        self.file = file
        self.prefix = FAMILY_NAMES[family]
        self.findings: list[Finding] = []

    def key(self, chain: str) -> str:
        return f"{self.prefix} {self.block.table} {chain}"

    def chains(self) -> list[tuple[str, Chain]]:
        table = self.block.table
        drafts: dict[str, list[_Draft]] = {name: [] for name in self.block.chains}
        for number, chain, words in self.block.rules:
            draft = _Draft(chain, len(drafts[chain]) + 1, number, self.family)
            draft.before_conntrack = table == "raw"
            try:
                read_rule(draft, words)
            except PolicyError as exc:
                raise PolicyError(exc.message, file=self.file, line=number) from None
            drafts[chain].append(draft)
        result: list[tuple[str, Chain]] = []
        for name, declared in self.block.chains.items():
            rules = tuple(rule for draft in drafts[name] for rule in self.rules(draft))
            label = ""
            if declared.policy is not None:
                policy = declared.policy.value.upper()
                label = f"{table} {name} policy {policy} (line {declared.line})"
            families = frozenset({self.family})
            result.append((name, Chain(self.key(name), rules, declared.policy, label, families)))
        return result

    def label(self, draft: _Draft) -> str:
        text = f"{self.block.table} {draft.chain} rule {draft.number} (line {draft.line})"
        if draft.comments:
            text += ' "' + "; ".join(draft.comments) + '"'
        return text

    def rules(self, draft: _Draft) -> list[Rule]:
        label = self.label(draft)
        action, target, reject = self.action(draft, label)
        for construct in draft.unknown:
            severity = "info" if action is Action.CONTINUE else "warning"
            detail = f"{construct.text}: {construct.why}" + (
                "; the rule decides no verdict" if action is Action.CONTINUE else ""
            )
            self.findings.append(Finding("unknown-construct", label, detail, severity))
        for name in draft.ipsets:
            self.findings.append(
                Finding(
                    "unresolved-reference",
                    label,
                    f"ipset {name} is not part of iptables-save output (ipset save lists it); "
                    "what the rule matches on that side is unknown",
                )
            )
        match = Match(
            source=draft.source.result(self.family),
            destination=draft.destination.result(self.family),
            protocols=frozenset() if draft.no_echo else draft.protocols,
            negate_protocols=draft.negate_protocols and not draft.no_echo,
            ports=draft.ports,
            source_ports=draft.source_ports,
            in_interface=draft.in_interface,
            out_interface=draft.out_interface,
            new_connection=all(draft.first_packet) if draft.first_packet else None,
            unknown="; ".join(construct.text for construct in draft.unknown) or None,
        )
        if draft.either_ports is None:
            matches = [match]
        else:
            # --ports P matches when either port is in P: two first-match rules with the
            # same verdict, destination port first, say the same.
            either = draft.either_ports
            matches = [
                replace(match, ports=_restrict(match.ports, either)),
                replace(match, source_ports=_restrict(match.source_ports, either)),
            ]
        return [Rule(m, action, label, target, draft.line, reject) for m in matches]

    def action(self, draft: _Draft, label: str) -> tuple[Action, str | None, bool]:
        """(action, chain key, reject) for the draft's -j/-g; a target of unknown effect
        becomes a DROP with ``Match.unknown`` set, so it can never read as an allow."""
        name = draft.target
        args = _show(draft.target_args)
        if name is None:
            return Action.CONTINUE, None, False
        if draft.goto or (name not in VERDICTS and name in self.block.chains):
            if name not in self.block.chains:
                raise PolicyError(
                    f"-g {name}: no chain {name} in table *{self.block.table}",
                    file=self.file,
                    line=draft.line,
                )
            if name in TABLES[self.block.table]:
                raise PolicyError(
                    f"-j {name}: a built-in chain cannot be a jump target",
                    file=self.file,
                    line=draft.line,
                )
            return (Action.GOTO if draft.goto else Action.JUMP), self.key(name), False
        if name in VERDICTS:
            return VERDICTS[name], None, False
        if name == "REJECT":
            return Action.DROP, None, True
        if name in NAT_TARGETS:
            netmap_source = name == "NETMAP" and draft.chain in ("POSTROUTING", "INPUT")
            rewrites = "source" if name in SOURCE_NAT or netmap_source else "destination"
            self.findings.append(
                Finding(
                    "nat",
                    label,
                    f"-j {name} {args}".rstrip() + f": rewrites the {rewrites} address; the "
                    "audit does not follow the rewrite (later chains see the translated "
                    "packet)",
                    "info" if rewrites == "source" else "warning",
                )
            )
            return Action.CONTINUE, None, False
        if name in CONTINUE_TARGETS:
            if name == "NOTRACK" or (name == "CT" and "--notrack" in draft.target_args):
                self.findings.append(
                    Finding(
                        "notrack",
                        label,
                        f"-j {name} {args}".rstrip() + ": the packets skip connection "
                        "tracking, so later --ctstate/--state rules see them as UNTRACKED, "
                        "which this audit does not model",
                    )
                )
            return Action.CONTINUE, None, False
        if not EXTENSION_NAME.fullmatch(name):
            raise PolicyError(
                f"-j {name}: no chain {name} in table *{self.block.table}",
                file=self.file,
                line=draft.line,
            )
        draft.unknown.append(
            _Construct(f"-j {name} {args}".rstrip(), "a target whose verdict is not known here")
        )
        return Action.DROP, None, False


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


class IptablesSaveParser(PolicyParser):
    name = "iptables-save"
    description = "iptables-save / ip6tables-save output"

    def parse(self, text: str, file: str, options: ParseOptions) -> Ruleset:
        if not text.strip():
            raise PolicyError("empty policy", file=file)
        blocks, findings = _split(text, file)
        chains: dict[str, Chain] = {}
        hooked: list[tuple[int, int, str, str]] = []  # priority, order, position, key
        seen: dict[tuple[int, str], int] = {}
        tables: list[str] = []
        families: set[int] = set()
        for block in blocks:
            family = _family(block, file)
            if (family, block.table) in seen:
                raise PolicyError(
                    f"table *{block.table} for IPv{family} appears twice "
                    f"(first at line {seen[family, block.table]})",
                    file=file,
                    line=block.line,
                )
            seen[family, block.table] = block.line
            reader = _TableReader(block, family, file)
            for name, chain in reader.chains():
                chains[chain.key] = chain
                builtin = TABLES[block.table].get(name)
                if builtin is not None:
                    position, priority = builtin
                    hooked.append((priority, len(hooked), position, chain.key))
            findings.extend(reader.findings)
            if block.table not in tables:
                tables.append(block.table)
            families.add(family)
        hooks = {
            position: tuple(key for _, _, pos, key in sorted(hooked) if pos == position)
            for position in POSITIONS
        }
        rule_lines = sum(len(block.rules) for block in blocks)
        summary = (
            f"{_join(tables)} table{'s' if len(tables) > 1 else ''}, {len(chains)} chains, "
            f"{rule_lines} rules ({_join([f'IPv{f}' for f in sorted(families)])})"
        )
        return Ruleset(self.name, file, chains, hooks, findings=findings, summary=summary)
