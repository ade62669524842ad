"""Write the merge test fixtures: probe and audit result files of two example topologies.

The probe files are what `hybridports probe … --format json` writes (ProbeDocument of a
ProbeRun), with verdicts and details chosen per flow below instead of a real network, so
they are small, realistic and reproducible. lab/dc01-audit.json is a real `hybridports
audit` of dc01's own iptables rules (render's, with the GC-over-TLS rule removed);
lab/router-audit.json is written in the audit command's JSON shape with chosen verdicts
(partial and unknown included). Run from the repository root after a change of the probe
JSON or of the plans:

    .venv/bin/python tests/data/merge/make_fixtures.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

from hybridports.catalog import load_catalog  # noqa: E402
from hybridports.plan import Plan, PlannedFlow, plan  # noqa: E402
from hybridports.probe.interface import Verdict  # noqa: E402
from hybridports.probe.runner import CheckResult  # noqa: E402
from hybridports.probe.session import ProbeRun  # noqa: E402
from hybridports.provenance import provenance  # noqa: E402
from hybridports.topology import load_topology  # noqa: E402
from hybridports.views import ProbeDocument  # noqa: E402

HERE = Path(__file__).resolve().parent

OPEN_DETAIL = {
    "DNS": "DNS server answered SRV _ldap._tcp.dc._msdcs.{domain} with NOERROR (2 records)",
    "Kerberos": "KDC answered AS-REQ with KRB-ERROR 25 (pre-authentication required)",
    "MS-RPC": "RPC server accepted a bind to the endpoint mapper (NDR)",
    "LDAP": "rootDSE answered: defaultNamingContext DC=example",
    "CLDAP": "LDAP ping answered: NETLOGON_SAM_LOGON_RESPONSE_EX from the DC",
    "SMB": "SMB2 NEGOTIATE answered: dialect 3.1.1",
    "LDAP/SSL": "TLS 1.3 handshake, certificate CN matches; rootDSE answered over LDAPS",
    "Global Catalog": "rootDSE answered on the global catalog port",
    "LDAP GC over TLS": "TLS 1.3 handshake; global catalog rootDSE answered",
    "RPC": "RPC server accepted a bind to DRSUAPI (port from the endpoint mapper)",
    "HTTPS": "TLS 1.3 handshake, certificate valid for the name; HTTP 200",
    "HTTP": "HTTP 200 for the CRL; CRL parsed, next update in 5 days",
    "NTP (W32Time)": "NTP server answered: stratum 2",
    "ICMP echo": "echo reply in 0.4 ms",
    "Kerberos password change (kpasswd)": "kpasswd answered with KRB-ERROR (no credentials)",
}


def _result(
    flow: PlannedFlow,
    verdict: str,
    detail: str,
    port: int | None = None,
    tested_name: str | None = None,
    address: str | None = None,
) -> CheckResult:
    if port is None and verdict != "skipped":
        port = flow.ports.low
    return CheckResult(
        destination=flow.destination,
        address=address or flow.destination_address,
        protocol=flow.protocol,
        transport=flow.transport.value,
        port=port,
        flow_ports=flow.ports,
        required=flow.required,
        verdict=Verdict(verdict),
        detail=detail,
        elapsed_ms=round(1.0 + (flow.ports.low % 37) / 10, 1),
        catalog_id=flow.catalog_id,
        probe="tcp",
        tested_name=tested_name,
        via=None,
    )


def _default(flow: PlannedFlow, domain: str) -> list[CheckResult]:
    if flow.rpc_dynamic:
        return [
            _result(flow, "open", OPEN_DETAIL["RPC"], port)
            for port in (flow.ports.low, flow.ports.low + 1)
        ]
    if flow.is_cloud:
        if flow.wildcard or flow.template:
            return [
                _result(
                    flow,
                    "skipped",
                    "a wildcard name: give a concrete name in endpoint_samples to test it",
                )
            ]
        return [
            _result(
                flow,
                "open",
                OPEN_DETAIL.get(flow.protocol, "answered"),
                tested_name=flow.destination,
                address="203.0.113." + str(10 + len(flow.destination) % 200),
            )
        ]
    return [_result(flow, "open", OPEN_DETAIL.get(flow.protocol, "answered").format(domain=domain))]


Override = dict[tuple[str, str], tuple[str, str]]


def probe_file(result: Plan, source: str, overrides: Override, path: Path) -> None:
    """overrides: (destination, catalog id) → (verdict, detail)."""
    domain = result.topology.domain or "example.test"
    rows: list[CheckResult] = []
    for flow in result.flows_from(source):
        special = overrides.get((flow.destination, flow.catalog_id))
        if special is None:
            rows += _default(flow, domain)
        else:
            verdict, detail = special
            rows.append(_result(flow, verdict, detail))
    document = ProbeDocument(ProbeRun(result, source, tuple(rows)))
    path.write_text(json.dumps(document.to_json(), indent=2) + "\n", encoding="utf-8")


def audit_file(
    result: Plan, policy: dict[str, Any], rows: dict[tuple[str, str, str], str], path: Path
) -> None:
    """rows: (source, destination, catalog id) → verdict; only those flows are in the policy."""
    results = []
    for flow in result.flows:
        verdict = rows.get((flow.source, flow.destination, flow.catalog_id))
        if verdict is None:
            continue
        blocked: list[list[int]] = []
        if verdict == "blocked":
            blocked = [flow.ports.as_list()]
        elif verdict == "partial":
            blocked = [[flow.ports.low + 19, flow.ports.high]]
        results.append(
            {
                "source": flow.source,
                "destination": flow.destination,
                "transport": flow.transport.value,
                "ports": flow.ports.as_list(),
                "required": flow.required,
                "verdict": verdict,
                "blocked_ports": blocked,
                "matched_rule": (
                    "chain FORWARD policy DROP"
                    if verdict == "blocked"
                    else f"-A FORWARD rule {10 + len(results)} ({flow.catalog_id})"
                ),
                "unknown_ports": [],
                "source_address": flow.source_address,
                "destination_address": flow.destination_address,
                "protocol": flow.protocol,
                "catalog_id": flow.catalog_id,
                "catalog_ids": list(flow.catalog_ids),
                "purpose": flow.purpose,
                "reference": flow.reference,
            }
        )
    data = {
        **provenance(result.topology, "audit"),
        "policy": policy,
        "results": results,
        "findings": [
            {
                "kind": "overly-permissive",
                "rule": "-A FORWARD -p tcp --dport 3389 -j ACCEPT (line 40)",
                "detail": "allows TCP 3389 from any address to 198.18.2.10: no planned flow",
                "severity": "warning",
            }
        ],
        "summary": {"flows": len(results)},
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def real_audit(rules: Path, out: Path) -> None:
    """dc01's own rules as render writes them, less GC over TLS; audited by the real command."""
    hybridports = [sys.executable, "-m", "hybridports"]
    topology = "examples/lab/topology.yaml"
    rendered = subprocess.run(
        [*hybridports, "render", topology, "--target", "iptables", "--host", "dc01"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    kept = [line for line in rendered.splitlines() if "--dport 3269 " not in line]
    rules.write_text("\n".join(kept) + "\n", encoding="utf-8")
    policy = str(rules.relative_to(ROOT))
    options = ["--policy-format", "iptables-save", "--host", "dc01", "--format", "json"]
    audit = subprocess.run(
        [*hybridports, "audit", topology, "--policy", policy, *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 1, audit.stderr  # GC over TLS is required and now blocked
    out.write_text(audit.stdout, encoding="utf-8")


def main() -> None:
    catalog = load_catalog()
    lab = plan(load_topology(ROOT / "examples/lab/topology.yaml"), catalog)
    (HERE / "lab").mkdir(exist_ok=True)
    probe_file(
        lab,
        "sync01",
        {
            ("dc01", "connect-dc-ldaps"): ("filtered", "no answer within 3s (SYN unanswered)"),
            ("dc01", "connect-dc-gc-ssl-ldaps"): (
                "closed",
                "connection refused: TCP RST from 198.18.2.10",
            ),
            ("login.microsoftonline.com", "connect-entra-https"): (
                "error",
                "certificate rejected: issued by 'Contoso Inspection CA', not a public CA "
                "(TLS inspection?)",
            ),
            ("dc01", "connect-dc-ntp"): ("filtered", "no answer within 3s"),
        },
        HERE / "lab" / "sync01.json",
    )
    audit_file(
        lab,
        {"file": "router.rules", "format": "iptables-save", "host": None, "rules": 42},
        {
            ("sync01", "dc01", "connect-dc-ldaps"): "blocked",
            ("sync01", "dc01", "connect-dc-rpc-dynamic"): "partial",
            ("sync01", "dc01v6", "connect-dc-ldaps"): "allowed",
            ("sync01", "dc01", "connect-dc-kerberos-tcp"): "allowed",
            ("sync01", "dc01", "connect-dc-smb"): "unknown",
        },
        HERE / "lab" / "router-audit.json",
    )

    real_audit(HERE / "lab" / "dc01.rules", HERE / "lab" / "dc01-audit.json")

    farm = plan(load_topology(ROOT / "examples/adfs-farm/topology.yaml"), catalog)
    (HERE / "adfs-farm").mkdir(exist_ok=True)
    probe_file(farm, "sync01", {}, HERE / "adfs-farm" / "sync01.json")
    probe_file(
        farm,
        "adfs01",
        {
            ("dc02", "adfs-dc-kerberos-tcp"): ("filtered", "no answer within 3s"),
            ("dc02", "adfs-dc-ldap-tcp"): ("filtered", "no answer within 3s"),
        },
        HERE / "adfs-farm" / "adfs01.json",
    )
    probe_file(
        farm,
        "wap01",
        {
            ("adfs01", "wap-adfs-https"): (
                "closed",
                "connection refused: TCP RST from 10.0.3.10",
            ),
        },
        HERE / "adfs-farm" / "wap01.json",
    )


if __name__ == "__main__":
    main()
