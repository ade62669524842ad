"""The Windows Firewall target: a PowerShell script of New-NetFirewallRule calls, per host.

No PowerShell runs here: the tests check the script's structure (one call per rule, every
string single-quoted with quotes doubled) and golden files, reviewed by eye, hold the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hybridports.model import PortRange, Transport
from hybridports.render import RENDERERS, RenderError
from hybridports.render.interface import AllowRule, Endpoint, RuleSet
from hybridports.render.run import render
from hybridports.render.windows import WindowsRenderer, ps_quote
from tests.render.cloud_support import GOLDEN, planned

# One host of each role of the two examples with Windows servers (clients included: their
# outbound rules are what a workstation firewall that blocks outbound would need).
HOSTS = [
    ("adfs-farm", "sync01"),
    ("adfs-farm", "dc01"),
    ("adfs-farm", "adfs01"),
    ("adfs-farm", "wap01"),
    ("adfs-farm", "campus"),
    ("pta-sso", "sync01"),
    ("pta-sso", "dc01"),
    ("pta-sso", "pta01"),
    ("pta-sso", "office"),
]
# A single-quoted PowerShell string: any quote character, doubled, stands for itself.
_QUOTED = re.compile(
    "['\u2018\u2019\u201a\u201b](?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*['\u2018\u2019\u201a\u201b]"
)


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The target in the registry (a no-op once render/__init__.py lists it)."""
    if "windows" not in RENDERERS:
        monkeypatch.setitem(RENDERERS, "windows", WindowsRenderer())


def script(example: str, host: str, tmp_path: Path) -> tuple[str, tuple[str, ...]]:
    return render(planned(example, tmp_path), "windows", host=host)


def calls(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("New-NetFirewallRule ")]


def unquoted(line: str) -> str:
    """The line with every quoted string taken out: what PowerShell parses as syntax."""
    return _QUOTED.sub("''", line)


@pytest.mark.parametrize(("example", "host"), HOSTS)
def test_golden(
    example: str, host: str, tmp_path: Path, golden: Callable[[Path, str], None]
) -> None:
    text, _ = script(example, host, tmp_path)
    golden(GOLDEN / "windows" / f"{example}-{host}.ps1", text)


@pytest.mark.parametrize(("example", "host"), HOSTS)
def test_structure(example: str, host: str, tmp_path: Path) -> None:
    text, _ = script(example, host, tmp_path)
    lines = text.splitlines()
    # Idempotent: the group's old rules go first, before any new one.
    remove = "Get-NetFirewallRule -Group 'hybridports' -ErrorAction SilentlyContinue"
    assert any(line.startswith(remove) and "Remove-NetFirewallRule" in line for line in lines)
    assert "DefaultOutboundAction Block" in text  # the header says when outbound rules matter
    assert "Set-NetFirewallProfile -" not in "\n".join(x for x in lines if not x.startswith("#"))
    for line in calls(text):
        syntax = unquoted(line)
        assert "'" not in syntax.replace("''", ""), line
        assert "-Group '' " in syntax and "-Action Allow" in syntax, line
        assert re.search(r"-Direction (Inbound|Outbound) ", syntax), line
        assert re.search(r"-Protocol (TCP|UDP|ICMPv4|ICMPv6) ", syntax), line
        assert syntax.endswith("| Out-Null"), line
        assert line.startswith("New-NetFirewallRule -DisplayName 'hybridports: "), line


def test_every_planned_flow_of_the_host_is_in_a_rule(tmp_path: Path) -> None:
    result = planned("adfs-farm", tmp_path)
    text, _ = render(result, "windows", host="wap01")
    ids = {
        i
        for row in result.flows
        if "wap01" in (row.source, row.destination)
        for i in row.catalog_ids
    }
    names = " ".join(re.findall(r"-DisplayName 'hybridports: ([^']*)'", text))
    assert ids == {i.strip() for i in names.replace(" ", ",").split(",") if i.strip()}


def test_dc_inbound_uses_the_rpc_keywords(tmp_path: Path) -> None:
    text, warnings = script("pta-sso", "dc01", tmp_path)
    inbound = [c for c in calls(text) if "-Direction Inbound" in c]
    rpc = [c for c in inbound if "rpc-dynamic" in c]
    epm = [c for c in inbound if "rpc-epm" in c]
    assert rpc and all("-Protocol TCP -LocalPort RPC -RemoteAddress" in c for c in rpc)
    assert epm and all("-Protocol TCP -LocalPort RPCEPMap -RemoteAddress" in c for c in epm)
    assert not any("50000-50999" in c for c in inbound)  # the numeric range is never opened
    assert "spec section 5.2, item 5" in text and "instead of 50000-50999" in text
    assert warnings == ()  # each RPC rule's sources have their endpoint-mapper rule


def test_member_server_outbound_keeps_the_numeric_range(tmp_path: Path) -> None:
    # The RPC keywords are local-port keywords: the client side names the DC's range.
    text, _ = script("pta-sso", "sync01", tmp_path)
    outbound = [c for c in calls(text) if "rpc-dynamic" in c]
    assert outbound and all(
        "-Direction Outbound" in c and "-RemotePort 50000-50999" in c for c in outbound
    )
    assert "-LocalPort RPC" not in text


def test_cloud_names_go_to_any_address_and_into_the_description(tmp_path: Path) -> None:
    text, _ = script("pta-sso", "pta01", tmp_path)
    cloud = [c for c in calls(text) if "-RemoteAddress Any " in c]
    assert cloud and all("[to any address: " in c for c in cloud)
    assert "*.msappproxy.net" in text
    assert "Defender for Endpoint" in text  # no FQDN match: the header says so


def test_resolved_names_become_addresses() -> None:
    destination = Endpoint(addresses=("203.0.113.5",), names=("login.microsoftonline.com",))
    rule = _rule("sign-in", destination=destination)
    rules = RuleSet(outbound=(rule,), host="a", host_addresses=("10.0.0.1",))
    (line,) = calls(WindowsRenderer().render(rules, "t").text)
    assert "-RemotePort 443 -RemoteAddress '203.0.113.5'" in line
    assert "[to addresses resolved from: login.microsoftonline.com]" in line


def _rule(purpose: str, **changes: object) -> AllowRule:
    fields: dict[str, object] = {
        "source": Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        "destination": Endpoint(addresses=("10.0.0.2",), hosts=("b",)),
        "transport": Transport.TCP,
        "ports": (PortRange(443, 443),),
        "catalog_ids": ("x-y-https",),
        "purposes": (purpose,),
        "required": True,
    }
    fields.update(changes)
    return AllowRule(**fields)  # type: ignore[arg-type]


def test_quotes_are_doubled() -> None:
    purpose = 'The server\'s own check; it\u2019s `quoted` $(not run) "twice"'
    rules = RuleSet(inbound=(_rule(purpose),), host="b", host_addresses=("10.0.0.2",))
    text = WindowsRenderer().render(rules, "O'Brien's plan").text
    (line,) = calls(text)
    assert "server''s own" in line and "it\u2019\u2019s" in line
    assert "'" not in unquoted(line).replace("''", "")  # nothing leaks out of a string
    assert "$(not run)" in line  # single quotes: no expansion, kept verbatim
    assert ps_quote("a'b") == "'a''b'"
    assert ps_quote("line\nbreak") == "'line break'"


def test_ipv6_echo_is_icmpv6_type_128() -> None:
    rule = _rule(
        "ping",
        transport=Transport.ICMP,
        ports=(PortRange(8, 8),),
        source=Endpoint(addresses=("10.0.0.1", "2001:db8::1"), hosts=("a", "a6")),
        destination=Endpoint(addresses=("10.0.0.2", "2001:db8::2"), hosts=("b",)),
    )
    rules = RuleSet(inbound=(rule,), host="b", host_addresses=("10.0.0.2",))
    lines = calls(WindowsRenderer().render(rules, "t").text)
    assert len(lines) == 2
    assert "-Protocol ICMPv4 -IcmpType 8 -RemoteAddress '10.0.0.1'" in lines[0]
    assert "-Protocol ICMPv6 -IcmpType 128 -RemoteAddress '2001:db8::1'" in lines[1]


def test_rpc_without_its_endpoint_mapper_rule_warns() -> None:
    rpc = _rule("rpc", ports=(PortRange(49152, 65535),), rpc_dynamic=True)
    rules = RuleSet(inbound=(rpc,), host="b", host_addresses=("10.0.0.2",))
    rendered = WindowsRenderer().render(rules, "t")
    assert "-LocalPort RPC " in rendered.text
    assert any("endpoint-mapper" in w for w in rendered.warnings)


def test_deterministic(tmp_path: Path) -> None:
    assert script("adfs-farm", "dc01", tmp_path) == script("adfs-farm", "dc01", tmp_path)


def test_windows_needs_a_host(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="give --host HOST"):
        render(planned("pta-sso", tmp_path), "windows")
    with pytest.raises(RenderError, match="give --host HOST"):
        WindowsRenderer().render(RuleSet(forward=(_rule("x"),)), "t")


def test_unknown_host_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="not a host of the topology"):
        render(planned("pta-sso", tmp_path), "windows", host="nosuch")
