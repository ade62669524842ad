"""Planning rules: which flows a topology gets, and which it must not get."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hybridports._yaml import parse_yaml
from hybridports.catalog import load_catalog
from hybridports.model import PortRange
from hybridports.plan import Plan, PlannedFlow, plan
from hybridports.topology import parse_topology
from tests.clirunner import run
from tests.conftest import EXAMPLES

BASE_HOSTS = """\
hosts:
  sync01: {address: 10.0.1.10, roles: [connect]}
  dc01: {address: 10.0.2.10, roles: [dc]}
  dc02: {address: 10.0.2.11, roles: [dc]}
"""


def make_plan(features: str, extra_hosts: str = "", head: str = "") -> Plan:
    text = f"name: t\n{head}features: [{features}]\n{BASE_HOSTS}{extra_hosts}"
    return plan(parse_topology(parse_yaml(text, "t.yaml")), load_catalog())


def rows(p: Plan, source: str, destination: str) -> set[tuple[str, int, int]]:
    return {
        (f.transport.value, f.ports.low, f.ports.high)
        for f in p.flows
        if f.source == source and f.destination == destination
    }


def find(p: Plan, source: str, destination: str, transport: str, port: int) -> PlannedFlow:
    matches = [
        f
        for f in p.flows
        if (f.source, f.destination, f.transport.value) == (source, destination, transport)
        and f.ports.low <= port <= f.ports.high
    ]
    assert len(matches) == 1, (source, destination, transport, port, matches)
    return matches[0]


def test_password_hash_sync_connect_to_every_dc() -> None:
    p = make_plan("password-hash-sync")
    for dc in ("dc01", "dc02"):
        got = rows(p, "sync01", dc)
        for needed in [
            ("tcp", 53, 53), ("udp", 53, 53), ("tcp", 88, 88), ("udp", 88, 88),
            ("tcp", 135, 135), ("tcp", 389, 389), ("udp", 389, 389), ("tcp", 49152, 65535),
        ]:  # fmt: skip
            assert needed in got, (dc, needed)
        for absent in [("tcp", 445, 445), ("tcp", 636, 636), ("udp", 636, 636), ("tcp", 5985, 5985),
                       ("tcp", 9389, 9389), ("tcp", 3268, 3268)]:  # fmt: skip
            assert absent not in got, (dc, absent)
    rpc = find(p, "sync01", "dc01", "tcp", 50000)
    assert rpc.catalog_id == "connect-dc-rpc-dynamic" and rpc.required and rpc.phase == "always"
    assert find(p, "sync01", "dc01", "tcp", 389).catalog_id == "connect-dc-ldap-tcp"


def test_rpc_range_is_install_only_without_password_hash_sync() -> None:
    p = make_plan("pass-through-auth")
    assert find(p, "sync01", "dc01", "tcp", 135).phase in ("install", "always")
    # PTA on the Connect server needs RPC at runtime anyway (P-07), so the merged row widens.
    assert find(p, "sync01", "dc01", "tcp", 50000).required


def test_cloud_rows_for_the_public_cloud() -> None:
    p = make_plan("password-hash-sync")
    login = find(p, "sync01", "login.microsoftonline.com", "tcp", 443)
    assert login.destination_address is None and login.required
    assert login.catalog_id.startswith("connect-entra")
    assert any(f.destination.endswith("digicert.com") and f.ports.low == 80 for f in p.flows)
    assert not [
        f for f in p.flows if "usgovcloudapi" in f.destination or ".us" == f.destination[-3:]
    ]


def test_features_switch_flows_on() -> None:
    plain = make_plan("password-hash-sync")
    sso = make_plan("password-hash-sync, seamless-sso")
    assert ("tcp", 445, 445) in rows(sso, "sync01", "dc01")
    assert ("tcp", 3268, 3268) in rows(sso, "sync01", "dc01")
    assert ("tcp", 445, 445) not in rows(plain, "sync01", "dc01")
    writeback = make_plan("password-hash-sync, password-writeback")
    assert ("tcp", 445, 445) in rows(writeback, "sync01", "dc01")
    assert any("passwordreset" in f.destination for f in writeback.flows)
    assert not any("passwordreset" in f.destination for f in plain.flows)
    ldaps = make_plan("password-hash-sync, ldaps")
    assert ("tcp", 636, 636) in rows(ldaps, "sync01", "dc01")
    assert ("udp", 636, 636) not in rows(ldaps, "sync01", "dc01")


def test_gmsa_install_adds_winrm_and_adws_to_dcs_and_the_wizard_flows() -> None:
    p = make_plan(
        "password-hash-sync, adfs-gmsa-install",
        "  adfs01: {address: 10.0.3.10, roles: [adfs]}\n"
        "  wap01: {address: 192.0.2.10, roles: [wap]}\n",
    )
    assert {("tcp", 5985, 5985), ("tcp", 9389, 9389)} <= rows(p, "sync01", "dc01")
    assert ("tcp", 5985, 5985) in rows(p, "sync01", "adfs01")
    assert ("tcp", 443, 443) in rows(p, "wap01", "adfs01")
    assert find(p, "sync01", "dc01", "tcp", 9389).phase == "install"


def test_rpc_dynamic_ports_narrow_the_range() -> None:
    p = make_plan("password-hash-sync", head="rpc_dynamic_ports: 50000-50999\n")
    assert ("tcp", 50000, 50999) in rows(p, "sync01", "dc01")
    assert not [f for f in p.flows if f.ports.high == 65535 and f.ports.low == 49152]


def test_pinned_ports_per_dc() -> None:
    text = (
        "features: [password-hash-sync]\nrpc_dynamic_ports: 50000-50999\nhosts:\n"
        "  sync01: {address: 10.0.1.10, roles: [connect]}\n"
        "  dc01: {address: 10.0.2.10, roles: [dc], rpc_dynamic_ports: [51000, 51001]}\n"
        "  dc02: {address: 10.0.2.11, roles: [dc]}\n"
    )
    p = plan(parse_topology(parse_yaml(text, "t.yaml")), load_catalog())
    assert {("tcp", 51000, 51000), ("tcp", 51001, 51001)} <= rows(p, "sync01", "dc01")
    assert ("tcp", 50000, 50999) not in rows(p, "sync01", "dc01")
    assert ("tcp", 50000, 50999) in rows(p, "sync01", "dc02")


def test_health_amqp_is_optional_unless_legacy_agents() -> None:
    current = make_plan("password-hash-sync, health-agent")
    amqp = [f for f in current.flows if f.ports.low == 5671]
    assert amqp and not any(f.required for f in amqp)
    assert find(current, "sync01", "*.servicebus.windows.net", "tcp", 443).required
    legacy = make_plan("password-hash-sync, health-agent, legacy-agents")
    assert all(f.required for f in legacy.flows if f.ports.low == 5671)
    # The AD DS health agent runs on the DCs.
    assert any(f.source == "dc01" and f.ports.low == 443 for f in current.flows)


def test_federation_flows_and_client_zones() -> None:
    hosts = (
        "  adfs01: {address: 10.0.3.10, roles: [adfs]}\n"
        "  adfs02: {address: 10.0.3.11, roles: [adfs]}\n"
        "  wap01: {address: 192.0.2.10, roles: [wap]}\n"
        "  internet: {address: 0.0.0.0/0, roles: [client], zone: internet}\n"
        "  campus: {address: 10.30.0.0/16, roles: [client], zone: intranet}\n"
    )
    p = make_plan("federation, cert-auth", hosts)
    assert ("tcp", 443, 443) in rows(p, "wap01", "adfs01")
    assert ("tcp", 443, 443) in rows(p, "wap01", "adfs02")
    assert {("tcp", 443, 443), ("tcp", 49443, 49443)} <= rows(p, "internet", "wap01")
    assert rows(p, "internet", "adfs01") == set()
    assert rows(p, "internet", "dc01") == set()
    assert ("tcp", 443, 443) in rows(p, "campus", "adfs01")
    assert rows(p, "campus", "wap01") == set()
    # No host talks to itself; AD FS nodes do talk to each other (WID sync, F-03).
    assert not [f for f in p.flows if f.source == f.destination]
    assert ("tcp", 80, 80) in rows(p, "adfs02", "adfs01")


def test_any_zone_client_gets_everything_with_a_warning() -> None:
    p = make_plan(
        "password-hash-sync, seamless-sso", "  users: {address: 0.0.0.0/0, roles: [client]}\n"
    )
    assert ("udp", 88, 88) in rows(p, "users", "dc01")
    assert any("autologon" in f.destination for f in p.flows if f.source == "users")
    assert any("0.0.0.0/0" in w for w in p.warnings)


def test_features_without_their_roles_plan_nothing_for_them() -> None:
    p = make_plan("password-hash-sync, pass-through-auth, health-agent")
    assert {f.source for f in p.flows} <= {"sync01", "dc01", "dc02"}
    idle = make_plan("password-hash-sync", "  wap01: {address: 192.0.2.10, roles: [wap]}\n")
    assert not [f for f in idle.flows if "wap01" in (f.source, f.destination)]
    assert any("wap01" in w for w in idle.warnings)


def test_no_duplicates_and_stable_order() -> None:
    p = make_plan(
        "password-hash-sync, pass-through-auth, seamless-sso, password-writeback, health-agent"
    )
    keys = [(f.source, f.destination, f.transport, f.ports) for f in p.flows]
    assert len(keys) == len(set(keys))
    for (s1, d1, t1, r1), (s2, d2, t2, r2) in itertools.pairwise(keys):
        if (s1, d1, t1) == (s2, d2, t2):
            assert r1.high < r2.low, "overlapping ranges of one pair must merge"
    again = make_plan(
        "password-hash-sync, pass-through-auth, seamless-sso, password-writeback, health-agent"
    )
    assert [f.to_json() for f in again.flows] == [f.to_json() for f in p.flows]
    smb = find(p, "sync01", "dc01", "tcp", 445)
    assert len(smb.catalog_ids) > 1  # SSO (T1-05), writeback (S-10) and PTA (P-07) all need it


def test_usgov_and_china_clouds() -> None:
    gov = make_plan("password-hash-sync, health-agent", head="cloud: usgov\n")
    names = {f.destination for f in gov.flows if f.is_cloud}
    assert "login.microsoftonline.us" in names
    assert "*.blob.core.windows.net" not in names
    china = make_plan("password-hash-sync, pass-through-auth, health-agent", head="cloud: china\n")
    assert not [f for f in china.flows if f.is_cloud and f.destination.endswith(".windows.net")]
    assert {(g.feature, g.role) for g in china.gaps} >= {
        ("health-agent", "connect"),
        ("pass-through-auth", "connect"),
    }
    assert any("china" in w.lower() for w in china.warnings)


def test_proxy_rows() -> None:
    p = make_plan("password-hash-sync", head="proxy: http://proxy.corp.example:3128\n")
    proxy = find(p, "sync01", "proxy.corp.example", "tcp", 3128)
    assert proxy.required and proxy.destination_role.value == "proxy"
    assert all(f.via == "http://proxy.corp.example:3128" for f in p.flows if f.is_cloud)
    # DCs have no cloud rows without health-agent, so no proxy row either.
    assert not [f for f in p.flows if f.source == "dc01" and f.destination == "proxy.corp.example"]


def test_plan_json_shape_and_stdout_only() -> None:
    result = run("plan", str(EXAMPLES / "pta-sso" / "topology.yaml"), "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["topology"] == "pta-sso"
    keys = {
        "source", "source_address", "destination", "destination_address", "protocol",
        "transport", "ports", "catalog_id", "required", "purpose", "reference",
    }  # fmt: skip
    catalog_ids = {f.id for f in load_catalog().flows} | {"proxy"}
    for row in data["flows"]:
        assert keys <= row.keys()
        assert row["catalog_id"] in catalog_ids
        if row["destination_address"] is None:
            assert row["destination_role"] in ("entra", "proxy")


def test_examples_plan_without_warnings_about_idle_hosts(tmp_path: Path) -> None:
    for topology in sorted(EXAMPLES.glob("*/topology.yaml")):
        result = run("plan", str(topology), "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert "no planned flow" not in result.stderr, topology


def test_endpoints_follow_their_flow_conditions() -> None:
    # Legacy PTA ports need PTA; SSO registration names need PHS mode (S-11, T6b-01).
    legacy = make_plan("password-hash-sync, health-agent, legacy-agents")
    assert not [f for f in legacy.flows if f.ports.low in (9090, 9350, 10100)]
    assert all(f.required for f in legacy.flows if f.ports.low == 5671)
    pta_legacy = make_plan("pass-through-auth, legacy-agents")
    assert any(f.ports == PortRange(10100, 10120) for f in pta_legacy.flows)
    pta = make_plan("pass-through-auth, seamless-sso")
    assert not [f for f in pta.flows if "registration.msappproxy" in f.destination]
    phs = make_plan("password-hash-sync, seamless-sso")
    assert [f for f in phs.flows if "registration.msappproxy" in f.destination]


def test_proxy_only_entries_need_a_proxy() -> None:
    direct = make_plan("pass-through-auth")
    assert not [f for f in direct.flows if "autologon" in f.destination]
    proxied = make_plan("pass-through-auth", head="proxy: http://proxy.corp.example:3128\n")
    assert [f for f in proxied.flows if "autologon" in f.destination]


def test_cloud_sync_agent_to_dc_follows_its_features() -> None:
    hosts = "  prov01: {address: 10.0.1.31, roles: [cloud-sync-agent]}\n"
    plain = make_plan("cloud-sync", hosts)
    got = rows(plain, "prov01", "dc01")
    assert {("tcp", 389, 389), ("udp", 389, 389), ("tcp", 88, 88), ("udp", 53, 53)} <= got
    assert not got & {("tcp", 445, 445), ("tcp", 135, 135), ("tcp", 49152, 65535)}
    full = make_plan("cloud-sync, password-hash-sync, password-writeback", hosts)
    assert {("tcp", 445, 445), ("tcp", 135, 135), ("tcp", 49152, 65535)} <= rows(
        full, "prov01", "dc01"
    )


def test_sql_farm_has_no_wid_sync_and_optional_alternatives() -> None:
    hosts = (
        "  adfs01: {address: 10.0.3.10, roles: [adfs]}\n"
        "  adfs02: {address: 10.0.3.11, roles: [adfs]}\n"
        "  sql01: {address: 10.0.3.50, roles: [sql]}\n"
    )
    wid = make_plan("federation", hosts)
    assert ("tcp", 80, 80) in rows(wid, "adfs02", "adfs01")
    sql = make_plan("federation, remote-sql", hosts)
    assert ("tcp", 80, 80) not in rows(sql, "adfs02", "adfs01")
    assert ("tcp", 1433, 1433) in rows(sql, "adfs01", "sql01")
    sso = make_plan("password-hash-sync, seamless-sso")
    assert not find(sso, "sync01", "dc01", "tcp", 3269).required
    assert find(sso, "sync01", "dc01", "tcp", 3268).required


def test_wildcard_apex_names_are_marked() -> None:
    p = make_plan("password-hash-sync")
    crl3 = find(p, "sync01", "crl3.digicert.com", "tcp", 80)
    assert crl3.wildcard_apex and not crl3.wildcard
