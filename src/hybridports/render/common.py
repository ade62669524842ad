"""What the render targets share: a rule split into its IPv4 and IPv6 halves, the warning
for pairs no packet can match, prefix collapsing, and the comment text every rule carries.
"""

from __future__ import annotations

import ipaddress
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hybridports.model import PortRange
from hybridports.render.interface import AllowRule, Endpoint, RenderError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FAMILIES = (4, 6)
WRAP = 96


@dataclass(frozen=True)
class Part:
    """One address family of an AllowRule: what a family-bound firewall line can match.

    ``family`` is None when neither side names an address (both "any"): the rule then holds
    for both families. ``sources``/``destinations`` are None for "any address".
    """

    rule: AllowRule
    family: int | None
    sources: tuple[Network, ...] | None
    destinations: tuple[Network, ...] | None


@dataclass(frozen=True)
class Mismatch:
    """Addresses of one family on one side whose other side has none of that family."""

    rule: AllowRule
    unmatched: tuple[Network, ...]
    side: str  # "destinations" or "sources": where the unmatched addresses are
    others: tuple[Network, ...]  # the other side's addresses (all of the other family)


def networks(endpoint: Endpoint) -> dict[int, tuple[Network, ...]]:
    """The endpoint's addresses by IP version, overlaps collapsed (nft sets refuse them)."""
    found: dict[int, list[Network]] = defaultdict(list)
    for text in endpoint.addresses:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            # An unresolved name (a proxy host, say) must never reach a rule as text.
            raise RenderError(
                f"{text!r} ({', '.join(endpoint.hosts or endpoint.names)}) is not an IP "
                "address or network; address rules need one (did the name resolve?)"
            ) from None
        found[network.version].append(network)
    return {version: _without_overlaps(items) for version, items in sorted(found.items())}


def _without_overlaps(items: list[Network]) -> tuple[Network, ...]:
    """Drop networks inside others; adjacent hosts stay apart (a /31 hides two host names)."""
    ordered = sorted(set(items), key=lambda n: (n.network_address, -n.prefixlen))
    kept: list[Network] = []
    for network in ordered:
        if kept and network.subnet_of(kept[-1]):  # type: ignore[arg-type]
            continue
        kept.append(network)
    return tuple(kept)


def split(rule: AllowRule) -> tuple[list[Part], list[Mismatch]]:
    """The rule's per-family parts, and the addresses no packet of the rule can reach.

    A pair of an IPv4-only and an IPv6-only address cannot meet over IP, so such pairs are
    not expressible by any firewall: the caller warns about them instead of dropping them
    silently.
    """
    source = None if rule.source.any else networks(rule.source)
    destination = None if rule.destination.any else networks(rule.destination)
    if source is None and destination is None:
        return [Part(rule, None, None, None)], []
    parts: list[Part] = []
    mismatches: list[Mismatch] = []
    for family in FAMILIES:
        here = [side for side in (source, destination) if side is not None]
        if not all(family in side for side in here):
            for side, other, label in (
                (source, destination, "sources"),
                (destination, source, "destinations"),
            ):
                if side is not None and family in side and other is not None:
                    others = tuple(n for nets in other.values() for n in nets)
                    mismatches.append(Mismatch(rule, side[family], label, others))
            continue
        parts.append(
            Part(
                rule,
                family,
                None if source is None else source[family],
                None if destination is None else destination[family],
            )
        )
    return parts, mismatches


def address_text(network: Network) -> str:
    """A host as its plain address, a network in CIDR form."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _few(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def mismatch_warning(mismatches: Iterable[Mismatch]) -> str | None:
    """One warning naming every left-out mixed-family pair, grouped by addresses."""
    groups: dict[tuple[str, tuple[Network, ...], tuple[Network, ...]], list[str]] = {}
    for item in mismatches:
        ids = groups.setdefault((item.side, item.unmatched, item.others), [])
        ids.extend(i for i in item.rule.catalog_ids if i not in ids)
    if not groups:
        return None
    described = []
    for (side, unmatched, others), ids in groups.items():
        version = unmatched[0].version
        other = "sources" if side == "destinations" else "destinations"
        described.append(
            f"IPv{version} {side} {_few([address_text(n) for n in unmatched], 3)} with "
            f"{other} {_few([address_text(n) for n in others], 3)} that have no IPv{version} "
            f"address ({_few(ids, 4)})"
        )
    return (
        "left out address pairs that mix IPv4 and IPv6, which no packet can match (give "
        "both ends an address of the family they talk over): " + "; ".join(described)
    )


def clean(text: str) -> str:
    """Text safe inside a double-quoted rule comment of nft and iptables-restore."""
    text = " ".join(text.split())
    text = text.replace('"', "'").replace("\\", "/")
    return text.encode("ascii", "replace").decode("ascii")


def id_comment(rule: AllowRule, limit: int) -> str:
    """The catalog ids, as many as fit in ``limit`` characters (the rest: "+N more")."""
    ids = list(rule.catalog_ids)
    text = ", ".join(ids)
    shown = len(ids)
    while len(text) > limit and shown > 1:
        shown -= 1
        text = ", ".join(ids[:shown]) + f" +{len(ids) - shown} more"
    return clean(text)[:limit]


def explanation(rule: AllowRule, ids_fit: bool) -> list[str]:
    """The lines above a rule: catalog ids, required or not, purposes, who talks to whom."""
    need = "required" if rule.required else "optional"
    lines = [f"{', '.join(rule.catalog_ids)} ({need}): {'; '.join(rule.purposes)}"]
    lines.append(f"{who(rule.source)} -> {who(rule.destination)}")
    if rule.rpc_dynamic:
        lines.append("the DCs' dynamic RPC range: narrow it on the DCs to narrow this rule")
    if rule.note:
        lines.append(rule.note)
    if not ids_fit:
        lines.append("(the rule comment holds the first of these catalog ids only)")
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(" ".join(line.split()), WRAP, break_on_hyphens=False) or [""])
    return out


def who(endpoint: Endpoint) -> str:
    if endpoint.any:
        if endpoint.names:
            return "any address, standing for " + ", ".join(endpoint.names)
        return "any address"
    if endpoint.hosts:
        return ", ".join(endpoint.hosts)
    if endpoint.names:  # --cloud-egress resolve: the names behind the pinned addresses
        return ", ".join(endpoint.names) + " (" + ", ".join(endpoint.addresses) + ")"
    return ", ".join(endpoint.addresses)


def any_egress(rules: Iterable[AllowRule]) -> bool:
    return any(r.destination.any and r.destination.names for r in rules)


ICMP_ECHO = 8  # the catalog writes ICMP echo as "port" 8, its ICMPv4 type


def icmp_type(port: PortRange, family: int) -> int:
    """The ICMP type number for the family (echo request: 8, ICMPv6: 128)."""
    if port.low != port.high:
        raise RenderError(f"ICMP types {port.low}-{port.high}: only single types are expressible")
    if family == 4:
        return port.low
    if port.low == ICMP_ECHO:
        return 128
    raise RenderError(f"ICMP type {port.low} has no ICMPv6 counterpart this target knows")


def collapse(networks: Iterable[Network]) -> list[Network]:
    """Adjacent and nested networks merged into the fewest prefixes covering the same addresses."""
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]
