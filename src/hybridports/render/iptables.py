"""iptables / ip6tables: a ``*filter`` table in iptables-restore format, one file per family.

No ipset dependency: an address group is a comma list (``-s a,b,c``), which iptables expands
into one kernel rule per source/destination pair. iptables-restore reads a parameter of at
most 1024 characters, so long lists are cut into chunks, each on its own line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import ClassVar

from hybridports.model import PortRange, Transport
from hybridports.render.common import (
    WRAP,
    Mismatch,
    Network,
    Part,
    address_text,
    any_egress,
    clean,
    explanation,
    icmp_type,
    id_comment,
    mismatch_warning,
    split,
)
from hybridports.render.interface import AllowRule, Rendered, Renderer, RenderError, RuleSet

COMMENT_MAX = 255  # xt_comment keeps 256 bytes including the terminating NUL
LIST_MAX = 1000  # below iptables-restore's 1024-character parameter buffer
MULTIPORT_MAX = 15  # multiport: at most 15 ports, a range counts as two


def _chunks(networks: tuple[Network, ...] | None) -> list[str | None]:
    """Comma lists of at most LIST_MAX characters (None: any address, no -s/-d)."""
    if networks is None:
        return [None]
    chunks: list[str | None] = []
    current = ""
    for network in networks:
        text = address_text(network)
        if current and len(current) + 1 + len(text) > LIST_MAX:
            chunks.append(current)
            current = ""
        current = f"{current},{text}" if current else text
    chunks.append(current)
    return chunks


def _factor(part: Part) -> bool:
    """Whether the address pairs are many enough to be worth a chain of their own.

    iptables expands ``-s a,b -d c,d`` into every pair; a chain keeps the count at the sum.
    Below twice the sum a flat rule reads better.
    """
    if part.sources is None or part.destinations is None:
        return False
    count_s, count_d = len(part.sources), len(part.destinations)
    return count_s * count_d > 2 * (count_s + count_d)


def _chain_name(serial: int, rule: AllowRule) -> str:
    # iptables chain names: at most 28 characters.
    return f"hp{serial}-{rule.catalog_ids[0]}"[:28].rstrip("-")


def _line(
    chain: str,
    source: str | None,
    destination: str | None,
    protocol: str | None,
    tail: str,
    target: str,
) -> str:
    words = [f"-A {chain}"]
    if source is not None:
        words.append(f"-s {source}")
    if destination is not None:
        words.append(f"-d {destination}")
    if protocol is not None:
        words.append(protocol)
    words += [tail, f"-j {target}"]
    return " ".join(words)


def _port_groups(ports: tuple[PortRange, ...]) -> list[tuple[PortRange, ...]]:
    """Groups that fit one multiport match (a range takes two of its 15 slots)."""
    groups: list[tuple[PortRange, ...]] = []
    current: list[PortRange] = []
    slots = 0
    for port in ports:
        cost = 1 if port.low == port.high else 2
        if current and slots + cost > MULTIPORT_MAX:
            groups.append(tuple(current))
            current, slots = [], 0
        current.append(port)
        slots += cost
    groups.append(tuple(current))
    return groups


def _port_text(port: PortRange) -> str:
    return str(port.low) if port.low == port.high else f"{port.low}:{port.high}"


class IptablesRenderer(Renderer):
    name: ClassVar[str] = "iptables"
    description: ClassVar[str] = "iptables-restore file, IPv4 (IPv6 flows: --target ip6tables)"
    ip_versions: ClassVar[tuple[int, ...]] = (4,)
    family: ClassVar[int] = 4
    other: ClassVar[str] = "ip6tables"

    def render(self, rules: RuleSet, title: str) -> Rendered:
        host_mode = rules.host is not None
        groups = (
            [("INPUT", rules.inbound), ("OUTPUT", rules.outbound)]
            if host_mode
            else [("FORWARD", rules.forward)]
        )
        mismatches: list[Mismatch] = []
        elsewhere: list[AllowRule] = []  # rules that only the other family's target can hold
        body: dict[str, list[str]] = {}
        user_chains: list[str] = []
        kept = 0
        for chain, chain_rules in groups:
            lines: list[str] = []
            for rule in chain_rules:
                parts, missed = split(rule)
                mismatches.extend(missed)
                mine = [p for p in parts if p.family in (None, self.family)]
                if any(p.family not in (None, self.family) for p in parts):
                    elsewhere.append(rule)
                if mine:
                    kept += 1
                    lines.extend(self._rule(chain, rule, mine, user_chains))
            body[chain] = lines
        if not kept and elsewhere:
            raise RenderError(
                f"--target {self.name} has nothing to write: no rule of this plan has "
                f"IPv{self.family} addresses at both ends (use --target {self.other})"
            )
        if not kept and mismatches:
            raise RenderError(
                "no rule of this plan is expressible: every one pairs IPv4-only with IPv6-only "
                "addresses"
            )
        warnings: list[str] = []
        if elsewhere:
            other = "IPv6" if self.family == 4 else "IPv4"
            ids = [i for r in elsewhere for i in r.catalog_ids]
            warnings.append(
                f"left out {len(elsewhere)} {other} rules: render them with --target "
                f"{self.other} ({', '.join(dict.fromkeys(ids))})"
            )
        mixed = mismatch_warning(mismatches)
        if mixed:
            warnings.append(mixed)
        text = self._document(rules, title, host_mode, body, user_chains, warnings)
        return Rendered(text, tuple(warnings))

    def _rule(
        self, chain: str, rule: AllowRule, parts: Sequence[Part], user_chains: list[str]
    ) -> list[str]:
        comment = id_comment(rule, COMMENT_MAX)
        purposes = clean("; ".join(rule.purposes))
        room = COMMENT_MAX - len(comment) - 2
        if room > 10:
            comment = f"{comment}: {purposes[:room]}"
        fits = len(", ".join(rule.catalog_ids)) <= COMMENT_MAX
        tail = f'-m comment --comment "{comment}"'
        lines = ["", *(f"# {line}" for line in explanation(rule, fits))]
        for part in parts:
            sources, destinations = _chunks(part.sources), _chunks(part.destinations)
            if _factor(part):
                # Destinations and ports jump to a chain that checks the sources: S + D kernel
                # rules instead of S x D.
                target = _chain_name(len(user_chains) + 1, rule)
                user_chains.append(target)
                lines += [
                    _line(chain, None, destination, protocol, tail, target)
                    for destination in destinations
                    for protocol in self._protocol(rule)
                ]
                lines += [_line(target, s, None, None, tail, "ACCEPT") for s in sources]
                continue
            for source in sources:
                for destination in destinations:
                    for protocol in self._protocol(rule):
                        lines.append(_line(chain, source, destination, protocol, tail, "ACCEPT"))
        return lines

    def _protocol(self, rule: AllowRule) -> list[str]:
        """The protocol and port matches (one per multiport group or ICMP type)."""
        if rule.transport is Transport.ICMP:
            types = sorted({icmp_type(p, self.family) for p in rule.ports})
            if self.family == 4:
                return [f"-p icmp -m icmp --icmp-type {t}" for t in types]
            return [f"-p ipv6-icmp -m icmp6 --icmpv6-type {t}" for t in types]
        proto = rule.transport.value
        if len(rule.ports) == 1:
            return [f"-p {proto} -m {proto} --dport {_port_text(rule.ports[0])}"]
        return [
            f"-p {proto} -m multiport --dports {','.join(_port_text(p) for p in group)}"
            for group in _port_groups(rule.ports)
        ]

    def _document(
        self,
        rules: RuleSet,
        title: str,
        host_mode: bool,
        body: dict[str, list[str]],
        user_chains: Sequence[str],
        warnings: Sequence[str],
    ) -> str:
        every = [*rules.forward, *rules.inbound, *rules.outbound]
        out = [f"# {title}", "#"]
        out += [f"# {line}" for line in self._preamble(rules, host_mode, any_egress(every))]
        for warning in warnings:
            wrapped = textwrap.wrap("warning: " + warning, WRAP, break_on_hyphens=False)
            out += [f"# {line}" for line in wrapped]
        policy = {"INPUT": "DROP", "FORWARD": "DROP", "OUTPUT": "DROP"}
        if not host_mode:
            policy["INPUT"] = policy["OUTPUT"] = "ACCEPT"  # the firewall's own traffic: not ours
        out += ["", "*filter"]
        out += [f":{chain} {action} [0:0]" for chain, action in policy.items()]
        out += [f":{chain} - [0:0]" for chain in user_chains]
        for chain, lines in body.items():
            out.append(
                f"-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED "
                '-m comment --comment "return traffic of allowed connections" -j ACCEPT'
            )
            out.append(
                f"-A {chain} -m conntrack --ctstate INVALID "
                '-m comment --comment "no connection this ruleset knows" -j DROP'
            )
            if host_mode:
                flag = "-i" if chain == "INPUT" else "-o"
                out.append(
                    f'-A {chain} {flag} lo -m comment --comment "the host talking to itself" '
                    "-j ACCEPT"
                )
                if self.family == 6:
                    out += _neighbour_discovery(chain)
            out += lines
        out.append("COMMIT")
        return "\n".join(out) + "\n"

    def _preamble(self, rules: RuleSet, host_mode: bool, cloud_any: bool) -> list[str]:
        family = f"IPv{self.family}"
        if host_mode:
            lines = [
                f"The own {family} rules of host {rules.host} "
                f"({', '.join(rules.host_addresses)}): INPUT matches traffic to it, OUTPUT "
                "traffic from it. Allowed: every planned flow from or to this host, the return "
                "traffic of allowed connections and loopback; everything else is dropped "
                "(FORWARD too).",
            ]
        else:
            lines = [
                f"The {family} rules of a firewall between the hosts (FORWARD). Allowed: every "
                "planned flow and the return traffic of allowed connections; everything else "
                "forwarded is dropped. INPUT and OUTPUT (the firewall's own traffic) stay "
                "ACCEPT: restoring this file replaces the whole filter table, so merge by hand "
                "if the firewall has INPUT or OUTPUT rules of its own.",
            ]
        lines.append(
            f"Load with: {self.name}-restore FILE (check first: {self.name}-restore --test "
            "FILE). Each rule's comment holds its catalog ids and purpose; the lines above it "
            "say why it exists. Comma address lists expand to one kernel rule per address pair."
        )
        if cloud_any:
            lines.append(
                "Cloud endpoints are names, which address rules cannot hold: their rules allow "
                "the planned ports to any address, with the names listed above each rule "
                "(--cloud-egress proxy or resolve narrows them)."
            )
        out: list[str] = []
        for line in lines:
            out.extend(textwrap.wrap(line, WRAP, break_on_hyphens=False))
        return out


def _neighbour_discovery(chain: str) -> list[str]:
    # 133 router solicitation, 134 router advertisement, 135/136 neighbour solicit/advert.
    types = (135, 136, 134) if chain == "INPUT" else (135, 136, 133)
    return [
        f"-A {chain} -p ipv6-icmp -m icmp6 --icmpv6-type {t} -m comment --comment "
        '"IPv6 neighbour discovery: without it no IPv6 peer is reachable" -j ACCEPT'
        for t in types
    ]


class Ip6tablesRenderer(IptablesRenderer):
    name: ClassVar[str] = "ip6tables"
    description: ClassVar[str] = "ip6tables-restore file, IPv6 (IPv4 flows: --target iptables)"
    ip_versions: ClassVar[tuple[int, ...]] = (6,)
    family: ClassVar[int] = 6
    other: ClassVar[str] = "iptables"
