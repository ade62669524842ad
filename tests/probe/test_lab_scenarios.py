"""End to end: `hybridports probe` from the lab's client, through every firewall scenario.

For every check of the run, the verdict must be what the router's rules make of that port:
accepted → open (closed where Samba runs no such service), dropped → filtered, TCP reset →
closed, an ICMP error from the router → filtered with the router named as the sender.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, scenarios
from lab import config as labconfig

pytestmark = pytest.mark.peers

SERVED = {
    "tcp": {53, 88, 135, 389, 445, 464, 636, 3268, 3269},
    "udp": {53, 88, 389, 464},
}
TIMEOUT = 2.5  # above the ~1 s an IPv6 TCP refusal takes on the lab's links
# The DC side only: the cloud side has its own lab tests.
ON_PREMISES = "dns,kerberos,kpasswd,cldap,ldap,ldaps,epm,rpc,smb,winrm,adws,ntp,icmp"

TOPOLOGY = f"""\
name: lab
domain: {labconfig.DNS_DOMAIN}
features: [password-hash-sync, seamless-sso, password-writeback, ldaps]
rpc_dynamic_ports: {labconfig.RPC_DYNAMIC_RANGE[0]}-{labconfig.RPC_DYNAMIC_RANGE[1]}
hosts:
  sync01: {{address: {labconfig.CLIENT_ADDRESS}, roles: [connect]}}
  dc01: {{address: {labconfig.DC_ADDRESS}, roles: [dc]}}
  dc01v6: {{address: "{labconfig.DC_ADDRESS6}", roles: [dc]}}
"""


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lab") / "lab.yaml"
    path.write_text(TOPOLOGY, encoding="utf-8")
    return path


def probe(lab: Lab, topology: Path, *extra: str) -> tuple[int, dict[str, Any], float]:
    if "--only" not in extra:
        extra = ("--only", ON_PREMISES, *extra)
    argv = [
        sys.executable, "-m", "hybridports", "probe", str(topology), "--from", "sync01",
        "--format", "json", "--timeout", str(TIMEOUT), "--dns-server", labconfig.DC_ADDRESS,
        "--ca-bundle", str(lab.ca_cert), *extra,
    ]  # fmt: skip
    started = time.monotonic()
    proc = lab.run("client", argv, timeout=120, check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout), elapsed


def expected(scenario: scenarios.Scenario, row: dict[str, Any]) -> str:
    if row["probe"] == "none":
        return "skipped"
    transport, port = row["transport"], row["port"]
    if row["probe"] == "rpc-dynamic" and port is None:
        return "skipped"  # only when 135 itself does not answer
    action = scenario.action(transport, port)
    if action == scenarios.ACCEPT:
        if transport == "icmp":
            return "open"
        served = port in SERVED.get(transport, set()) or row["probe"] == "rpc-dynamic"
        return "open" if served else "closed"
    if action == scenarios.REJECT_TCP_RESET:
        return "closed"
    return "filtered"  # dropped, or an ICMP error sent by the router


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_check_matches_the_firewall(lab: Lab, topology: Path, name: str) -> None:
    # Given the router runs the scenario
    scenario = lab.scenario(name)
    # When the Connect server probes its planned flows
    code, report, elapsed = probe(lab, topology)
    results = report["results"]
    # Then every check's verdict is what the rules make of it
    wrong = [
        (
            r["destination"],
            r["transport"],
            r["port"],
            r["verdict"],
            expected(scenario, r),
            r["detail"],
        )
        for r in results
        if r["verdict"] != expected(scenario, r)
    ]
    assert not wrong, f"{name}: {wrong}"
    on_prem = [r for r in results if r["probe"] != "none"]
    assert len(on_prem) >= 30
    # Rejections by the router name the router, not the DC.
    if scenario.default in (scenarios.REJECT_PORT_UNREACHABLE, scenarios.REJECT_ADMIN_PROHIBITED):
        udp = [r for r in on_prem if r["transport"] == "udp"]
        assert udp and all(
            r["facts"].get("icmp_sender")
            in (scenarios.REJECT_SENDER_V4, scenarios.REJECT_SENDER_V6)
            for r in udp
        ), udp
    # Exit code 1 exactly when a required check fails; a run takes about one timeout.
    failing = [
        r for r in results if r["required"] and r["verdict"] in ("closed", "filtered", "error")
    ]
    assert code == (1 if failing else 0)
    assert report["summary"]["ready"] is (not failing)
    assert elapsed < TIMEOUT * 3 + 3, elapsed


def test_open_scenario_proves_each_service(lab: Lab, topology: Path) -> None:
    lab.scenario("open")
    code, report, _ = probe(lab, topology)
    assert code == 0
    by_key = {(r["destination"], r["transport"], r["port"]): r for r in report["results"]}
    dns = by_key[("dc01", "udp", 53)]
    assert dns["facts"]["srv_targets"] == [labconfig.DC_FQDN]
    rpc = [
        r for r in report["results"] if r["probe"] == "rpc-dynamic" and r["destination"] == "dc01"
    ]
    low, high = labconfig.RPC_DYNAMIC_RANGE
    assert rpc and all(low <= r["port"] <= high and r["flow_ports"] == [low, high] for r in rpc)
    interfaces = {i for r in rpc for i in r["facts"]["interfaces"]}
    assert {"DRSUAPI", "NETLOGON", "LSARPC", "SAMR"} <= interfaces


def test_names_resolve_through_the_dc_and_certificates_are_checked(
    lab: Lab, tmp_path: Path
) -> None:
    # Given dc01 is written as its DNS name, resolved through the DC's own DNS server
    lab.scenario("open")
    path = tmp_path / "named.yaml"
    path.write_text(TOPOLOGY.replace(labconfig.DC_ADDRESS, labconfig.DC_FQDN, 1))
    code, report, _ = probe(lab, path, "--only", "ldaps")
    rows = [r for r in report["results"] if r["destination"] == "dc01"]
    # Then the address is the resolved one and LDAPS checks the name the topology gives
    assert rows and all(r["address"] == labconfig.DC_ADDRESS for r in rows)
    assert all(r["verdict"] == "open" and r["facts"]["sni"] == labconfig.DC_FQDN for r in rows)
    assert code == 0


def test_dynamic_range_outside_the_plan_is_an_error(lab: Lab, tmp_path: Path) -> None:
    lab.scenario("open")
    path = tmp_path / "narrow.yaml"
    path.write_text(
        TOPOLOGY.replace("rpc_dynamic_ports: 49152-49200", "rpc_dynamic_ports: 50000-50100")
    )
    code, report, _ = probe(lab, path, "--only", "rpc")
    rpc = [r for r in report["results"] if r["probe"] == "rpc-dynamic"]
    assert rpc and all(
        r["verdict"] == "error" and "outside the planned range" in r["detail"] for r in rpc
    )
    assert code == 1


def test_skipped_when_the_endpoint_mapper_is_unreachable(lab: Lab, topology: Path) -> None:
    lab.scenario("drop")
    _, report, _ = probe(lab, topology, "--only", "rpc")
    rpc = [r for r in report["results"] if r["probe"] == "rpc-dynamic"]
    assert rpc and all(r["verdict"] == "skipped" and r["port"] is None for r in rpc)
    assert all("135" in r["detail"] for r in rpc)
    lab.scenario("open")


HOSTILE_ADDRESS = "198.18.2.20"
HOSTILE_TCP = [53, 88, 135, 389, 445, 464, 636, 3268, 3269]
HOSTILE_UDP = [53, 88, 389, 464]


@pytest.fixture
def hostile(lab: Lab, request: pytest.FixtureRequest) -> Iterator[str]:
    lab.scenario("open")
    lab.run("dc", ["ip", "addr", "replace", f"{HOSTILE_ADDRESS}/24", "dev", labconfig.IF_DC])
    mode = request.param
    script = Path(__file__).resolve().parent.parent / "peers" / "hostile.py"
    argv = lab.command("dc", [
        sys.executable, str(script), "--address", HOSTILE_ADDRESS, "--mode", mode,
        "--tcp", ",".join(map(str, HOSTILE_TCP)), "--udp", ",".join(map(str, HOSTILE_UDP)),
    ])  # fmt: skip
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield mode
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
        lab.run(
            "dc",
            ["ip", "addr", "del", f"{HOSTILE_ADDRESS}/24", "dev", labconfig.IF_DC],
            check=False,
        )


@pytest.mark.parametrize(
    "hostile", ["garbage", "silent", "close", "huge", "truncated", "http"], indirect=True
)
def test_hostile_peers_get_a_verdict_in_time(lab: Lab, tmp_path: Path, hostile: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(
        TOPOLOGY.replace(
            f'dc01v6: {{address: "{labconfig.DC_ADDRESS6}"',
            f'dc01v6: {{address: "{HOSTILE_ADDRESS}"',
        )
    )
    code, report, elapsed = probe(lab, path)
    rows = [r for r in report["results"] if r["destination"] == "dc01v6" and r["probe"] != "none"]
    assert rows
    for row in rows:
        if row["transport"] == "icmp":
            continue
        if row["probe"] == "rpc-dynamic":
            assert row["verdict"] == "skipped", row  # no endpoint mapper to learn ports from
            continue
        served = HOSTILE_TCP if row["transport"] == "tcp" else HOSTILE_UDP
        if row["port"] not in served:
            assert row["verdict"] == "closed", row  # nothing listens there
        elif row["transport"] == "udp" and hostile in ("silent", "close"):
            assert row["verdict"] == "filtered", row
        else:
            assert row["verdict"] == "error", row
            assert row["detail"]
    assert code == 1
    assert elapsed < TIMEOUT * 3 + 3
