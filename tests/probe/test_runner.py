"""The runner: which probe checks which flow, plan order, and robustness against probe bugs."""

from __future__ import annotations

import asyncio

from hybridports._yaml import parse_yaml
from hybridports.catalog import load_catalog
from hybridports.plan import plan
from hybridports.probe import PROBE_FOR_PORT, PROBES
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.runner import Runner, choose_probe, domain_of
from hybridports.topology import parse_topology

TOPOLOGY = """\
features: [password-hash-sync, ldaps, seamless-sso, password-writeback, adfs-gmsa-install]
hosts:
  sync01: {address: 127.0.0.1, roles: [connect]}
  dc01: {address: 127.0.0.2, roles: [dc, adfs]}
"""


def _plan():  # type: ignore[no-untyped-def]
    return plan(parse_topology(parse_yaml(TOPOLOGY, "t.yaml")), load_catalog())


def test_every_planned_on_premises_flow_has_a_protocol_probe() -> None:
    for flow in _plan().flows_from("sync01"):
        name, reason = choose_probe(flow)
        if flow.is_cloud:
            assert name in PROBES and reason is None
        elif flow.rpc_dynamic:
            assert name == "rpc-dynamic"
        else:
            assert name in PROBES and name != "tcp", (flow.catalog_id, name)
    assert set(PROBE_FOR_PORT.values()) <= set(PROBES)


def test_domain_from_the_naming_context() -> None:
    assert domain_of("DC=lab,DC=hybridports,DC=test") == "lab.hybridports.test"
    assert domain_of("OU=x,DC=Contoso,DC=com") == "contoso.com"
    assert domain_of(None) is None
    assert domain_of("CN=Configuration") is None


class Exploding(Probe):
    name = "ldap"
    description = "a probe with a bug"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        raise KeyError("boom")


def test_a_crashing_probe_becomes_an_error_row_and_the_run_goes_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(PROBES, "ldap", Exploding())
    flows = [
        f for f in _plan().flows_from("sync01") if f.ports.low in (389, 445) and not f.is_cloud
    ]
    runner = Runner(ProbeContext(timeout=0.5, domain="x.test"))
    results = asyncio.run(runner.run(flows, {"dc01": "127.0.0.2"}, set()))
    ldap = [r for r in results if r.probe == "ldap"]
    assert ldap and all(
        r.verdict.value == "error" and "internal error in ldap probe: KeyError" in r.detail
        for r in ldap
    )
    assert [r.port for r in results] == [f.ports.low for f in flows]  # plan order
    assert any(r.probe == "smb" and r.verdict.value == "closed" for r in results)
