"""Azure network security groups: ARM templates and ``az network nsg show``/``list`` output.

An NSG applies at a host: its inbound rules become a base chain hooked at ``input``, its
outbound rules one hooked at ``output``. Rules are evaluated by priority, lowest first, and
the first match decides (Allow → accept, Deny → drop). The platform's default rules
(priorities 65000 to 65500) are added whenever the file does not list them (ARM templates never
do). A file with several NSGs has them all applied in turn — a packet must pass each — which
models the NSG of a NIC together with the NSG of its subnet.

Service tags: ``Internet`` is the public address space (plus the tag ``internet``),
``VirtualNetwork`` the private ranges (an approximation: a finding says so),
``AzureLoadBalancer`` the platform's health-probe address; every other tag matches by name
only (its addresses are not known here). Application security groups are unresolved
references. An ARM expression in a rule field is not evaluated (deployment parameters can
override defaults): the rule keeps it as an unknown construct.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hybridports.audit.azure_exports import RawNsg, RawRule, is_expression, lower, read_nsgs
from hybridports.audit.interface import (
    Action,
    AddressMatch,
    Chain,
    Finding,
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
    network_interval,
)
from hybridports.audit.jsontext import load_json


def _networks(*cidrs: str) -> Intervals:
    result = EMPTY
    for cidr in cidrs:
        result |= network_interval(cidr)
    return result


# Large exports repeat the same prefixes in many rules; ipaddress parsing is the slow part.
_prefix = functools.lru_cache(maxsize=4096)(network_interval)
PRIVATE = _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
LOAD_BALANCER = network_interval("168.63.129.16/32")  # the platform's virtual public IP
INTERNET = (ALL_V4 | ALL_V6) - (
    PRIVATE
    | LOAD_BALANCER
    | _networks("127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128")
)
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also takes digits int() refuses ("²")
PROTOCOLS: dict[str, frozenset[str] | None] = {
    "*": None,
    "tcp": frozenset({"tcp"}),
    "udp": frozenset({"udp"}),
    "icmp": frozenset({"icmp", "icmpv6"}),  # Azure's Icmp covers ICMPv6 too
    "esp": frozenset({"50"}),
    "ah": frozenset({"51"}),
}
DIRECTIONS = {"inbound": "input", "outbound": "output"}
# (name, direction, priority, access, source, destination): every NSG has these.
DEFAULT_RULES = (
    ("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*"),
    ("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*"),
)
# Property names as Azure spells them, for messages (the reader lower-cases them).
_SPELLED = {
    name.lower(): name
    for side in ("source", "destination")
    for name in (
        f"{side}AddressPrefix",
        f"{side}AddressPrefixes",
        f"{side}PortRange",
        f"{side}PortRanges",
        f"{side}ApplicationSecurityGroups",
    )
}
VNET_NOTE = (
    "VirtualNetwork is read as the private ranges 10.0.0.0/8, 172.16.0.0/12, "
    "192.168.0.0/16 and 100.64.0.0/10; Azure means the virtual network's address space, "
    "its peered networks and the on-premises ranges connected to it"
)


class AzureNsgParser(PolicyParser):
    name: ClassVar[str] = "azure-nsg"
    description: ClassVar[str] = "Azure NSG: ARM template JSON or `az network nsg show` output"

    def parse(self, text: str, file: str, options: ParseOptions) -> Ruleset:
        nsgs = read_nsgs(load_json(text, file, "an Azure NSG export"), file)
        builder = _Builder(file)
        for nsg in nsgs:
            builder.add(nsg)
        return builder.ruleset()


@dataclass
class _Builder:
    file: str
    chains: dict[str, Chain] = field(default_factory=dict)
    hooks: dict[str, list[str]] = field(default_factory=lambda: {"input": [], "output": []})
    findings: list[Finding] = field(default_factory=list)
    vnet_used: bool = False
    listed: int = 0
    added: int = 0

    def add(self, nsg: RawNsg) -> None:
        name = self._unique(nsg.name)
        rules = list(nsg.rules.values())
        self.listed += len(rules)
        present = {r.name.lower() for r in rules if r.default}
        for rule_name, direction, rank, access, source, destination in DEFAULT_RULES:
            if rule_name.lower() not in present:
                self.added += 1
                fields = {
                    "priority": rank,
                    "direction": direction,
                    "access": access,
                    "protocol": "*",
                    "sourceaddressprefix": source,
                    "destinationaddressprefix": destination,
                    "sourceportrange": "*",
                    "destinationportrange": "*",
                }
                rules.append(RawRule(rule_name, fields, None, default=True))
        by_direction: dict[str, list[_Entry]] = {"inbound": [], "outbound": []}
        for raw in rules:
            readings = _RuleReader(self, name, raw).read()
            for direction, priority, rule in readings:
                # A rule in both chains (direction unknown) sits in one of them only.
                by_direction[direction].append(_Entry(priority, raw, rule, len(readings) == 1))
        for direction, entries in by_direction.items():
            _check_priorities(name, direction, entries, self.file)
            # Unknown priorities first: such a rule might come before any other.
            entries.sort(key=lambda e: (e.priority is not None, e.priority or 0))
            key = f"nsg {name} {direction}"
            self.chains[key] = Chain(
                key,
                tuple(entry.rule for entry in entries),
                Action.DROP,
                f"nsg {name} {direction} policy drop",
            )
            self.hooks[DIRECTIONS[direction]].append(key)

    def _unique(self, name: str) -> str:
        """Two NSGs of one name (resource groups differ): number the later ones."""
        taken = {key.rsplit(" ", 1)[0] for key in self.chains}
        candidate, number = name, 1
        while f"nsg {candidate}" in taken:
            number += 1
            candidate = f"{name} [{number}]"
        return candidate

    def ruleset(self) -> Ruleset:
        if self.vnet_used:
            self.findings.insert(0, Finding("approximation", "", VNET_NOTE, "info"))
        count = len(self.chains) // 2
        summary = (
            f"{count} NSG{'s' if count != 1 else ''}"
            + (" (all applied in turn, as NIC and subnet NSGs are)" if count > 1 else "")
            + f", {self.listed} rules listed, {self.added} default rules added"
        )
        return Ruleset(
            format=AzureNsgParser.name,
            file=self.file,
            chains=self.chains,
            hooks={position: tuple(keys) for position, keys in self.hooks.items()},
            host_policy=True,
            findings=self.findings,
            summary=summary,
        )


@dataclass(frozen=True)
class _Entry:
    priority: int | None  # None: an expression
    raw: RawRule
    rule: Rule
    certain: bool  # the rule's direction is known


def _check_priorities(nsg: str, direction: str, entries: list[_Entry], file: str) -> None:
    seen: dict[int, RawRule] = {}
    for entry in entries:
        priority, raw = entry.priority, entry.raw
        if priority is None or not entry.certain:
            continue
        if priority in seen:
            raise PolicyError(
                f"nsg {nsg}: rules {seen[priority].name} and {raw.name} both have {direction} "
                f"priority {priority} (Azure refuses it)",
                file=file,
                line=raw.line,
            )
        seen[priority] = raw


class _RuleReader:
    """One raw rule → a Rule per direction it applies to."""

    def __init__(self, builder: _Builder, nsg: str, raw: RawRule) -> None:
        self.builder, self.nsg, self.raw = builder, nsg, raw
        self.where = f"nsg {nsg} rule {raw.name}"
        self.unknown: list[str] = []
        self.unresolved: list[str] = []

    def fail(self, message: str) -> PolicyError:
        return PolicyError(f"{self.where}: {message}", file=self.builder.file, line=self.raw.line)

    def get(self, key: str) -> Any:
        """A field's value; an expression is noted as unknown and read as absent."""
        value = self.raw.fields.get(key)
        if is_expression(value):
            self.unknown.append(f"{_SPELLED.get(key, key)} {value}")
            return _EXPRESSION
        return value

    def read(self) -> list[tuple[str, int | None, Rule]]:
        priority = self._priority()
        directions = self._word("direction", ("inbound", "outbound"))
        access = self._word("access", ("allow", "deny"))
        protocols, portless = self._protocol()
        ports = self._ports("destination")
        source_ports = self._ports("source")
        if portless:  # Azure applies port ranges to TCP and UDP only
            ports = source_ports = None
        source = self._side("source")
        destination = self._side("destination")
        match = Match(
            source=source,
            destination=destination,
            protocols=protocols,
            ports=ports,
            source_ports=source_ports,
            unknown="; ".join(self.unknown) or None,
        )
        action = Action.ACCEPT if access == ["allow"] else Action.DROP
        shown = priority if priority is not None else self.raw.fields.get("priority")
        results = []
        for direction in directions:
            label = f"nsg {self.nsg} {direction} rule {self.raw.name} (priority {shown})"
            if self.raw.default:
                label += " (default rule)"
            results.append((direction, priority, Rule(match, action, label, line=self.raw.line)))
        label = results[0][2].label
        findings = self.builder.findings
        if self.unknown:
            findings.append(
                Finding(
                    "unknown-construct",
                    label,
                    "ARM expression not evaluated (parameters can change at deployment): "
                    + "; ".join(self.unknown),
                )
            )
        findings.extend(
            Finding(
                "unresolved-reference",
                label,
                f"{what}: its members' addresses are not in the file",
            )
            for what in self.unresolved
        )
        return results

    def _priority(self) -> int | None:
        value = self.get("priority")
        if value is None:
            raise self.fail("no priority")
        if value is _EXPRESSION:
            return None
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"priority {value!r} is not a number")
        if not self.raw.default and not 100 <= value <= 4096:
            raise self.fail(f"priority {value} is outside 100-4096")
        return value

    def _word(self, key: str, allowed: tuple[str, ...]) -> list[str]:
        """direction or access: the value, or every allowed value for an expression."""
        value = self.get(key)
        if value is None:
            raise self.fail(f"no {key}")
        if value is _EXPRESSION:
            return list(allowed) if key == "direction" else ["deny"]
        if not isinstance(value, str) or value.lower() not in allowed:
            spelled = " or ".join(a.capitalize() for a in allowed)
            raise self.fail(f"{key} {value!r} is not {spelled}")
        return [value.lower()]

    def _protocol(self) -> tuple[frozenset[str] | None, bool]:
        """(protocols, whether port ranges are ignored)."""
        value = self.get("protocol")
        if value is None:
            raise self.fail("no protocol")
        if value is _EXPRESSION:
            return None, False
        if not isinstance(value, str):
            raise self.fail(f"protocol {value!r} is not a name")
        key = value.strip().lower()
        if key not in PROTOCOLS:
            self.unknown.append(f"protocol {value}")
            return None, False
        return PROTOCOLS[key], key not in ("*", "tcp", "udp")

    def _values(self, single: str, many: str) -> list[Any]:
        """A field's singular and plural forms together (the CLI prints both)."""
        values: list[Any] = []
        one = self.get(single)
        if one is not None and one != "" and one is not _EXPRESSION:
            values.append(one)
        listed = self.get(many)
        if isinstance(listed, list):
            for item in listed:
                if is_expression(item):
                    self.unknown.append(f"{_SPELLED.get(many, many)} {item}")
                else:
                    values.append(item)
        elif listed is not None and listed is not _EXPRESSION:
            raise self.fail(f"{_SPELLED.get(many, many)} must be a list")
        return values

    def _ports(self, side: str) -> Intervals | None:
        before = len(self.unknown)
        values = self._values(f"{side}portrange", f"{side}portranges")
        if not values:
            if len(self.unknown) > before:
                return None  # only expressions: the unknown construct covers it
            raise self.fail(f"no {side} port range")
        ports = Intervals.of(
            span
            for value in values
            for part in (value.split(",") if isinstance(value, str) else [value])
            for span in self._port_range(part, side).spans
        )
        return None if ports == ALL_PORTS else ports

    def _port_range(self, part: Any, side: str) -> Intervals:
        if isinstance(part, int) and not isinstance(part, bool):
            low = high = part
        elif isinstance(part, str):
            text = part.strip()
            if text in ("*", "any", "Any"):
                return ALL_PORTS
            low_text, _, high_text = text.partition("-")
            if not _DIGITS.fullmatch(low_text) or not _DIGITS.fullmatch(high_text or low_text):
                raise self.fail(f"{side} port range {part!r} is not a port, a range or *")
            low, high = int(low_text), int(high_text or low_text)
        else:
            raise self.fail(f"{side} port range {part!r} is not a port, a range or *")
        if not 0 <= low <= high <= PORT_MAX:
            raise self.fail(f"{side} port range {part!r} is not within 0-{PORT_MAX}")
        return Intervals.span(low, high)

    def _side(self, side: str) -> AddressMatch | None:
        before = len(self.unknown)
        values = self._values(f"{side}addressprefix", f"{side}addressprefixes")
        groups = self._groups(side)
        if not values and not groups:
            if len(self.unknown) > before:
                return None
            raise self.fail(f"no {side} address prefix")
        addresses, tags, anything = EMPTY, set(), False
        for value in values:
            if not isinstance(value, str):
                raise self.fail(f"{side} address prefix {value!r} is not text")
            text = value.strip()
            key = text.lower()
            if key in ("*", "any"):
                anything = True
            elif key == "internet":
                addresses |= INTERNET
                tags.add("internet")
            elif key == "virtualnetwork":
                addresses |= PRIVATE
                self.builder.vnet_used = True
            elif key == "azureloadbalancer":
                addresses |= LOAD_BALANCER
            else:
                try:
                    addresses |= _prefix(text)
                except ValueError:
                    if not _TAG.fullmatch(text):
                        raise self.fail(
                            f"{side} address prefix {value!r} is neither an address, a CIDR "
                            "nor a service tag"
                        ) from None
                    tags.add(key)  # a service tag: matched by name, addresses unknown
        unresolved = None
        if groups:
            unresolved = "application security group " + ", ".join(groups)
            self.unresolved.append(f"{side} {unresolved}")
        if anything and unresolved is None:
            return None
        if anything:
            addresses = ALL_V4 | ALL_V6
        return AddressMatch(addresses, frozenset(tags), unresolved)

    def _groups(self, side: str) -> list[str]:
        """Application security groups by id (an id may be an ARM expression: it is a
        reference either way, so it is reported as unresolved, not as unknown)."""
        key = f"{side}applicationsecuritygroups"
        value = self.raw.fields.get(key)
        if value is None:
            return []
        if is_expression(value):
            return [value]
        if not isinstance(value, list):
            raise self.fail(f"{_SPELLED[key]} must be a list")
        ids = []
        for item in value:
            found = lower(item).get("id") if isinstance(item, dict) else item
            if not isinstance(found, str) or not found:
                raise self.fail(f"{_SPELLED[key]}: {item!r} has no id")
            ids.append(found)
        return ids


class _Expression:
    """Marks a field whose value is an ARM expression."""


_EXPRESSION: Any = _Expression()
