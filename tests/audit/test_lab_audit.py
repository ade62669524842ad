"""Audit the lab router's real ruleset in every scenario: the verdicts must be what the
router does, and what `probe` sees from the client through it.

The router's rules match on interfaces (`iifname "rt-client" oifname "rt-dc"`), so the audit
gets the lab's interface map; without it, the same rules are `unknown`, never allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, scenarios
from lab import config as labconfig
from tests.clirunner import run
from tests.probe.test_lab_scenarios import TOPOLOGY, probe

pytestmark = pytest.mark.peers

INTERFACES = (
    "--interface",
    f"{labconfig.IF_ROUTER_CLIENT}={labconfig.CLIENT_NET.v4},{labconfig.CLIENT_NET.v6}",
    "--interface",
    f"{labconfig.IF_ROUTER_DC}={labconfig.DC_NET.v4},{labconfig.DC_NET.v6}",
    "--interface",
    f"{labconfig.IF_ROUTER_CLOUD}=0.0.0.0/0,::/0",
)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lab-audit") / "lab.yaml"
    path.write_text(TOPOLOGY, encoding="utf-8")
    return path


def _audit(lab: Lab, topology: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    ruleset = lab.run("router", ["nft", "-j", "list", "ruleset"]).stdout
    policy = tmp_path / "router.json"
    policy.write_text(ruleset)
    result = run(
        "audit", str(topology), "--policy", str(policy), "--policy-format", "nftables-json",
        "--format", "json", *extra,
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def _expected(scenario: scenarios.Scenario, row: dict[str, Any]) -> str:
    transport = row["transport"]
    low, high = row["ports"]
    ports = [None] if transport == "icmp" else range(low, high + 1)
    passes = {scenario.allows(transport, port) for port in ports}
    if passes == {True}:
        return "allowed"
    return "blocked" if passes == {False} else "partial"


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_audit_matches_the_router(lab: Lab, topology: Path, tmp_path: Path, name: str) -> None:
    scenario = lab.scenario(name)
    code, report = _audit(lab, topology, tmp_path, *INTERFACES)
    rows = [r for r in report["results"] if r["destination"] in ("dc01", "dc01v6")]
    assert len(rows) >= 30
    wrong = [
        (r["destination"], r["transport"], r["ports"], r["verdict"], _expected(scenario, r))
        for r in rows
        if r["verdict"] != _expected(scenario, r)
    ]
    assert not wrong, f"{name}: {wrong}"
    for r in rows:
        assert r["matched_rule"].startswith("table inet hp_lab chain "), r
        if r["verdict"] == "blocked":
            low, high = r["ports"]
            assert r["transport"] == "icmp" or r["blocked_ports"] == [[low, high]]
    failing = [r for r in report["results"] if r["required"] and r["verdict"] != "allowed"]
    assert code == (1 if failing else 0)


def test_without_the_interface_map_the_rules_are_unknown(
    lab: Lab, topology: Path, tmp_path: Path
) -> None:
    lab.scenario("table1")
    code, report = _audit(lab, topology, tmp_path)
    rows = [r for r in report["results"] if r["destination"] == "dc01"]
    assert rows and {r["verdict"] for r in rows} <= {"unknown", "blocked"}
    assert "unknown" in {r["verdict"] for r in rows}
    assert code == 1
    assert any(
        f["kind"] == "undecidable" and "--interface" in f["detail"] for f in report["findings"]
    )


@pytest.mark.parametrize("name", ["open", "table1-no-rpc-dynamic", "udp-blocked"])
def test_audit_agrees_with_probe(lab: Lab, topology: Path, tmp_path: Path, name: str) -> None:
    """Where the audit says allowed, the probe reached the DC (open, or closed by the DC
    itself); where it says blocked, the probe saw the firewall (filtered, or a refusal)."""
    scenario = lab.scenario(name)
    _, audited = _audit(lab, topology, tmp_path, *INTERFACES)
    _, probed, _ = probe(lab, topology)
    verdicts = {
        (r["destination"], r["transport"], tuple(r["ports"])): r["verdict"]
        for r in audited["results"]
    }
    compared = 0
    for check in probed["results"]:
        portless = check["port"] is None and check["transport"] != "icmp"
        if check["verdict"] == "skipped" or portless:
            continue
        key = (check["destination"], check["transport"], tuple(check["flow_ports"]))
        verdict = verdicts[key]
        port = check["port"]
        passes = scenario.allows(check["transport"], port)
        if verdict == "allowed" or (verdict == "partial" and passes):
            assert check["verdict"] in ("open", "closed"), (key, check)
            assert "sent by" not in check["detail"], (key, check)
        else:
            assert check["verdict"] in ("filtered", "closed"), (key, check)
        compared += 1
    assert compared >= 30
