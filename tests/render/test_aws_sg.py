"""The AWS target: security groups as JSON for the AWS CLI.

Checked against a JSON Schema mirroring the CLI's input shapes
(tests/data/schema/aws-sg.schema.json) and, where botocore is installed, against botocore's
own EC2 service model for AuthorizeSecurityGroupIngress/Egress and CreateSecurityGroup.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hybridports.model import PortRange, Transport
from hybridports.render import RENDERERS, RenderError
from hybridports.render.aws_sg import AwsSgRenderer, clean
from hybridports.render.interface import AllowRule, Endpoint, RuleSet
from hybridports.render.run import render
from tests.render.cloud_support import (
    EXAMPLE_NAMES,
    GOLDEN,
    botocore_errors,
    planned,
    schema_errors,
)

HOSTS = [("adfs-farm", "wap01"), ("usgov", "dc02")]


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The target in the registry (a no-op once render/__init__.py lists it)."""
    if "aws-sg" not in RENDERERS:
        monkeypatch.setitem(RENDERERS, "aws-sg", AwsSgRenderer())


def groups(
    example: str, tmp_path: Path, host: str | None = None, egress: str | None = None
) -> tuple[str, tuple[str, ...]]:
    return render(planned(example, tmp_path), "aws-sg", host=host, cloud_egress=egress)


def group(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(g for g in document["SecurityGroups"] if g["GroupName"] == name)
    return found


def ranges(permissions: list[dict[str, Any]]) -> list[tuple[str, int, int, str]]:
    return [
        (p["IpProtocol"], p["FromPort"], p["ToPort"], r.get("CidrIp") or r["CidrIpv6"])
        for p in permissions
        for r in (*p.get("IpRanges", ()), *p.get("Ipv6Ranges", ()))
    ]


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_golden_forward(example: str, tmp_path: Path, golden: Callable[[Path, str], None]) -> None:
    text, _ = groups(example, tmp_path)
    golden(GOLDEN / "aws-sg" / f"{example}.json", text)


@pytest.mark.parametrize(("example", "host"), HOSTS)
def test_golden_host(
    example: str, host: str, tmp_path: Path, golden: Callable[[Path, str], None]
) -> None:
    text, _ = groups(example, tmp_path, host)
    golden(GOLDEN / "aws-sg" / f"{example}-{host}.json", text)


def _all_documents(tmp_path: Path) -> list[dict[str, Any]]:
    documents = [json.loads(groups(e, tmp_path)[0]) for e in EXAMPLE_NAMES]
    documents += [json.loads(groups(e, tmp_path, h)[0]) for e, h in HOSTS]
    return documents


def test_schema(tmp_path: Path) -> None:
    for document in _all_documents(tmp_path):
        assert schema_errors(document, "aws-sg.schema.json") == []
        for sg in document["SecurityGroups"]:
            # AWS refuses the same CIDR twice for one protocol and port range.
            for key in ("IpPermissions", "IpPermissionsEgress"):
                counts = Counter(ranges(sg[key]))
                assert max(counts.values(), default=1) == 1, (sg["GroupName"], key)


def test_schema_catches_what_aws_refuses(tmp_path: Path) -> None:
    document = json.loads(groups("phs-small", tmp_path)[0])
    sg = group(document, "hybridports-phs-small-dc")
    sg["Description"] = "the server's own"  # an apostrophe: not in AWS's character set
    sg["IpPermissions"][0]["IpRanges"][0]["CidrIp"] = "10.0.0.1"  # no prefix length
    errors = schema_errors(document, "aws-sg.schema.json")
    assert {e.split(": ", 1)[0].rsplit("/", 1)[-1] for e in errors} == {"Description", "CidrIp"}


def test_botocore_accepts_the_calls(tmp_path: Path) -> None:
    calls = []
    for document in _all_documents(tmp_path):
        for sg in document["SecurityGroups"]:
            calls.append(
                {
                    "operation": "CreateSecurityGroup",
                    "params": {"GroupName": sg["GroupName"], "Description": sg["Description"]},
                }
            )
            for operation, key in (
                ("AuthorizeSecurityGroupIngress", "IpPermissions"),
                ("AuthorizeSecurityGroupEgress", "IpPermissionsEgress"),
            ):
                if sg[key]:
                    params = {"GroupId": "sg-0123456789abcdef0", "IpPermissions": sg[key]}
                    calls.append({"operation": operation, "params": params})
    assert botocore_errors(calls) == []


def test_botocore_check_is_not_a_rubber_stamp() -> None:
    bad = {"GroupId": "sg-1", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": "443"}]}
    errors = botocore_errors([{"operation": "AuthorizeSecurityGroupIngress", "params": bad}])
    assert errors and "FromPort" in errors[0]


def test_one_group_per_role(tmp_path: Path) -> None:
    document = json.loads(groups("cloud-sync", tmp_path)[0])
    names = [g["GroupName"] for g in document["SecurityGroups"]]
    assert names == ["hybridports-cloud-sync-cloud-sync-agent", "hybridports-cloud-sync-dc"]
    dc = group(document, "hybridports-cloud-sync-dc")
    assert {"Key": "hybridports:hosts", "Value": "dc01 dc02"} in dc["Tags"]
    # The DCs take LDAP from both agents (dc01 is an agent too); the agents send it.
    assert ("tcp", 389, 389, "10.0.1.31/32") in ranges(dc["IpPermissions"])
    agent = group(document, "hybridports-cloud-sync-cloud-sync-agent")
    assert ("tcp", 389, 389, "10.0.2.11/32") in ranges(agent["IpPermissionsEgress"])
    assert "Stateful" in dc["Description"] and "Deny by default" in dc["Description"]


def test_clients_and_the_cloud_get_no_group(tmp_path: Path) -> None:
    document = json.loads(groups("adfs-farm", tmp_path)[0])
    roles = {
        t["Value"] for g in document["SecurityGroups"] for t in g["Tags"] if "role" in t["Key"]
    }
    assert roles == {"adfs", "connect", "dc", "wap"}
    wap = group(document, "hybridports-adfs-farm-wap")
    inbound = ranges(wap["IpPermissions"])
    assert ("tcp", 443, 443, "0.0.0.0/0") in inbound  # the internet clients and F-07
    described = [r["Description"] for p in wap["IpPermissions"] for r in p.get("IpRanges", ())]
    assert any(d.startswith("client-wap-https") for d in described)
    assert any("entra-wap-https" in d and "from Microsoft cloud:" in d for d in described)


def test_cloud_egress_any_is_every_address_with_the_names(tmp_path: Path) -> None:
    document = json.loads(groups("pta-sso", tmp_path)[0])
    pta = group(document, "hybridports-pta-sso-pta-agent")
    egress = pta["IpPermissionsEgress"]
    https = next(p for p in egress if p["IpProtocol"] == "tcp" and p["FromPort"] == 443)
    assert https["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"
    assert https["Ipv6Ranges"][0]["CidrIpv6"] == "::/0"
    assert "*.msappproxy.net" in https["IpRanges"][0]["Description"]


def test_icmp_is_type_8_any_code(tmp_path: Path) -> None:
    document = json.loads(groups("phs-small", tmp_path)[0])
    dc = group(document, "hybridports-phs-small-dc")
    icmp = [p for p in dc["IpPermissions"] if p["IpProtocol"] == "icmp"]
    assert icmp and all((p["FromPort"], p["ToPort"]) == (8, -1) for p in icmp)


def test_ipv6_hosts_get_ipv6_ranges(tmp_path: Path) -> None:
    text, warnings = groups("usgov", tmp_path, host="dc02")
    dc02 = json.loads(text)["SecurityGroups"][0]
    inbound = ranges(dc02["IpPermissions"])
    assert ("tcp", 88, 88, "2001:db8:10::21/128") in inbound
    assert all(":" in cidr for _, _, _, cidr in inbound)  # sync01 (IPv4) cannot reach it
    assert any("mix IPv4 and IPv6" in w for w in warnings)


def test_every_planned_flow_is_in_a_description(tmp_path: Path) -> None:
    result = planned("adfs-farm", tmp_path)
    text = render(result, "aws-sg")[0]
    for row in result.flows:
        for catalog_id in row.catalog_ids:
            assert catalog_id in text, catalog_id


def test_tags_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="cannot express --cloud-egress tags"):
        groups("pta-sso", tmp_path, egress="tags")
    rule = AllowRule(
        Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        Endpoint(any=True, names=("login.microsoftonline.com",)),
        Transport.TCP,
        (PortRange(443, 443),),
        ("connect-entra-https",),
        ("sign-in",),
        True,
        service_tag="AzureActiveDirectory",
    )
    with pytest.raises(RenderError, match="cannot express Azure service tags"):
        AwsSgRenderer().render(RuleSet(forward=(rule,)), "t")


def test_descriptions_keep_to_the_aws_character_set() -> None:
    assert clean("the server's own — “CRL” check é") == "the servers own CRL check"
    rule = AllowRule(
        Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        Endpoint(addresses=("10.0.0.2",), hosts=("b",)),
        Transport.TCP,
        (PortRange(443, 443),),
        ("x-y",),
        ("it's " + "long " * 80,),
        True,
    )
    document = json.loads(
        AwsSgRenderer()
        .render(RuleSet(inbound=(rule,), host="b", host_addresses=("10.0.0.2",)), "t")
        .text
    )
    (permission,) = document["SecurityGroups"][0]["IpPermissions"]
    description = permission["IpRanges"][0]["Description"]
    assert len(description) == 255 and description.endswith("...") and "'" not in description


def test_deterministic(tmp_path: Path) -> None:
    assert groups("usgov", tmp_path) == groups("usgov", tmp_path)
