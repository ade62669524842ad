"""The lab's cloud side: real DNS, HTTPS/HTTP, AMQP and proxies in hp-cloud.

Everything is checked from hp-client with real tools - dig, curl, openssl s_client, Python
sockets, a Qpid Proton client - against dnsmasq, nginx, the Proton AMQP peer, squid and
mitmproxy in hp-cloud, through nftables in hp-router. The module-scoped fixture takes the
lab's session lock (``with Lab()`` semantics): another test run on this machine waits. Without
root or network namespaces the lab tests skip and say why; the pure-data tests at the top
run everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, config, scenarios
from tests.lab.support import host_snapshot, netcheck, say, sh

HERE = Path(__file__).resolve().parent
AMQPCHECK = HERE / "amqpcheck.py"
CLOUD = config.CLOUD_ADDRESS
CLOUD6 = config.CLOUD_ADDRESS6
LOGIN = "login.microsoftonline.com"
SAMPLES = {  # a concrete name for a few wildcards of the catalog
    "*.blob.core.windows.net": "contosohealth.blob.core.windows.net",
    "*.servicebus.windows.net": config.AMQP_HOST,
    "*.servicebus.usgovcloudapi.net": "contoso.servicebus.usgovcloudapi.net",
    "*.microsoftonline.us": "login.microsoftonline.us",
}
CLOUD_NAMES = sorted(scenarios.CLOUD_SCENARIOS)
DROP_WAIT = 1.5  # seconds a check waits before calling silence "timeout"


# --------------------------------------------------------------------------- no lab needed
def test_cloud_scenarios_are_data() -> None:
    assert set(scenarios.CLOUD_SCENARIOS) == {
        "cloud-443-blocked",
        "cloud-80-blocked",
        "cloud-5671-blocked",
        "cloud-proxy-only",
    }
    assert set(scenarios.ALL_SCENARIOS) == set(scenarios.SCENARIOS) | set(CLOUD_NAMES)
    for name in CLOUD_NAMES:
        scenario = scenarios.get(name)
        text = scenario.nft_ruleset()
        assert 'oifname "rt-cloud" jump client_to_cloud' in text
        # DNS to the cloud's dnsmasq always passes, and so does the DC.
        for proto in ("udp", "tcp"):
            assert scenario.allows(proto, 53, to="cloud"), name
        for port in (53, 88, 389, 445, 49152):
            assert scenario.allows("tcp", port), name
    # The DC scenarios render as before: no cloud chain; the cloud is "other" traffic.
    for scenario in scenarios.SCENARIOS.values():
        assert "client_to_cloud" not in scenario.nft_ruleset()
        assert scenario.action("tcp", 443, to="cloud") == scenario.other
    assert scenarios.get("open").expect("tcp", 443, to="cloud") == scenarios.PASS
    assert scenarios.get("table1").expect("tcp", 443, to="cloud") == scenarios.TIMEOUT
    blocked = scenarios.get("cloud-443-blocked")
    assert blocked.expect("tcp", 443, to="cloud") == scenarios.TIMEOUT
    assert blocked.expect("tcp", 80, to="cloud") == scenarios.PASS
    assert blocked.expect("tcp", 3128, to="proxy") == scenarios.PASS
    only = scenarios.get("cloud-proxy-only")
    for port in (80, 443, 5671):
        assert only.expect("tcp", port, to="cloud") == scenarios.TIMEOUT
    for port in config.PROXY_PORTS:
        assert only.expect("tcp", port, to="proxy") == scenarios.PASS
    assert only.expect("tcp", 80, to="proxy") == scenarios.TIMEOUT
    with pytest.raises(ValueError):
        only.action("tcp", 443, to="internet")


def test_catalog_names_are_normalised() -> None:
    cloudpki = pytest.importorskip("lab.cloudpki", reason="needs cryptography and PyYAML")
    host_of = cloudpki.host_of
    assert host_of("https://login.windows.net") == "login.windows.net"
    assert host_of("https://policykeyservice.dc.ad.msft.net/") == "policykeyservice.dc.ad.msft.net"
    assert host_of("mscrl.microsoft.com:80") == "mscrl.microsoft.com"
    assert host_of("www.microsoft.com/pkiops") == "www.microsoft.com"
    assert host_of("**.servicebus.windows.net") == "*.servicebus.windows.net"
    assert host_of("*.adhybridhealth.azure.com/") == "*.adhybridhealth.azure.com"
    names = cloudpki.catalog_names(config.CLOUD_CATALOG, list(config.CLOUD_CLOUDS))
    assert {LOGIN, "login.microsoftonline.us"} <= set(names["concrete"])
    assert "crl3.digicert.com" in names["concrete"]  # the explicit host of *.crl3.digicert.com
    assert "*.servicebus.windows.net" in names["wildcards"]
    assert "*.servicebus.usgovcloudapi.net" in names["wildcards"]
    assert "ssprdedicatedsbprodscu.servicebus.windows.net" in names["concrete"]
    assert "tenantid.registration.msappproxy.net" in names["skipped"]  # a template
    china_only = "login.partner.microsoftonline.cn"
    assert china_only not in names["concrete"]
    every = names["concrete"] + names["wildcards"]
    assert all(not re.search(r"[/:]|^https?|\*\*", n) for n in every)


def test_amqp_frame_decoding() -> None:
    from tests.lab import amqpcheck

    # What Proton sends: sasl-mechanisms with an array8 of one sym8.
    body = bytes.fromhex("005340c00f01e00c01a309414e4f4e594d4f5553")
    assert amqpcheck.parse_sasl_mechanisms(body) == ["ANONYMOUS"]
    # A single symbol instead of an array (also valid AMQP).
    body = b"\x00\x53\x40\xc0\x08\x01\xa3\x05PLAIN"
    assert amqpcheck.parse_sasl_mechanisms(body) == ["PLAIN"]


# --------------------------------------------------------------------------- fixtures
def in_client(
    lab: Lab, argv: list[str], stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a command in hp-client with the cloud's DNS server in its resolv.conf."""
    return lab.run("client", argv, timeout=timeout, input=stdin, resolver="cloud")


def curl(lab: Lab, url: str, *extra: str, timeout: float = 30) -> dict[str, Any]:
    """curl from hp-client: exit code, status, CONNECT status, verify result, body."""
    fmt = "\n%{http_code} %{http_connect} %{ssl_verify_result} %{remote_ip}"
    proc = in_client(lab, ["curl", "-sS", "-w", fmt, *extra, url], timeout=timeout)
    body, _, tail = proc.stdout.rpartition("\n")
    code, connect, verify, remote = [*tail.split(), "", "", "", ""][:4]
    return {
        "exit": proc.returncode,
        "status": int(code or 0),
        "connect": int(connect or 0),
        "verify": int(verify or 0),
        "remote": remote,
        "body": body,
        "stderr": proc.stderr,
    }


def amqp(lab: Lab, **spec: Any) -> dict[str, Any]:
    spec.setdefault("host", lab.amqp_host)
    spec.setdefault("address", CLOUD)
    spec.setdefault("ca", str(lab.public_ca))
    proc = lab.run("client", [sys.executable, str(AMQPCHECK), json.dumps(spec)], timeout=30)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# --------------------------------------------------------------------------- topology
def test_cloud_topology_and_api(lab: Lab) -> None:
    status = lab.status()
    assert status["up"], status
    cloud = status["cloud"]
    assert cloud["up"] and cloud["namespace"] == "hp-cloud", cloud
    assert set(cloud["pids"]) == {"dnsmasq", "nginx", "amqp", "squid", "mitmproxy"}
    assert all(cloud["pids"].values())
    assert Path("/run/netns/hp-cloud").exists()
    addresses = lab.run("cloud", ["ip", "-br", "addr", "show", "dev", "eth0"]).stdout
    for address in (f"{CLOUD}/24", f"{CLOUD6}/64", "198.18.3.20/24", "198.18.3.21/24"):
        assert address in addresses
    assert "198.18.3.1/24" in lab.run("router", ["ip", "-br", "addr", "show", "rt-cloud"]).stdout
    assert lab.run("cloud", ["hostname"]).stdout.strip() == "cloud"
    assert f"nameserver {lab.dns_server}" in lab.run("cloud", ["cat", "/etc/resolv.conf"]).stdout
    # The client's own resolver stays the DC; resolver="cloud" swaps in the cloud's.
    assert f"nameserver {lab.dc_address}" in lab.run("client", ["cat", "/etc/resolv.conf"]).stdout
    assert f"nameserver {lab.dns_server}" in in_client(lab, ["cat", "/etc/resolv.conf"]).stdout
    # The API.
    assert (lab.cloud_address, lab.cloud_address6, lab.dns_server) == (CLOUD, CLOUD6, CLOUD)
    assert lab.proxy_url == "http://198.18.3.20:3128"
    assert lab.mitm_url == "http://198.18.3.21:8080"
    assert re.fullmatch(
        r"http://hpproxy:[A-Za-z0-9_-]{16,}@198\.18\.3\.20:3129", lab.proxy_auth_url
    )
    assert lab.amqp_host.endswith(".servicebus.windows.net")
    assert b"BEGIN CERTIFICATE" in lab.public_ca.read_bytes()
    assert b"BEGIN CERTIFICATE" in lab.mitm_ca.read_bytes()
    assert "PRIVATE" not in lab.mitm_ca.read_text()
    # Pid and config files in the state dir, none in /etc.
    for name in cloud["pids"]:
        assert (lab.state_dir / "cloud" / "run" / f"{name}.pid").exists()
    # The state dir stays private even though hp-cloud's workers read their files.
    assert (lab.state_dir.stat().st_mode & 0o777) == 0o700


def test_up_reuses_a_healthy_cloud(lab: Lab) -> None:
    before = lab.status()["cloud"]["pids"]
    start = time.monotonic()
    lab.up()
    assert lab.timings["reused"] == 1.0
    assert time.monotonic() - start < 5
    assert lab.status()["cloud"]["pids"] == before


# --------------------------------------------------------------------------- DNS
def test_dns_answers_every_catalog_name(open_lab: Lab) -> None:
    names = open_lab.cloud_names()
    queries = [*names["concrete"], *names["apexes"]]
    queries += ["hp-lab-sample." + w[2:] for w in names["wildcards"]]
    queries += list(SAMPLES.values())
    argv = ["dig", f"@{open_lab.dns_server}", "+noall", "+answer"]
    for name in queries:
        argv += [name, "A"]
    out = in_client(open_lab, argv).stdout
    answered = {
        line.split()[0].rstrip(".") for line in out.splitlines() if line.split()[-1:] == [CLOUD]
    }
    assert answered >= set(queries), sorted(set(queries) - answered)
    for transport in ("+notcp", "+tcp"):
        for qtype, want in (("A", CLOUD), ("AAAA", CLOUD6)):
            for name in (LOGIN, SAMPLES["*.blob.core.windows.net"]):
                got = in_client(
                    open_lab,
                    ["dig", transport, "+short", f"@{open_lab.dns_server}", name, qtype],
                ).stdout.split()
                assert got == [want], (transport, qtype, name, got)
    # Through the ordinary resolver path (getaddrinfo), as a probe resolves.
    out = in_client(open_lab, ["getent", "ahostsv4", LOGIN]).stdout
    assert out.split()[:1] == [CLOUD]


def test_dns_answers_nothing_else(open_lab: Lab) -> None:
    for name in (
        "www.example.com",
        "unknown." + open_lab.nx_zone,
        open_lab.nx_zone,
        "deeper.crl.globalsign.com",  # under a concrete name that is not a wildcard
        "login.partner.microsoftonline.cn",  # China: not served by the lab
    ):
        for transport in ("+notcp", "+tcp"):
            out = in_client(
                open_lab, ["dig", transport, f"@{open_lab.dns_server}", name, "A"]
            ).stdout
            status = re.search(r"status: (\w+)", out)
            assert status and status.group(1) in ("NXDOMAIN", "REFUSED"), (name, out)
    proc = in_client(open_lab, ["getent", "hosts", "www.example.com"])
    assert proc.returncode != 0 and not proc.stdout


# --------------------------------------------------------------------------- HTTPS, HTTP
def test_https_200_with_a_valid_chain(open_lab: Lab) -> None:
    ca = str(open_lab.public_ca)
    for url, family, address in (
        (f"https://{LOGIN}/", "-4", CLOUD),
        (f"https://{LOGIN}/", "-6", CLOUD6),
        ("https://adminwebservice.microsoftonline.com/ProvisioningService.svc", "-4", CLOUD),
        (f"https://{SAMPLES['*.blob.core.windows.net']}/", "-4", CLOUD),
        (f"https://{open_lab.amqp_host}/", "-4", CLOUD),
        ("https://login.microsoftonline.us/", "-4", CLOUD),
        ("https://autologon.microsoftazuread-sso.com/", "-6", CLOUD6),
    ):
        got = curl(open_lab, url, family, "--cacert", ca, "--tlsv1.2")
        assert (got["exit"], got["status"], got["verify"]) == (0, 200, 0), (url, got)
        assert got["remote"] == address
        assert urlhost(url) in got["body"]
    # Not trusted by the host's own store: the lab's root is not a real public root.
    got = curl(open_lab, f"https://{LOGIN}/")
    assert got["exit"] == 60, got  # peer certificate cannot be authenticated
    # The chain as served: server -> intermediate -> (root, in the CA file), depth 2.
    proc = in_client(
        open_lab,
        ["openssl", "s_client", "-connect", f"{LOGIN}:443", "-servername", LOGIN,
         "-CAfile", ca, "-verify_hostname", LOGIN, "-verify_return_error", "-showcerts"],
        stdin="",
    )  # fmt: skip
    assert "Verify return code: 0 (ok)" in proc.stdout, proc.stdout + proc.stderr
    root = "C = US, O = hybridports lab, OU = public PKI stand-in, CN = hybridports lab public root"
    assert f"depth=2 {root}" in proc.stderr
    assert re.search(r"New, TLSv1\.[23]|Protocol\s*:\s*TLSv1\.[23]", proc.stdout)
    assert len(pems(proc.stdout)) == 2  # server + intermediate


def urlhost(url: str) -> str:
    return url.split("/")[2]


def pems(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)


def test_crl_at_the_cdp_verifies_against_the_intermediate(
    open_lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    x509 = pytest.importorskip("cryptography.x509")
    proc = in_client(
        open_lab,
        ["openssl", "s_client", "-connect", f"{LOGIN}:443", "-servername", LOGIN, "-showcerts"],
        stdin="",
    )
    server, intermediate = (x509.load_pem_x509_certificate(p.encode()) for p in pems(proc.stdout))
    cdp = server.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (crl_url,) = [name.value for point in cdp for name in point.full_name]
    assert (
        crl_url == open_lab.crl_url == "http://crl3.digicert.com/hybridports-lab-intermediate.crl"
    )
    aia = server.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    issuers = [d.access_location.value for d in aia]
    assert issuers == [open_lab.ca_issuers_url]
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns_names = set(san.get_values_for_type(x509.DNSName))
    assert {LOGIN, "*.servicebus.windows.net", "*.servicebus.usgovcloudapi.net"} <= dns_names
    assert {"microsoftonline.com", "windows.net"} <= dns_names  # wildcard apexes

    where = tmp_path_factory.mktemp("crl")
    for direct in (True, False):  # directly, then through the proxy
        target = where / f"crl-{direct}.der"
        extra = [] if direct else ["-x", open_lab.proxy_url]
        got = curl(open_lab, crl_url, "-o", str(target), *extra)
        assert got["status"] == 200, got
        crl = x509.load_der_x509_crl(target.read_bytes())
        assert crl.issuer == intermediate.subject == server.issuer
        assert crl.is_signature_valid(intermediate.public_key())
        assert crl.next_update_utc > dt.datetime.now(dt.timezone.utc)  # noqa: UP017
    # The CA Issuers URL gives the intermediate (DER), the root verifies it.
    target = where / "intermediate.crt"
    assert curl(open_lab, issuers[0], "-o", str(target))["status"] == 200
    assert x509.load_der_x509_certificate(target.read_bytes()) == intermediate
    root = x509.load_pem_x509_certificate(open_lab.public_ca.read_bytes())
    intermediate.verify_directly_issued_by(root)
    server.verify_directly_issued_by(intermediate)


def test_http_80_answers_any_request(open_lab: Lab) -> None:
    for url in ("http://www.microsoft.com/pkiops/", "http://ctldl.windowsupdate.com/x.cab"):
        got = curl(open_lab, url)
        assert got["status"] == 200 and "hybridports lab cloud (http)" in got["body"], got


# --------------------------------------------------------------------------- AMQP 5671
def test_amqp_sasl_header_over_tls(open_lab: Lab) -> None:
    for address in (CLOUD, CLOUD6):
        got = amqp(open_lab, address=address)
        assert got["result"] == "amqp", got
        assert got["header"] == "414d515003010000"  # AMQP, protocol id 3 (SASL), 1.0.0
        assert got["frame_type"] == 1 and got["performative"] == 0x40  # sasl-mechanisms
        assert "ANONYMOUS" in got["mechanisms"]
        assert got["tls"] in ("TLSv1.2", "TLSv1.3")
        assert got["issuer"] == "hybridports lab public intermediate"
    # The wrong name fails validation, as a probe must report it.
    got = amqp(open_lab, host="amqp.nxtest.invalid")
    assert got["result"] == "tls-error", got


def test_amqp_real_client_sends_a_message(open_lab: Lab) -> None:
    script = """
import sys
from proton import Message, SSLDomain
from proton.utils import BlockingConnection
host, ca = sys.argv[1:3]
domain = SSLDomain(SSLDomain.MODE_CLIENT)
domain.set_trusted_ca_db(ca)
domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
conn = BlockingConnection(f"amqps://{host}:5671", ssl_domain=domain, sni=host,
                          allowed_mechs="ANONYMOUS", timeout=10)
conn.create_sender("hybridports-lab").send(Message(body="hello"))
print("sent to", conn.conn.remote_container)
conn.close()
"""
    proc = in_client(
        open_lab, ["/usr/bin/python3", "-c", script, open_lab.amqp_host, str(open_lab.public_ca)]
    )
    assert proc.returncode == 0, proc.stderr
    assert "sent to hybridports-lab-servicebus" in proc.stdout


# --------------------------------------------------------------------------- proxies
def test_squid_open_and_authenticating(open_lab: Lab) -> None:
    ca = str(open_lab.public_ca)
    url = f"https://{LOGIN}/"
    got = curl(open_lab, url, "-x", open_lab.proxy_url, "--cacert", ca)
    assert (got["status"], got["connect"], got["verify"]) == (200, 200, 0), got
    got = curl(open_lab, "http://crl3.digicert.com/", "-x", open_lab.proxy_url)
    assert got["status"] == 200 and "(http)" in got["body"]
    auth = f"http://{open_lab.proxy_address}:{open_lab.proxy_auth_port}"
    got = curl(open_lab, url, "-x", auth, "--cacert", ca)
    assert got["connect"] == 407, got
    got = curl(open_lab, "http://crl3.digicert.com/", "-x", auth)
    assert got["status"] == 407, got
    wrong = (
        f"http://{open_lab.proxy_user}:wrong@{open_lab.proxy_address}:{open_lab.proxy_auth_port}"
    )
    assert curl(open_lab, url, "-x", wrong, "--cacert", ca)["connect"] == 407
    got = curl(open_lab, url, "-x", open_lab.proxy_auth_url, "--cacert", ca)
    assert (got["status"], got["connect"], got["verify"]) == (200, 200, 0), got


def test_squid_denies_with_403(open_lab: Lab) -> None:
    for proxy in (open_lab.proxy_url, open_lab.proxy_auth_url):
        got = curl(
            open_lab, "https://www.office.com/", "-x", proxy, "--cacert", str(open_lab.public_ca)
        )
        assert got["connect"] == 403, got
        got = curl(open_lab, f"http://denied.{open_lab.nx_zone}/", "-x", proxy)
        assert got["status"] == 403, got
    # CONNECT only to 443 and 5671.
    got = curl(open_lab, f"https://{LOGIN}:8443/", "-x", open_lab.proxy_url)
    assert got["connect"] == 403, got


def test_squid_connect_to_amqp(open_lab: Lab) -> None:
    got = amqp(open_lab, proxy=f"{open_lab.proxy_address}:{open_lab.proxy_port}")
    assert got["result"] == "amqp" and "ANONYMOUS" in got["mechanisms"], got


def test_mitmproxy_reissues_certificates(open_lab: Lab) -> None:
    url = f"https://{LOGIN}/"
    got = curl(open_lab, url, "-x", open_lab.mitm_url, "--cacert", str(open_lab.mitm_ca), "-v")
    assert (got["status"], got["connect"], got["verify"]) == (200, 200, 0), got
    assert "hybridports lab cloud (https)" in got["body"]  # the real server answered
    issuer = re.search(r"issuer: (.+)", got["stderr"])
    assert issuer and "CN=hybridports lab intercepting proxy CA" in issuer.group(1), got["stderr"]
    # Against the public root the intercepted chain does not validate.
    got = curl(open_lab, url, "-x", open_lab.mitm_url, "--cacert", str(open_lab.public_ca))
    assert got["exit"] == 60 and got["connect"] == 200, got
    # Plain HTTP goes through it too.
    got = curl(open_lab, "http://crl3.digicert.com/", "-x", open_lab.mitm_url)
    assert got["status"] == 200


# --------------------------------------------------------------------------- scenarios
def _cloud_plan() -> list[dict[str, Any]]:
    plan: list[dict[str, Any]] = [
        {"kind": "tcp", "host": CLOUD, "port": port, "to": "cloud"} for port in (80, 443, 5671)
    ]
    plan += [
        {"kind": "tcp", "host": CLOUD6, "port": 443, "to": "cloud"},
        {"kind": "udp", "host": CLOUD, "port": 53, "payload": "dns", "to": "cloud"},
        {"kind": "tcp", "host": CLOUD, "port": 53, "to": "cloud"},
        {"kind": "udp", "host": CLOUD6, "port": 53, "payload": "dns", "to": "cloud"},
        {"kind": "tcp", "host": config.PROXY_ADDRESS, "port": config.PROXY_PORT, "to": "proxy"},
        {
            "kind": "tcp",
            "host": config.PROXY_ADDRESS,
            "port": config.PROXY_AUTH_PORT,
            "to": "proxy",
        },
        {"kind": "tcp", "host": config.MITM_ADDRESS, "port": config.MITM_PORT, "to": "proxy"},
        {"kind": "tcp", "host": config.DC_ADDRESS, "port": 389, "to": "dc"},
    ]
    for check in plan:
        check["timeout"] = DROP_WAIT
    return plan


@pytest.mark.parametrize("name", [*CLOUD_NAMES, "open", "table1", "reject-reset"])
def test_cloud_scenario_behaves_as_its_data_says(lab: Lab, name: str) -> None:
    scenario = lab.scenario(name)
    assert lab.current_scenario() is scenario
    start = time.monotonic()
    results = netcheck(lab, _cloud_plan())
    wrong = []
    for r in results:
        outcome = scenario.expect(r["kind"], r["port"], to=r["to"])
        want = {
            (scenarios.PASS, "tcp"): "connected",
            (scenarios.PASS, "udp"): "reply",
            (scenarios.TIMEOUT, "tcp"): "timeout",
            (scenarios.TIMEOUT, "udp"): "timeout",
            (scenarios.REFUSED, "tcp"): "refused",  # the DC in reject-reset
            (scenarios.UNREACHABLE, "tcp"): "unreachable",
        }[(outcome, r["kind"])]
        if r["result"] != want:
            wrong.append((r["host"], r["kind"], r["port"], want, r["result"]))
    # Only a process that ignores the session lock could change it meanwhile (HP_LAB_SHARED).
    loaded = lab.current_scenario()
    assert loaded is scenario, f"the scenario changed under the test: {loaded and loaded.name}"
    assert not wrong, f"{name}: {wrong}"
    assert time.monotonic() - start < DROP_WAIT + 5


def test_cloud_443_blocked_direct_but_not_through_the_proxies(lab: Lab) -> None:
    lab.scenario("cloud-443-blocked")
    ca = str(lab.public_ca)
    url = f"https://{LOGIN}/"
    got = curl(lab, url, "--cacert", ca, "--connect-timeout", str(DROP_WAIT))
    assert got["exit"] == 28, got  # timed out: dropped
    assert curl(lab, url, "-x", lab.proxy_url, "--cacert", ca)["status"] == 200
    assert curl(lab, url, "-x", lab.mitm_url, "--cacert", str(lab.mitm_ca))["status"] == 200
    assert curl(lab, lab.crl_url, "-o", "/dev/null")["status"] == 200  # 80 still open
    assert amqp(lab)["result"] == "amqp"  # 5671 still open


def test_cloud_80_blocked_direct_but_not_through_the_proxy(lab: Lab) -> None:
    lab.scenario("cloud-80-blocked")
    got = curl(lab, lab.crl_url, "-o", "/dev/null", "--connect-timeout", str(DROP_WAIT))
    assert got["exit"] == 28, got
    got = curl(lab, lab.crl_url, "-o", "/dev/null", "-x", lab.proxy_url)
    assert got["status"] == 200, got
    assert curl(lab, f"https://{LOGIN}/", "--cacert", str(lab.public_ca))["status"] == 200


def test_cloud_5671_blocked_direct_but_not_through_connect(lab: Lab) -> None:
    lab.scenario("cloud-5671-blocked")
    got = amqp(lab, timeout=DROP_WAIT)
    assert got["result"] == "timeout", got
    got = amqp(lab, proxy=f"{lab.proxy_address}:{lab.proxy_port}")
    assert got["result"] == "amqp", got
    assert curl(lab, f"https://{LOGIN}/", "--cacert", str(lab.public_ca))["status"] == 200


def test_cloud_proxy_only(lab: Lab) -> None:
    lab.scenario("cloud-proxy-only")
    ca = str(lab.public_ca)
    url = f"https://{LOGIN}/"
    # DNS still answers (the client resolves, then cannot connect).
    out = in_client(lab, ["dig", "+short", f"@{lab.dns_server}", LOGIN, "A"]).stdout.split()
    assert out == [CLOUD]
    got = curl(lab, url, "--cacert", ca, "--connect-timeout", str(DROP_WAIT))
    assert got["exit"] == 28, got
    for proxy, trust in (
        (lab.proxy_url, ca),
        (lab.proxy_auth_url, ca),
        (lab.mitm_url, str(lab.mitm_ca)),
    ):
        got = curl(lab, url, "-x", proxy, "--cacert", trust)
        assert (got["status"], got["verify"]) == (200, 0), (proxy, got)
    assert curl(lab, lab.crl_url, "-o", "/dev/null", "-x", lab.proxy_url)["status"] == 200
    assert amqp(lab, timeout=DROP_WAIT)["result"] == "timeout"
    assert amqp(lab, proxy=f"{lab.proxy_address}:{lab.proxy_port}")["result"] == "amqp"


# --------------------------------------------------------------------------- robustness
def test_recovers_after_a_cloud_service_dies(request: pytest.FixtureRequest, lab: Lab) -> None:
    lab.scenario("open")
    pid = lab.status()["cloud"]["pids"]["mitmproxy"]
    os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and lab.status()["cloud"]["up"]:
        time.sleep(0.1)
    status = lab.status()
    assert not status["up"] and status["cloud"]["pids"]["mitmproxy"] is None
    # A stale pid file naming an unrelated live process is not trusted.
    (lab.state_dir / "cloud" / "run" / "mitmproxy.pid").write_text(f"{os.getpid()}\n")
    assert lab.status()["cloud"]["pids"]["mitmproxy"] is None
    start = time.monotonic()
    lab.up()
    say(request, f"rebuilt after a cloud crash in {time.monotonic() - start:.1f}s: {lab.timings}")
    assert lab.timings["reused"] == 0.0 and lab.timings["cloud_cached"] == 1.0
    assert lab.status()["up"]
    assert (
        curl(lab, f"https://{LOGIN}/", "-x", lab.mitm_url, "--cacert", str(lab.mitm_ca))["status"]
        == 200
    )


def test_down_leaves_nothing(host_before: dict[str, Any], lab: Lab) -> None:
    everything = [p for ns in config.NAMESPACES for p in _netns_pids(ns)]
    cloud_pids = [p for p in lab.status()["cloud"]["pids"].values() if p]
    assert len(cloud_pids) == 5 and set(cloud_pids) <= set(everything)
    start = time.monotonic()
    lab.down()
    seconds = time.monotonic() - start
    lab.down()  # idempotent
    assert not [ns for ns in config.NAMESPACES if Path("/run/netns", ns).exists()]
    assert not [p for p in everything if _alive(p)]
    assert not _lab_processes(lab)
    assert lab.status()["up"] is False
    assert host_snapshot() == host_before
    assert seconds < 5, seconds


def _netns_pids(ns: str) -> list[int]:
    return [int(p) for p in sh(["ip", "netns", "pids", ns]).split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def _lab_processes(lab: Lab) -> list[str]:
    """Live processes that belong to the lab (by their command lines)."""
    marks = (str(lab.state_dir), "/run/hp-cloud", "amqp_peer.py", "hp-lab-")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _alive(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(mark in cmdline for mark in marks):
            found.append(f"{entry.name} {cmdline}")
    return found
