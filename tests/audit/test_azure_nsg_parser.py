"""The Azure NSG parser: ARM templates, ``az network nsg show`` and ``az network nsg list``.

Samples in tests/data/audit/azure-nsg follow the ARM template reference and the CLI's output;
our own renderer's templates must read back without an unknown construct.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridports.audit.azure_nsg import INTERNET, LOAD_BALANCER, PRIVATE, AzureNsgParser
from hybridports.audit.interface import (
    Action,
    AddressMatch,
    ParseOptions,
    PolicyError,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import EMPTY, Intervals, network_interval
from hybridports.render.run import render
from tests.conftest import ROOT
from tests.render.cloud_support import EXAMPLE_NAMES, planned

DATA = ROOT / "tests" / "data" / "audit" / "azure-nsg"
AWS_SAMPLE = ROOT / "tests" / "data" / "audit" / "aws-sg" / "describe-security-groups.json"
HOSTS = [("adfs-farm", "dc01"), ("pta-sso", "sync01"), ("usgov", "pta01")]
DEFAULT_IN = [
    "AllowVnetInBound (priority 65000) (default rule)",
    "AllowAzureLoadBalancerInBound (priority 65001) (default rule)",
    "DenyAllInBound (priority 65500) (default rule)",
]
DEFAULT_OUT = [
    "AllowVnetOutBound (priority 65000) (default rule)",
    "AllowInternetOutBound (priority 65001) (default rule)",
    "DenyAllOutBound (priority 65500) (default rule)",
]


def parse_text(text: str, file: str = "nsg.json") -> Ruleset:
    return AzureNsgParser().parse(text, file, ParseOptions())


def parse(name: str) -> Ruleset:
    path = DATA / name
    return parse_text(path.read_text(encoding="utf-8"), str(path))


def labels(ruleset: Ruleset, key: str) -> list[str]:
    prefix = key.removeprefix("nsg ").rsplit(" ", 1)
    head = f"nsg {prefix[0]} {prefix[1]} rule "
    result = []
    for rule in ruleset.chains[key].rules:
        assert rule.label.startswith(head), rule.label
        result.append(rule.label.removeprefix(head))
    return result


def rule(ruleset: Ruleset, key: str, name: str) -> Rule:
    found = [r for r in ruleset.chains[key].rules if f" rule {name} (" in r.label]
    assert len(found) == 1, [r.label for r in ruleset.chains[key].rules]
    return found[0]


def net(*cidrs: str) -> Intervals:
    result = EMPTY
    for cidr in cidrs:
        result |= network_interval(cidr)
    return result


def kinds(ruleset: Ruleset) -> list[str]:
    return [f.kind for f in ruleset.findings]


# --- ARM templates ------------------------------------------------------------------------


def test_arm_template_chains_hooks_and_order() -> None:
    ruleset = parse("arm-template.json")
    assert ruleset.format == "azure-nsg"
    assert ruleset.host_policy is True
    assert ruleset.hooks == {
        "input": ("nsg nsg-web-frontend inbound",),
        "output": ("nsg nsg-web-frontend outbound",),
    }
    inbound = ruleset.chains["nsg nsg-web-frontend inbound"]
    assert inbound.policy is Action.DROP
    assert inbound.policy_label == "nsg nsg-web-frontend inbound policy drop"
    # The separate securityRules resource (priority 140) joins the NSG it names, in order.
    assert labels(ruleset, "nsg nsg-web-frontend inbound") == [
        "AllowHttpsInbound (priority 100)",
        "AllowAppTierInbound (priority 110)",
        "AllowSshAdmin (priority 120)",
        "DenyRdpInbound (priority 130)",
        "AllowIpsecFromBranch (priority 140)",
        *DEFAULT_IN,
    ]
    assert labels(ruleset, "nsg nsg-web-frontend outbound") == [
        "AllowEntraOutbound (priority 100)",
        "AllowStorageWestEurope (priority 110)",
        "AllowDnsToDomainControllers (priority 120)",
        "AllowIcmpToPrivate (priority 130)",
        "DenyInternetOutbound (priority 4000)",
        *DEFAULT_OUT,
    ]
    assert [r.action for r in inbound.rules] == [
        Action.ACCEPT,
        Action.ACCEPT,
        Action.ACCEPT,
        Action.DROP,
        Action.ACCEPT,
        Action.ACCEPT,
        Action.ACCEPT,
        Action.DROP,
    ]
    # Lines lead to the rule in the file; the added default rules have none.
    assert [r.line for r in inbound.rules] == [41, 55, 72, 85, 166, None, None, None]
    assert ruleset.summary == "1 NSG, 10 rules listed, 6 default rules added"


def test_arm_template_matches() -> None:
    ruleset = parse("arm-template.json")
    inbound, outbound = "nsg nsg-web-frontend inbound", "nsg nsg-web-frontend outbound"
    https = rule(ruleset, inbound, "AllowHttpsInbound").match
    assert https.source == AddressMatch(INTERNET, frozenset({"internet"}))
    assert https.destination is None
    assert https.protocols == frozenset({"tcp"})
    assert https.ports == Intervals.span(443, 443)
    assert https.source_ports is None
    assert https.unknown is None

    app = rule(ruleset, inbound, "AllowAppTierInbound").match
    assert app.ports == Intervals.of([(80, 80), (8080, 8090)])
    assert app.destination == AddressMatch(net("10.1.0.0/24"))
    assert app.source is not None
    assert app.source.unresolved == (
        "application security group [resourceId('Microsoft.Network/"
        "applicationSecurityGroups', variables('appAsgName'))]"
    )

    ssh = rule(ruleset, inbound, "AllowSshAdmin").match
    assert ssh.unknown == "sourceAddressPrefix [parameters('adminSourcePrefix')]"
    assert ssh.destination == AddressMatch(PRIVATE)
    assert ssh.ports == Intervals.span(22, 22)

    ipsec = rule(ruleset, inbound, "AllowIpsecFromBranch").match
    assert ipsec.protocols == frozenset({"50"})
    assert ipsec.source == AddressMatch(net("203.0.113.0/24"))

    entra = rule(ruleset, outbound, "AllowEntraOutbound").match
    assert entra.destination == AddressMatch(EMPTY, frozenset({"azureactivedirectory"}))
    storage = rule(ruleset, outbound, "AllowStorageWestEurope").match
    assert storage.destination == AddressMatch(EMPTY, frozenset({"storage.westeurope"}))
    dns = rule(ruleset, outbound, "AllowDnsToDomainControllers").match
    assert dns.destination == AddressMatch(net("10.1.2.4", "10.1.2.5"))
    assert dns.protocols == frozenset({"udp"})
    icmp = rule(ruleset, outbound, "AllowIcmpToPrivate").match
    assert icmp.protocols == frozenset({"icmp", "icmpv6"})
    assert icmp.ports is None
    deny = rule(ruleset, outbound, "DenyInternetOutbound")
    assert deny.action is Action.DROP
    assert deny.match.protocols is None and deny.match.ports is None


def test_arm_template_findings() -> None:
    ruleset = parse("arm-template.json")
    assert [(f.kind, f.rule, f.severity) for f in ruleset.findings] == [
        ("approximation", "", "info"),
        (
            "unresolved-reference",
            "nsg nsg-web-frontend inbound rule AllowAppTierInbound (priority 110)",
            "warning",
        ),
        (
            "unknown-construct",
            "nsg nsg-web-frontend inbound rule AllowSshAdmin (priority 120)",
            "warning",
        ),
    ]
    assert "VirtualNetwork" in ruleset.findings[0].detail
    assert "[parameters('adminSourcePrefix')]" in ruleset.findings[2].detail


def test_default_rules_added_to_a_template() -> None:
    ruleset = parse("arm-template.json")
    chain = ruleset.chains["nsg nsg-web-frontend outbound"]
    vnet, internet, deny = chain.rules[-3:]
    assert vnet.match.source == vnet.match.destination == AddressMatch(PRIVATE)
    assert vnet.action is Action.ACCEPT
    assert internet.match.source is None
    assert internet.match.destination == AddressMatch(INTERNET, frozenset({"internet"}))
    assert deny.action is Action.DROP and deny.match == type(deny.match)()
    load_balancer = ruleset.chains["nsg nsg-web-frontend inbound"].rules[-2]
    assert load_balancer.match.source == AddressMatch(LOAD_BALANCER)


def test_internet_is_public_address_space() -> None:
    for inside in ("8.8.8.8", "20.190.128.1", "2603:1000::1"):
        assert network_interval(inside).issubset(INTERNET), inside
    for outside in (
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "168.63.129.16",
        "fd00::1",
        "fe80::1",
        "::1",
    ):
        assert not network_interval(outside) & INTERNET, outside


def test_exported_template_lists_each_rule_once() -> None:
    """Portal exports repeat every rule as a separate resource: one rule per name."""
    ruleset = parse("exported-template.json")
    assert labels(ruleset, "nsg nsg-sql01 inbound") == [
        "Allow-Sql-From-App (priority 100)",
        "Deny-All-Inbound (priority 4096)",
        *DEFAULT_IN,
    ]
    sql = rule(ruleset, "nsg nsg-sql01 inbound", "Allow-Sql-From-App").match
    assert sql.protocols == frozenset({"tcp"})  # "TCP" as the export spells it
    assert sql.ports == Intervals.span(1433, 1433)


def template(rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Network/networkSecurityGroups",
                "apiVersion": "2023-09-01",
                "name": "nsg-test",
                "location": "westeurope",
                "properties": {"securityRules": rules},
                **extra,
            }
        ],
    }


def arm_rule(name: str, priority: Any, direction: Any = "Inbound", **fields: Any) -> dict[str, Any]:
    properties = {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "443",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": priority,
        "direction": direction,
    }
    properties.update(fields)
    return {"name": name, "properties": {k: v for k, v in properties.items() if v is not None}}


def test_precedence_is_priority_not_file_order() -> None:
    ruleset = parse_text(
        json.dumps(
            template(
                [
                    arm_rule("late", 300, access="Deny"),
                    arm_rule("early", 100),
                    arm_rule("middle", 200, destinationPortRange="*"),
                ]
            )
        )
    )
    assert labels(ruleset, "nsg nsg-test inbound") == [
        "early (priority 100)",
        "middle (priority 200)",
        "late (priority 300)",
        *DEFAULT_IN,
    ]


def test_child_resources_and_nested_deployments() -> None:
    child = {
        "type": "securityRules",
        "name": "child-rule",
        "apiVersion": "2023-09-01",
        "properties": arm_rule("x", 150)["properties"],
    }
    inner = template([arm_rule("first", 100)], resources=[child])
    outer = {
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": "2022-09-01",
                "name": "nsg-deployment",
                "properties": {"mode": "Incremental", "template": inner},
            }
        ],
    }
    ruleset = parse_text(json.dumps(outer))
    assert labels(ruleset, "nsg nsg-test inbound")[:2] == [
        "first (priority 100)",
        "child-rule (priority 150)",
    ]


def test_symbolic_resources_and_separate_rule_of_another_nsg() -> None:
    """languageVersion 2.0 names resources in an object; a rule resource naming an NSG the
    template does not declare stands for that (existing) NSG, default rules included."""
    document = {
        "languageVersion": "2.0",
        "contentVersion": "1.0.0.0",
        "parameters": {"existing": {"type": "string", "defaultValue": "nsg-existing"}},
        "resources": {
            "nsg": template([arm_rule("a", 100)])["resources"][0],
            "extra": {
                "type": "Microsoft.Network/networkSecurityGroups/securityRules",
                "apiVersion": "2023-09-01",
                "name": "[concat(parameters('existing'), '/allow-dns')]",
                "properties": arm_rule("b", 100, "Outbound", protocol="Udp")["properties"],
            },
        },
    }
    ruleset = parse_text(json.dumps(document))
    assert ruleset.hooks == {
        "input": ("nsg nsg-test inbound", "nsg nsg-existing inbound"),
        "output": ("nsg nsg-test outbound", "nsg nsg-existing outbound"),
    }
    assert labels(ruleset, "nsg nsg-existing outbound") == [
        "allow-dns (priority 100)",
        *DEFAULT_OUT,
    ]


@pytest.mark.parametrize(
    ("fields", "unknown"),
    [
        ({"priority": "[parameters('p')]"}, "priority [parameters('p')]"),
        ({"protocol": "[variables('proto')]"}, "protocol [variables('proto')]"),
        (
            {"destinationPortRange": None, "destinationPortRanges": ["443", "[parameters('x')]"]},
            "destinationPortRanges [parameters('x')]",
        ),
        ({"access": "[parameters('a')]"}, "access [parameters('a')]"),
        ({"protocol": "Gre"}, "protocol Gre"),
    ],
)
def test_expressions_and_unknown_protocols_are_unknown_constructs(
    fields: dict[str, Any], unknown: str
) -> None:
    rules = [arm_rule("fixed", 100), arm_rule("odd", fields.pop("priority", 200), **fields)]
    ruleset = parse_text(json.dumps(template(rules)))
    chain = ruleset.chains["nsg nsg-test inbound"]
    odd = [r for r in chain.rules if " odd " in r.label]
    assert len(odd) == 1 and odd[0].match.unknown == unknown
    assert "unknown-construct" in kinds(ruleset)
    if unknown.startswith("priority"):  # it might come first: it is put first
        assert chain.rules[0] is odd[0]


def test_expression_direction_puts_the_rule_in_both_chains() -> None:
    rules = [arm_rule("either", 100, direction="[parameters('d')]")]
    ruleset = parse_text(json.dumps(template(rules)))
    for key in ("nsg nsg-test inbound", "nsg nsg-test outbound"):
        assert ruleset.chains[key].rules[0].match.unknown == "direction [parameters('d')]"


def test_two_nsgs_of_one_name_get_distinct_chains() -> None:
    nsg = json.loads((DATA / "nsg-show.json").read_text(encoding="utf-8"))
    ruleset = parse_text(json.dumps([nsg, nsg]))
    assert ruleset.hooks["input"] == (
        "nsg nsg-pta01-nic inbound",
        "nsg nsg-pta01-nic [2] inbound",
    )


# --- az network nsg show / list -----------------------------------------------------------


def test_nsg_show_uses_the_listed_default_rules() -> None:
    ruleset = parse("nsg-show.json")
    assert ruleset.summary == "1 NSG, 14 rules listed, 0 default rules added"
    assert labels(ruleset, "nsg nsg-pta01-nic inbound") == [
        "Allow-RDP-Admin-In (priority 200)",
        "Allow-IPv6-Mgmt-In (priority 210)",
        "Deny-Vnet-In (priority 4096)",
        *DEFAULT_IN,
    ]
    assert labels(ruleset, "nsg nsg-pta01-nic outbound") == [
        "Allow-HTTPS-Out-AAD (priority 100)",
        "Allow-ServiceBus-Out (priority 110)",
        "Allow-DC-Out (priority 120)",
        "Allow-Icmp-DC-Out (priority 130)",
        "Deny-Internet-Out (priority 4000)",
        *DEFAULT_OUT,
    ]
    # The listed default rules keep their lines in the file.
    assert [r.line for r in ruleset.chains["nsg nsg-pta01-nic inbound"].rules[-3:]] == [3, 24, 45]
    outbound = "nsg nsg-pta01-nic outbound"
    dc = rule(ruleset, outbound, "Allow-DC-Out").match
    assert dc.protocols is None
    assert dc.ports == Intervals.of(
        [(53, 53), (88, 88), (135, 135), (389, 389), (445, 445), (49152, 65535)]
    )
    assert dc.source == AddressMatch(net("10.10.1.21"))
    assert dc.destination == AddressMatch(net("10.10.2.10", "10.10.2.11"))
    relay = rule(ruleset, outbound, "Allow-ServiceBus-Out").match
    assert relay.destination == AddressMatch(EMPTY, frozenset({"servicebus"}))
    assert relay.ports == Intervals.of([(443, 443), (5671, 5671)])
    v6 = rule(ruleset, "nsg nsg-pta01-nic inbound", "Allow-IPv6-Mgmt-In").match
    assert v6.source == AddressMatch(net("2001:db8:10::/48"))
    assert v6.ports == Intervals.span(5985, 5986)
    assert kinds(ruleset) == ["approximation"]


def test_nsg_list_applies_every_nsg() -> None:
    ruleset = parse("nsg-list.json")
    assert ruleset.hooks == {
        "input": ("nsg nsg-dc01-nic inbound", "nsg nsg-snet-servers inbound"),
        "output": ("nsg nsg-dc01-nic outbound", "nsg nsg-snet-servers outbound"),
    }
    assert all(c.policy is Action.DROP for c in ruleset.chains.values())
    assert "all applied in turn" in ruleset.summary
    assert labels(ruleset, "nsg nsg-snet-servers outbound") == [
        "Allow-AzureCloud-Out (priority 100)",
        "Allow-FrontDoor-Out (priority 110)",
        *DEFAULT_OUT,
    ]
    cloud = rule(ruleset, "nsg nsg-snet-servers outbound", "Allow-AzureCloud-Out").match
    assert cloud.destination == AddressMatch(EMPTY, frozenset({"azurecloud.westeurope"}))
    probe = rule(ruleset, "nsg nsg-snet-servers inbound", "Allow-LB-Probe").match
    assert probe.source == AddressMatch(LOAD_BALANCER)
    adds = rule(ruleset, "nsg nsg-dc01-nic inbound", "Allow-ADDS-Tcp").match
    assert adds.source == AddressMatch(net("10.20.0.0/16", "10.10.1.0/24"))
    assert kinds(ruleset) == ["approximation"]  # once per file, not per NSG


def test_rest_api_shape_with_nested_properties() -> None:
    document = {
        "name": "nsg-rest",
        "id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/"
        "networkSecurityGroups/nsg-rest",
        "type": "Microsoft.Network/networkSecurityGroups",
        "properties": {"securityRules": [arm_rule("r1", 100)]},
    }
    ruleset = parse_text(json.dumps(document))
    assert labels(ruleset, "nsg nsg-rest inbound")[0] == "r1 (priority 100)"


# --- our own renderer -----------------------------------------------------------------------


def rendered_cases() -> list[tuple[str, str | None]]:
    return [(example, None) for example in EXAMPLE_NAMES] + list(HOSTS)


@pytest.mark.parametrize(("example", "host"), rendered_cases())
def test_rendered_templates_read_back(example: str, host: str | None, tmp_path: Path) -> None:
    text, _ = render(planned(example, tmp_path), "azure-nsg", host=host)
    ruleset = parse_text(text, f"{example}.json")
    assert "unknown-construct" not in kinds(ruleset)
    assert set(kinds(ruleset)) <= {"approximation"}
    document = json.loads(text)
    written = document["resources"][0]["properties"]["securityRules"]
    name = document["parameters"]["nsgName"]["defaultValue"]
    count = {
        d: sum(r["properties"]["direction"].lower() == d for r in written)
        for d in ("inbound", "outbound")
    }
    for direction, rules in count.items():
        chain = ruleset.chains[f"nsg {name} {direction}"]
        assert len(chain.rules) == rules + 3
        # The renderer's deny-all at 4096 comes right before the default rules.
        assert chain.rules[rules - 1].action is Action.DROP
        assert " (priority 4096)" in chain.rules[rules - 1].label
    for item in written:
        properties = item["properties"]
        prefix = properties.get("destinationAddressPrefix", "")
        if prefix[:1].isalpha() and prefix.lower() not in ("internet", "virtualnetwork"):
            direction = properties["direction"].lower()
            match = rule(ruleset, f"nsg {name} {direction}", item["name"]).match
            assert match.destination == AddressMatch(EMPTY, frozenset({prefix.lower()}))


# --- bad input ------------------------------------------------------------------------------


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_text(text, "bad.json")
    return caught.value


def test_not_json_names_the_line() -> None:
    error = error_of('{\n  "securityRules": [\n    {"name": "x",\n')
    assert error.file == "bad.json" and error.line == 4
    assert "not valid JSON" in str(error)
    error = error_of("securityRules:\n  - name: yaml\n")
    assert error.line == 1


def test_truncated_show_output() -> None:
    text = (DATA / "nsg-show.json").read_text(encoding="utf-8")
    error = error_of(text[: len(text) // 2])
    assert error.line is not None and error.line > 100


def test_an_aws_file_is_not_an_nsg_export() -> None:
    error = error_of(AWS_SAMPLE.read_text(encoding="utf-8"))
    assert error.message == "not an Azure NSG export (no securityRules)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("[]", "no network security groups"),
        ("42", "not an Azure NSG export (no securityRules)"),
        ('{"resources": []}', "not an Azure NSG export (no securityRules)"),
        ('[{"securityRules": []}, {"foo": 1}]', "list item 2 is not a network security group"),
        ('{"securityRules": {"a": 1}}', "securityRules must be a list of rule objects"),
    ],
)
def test_wrong_shapes(text: str, message: str) -> None:
    assert message in str(error_of(text))


@pytest.mark.parametrize("missing", ["priority", "direction", "access"])
def test_missing_required_field_names_the_rule(missing: str) -> None:
    fields: dict[str, Any] = {"priority": 200, missing: None}
    rules = [arm_rule("ok", 100), arm_rule("broken", **fields)]
    text = json.dumps(template(rules), indent=2)
    error = error_of(text)
    assert error.message == f"nsg nsg-test rule broken: no {missing}"
    # The line of the rule's "{": just above its name (index is 0-based, lines 1-based).
    lines = text.splitlines()
    assert error.line == next(i for i, line in enumerate(lines) if '"name": "broken"' in line)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"destinationPortRange": "80-70"}, "destination port range '80-70' is not within"),
        ({"destinationPortRange": "70000"}, "is not within 0-65535"),
        ({"destinationPortRange": "http"}, "is not a port, a range or *"),
        ({"sourceAddressPrefix": "10.0.0.300"}, "neither an address, a CIDR nor a service tag"),
        ({"sourceAddressPrefix": None}, "no source address prefix"),
        ({"destinationPortRange": None}, "no destination port range"),
        ({"priority": 5000}, "priority 5000 is outside 100-4096"),
        ({"priority": "high"}, "priority 'high' is not a number"),
        ({"direction": "Sideways"}, "direction 'Sideways' is not Inbound or Outbound"),
        ({"access": "Maybe"}, "access 'Maybe' is not Allow or Deny"),
        ({"protocol": 6}, "protocol 6 is not a name"),
        ({"sourceAddressPrefixes": "10.0.0.0/8"}, "sourceAddressPrefixes must be a list"),
    ],
)
def test_invalid_values(fields: dict[str, Any], message: str) -> None:
    error = error_of(json.dumps(template([arm_rule("bad-rule", **{"priority": 100, **fields})])))
    assert error.message.startswith("nsg nsg-test rule bad-rule: "), error.message
    assert message in error.message


def test_duplicate_priority_in_one_direction() -> None:
    rules = [arm_rule("one", 100), arm_rule("two", 100, "Outbound"), arm_rule("three", 100)]
    error = error_of(json.dumps(template(rules), indent=2))
    assert error.message == (
        "nsg nsg-test: rules one and three both have inbound priority 100 (Azure refuses it)"
    )
    assert error.line is not None


def test_two_different_rules_of_one_name() -> None:
    rules = [arm_rule("same", 100), arm_rule("same", 200)]
    error = error_of(json.dumps(template(rules)))
    assert error.message == "nsg nsg-test: two different rules named same"


def test_error_is_one_line() -> None:
    error = error_of('{"securityRules": [{"name": "a\\nb", "priority": 100}]}')
    assert "\n" not in str(error) and str(error).startswith("bad.json:1: ")


# --- fuzz -----------------------------------------------------------------------------------

FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.sampled_from(
        [
            "*",
            "Any",
            "Tcp",
            "udp",
            "Icmp",
            "Esp",
            "Ah",
            "Inbound",
            "Outbound",
            "Allow",
            "Deny",
            "80",
            "1-65535",
            "9-1",
            "Internet",
            "VirtualNetwork",
            "AzureLoadBalancer",
            "Sql.EastUS",
            "10.0.0.0/8",
            "::/0",
            "300.1.1.1",
            "[parameters('x')]",
            "[[literal]",
            "",
            "a b",
        ]
    ),
    st.text(max_size=8),
)
FIELDS = [
    "name",
    "priority",
    "direction",
    "access",
    "protocol",
    "sourceAddressPrefix",
    "destinationAddressPrefix",
    "sourcePortRange",
    "destinationPortRange",
    "destinationPortRanges",
    "sourceAddressPrefixes",
    "sourceApplicationSecurityGroups",
]
RULES = st.lists(
    st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(
            FIELD_VALUES,
            st.lists(FIELD_VALUES, max_size=3),
            st.lists(st.fixed_dictionaries({"id": FIELD_VALUES}), max_size=2),
        ),
    ),
    max_size=6,
)


def outcome(text: str) -> None:
    try:
        ruleset = parse_text(text)
    except PolicyError as error:
        assert "\n" not in str(error)
        return
    assert ruleset.host_policy
    for key in ruleset.hooks["input"] + ruleset.hooks["output"]:
        assert ruleset.chains[key].policy is Action.DROP


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_any_text(text: str) -> None:
    outcome(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(RULES, st.sampled_from(["show", "arm", "list"]))
def test_fuzz_rule_fields(rules: list[dict[str, Any]], shape: str) -> None:
    if shape == "show":
        document: Any = {"name": "n", "securityRules": rules}
    elif shape == "list":
        document = [{"name": "n", "securityRules": rules, "defaultSecurityRules": rules[:1]}]
    else:
        document = template([{"name": r.get("name"), "properties": r} for r in rules])
    outcome(json.dumps(document))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_truncated_sample(data: st.DataObject) -> None:
    text = (DATA / "arm-template.json").read_text(encoding="utf-8")
    cut = data.draw(st.integers(0, len(text)))
    outcome(text[:cut])
