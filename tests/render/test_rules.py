"""The normaliser every target consumes: exact pairs, egress modes, required-only."""

from __future__ import annotations

import pytest

from hybridports._yaml import parse_yaml
from hybridports.catalog import load_catalog
from hybridports.plan import plan
from hybridports.render.interface import RenderError, RenderOptions
from hybridports.render.rules import rules_for
from hybridports.topology import parse_topology

TOPOLOGY = """\
features: [password-hash-sync, federation, health-agent]
proxy: http://10.0.9.9:3128
endpoint_samples:
  "*.blob.core.windows.net": [contoso.blob.core.windows.net]
hosts:
  sync01: {address: 10.0.1.10, roles: [connect]}
  dc01: {address: 10.0.2.10, roles: [dc]}
  adfs01: {address: 10.0.3.10, roles: [adfs]}
  adfs02: {address: 10.0.3.11, roles: [adfs]}
"""


def _plan():  # type: ignore[no-untyped-def]
    return plan(parse_topology(parse_yaml(TOPOLOGY, "t.yaml")), load_catalog())


def _pairs(rule) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(s, d) for s in rule.source.addresses for d in rule.destination.addresses}


def test_rules_allow_exactly_the_planned_pairs() -> None:
    p = _plan()
    planned = {
        (f.source_address, f.destination_address, f.transport, f.ports)
        for f in p.flows
        if not f.is_cloud and f.source_address
    }
    allowed = {
        (s, d, r.transport, r.ports[0])
        for r in rules_for(p, RenderOptions(), "any").forward
        if not r.destination.any and not r.source.any
        for s, d in _pairs(r)
    }
    assert allowed == planned  # nothing more (no node to itself), nothing less


def test_egress_modes() -> None:
    p = _plan()
    any_rules = rules_for(p, RenderOptions(), "any").forward
    assert any(
        r.destination.any and "login.microsoftonline.com" in r.destination.names for r in any_rules
    )
    proxy_rules = rules_for(p, RenderOptions(), "proxy").forward
    assert not any(r.destination.any for r in proxy_rules if r.source.addresses == ("10.0.1.10",))
    assert any(r.destination.addresses == ("10.0.9.9",) for r in proxy_rules)
    tags = rules_for(p, RenderOptions(), "tags").forward
    assert {r.service_tag for r in tags if r.service_tag} >= {"AzureActiveDirectory"}
    names = {f.destination for f in p.flows if f.is_cloud and not f.wildcard}
    resolved = dict.fromkeys(names, ("198.51.100.7",)) | {
        "contoso.blob.core.windows.net": ("198.51.100.8",)
    }
    samples = {"*.blob.core.windows.net": ("contoso.blob.core.windows.net",)}
    with pytest.raises(RenderError, match="endpoint_samples"):
        rules_for(
            p, RenderOptions(resolved=resolved, samples=samples), "resolve"
        )  # other wildcards
    only_sampled = [
        f for f in p.flows if not (f.is_cloud and f.wildcard) or f.destination in samples
    ]
    from dataclasses import replace

    narrowed = replace(p, flows=tuple(only_sampled))
    resolved_rules = rules_for(
        narrowed, RenderOptions(resolved=resolved, samples=samples), "resolve"
    )
    blob = [r for r in resolved_rules.forward if "*.blob.core.windows.net" in r.destination.names]
    assert blob and "198.51.100.8" in blob[0].destination.addresses  # the sample, pinned
    assert resolved_rules.warnings and "change" in resolved_rules.warnings[0]


def test_required_only_and_host_mode() -> None:
    p = _plan()
    everything = rules_for(p, RenderOptions(), "any").forward
    required = rules_for(p, RenderOptions(required_only=True), "any").forward
    assert len(required) < len(everything) and all(r.required for r in required)
    host = rules_for(p, RenderOptions(host="dc01"), "any")
    assert host.inbound and all("10.0.2.10" in r.destination.addresses for r in host.inbound)
    assert all(r.source.addresses == ("10.0.2.10",) for r in host.outbound)
