"""Azure: an ARM template of one network security group (NSG).

Without --host the NSG is meant for the subnets of the hosts: every flow gets an Outbound
rule (where it leaves the source's subnet) and an Inbound rule (where it enters the
destination's subnet). With --host it is the NSG of that host's NIC. An explicit DenyAll at
priority 4096 in both directions takes the place of the default rules that would allow all
traffic inside the virtual network (AllowVnetInBound/AllowVnetOutBound, priority 65000).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from hybridports.model import Transport
from hybridports.render.common import Network, address_text, collapse, mismatch_warning, split
from hybridports.render.interface import AllowRule, Rendered, Renderer, RenderError, RuleSet

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
API_VERSION = "2023-09-01"
# Documented limits (Azure networking limits; securityRules properties).
FIRST_PRIORITY = 100
PRIORITY_STEP = 10
DENY_PRIORITY = 4096  # the lowest a custom rule can have: the deny-all rules take it
MAX_RULES = 1000  # security rules per NSG
MAX_PREFIXES = 4000  # IP addresses and ranges per NSG, for sources and destinations each
MAX_NAME = 80
MAX_DESCRIPTION = 140
_NAME_OK = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
PROTOCOLS = {Transport.TCP: "Tcp", Transport.UDP: "Udp", Transport.ICMP: "Icmp"}
# Cloud endpoints without a service tag (modes any/resolve-failed): public addresses.
INTERNET = "Internet"


@dataclass(frozen=True)
class _Side:
    """One side of one emitted rule: a single prefix/tag, or a list of prefixes."""

    prefixes: tuple[str, ...]

    def fields(self, key: str) -> dict[str, Any]:
        if len(self.prefixes) == 1:
            return {f"{key}AddressPrefix": self.prefixes[0]}
        return {f"{key}AddressPrefixes": list(self.prefixes)}


class AzureNsgRenderer(Renderer):
    name: ClassVar[str] = "azure-nsg"
    description: ClassVar[str] = "Azure network security group: ARM template (JSON)"
    default_egress: ClassVar[str] = "tags"
    egress_modes: ClassVar[tuple[str, ...]] = ("any", "resolve", "proxy", "tags")

    def render(self, rules: RuleSet, title: str) -> Rendered:
        if rules.host is None:
            inbound = [r for r in rules.forward if not r.destination.any]
            outbound = [r for r in rules.forward if not r.source.any]
        else:
            inbound, outbound = list(rules.inbound), list(rules.outbound)
        every = [*rules.forward, *rules.inbound, *rules.outbound]
        parts, mismatches = {}, []
        for rule in every:
            parts[id(rule)], missed = split(rule)
            mismatches.extend(missed)
        if every and not any(parts.values()):
            raise RenderError(
                "no rule of this plan is expressible: every one pairs IPv4-only with IPv6-only "
                "addresses"
            )
        emitted: list[tuple[str, AllowRule, _Side, _Side]] = [
            (direction, rule, _side(p.sources, rule, False), _side(p.destinations, rule, True))
            for direction, section in (("Inbound", inbound), ("Outbound", outbound))
            for rule in section
            for p in parts[id(rule)]
        ]
        security_rules, explained = _security_rules(emitted)
        warnings = []
        warning = mismatch_warning(mismatches)
        if warning:
            warnings.append(warning)
        if any(r.transport is Transport.ICMP for _, r, _, _ in emitted):
            warnings.append(
                "an NSG cannot match the ICMP type, so its ICMP rules allow every ICMP type "
                "between their addresses (the plan needs echo request only)"
            )
        name = _nsg_name(rules.topology, rules.host)
        template = _template(title, name, security_rules, explained, rules, warnings)
        return Rendered(json.dumps(template, indent=2, ensure_ascii=False) + "\n", tuple(warnings))


def _side(networks: tuple[Network, ...] | None, rule: AllowRule, destination: bool) -> _Side:
    if networks is None:
        return _Side((rule.service_tag if destination and rule.service_tag else INTERNET,))
    # Adjacent addresses become one prefix (exactly the same addresses): the NSG's
    # prefix budget then follows address blocks, not hosts.
    return _Side(tuple(address_text(n) for n in collapse(networks)))


def _merged(
    emitted: list[tuple[str, AllowRule, _Side, _Side]],
) -> list[tuple[str, list[AllowRule], _Side, _Side]]:
    """Rules that came out the same (two cloud groups behind one tag, say) become one."""
    merged: dict[tuple[object, ...], tuple[str, list[AllowRule], _Side, _Side]] = {}
    for direction, rule, source, destination in emitted:
        key = (direction, rule.transport, rule.ports, source, destination)
        merged.setdefault(key, (direction, [], source, destination))[1].append(rule)
    return list(merged.values())


def _security_rules(
    emitted: list[tuple[str, AllowRule, _Side, _Side]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    explained: dict[str, Any] = {}
    priorities = {"Inbound": FIRST_PRIORITY, "Outbound": FIRST_PRIORITY}
    for number, (direction, group, source, destination) in enumerate(_merged(emitted), 1):
        priority = priorities[direction]
        if priority >= DENY_PRIORITY:
            raise RenderError(
                f"azure-nsg: too many {direction.lower()} rules: priority {priority} is above "
                f"the last allow slot before the deny-all rule at {DENY_PRIORITY} "
                f"(at most {(DENY_PRIORITY - FIRST_PRIORITY) // PRIORITY_STEP} per direction)"
            )
        priorities[direction] += PRIORITY_STEP
        first = group[0]
        name = _rule_name(number, first.catalog_ids[0])
        ports = first.ports[0]
        port = "*" if first.transport is Transport.ICMP else _port(ports.low, ports.high)
        explanation = _explanation(group)
        properties: dict[str, Any] = {
            "description": _description(explanation),
            "protocol": PROTOCOLS[first.transport],
            "sourcePortRange": "*",
            **source.fields("source"),
            "destinationPortRange": port,
            **destination.fields("destination"),
            "access": "Allow",
            "priority": priority,
            "direction": direction,
        }
        rules.append({"name": name, "properties": properties})
        explained[name] = explanation
    for direction in ("Inbound", "Outbound"):
        name = f"hp-deny-all-{direction.lower()}"
        rules.append(
            {
                "name": name,
                "properties": {
                    "description": "hybridports: nothing outside the plan (overrides the "
                    "default allow rules of the virtual network)",
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "sourceAddressPrefix": "*",
                    "destinationPortRange": "*",
                    "destinationAddressPrefix": "*",
                    "access": "Deny",
                    "priority": DENY_PRIORITY,
                    "direction": direction,
                },
            }
        )
    _check_limits(rules)
    return rules, explained


def _check_limits(rules: list[dict[str, Any]]) -> None:
    if len(rules) > MAX_RULES:
        raise RenderError(f"azure-nsg: {len(rules)} security rules; an NSG holds {MAX_RULES}")
    for side in ("source", "destination"):  # the limit holds for each side on its own
        prefixes = sum(
            len(p.get(f"{side}AddressPrefixes", ()))
            or _is_address(p.get(f"{side}AddressPrefix", "*"))
            for p in (r["properties"] for r in rules)
        )
        if prefixes > MAX_PREFIXES:
            raise RenderError(
                f"azure-nsg: {prefixes} {side} address prefixes; an NSG holds {MAX_PREFIXES} "
                "(give the hosts addresses in fewer, contiguous blocks, or use more NSGs)"
            )
    for rule in rules:
        name, description = rule["name"], rule["properties"]["description"]
        assert _NAME_OK.match(name), name
        assert len(description) <= MAX_DESCRIPTION, description


def _is_address(value: str) -> int:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return 0  # "*" or a service tag
    return 1


def _port(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def _rule_name(number: int, catalog_id: str) -> str:
    """hp-<nnn>-<first catalog id>: letters, digits, '_', '.', '-'; at most 80 characters."""
    short = re.sub(r"[^A-Za-z0-9_.-]+", "-", catalog_id)
    name = f"hp-{number:03d}-{short}"[:MAX_NAME]
    return name.rstrip("-.")


def _description(explanation: dict[str, Any]) -> str:
    text = f"{', '.join(explanation['catalogIds'])}: {' / '.join(explanation['purposes'])}"
    return _shorten(" ".join(text.split()), MAX_DESCRIPTION)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _union(values: Any) -> list[Any]:
    return list(dict.fromkeys(v for items in values for v in items))


def _explanation(group: list[AllowRule]) -> dict[str, Any]:
    """The whole text for the template's metadata: the description holds 140 characters."""
    entry: dict[str, Any] = {
        "catalogIds": _union(r.catalog_ids for r in group),
        "purposes": _union(r.purposes for r in group),
        "required": any(r.required for r in group),
    }
    for key in ("source", "destination"):
        endpoints = [getattr(r, key) for r in group]
        hosts = sorted(_union(e.hosts for e in endpoints))
        names = sorted(_union(e.names for e in endpoints))
        if hosts:
            entry[f"{key}Hosts"] = hosts
        if names:
            entry[f"{key}Names"] = names
    tags = _union([r.service_tag] for r in group if r.service_tag and r.destination.any)
    if tags:
        entry["serviceTag"] = tags[0]
    if any(r.rpc_dynamic for r in group):
        entry["rpcDynamic"] = True
    notes = _union([r.note] for r in group if r.note)
    if notes:
        entry["note"] = "; ".join(notes)
    return entry


def _nsg_name(topology: str, host: str | None) -> str:
    raw = "-".join(p for p in ("hybridports", topology, host) if p)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw)[:MAX_NAME]
    return name.rstrip("-.") or "hybridports"


def _notes(rules: RuleSet, tags: Iterable[str]) -> list[str]:
    mode = (
        "the NSG of the host's NIC: its inbound and outbound flows"
        if rules.host
        else "one NSG for the subnets of the hosts: each flow has an Outbound rule where it "
        "leaves the source's subnet and an Inbound rule where it enters the destination's"
    )
    notes = [
        f"Scope: {mode}.",
        "Allows only the planned flows; NSGs are stateful, so replies pass. The deny-all rules "
        "at priority 4096 override the default AllowVnetInBound, AllowVnetOutBound, "
        "AllowAzureLoadBalancerInBound and AllowInternetOutBound rules: add an allow rule for "
        "Azure Load Balancer health probes if the hosts sit behind one.",
        "Descriptions hold 140 characters; metadata.rules has every rule's full catalog ids "
        "and purposes.",
    ]
    used = sorted(set(tags))
    if used:
        notes.append(
            "Cloud endpoints use Azure service tags (" + ", ".join(used) + "); a tag covers "
            "more than the planned names, and 'Internet' stands for endpoints no narrower tag "
            "covers."
        )
    return notes


def _template(
    title: str,
    name: str,
    security_rules: list[dict[str, Any]],
    explained: dict[str, Any],
    rules: RuleSet,
    warnings: list[str],
) -> dict[str, Any]:
    tags = [
        r["properties"]["destinationAddressPrefix"]
        for r in security_rules
        if r["properties"]["access"] == "Allow"
        and not _is_address(r["properties"].get("destinationAddressPrefix", "0.0.0.0"))
    ]
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": {
            "description": title,
            "generator": "hybridports",
            "notes": _notes(rules, tags) + [f"Warning: {w}" for w in warnings],
            "rules": explained,
        },
        "parameters": {
            "nsgName": {"type": "string", "defaultValue": name},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
        },
        "resources": [
            {
                "type": "Microsoft.Network/networkSecurityGroups",
                "apiVersion": API_VERSION,
                "name": "[parameters('nsgName')]",
                "location": "[parameters('location')]",
                "comments": title,
                "properties": {"securityRules": security_rules},
            }
        ],
    }
