"""Windows Firewall: a PowerShell script of ``New-NetFirewallRule`` calls for one host.

Host-only: Windows Firewall filters a host's own traffic, so there is no forward mode.
The script is idempotent: it removes the rules of the ``hybridports`` group first.
"""

from __future__ import annotations

import ipaddress
import textwrap
from typing import ClassVar

from hybridports.model import Transport
from hybridports.render.interface import (
    AllowRule,
    Endpoint,
    Rendered,
    Renderer,
    RenderError,
    RuleSet,
)

GROUP = "hybridports"
EPMAP_PORT = 135
# ICMP echo request: the catalog gives the ICMPv4 type; ICMPv6 has its own number (RFC 4443).
ICMPV6_TYPE = {8: 128}
# PowerShell treats the typographic single quotes as quote characters too (about_Quoting_Rules).
_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_quote(value: str) -> str:
    """A single-quoted PowerShell string: no expansion, quotes doubled, one line."""
    flat = " ".join(value.split())
    return "'" + "".join(c + c if c in _QUOTES else c for c in flat) + "'"


def _comment(text: str) -> list[str]:
    """Comment lines wrapped at 100 columns (the text is ours, the catalog's or a name)."""
    return textwrap.wrap(
        " ".join(text.split()),
        98,
        initial_indent="# ",
        subsequent_indent="#   ",
        break_on_hyphens=False,
        break_long_words=False,
    )


class WindowsRenderer(Renderer):
    name: ClassVar[str] = "windows"
    description: ClassVar[str] = "Windows Firewall: PowerShell New-NetFirewallRule script (--host)"
    host_only: ClassVar[bool] = True

    def render(self, rules: RuleSet, title: str) -> Rendered:
        if rules.host is None or rules.forward:
            raise RenderError("--target windows writes a host's own rules: give --host HOST")
        rpc_server = any(r.rpc_dynamic for r in rules.inbound)
        lines = [*_header(rules, title, rpc_server)]
        lines.append("$ErrorActionPreference = 'Stop'")
        lines.append(
            f"Get-NetFirewallRule -Group {ps_quote(GROUP)} -ErrorAction SilentlyContinue"
            " | Remove-NetFirewallRule"
        )
        for direction, section in (("Inbound", rules.inbound), ("Outbound", rules.outbound)):
            count = f"{len(section)} planned rule" + ("" if len(section) == 1 else "s")
            lines += ["", f"# ---- {direction} ({count}) ----"]
            if not section:
                lines.append(f"# (no {direction.lower()} flows are planned for this host)")
            for rule in section:
                lines += ["", *_rule_lines(rule, direction, rpc_server)]
        return Rendered("\n".join(lines) + "\n", _rpc_warnings(rules))


def _header(rules: RuleSet, title: str, rpc_server: bool) -> list[str]:
    host = rules.host
    addresses = ", ".join(rules.host_addresses)
    # A client "host" is a network of workstations: the script is for each of them.
    networks = [ipaddress.ip_network(a, strict=False) for a in rules.host_addresses]
    where = "each machine of " if any(n.num_addresses > 1 for n in networks) else ""
    texts = [
        title,
        f"Run in an elevated PowerShell on {where}{host} ({addresses}).",
        f"Idempotent: it first removes every rule of the group '{GROUP}', then adds the planned "
        "rules again. Every rule names its catalog ids and purposes.",
        "Windows Firewall blocks unsolicited inbound traffic by default, so the inbound rules "
        "are what this host accepts. Most estates allow all outbound traffic: the outbound "
        "rules only matter where outbound is blocked by default "
        "(Set-NetFirewallProfile -DefaultOutboundAction Block). This script changes no "
        "profile setting.",
        "The firewall is stateful: replies to allowed connections pass.",
    ]
    if any(r.destination.any and r.destination.names for r in rules.outbound):
        texts.append(
            "Cloud names: Windows Firewall matches addresses, not names (name matching needs "
            "Microsoft Defender for Endpoint's dynamic keywords), so rules to cloud names allow "
            "the planned ports to any address (-RemoteAddress Any) and list the names in their "
            "description."
        )
    if rpc_server:
        texts.append(
            "Dynamic RPC: inbound rules use the local-port keywords RPCEPMap (the endpoint "
            "mapper on TCP 135) and RPC (only the ports the endpoint mapper hands out) instead "
            "of opening the whole dynamic range (spec section 5.2, item 5). The RPC keyword "
            "relies on the RPCEPMap rule for the same remote addresses."
        )
    return [line for text in texts for line in _comment(text)]


def _rule_lines(rule: AllowRule, direction: str, rpc_server: bool) -> list[str]:
    inbound = direction == "Inbound"
    remote = rule.source if inbound else rule.destination
    ids = ", ".join(rule.catalog_ids)
    level = "required" if rule.required else "optional"
    explained = f"{ids} ({level}): {' / '.join(rule.purposes)}"
    side = "from" if inbound else "to"
    description = explained
    if remote.names:
        how = "any address" if remote.any else "addresses resolved from"
        description += f" [{side} {how}: {', '.join(remote.names)}]"
    if rule.note:
        description += f" Note: {rule.note}"
    comment = _comment(explained)
    if remote.hosts:
        comment += _comment(f"{side.capitalize()} {', '.join(remote.hosts)}")
    if remote.names:
        comment += _comment(f"{side.capitalize()} {', '.join(remote.names)}")
    calls = []
    for protocol, port_args, addresses in _matches(rule, inbound, rpc_server, remote):
        if port_args[1] in ("RPC", "RPCEPMap"):
            comment += _comment(_keyword_note(rule, port_args[1]))
        remote_args = ", ".join(a if a == "Any" else ps_quote(a) for a in addresses)
        args = [
            "New-NetFirewallRule",
            f"-DisplayName {ps_quote(f'{GROUP}: {ids}')}",
            f"-Description {ps_quote(description)}",
            f"-Group {ps_quote(GROUP)}",
            f"-Direction {direction}",
            "-Action Allow",
            f"-Protocol {protocol}",
            *port_args,
            f"-RemoteAddress {remote_args}",
            "| Out-Null",
        ]
        calls.append(" ".join(args))
    return comment + calls


def _keyword_note(rule: AllowRule, keyword: str) -> str:
    if keyword == "RPC":
        low, high = rule.ports[0].low, rule.ports[0].high
        return (
            f"LocalPort RPC instead of {low}-{high}: only the dynamic ports the endpoint "
            "mapper assigned pass."
        )
    return "LocalPort RPCEPMap instead of 135: the endpoint mapper, paired with the RPC rule."


def _matches(
    rule: AllowRule, inbound: bool, rpc_server: bool, remote: Endpoint
) -> list[tuple[str, list[str], list[str]]]:
    """(protocol, port arguments, remote addresses) per call; ICMP needs one per family."""
    if len(rule.ports) != 1:
        raise RenderError(f"{', '.join(rule.catalog_ids)}: one port range per rule expected")
    ports = rule.ports[0]
    if rule.transport is Transport.ICMP:
        if ports.low != ports.high:
            raise RenderError(f"{', '.join(rule.catalog_ids)}: an ICMP rule needs one type")
        result = []
        for version, addresses in _by_family(remote).items():
            icmp_type = ports.low if version == 4 else ICMPV6_TYPE.get(ports.low)
            if icmp_type is None:
                raise RenderError(
                    f"{', '.join(rule.catalog_ids)}: no ICMPv6 type for ICMP type {ports.low}"
                )
            result.append((f"ICMPv{version}", ["-IcmpType", str(icmp_type)], addresses))
        return result
    text = str(ports.low) if ports.low == ports.high else f"{ports.low}-{ports.high}"
    port_args = ["-LocalPort" if inbound else "-RemotePort", text]
    if inbound and rpc_server and rule.transport is Transport.TCP:
        if rule.rpc_dynamic:
            port_args = ["-LocalPort", "RPC"]
        elif ports.low == ports.high == EPMAP_PORT:
            port_args = ["-LocalPort", "RPCEPMap"]
    addresses = ["Any"] if remote.any else [_address(a) for a in remote.addresses]
    if not addresses:
        raise RenderError(f"{', '.join(rule.catalog_ids)}: a rule without remote addresses")
    return [(rule.transport.value.upper(), port_args, addresses)]


def _by_family(remote: Endpoint) -> dict[int, list[str]]:
    if remote.any:
        return {4: ["Any"], 6: ["Any"]}
    families: dict[int, list[str]] = {}
    for address in remote.addresses:
        version = ipaddress.ip_network(address, strict=False).version
        families.setdefault(version, []).append(_address(address))
    if not families:
        raise RenderError("an ICMP rule without remote addresses")
    return dict(sorted(families.items()))


def _address(address: str) -> str:
    """Windows takes addresses and prefixes; a /0 is written as a range to stay explicit."""
    network = ipaddress.ip_network(address, strict=False)
    if network.prefixlen == 0:
        return f"{network.network_address}-{network.broadcast_address}"
    return address


def _rpc_warnings(rules: RuleSet) -> tuple[str, ...]:
    """The RPC keyword only works with an RPCEPMap rule for the same remote addresses."""
    mapped = {
        a
        for r in rules.inbound
        if r.transport is Transport.TCP and r.ports[0].low == r.ports[0].high == EPMAP_PORT
        for a in r.source.addresses
    }
    warnings = []
    for rule in rules.inbound:
        missing = [a for a in rule.source.addresses if a not in mapped] if rule.rpc_dynamic else []
        if missing:
            warnings.append(
                f"{', '.join(rule.catalog_ids)}: LocalPort RPC for {', '.join(missing)} has no "
                "endpoint-mapper (TCP 135) rule for the same addresses; the RPC keyword needs one"
            )
    return tuple(warnings)
