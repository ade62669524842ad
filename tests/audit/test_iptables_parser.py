"""The iptables-save parser on real iptables-save / ip6tables-save output.

The samples in tests/data/audit/iptables-save/*.save were made by loading the *.restore
files next to them into a throwaway network namespace and saving them back
(regenerate.sh); one test does the same live with the renderer's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

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
from hybridports.audit.intervals import (
    ALL_PORTS,
    ALL_V4,
    ALL_V6,
    Intervals,
    address_range,
    network_interval,
)
from hybridports.audit.iptables import IptablesSaveParser, tokenize
from tests.clirunner import run
from tests.conftest import EXAMPLES, ROOT
from tests.peers.netns import throwaway_namespace

DATA = ROOT / "tests" / "data" / "audit" / "iptables-save"
PARSER = IptablesSaveParser()


def parse(text: str, file: str = "fw.rules") -> Ruleset:
    return PARSER.parse(text, file, ParseOptions())


def sample(name: str) -> Ruleset:
    path = DATA / f"{name}.save"
    return parse(path.read_text(encoding="utf-8"), str(path))


def rules(ruleset: Ruleset, key: str) -> list[Rule]:
    return list(ruleset.chains[key].rules)


def kinds(ruleset: Ruleset) -> list[str]:
    return [f.kind for f in ruleset.findings]


def net(text: str) -> AddressMatch:
    return AddressMatch(network_interval(text))


def ports(*values: int | tuple[int, int]) -> Intervals:
    return Intervals.of((v, v) if isinstance(v, int) else v for v in values)


def filter_table(*lines: str, header: str = "") -> str:
    body = "\n".join(lines)
    return (
        f"{header}*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        f"{body}\nCOMMIT\n"
    )


TCP, UDP = frozenset({"tcp"}), frozenset({"udp"})

# ----------------------------------------------------------------------------- host


def test_host_firewall_structure() -> None:
    rs = sample("host")
    assert rs.format == "iptables-save"
    assert rs.summary == "filter table, 3 chains, 13 rules (IPv4)"
    assert rs.hooks == {
        "prerouting": (),
        "input": ("ip filter INPUT",),
        "forward": ("ip filter FORWARD",),
        "output": ("ip filter OUTPUT",),
        "postrouting": (),
    }
    assert not rs.host_policy
    chain = rs.chains["ip filter INPUT"]
    assert chain.policy is Action.DROP
    assert chain.policy_label == "filter INPUT policy DROP (line 3)"
    assert chain.families == frozenset({4})
    assert rs.chains["ip filter OUTPUT"].policy is Action.ACCEPT
    assert rs.findings == []


def test_host_firewall_rules() -> None:
    got = rules(sample("host"), "ip filter INPUT")
    assert [r.label for r in got[:5]] == [
        "filter INPUT rule 1 (line 6)",
        "filter INPUT rule 2 (line 7)",
        "filter INPUT rule 3 (line 8)",
        "filter INPUT rule 4 (line 9)",
        'filter INPUT rule 5 (line 10) "ssh from the admin LAN"',
    ]
    assert [r.line for r in got] == list(range(6, 17))
    assert got[0].match == Match(in_interface=InterfaceMatch(frozenset({"lo"})))
    assert got[1].match == Match(new_connection=False)  # RELATED,ESTABLISHED
    assert (got[2].match, got[2].action) == (Match(new_connection=False), Action.DROP)
    # --icmp-type 8: an echo request, which is what a planned ICMP flow is.
    assert got[3].match == Match(protocols=frozenset({"icmp"}))
    assert got[4].match == Match(source=net("10.0.9.0/24"), protocols=TCP, ports=ports(22))
    assert got[5].match == Match(
        source=net("10.0.0.0/8"), protocols=UDP, ports=ports(53, 88, 123, 389, 464)
    )
    assert got[7].match == Match(
        source=net("10.0.1.10/32"),
        destination=net("10.0.2.10/32"),
        protocols=TCP,
        ports=ports((49152, 65535)),
    )
    assert [r.action for r in got[:9]] == [Action.ACCEPT] * 2 + [Action.DROP] + [Action.ACCEPT] * 6
    assert [(r.action, r.reject) for r in got[9:]] == [(Action.DROP, True)] * 2
    out = rules(sample("host"), "ip filter OUTPUT")
    assert out[1].match == Match(destination=net("192.0.2.0/24"))
    assert out[1].label == "filter OUTPUT rule 2 (line 18)"


# ----------------------------------------------------------------------------- gateway


def test_gateway_hooks_follow_netfilter_priorities() -> None:
    rs = sample("gateway")
    assert rs.summary == "mangle, security, raw, filter and nat tables, 21 chains, 31 rules (IPv4)"
    assert rs.hooks == {
        "prerouting": ("ip raw PREROUTING", "ip mangle PREROUTING", "ip nat PREROUTING"),
        "input": ("ip mangle INPUT", "ip filter INPUT", "ip security INPUT", "ip nat INPUT"),
        "forward": ("ip mangle FORWARD", "ip filter FORWARD", "ip security FORWARD"),
        "output": (
            "ip raw OUTPUT",
            "ip mangle OUTPUT",
            "ip nat OUTPUT",
            "ip filter OUTPUT",
            "ip security OUTPUT",
        ),
        "postrouting": ("ip mangle POSTROUTING", "ip nat POSTROUTING"),
    }
    for user in ("log-drop", "office-servers", "servers-wan", "wan-dmz"):
        chain = rs.chains[f"ip filter {user}"]
        assert (chain.policy, chain.policy_label) == (None, "")


def test_gateway_forward_jumps_and_gotos() -> None:
    forward = rules(sample("gateway"), "ip filter FORWARD")
    assert [(r.action, r.target) for r in forward] == [
        (Action.ACCEPT, None),
        (Action.JUMP, "ip filter log-drop"),
        (Action.JUMP, "ip filter office-servers"),
        (Action.GOTO, "ip filter servers-wan"),
        (Action.JUMP, "ip filter wan-dmz"),
        (Action.ACCEPT, None),
        (Action.JUMP, "ip filter log-drop"),
    ]
    assert forward[2].match == Match(
        in_interface=InterfaceMatch(frozenset({"lan*"})),
        out_interface=InterfaceMatch(frozenset({"srv0"})),
    )
    assert forward[4].match.out_interface == InterfaceMatch(frozenset({"lan*"}), negate=True)
    assert forward[5].match == Match(protocols=frozenset({"47"}))  # -p gre
    log_drop = rules(sample("gateway"), "ip filter log-drop")
    assert [r.action for r in log_drop] == [Action.CONTINUE, Action.DROP]


def test_gateway_negation_iprange_multiport() -> None:
    office = rules(sample("gateway"), "ip filter office-servers")
    office_lan = network_interval("10.20.0.0/16")
    assert office[0].match == Match(source=AddressMatch(ALL_V4 - office_lan))
    assert office[0].action is Action.RETURN
    # -d a,b was expanded by iptables into one rule per address; the comment stays on both.
    assert office[1].label == 'filter office-servers rule 2 (line 50) "clients to the DCs"'
    assert office[2].label == 'filter office-servers rule 3 (line 51) "clients to the DCs"'
    assert office[1].match.ports == ports(53, 88, 389, 445, 464)
    assert office[5].match == Match(
        destination=AddressMatch(address_range("10.0.3.10", "10.0.3.19")),
        protocols=TCP,
        ports=ALL_PORTS - ports(3389),
    )
    assert office[6].match == Match(
        source=AddressMatch(ALL_V4 - address_range("10.20.5.0", "10.20.5.255")),
        destination=net("10.0.4.0/24"),
        protocols=TCP,
        negate_protocols=True,
    )
    wan = rules(sample("gateway"), "ip filter servers-wan")
    assert wan[0].match.source == AddressMatch(address_range("10.0.1.10", "10.0.1.22"))
    # --ports 80,443: either port; two rules with one label say the same in first-match.
    assert wan[1].label == wan[2].label == "filter servers-wan rule 2 (line 57)"
    assert (wan[1].match.ports, wan[1].match.source_ports) == (ports(80, 443), None)
    assert (wan[2].match.ports, wan[2].match.source_ports) == (None, ports(80, 443))
    assert wan[3].match == Match(protocols=UDP, ports=ports(53), source_ports=ports((1024, 65535)))
    assert (wan[3].action, wan[3].reject) == (Action.DROP, True)


def test_gateway_connection_state() -> None:
    rs = sample("gateway")
    assert rs.chains["ip filter INPUT"].rules[1].match.new_connection is False  # -m state
    dmz = rules(rs, "ip filter wan-dmz")
    assert dmz[0].match.new_connection is True  # --ctstate NEW
    assert dmz[1].match == Match(new_connection=False)  # ! --ctstate NEW
    # --tcp-flags SYN,RST SYN: the first packet of a connection is a SYN.
    mss = rs.chains["ip mangle FORWARD"].rules[0]
    assert (mss.action, mss.match.new_connection) == (Action.CONTINUE, True)
    invalid = rs.chains["ip mangle PREROUTING"].rules[0]
    assert (invalid.action, invalid.match) == (Action.DROP, Match(new_connection=False))


def test_gateway_raw_security_nat() -> None:
    rs = sample("gateway")
    raw = rules(rs, "ip raw PREROUTING")
    assert raw[0].action is Action.DROP
    assert raw[0].label == 'raw PREROUTING rule 1 (line 24) "spoofed from outside"'
    assert raw[1].action is Action.CONTINUE  # CT --notrack
    assert rules(rs, "ip security FORWARD")[0].match == Match(protocols=TCP, ports=ports(23))
    dnat = rules(rs, "ip nat PREROUTING")[0]
    assert dnat.action is Action.CONTINUE
    by_kind = {(f.kind, f.rule): f for f in rs.findings}
    assert set(by_kind) == {
        ("notrack", "raw PREROUTING rule 2 (line 25)"),
        ("nat", "nat PREROUTING rule 1 (line 69)"),
        ("nat", "nat POSTROUTING rule 1 (line 70)"),
    }
    dnat_finding = by_kind["nat", "nat PREROUTING rule 1 (line 69)"]
    assert dnat_finding.detail.startswith("-j DNAT --to-destination 10.0.3.10:443: rewrites")
    assert dnat_finding.severity == "warning"
    assert by_kind["nat", "nat POSTROUTING rule 1 (line 70)"].severity == "info"


# ----------------------------------------------------------------------------- IPv6


def test_ip6tables_host() -> None:
    rs = sample("host6")
    assert rs.summary == "filter table, 4 chains, 10 rules (IPv6)"
    assert rs.hooks["input"] == ("ip6 filter INPUT",)
    assert all(c.families == frozenset({6}) for c in rs.chains.values())
    got = rules(rs, "ip6 filter INPUT")
    assert (got[2].action, got[2].target) == (Action.JUMP, "ip6 filter nd")
    assert got[3].match == Match(protocols=frozenset({"icmpv6"}))  # echo-request (128)
    assert got[4].match == Match(
        source=net("2001:db8:10::/48"),
        destination=net("2001:db8:20::10/128"),
        protocols=TCP,
        ports=ports(53, 88, 135, 389, 445),
    )
    assert got[5].match.source == AddressMatch(address_range("2001:db8:30::1", "2001:db8:30::ff"))
    assert got[6].match == Match(source=AddressMatch(ALL_V6 - network_interval("2001:db8::/32")))
    # Neighbour discovery types match no planned flow (those are echo requests).
    nd = rules(rs, "ip6 filter nd")
    assert [r.match for r in nd] == [Match(protocols=frozenset())] * 3
    assert rs.findings == []


def test_family_from_header_when_no_address() -> None:
    text = (DATA / "noaddr6.save").read_text(encoding="utf-8")
    rs = parse(text)
    assert set(rs.chains) == {"ip6 filter INPUT", "ip6 filter FORWARD", "ip6 filter OUTPUT"}
    assert rs.summary.endswith("(IPv6)")
    # Without the header comment the same rules are iptables' (IPv4).
    bare = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert set(parse(bare).chains) == {"ip filter INPUT", "ip filter FORWARD", "ip filter OUTPUT"}


def test_family_address_beats_header_and_icmp6_hints() -> None:
    v6_header = "# Generated by ip6tables-save v1.8.9 (nf_tables) on Fri Nov 27 2026\n"
    rs = parse(filter_table("-A INPUT -s 10.0.0.1/32 -j ACCEPT", header=v6_header))
    assert "ip filter INPUT" in rs.chains
    rs = parse(filter_table("-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT"))
    assert "ip6 filter INPUT" in rs.chains


def test_both_families_concatenated() -> None:
    v4 = (DATA / "host.save").read_text(encoding="utf-8")
    v6 = (DATA / "host6.save").read_text(encoding="utf-8")
    rs = parse(v4 + v6)
    assert rs.summary == "filter table, 7 chains, 23 rules (IPv4 and IPv6)"
    assert rs.hooks["input"] == ("ip filter INPUT", "ip6 filter INPUT")
    offset = len(v4.splitlines())
    assert rs.chains["ip6 filter INPUT"].rules[0].line == 7 + offset
    assert (
        rs.chains["ip6 filter INPUT"].policy_label
        == f"filter INPUT policy DROP (line {3 + offset})"
    )
    assert rs.chains["ip filter INPUT"].rules[0].line == 6


# ----------------------------------------------------------------------------- unsupported


def test_unsupported_matches_are_kept_as_unknown() -> None:
    rs = sample("unsupported")
    got = rules(rs, "ip filter INPUT")
    assert got[0].match.source == AddressMatch(ALL_V4, unresolved="ipset admins src")
    assert got[0].match.ports == ports(22)
    assert got[1].match.destination == AddressMatch(ALL_V4, unresolved="! ipset services dst,dst")
    unknown = {r.label: r.match.unknown for r in rs.chains["ip filter INPUT"].rules}
    assert unknown["filter INPUT rule 3 (line 8)"] == "-m limit --limit 3/min"
    assert unknown["filter INPUT rule 8 (line 13)"] == '-m string --string "GET /admin" --algo bm'
    assert unknown["filter INPUT rule 10 (line 15)"] == "-m conntrack --ctorigdst 10.0.0.1"
    assert got[9].match.new_connection is True  # --ctstate NEW was still read
    assert unknown["filter INPUT rule 11 (line 16)"] == "-s 10.0.0.0/255.0.255.0"
    assert unknown["filter INPUT rule 12 (line 17)"] == "-f"
    # --tcp-flags ALL NONE (a null scan) never matches a connection's first packet (SYN).
    assert got[12].match == Match(protocols=TCP, new_connection=False)
    nfqueue = got[14]
    assert (nfqueue.action, nfqueue.match.unknown) == (Action.DROP, "-j NFQUEUE --queue-num 1")
    physdev = rules(rs, "ip filter FORWARD")[0].match.unknown
    assert physdev == "-m physdev --physdev-in veth0 --physdev-is-bridged"
    assert rules(rs, "ip filter OUTPUT")[0].match.unknown == "-m owner --uid-owner 0"
    # Nothing is a silent allow: every accepting rule is unknown or unresolved.
    for chain in rs.chains.values():
        for rule in chain.rules:
            if rule.action is Action.ACCEPT:
                m = rule.match
                assert m.unknown or (m.source and m.source.unresolved), rule.label


def test_unsupported_findings() -> None:
    rs = sample("unsupported")
    found = [(f.kind, f.rule, f.severity) for f in rs.findings]
    assert found[:3] == [
        ("unresolved-reference", "filter INPUT rule 1 (line 6)", "warning"),
        ("unresolved-reference", "filter INPUT rule 2 (line 7)", "warning"),
        ("unknown-construct", "filter INPUT rule 3 (line 8)", "warning"),
    ]
    assert kinds(rs).count("unknown-construct") == 14
    log = [f for f in rs.findings if f.rule == "filter INPUT rule 14 (line 19)"]
    assert [(f.severity, f.detail) for f in log] == [
        (
            "info",
            "-m limit --limit 5/min: the limit match is not evaluated; the rule decides no verdict",
        )
    ]
    labels = {f.rule for f in rs.findings}
    every = {r.label for c in rs.chains.values() for r in c.rules}
    assert every - labels == {"filter INPUT rule 13 (line 18)"}


# ----------------------------------------------------------------------------- our renderer


def test_stored_render_output_has_no_unknown_construct() -> None:
    rs = sample("pta-sso-render")
    assert "unknown-construct" not in kinds(rs)
    assert rs.findings == []
    forward = rules(rs, "ip filter FORWARD")
    assert rs.chains["ip filter FORWARD"].policy is Action.DROP
    assert forward[0].match == Match(new_connection=False)
    assert forward[0].label == (
        'filter FORWARD rule 1 (line 6) "return traffic of allowed connections"'
    )
    assert forward[2].match.protocols == frozenset({"icmp"})


def _namespace_reason() -> str | None:
    if os.geteuid() != 0:
        return "loading rules needs root (a network namespace)"
    for tool in ("ip", "iptables-restore", "iptables-save"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    reason = _namespace_reason()
    if reason:
        pytest.skip(reason)
    with throwaway_namespace("hp-audit-ipt") as name:
        yield name


@pytest.mark.peers
@pytest.mark.parametrize("example", ["pta-sso", "adfs-farm"])
def test_render_load_save_parse(example: str, namespace: str, tmp_path: Path) -> None:
    # The renderer's iptables-restore input, loaded into a kernel and saved back, parses
    # without a construct the audit cannot evaluate.
    result = run("render", str(EXAMPLES / example / "topology.yaml"), "--target", "iptables")
    assert result.exit_code == 0, result.stderr
    rendered = result.stdout
    path = tmp_path / "rules"
    path.write_text(rendered, encoding="utf-8")
    with path.open() as rules_file:
        subprocess.run(
            ["ip", "netns", "exec", namespace, "iptables-restore"],
            stdin=rules_file,
            check=True,
            capture_output=True,
        )
    saved = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-save"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rs = parse(saved, f"{example}.save")
    assert "unknown-construct" not in kinds(rs)
    assert rs.chains["ip filter FORWARD"].policy is Action.DROP
    assert rs.rule_count() >= rendered.count("\n-A ")


# ----------------------------------------------------------------------------- details


def test_tokenize_follows_iptables_restore_quoting() -> None:
    assert tokenize('-m comment --comment "a \\"b\\" c" -j ACCEPT') == [
        "-m",
        "comment",
        "--comment",
        'a "b" c',
        "-j",
        "ACCEPT",
    ]
    assert tokenize('--log-prefix "it\\\'s" x') == ["--log-prefix", "it's", "x"]
    assert tokenize("it's  \t two") == ["it's", "two"]  # a single quote is a character
    assert tokenize('--comment ""') == ["--comment", ""]
    with pytest.raises(ValueError, match="unclosed"):
        tokenize('--comment "open')


def test_quoted_dash_is_a_value() -> None:
    rs = parse(filter_table('-A INPUT -j LOG --log-prefix "-- in --"'))
    assert rs.chains["ip filter INPUT"].rules[0].action is Action.CONTINUE
    assert rs.findings == []


def test_comment_with_spaces_in_label_and_several_comments() -> None:
    rs = parse(
        filter_table('-A INPUT -m comment --comment "one two" -m comment --comment x -j ACCEPT')
    )
    assert rs.chains["ip filter INPUT"].rules[0].label == (
        'filter INPUT rule 1 (line 5) "one two; x"'
    )


def test_counters_prefix_and_implicit_protocol_module() -> None:
    rs = parse(filter_table("[12:3400] -A INPUT -p tcp --dport 22 --sport :1023 -j ACCEPT"))
    rule = rs.chains["ip filter INPUT"].rules[0]
    assert rule.match == Match(protocols=TCP, ports=ports(22), source_ports=ports((0, 1023)))


def test_protocol_forms() -> None:
    rs = parse(
        filter_table(
            "-A INPUT -p all -j ACCEPT",
            "-A INPUT ! -p udp -j ACCEPT",
            "-A INPUT -p 132 -j ACCEPT",
            "-A INPUT -p 17 -j ACCEPT",
            "-A INPUT -p icmp -m icmp --icmp-type any -j ACCEPT",
            "-A INPUT -p icmp -m icmp ! --icmp-type 8 -j ACCEPT",
            "-A INPUT -p icmp -m icmp --icmp-type 3/4 -j ACCEPT",
            "-A INPUT -p icmp -m icmp --icmp-type echo-request -j ACCEPT",
        )
    )
    got = [r.match for r in rs.chains["ip filter INPUT"].rules]
    assert got == [
        Match(),
        Match(protocols=UDP, negate_protocols=True),
        Match(protocols=frozenset({"132"})),
        Match(protocols=UDP),
        Match(protocols=frozenset({"icmp"})),
        Match(protocols=frozenset()),
        Match(protocols=frozenset()),
        Match(protocols=frozenset({"icmp"})),
    ]


def test_multiport_negated_either_and_ranges() -> None:
    rs = parse(
        filter_table(
            "-A INPUT -p tcp -m multiport ! --ports 1:1023 -j ACCEPT",
            "-A INPUT -p udp -m multiport --sports 5000:5010,53 -j ACCEPT",
        )
    )
    first, second = rs.chains["ip filter INPUT"].rules
    high = ALL_PORTS - ports((1, 1023))
    assert (first.match.ports, first.match.source_ports) == (high, high)
    assert second.match.source_ports == ports(53, (5000, 5010))


def test_tcp_flags_against_a_first_syn() -> None:
    rs = parse(
        filter_table(
            "-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j DROP",
            "-A INPUT -p tcp -m tcp ! --syn -j DROP",
            "-A INPUT -p tcp -m tcp --tcp-flags ALL NONE -j DROP",
            "-A INPUT -p tcp -m tcp --tcp-flags ALL SYN -j ACCEPT",
            "-A INPUT -m tcp --dport 22 -j ACCEPT",
        )
    )
    got = [r.match for r in rs.chains["ip filter INPUT"].rules]
    assert [m.new_connection for m in got[:3]] == [False, False, False]
    # With ECN the SYN also carries ECE and CWR: ALL SYN may or may not match it.
    assert got[3].unknown == "-m tcp --tcp-flags ALL SYN"
    assert got[4] == Match(protocols=TCP, ports=ports(22))  # -m tcp implies -p tcp


def test_nat_rewrites_and_incompatible_table_comment() -> None:
    rs = parse(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -d 192.0.2.0/24 -j NETMAP --to 10.0.3.0/24\n"
        "-A POSTROUTING -s 10.0.3.0/24 -j NETMAP --to 192.0.2.0/24\n"
        "-A POSTROUTING -j ACCEPT\nCOMMIT\n"
        "# Table `filter' is incompatible, use 'nft' tool.\n"
    )
    assert [(f.kind, f.severity) for f in rs.findings] == [
        ("incomplete", "warning"),
        ("nat", "warning"),
        ("nat", "info"),
    ]
    assert "rewrites the destination address" in rs.findings[1].detail
    assert [r.action for r in rs.chains["ip nat POSTROUTING"].rules] == [
        Action.CONTINUE,
        Action.ACCEPT,
    ]
    assert rs.hooks["prerouting"] == ("ip nat PREROUTING",)


def test_unknown_option_and_unknown_target_are_constructs() -> None:
    rs = parse(
        filter_table(
            "-A INPUT --frobnicate 3 -j ACCEPT",
            "-A INPUT -p tcp -j TARPIT",
            "-A INPUT -m foo -j ACCEPT",
            "-A INPUT -p tcp --dport ssh -j ACCEPT",
            "-A INPUT -p tcp --dport 100:50 -j ACCEPT",
            "-A INPUT -s fw.example.com -j ACCEPT",
        )
    )
    got = rs.chains["ip filter INPUT"].rules
    assert [r.match.unknown for r in got] == [
        "--frobnicate 3",
        "-j TARPIT",
        "-m foo",
        "--dport ssh",
        "--dport 100:50",
        "-s fw.example.com",
    ]
    assert got[1].action is Action.DROP  # a target of unknown verdict is never an allow
    assert kinds(rs) == ["unknown-construct"] * 6


def test_legacy_warning_is_a_finding() -> None:
    rs = parse(
        "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n"
        + filter_table()
    )
    assert [(f.kind, f.rule) for f in rs.findings] == [("incomplete", "")]


# ----------------------------------------------------------------------------- bad input

BAD = [
    ("", None, "empty policy"),
    ("  \n\n", None, "empty policy"),
    ("# Generated by iptables-save\n", None, "no \\*table"),
    ("table inet filter {\n  chain input {\n  }\n}\n", 1, "outside a \\*table"),
    ('{"nftables": []}', 1, "not iptables-save output"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n", 1, "has no COMMIT"),
    ("*filter\n:INPUT ACCEPT [0:0]\n*nat\nCOMMIT\n", 3, "before table \\*filter"),
    ("COMMIT\n", 1, "outside"),
    ("*broute\nCOMMIT\n", 1, "'\\*broute' is not an iptables table"),
    (
        '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "x -j ACCEPT\nCOMMIT\n',
        3,
        "unclosed double quote",
    ),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j missing\nCOMMIT\n", 3, "no chain missing"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -g GONE\nCOMMIT\n", 3, "-g GONE: no chain GONE"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A nowhere -j ACCEPT\nCOMMIT\n", 3, "chain nowhere"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-I INPUT -j ACCEPT\nCOMMIT\n", 3, "'-I'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p\nCOMMIT\n", 3, "'-p' needs 1 value"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT tcp\nCOMMIT\n", 3, "unexpected word 'tcp'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT ! -s 1.2.3.4,5.6.7.8\nCOMMIT\n", 3, "several"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT !\nCOMMIT\n", 3, "'!' at the end"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j INPUT\nCOMMIT\n", 3, "built-in chain"),
    ("*filter\n:INPUT ACCEPT [0:0]\n:INPUT DROP [0:0]\nCOMMIT\n", 3, "declared twice"),
    ("*filter\n:INPUT - [0:0]\nCOMMIT\n", 2, "policy '-'"),
    ("*filter\n:mine ACCEPT [0:0]\nCOMMIT\n", 2, "cannot have the policy"),
    ("*filter\n:INPUT ACCEPT junk\nCOMMIT\n", 2, "is not ':CHAIN POLICY"),
    (
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.1\n-A INPUT -d 2001:db8::1\nCOMMIT\n",
        4,
        "IPv6 address '2001:db8::1'.*line 3",
    ),
    ("*filter\nCOMMIT\n*filter\nCOMMIT\n", 3, "appears twice"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD)
def test_bad_input(text: str, line: int | None, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        parse(text, "bad.rules")
    assert caught.value.file == "bad.rules"
    assert caught.value.line == line
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("bad.rules:")


def test_truncated_real_sample_names_its_table_line() -> None:
    text = (DATA / "gateway.save").read_text(encoding="utf-8")
    cut = text[: text.rindex("COMMIT")]
    with pytest.raises(PolicyError, match=r"\*nat has no COMMIT") as caught:
        parse(cut)
    assert caught.value.line == 64


# ----------------------------------------------------------------------------- fuzz

WORDS = [
    "-A", "INPUT", "FORWARD", "users", "-p", "tcp", "udp", "icmp", "all", "!", "-s", "-d",
    "10.0.0.0/8", "2001:db8::/32", "1.2.3.4,5.6.7.8", "-i", "eth+", "-o", "-m", "multiport",
    "--dports", "--ports", "22,80:90", "conntrack", "--ctstate", "NEW,ESTABLISHED", "state",
    "--state", "iprange", "--src-range", "10.0.0.1-10.0.0.9", "comment", "--comment",
    '"a b"', '"', "-j", "-g", "ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "DNAT", "MYSTERY",
    "--dport", ":1023", "65536", "set", "--match-set", "icmp", "--icmp-type", "8", "limit",
    "--limit", "3/min", "-f", "[0:0]", "tcp", "--tcp-flags", "SYN,ACK", "SYN", "--syn",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_any_text(text: str) -> None:
    try:
        parse(text)
    except PolicyError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join),
        max_size=8,
    )
)
def test_fuzz_rule_lines(lines: list[str]) -> None:
    text = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:users - [0:0]\n"
    text += "".join(f"-A INPUT {line}\n" for line in lines) + "COMMIT\n"
    try:
        rs = parse(text)
    except PolicyError as exc:
        assert exc.line is not None
        return
    # Every rule line is kept (never dropped), as one rule or two (--ports). The family is
    # IPv6 when the only addresses are IPv6 ones.
    (key,) = [k for k in rs.chains if k.endswith(" filter INPUT")]
    assert len(rs.chains[key].rules) >= len(lines)
    for rule in rs.chains[key].rules:
        if rule.match.unknown:
            assert any(f.rule == rule.label for f in rs.findings)
