"""The test lab itself: namespaces, a real Samba AD DC, and the firewall scenarios.

Everything here is real: the checks run from hp-client with dig, ldapsearch, openssl,
kinit, smbclient, rpcclient and Python sockets against samba in hp-dc, through nftables in
hp-router. The module-scoped fixture brings the lab up (provisioning the DC the first time,
from the cache afterwards) and down; without root or network namespaces the lab tests skip
and say why. The pure-data tests at the top run everywhere.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, config, scenarios
from tests.lab import cldap
from tests.lab.support import host_snapshot, in_client, netcheck, say, sh

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLDAP = HERE / "cldap.py"
DC = config.DC_ADDRESS
DC6 = config.DC_ADDRESS6


# --------------------------------------------------------------------------- no lab needed
def test_scenarios_are_data_and_render_to_nft() -> None:
    assert set(scenarios.SCENARIOS) == {
        "open",
        "table1",
        "table1-no-rpc-dynamic",
        "udp-blocked",
        "reject-reset",
        "reject-port-unreachable",
        "reject-admin-prohibited",
        "drop",
    }
    for scenario in scenarios.SCENARIOS.values():
        text = scenario.nft_ruleset()
        assert text.splitlines()[1:3] == ["table inet hp_lab", "delete table inet hp_lab"]
        assert f'comment "hp-scenario={scenario.name}"' in text
    t1 = scenarios.get("table1")
    for port in (53, 88, 135, 389, 445, 636, 3268, 5985, 9389, 49152, 49200, 65535):
        assert t1.allows("tcp", port), port
    for port in (53, 88, 389):
        assert t1.allows("udp", port), port
    assert t1.expect("tcp", 3269) == scenarios.TIMEOUT  # LDAPS GC is not in Table 1
    assert t1.expect("udp", 464) == scenarios.TIMEOUT
    nodyn = scenarios.get("table1-no-rpc-dynamic")
    assert nodyn.allows("tcp", 135)
    assert nodyn.expect("tcp", 49152) == scenarios.TIMEOUT
    assert scenarios.get("reject-tcp-reset") is scenarios.get("reject-reset")
    assert scenarios.get("reject-reset").action("tcp", 389) == scenarios.REJECT_TCP_RESET
    assert scenarios.get("reject-reset").action("udp", 53) == scenarios.REJECT_PORT_UNREACHABLE
    assert scenarios.get("udp-blocked").expect("udp", 53) == scenarios.TIMEOUT
    assert scenarios.get("udp-blocked").expect("tcp", 53) == scenarios.PASS
    assert scenarios.get("drop").expect("tcp", 389) == scenarios.TIMEOUT
    admin = scenarios.get("reject-admin-prohibited")
    assert admin.expect("tcp", 389) == scenarios.UNREACHABLE


def test_cldap_request_encoding() -> None:
    packet = cldap.request("lab.hybridports.test", message_id=7)
    assert packet[0] == 0x30  # LDAPMessage SEQUENCE
    _tag, body, end = cldap._read(packet, 0)
    assert end == len(packet)
    (_, msgid), (op_tag, search) = cldap._children(body)
    assert msgid == b"\x07" and op_tag == 0x63  # SearchRequest [APPLICATION 3]
    parts = cldap._children(search)
    assert parts[0] == (0x04, b"")  # base ""
    assert parts[1] == (0x0A, b"\x00")  # scope base
    assert parts[6][0] == 0xA0  # and-filter
    assert b"DnsDomain" in parts[6][1] and b"NtVer" in parts[6][1]
    assert parts[7] == (0x30, b"\x04\x08Netlogon")


# --------------------------------------------------------------------------- fixtures
# --------------------------------------------------------------------------- topology
def test_topology(lab: Lab) -> None:
    status = lab.status()
    assert status["up"], status
    assert status["namespaces"] == ["hp-client", "hp-router", "hp-dc"]
    client = in_client(lab, ["ip", "-br", "addr", "show", "dev", "eth0"]).stdout
    assert "198.18.1.10/24" in client and "2001:db8:1::10/64" in client
    assert in_client(lab, ["hostname"]).stdout.strip() == "connect01"
    assert "nameserver 198.18.2.10" in in_client(lab, ["cat", "/etc/resolv.conf"]).stdout
    forwarding = lab.run("router", ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip()
    assert forwarding == "1"
    assert in_client(lab, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "0"
    # A host outside the lab is unreachable: the router has no route anywhere else.
    (result,) = netcheck(lab, [{"kind": "tcp", "host": "192.0.2.1", "port": 80, "timeout": 2}])
    assert result["result"] in ("unreachable", "timeout"), result


def test_up_is_idempotent(lab: Lab) -> None:
    pid = lab.status()["samba_pid"]
    lab.up()
    assert lab.timings["reused"] == 1.0
    assert lab.status()["samba_pid"] == pid


# --------------------------------------------------------------------------- DC services
def test_dns_srv_over_udp_and_tcp(open_lab: Lab) -> None:
    name = f"_ldap._tcp.dc._msdcs.{open_lab.dns_domain}"
    for transport in ("+notcp", "+tcp"):
        out = in_client(open_lab, ["dig", transport, "+short", "SRV", name]).stdout
        assert f"389 {open_lab.dc_fqdn}." in out, (transport, out)
    for name, port in (
        (f"_kerberos._tcp.{open_lab.dns_domain}", 88),
        (f"_gc._tcp.{open_lab.dns_domain}", 3268),
        (f"_ldap._tcp.{open_lab.dns_domain}", 389),
    ):
        out = in_client(open_lab, ["dig", "+short", "SRV", name]).stdout
        assert f"{port} {open_lab.dc_fqdn}." in out, (name, out)
    assert in_client(open_lab, ["dig", "+short", "A", open_lab.dc_fqdn]).stdout.split() == [DC]
    assert in_client(open_lab, ["dig", "+short", "AAAA", open_lab.dc_fqdn]).stdout.split() == [DC6]


def test_ldap_rootdse_389_and_gc_3268(open_lab: Lab) -> None:
    for url in (f"ldap://{DC}", f"ldap://{DC}:3268", f"ldap://[{DC6}]"):
        out = in_client(
            open_lab,
            [
                "ldapsearch",
                "-x",
                "-LLL",
                "-H",
                url,
                "-b",
                "",
                "-s",
                "base",
                "dnsHostName",
                "supportedCapabilities",
                "isGlobalCatalogReady",
                "forestFunctionality",
            ],
        ).stdout
        assert "supportedCapabilities: 1.2.840.113556.1.4.800" in out, (url, out)
        assert f"dnsHostName: {open_lab.dc_fqdn}" in out
        assert "isGlobalCatalogReady: TRUE" in out
        assert int(re.search(r"forestFunctionality: (\d+)", out).group(1)) >= 2  # type: ignore[union-attr]


def test_ldaps_636_and_3269_handshake(open_lab: Lab) -> None:
    for port in (636, 3269):
        proc = in_client(
            open_lab,
            [
                "openssl",
                "s_client",
                "-connect",
                f"{DC}:{port}",
                "-servername",
                open_lab.dc_fqdn,
                "-CAfile",
                str(open_lab.ca_cert),
                "-verify_hostname",
                open_lab.dc_fqdn,
                "-verify_return_error",
            ],
            stdin="",
        )
        assert "Verify return code: 0 (ok)" in proc.stdout, proc.stdout + proc.stderr
        assert re.search(r"Protocol\s*:\s*TLSv1\.[23]", proc.stdout) or "TLSv1.3" in proc.stdout
    # And the rootDSE inside TLS, validating the DC certificate against the lab CA.
    out = lab_ldaps_rootdse(open_lab)
    assert "supportedCapabilities: 1.2.840.113556.1.4.800" in out


def lab_ldaps_rootdse(lab: Lab) -> str:
    argv = [
        "env",
        f"LDAPTLS_CACERT={lab.ca_cert}",
        "ldapsearch",
        "-x",
        "-LLL",
        "-H",
        f"ldaps://{lab.dc_fqdn}",
        "-b",
        "",
        "-s",
        "base",
        "supportedCapabilities",
    ]
    return in_client(lab, argv).stdout


def test_kerberos_as_req_answered(open_lab: Lab) -> None:
    bogus = f"hp-lab-nouser-{secrets.token_hex(4)}@{open_lab.realm}"
    proc = in_client(open_lab, ["env", "KRB5CCNAME=MEMORY:", "kinit", bogus], stdin="x\n")
    assert proc.returncode != 0
    assert "not found in Kerberos database" in proc.stderr, (
        proc.stderr
    )  # KDC_ERR_C_PRINCIPAL_UNKNOWN
    # The generated admin password works (so the DC's KDC really issues tickets).
    proc = in_client(
        open_lab,
        ["env", "KRB5CCNAME=MEMORY:", "kinit", open_lab.admin_user],
        stdin=open_lab.admin_password + "\n",
    )
    assert proc.returncode == 0, proc.stderr


def test_smb2_negotiate_and_anonymous_share_list(open_lab: Lab) -> None:
    proc = in_client(open_lab, ["smbclient", "-L", DC, "-N", "-m", "SMB3"])
    assert "Anonymous login successful" in proc.stdout + proc.stderr
    assert "sysvol" in proc.stdout and "netlogon" in proc.stdout


def test_rpc_endpoint_mapper_and_dynamic_ports(open_lab: Lab) -> None:
    proc = in_client(open_lab, ["rpcclient", "-U%", f"ncacn_ip_tcp:{DC}[135]", "-c", "epmlookup"])
    towers = {int(p) for p in re.findall(r"ncacn_ip_tcp:[^\[]*\[(\d+)", proc.stdout)}
    assert 135 in towers, proc.stdout + proc.stderr  # the endpoint mapper itself
    ports = towers - {135}
    assert ports
    lo, hi = open_lab.rpc_dynamic_range
    assert all(lo <= p <= hi for p in ports), ports
    listening = open_lab.run("dc", ["ss", "-Hltn"]).stdout
    bound = {int(m) for m in re.findall(rf"{re.escape(DC)}:(\d+)", listening)}
    assert ports <= bound
    results = netcheck(open_lab, [{"kind": "tcp", "host": DC, "port": p} for p in sorted(ports)])
    assert all(r["result"] == "connected" for r in results), results


def test_cldap_netlogon_ping(open_lab: Lab) -> None:
    for host in (DC, DC6):
        proc = open_lab.run("client", [sys.executable, str(CLDAP), host, open_lab.dns_domain])
        assert proc.returncode == 0, proc.stderr
        reply = json.loads(proc.stdout)
        assert reply["ops"] == [0x64, 0x65] and reply["result_code"] == 0
        netlogon = reply["netlogon"]
        assert netlogon["opcode"] == 23  # LOGON_SAM_LOGON_RESPONSE_EX
        assert netlogon["domain"] == open_lab.dns_domain
        assert netlogon["host"] == open_lab.dc_fqdn
        assert netlogon["netbios_domain"] == open_lab.netbios_domain
        for flag in (0x4, 0x8, 0x10, 0x20, 0x100):  # GC, LDAP, DS, KDC, WRITABLE
            assert netlogon["flags"] & flag, hex(netlogon["flags"])


# --------------------------------------------------------------------------- scenarios
def _probe_plan(lab: Lab) -> list[dict[str, Any]]:
    tcp4, _, _ = lab.dc.listening()
    lo, hi = lab.rpc_dynamic_range
    dynamic = min(p for p in tcp4 if lo <= p <= hi)
    plan: list[dict[str, Any]] = [
        {"kind": "tcp", "host": DC, "port": port, "listening": True}
        for port in (53, 88, 135, 389, 445, 636, 3268, 3269, dynamic)
    ]
    plan += [
        {"kind": "tcp", "host": DC, "port": 5985, "listening": False},
        {"kind": "udp", "host": DC, "port": 53, "payload": "dns", "listening": True},
        {"kind": "udp", "host": DC, "port": 389, "payload": "cldap", "listening": True},
        {"kind": "udp", "host": DC, "port": 9999, "payload": "00", "listening": False},
        # IPv6: TCP refusals by ICMPv6 arrive on the SYN retransmission (see README).
        {"kind": "tcp", "host": DC6, "port": 389, "listening": True, "timeout": 2.5},
        {"kind": "udp", "host": DC6, "port": 53, "payload": "dns", "listening": True},
    ]
    return plan


def _expected(scenario: scenarios.Scenario, check: dict[str, Any]) -> dict[str, Any]:
    v6 = ":" in check["host"]
    outcome = scenario.expect(check["kind"], check["port"])
    if outcome == scenarios.PASS:
        if check["kind"] == "tcp":
            return {"result": "connected" if check["listening"] else "refused"}
        if check["listening"]:
            return {"result": "reply"}
        # Closed UDP port: port-unreachable from the DC itself.
        return {
            "result": "icmp",
            "icmp_from": check["host"],
            "icmp_type": 1 if v6 else 3,
            "icmp_code": 4 if v6 else 3,
        }
    if outcome == scenarios.TIMEOUT:
        return {"result": "timeout"}
    router = scenarios.REJECT_SENDER_V6 if v6 else scenarios.REJECT_SENDER_V4
    if outcome == scenarios.REFUSED:
        if check["kind"] == "tcp":
            return {"result": "refused"}
        return {
            "result": "icmp",
            "icmp_from": router,
            "icmp_type": 1 if v6 else 3,
            "icmp_code": 4 if v6 else 3,
        }
    assert outcome == scenarios.UNREACHABLE
    if check["kind"] == "tcp":
        name = errno.errorcode[scenarios.ERRNO_OF_OUTCOME[(outcome, 6 if v6 else 4)]]
        return {"result": "unreachable", "errno": name}
    return {
        "result": "icmp",
        "icmp_from": router,
        "icmp_type": 1 if v6 else 3,
        "icmp_code": 1 if v6 else 13,
    }


@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_scenario_behaves_as_its_data_says(lab: Lab, name: str) -> None:
    scenario = lab.scenario(name)
    assert lab.current_scenario() is scenario
    tables = lab.run("router", ["nft", "list", "tables"]).stdout.split("\n")
    assert [t for t in tables if t] == ["table inet hp_lab"]  # replaced, never stacked
    start = time.monotonic()
    results = netcheck(lab, _probe_plan(lab))
    mismatches = []
    for result in results:
        want = _expected(scenario, result)
        got = {k: result.get(k) for k in want}
        if got != want:
            mismatches.append((result["kind"], result["host"], result["port"], want, result))
    assert not mismatches, f"{name}: {mismatches}"
    assert time.monotonic() - start < 15


def test_drop_times_out_tcp_389(lab: Lab) -> None:
    lab.scenario("drop")
    (r,) = netcheck(lab, [{"kind": "tcp", "host": DC, "port": 389, "timeout": 1.5}])
    assert r["result"] == "timeout" and r["seconds"] >= 1.4


def test_reject_reset_refuses_tcp_389(lab: Lab) -> None:
    lab.scenario("reject-reset")
    (r,) = netcheck(lab, [{"kind": "tcp", "host": DC, "port": 389}])
    assert r["result"] == "refused" and r["errno"] == "ECONNREFUSED" and r["seconds"] < 0.5


def test_table1_without_dynamic_rpc_blocks_dynamic_port_but_passes_135(lab: Lab) -> None:
    lab.scenario("table1-no-rpc-dynamic")
    lo, hi = lab.rpc_dynamic_range
    dynamic = min(p for p in lab.dc.listening()[0] if lo <= p <= hi)
    r135, rdyn = netcheck(
        lab,
        [{"kind": "tcp", "host": DC, "port": 135}, {"kind": "tcp", "host": DC, "port": dynamic}],
    )
    assert r135["result"] == "connected"
    assert rdyn["result"] == "timeout"
    # The endpoint mapper still answers and names the (now unreachable) dynamic ports.
    proc = in_client(lab, ["rpcclient", "-U%", f"ncacn_ip_tcp:{DC}[135]", "-c", "epmlookup"])
    assert f"[{dynamic}," in proc.stdout
    lab.scenario("table1")
    (r,) = netcheck(lab, [{"kind": "tcp", "host": DC, "port": dynamic}])
    assert r["result"] == "connected"


# --------------------------------------------------------------------------- robustness
def test_cli_status_and_exec(lab: Lab) -> None:
    lab.scenario("open")
    proc = subprocess.run(
        [sys.executable, "-m", "lab", "status", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["up"] and status["scenario"] == "open"
    proc = subprocess.run(
        [sys.executable, "-m", "lab", "exec", "dc", "hostname"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip() == "dc01"


def test_recovers_after_a_samba_crash(request: pytest.FixtureRequest, lab: Lab) -> None:
    for pid in _netns_pids("hp-dc"):
        _kill9(pid)
    time.sleep(0.3)
    assert not lab.status()["up"]
    # A stale pid file naming an unrelated live process must not be trusted or killed.
    lab.dc.pid_file.write_text(f"{os.getpid()}\n")
    start = time.monotonic()
    lab.up()
    say(request, f"rebuilt after crash in {time.monotonic() - start:.1f}s: {lab.timings}")
    assert lab.timings["reused"] == 0.0 and lab.timings["dc_cached"] == 1.0
    assert lab.status()["up"]
    out = in_client(lab, ["dig", "+short", "A", lab.dc_fqdn]).stdout.split()
    assert out == [DC]


def test_down_after_crash_leaves_nothing(host_before: dict[str, Any], lab: Lab) -> None:
    # Leave a process of our own in hp-client, crash samba (namespaces left behind), then
    # go down from that state.
    lab.run("client", ["sh", "-c", "sleep 300 >/dev/null 2>&1 &"])
    everything = [p for ns in config.NAMESPACES for p in _netns_pids(ns)]
    assert len(everything) > 5
    for pid in _netns_pids("hp-dc"):
        _kill9(pid)
    lab.down()
    lab.down()  # idempotent
    assert not [ns for ns in config.NAMESPACES if Path("/run/netns", ns).exists()]
    assert not [p for p in everything if _alive(p)]
    assert not _lab_processes(lab)
    assert lab.status()["up"] is False
    assert host_snapshot() == host_before


def _netns_pids(ns: str) -> list[int]:
    return [int(p) for p in sh(["ip", "netns", "pids", ns]).split()]


def _kill9(pid: int) -> None:
    subprocess.run(["kill", "-9", str(pid)], check=False)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def _lab_processes(lab: Lab) -> list[str]:
    """Live (non-zombie) samba-family processes using the lab's state dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat.split(") ", 1)[1][:1] == "Z":
            continue
        if str(lab.state_dir) in cmdline:
            found.append(f"{entry.name} {cmdline}")
    return found
