"""The normalised policy every parser produces and the evaluator reads.

Every platform reduces to chains of first-match rules: nftables and iptables natively,
Azure NSG by priority, Windows Firewall with its block rules first (block wins over allow),
AWS security groups as accept-only rules over an implicit deny. A packet passes a position
(forward path, or a host's input/output) when every base chain hooked there, in order,
lets it through; ``drop`` anywhere is final, ``accept`` only ends its own base chain.

A match the parser does not understand is kept, with ``Match.unknown`` set: the evaluator
turns whatever it could decide into ``unknown``, never into an allow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

from hybridports.audit.intervals import Intervals
from hybridports.errors import UserError


class PolicyError(UserError):
    """The policy file itself is malformed (exit 2), as opposed to a construct we cannot
    evaluate (a finding and ``unknown`` verdicts)."""


class Action(Enum):
    ACCEPT = "accept"
    DROP = "drop"  # drop and reject alike: the flow does not pass
    JUMP = "jump"  # evaluate ``target``; fall through to the next rule when it returns
    GOTO = "goto"  # evaluate ``target``; its return ends the calling chain too
    RETURN = "return"
    CONTINUE = "continue"  # no verdict (counter, log, mark): the next rule decides


# Hook positions a packet traverses. Forward path: prerouting, forward, postrouting.
# To a host: prerouting, input. From a host: output, postrouting.
FORWARD_PATH = ("prerouting", "forward", "postrouting")
INBOUND_PATH = ("prerouting", "input")
OUTBOUND_PATH = ("output", "postrouting")


@dataclass(frozen=True, slots=True)
class AddressMatch:
    """Addresses a rule matches on one side, negation already applied."""

    addresses: Intervals  # on the shared number line of audit.intervals
    # Names the side may carry instead of addresses: Azure service tags (lower case).
    tags: frozenset[str] = frozenset()
    # A reference the file does not resolve (AWS group or prefix list, Azure ASG, a named
    # set that is missing, an unknown tag): anything this side could decide becomes unknown.
    unresolved: str | None = None


@dataclass(frozen=True, slots=True)
class InterfaceMatch:
    """iifname/oifname or -i/-o: names, with trailing '*' (nft) or '+' (iptables) wildcards
    already turned into '*'."""

    names: frozenset[str]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """All conditions of one rule; ``None`` means the rule does not look at that field."""

    source: AddressMatch | None = None
    destination: AddressMatch | None = None
    # Lower-case protocol names: tcp, udp, icmp, icmpv6, or a number as text ("47").
    protocols: frozenset[str] | None = None
    negate_protocols: bool = False
    ports: Intervals | None = None  # destination ports (only tcp/udp packets carry them)
    source_ports: Intervals | None = None
    # Windows ``LocalPort RPC``: the dynamic RPC endpoints of the local host. It matches a
    # flow planned as the DC's dynamic RPC range, and no other port.
    rpc_dynamic: bool = False
    in_interface: InterfaceMatch | None = None
    out_interface: InterfaceMatch | None = None
    # Connection tracking: does this rule match the first packet of a new connection?
    # ``ct state established,related`` → False; ``ct state new`` or ``!= invalid`` → True.
    new_connection: bool | None = None
    families: frozenset[int] | None = None  # {4}, {6}; None: both
    # ICMP types (echo request is 8, ICMPv6 128); None: the rule does not look at the type.
    icmp_types: frozenset[int] | None = None
    # Windows Firewall program and service filters, lower case: "lsass.exe", "system",
    # "svchost.exe"; service short names "rpcss", "dns". They name the local process: the
    # server for inbound rules, the client for outbound ones.
    program: str | None = None
    service: str | None = None
    # Text of a construct the parser could not read; the rule then decides nothing for sure.
    unknown: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    match: Match
    action: Action
    label: str  # how a person finds it: "table inet filter chain forward handle 12"
    target: str | None = None  # chain key for JUMP/GOTO
    line: int | None = None  # line in the policy file, where the format has lines
    # Reject rather than drop: same verdict, but the finding can say who refuses.
    reject: bool = False


@dataclass(frozen=True, slots=True)
class Chain:
    key: str  # unique in the ruleset; JUMP/GOTO targets use it
    rules: tuple[Rule, ...]
    # Base chains: what happens to a packet no rule decided (ACCEPT or DROP). Regular
    # chains: None (the packet returns to the caller).
    policy: Action | None = None
    policy_label: str = ""  # "table inet filter chain forward policy drop"
    families: frozenset[int] | None = None  # the table's family: ip → {4}, ip6 → {6}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # unknown-construct, undecidable, overly-permissive, shadowed, legacy-port, …
    rule: str  # the rule's label ("" when it is about the whole file)
    detail: str
    severity: str = "warning"  # error | warning | info

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "rule": self.rule,
            "detail": self.detail,
            "severity": self.severity,
        }


@dataclass
class Ruleset:
    format: str
    file: str
    chains: dict[str, Chain]
    # Position → keys of the base chains hooked there, in the order a packet meets them.
    # Positions: prerouting, forward, postrouting, input, output.
    hooks: dict[str, tuple[str, ...]]
    # True for host-based policies (Azure NSG, AWS SG, Windows Firewall): without --host
    # the policy stands at both ends of every flow (output at the source, input at the
    # destination) instead of on a forward path.
    host_policy: bool = False
    findings: list[Finding] = field(default_factory=list)
    # Names of what the file holds, for the report header ("3 tables, 12 chains, 240 rules").
    summary: str = ""

    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains.values())


@dataclass(frozen=True)
class ParseOptions:
    windows_profile: str = "domain"  # domain | private | public


class PolicyParser(ABC):
    """One policy format. Register it in ``hybridports.audit.PARSERS``."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def parse(self, text: str, file: str, options: ParseOptions) -> Ruleset:
        """The whole file as a Ruleset. A malformed file raises PolicyError naming file and
        line; a construct this parser cannot evaluate becomes ``Match.unknown`` plus a
        finding of kind ``unknown-construct`` — never a silent allow and never dropped."""
