"""The Azure target: an ARM template of one network security group.

Checked against a JSON Schema of the parts we emit (tests/data/schema/azure-nsg.schema.json)
and against the documented limits JSON Schema cannot state (unique priorities per
direction, unique names, the deny-all rules last).
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
from hybridports.render.azure_nsg import AzureNsgRenderer
from hybridports.render.interface import AllowRule, Endpoint, RuleSet
from hybridports.render.run import render
from tests.render.cloud_support import EXAMPLE_NAMES, GOLDEN, planned, schema_errors

HOSTS = [("adfs-farm", "dc01"), ("pta-sso", "sync01"), ("usgov", "pta01")]


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The target in the registry (a no-op once render/__init__.py lists it)."""
    if "azure-nsg" not in RENDERERS:
        monkeypatch.setitem(RENDERERS, "azure-nsg", AzureNsgRenderer())


def template(
    example: str, tmp_path: Path, host: str | None = None, egress: str | None = None
) -> tuple[str, tuple[str, ...]]:
    return render(planned(example, tmp_path), "azure-nsg", host=host, cloud_egress=egress)


def security_rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = document["resources"][0]["properties"]["securityRules"]
    return rules


def check_limits(document: dict[str, Any]) -> None:
    rules = security_rules(document)
    names = Counter(r["name"] for r in rules)
    assert max(names.values()) == 1, names.most_common(3)
    for direction in ("Inbound", "Outbound"):
        own = [r["properties"] for r in rules if r["properties"]["direction"] == direction]
        priorities = [p["priority"] for p in own]
        assert len(set(priorities)) == len(priorities), direction
        assert priorities == sorted(priorities)
        assert own[-1]["access"] == "Deny" and own[-1]["priority"] == 4096
        assert all(p["access"] == "Allow" and 100 <= p["priority"] < 4096 for p in own[:-1])
    explained = document["metadata"]["rules"]
    assert set(explained) == {r["name"] for r in rules if r["properties"]["access"] == "Allow"}


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_golden_forward(example: str, tmp_path: Path, golden: Callable[[Path, str], None]) -> None:
    text, _ = template(example, tmp_path)
    golden(GOLDEN / "azure-nsg" / f"{example}.json", text)


@pytest.mark.parametrize(("example", "host"), HOSTS)
def test_golden_host(
    example: str, host: str, tmp_path: Path, golden: Callable[[Path, str], None]
) -> None:
    text, _ = template(example, tmp_path, host)
    golden(GOLDEN / "azure-nsg" / f"{example}-{host}.json", text)


@pytest.mark.parametrize("egress", ["tags", "any"])
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_schema_and_limits(example: str, egress: str, tmp_path: Path) -> None:
    text, _ = template(example, tmp_path, egress=egress)
    document = json.loads(text)
    assert schema_errors(document, "azure-nsg.schema.json") == []
    check_limits(document)


@pytest.mark.parametrize(("example", "host"), HOSTS)
def test_host_schema_and_limits(example: str, host: str, tmp_path: Path) -> None:
    document = json.loads(template(example, tmp_path, host)[0])
    assert schema_errors(document, "azure-nsg.schema.json") == []
    check_limits(document)
    assert document["parameters"]["nsgName"]["defaultValue"] == f"hybridports-{example}-{host}"


def test_schema_catches_what_azure_refuses(tmp_path: Path) -> None:
    document = json.loads(template("phs-small", tmp_path)[0])
    rule = security_rules(document)[0]
    rule["name"] = "-bad name-"
    rule["properties"]["description"] = "x" * 141
    rule["properties"]["priority"] = 4097
    rule["properties"]["sourceAddressPrefixes"] = ["10.0.0.1", "10.0.0.2"]
    errors = schema_errors(document, "azure-nsg.schema.json")
    paths = {e.split(": ", 1)[0].rsplit("/", 1)[-1] for e in errors}
    # name, description and priority by their limits; properties by prefix and prefixes both
    assert paths == {"name", "description", "priority", "properties"}, errors


def test_tags_mode_uses_service_tags(tmp_path: Path) -> None:
    document = json.loads(template("pta-sso", tmp_path)[0])
    outbound = [r["properties"] for r in security_rules(document)]
    tags = {p.get("destinationAddressPrefix") for p in outbound}
    assert {"AzureActiveDirectory", "ServiceBus", "AzureCloud"} <= tags
    # Every flow between hosts has both halves: leaving the source, entering the destination.
    ldap = [p for p in outbound if p["destinationPortRange"] == "389" and p["protocol"] == "Tcp"]
    assert {p["direction"] for p in ldap} == {"Inbound", "Outbound"}


def test_any_mode_writes_internet_and_names_in_metadata(tmp_path: Path) -> None:
    document = json.loads(template("pta-sso", tmp_path, egress="any")[0])
    rules = security_rules(document)
    cloud = [r for r in rules if r["properties"].get("destinationAddressPrefix") == "Internet"]
    assert cloud
    explained = document["metadata"]["rules"]
    assert all(explained[r["name"]].get("destinationNames") for r in cloud)
    # Cloud destinations get no Inbound rule: they are not in the NSG's subnets.
    assert all(r["properties"]["direction"] == "Outbound" for r in cloud)


def test_every_planned_flow_is_in_a_rule(tmp_path: Path) -> None:
    result = planned("adfs-farm", tmp_path)
    document = json.loads(render(result, "azure-nsg")[0])
    seen = {i for entry in document["metadata"]["rules"].values() for i in entry["catalogIds"]}
    assert seen == {i for row in result.flows for i in row.catalog_ids}
    descriptions = [r["properties"]["description"] for r in security_rules(document)]
    assert all(len(d) <= 140 for d in descriptions)


def test_icmp_is_any_type_with_a_warning(tmp_path: Path) -> None:
    text, warnings = template("phs-small", tmp_path)
    icmp = [r for r in security_rules(json.loads(text)) if r["properties"]["protocol"] == "Icmp"]
    assert icmp and all(r["properties"]["destinationPortRange"] == "*" for r in icmp)
    assert any("cannot match the ICMP type" in w for w in warnings)


def test_mixed_families_are_split(tmp_path: Path) -> None:
    text, warnings = template("usgov", tmp_path)
    rules = security_rules(json.loads(text))
    kerberos = [
        r["properties"]
        for r in rules
        if r["properties"]["destinationPortRange"] == "88"
        and r["properties"]["direction"] == "Inbound"
        and r["properties"]["protocol"] == "Tcp"
    ]
    pairs = {(p.get("sourceAddressPrefix"), p.get("destinationAddressPrefix")) for p in kerberos}
    assert ("10.0.1.10", "10.0.2.10") in pairs
    assert ("2001:db8:10::21", "2001:db8:20::11") in pairs
    assert any("mix IPv4 and IPv6" in w for w in warnings)


def _rule(port: int) -> AllowRule:
    return AllowRule(
        Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        Endpoint(addresses=("10.0.0.2",), hosts=("b",)),
        Transport.TCP,
        (PortRange(port, port),),
        (f"synthetic-{port}",),
        ("a purpose",),
        True,
    )


def test_priority_overflow_is_an_error() -> None:
    # 100, 110, … 4090: 400 allow rules per direction fit before the deny-all at 4096.
    fits = RuleSet(inbound=tuple(_rule(1000 + n) for n in range(400)), host="b")
    document = json.loads(AzureNsgRenderer().render(fits, "t").text)
    assert security_rules(document)[399]["properties"]["priority"] == 4090
    too_many = RuleSet(inbound=tuple(_rule(1000 + n) for n in range(401)), host="b")
    with pytest.raises(RenderError, match="priority 4100"):
        AzureNsgRenderer().render(too_many, "t")


def test_long_ids_make_valid_names_and_descriptions() -> None:
    rule = AllowRule(
        Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        Endpoint(addresses=("10.0.0.2",), hosts=("b",)),
        Transport.UDP,
        (PortRange(5000, 5100),),
        ("x" * 90 + "-", "second id"),
        ("p" * 300,),
        False,
    )
    document = json.loads(AzureNsgRenderer().render(RuleSet(forward=(rule,)), "t").text)
    assert schema_errors(document, "azure-nsg.schema.json") == []
    first = security_rules(document)[0]
    assert len(first["name"]) <= 80 and first["properties"]["description"].endswith("...")
    assert document["metadata"]["rules"][first["name"]]["purposes"] == ["p" * 300]


def test_deterministic(tmp_path: Path) -> None:
    assert template("usgov", tmp_path) == template("usgov", tmp_path)
