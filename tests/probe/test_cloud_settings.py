"""Which names and which proxy a cloud row is checked with."""

from __future__ import annotations

import pytest

from hybridports._yaml import parse_yaml
from hybridports.catalog import load_catalog
from hybridports.plan import PlannedFlow, plan
from hybridports.probe.cloud import cloud_settings
from hybridports.topology import parse_proxy, parse_topology

TOPOLOGY = """\
features: [password-hash-sync, health-agent]
endpoint_samples:
  "*.blob.core.windows.net": [contosohealth.blob.core.windows.net]
hosts:
  sync01: {address: 10.0.1.10, roles: [connect]}
  dc01: {address: 10.0.2.10, roles: [dc]}
"""


def _row(destination: str, port: int = 443) -> PlannedFlow:
    topology = parse_topology(parse_yaml(TOPOLOGY, "t.yaml"))
    flows = plan(topology, load_catalog()).flows_from("sync01")
    return next(f for f in flows if f.destination == destination and f.ports.low == port)


def test_wildcards_use_samples_documented_names_or_are_skipped() -> None:
    topology = parse_topology(parse_yaml(TOPOLOGY, "t.yaml"))
    settings = cloud_settings(None, None, topology.endpoint_samples)
    assert settings.names(_row("login.microsoftonline.com")) == (
        ("login.microsoftonline.com",),
        None,
    )
    assert settings.names(_row("*.blob.core.windows.net")) == (
        ("contosohealth.blob.core.windows.net",),
        None,
    )
    documented, _ = settings.names(_row("*.servicebus.windows.net"))
    assert documented == ("ssprdedicatedsbprodscu.servicebus.windows.net",)
    names, reason = settings.names(_row("*.aadconnecthealth.azure.com"))
    assert names == () and reason and "endpoint_samples" in reason


def test_explicit_proxy_wins_and_amqp_is_never_proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env.example:3128")
    topology_proxy = parse_proxy("http://topo.example:8080")
    assert cloud_settings("http://cli.example:1", topology_proxy, {}).proxy == parse_proxy(
        "http://cli.example:1"
    )
    settings = cloud_settings(None, topology_proxy, {})
    assert settings.proxy_source == "topology"
    assert settings.proxy_for("login.microsoftonline.com", 443) == topology_proxy
    assert settings.proxy_for("crl3.digicert.com", 80) == topology_proxy
    assert settings.proxy_for("x.servicebus.windows.net", 5671) is None


def test_environment_proxy_honours_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env.example:3128")
    monkeypatch.setenv("NO_PROXY", ".windows.net, crl3.digicert.com")
    settings = cloud_settings(None, None, {})
    assert settings.proxy_source == "HTTPS_PROXY"
    assert settings.proxy_for("login.microsoftonline.com", 443) is not None
    assert settings.proxy_for("login.windows.net", 443) is None
    assert settings.proxy_for("crl3.digicert.com", 80) is None
    monkeypatch.setenv("HTTPS_PROXY", "not a url")
    monkeypatch.delenv("NO_PROXY")
    assert cloud_settings(None, None, {}).proxy is None
