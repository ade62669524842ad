"""The AWS security group parser: ``aws ec2 describe-security-groups`` output.

The sample in tests/data/audit/aws-sg is shaped as the AWS CLI prints it (OwnerId, VpcId,
Tags, SecurityGroupArn); our own renderer's output must read back with no finding at all.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridports.audit.aws_sg import AwsSgParser
from hybridports.audit.interface import (
    Action,
    AddressMatch,
    ParseOptions,
    PolicyError,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import ALL_V4, ALL_V6, EMPTY, Intervals, network_interval
from hybridports.render.run import render
from tests.conftest import ROOT
from tests.render.cloud_support import EXAMPLE_NAMES, planned

DATA = ROOT / "tests" / "data" / "audit" / "aws-sg"
SAMPLE = DATA / "describe-security-groups.json"
NSG_SAMPLE = ROOT / "tests" / "data" / "audit" / "azure-nsg" / "nsg-show.json"
HOSTS = [("adfs-farm", "dc01"), ("pta-sso", "sync01"), ("usgov", "pta01")]
WEB = "sg-0abc1234def567890 (web-servers)"
DC = "sg-0123456789abcdef0 (domain-controllers)"


def parse_text(text: str, file: str = "sg.json") -> Ruleset:
    return AwsSgParser().parse(text, file, ParseOptions())


def sample() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return loaded


def labelled(ruleset: Ruleset, chain: str) -> dict[str, Rule]:
    return {r.label: r for r in ruleset.chains[chain].rules}


def test_one_chain_per_direction_for_all_groups() -> None:
    ruleset = parse_text(SAMPLE.read_text(encoding="utf-8"), str(SAMPLE))
    assert ruleset.format == "aws-sg"
    assert ruleset.host_policy is True
    assert ruleset.hooks == {"input": ("aws ingress",), "output": ("aws egress",)}
    assert set(ruleset.chains) == {"aws ingress", "aws egress"}
    for chain in ruleset.chains.values():
        assert chain.policy is Action.DROP
        assert chain.policy_label == f"{chain.key} policy drop (no security group allows it)"
        assert all(r.action is Action.ACCEPT for r in chain.rules)
    assert [r.label for r in ruleset.chains["aws ingress"].rules] == [
        f"{WEB} ingress rule 1 tcp 443 from 0.0.0.0/0",
        f"{WEB} ingress rule 2 tcp 443 from ::/0",
        f"{WEB} ingress rule 3 tcp 22 from 10.0.0.0/8",
        f"{WEB} ingress rule 4 tcp 8080 from sg-0a1b2c3d4e5f60718",
        f"{WEB} ingress rule 5 icmp type 8 from 10.0.0.0/8",
        f"{DC} ingress rule 1 udp 53 from 10.0.0.0/16",
        f"{DC} ingress rule 2 udp 53 from 192.168.10.0/24",
        f"{DC} ingress rule 3 tcp 49152-65535 from 10.0.0.0/16",
        f"{DC} ingress rule 4 tcp 389 from pl-0123abcd4567ef890",
        f"{DC} ingress rule 5 tcp 389 from sg-0abc1234def567890",
        f"{DC} ingress rule 6 tcp 389 from 210987654321/sg-0fedcba9876543210",
        f"{DC} ingress rule 7 icmpv6 all from 2001:db8:1234::/48",
        f"{DC} ingress rule 8 icmp type 3 code 4 from 0.0.0.0/0",
        f"{DC} ingress rule 9 protocol 50 from 203.0.113.10/32",
    ]
    assert [r.label for r in ruleset.chains["aws egress"].rules] == [
        f"{WEB} egress rule 1 all traffic to 0.0.0.0/0",
        f"{WEB} egress rule 2 all traffic to ::/0",
        f"{DC} egress rule 1 tcp 443 to 0.0.0.0/0",
        f"{DC} egress rule 2 udp 123 to 169.254.169.123/32",
    ]
    # Each rule's line is its range object in the file.
    assert [r.line for r in ruleset.chains["aws egress"].rules] == [76, 81, 210, 224]
    assert ruleset.summary == "2 security groups (a union), 14 ingress and 4 egress rules"


def test_matches() -> None:
    ruleset = parse_text(SAMPLE.read_text(encoding="utf-8"))
    ingress = labelled(ruleset, "aws ingress")
    https = ingress[f"{WEB} ingress rule 1 tcp 443 from 0.0.0.0/0"].match
    assert https.source == AddressMatch(ALL_V4)
    assert https.destination is None
    assert https.protocols == frozenset({"tcp"})
    assert https.ports == Intervals.span(443, 443)
    assert https.families == frozenset({4})
    v6 = ingress[f"{WEB} ingress rule 2 tcp 443 from ::/0"].match
    assert v6.source == AddressMatch(ALL_V6) and v6.families == frozenset({6})
    rpc = ingress[f"{DC} ingress rule 3 tcp 49152-65535 from 10.0.0.0/16"].match
    assert rpc.ports == Intervals.span(49152, 65535)
    assert rpc.source == AddressMatch(network_interval("10.0.0.0/16"))
    ldap = ingress[f"{DC} ingress rule 4 tcp 389 from pl-0123abcd4567ef890"].match
    assert ldap.protocols == frozenset({"tcp"})  # IpProtocol "6"
    esp = ingress[f"{DC} ingress rule 9 protocol 50 from 203.0.113.10/32"].match
    assert esp.protocols == frozenset({"50"}) and esp.ports is None
    everything = labelled(ruleset, "aws egress")[f"{WEB} egress rule 1 all traffic to 0.0.0.0/0"]
    assert everything.match.protocols is None and everything.match.ports is None
    assert everything.match.destination == AddressMatch(ALL_V4)
    assert everything.match.source is None


def test_icmp_types() -> None:
    """Echo request (or every type) matches ICMP queries; other types match none of them."""
    ingress = labelled(parse_text(SAMPLE.read_text(encoding="utf-8")), "aws ingress")
    echo = ingress[f"{WEB} ingress rule 5 icmp type 8 from 10.0.0.0/8"].match
    assert echo.protocols == frozenset({"icmp"}) and echo.ports is None
    every = ingress[f"{DC} ingress rule 7 icmpv6 all from 2001:db8:1234::/48"].match
    assert every.protocols == frozenset({"icmpv6"}) and every.ports is None
    assert every.families == frozenset({6})
    mtu = ingress[f"{DC} ingress rule 8 icmp type 3 code 4 from 0.0.0.0/0"].match
    assert mtu.protocols == frozenset({"icmp"}) and mtu.ports == EMPTY


def test_references_are_unresolved() -> None:
    ruleset = parse_text(SAMPLE.read_text(encoding="utf-8"))
    ingress = labelled(ruleset, "aws ingress")
    lb = ingress[f"{WEB} ingress rule 4 tcp 8080 from sg-0a1b2c3d4e5f60718"].match
    assert lb.source == AddressMatch(
        EMPTY, unresolved="security group sg-0a1b2c3d4e5f60718 (referenced)"
    )
    assert lb.families is None
    prefix = ingress[f"{DC} ingress rule 4 tcp 389 from pl-0123abcd4567ef890"].match
    assert prefix.source == AddressMatch(EMPTY, unresolved="prefix list pl-0123abcd4567ef890")
    peer = ingress[f"{DC} ingress rule 6 tcp 389 from 210987654321/sg-0fedcba9876543210"]
    assert peer.match.source is not None
    assert peer.match.source.unresolved == (
        "security group 210987654321/sg-0fedcba9876543210 (referenced)"
    )
    assert [(f.kind, f.rule) for f in ruleset.findings] == [
        ("unresolved-reference", f"{WEB} ingress rule 4 tcp 8080 from sg-0a1b2c3d4e5f60718"),
        ("unresolved-reference", f"{DC} ingress rule 4 tcp 389 from pl-0123abcd4567ef890"),
        ("unresolved-reference", f"{DC} ingress rule 5 tcp 389 from sg-0abc1234def567890"),
        (
            "unresolved-reference",
            f"{DC} ingress rule 6 tcp 389 from 210987654321/sg-0fedcba9876543210",
        ),
    ]


def test_groups_without_id_and_the_query_shape() -> None:
    """--query SecurityGroups prints the list alone; a group may be named only."""
    groups = sample()["SecurityGroups"]
    del groups[0]["GroupId"]
    ruleset = parse_text(json.dumps(groups))
    assert ruleset.chains["aws ingress"].rules[0].label == (
        "web-servers ingress rule 1 tcp 443 from 0.0.0.0/0"
    )


def test_unknown_protocol_name_is_kept() -> None:
    document = sample()
    permission = document["SecurityGroups"][0]["IpPermissions"][1]
    permission["IpProtocol"] = "gre"
    ruleset = parse_text(json.dumps(document))
    rule = ruleset.chains["aws ingress"].rules[2]
    assert rule.label == f"{WEB} ingress rule 3 protocol gre from 10.0.0.0/8"
    assert rule.match.unknown == "IpProtocol gre"
    assert rule.match.source == AddressMatch(network_interval("10.0.0.0/8"))
    assert ("unknown-construct", rule.label) in [(f.kind, f.rule) for f in ruleset.findings]


# --- our own renderer -----------------------------------------------------------------------


@pytest.mark.parametrize(("example", "host"), [(e, None) for e in EXAMPLE_NAMES] + list(HOSTS))
def test_rendered_groups_read_back(example: str, host: str | None, tmp_path: Path) -> None:
    text, _ = render(planned(example, tmp_path), "aws-sg", host=host)
    ruleset = parse_text(text, f"{example}.json")
    assert ruleset.findings == []
    document = json.loads(text)
    for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
        ranges = sum(
            len(p.get("IpRanges", ())) + len(p.get("Ipv6Ranges", ()))
            for group in document["SecurityGroups"]
            for p in group[key]
        )
        assert len(ruleset.chains[f"aws {direction}"].rules) == ranges
    icmp = [
        r
        for c in ruleset.chains.values()
        for r in c.rules
        if r.match.protocols and r.match.protocols & {"icmp", "icmpv6"}
    ]
    assert all(r.match.ports is None for r in icmp)  # the renderer allows echo requests


# --- bad input ------------------------------------------------------------------------------


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_text(text, "bad.json")
    return caught.value


def test_not_json_or_truncated() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    error = error_of(text[:2000])
    assert error.line == len(text[:2000].splitlines())
    assert "not valid JSON" in error.message
    assert error_of("SecurityGroups: []").line == 1
    assert "empty file" in error_of("  \n").message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "not aws ec2 describe-security-groups output: no SecurityGroups key"),
        ('{"SecurityGroups": []}', "no security groups (SecurityGroups is empty)"),
        ("[]", "no SecurityGroups key"),
        ('{"SecurityGroups": {}}', "SecurityGroups is not a list"),
        ('{"SecurityGroups": [1]}', "security group 1 is not an object"),
        ('{"SecurityGroupRules": []}', "no SecurityGroups key"),
    ],
)
def test_wrong_format(text: str | None, message: str) -> None:
    text = NSG_SAMPLE.read_text(encoding="utf-8") if text is None else text
    assert message in error_of(text).message


def broken(change: dict[str, Any], group: int = 1, index: int = 1) -> str:
    document = copy.deepcopy(sample())
    permission = document["SecurityGroups"][group]["IpPermissions"][index]
    for key, value in change.items():
        if value is None:
            permission.pop(key, None)
        else:
            permission[key] = value
    return json.dumps(document, indent=4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"FromPort": 65535, "ToPort": 49152}, "FromPort 65535 is above ToPort 49152"),
        ({"FromPort": 0, "ToPort": 70000}, "tcp ports 0-70000 are not within 0-65535"),
        ({"FromPort": -1, "ToPort": -1}, "tcp ports -1--1 are not within 0-65535"),
        ({"FromPort": None}, "tcp without FromPort and ToPort"),
        ({"FromPort": "x"}, "FromPort 'x' is not a number"),
        ({"IpProtocol": None}, "IpProtocol None is missing or not text"),
        ({"IpRanges": [{"CidrIp": "10.0.0.0/33"}]}, "CidrIp '10.0.0.0/33' is not an IPv4 CIDR"),
        ({"IpRanges": [{"CidrIp": "::/0"}]}, "CidrIp '::/0' is not an IPv4 CIDR"),
        ({"Ipv6Ranges": [{"CidrIpv6": "10.0.0.0/8"}]}, "is not an IPv6 CIDR"),
        ({"IpRanges": "10.0.0.0/8"}, "IpRanges is not a list of objects"),
        ({"UserIdGroupPairs": [{"UserId": "1"}]}, "a UserIdGroupPairs entry without GroupId"),
        ({"PrefixListIds": [{}]}, "an entry without PrefixListId"),
    ],
)
def test_bad_permission_names_group_and_entry(change: dict[str, Any], message: str) -> None:
    text = broken(change, group=1, index=1)
    error = error_of(text)
    assert error.message.startswith(f"{DC}: IpPermissions entry 2"), error.message
    assert message in error.message
    assert error.line is not None and error.line > 100
    assert "\n" not in str(error)


def test_bad_icmp_type() -> None:
    error = error_of(broken({"FromPort": 300, "ToPort": -1}, group=0, index=3))
    assert error.message == (
        f"{WEB}: IpPermissions entry 4: icmp type (FromPort) 300 is not within -1 (all) to 255"
    )


# --- fuzz -----------------------------------------------------------------------------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.sampled_from(
        [
            "tcp",
            "udp",
            "icmp",
            "icmpv6",
            "-1",
            "6",
            "17",
            "58",
            "999",
            "²",
            "0.0.0.0/0",
            "::/0",
            "10.0.0.0/8",
            "sg-1",
            "pl-1",
            "",
        ]
    ),
    st.text(max_size=6),
)
RANGES = st.lists(
    st.dictionaries(
        st.sampled_from(["CidrIp", "CidrIpv6", "PrefixListId", "GroupId", "UserId"]), VALUES
    ),
    max_size=2,
)
PERMISSION = st.dictionaries(
    st.sampled_from(
        [
            "IpProtocol",
            "FromPort",
            "ToPort",
            "IpRanges",
            "Ipv6Ranges",
            "PrefixListIds",
            "UserIdGroupPairs",
        ]
    ),
    st.one_of(VALUES, RANGES),
)
GROUP = st.dictionaries(
    st.sampled_from(["GroupId", "GroupName", "OwnerId", "IpPermissions", "IpPermissionsEgress"]),
    st.one_of(VALUES, st.lists(PERMISSION, max_size=3)),
)


def outcome(text: str) -> None:
    try:
        ruleset = parse_text(text)
    except PolicyError as error:
        assert "\n" not in str(error)
        return
    assert set(ruleset.chains) == {"aws ingress", "aws egress"}
    for chain in ruleset.chains.values():
        assert all(r.action is Action.ACCEPT for r in chain.rules)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_any_text(text: str) -> None:
    outcome(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(GROUP, max_size=3))
def test_fuzz_groups(groups: list[dict[str, Any]]) -> None:
    outcome(json.dumps({"SecurityGroups": groups}))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_truncated_sample(data: st.DataObject) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    outcome(text[: data.draw(st.integers(0, len(text)))])
