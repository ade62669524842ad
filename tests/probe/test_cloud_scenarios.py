"""End to end, cloud side: `hybridports probe` from the lab's client to the lab's cloud.

The lab's cloud namespace answers the catalog's names with real services (dnsmasq, nginx
with a root → intermediate → leaf chain and a CRL, a Qpid Proton AMQP 1.0 peer, squid,
mitmproxy). For every cloud check the verdict must follow the router's scenario, the
proxy's answer, and who signed the certificate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lab import Lab
from lab import scenarios as labscenarios

pytestmark = pytest.mark.peers

TIMEOUT = 2.0
TOPOLOGY = """\
name: lab-cloud
domain: lab.hybridports.test
features: [password-hash-sync, pass-through-auth, password-writeback, health-agent]
endpoint_samples:
  "*.blob.core.windows.net": [contosohealth.blob.core.windows.net]
  "*.aadconnecthealth.azure.com": [contoso.aadconnecthealth.azure.com]
hosts:
  sync01: {address: 198.18.1.10, roles: [connect]}
  dc01: {address: 198.18.2.10, roles: [dc]}
"""


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cloud") / "cloud.yaml"
    path.write_text(TOPOLOGY, encoding="utf-8")
    return path


def probe(
    lab: Lab, topology: Path, *extra: str, dns: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    argv = [
        sys.executable, "-m", "hybridports", "probe", str(topology), "--from", "sync01",
        "--format", "json", "--timeout", str(TIMEOUT), "--dns-server", dns or lab.dns_server,
        "--public-ca", str(lab.public_ca),
        *(extra if "--only" in extra else ("--only", "https,crl,amqp", *extra)),
    ]  # fmt: skip
    proc = lab.run("client", argv, timeout=120, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["results"]


def checked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["verdict"] != "skipped"]


def expected_direct(scenario: labscenarios.Scenario, row: dict[str, Any]) -> str:
    allowed = scenario.allows("tcp", row["port"], to=labscenarios.TO_CLOUD)
    return "open" if allowed else "filtered"


def exit_code(rows: list[dict[str, Any]]) -> int:
    return int(any(r["required"] and r["verdict"] in ("closed", "filtered", "error") for r in rows))


@pytest.mark.parametrize(
    "name", ["open", "cloud-443-blocked", "cloud-80-blocked", "cloud-5671-blocked"]
)
def test_direct_checks_follow_the_firewall(lab: Lab, topology: Path, name: str) -> None:
    # Given the router runs the scenario, When the Connect server probes the cloud directly
    scenario = lab.scenario(name)
    code, rows = probe(lab, topology)
    # Then every check is open or filtered exactly as the rules say, and nothing else
    wrong = [
        (r["tested_name"], r["port"], r["verdict"], expected_direct(scenario, r), r["detail"])
        for r in checked(rows)
        if r["verdict"] != expected_direct(scenario, r)
    ]
    assert not wrong, f"{name}: {wrong}"
    assert {r["probe"] for r in checked(rows)} == {"https", "crl", "amqp"}
    assert code == exit_code(rows)
    if name == "cloud-5671-blocked":
        # 5671 is recommended only: a blocked 5671 does not fail the run, and says why
        amqp = [r for r in rows if r["probe"] == "amqp"]
        assert amqp and all(not r["required"] and "443" in r["detail"] for r in amqp)
        assert code == 0
    lab.scenario("open")


def test_open_checks_prove_the_services(lab: Lab, topology: Path) -> None:
    lab.scenario("open")
    _, rows = probe(lab, topology)
    by_name = {(r["tested_name"], r["port"]): r for r in rows}
    login = by_name[("login.microsoftonline.com", 443)]
    assert (
        login["facts"]["tls_version"] in ("TLSv1.2", "TLSv1.3")
        and login["facts"]["http_status"] == 200
    )
    crl = by_name[("crl3.digicert.com", 80)]
    assert crl["verdict"] == "open" and "signed by" in crl["detail"]
    amqp = by_name[(lab.amqp_host, 5671)]
    assert "AMQP 1.0" in amqp["detail"]
    sample = by_name[("contosohealth.blob.core.windows.net", 443)]
    assert sample["verdict"] == "open" and sample["destination"] == "*.blob.core.windows.net"
    skipped = [r for r in rows if r["verdict"] == "skipped"]
    assert skipped and all("endpoint_samples" in r["detail"] and r["port"] is None for r in skipped)


def test_proxy_only_network_through_the_proxy(lab: Lab, topology: Path) -> None:
    # Given only the proxy may reach the cloud
    lab.scenario("cloud-proxy-only")
    code, rows = probe(lab, topology, "--proxy", lab.proxy_url)
    via = [r for r in checked(rows) if r["via"]]
    direct = [r for r in checked(rows) if not r["via"] and r["probe"] != "amqp"]
    # Then the proxied checks pass, except the name the proxy denies (403 with its status line)
    denied = [r for r in via if r["tested_name"] in lab.proxy_denied]
    assert denied and all(r["verdict"] == "error" and "403" in r["detail"] for r in denied)
    assert all(r["verdict"] == "open" for r in via if r["tested_name"] not in lab.proxy_denied)
    assert {r["probe"] for r in via} == {"https", "crl"}
    # And the direct path is shown as filtered, but only informational
    assert direct and all(r["verdict"] == "filtered" and not r["required"] for r in direct)
    assert code == exit_code(rows) == 1  # the denied name is a required flow
    lab.scenario("open")


def test_proxy_authentication(lab: Lab, topology: Path) -> None:
    lab.scenario("cloud-proxy-only")
    _, with_credentials = probe(lab, topology, "--proxy", lab.proxy_auth_url, "--only", "https")
    ok = [
        r for r in with_credentials if r["via"] and r["tested_name"] == "login.microsoftonline.com"
    ]
    assert ok and ok[0]["verdict"] == "open"
    bare = lab.proxy_auth_url.split("@")[-1]
    _, without = probe(lab, topology, "--proxy", f"http://{bare}", "--only", "https")
    refused = [r for r in without if r["via"] and r["tested_name"] == "login.microsoftonline.com"]
    assert refused and refused[0]["verdict"] == "error" and "407" in refused[0]["detail"]
    lab.scenario("open")


def test_tls_inspection_is_detected(lab: Lab, topology: Path) -> None:
    # Given an intercepting proxy whose root the company pushed to its servers (--ca-bundle)
    lab.scenario("open")
    _, rows = probe(
        lab, topology, "--proxy", lab.mitm_url, "--ca-bundle", str(lab.mitm_ca), "--only", "https"
    )
    intercepted = [r for r in rows if r["via"] and r["verdict"] != "skipped"]
    # Then every HTTPS check through it is an error naming the interception
    assert intercepted and all(
        r["verdict"] == "error" and "intercepted" in r["detail"] for r in intercepted
    ), [r["detail"] for r in intercepted if "intercepted" not in r["detail"]][:3]
    direct = [r for r in rows if not r["via"] and r["verdict"] != "skipped"]
    assert direct and all(r["verdict"] == "open" for r in direct)


def test_names_that_do_not_resolve_are_errors(lab: Lab, topology: Path) -> None:
    # Given a DNS server that knows none of the cloud names (the DC's own)
    lab.scenario("open")
    code, rows = probe(lab, topology, "--only", "https", dns=lab.dc_address)
    rows = checked(rows)
    assert rows and all(r["verdict"] == "error" and "does not resolve" in r["detail"] for r in rows)
    assert all(r["address"] is None for r in rows)
    assert code == 1


def test_us_government_cloud_names(lab: Lab, tmp_path: Path) -> None:
    # Given a US Government tenant, When its cloud names are probed, Then the usgov names are
    # the ones tested and they answer
    lab.scenario("open")
    path = tmp_path / "usgov.yaml"
    path.write_text(TOPOLOGY.replace("name: lab-cloud", "name: lab-usgov\ncloud: usgov"))
    code, rows = probe(lab, path)
    names = {r["tested_name"] for r in checked(rows)}
    assert "login.microsoftonline.us" in names
    assert not {n for n in names if n.endswith(".windows.net") and "servicebus" in n}
    assert all(r["verdict"] in ("open", "closed") for r in checked(rows)), [
        (r["tested_name"], r["port"], r["detail"])
        for r in checked(rows)
        if r["verdict"] not in ("open", "closed")
    ]
    assert code == 0
