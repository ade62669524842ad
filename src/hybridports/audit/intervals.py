"""Sets of integers as sorted, disjoint, inclusive intervals: ports and addresses alike.

Addresses of both families share one number line so a rule's address set is one value:
IPv4 addresses are 0 … 2^32-1, IPv6 addresses follow at V6_BASE. Every operation is linear in
the number of intervals; nothing ever iterates over the ports or addresses themselves.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

V6_BASE = 1 << 32
ADDRESS_MAX = V6_BASE + (1 << 128) - 1
PORT_MAX = 65535


@dataclass(frozen=True, slots=True)
class Intervals:
    """An immutable set of integers: ((low, high), …) sorted, disjoint, not adjacent."""

    spans: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def of(spans: Iterable[tuple[int, int]]) -> Intervals:
        ordered = sorted((lo, hi) for lo, hi in spans if lo <= hi)
        merged: list[tuple[int, int]] = []
        for lo, hi in ordered:
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return Intervals(tuple(merged))

    @staticmethod
    def span(low: int, high: int) -> Intervals:
        return Intervals(((low, high),)) if low <= high else EMPTY

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __contains__(self, value: int) -> bool:
        return any(lo <= value <= hi for lo, hi in self.spans)

    def __or__(self, other: Intervals) -> Intervals:
        if not other.spans:
            return self
        if not self.spans:
            return other
        return Intervals.of(self.spans + other.spans)

    def __and__(self, other: Intervals) -> Intervals:
        a, b = self.spans, other.spans
        if not a or not b:
            return EMPTY
        out: list[tuple[int, int]] = []
        i = j = 0
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return Intervals(tuple(out))

    def __sub__(self, other: Intervals) -> Intervals:
        if not self.spans or not other.spans:
            return self
        out: list[tuple[int, int]] = []
        b = other.spans
        j = 0
        for lo, hi in self.spans:
            while j < len(b) and b[j][1] < lo:
                j += 1
            k = j
            cur = lo
            while k < len(b) and b[k][0] <= hi:
                if b[k][0] > cur:
                    out.append((cur, b[k][0] - 1))
                cur = max(cur, b[k][1] + 1)
                k += 1
            if cur <= hi:
                out.append((cur, hi))
        return Intervals(tuple(out))

    def complement(self, universe: Intervals) -> Intervals:
        return universe - self

    def issubset(self, other: Intervals) -> bool:
        return not (self - other)

    def size(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.spans)

    @property
    def low(self) -> int:
        return self.spans[0][0]

    @property
    def high(self) -> int:
        return self.spans[-1][1]

    def as_lists(self) -> list[list[int]]:
        return [[lo, hi] for lo, hi in self.spans]

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.spans)


EMPTY = Intervals()
ALL_PORTS = Intervals.span(0, PORT_MAX)
ALL_V4 = Intervals.span(0, V6_BASE - 1)
ALL_V6 = Intervals.span(V6_BASE, ADDRESS_MAX)
ALL_ADDRESSES = Intervals.span(0, ADDRESS_MAX)


def network_interval(text: str | ipaddress.IPv4Network | ipaddress.IPv6Network) -> Intervals:
    """An address or CIDR (host bits allowed, as firewalls accept them) on the shared line."""
    net = text if not isinstance(text, str) else ipaddress.ip_network(text, strict=False)
    base = 0 if net.version == 4 else V6_BASE
    return Intervals.span(base + int(net.network_address), base + int(net.broadcast_address))


def address_range(first: str, last: str) -> Intervals:
    """An address range ``first-last`` (iptables -m iprange, nft ranges, Windows ranges)."""
    a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
    if a.version != b.version:
        raise ValueError(f"{first}-{last} mixes IPv4 and IPv6")
    base = 0 if a.version == 4 else V6_BASE
    return Intervals.span(base + int(a), base + int(b))


def family_of(value: int) -> int:
    return 4 if value < V6_BASE else 6


def format_addresses(values: Intervals, limit: int = 4) -> str:
    """Addresses back in CIDR form for findings: '10.0.0.0/8, 192.0.2.7'."""
    if values == ALL_ADDRESSES:
        return "any"
    parts: list[str] = []
    for lo, hi in values.spans:
        for version, base, top in ((4, 0, V6_BASE - 1), (6, V6_BASE, ADDRESS_MAX)):
            a, b = max(lo, base), min(hi, top)
            if a > b:
                continue
            cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            parts.extend(
                str(net.network_address) if net.num_addresses == 1 else str(net)
                for net in ipaddress.summarize_address_range(cls(a - base), cls(b - base))
            )
    if values & ALL_V4 == ALL_V4:
        parts = ["0.0.0.0/0", *[p for p in parts if ":" in p]]
    if values & ALL_V6 == ALL_V6:
        parts = [*[p for p in parts if ":" not in p], "::/0"]
    shown = parts[:limit]
    return ", ".join(shown) + (f", … ({len(parts) - limit} more)" if len(parts) > limit else "")
