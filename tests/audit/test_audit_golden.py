"""Golden files for every audit format, on the examples' policies (examples/*/policies/).

The policies hold real problems on purpose: the gateway misses the CRL and health ports and
opens legacy and management ports; the DC's Windows Firewall runs the built-in rules, open
to any address. `make golden` rewrites these after an intended change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clirunner import run
from tests.conftest import EXAMPLES, ROOT

FORMATS = {"table": "txt", "json": "json", "csv": "csv", "markdown": "md", "junit": "xml"}
GATEWAY_INTERFACES = (
    "--interface", "lan-servers=10.0.1.0/24",
    "--interface", "dcs=10.0.2.0/24",
    "--interface", "office=10.20.0.0/16",
    "--interface", "wan=0.0.0.0/0",
)  # fmt: skip
CASES = {
    "pta-sso-gateway": ("pta-sso", "gateway.json", "nftables-json", GATEWAY_INTERFACES),
    "adfs-farm-dc01-windows": ("adfs-farm", "dc01-windows.json", "windows", ("--host", "dc01")),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_audit_golden(case: str, fmt: str, golden: Callable[[Path, str], None]) -> None:
    example, policy, policy_format, extra = CASES[case]
    folder = EXAMPLES / example
    result = run(
        "audit",
        str((folder / "topology.yaml").relative_to(ROOT)),
        "--policy",
        str((folder / "policies" / policy).relative_to(ROOT)),
        "--policy-format",
        policy_format,
        *extra,
        "--format",
        fmt,
    )
    assert result.exit_code in (0, 1), result.stderr
    golden(folder / "expected" / f"audit-{case}.{FORMATS[fmt]}", result.stdout)


def test_the_gateway_findings_name_the_real_problems() -> None:
    example, policy, policy_format, extra = CASES["pta-sso-gateway"]
    folder = EXAMPLES / example
    result = run(
        "audit", str(folder / "topology.yaml"), "--policy", str(folder / "policies" / policy),
        "--policy-format", policy_format, *extra, "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 1
    import json

    data = json.loads(result.stdout)
    details = " ".join(f["detail"] for f in data["findings"])
    for problem in ("tcp 3389", "5722", "WINS", "49152-49999,51000-65535", "10.0.9.5"):
        assert problem in details, problem
    blocked = {
        (r["destination"], r["ports"][0]) for r in data["results"] if r["verdict"] == "blocked"
    }
    assert ("crl.microsoft.com", 80) in blocked  # the egress chain only opens 443
    assert ("dc01", 464) in blocked  # kpasswd missing from the servers' DC chain
