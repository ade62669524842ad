"""The vendor targets rendered through aerleon (optional extra ``aerleon``).

Without aerleon installed, only the "clear error" test runs; the golden files and the
output checks need the extra.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path

import pytest

from hybridports.model import PortRange, Transport
from hybridports.render import RENDERERS, RenderError
from hybridports.render.aerleon import JuniperSrxRenderer, PaloAltoRenderer
from hybridports.render.interface import AllowRule, Endpoint, Renderer, RuleSet
from hybridports.render.run import render
from tests.render.cloud_support import GOLDEN, planned

TARGETS: dict[str, Renderer] = {"juniper-srx": JuniperSrxRenderer(), "paloalto": PaloAltoRenderer()}
EXTENSION = {"juniper-srx": "conf", "paloalto": "xml"}
EXAMPLES = ["adfs-farm", "pta-sso", "usgov"]


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The targets in the registry (a no-op once render/__init__.py lists them)."""
    for name, renderer in TARGETS.items():
        if name not in RENDERERS:
            monkeypatch.setitem(RENDERERS, name, renderer)


@pytest.fixture
def aerleon() -> None:
    pytest.importorskip("aerleon", reason="the optional extra aerleon is not installed")


def _rule() -> AllowRule:
    return AllowRule(
        Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        Endpoint(addresses=("10.0.0.2",), hosts=("b",)),
        Transport.TCP,
        (PortRange(443, 443),),
        ("x-y-https",),
        ('a "quoted" */ purpose',),
        True,
    )


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_clear_error_without_the_extra(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aerleon", None)  # import aerleon now raises ImportError
    with pytest.raises(RenderError, match=r"pip install 'hybridports\[aerleon\]'"):
        TARGETS[target].render(RuleSet(forward=(_rule(),)), "t")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_host_mode_is_refused(target: str, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="leave out --host"):
        render(planned("pta-sso", tmp_path), target, host="dc01")


@pytest.mark.usefixtures("aerleon")
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("example", EXAMPLES)
def test_golden(
    example: str, target: str, tmp_path: Path, golden: Callable[[Path, str], None]
) -> None:
    text, _ = render(planned(example, tmp_path), target)
    golden(GOLDEN / target / f"{example}.{EXTENSION[target]}", text)


@pytest.mark.usefixtures("aerleon")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_planned_flow_is_in_a_comment(target: str, tmp_path: Path) -> None:
    result = planned("adfs-farm", tmp_path)
    text, _ = render(result, target)
    for catalog_id in {i for row in result.flows for i in row.catalog_ids}:
        assert catalog_id in text, catalog_id
    assert "hp-deny-all" in text


@pytest.mark.usefixtures("aerleon")
def test_paloalto_is_xml_with_a_deny_all_for_both_families(tmp_path: Path) -> None:
    text, _ = render(planned("usgov", tmp_path), "paloalto")
    root = ElementTree.fromstring(text)
    rules = root.findall(".//rulebase/security/rules/entry")
    last = rules[-1]
    assert last.get("name") == "hp-deny-all" and last.findtext("action") == "deny"
    assert [m.text for m in last.findall("source/member")] == ["any"]  # not any-ipv4
    assert any("2001:db8:20::11" in (e.findtext("ip-netmask") or "") for e in root.iter("entry"))


@pytest.mark.usefixtures("aerleon")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_ipv6_echo_is_rendered_not_dropped(target: str) -> None:
    ping = AllowRule(
        Endpoint(addresses=("2001:db8::1",), hosts=("a",)),
        Endpoint(addresses=("2001:db8::2",), hosts=("b",)),
        Transport.ICMP,
        (PortRange(8, 8),),
        ("a-b-icmp",),
        ("ping",),
        False,
    )
    text = TARGETS[target].render(RuleSet(forward=(ping,)), "t").text
    assert ("icmp6-echo-request" if target == "paloalto" else "icmp6-type 128") in text


@pytest.mark.usefixtures("aerleon")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_comments_cannot_break_the_syntax(target: str) -> None:
    text = TARGETS[target].render(RuleSet(forward=(_rule(),)), "t").text
    if target == "paloalto":
        description = ElementTree.fromstring(text).findtext(".//rules/entry/description")
        assert description is not None and "quoted" in description
    else:
        assert "*/ purpose" not in text and "* / purpose" in text


@pytest.mark.usefixtures("aerleon")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_deterministic(target: str, tmp_path: Path) -> None:
    first = render(planned("usgov", tmp_path), target)
    assert first == render(planned("usgov", tmp_path), target)
