"""The Windows Firewall parser: Get-NetFirewallRule exports (docs/audit-windows-export.md).

Samples in tests/data/audit/windows are synthetic exports built from the published built-in
rule definitions of Windows Server 2022 (names, ports, programs): a DC in both enum forms
(PowerShell 7 names in UTF-8; Windows PowerShell 5.1 numbers, collapsed arrays, UTF-16 with
CRLF) and an Entra Connect server under a Tier 0 GPO that blocks outbound by default.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridports.audit.interface import (
    Action,
    AddressMatch,
    Chain,
    ParseOptions,
    PolicyError,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import EMPTY, Intervals, address_range, network_interval
from hybridports.audit.queries import InterfaceMap
from hybridports.audit.run import audit
from hybridports.audit.windows import (
    INBOUND_KEY,
    OUTBOUND_KEY,
    WindowsFirewallParser,
    decode_export,
)
from hybridports.render.run import render
from tests.conftest import ROOT
from tests.render.cloud_support import planned

DATA = ROOT / "tests" / "data" / "audit" / "windows"
DC7 = DATA / "dc01-ws2022-ps7.json"
DC51 = DATA / "dc01-ws2022-ps51.json"
CONNECT = DATA / "connect01-outbound-block.json"
NSG_SAMPLE = ROOT / "tests" / "data" / "audit" / "azure-nsg" / "nsg-show.json"
AWS_SAMPLE = ROOT / "tests" / "data" / "audit" / "aws-sg" / "describe-security-groups.json"
LSASS = r"%systemroot%\System32\lsass.exe"
TCP = frozenset({"tcp"})
UDP = frozenset({"udp"})


def parse_file(path: Path, profile: str = "domain") -> Ruleset:
    text = decode_export(path.read_bytes(), str(path))
    return WindowsFirewallParser().parse(text, str(path), ParseOptions(windows_profile=profile))


def parse(document: Any, profile: str = "domain", file: str = "fw.json") -> Ruleset:
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    return WindowsFirewallParser().parse(text, file, ParseOptions(windows_profile=profile))


def wrule(name: str = "R1", **fields: Any) -> dict[str, Any]:
    """A rule as our export script writes it: every filter present and Any."""
    rule: dict[str, Any] = {
        "Name": name,
        "DisplayName": f"{name} display",
        "Enabled": "True",
        "Direction": "Inbound",
        "Action": "Allow",
        "Profile": "Any",
        "PolicyStoreSourceType": "GroupPolicy",
        "PortFilter": {
            "Protocol": "TCP",
            "LocalPort": ["Any"],
            "RemotePort": ["Any"],
            "IcmpType": ["Any"],
            "DynamicTarget": "Any",
        },
        "AddressFilter": {"LocalAddress": ["Any"], "RemoteAddress": ["Any"]},
        "ApplicationFilter": {"Program": "Any", "Package": None},
        "ServiceFilter": {"Service": "Any"},
        "InterfaceTypeFilter": {"InterfaceType": "Any"},
        "InterfaceFilter": {"InterfaceAlias": ["Any"]},
        "SecurityFilter": {
            "Authentication": "NotRequired",
            "Encryption": "NotRequired",
            "OverrideBlockRules": False,
            "LocalUser": "Any",
            "RemoteUser": "Any",
            "RemoteMachine": "Any",
        },
    }
    homes = {
        "PortFilter": ("Protocol", "LocalPort", "RemotePort", "IcmpType", "DynamicTarget"),
        "AddressFilter": ("LocalAddress", "RemoteAddress"),
        "ApplicationFilter": ("Program",),
        "ServiceFilter": ("Service",),
        "InterfaceTypeFilter": ("InterfaceType",),
        "SecurityFilter": ("OverrideBlockRules", "Authentication", "RemoteMachine"),
    }
    for key, value in fields.items():
        home = next((f for f, keys in homes.items() if key in keys), None)
        if home is None:
            rule[key] = value
        elif isinstance(rule[home], dict):  # a fuzzed filter may have replaced it
            rule[home][key] = value
    return rule


def names(ruleset: Ruleset, key: str = INBOUND_KEY) -> list[str]:
    """The Name of each rule in a chain, from its label."""
    return [r.label.split("'")[1] for r in ruleset.chains[key].rules]


def profile(name: str, **fields: Any) -> dict[str, Any]:
    settings_ = {
        "Name": name,
        "Enabled": "True",
        "DefaultInboundAction": "Block",
        "DefaultOutboundAction": "Allow",
        "AllowInboundRules": "True",
        "AllowLocalFirewallRules": "True",
    }
    settings_.update(fields)
    return settings_


def export(*rules: dict[str, Any], active: Any = "Domain", **domain: Any) -> dict[str, Any]:
    return {
        "Host": "HOST1",
        "Profile": active,
        "Profiles": [profile("Domain", **domain), profile("Private"), profile("Public")],
        "Rules": list(rules),
    }


def chain_rules(ruleset: Ruleset, key: str = INBOUND_KEY) -> list[Rule]:
    return list(ruleset.chains[key].rules)


def only(ruleset: Ruleset, key: str = INBOUND_KEY) -> Rule:
    rules = chain_rules(ruleset, key)
    assert len(rules) == 1, rules
    return rules[0]


def kinds(ruleset: Ruleset) -> list[str]:
    return [f.kind for f in ruleset.findings]


def without_lines(chains: dict[str, Chain]) -> dict[str, Chain]:
    return {
        key: replace(chain, rules=tuple(replace(r, line=None) for r in chain.rules))
        for key, chain in chains.items()
    }


# --- the samples ----------------------------------------------------------------------------


def test_dc_export_structure() -> None:
    ruleset = parse_file(DC7)
    assert ruleset.format == "windows" and ruleset.host_policy
    assert ruleset.hooks == {"input": (INBOUND_KEY,), "output": (OUTBOUND_KEY,)}
    assert ruleset.summary == (
        "host DC01, profile Domain: 47 rules, 2 block, 41 allow in force, 3 disabled, "
        "1 for other profiles"
    )
    inbound, outbound = ruleset.chains[INBOUND_KEY], ruleset.chains[OUTBOUND_KEY]
    # NotConfigured in the export: the Windows defaults.
    assert inbound.policy is Action.DROP and outbound.policy is Action.ACCEPT
    assert inbound.policy_label == (
        "profile Domain DefaultInboundAction NotConfigured (Windows default Block)"
    )
    assert outbound.policy_label == (
        "profile Domain DefaultOutboundAction NotConfigured (Windows default Allow)"
    )
    # Block rules first (they stand last in the file), then the allow rules in file order.
    actions = [r.action for r in inbound.rules]
    assert actions == [Action.DROP] * 2 + [Action.ACCEPT] * 33
    assert inbound.rules[0].label == (
        "rule '{6B2A9F4E-31C7-4D5A-9E0B-2F1C8D7A6E53}' (Block NetBIOS session from client networks)"
    )
    assert inbound.rules[2].label == (
        "rule 'ADDS-LDAP-TCP-In' (Active Directory Domain Controller - LDAP (TCP-In))"
    )
    assert outbound.rules[0].label == (
        "rule 'CoreNet-DNS-Out-UDP' (Core Networking - DNS (UDP-Out))"
    )
    # Disabled rules (NB-Session, Remote Event Log, mDNS) and the Public-only WinRM rule
    # are left out.
    names = {r.label.split("'")[1] for c in ruleset.chains.values() for r in c.rules}
    assert not names & {
        "FPS-NB_Session-In-TCP",
        "RemoteEventLogSvc-In-TCP",
        "MDNS-In-UDP-Domain-Active",
        "WINRM-HTTP-In-TCP",
    }
    assert "WINRM-HTTP-In-TCP-NoScope" in names  # Profile "Domain, Private"


def test_rule_lines_point_at_the_rule() -> None:
    lines = DC7.read_text(encoding="utf-8").splitlines()
    for chain in parse_file(DC7).chains.values():
        for rule in chain.rules:
            assert rule.line is not None
            assert lines[rule.line - 1].strip() == "{"
            name = rule.label.split("'")[1]
            assert lines[rule.line] == f'      "Name": {json.dumps(name)},'


def test_dc_matches() -> None:
    rules = {r.label.split("'")[1]: r for r in chain_rules(parse_file(DC7))}
    ldap = rules["ADDS-LDAP-TCP-In"].match
    assert (ldap.protocols, ldap.ports, ldap.source, ldap.destination) == (
        TCP,
        Intervals.span(389, 389),
        None,
        None,
    )
    # Built-in rules name their program: the evaluator decides them by the process that
    # serves the planned port (audit/programs.py).
    assert (ldap.program, ldap.service, ldap.unknown) == ("lsass.exe", None, None)
    rpc = rules["ADDS-RPC-TCP-In"].match
    assert rpc.rpc_dynamic and rpc.ports is None and rpc.protocols == TCP
    epmap = rules["ADDS-RPCEPMAP-TCP-In"].match
    assert not epmap.rpc_dynamic and epmap.ports == Intervals.span(135, 135)
    assert (epmap.program, epmap.service, epmap.unknown) == ("svchost.exe", "rpcss", None)
    echo = rules["ADDS-ICMP4-In"].match
    assert echo.protocols == frozenset({"icmp"}) and echo.families == frozenset({4})
    assert (echo.icmp_types, echo.program, echo.unknown) == (frozenset({8}), "system", None)
    rdp = rules["RemoteDesktop-UserMode-In-TCP"].match
    assert rdp.source == AddressMatch(network_interval("10.0.5.0/24"))  # a/255.255.255.0
    teredo = rules["CoreNet-Teredo-In"].match
    assert teredo.ports is None and teredo.unknown is not None
    assert teredo.unknown.endswith("LocalPort Teredo")
    dhcp = rules["CoreNet-DHCP-In"].match
    assert dhcp.ports == Intervals.span(68, 68) and dhcp.source_ports == Intervals.span(67, 67)
    netbios = chain_rules(parse_file(DC7))[0].match
    assert netbios.source == AddressMatch(
        network_interval("10.30.0.0/16") | address_range("10.40.0.1", "10.40.3.254")
    )
    internet = chain_rules(parse_file(DC7))[1].match
    assert internet.source == AddressMatch(EMPTY, unresolved="Internet")


def test_both_enum_forms_parse_alike() -> None:
    """PowerShell 7 names in UTF-8 and Windows PowerShell 5.1 numbers in UTF-16 with CRLF."""
    assert DC51.read_bytes().startswith(codecs.BOM_UTF16_LE)
    new, old = parse_file(DC7), parse_file(DC51)
    assert without_lines(new.chains) == without_lines(old.chains)
    assert new.findings == old.findings
    assert new.summary == old.summary
    lines = decode_export(DC51.read_bytes()).splitlines()
    for rule in old.chains[INBOUND_KEY].rules:
        assert rule.line is not None and '"Name":' in lines[rule.line]


def test_connect_server_outbound_block() -> None:
    ruleset = parse_file(CONNECT)
    assert ruleset.summary == (
        "host CONNECT01, profile Domain: 23 rules, 5 block, 13 allow, 1 authenticated bypass "
        "in force, 1 disabled, 1 for other profiles, 2 local rules not merged"
    )
    outbound = ruleset.chains[OUTBOUND_KEY]
    assert outbound.policy is Action.DROP
    assert outbound.policy_label == "profile Domain DefaultOutboundAction Block"
    labels = [r.label.split("'")[1] for r in outbound.rules]
    assert labels[:3] == [
        "Tier0-Block-Out-HTTP",
        "Tier0-Block-Out-SMB-Internet",
        "Tier0-Block-Out-Legacy",
    ]
    assert "CoreNet-DNS-Out-UDP" not in labels  # local store, merging off
    smb = outbound.rules[1].match
    assert smb.destination == AddressMatch(EMPTY, unresolved="Internet") and smb.source is None
    legacy = outbound.rules[2].match
    assert legacy.ports == Intervals.of([(20, 21), (23, 23)])
    rpc = next(r for r in outbound.rules if "Tier0-Out-DC-RPC" in r.label).match
    assert rpc.ports == Intervals.of([(135, 135), (49152, 65535)]) and rpc.unknown is None
    assert rpc.destination == AddressMatch(address_range("10.0.2.10", "10.0.2.11"))
    inbound = ruleset.chains[INBOUND_KEY]
    bypass = inbound.rules[0]
    assert "Tier0-In-Scanner-Bypass" in bypass.label and bypass.action is Action.ACCEPT
    assert bypass.match.unknown is not None and "OverrideBlockRules" in bypass.match.unknown
    wireless = inbound.rules[2].match
    assert wireless.unknown == "InterfaceType Wireless" and wireless.protocols is None
    ignored = [f for f in ruleset.findings if f.kind == "ignored-rules"]
    assert [f.rule for f in ignored] == ["profile Domain AllowLocalFirewallRules False"]


# --- semantics ------------------------------------------------------------------------------


def test_block_rules_come_first_then_allow() -> None:
    ruleset = parse(
        export(
            wrule("allow-1", LocalPort="80"),
            wrule("block-1", Action="Block", LocalPort="80"),
            wrule("allow-2", LocalPort="443"),
            wrule("bypass", OverrideBlockRules=True, Authentication="Required"),
            wrule("block-2", Action="Block", LocalPort="443"),
        )
    )
    order = names(ruleset)
    assert order == ["bypass", "block-1", "block-2", "allow-1", "allow-2"]
    assert chain_rules(ruleset)[0].match.unknown is not None


def test_directions_map_local_and_remote() -> None:
    fields = {
        "LocalPort": "1000",
        "RemotePort": "2000",
        "LocalAddress": "10.0.0.1",
        "RemoteAddress": "192.0.2.0/24",
    }
    inbound = only(parse(export(wrule(**fields))))
    assert inbound.match.ports == Intervals.span(1000, 1000)
    assert inbound.match.source_ports == Intervals.span(2000, 2000)
    assert inbound.match.source == AddressMatch(network_interval("192.0.2.0/24"))
    assert inbound.match.destination == AddressMatch(network_interval("10.0.0.1"))
    outbound = only(parse(export(wrule(Direction="Outbound", **fields))), OUTBOUND_KEY)
    assert outbound.match.ports == Intervals.span(2000, 2000)
    assert outbound.match.source_ports == Intervals.span(1000, 1000)
    assert outbound.match.source == AddressMatch(network_interval("10.0.0.1"))
    assert outbound.match.destination == AddressMatch(network_interval("192.0.2.0/24"))


def test_rpc_keywords() -> None:
    ruleset = parse(export(wrule(LocalPort=["RPC", "135", "Teredo"])))
    rules = chain_rules(ruleset)
    # One Windows rule, three model rules with the same label: numbers, RPC, the keyword.
    assert {r.label for r in rules} == {"rule 'R1' (R1 display)"}
    assert [(r.match.ports, r.match.rpc_dynamic, r.match.unknown) for r in rules] == [
        (Intervals.span(135, 135), False, None),
        (None, True, None),
        (None, False, "LocalPort Teredo"),
    ]
    epmap = only(parse(export(wrule(LocalPort="RPCEPMap"))))
    assert epmap.match.ports == Intervals.span(135, 135) and epmap.match.unknown is None
    # Only inbound TCP knows the keywords.
    for rule in (
        wrule(LocalPort="RPC", Protocol="UDP"),
        wrule(Direction="Outbound", RemotePort="RPC"),
        wrule(LocalPort="RPCEPMap", Protocol="Any"),
    ):
        key = INBOUND_KEY if rule["Direction"] == "Inbound" else OUTBOUND_KEY
        match = only(parse(export(rule)), key).match
        assert not match.rpc_dynamic and match.ports is None and match.unknown
    source_side = only(parse(export(wrule(RemotePort="IPHTTPSOut", LocalPort="443"))))
    assert source_side.match.ports == Intervals.span(443, 443)
    assert source_side.match.unknown == "RemotePort IPHTTPSOut"


@pytest.mark.parametrize(
    "keyword",
    [
        "LocalSubnet",
        "DNS",
        "DHCP",
        "WINS",
        "DefaultGateway",
        "Internet",
        "Intranet",
        "IntranetRemoteAccess",
        "PlayToDevice",
    ],
)
def test_address_keywords_are_unresolved(keyword: str) -> None:
    ruleset = parse(export(wrule(RemoteAddress=["10.1.0.0/16", keyword.lower()])))
    match = only(ruleset).match
    assert match.source == AddressMatch(network_interval("10.1.0.0/16"), unresolved=keyword)
    assert match.unknown is None
    assert [(f.kind, f.rule) for f in ruleset.findings] == [
        ("undecidable", "rule 'R1' (R1 display)")
    ]


def test_unknown_address_word() -> None:
    ruleset = parse(export(wrule(LocalAddress="Ply2Renderers")))
    assert only(ruleset).match.destination == AddressMatch(EMPTY, unresolved="Ply2Renderers")
    assert kinds(ruleset) == ["unknown-construct"]


@pytest.mark.parametrize(
    ("fields", "unknown"),
    [
        ({"Service": "*"}, "Service * (services only)"),
        ({"InterfaceType": "Wireless"}, "InterfaceType Wireless"),
        ({"InterfaceType": 2}, "InterfaceType 2"),
        ({"IcmpType": ["3:4"]}, "IcmpType 3:4"),
        ({"DynamicTarget": "ProximityApps"}, "DynamicTarget ProximityApps"),
        ({"Authentication": "Required"}, "Authentication Required (IPsec)"),
        (
            {"RemoteMachine": "O:LSD:(A;;CC;;;S-1-5-21-1)"},
            "RemoteMachine O:LSD:(A;;CC;;;S-1-5-21-1)",
        ),
        ({"Protocol": "Carrier pigeon"}, "Protocol Carrier pigeon"),
        ({"RemoteDynamicKeywordAddresses": ["{1b5c}"]}, "RemoteDynamicKeywordAddresses {1b5c}"),
        ({"Action": "NotConfigured"}, "Action NotConfigured"),
    ],
)
@pytest.mark.parametrize("action", ["Allow", "Block"])
def test_conditions_the_flow_cannot_tell(fields: dict[str, Any], unknown: str, action: str) -> None:
    ruleset = parse(export(wrule(**{"Action": action, "LocalPort": "389", **fields})))
    rule = only(ruleset)
    assert rule.match.unknown == unknown
    assert rule.match.ports == Intervals.span(389, 389)  # what is understood stays
    assert rule.action is (
        Action.ACCEPT if fields.get("Action", action) == "Allow" else Action.DROP
    )
    assert kinds(ruleset) == ["unknown-construct"]


def test_missing_filters_make_the_rule_unknown() -> None:
    rule = wrule(LocalPort="80")
    del rule["ApplicationFilter"], rule["ServiceFilter"]
    match = only(parse(export(rule))).match
    assert match.unknown == "no ApplicationFilter in the export; no ServiceFilter in the export"
    assert match.ports == Intervals.span(80, 80)


def test_protocols() -> None:
    cases = {
        "ICMPv4": (frozenset({"icmp"}), frozenset({4})),
        "ICMPv6": (frozenset({"icmpv6"}), frozenset({6})),
        "6": (TCP, None),
        "17": (UDP, None),
        "47": (frozenset({"47"}), None),
        "GRE": (frozenset({"47"}), None),
        "Any": (None, None),
    }
    for protocol, expected in cases.items():
        match = only(parse(export(wrule(Protocol=protocol)))).match
        assert (match.protocols, match.families) == expected, protocol
    assert only(parse(export(wrule(Protocol=58)))).match.protocols == frozenset({"icmpv6"})


def test_disabled_rules_are_skipped_and_counted() -> None:
    ruleset = parse(export(wrule("on"), wrule("off", Enabled="False"), wrule("off2", Enabled=2)))
    assert [r.label for r in chain_rules(ruleset)] == ["rule 'on' (on display)"]
    assert "3 rules, 0 block, 1 allow in force, 2 disabled" in ruleset.summary


def test_profiles_choose_the_rules() -> None:
    document = export(
        wrule("any"),
        wrule("domain", Profile="Domain"),
        wrule("private-public", Profile="Private, Public"),
        wrule("mask-3", Profile=3),
        wrule("public", Profile=["Public"]),
    )
    assert names(parse(document)) == ["any", "domain", "mask-3"]
    assert names(parse(document, "private")) == ["any", "private-public", "mask-3"]
    assert names(parse(document, "public")) == ["any", "private-public", "public"]
    assert "2 for other profiles" in parse(document).summary


def test_the_active_profile_wins_over_the_default() -> None:
    document = export(wrule("public", Profile="Public"), active="Public")
    ruleset = parse(document)  # the default "domain" yields to the export
    assert names(ruleset) == ["public"]
    assert ruleset.summary.startswith("host HOST1, profile Public:")
    assert [(f.kind, f.severity) for f in ruleset.findings] == [("profile", "info")]
    # A profile named explicitly wins, with a warning that it is not the active one.
    explicit = parse(document, "private")
    assert chain_rules(explicit) == []
    assert [(f.kind, f.severity) for f in explicit.findings] == [("profile", "warning")]
    # NetworkCategory numbers and DomainAuthenticated name the profile too.
    assert parse(export(active=1)).summary.startswith("host HOST1, profile Private:")
    several = parse(export(active=["DomainAuthenticated", "Public"]))
    assert several.summary.startswith("host HOST1, profile Domain:")
    assert "several active profiles" in several.findings[0].detail


def test_bare_array_uses_windows_defaults() -> None:
    ruleset = parse([wrule("in"), wrule("out", Direction="Outbound", Action="Block")])
    inbound, outbound = ruleset.chains[INBOUND_KEY], ruleset.chains[OUTBOUND_KEY]
    assert (inbound.policy, outbound.policy) == (Action.DROP, Action.ACCEPT)
    assert (
        inbound.policy_label == "profile Domain (not in the export: Windows default Block inbound)"
    )
    assert [f.detail for f in ruleset.findings] == [
        "the export has no profile settings: assumed Windows defaults"
    ]
    assert len(inbound.rules) == len(outbound.rules) == 1


def test_single_rule_and_value_count_wrapper() -> None:
    """PowerShell drops the array of a one-rule export; 5.1 may wrap arrays."""
    single = parse(wrule("alone", LocalPort="22"))
    assert only(single).match.ports == Intervals.span(22, 22)
    wrapped = export(wrule("a"), wrule("b"))
    wrapped["Rules"] = {"value": wrapped["Rules"], "Count": 2}
    wrapped["Rules"]["value"][0]["PortFilter"]["LocalPort"] = {"value": ["1", "2"], "Count": 2}
    rules = chain_rules(parse(wrapped))
    assert [r.match.ports for r in rules] == [Intervals.of([(1, 2)]), None]
    assert rules[0].line is not None


def test_property_names_in_any_case_and_comma_lists() -> None:
    rule = {k.lower(): v for k, v in wrule(LocalPort="80, 443,8080-8081").items()}
    assert only(parse(export(rule))).match.ports == Intervals.of(
        [(80, 80), (443, 443), (8080, 8081)]
    )


def test_firewall_disabled_passes_everything() -> None:
    for enabled in ("False", 0, False):
        ruleset = parse(export(wrule(Action="Block"), Enabled=enabled))
        for chain in ruleset.chains.values():
            assert chain.rules == () and chain.policy is Action.ACCEPT
            assert chain.policy_label == "profile Domain Enabled False (firewall off)"
        assert [(f.kind, f.severity) for f in ruleset.findings] == [("firewall-disabled", "error")]
        assert "firewall off" in ruleset.summary
    # GpoBoolean NotConfigured (2) is the Windows default: on.
    assert parse(export(wrule(), Enabled=2)).chains[INBOUND_KEY].rules


def test_default_actions() -> None:
    numeric = parse(export(DefaultInboundAction=2, DefaultOutboundAction=4))
    assert numeric.chains[INBOUND_KEY].policy is Action.ACCEPT
    assert numeric.chains[OUTBOUND_KEY].policy is Action.DROP
    assert kinds(numeric) == ["overly-permissive"]
    unset = parse(export(DefaultInboundAction=0, DefaultOutboundAction="NotConfigured"))
    assert unset.chains[INBOUND_KEY].policy is Action.DROP
    assert unset.chains[OUTBOUND_KEY].policy is Action.ACCEPT


def test_shields_up_and_local_rules() -> None:
    shielded = parse(
        export(wrule("allow"), wrule("block", Action="Block"), AllowInboundRules="False")
    )
    assert names(shielded) == ["block"]
    assert "1 inbound allow rules shielded" in shielded.summary
    local = parse(
        export(
            wrule("gpo"),
            wrule("local", PolicyStoreSourceType="Local"),
            wrule("local-5.1", PolicyStoreSourceType=1),
            wrule("persistent", PolicyStoreSourceType=None, PolicyStoreSource="PersistentStore"),
            AllowLocalFirewallRules=0,
        )
    )
    assert names(local) == ["gpo"]
    assert "3 local rules not merged" in local.summary


# --- the renderer's rules read back ---------------------------------------------------------

_VALUE = r"(?:'(?:[^']|'')*'|[^\s',|-][^\s',|]*)"
_PARAMETER = re.compile(rf"-(\w+)\s+({_VALUE}(?:\s*,\s*{_VALUE})*)")


def _values(text: str) -> list[str]:
    return [
        v[1:-1].replace("''", "'") if v.startswith("'") else v for v in re.findall(_VALUE, text)
    ]


def export_of_script(script: str) -> dict[str, Any]:
    """What our export script would write for the rules a rendered script creates (its ICMP
    rules left out: ICMP types make a rule unknown)."""
    rules = []
    calls = [line for line in script.splitlines() if line.startswith("New-NetFirewallRule ")]
    for n, line in enumerate(calls):
        p = {
            k: _values(v) for k, v in _PARAMETER.findall(line.removeprefix("New-NetFirewallRule "))
        }
        if "IcmpType" in p:
            continue
        fields = {
            key: p[key]
            for key in ("LocalPort", "RemotePort", "LocalAddress", "RemoteAddress")
            if key in p
        }
        rules.append(
            wrule(
                f"{{rendered-{n}}}",
                DisplayName=p["DisplayName"][0],
                Direction=p["Direction"][0],
                Action=p["Action"][0],
                Protocol=p.get("Protocol", ["Any"])[0],
                **fields,
            )
        )
    return export(*rules, DefaultOutboundAction="Block")


@pytest.mark.parametrize(
    ("example", "host"),
    [("adfs-farm", "dc01"), ("adfs-farm", "sync01"), ("pta-sso", "dc01"), ("pta-sso", "pta01")],
)
def test_rendered_rules_allow_every_planned_flow(example: str, host: str, tmp_path: Path) -> None:
    """render --target windows, exported as Windows would, audits as allowed: the renderer's
    RPC and RPCEPMap keywords and the parser agree."""
    plan = planned(example, tmp_path)
    script, _ = render(plan, "windows", host=host)
    assert "-LocalPort RPC " in script or host != "dc01"
    ruleset = parse(export_of_script(script))
    assert ruleset.findings == []
    result = audit(plan, ruleset, host, InterfaceMap())
    verdicts = {
        (r.flow.source, r.flow.destination, r.flow.transport.value, str(r.flow.ports)): r.verdict
        for r in result.results
        if r.flow.transport.value != "icmp"
    }
    assert verdicts and set(verdicts.values()) == {"allowed"}, verdicts


# --- decoding -------------------------------------------------------------------------------

TEXT = '[{"Name": "Datei- und Druckerfreigabe (SMB eingehend) \u2013 grüß"}]\r\n'


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
        TEXT.encode("utf-16-le"),
        TEXT.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"),
    ],
)
def test_decode_export(data: bytes) -> None:
    assert decode_export(data) == TEXT


def test_decode_ansi_and_bad_utf16() -> None:
    assert decode_export("grüß".encode("cp1252")) == "grüß"
    assert decode_export(b"\x81\x8d") == "\x81\x8d"  # undefined in cp1252: latin-1
    with pytest.raises(PolicyError) as caught:
        decode_export(codecs.BOM_UTF16_LE + b"[\x00\x00\xd8]\x00", "fw.json")
    assert str(caught.value).startswith("fw.json: not valid utf-16-le text")


def test_parse_strips_a_bom_and_refuses_nul_text() -> None:
    text = "\ufeff" + json.dumps(export(wrule()))
    assert parse(text).chains[INBOUND_KEY].rules
    error = error_of(TEXT.encode("utf-16-le").decode("latin-1"))
    assert "UTF-16" in error.message and "decode_export" in error.message


# --- bad input ------------------------------------------------------------------------------


def error_of(text: str, profile: str = "domain") -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse(text, profile, file="bad.json")
    error = caught.value
    assert "\n" not in str(error)
    return error


def test_not_json_and_truncated() -> None:
    error = error_of("Name Direction Action\n---- --------- ------\nR1   Inbound   Allow\n")
    assert error.file == "bad.json" and error.line == 1 and "not valid JSON" in str(error)
    text = DC7.read_text(encoding="utf-8")
    error = error_of(text[: len(text) // 2])
    assert error.line is not None and error.line > 1000
    assert error_of("").message.startswith("empty file")
    assert error_of("   \n").message.startswith("empty file")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"securityRules": []}, "found keys: securityRules"),
        ({"Rules": [], "Host": "X"}, "nothing to audit: no Rules and no Profiles"),
        ([], "no rules: the JSON array is empty"),
        (42, "the JSON is 42"),
        ([1, 2], "1 is not a rule object"),
        ([{"Name": "x", "Direction": "Inbound"}], "no Action: not a Get-NetFirewallRule export"),
        (
            [{"name": "nsg-rule", "direction": "Inbound", "access": "Allow", "priority": 100}],
            "no Action",
        ),
        ([wrule(Direction="Sideways")], 'Direction "Sideways" is not one of'),
        ([wrule(Action=True)], "Action true is not one of"),
        ([wrule(Enabled="maybe")], 'Enabled "maybe" is not one of'),
        ([wrule(Profile="Office")], "Profile 'Office' is not Any"),
        ([wrule(LocalPort="70000")], "LocalPort '70000' is not a port"),
        ([wrule(LocalPort="90-80")], "LocalPort '90-80' is not a port"),
        ([wrule(LocalPort="80/tcp")], "LocalPort '80/tcp' is not a port, port range or keyword"),
        ([wrule(RemoteAddress="10.0.0.300")], "RemoteAddress '10.0.0.300' is not an address"),
        ([wrule(RemoteAddress="10.0.0.9-10.0.0.1")], "RemoteAddress '10.0.0.9-10.0.0.1'"),
        ([wrule(Protocol="999")], "Protocol '999' is not a protocol number"),
        ([wrule(Protocol=["TCP", "UDP"])], 'Protocol ["TCP", "UDP"] has several values'),
        ([wrule(PortFilter="MSFT_NetProtocolPortFilter")], "ConvertTo-Json -Depth 6"),
        ([wrule(AddressFilter=[1])], "AddressFilter 1 is not an object"),
        ([wrule(LocalPort={"a": 1})], 'LocalPort {"a": 1} is not text or a number'),
        ({"Profile": "Office", "Rules": [wrule()]}, "Profile 'Office' is not Domain"),
        ({"Profiles": [{"Name": "Home"}], "Rules": [wrule()]}, 'Name "Home" is not Domain'),
        (
            export(wrule(), DefaultInboundAction="Deny"),
            'profile Domain: DefaultInboundAction "Deny" is not one of',
        ),
    ],
)
def test_bad_documents(document: Any, message: str) -> None:
    error = error_of(json.dumps(document, indent=2))
    assert message in error.message, error.message
    assert error.file == "bad.json"


def test_rule_errors_name_the_rule_and_line() -> None:
    document = export(wrule("good"), wrule("bad", LocalPort="99999"))
    error = error_of(json.dumps(document, indent=2))
    assert error.message.startswith("rule 'bad' (bad display): LocalPort")
    lines = json.dumps(document, indent=2).splitlines()
    assert error.line is not None and lines[error.line] == '      "Name": "bad",'


def test_profile_errors_name_the_line() -> None:
    text = json.dumps(export(wrule(), AllowInboundRules="Sometimes"), indent=2)
    error = error_of(text)
    assert error.message.startswith('profile Domain: AllowInboundRules "Sometimes"')
    assert error.line is not None and text.splitlines()[error.line] == '      "Name": "Domain",'


def test_no_rules_with_profiles_is_a_policy() -> None:
    ruleset = parse({"Profiles": [profile("Domain", DefaultInboundAction="Allow")], "Rules": []})
    assert ruleset.rule_count() == 0
    assert ruleset.chains[INBOUND_KEY].policy is Action.ACCEPT


def test_other_formats_are_refused() -> None:
    for path in (NSG_SAMPLE, AWS_SAMPLE):
        if path.exists():
            error = error_of(path.read_text(encoding="utf-8"))
            assert "not a Windows Firewall export" in error.message


def test_a_plain_rule_dump_is_refused() -> None:
    dump = [{"Name": "R", "DisplayName": "R", "Enabled": 1, "Direction": 1, "Action": 2}]
    error = error_of(json.dumps(dump))
    assert "no PortFilter or AddressFilter" in error.message


def test_bad_profile_option() -> None:
    assert "use domain, private or public" in error_of(json.dumps([wrule()]), "home").message


def test_huge_and_deep_json() -> None:
    assert "not valid JSON" in error_of("[" + "1" * 5000 + "]").message
    error_of("[" * 100_000)


# --- fuzz -----------------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 70_000),
    st.sampled_from(
        [
            "Any",
            "TCP",
            "UDP",
            "ICMPv4",
            "RPC",
            "RPCEPMap",
            "Teredo",
            "80",
            "1-5",
            "Inbound",
            "Outbound",
            "Allow",
            "Block",
            "True",
            "False",
            "Domain, Public",
            "LocalSubnet",
            "10.0.0.0/8",
            "10.0.0.1-10.0.0.5",
            "fe80::/64",
            "*",
            "",
            "NotConfigured",
            "2",
            "4",
        ]
    ),
    st.text(max_size=12),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = [
    "Enabled",
    "Direction",
    "Action",
    "Profile",
    "Protocol",
    "LocalPort",
    "RemotePort",
    "IcmpType",
    "DynamicTarget",
    "LocalAddress",
    "RemoteAddress",
    "Program",
    "Service",
    "InterfaceType",
    "OverrideBlockRules",
    "Authentication",
    "RemoteMachine",
    "PortFilter",
    "AddressFilter",
    "PolicyStoreSourceType",
    "Name",
]


def _outcome(text: str) -> None:
    try:
        ruleset = parse(text)
    except PolicyError as error:
        assert "\n" not in str(error)
        return
    assert set(ruleset.chains) == {INBOUND_KEY, OUTBOUND_KEY}
    for chain in ruleset.chains.values():
        assert chain.policy in (Action.ACCEPT, Action.DROP)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_fuzz_any_text(text: str) -> None:
    _outcome(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_fuzz_any_json(document: Any) -> None:
    _outcome(json.dumps(document))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=4), min_size=1, max_size=4),
    st.dictionaries(
        st.sampled_from(["Enabled", "DefaultInboundAction", "AllowInboundRules", "Name"]),
        _SCALARS,
        max_size=2,
    ),
    _JSON,
)
def test_fuzz_mutated_rules(
    changes: list[dict[str, Any]], domain: dict[str, Any], active: Any
) -> None:
    document = export(*(wrule(f"r{i}", **change) for i, change in enumerate(changes)), **domain)
    document["Profile"] = active
    _outcome(json.dumps(document))


@pytest.mark.parametrize(
    ("fields", "program", "service", "types"),
    [
        ({"Program": LSASS}, "lsass.exe", None, None),
        ({"Program": "System"}, "system", None, None),
        ({"Service": "dnscache"}, None, "dnscache", None),
        ({"IcmpType": ["8"]}, None, None, frozenset({8})),
        ({"IcmpType": ["8:0", "0"]}, None, None, frozenset({0, 8})),
    ],
)
def test_program_service_and_icmp_filters_are_kept(
    fields: dict[str, Any], program: str | None, service: str | None, types: frozenset[int] | None
) -> None:
    rule = only(parse(export(wrule(**{"LocalPort": "389", **fields}))))
    assert (rule.match.program, rule.match.service, rule.match.icmp_types) == (
        program,
        service,
        types,
    )
    assert rule.match.unknown is None
