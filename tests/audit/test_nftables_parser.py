"""The nftables-json parser against real `nft -j list ruleset` output.

The samples under tests/data/audit/nftables-json/ were made by loading each .nft file (and
iptables-nft.sh) into a throwaway network namespace with nft 1.0.6 (generate.sh there).
Constructs that cannot be loaded here (a queue without the kernel module, hand-written JSON
with named priorities) are tested on JSON derived from those samples.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridports.audit.interface import (
    Action,
    AddressMatch,
    InterfaceMatch,
    Match,
    ParseOptions,
    PolicyError,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import ALL_PORTS, ALL_V4, ALL_V6, EMPTY, Intervals
from hybridports.audit.intervals import network_interval as net
from hybridports.audit.nftables import NftablesJsonParser
from hybridports.render.interface import RenderError
from hybridports.render.run import render
from tests.conftest import ROOT
from tests.peers.netns import throwaway_namespace
from tests.render.cloud_support import EXAMPLE_NAMES, planned

DATA = ROOT / "tests" / "data" / "audit" / "nftables-json"
SAMPLES = sorted(p.stem for p in DATA.glob("*.json"))
PARSER = NftablesJsonParser()
ALL = ("prerouting", "input", "forward", "output", "postrouting")


def parse_text(text: str, file: str = "ruleset.json") -> Ruleset:
    return PARSER.parse(text, file, ParseOptions())


def parse(name: str) -> Ruleset:
    path = DATA / f"{name}.json"
    return parse_text(path.read_text(encoding="utf-8"), str(path))


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def hooks(**positions: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {p: positions.get(p, ()) for p in ALL}


def addresses(*cidrs: str) -> AddressMatch:
    result = EMPTY
    for cidr in cidrs:
        result |= net(cidr)
    return AddressMatch(result)


def ports(*values: int | tuple[int, int]) -> Intervals:
    return Intervals.of(v if isinstance(v, tuple) else (v, v) for v in values)


def rules_of(ruleset: Ruleset, key: str) -> dict[str, Rule]:
    return {rule.label: rule for rule in ruleset.chains[key].rules}


def unknown_labels(ruleset: Ruleset) -> list[str]:
    return [f.rule for f in ruleset.findings if f.kind == "unknown-construct"]


def check_invariants(ruleset: Ruleset) -> None:
    """What every parse must satisfy, whatever the input."""
    for position, keys in ruleset.hooks.items():
        assert position in ALL
        for key in keys:
            assert ruleset.chains[key].policy in (Action.ACCEPT, Action.DROP)
    labels = {f.rule for f in ruleset.findings if f.kind == "unknown-construct"}
    for chain in ruleset.chains.values():
        for rule in chain.rules:
            if rule.action in (Action.JUMP, Action.GOTO):
                assert rule.target in ruleset.chains
            if rule.match.unknown is not None:  # never kept silently
                assert any(rule.label.startswith(label) for label in labels), rule.label


# --------------------------------------------------------------------------- real samples


def test_host_firewall() -> None:
    rs = parse("host-firewall")
    assert rs.format == "nftables-json"
    assert rs.summary == "1 table, 5 chains, 15 rules"
    assert rs.findings == []
    assert rs.hooks == hooks(
        input=("inet filter input",),
        forward=("inet filter forward",),
        output=("inet filter output",),
    )
    chain = rs.chains["inet filter input"]
    assert (chain.policy, chain.policy_label, chain.families) == (
        Action.DROP,
        "table inet filter chain input policy drop",
        None,
    )
    label = "table inet filter chain input handle {}".format
    assert [(r.label, r.action, r.target) for r in chain.rules] == [
        (label(9), Action.ACCEPT, None),
        (label(10), Action.DROP, None),
        (label(11), Action.ACCEPT, None),
        (label(12), Action.ACCEPT, None),
        (label(14), Action.ACCEPT, None),
        (label(15), Action.JUMP, "inet filter admin_in"),
        (label(16), Action.JUMP, "inet filter admin_in"),
        (label(17), Action.ACCEPT, None),
        (label(19), Action.ACCEPT, None),
        (label(20), Action.JUMP, "inet filter log_and_reject"),
    ]
    rules = rules_of(rs, "inet filter input")
    assert rules[label(9)].match == Match(new_connection=False)  # established,related
    assert rules[label(10)].match == Match(new_connection=False)  # invalid
    assert rules[label(11)].match == Match(in_interface=InterfaceMatch(frozenset({"lo"})))
    assert rules[label(12)].match == Match(protocols=frozenset({"icmp"}), icmp_types=frozenset({8}))
    assert rules[label(14)].match == Match(  # echo-request and neighbour discovery
        protocols=frozenset({"icmpv6"}), icmp_types=frozenset({128, 134, 135, 136})
    )
    assert rules[label(15)].match == Match(
        source=addresses("10.0.9.0/24", "192.0.2.10"), families=frozenset({4})
    )
    assert rules[label(16)].match == Match(
        source=addresses("2001:db8:9::/64"), families=frozenset({6})
    )
    assert rules[label(17)].match == Match(
        source=addresses("10.0.1.0/24"),
        protocols=frozenset({"tcp"}),
        ports=ports(3128, 8080),
        families=frozenset({4}),
    )
    assert rules[label(19)].match == Match(
        source=addresses("10.0.0.0/16"),
        protocols=frozenset({"tcp", "udp"}),
        ports=ports(53),
        families=frozenset({4}),
    )
    assert [(r.action, r.match.ports) for r in rs.chains["inet filter admin_in"].rules] == [
        (Action.ACCEPT, ports(22)),
        (Action.ACCEPT, ports(9100)),
    ]
    assert rs.chains["inet filter admin_in"].policy is None
    reject = rs.chains["inet filter log_and_reject"].rules
    assert [(r.action, r.reject, r.match) for r in reject] == [
        (Action.CONTINUE, False, Match()),  # log, counter
        (Action.DROP, True, Match(protocols=frozenset({"tcp"}))),
        (Action.DROP, True, Match()),
    ]
    assert rs.chains["inet filter output"].rules == ()
    assert rs.chains["inet filter output"].policy is Action.ACCEPT
    check_invariants(rs)


def test_gateway_vmaps_named_and_interval_sets() -> None:
    rs = parse("gateway")
    assert rs.summary == "2 tables, 7 chains, 18 rules"
    assert rs.hooks == hooks(
        prerouting=("ip nat prerouting",),
        forward=("inet gw forward",),
        postrouting=("ip nat postrouting",),
    )
    forward = rules_of(rs, "inet gw forward")
    label = "table inet gw chain forward handle {}".format
    # ct state vmap: one rule per element; none matches a connection's first packet.
    for state, action in (("established", "accept"), ("related", "accept"), ("invalid", "drop")):
        rule = forward[f"{label(13)} vmap element {state}"]
        assert (rule.action.value, rule.match) == (action, Match(new_connection=False))
    for interface, chain in (("office0", "from_office"), ("srv0", "from_servers")):
        rule = forward[f"{label(14)} vmap element {interface}"]
        assert (rule.action, rule.target) == (Action.JUMP, f"inet gw {chain}")
        assert rule.match == Match(in_interface=InterfaceMatch(frozenset({interface})))
    assert len(forward) == 8
    assert forward[label(16)].action is Action.CONTINUE  # log + counter

    office = rules_of(rs, "inet gw from_office")
    label = "table inet gw chain from_office handle {}".format
    office_nets = net("10.20.0.0/16") | Intervals.span(
        int.from_bytes(bytes([10, 21, 0, 0])), int.from_bytes(bytes([10, 21, 3, 255]))
    )
    assert office[label(17)] == Rule(
        Match(source=AddressMatch(ALL_V4 - office_nets), families=frozenset({4})),
        Action.DROP,
        label(17),
    )
    dcs = addresses("10.0.2.10", "10.0.2.11")
    ad_tcp = ports(53, 88, 135, 389, 445, 464, 636, (3268, 3269), (49152, 65535))
    assert office[label(18)].match == Match(
        destination=dcs, protocols=frozenset({"tcp"}), ports=ad_tcp, families=frozenset({4})
    )
    assert office[label(19)].match.ports == ports(53, 88, 123, 389, 464)
    assert office[label(20)].match == Match(
        destination=dcs,
        protocols=frozenset({"icmp"}),
        families=frozenset({4}),
        icmp_types=frozenset({8}),
    )
    assert office[label(22)].match.out_interface == InterfaceMatch(frozenset({"wan0"}))

    servers = rules_of(rs, "inet gw from_servers")
    label = "table inet gw chain from_servers handle {}".format
    for dc in ("10.0.2.10", "10.0.2.11"):
        rule = servers[f"{label(27)} set element 10.0.1.10 . {dc} . 389"]
        assert rule.match == Match(
            source=addresses("10.0.1.10"),
            destination=addresses(dc),
            protocols=frozenset({"tcp"}),
            ports=ports(389),
            families=frozenset({4}),
        )
    assert (servers[label(28)].action, servers[label(28)].target) == (
        Action.GOTO,
        "inet gw reject_rest",
    )
    assert rs.chains["inet gw reject_rest"].rules[0].reject

    # NAT: the chains take part (they can drop); a translation ends its chain with accept.
    dnat = rs.chains["ip nat prerouting"].rules[0]
    assert (dnat.action, dnat.match.ports, rs.chains["ip nat prerouting"].families) == (
        Action.ACCEPT,
        ports(443),
        frozenset({4}),
    )
    nat = [(f.rule, f.severity) for f in rs.findings if f.kind == "nat"]
    assert nat == [
        ("table ip nat chain prerouting handle 3", "warning"),
        ("table ip nat chain postrouting handle 4", "info"),
    ]
    assert "dnat to 198.51.100.10" in rs.findings[0].detail
    assert unknown_labels(rs) == []
    check_invariants(rs)


def test_mixed_families_and_priorities() -> None:
    rs = parse("mixed-families")
    assert rs.summary == "6 tables, 9 chains, 11 rules, 2 tables ignored"
    assert rs.hooks == hooks(
        # netdev ingress runs before every prerouting chain, whatever its priority
        prerouting=("netdev edge wan_ingress", "ip raw4 pre"),
        input=("inet common in",),
        forward=(
            "inet early forward",  # mangle, -150
            "ip6 filter6 forward",  # -5
            "ip filter4 forward",  # filter, listed first
            "inet common forward0",  # filter, listed later
            "ip filter4 forward_late",  # filter + 10
            "inet common forward",  # security, 50
        ),
    )
    families = {key: chain.families for key, chain in rs.chains.items()}
    assert families["ip raw4 pre"] == frozenset({4})
    assert families["ip6 filter6 forward"] == frozenset({6})
    assert families["inet common forward"] is None
    assert families["netdev edge wan_ingress"] is None
    assert not any(key.startswith(("bridge", "arp")) for key in rs.chains)
    ignored = [(f.rule, f.severity) for f in rs.findings if f.kind == "ignored-table"]
    assert ignored == [("table bridge br", "info"), ("table arp arpf", "info")]
    # nft 1.0.6 leaves the ingress device out of its JSON: the chain then applies everywhere.
    device = [f for f in rs.findings if f.kind == "unknown-device"]
    assert [f.rule for f in device] == ["table netdev edge chain wan_ingress"]
    assert rs.chains["netdev edge wan_ingress"].rules[0].match == Match(
        source=addresses("192.0.2.0/24"), families=frozenset({4})
    )
    early = rs.chains["inet early forward"].rules[0].match
    assert (early.protocols, early.negate_protocols) == (
        frozenset({"tcp", "udp", "icmp", "icmpv6"}),
        True,
    )
    assert rs.chains["inet common forward0"].rules[0].match == Match(
        protocols=frozenset({"tcp"}), ports=ports(139), families=frozenset({4})
    )
    smb = rs.chains["inet common forward"].rules[0].match
    assert smb.destination == AddressMatch(ALL_V6 - net("2001:db8:2::/64"))
    assert smb.families == frozenset({6})
    assert unknown_labels(rs) == []
    check_invariants(rs)


def _with_ingress(**chain_fields: Any) -> Ruleset:
    doc = sample("mixed-families")
    for entry in doc["nftables"]:
        if entry.get("chain", {}).get("name") == "wan_ingress":
            entry["chain"].update(chain_fields)
    return parse_text(json.dumps(doc))


def test_ingress_device_scopes_the_chain() -> None:
    # Newer nft lists the device: only its packets meet the chain.
    rs = _with_ingress(dev="wan0")
    assert not [f for f in rs.findings if f.kind == "unknown-device"]
    (rule,) = rs.chains["netdev edge wan_ingress"].rules
    assert rule.match.in_interface == InterfaceMatch(frozenset({"wan0"}))
    # A drop policy must not reach other devices' packets: they skip the chain first.
    rs = _with_ingress(dev=["wan0", "wan1"], policy="drop")
    skip, rule = rs.chains["netdev edge wan_ingress"].rules
    assert skip == Rule(
        Match(in_interface=InterfaceMatch(frozenset({"wan0", "wan1"}), negate=True)),
        Action.ACCEPT,
        "table netdev edge chain wan_ingress (hook ingress device wan0, wan1)",
    )
    assert rule.match.in_interface is None


def test_unsupported_constructs_are_kept_as_unknown() -> None:
    rs = parse("unsupported")
    rules = rs.chains["inet odd forward"].rules
    label = "table inet odd chain forward handle {}".format
    expected = {
        5: ("meta mark 1", Action.ACCEPT),
        6: ("ct mark 2", Action.DROP),
        7: ("limit rate 3/minute", Action.ACCEPT),
        8: ("quota over 2000 mbytes", Action.DROP),
        9: ("ct count over 100", Action.DROP),
        10: ("fib saddr . iif oif missing", Action.DROP),
        11: ("(tcp flags & fin,syn,rst,ack) != syn", Action.DROP),
        12: ("ct status dnat", Action.ACCEPT),
        13: ("ip saddr . tcp dport != @pairs", Action.DROP),
        14: ("ip dscp cs1", Action.ACCEPT),
        16: ("meter per_source { ip saddr limit rate over 10/second }", Action.DROP),
        18: ("notrack", Action.CONTINUE),
    }
    found = {r.label: (r.match.unknown, r.action) for r in rules if r.match.unknown}
    assert found == {label(h): value for h, value in expected.items()}
    assert unknown_labels(rs) == [label(h) for h in expected]
    # What was understood next to the unknown part is kept.
    by_label = {r.label: r for r in rules}
    limited = by_label[label(7)].match
    assert (limited.ports, limited.new_connection) == (ports(22), True)
    assert by_label[label(19)].match == Match(
        protocols=frozenset({"icmp"}),
        icmp_types=frozenset({3}),  # destination-unreachable
    )
    # A timeout set is read as listed (empty here), with a note.
    assert by_label[label(17)].match.source == AddressMatch(EMPTY)
    dynamic = [f for f in rs.findings if f.kind == "dynamic-set"]
    assert [(f.rule, f.severity) for f in dynamic] == [(label(17), "info")]
    assert by_label[label(20)].match == Match(protocols=frozenset({"tcp"}), ports=ports(443))
    check_invariants(rs)


def test_iptables_nft_extensions() -> None:
    rs = parse("iptables-nft")
    label = "table ip filter chain FORWARD handle {}".format
    rules = {r.label: r for r in rs.chains["ip filter FORWARD"].rules}
    assert rs.chains["ip filter FORWARD"].policy is Action.DROP
    assert rules[label(2)].match.unknown == "xt match conntrack"
    assert rules[label(3)].match.unknown == "xt match multiport"
    assert rules[label(3)].match.destination == addresses("10.0.2.10")
    assert rules[label(4)].match == Match(  # -m comment changes nothing
        destination=addresses("10.0.2.10"),
        protocols=frozenset({"tcp"}),
        ports=ports(445),
        families=frozenset({4}),
    )
    assert (rules[label(5)].action, rules[label(5)].match.unknown) == (
        Action.DROP,
        "xt match recent",
    )
    assert rules[label(6)].action is Action.CONTINUE  # -j LOG
    assert (rules[label(7)].action, rules[label(7)].reject) == (Action.DROP, True)  # -j REJECT
    assert unknown_labels(rs) == [label(2), label(3), label(5)]
    check_invariants(rs)


# ------------------------------------------------------------------- JSON made by hand


def ruleset_json(*rules: list[Any], chain: dict[str, Any] | None = None, **extra: Any) -> str:
    """One inet table with a forward base chain and a regular chain "other"."""
    base = {"family": "inet", "table": "t", "name": "fwd", "handle": 1, "type": "filter"}
    base |= {"hook": "forward", "prio": 0, "policy": "drop"} | (chain or {})
    entries: list[dict[str, Any]] = [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": base},
        {"chain": {"family": "inet", "table": "t", "name": "other", "handle": 2}},
        *extra.get("entries", []),
    ]
    for handle, expr in enumerate(rules, 10):
        rule = {"family": "inet", "table": "t", "chain": "fwd", "handle": handle, "expr": expr}
        entries.append({"rule": rule})
    return json.dumps({"nftables": entries})


def match(protocol: str, field: str, right: Any, op: str = "==") -> dict[str, Any]:
    left = {"payload": {"protocol": protocol, "field": field}}
    return {"match": {"op": op, "left": left, "right": right}}


def one_rule(*statements: Any) -> tuple[Rule, Ruleset]:
    rs = parse_text(ruleset_json(list(statements)))
    (rule,) = rs.chains["inet t fwd"].rules
    return rule, rs


def test_queue_and_unheard_of_statements_decide_as_unknown() -> None:
    # Without a verdict of their own such rules would be skipped; DROP keeps them decisive.
    for statement in ({"queue": {"num": 1}}, {"xt": {"type": "target", "name": "TPROXY"}}):
        rule, rs = one_rule(match("tcp", "dport", 22), statement)
        assert rule.action is Action.DROP
        assert rule.match.unknown is not None
        assert rule.match.ports == ports(22)
        assert unknown_labels(rs) == ["table inet t chain fwd handle 10"]
    rule, _ = one_rule({"future-statement": {"x": 1}})
    assert (rule.action, rule.match.unknown) == (Action.DROP, 'future-statement {"x":1}')
    rule, _ = one_rule({"limit": {"rate": 1, "per": "second"}})  # a match: no verdict of its own
    assert rule.action is Action.CONTINUE


def test_operators_ranges_negations() -> None:
    rule, _ = one_rule(match("tcp", "dport", 1024, "<"), {"accept": None})
    assert rule.match.ports == ports((0, 1023))
    rule, _ = one_rule(match("udp", "sport", {"range": [1000, 2000]}, "!="), {"drop": None})
    assert rule.match.source_ports == ALL_PORTS - ports((1000, 2000))
    assert rule.match.protocols == frozenset({"udp"})
    rule, _ = one_rule(match("ip", "saddr", {"range": ["10.0.0.5", "10.0.0.9"]}), {"drop": None})
    assert rule.match.source == AddressMatch(Intervals.span(0x0A000005, 0x0A000009))
    rule, _ = one_rule(
        {"match": {"op": "!=", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
        {"accept": None},
    )
    assert rule.match.families == frozenset({6})
    rule, _ = one_rule(
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 47}},
        match("icmpv6", "type", {"set": [{"range": [100, 130]}, "nd-redirect"]}),
        {"accept": None},
    )
    assert rule.match.protocols == frozenset()  # gre and icmpv6 at once: never
    assert rule.match.icmp_types == frozenset(range(100, 131)) | {137}
    rule, _ = one_rule(
        match("icmpv6", "type", "echo-reply", "!="),
        match("icmpv6", "type", {"range": [128, 200]}),
        {"accept": None},
    )
    assert rule.match.protocols == frozenset({"icmpv6"})
    assert rule.match.icmp_types == frozenset(range(128, 201)) - {129}
    # ct state: `in` tests bits, `==` compares the whole value
    ct = {"ct": {"key": "state"}}
    for op, right, new in (
        ("in", ["new", "established"], True),
        ("==", {"|": ["new", "established"]}, False),
        ("!=", {"|": ["established", "related"]}, True),
        ("!=", {"set": ["new"]}, False),
        ("==", "new", True),
    ):
        rule, _ = one_rule({"match": {"op": op, "left": ct, "right": right}}, {"accept": None})
        assert rule.match.new_connection is new, (op, right)


def test_empty_sets_match_nothing() -> None:
    empty = {"set": {"family": "inet", "table": "t", "name": "e", "type": "ipv4_addr"}}
    concat = {"concat": [{"payload": {"protocol": "ip", "field": "saddr"}}]}
    rs = parse_text(
        ruleset_json(
            [match("ip", "daddr", "@e"), {"drop": None}],
            [{"match": {"op": "==", "left": concat, "right": "@e"}}, {"drop": None}],
            [{"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": []}}}],
            entries=[empty],
        )
    )
    plain, split, vmap = rs.chains["inet t fwd"].rules
    assert plain.match == Match(destination=AddressMatch(EMPTY), families=frozenset({4}))
    assert (split.action, split.match) == (Action.DROP, Match(families=frozenset()))
    assert (vmap.action, vmap.match) == (Action.CONTINUE, Match(families=frozenset()))
    assert rs.findings == []


def test_named_priorities_and_unknown_family() -> None:
    entries = [
        {"table": {"family": "ip", "name": "a", "handle": 2}},
        {"table": {"family": "decnet", "name": "z", "handle": 3}},
        {"chain": {"family": "decnet", "table": "z", "name": "c", "hook": "input"}},
    ]
    for name, prio in (("late", "filter + 10"), ("raw", "raw"), ("early", "-5"), ("nat", "dstnat")):
        chain = {"family": "ip", "table": "a", "name": name, "type": "filter"}
        entries.append({"chain": chain | {"hook": "forward", "prio": prio}})
    rs = parse_text(ruleset_json(entries=entries))
    assert rs.hooks["forward"] == ("ip a raw", "ip a nat", "ip a early", "inet t fwd", "ip a late")
    assert rs.chains["ip a late"].policy is Action.ACCEPT  # the default
    (finding,) = [f for f in rs.findings if f.kind == "ignored-table"]
    assert (finding.rule, finding.severity) == ("table decnet z", "warning")


def test_labels_without_handles_and_lines_of_pretty_json() -> None:
    doc = json.loads(ruleset_json([{"accept": None}], [{"drop": None}]))
    del doc["nftables"][-1]["rule"]["handle"]
    rs = parse_text(json.dumps(doc, indent=2))
    accept, drop = rs.chains["inet t fwd"].rules
    assert (accept.label, drop.label) == (
        "table inet t chain fwd handle 10",
        "table inet t chain fwd rule 2",
    )
    text = json.dumps(doc, indent=2)
    assert accept.line is not None and '"rule": {' in text.splitlines()[accept.line - 1]
    assert parse_text(json.dumps(doc)).chains["inet t fwd"].rules[0].line is None


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "empty file", None),
        ("table inet filter {\n}\n", "this is nft's text syntax, not JSON", 1),
        ('{"nftables": [\n{"table": {"family": "inet", "name": "x"', "not valid JSON", 2),
        ('{"rules": []}', 'not `nft -j list ruleset` output: no "nftables" array', 1),
        ("[1, 2]", 'no "nftables" array', 1),
        ('{"nftables": {"table": {}}}', 'no "nftables" array', 1),
        ('{"nftables": [{"metainfo": {"version": "1.0.6"}}]}', "empty ruleset: no tables", None),
        ('{"nftables": [{"table": {"family": "ip"}}]}', "table has no 'name' string", 1),
        ('{"nftables": [{"table": {}, "chain": {}}]}', "not an object with one key", 1),
        ('{"nftables": [17]}', "not an object with one key", None),
        ('{"nftables": [' + "1" * 5000 + "]}", "Exceeds the limit (4300 digits)", None),
    ],
)
def test_bad_input(text: str, message: str, line: int | None) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_text(text, "fw.json")
    assert message in caught.value.message
    assert caught.value.line == line
    assert "\n" not in str(caught.value) and str(caught.value).startswith("fw.json:")


def test_truncated_sample() -> None:
    text = (DATA / "gateway.json").read_text(encoding="utf-8")
    with pytest.raises(PolicyError, match=r"fw\.json:1: not valid JSON"):
        parse_text(text[: len(text) // 2], "fw.json")
    pretty = json.dumps(json.loads(text), indent=1)
    cut = pretty[: len(pretty) // 2]
    with pytest.raises(PolicyError) as caught:
        parse_text(cut, "fw.json")
    assert caught.value.line == cut.count("\n") + 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"policy": "reject"}, 'chain fwd: unknown policy "reject"'),
        ({"prio": "sideways"}, 'chain fwd: priority "sideways" is not a number or name'),
        ({"hook": "sideways"}, "chain fwd: unknown hook"),
    ],
)
def test_bad_chains(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_text(ruleset_json(chain=change))


def test_bad_references() -> None:
    with pytest.raises(PolicyError, match="jumps to chain nowhere, which table inet t"):
        parse_text(ruleset_json([{"jump": {"target": "nowhere"}}]))
    orphan = {"rule": {"family": "inet", "table": "t", "chain": "gone", "expr": []}}
    with pytest.raises(PolicyError, match="rule in chain gone, which table inet t does not"):
        parse_text(ruleset_json(entries=[orphan]))
    stray = {"chain": {"family": "ip", "table": "nope", "name": "c"}}
    with pytest.raises(PolicyError, match="chain in table ip nope, which the file does not"):
        parse_text(ruleset_json(entries=[stray]))


# ------------------------------------------------------------------------------- fuzzing

WORDS = ["accept", "drop", "jump", "@s", "tcp", "ip", "ip6", "inet", "netdev", "bridge", "eth*"]
WORDS += ["10.0.0.1", "::1", "new", "established", "saddr", "dport", "filter", "forward"]
KEYS = ["nftables", "table", "chain", "rule", "set", "map", "family", "name", "expr", "match"]
KEYS += ["left", "right", "op", "payload", "protocol", "field", "meta", "key", "elem", "prefix"]
KEYS += ["addr", "len", "range", "vmap", "data", "target", "hook", "prio", "policy", "handle"]
KEYS += ["concat", "ct", "dev", "flags", "val", "|"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=24,
)


def parses_or_refuses(text: str) -> None:
    try:
        ruleset = parse_text(text, "fuzz.json")
    except PolicyError as exc:
        assert "\n" not in str(exc)
        return
    check_invariants(ruleset)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_any_text(text: str) -> None:
    parses_or_refuses(text)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_fuzz_any_json(value: Any) -> None:
    parses_or_refuses(json.dumps(value))
    parses_or_refuses(json.dumps({"nftables": [{"table": {"family": "inet", "name": "t"}}, value]}))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            yield from _paths(child, (*prefix, key))


LOADED = {name: sample(name) for name in SAMPLES}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_samples(data: st.DataObject) -> None:
    # Real rulesets with one value replaced or removed anywhere: the parser's worst inputs.
    name = data.draw(st.sampled_from(SAMPLES))
    doc = copy.deepcopy(LOADED[name])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(doc))[1:] or [()]
        path = data.draw(st.sampled_from(paths))
        if not path:
            break
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON_VALUES)
    parses_or_refuses(json.dumps(doc))


# ------------------------------------------------------------- with nft in a namespace


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    """A throwaway network namespace, so nft never touches the host's ruleset."""
    if shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("nft or ip not installed (Debian packages nftables, iproute2)")
    with throwaway_namespace("hp-nftjson") as name:
        yield name


def nft(namespace: str, *args: str) -> str:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.peers
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_rendered_rulesets_parse_without_unknowns(
    example: str, namespace: str, tmp_path: Path
) -> None:
    # Our own nftables output, loaded by the kernel and listed back, holds nothing unknown.
    plan = planned(example, tmp_path)
    for host in [None, *sorted(h.name for h in plan.topology.hosts)]:
        try:
            text, _ = render(plan, "nftables", host=host)
        except RenderError:
            continue  # e.g. an IPv6-only host whose flows all pair IPv4 with IPv6
        script = tmp_path / f"{host or 'forward'}.nft"
        script.write_text(text, encoding="utf-8")
        nft(namespace, "flush", "ruleset")
        nft(namespace, "-f", str(script))
        rs = parse_text(nft(namespace, "-j", "list", "ruleset"), f"{example}-{host}.json")
        assert unknown_labels(rs) == [], (example, host)
        assert not [f for f in rs.findings if f.severity != "info"], (example, host)
        positions = ("forward",) if host is None else ("input", "output")
        assert all(rs.hooks[p] for p in positions), (example, host, rs.hooks)
        assert rs.rule_count() > 2
        check_invariants(rs)
    nft(namespace, "flush", "ruleset")


@pytest.mark.peers
@pytest.mark.parametrize("source", sorted(DATA.glob("*.nft")), ids=lambda p: p.stem)
def test_samples_match_a_fresh_listing(source: Path) -> None:
    # The stored JSON is what this machine's nft prints for the .nft file (same version).
    stored = sample(source.stem)
    version = stored["nftables"][0]["metainfo"]["version"]
    installed = subprocess.run(["nft", "--version"], capture_output=True, text=True).stdout
    if f"v{version} " not in installed:
        pytest.skip(f"samples were listed by nft {version}; installed: {installed.strip()}")
    with throwaway_namespace("hp-nftjson") as name:
        subprocess.run(
            ["ip", "-n", name, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0-p"],
            check=True,
        )
        nft(name, "-f", str(source))
        fresh = parse_text(nft(name, "-j", "list", "ruleset"), str(source))
    expected = parse(source.stem)
    assert fresh.hooks == expected.hooks
    assert fresh.summary == expected.summary
    for key, chain in expected.chains.items():
        # Elements of hashed sets come back in any order; a packet matches at most one.
        assert sorted(fresh.chains[key].rules, key=lambda r: r.label) == sorted(
            chain.rules, key=lambda r: r.label
        )
