"""Round trip in the lab: the rendered gateway ruleset is the lab router's only firewall.

`examples/lab/topology.yaml` rendered with `--target nftables` (forward path) replaces the
lab's scenario table in hp-router. From the client (sync01), `hybridports probe` must then
find every planned on-premises check to the DC open, and ports outside the plan must be
filtered: a TCP connect times out, a UDP datagram gets no answer. The same scan with the
lab's "open" scenario gets refusals from the DC, which shows the scan can tell the two apart.

Without root or network namespaces these tests skip and say why. Set HP_LAB_SHARED=1 to reuse
a running lab without taking it down afterwards.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from hybridports.catalog import load_catalog
from hybridports.model import Transport
from hybridports.plan import plan
from hybridports.render import RENDERERS
from hybridports.render.interface import RenderOptions, RuleSet
from hybridports.render.nftables import NftablesRenderer
from hybridports.render.rules import rules_for
from hybridports.render.run import render
from hybridports.topology import load_topology
from lab import Lab
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.peers

TOPOLOGY = EXAMPLES / "lab" / "topology.yaml"
ON_PREMISES = "dns,kerberos,kpasswd,cldap,ldap,ldaps,epm,rpc,smb"
TIMEOUT = 2.5  # above the ~1 s an IPv6 TCP refusal takes on the lab's links
LAB_TABLE = "hp_lab"
OUR_TABLE = "hybridports"
# Candidates for "outside the plan"; the ones the rendered rules allow are taken out below.
SCAN_TCP = [22, 80, 1433, 3389, 5986, 8080]
SCAN_UDP = [161, 514]

SCAN = """
import json, socket, sys
address, timeout = sys.argv[1], float(sys.argv[2])
tcp, udp = json.loads(sys.argv[3]), json.loads(sys.argv[4])
out = {"tcp": {}, "udp": {}}
for port in tcp:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((address, port)); out["tcp"][port] = "open"
    except socket.timeout:
        out["tcp"][port] = "timeout"
    except ConnectionRefusedError:
        out["tcp"][port] = "refused"
    except OSError as exc:
        out["tcp"][port] = f"error {exc.errno}"
    finally:
        s.close()
for port in udp:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((address, port)); s.send(b"hybridports")
        s.recv(512); out["udp"][port] = "answer"
    except socket.timeout:
        out["udp"][port] = "no answer"
    except ConnectionRefusedError:
        out["udp"][port] = "refused"
    except OSError as exc:
        out["udp"][port] = f"error {exc.errno}"
    finally:
        s.close()
print(json.dumps(out))
"""


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    if "nftables" not in RENDERERS:
        monkeypatch.setitem(RENDERERS, "nftables", NftablesRenderer())


@pytest.fixture
def rendered_gateway(lab: Lab, registered: None) -> Iterator[tuple[str, tuple[str, ...]]]:
    """hp-router runs only the rendered ruleset; the lab's "open" scenario comes back after."""
    text, warnings = render(plan(load_topology(TOPOLOGY), load_catalog()), "nftables")
    try:
        lab.run("router", ["nft", "delete", "table", "inet", LAB_TABLE], check=False)
        proc = lab.run("router", ["nft", "-f", "-"], input=text)
        assert proc.returncode == 0, proc.stderr
        yield text, warnings
    finally:
        lab.run("router", ["nft", "delete", "table", "inet", OUR_TABLE], check=False)
        lab.scenario("open")


def probe(lab: Lab) -> dict[str, Any]:
    argv = [
        sys.executable, "-m", "hybridports", "probe", str(TOPOLOGY), "--from", "sync01",
        "--format", "json", "--timeout", str(TIMEOUT), "--ca-bundle", str(lab.ca_cert),
        "--only", ON_PREMISES,
    ]  # fmt: skip
    proc = lab.run("client", argv, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def scan(lab: Lab, tcp: list[int], udp: list[int]) -> dict[str, dict[str, str]]:
    argv = [
        sys.executable, "-c", SCAN, lab.dc_address, str(TIMEOUT), json.dumps(tcp), json.dumps(udp)
    ]  # fmt: skip
    proc = lab.run("client", argv, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, dict[str, str]] = json.loads(proc.stdout)
    return result


def allowed(rules: RuleSet, transport: Transport, port: int, source: str, dest: str) -> bool:
    """Whether some rendered forward rule lets source reach dest on transport/port."""

    def covers(addresses: tuple[str, ...], any_address: bool, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any_address or any(ip in ipaddress.ip_network(a) for a in addresses)

    return any(
        r.transport is transport
        and any(p.low <= port <= p.high for p in r.ports)
        and covers(r.source.addresses, r.source.any, source)
        and covers(r.destination.addresses, r.destination.any, dest)
        for r in rules.forward
    )


def test_rendered_gateway_allows_the_plan_and_nothing_else(
    lab: Lab, rendered_gateway: tuple[str, tuple[str, ...]]
) -> None:
    _, warnings = rendered_gateway
    listing = lab.run("router", ["nft", "list", "tables"], check=True).stdout
    assert f"inet {OUR_TABLE}" in listing and f"inet {LAB_TABLE}" not in listing

    # The probe: every planned on-premises check to the IPv4 DC gets through.
    report = probe(lab)
    rows = [r for r in report["results"] if r["probe"] != "none"]
    to_dc = [r for r in rows if r["destination"] == "dc01"]
    assert len(to_dc) >= 15, to_dc
    closed = [(r["transport"], r["port"], r["verdict"], r["detail"]) for r in to_dc]
    assert all(r["verdict"] == "open" for r in to_dc), closed
    assert {r["probe"] for r in to_dc} >= {"dns", "kerberos", "ldap", "ldaps", "smb", "epm"}
    assert any(r["probe"] == "rpc-dynamic" and r["verdict"] == "open" for r in to_dc)
    # dc01v6 only has an IPv6 address and sync01 only an IPv4 one in the topology, so no
    # rule can pair them; the client's real IPv6 address is outside the plan and the
    # render said so. (Least privilege: the topology's sync01 is 198.18.1.10, nothing else.)
    assert any("IPv6 destinations 2001:db8:2::10" in w for w in warnings), warnings
    to_v6 = [r for r in rows if r["destination"] == "dc01v6" and r["probe"] != "rpc-dynamic"]
    assert to_v6 and all(r["verdict"] == "filtered" for r in to_v6), to_v6

    # The scan: ports the rendered rules do not allow from the client to the DC.
    rules = rules_for(plan(load_topology(TOPOLOGY), load_catalog()), RenderOptions(), "any")
    client, dc = lab.client_address, lab.dc_address
    tcp = [p for p in SCAN_TCP if not allowed(rules, Transport.TCP, p, client, dc)]
    udp = [p for p in SCAN_UDP if not allowed(rules, Transport.UDP, p, client, dc)]
    # 80 is planned to any address (CRL downloads, --cloud-egress any), so it is allowed.
    assert 80 not in tcp and {22, 1433, 5986, 8080} <= set(tcp) and udp == SCAN_UDP
    filtered = scan(lab, tcp, udp)
    assert set(filtered["tcp"].values()) == {"timeout"}, filtered
    assert set(filtered["udp"].values()) == {"no answer"}, filtered

    # Control: with everything forwarded the DC itself refuses the same ports.
    lab.run("router", ["nft", "delete", "table", "inet", OUR_TABLE], check=True)
    lab.scenario("open")
    refused = scan(lab, tcp, udp)
    assert set(refused["tcp"].values()) == {"refused"}, refused
    assert set(refused["udp"].values()) == {"refused"}, refused
