"""nftables: one ``table inet hybridports`` file that ``nft -f`` loads in one transaction."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from hybridports.model import PortRange, Transport
from hybridports.render.common import (
    FAMILIES,
    WRAP,
    Mismatch,
    Network,
    Part,
    address_text,
    any_egress,
    explanation,
    icmp_type,
    id_comment,
    mismatch_warning,
    split,
    who,
)
from hybridports.render.interface import (
    AllowRule,
    Endpoint,
    Rendered,
    Renderer,
    RenderError,
    RuleSet,
)

TABLE = "hybridports"
NFT_COMMENT_MAX = 128  # nft refuses longer comments


# ----------------------------------------------------------------------------- nftables

_SET_NAME = re.compile(r"[^a-z0-9_]+")


class _Sets:
    """Named sets: one per distinct address group of a family, named after its hosts."""

    def __init__(self) -> None:
        self.by_members: dict[tuple[Network, ...], str] = {}
        self.labels: dict[str, str] = {}

    def reference(self, members: tuple[Network, ...], endpoint: Endpoint) -> str:
        if len(members) == 1:
            return address_text(members[0])
        name = self.by_members.get(members)
        if name is None:
            name = self._name(members[0].version, endpoint)
            self.by_members[members] = name
            self.labels[name] = who(endpoint)
        return "@" + name

    def _name(self, family: int, endpoint: Endpoint) -> str:
        words = list(endpoint.hosts or endpoint.names) or ["addresses"]
        base = _SET_NAME.sub("_", "_".join(words).lower()).strip("_")
        if len(base) > 40:
            first = _SET_NAME.sub("_", words[0].lower()).strip("_")[:24]
            base = f"{first}_and_{len(words) - 1}_more"
        base = f"v{family}_{base}"
        name, serial = base, 1
        taken = set(self.by_members.values())
        while name in taken:
            serial += 1
            name = f"{base}_{serial}"
        return name

    def definitions(self) -> list[str]:
        lines: list[str] = []
        for members, name in self.by_members.items():
            family = members[0].version
            label = textwrap.wrap(self.labels[name], WRAP, break_on_hyphens=False)
            lines += [f"\t# {line}" for line in label]
            lines.append(f"\tset {name} {{")
            lines.append(f"\t\ttype {'ipv4_addr' if family == 4 else 'ipv6_addr'}")
            if any(m.prefixlen < m.max_prefixlen for m in members):
                lines.append("\t\tflags interval")
            texts = [address_text(m) for m in members]
            if len(texts) <= 4:
                lines.append(f"\t\telements = {{ {', '.join(texts)} }}")
            else:
                lines.append("\t\telements = {")
                for start in range(0, len(texts), 6):
                    chunk = texts[start : start + 6]
                    last = start + 6 >= len(texts)
                    lines.append("\t\t\t" + ", ".join(chunk) + ("" if last else ","))
                lines.append("\t\t}")
            lines.append("\t}")
            lines.append("")
        return lines


def _ports(ports: tuple[PortRange, ...]) -> str:
    texts = [str(p.low) if p.low == p.high else f"{p.low}-{p.high}" for p in ports]
    return texts[0] if len(texts) == 1 else "{ " + ", ".join(texts) + " }"


def _match(part: Part, sets: _Sets) -> list[str]:
    """The match expressions of one part (addresses, then transport and ports)."""
    rule = part.rule
    words: list[str] = []
    family = {4: "ip", 6: "ip6", None: ""}[part.family]
    if part.sources is not None:
        words.append(f"{family} saddr {sets.reference(part.sources, rule.source)}")
    if part.destinations is not None:
        words.append(f"{family} daddr {sets.reference(part.destinations, rule.destination)}")
    if rule.transport is Transport.ICMP:
        versions = [part.family] if part.family else list(FAMILIES)
        return [
            " ".join([*words, _icmp(rule.ports, version)]) for version in versions
        ]  # a family-free ICMP rule needs both ICMP protocols
    words.append(f"{rule.transport.value} dport {_ports(rule.ports)}")
    return [" ".join(words)]


def _icmp(ports: tuple[PortRange, ...], family: int) -> str:
    types = sorted({icmp_type(p, family) for p in ports})
    names = {(4, 8): "echo-request", (6, 128): "echo-request"}
    texts = [names.get((family, t), str(t)) for t in types]
    keyword = "icmp" if family == 4 else "icmpv6"
    shown = texts[0] if len(texts) == 1 else "{ " + ", ".join(texts) + " }"
    return f"{keyword} type {shown}"


@dataclass
class _Chain:
    name: str
    hook: str
    lines: list[str]


class NftablesRenderer(Renderer):
    name = "nftables"
    description = "nftables: a complete `table inet hybridports` file for `nft -f`"

    def render(self, rules: RuleSet, title: str) -> Rendered:
        host_mode = rules.host is not None
        groups = (
            [("input", "input", rules.inbound), ("output", "output", rules.outbound)]
            if host_mode
            else [("forward", "forward", rules.forward)]
        )
        sets = _Sets()
        chains: list[_Chain] = []
        mismatches: list[Mismatch] = []
        expressible = planned = 0
        ipv6 = False
        for name, hook, chain_rules in groups:
            parts_by_rule: list[list[Part]] = []
            for rule in chain_rules:
                parts, missed = split(rule)
                parts_by_rule.append(parts)
                mismatches.extend(missed)
                planned += 1
                expressible += bool(parts)
                ipv6 = ipv6 or any(p.family in (6, None) for p in parts)
            chains.append(_Chain(name, hook, self._rules(chain_rules, parts_by_rule, sets)))
        if planned and not expressible:
            raise RenderError(
                "no rule of this plan is expressible: every one pairs IPv4-only with IPv6-only "
                "addresses"
            )
        ipv6 = ipv6 or any(":" in a for a in rules.host_addresses)
        warning = mismatch_warning(mismatches)
        warnings = (warning,) if warning else ()
        text = self._document(rules, title, sets, chains, host_mode, ipv6, warnings)
        return Rendered(text, warnings)

    def _rules(
        self, chain_rules: Sequence[AllowRule], parts_by_rule: Sequence[list[Part]], sets: _Sets
    ) -> list[str]:
        lines: list[str] = []
        for rule, parts in zip(chain_rules, parts_by_rule, strict=True):
            if not parts:
                continue
            comment = id_comment(rule, NFT_COMMENT_MAX)
            fits = len(", ".join(rule.catalog_ids)) <= NFT_COMMENT_MAX
            lines.append("")
            lines.extend(f"\t\t# {line}" for line in explanation(rule, fits))
            lines += [
                f'\t\t{match} accept comment "{comment}"'
                for part in parts
                for match in _match(part, sets)
            ]
        return lines

    def _document(
        self,
        rules: RuleSet,
        title: str,
        sets: _Sets,
        chains: Sequence[_Chain],
        host_mode: bool,
        ipv6: bool,
        warnings: Sequence[str],
    ) -> str:
        every = [*rules.forward, *rules.inbound, *rules.outbound]
        out = ["#!/usr/sbin/nft -f", f"# {title}", "#"]
        out += [f"# {line}" for line in _preamble(rules, host_mode, any_egress(every))]
        for warning in warnings:
            out += [
                f"# {line}"
                for line in textwrap.wrap("warning: " + warning, WRAP, break_on_hyphens=False)
            ]
        out += [
            "",
            "# Declaring then deleting the table makes a reload replace it whole, in the same",
            "# transaction (the declaration makes the delete work on the first load too).",
            f"table inet {TABLE}",
            f"delete table inet {TABLE}",
            "",
            f"table inet {TABLE} {{",
        ]
        out += sets.definitions()
        for index, chain in enumerate(chains):
            out.append(f"\tchain {chain.name} {{")
            out.append(f"\t\ttype filter hook {chain.hook} priority filter; policy drop;")
            out.append(
                '\t\tct state established,related accept comment "return traffic of allowed '
                'connections"'
            )
            out.append('\t\tct state invalid drop comment "no connection this ruleset knows"')
            if host_mode:
                interface = "iif" if chain.hook == "input" else "oif"
                out.append(f'\t\t{interface} "lo" accept comment "the host talking to itself"')
                if ipv6:
                    out.append(_neighbour_discovery(chain.hook))
            out += chain.lines
            out.append("\t}")
            if index < len(chains) - 1:
                out.append("")
        out.append("}")
        return "\n".join(out) + "\n"


def _neighbour_discovery(hook: str) -> str:
    types = (
        "nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert"
        if hook == "input"
        else "nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit"
    )
    return (
        f"\t\ticmpv6 type {{ {types} }} accept comment "
        '"IPv6 neighbour discovery: without it no IPv6 peer is reachable"'
    )


def _preamble(rules: RuleSet, host_mode: bool, cloud_any: bool) -> list[str]:
    if host_mode:
        lines = [
            f"The own rules of host {rules.host} ({', '.join(rules.host_addresses)}): "
            "inbound rules (chain input) match traffic to it, outbound rules (chain output) "
            "traffic from it. Allowed: every planned flow from or to this host, the return "
            "traffic of allowed connections and loopback; everything else in or out is "
            "dropped.",
        ]
    else:
        lines = [
            "A firewall between the hosts (forward path). Allowed: every planned flow and the "
            "return traffic of allowed connections; everything else forwarded is dropped. "
            "Rules match addresses, not interfaces, so they hold on any interface layout.",
        ]
    lines.append(
        "Load with: nft -f FILE (one transaction; it replaces table inet hybridports whole). "
        "Each rule's comment holds its catalog ids; the lines above it say why it exists."
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
