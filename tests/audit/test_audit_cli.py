"""`hybridports audit` from the command line: verdicts, exit codes, every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridports.audit import PARSERS
from tests.clirunner import run
from tests.conftest import EXAMPLES

PTA = str(EXAMPLES / "pta-sso" / "topology.yaml")
DATA = Path(__file__).parent.parent / "data" / "audit"


def _rendered(tmp_path: Path, target: str, *extra: str) -> Path:
    result = run("render", PTA, "--target", target, *extra)
    assert result.exit_code == 0, result.stderr
    path = tmp_path / f"{target}.json"
    path.write_text(result.stdout)
    return path


def _one_line_error(result, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("target", "fmt", "host"),
    [
        ("azure-nsg", "azure-nsg", None),
        ("azure-nsg", "azure-nsg", "pta01"),
        ("aws-sg", "aws-sg", "dc01"),
    ],
)
def test_rendered_policy_allows_every_planned_flow(
    tmp_path: Path, target: str, fmt: str, host: str | None
) -> None:
    extra = ("--host", host) if host else ()
    policy = _rendered(tmp_path, target, *extra)
    result = run(
        "audit", PTA, "--policy", str(policy), "--policy-format", fmt, *extra, "-f", "json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "audit" and data["topology"] == "pta-sso"
    assert data["results"] and {r["verdict"] for r in data["results"]} == {"allowed"}
    assert data["summary"]["ready"] is True
    if host:
        assert all(host in (r["source"], r["destination"]) for r in data["results"])


def test_required_flow_blocked_is_exit_1_with_junit_failure(tmp_path: Path) -> None:
    policy = _rendered(tmp_path, "aws-sg", "--host", "dc01")
    data = json.loads(policy.read_text())
    for group in data["SecurityGroups"]:  # drop every ingress rule for Kerberos
        group["IpPermissions"] = [p for p in group["IpPermissions"] if p.get("FromPort") != 88]
    policy.write_text(json.dumps(data))
    args = ("audit", PTA, "--policy", str(policy), "--policy-format", "aws-sg", "--host", "dc01")
    result = run(*args, "-f", "json")
    assert result.exit_code == 1
    blocked = [r for r in json.loads(result.stdout)["results"] if r["verdict"] == "blocked"]
    assert blocked and all(r["ports"] == [88, 88] for r in blocked)
    assert all(r["blocked_ports"] == [[88, 88]] and r["matched_rule"] for r in blocked)
    junit = run(*args, "-f", "junit")
    assert junit.exit_code == 1
    assert "<failure" in junit.stdout and "tcp/88" in junit.stdout


@pytest.mark.parametrize(
    ("content", "fmt", "needles"),
    [
        ('{"SecurityGroups": [', "aws-sg", [":1:", "not valid JSON"]),
        ("", "aws-sg", ["empty"]),
        ("   \n", "azure-nsg", ["empty"]),
        ('{"SecurityGroups": []}', "azure-nsg", []),
        ('{"securityRules": []}', "aws-sg", []),
        ("\x00\x01\x02binary", "aws-sg", ["binary"]),
    ],
)
def test_bad_policy_files(tmp_path: Path, content: str, fmt: str, needles: list[str]) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(content)
    result = run("audit", PTA, "--policy", str(policy), "--policy-format", fmt)
    _one_line_error(result, str(policy), *needles)


def test_bad_options(tmp_path: Path) -> None:
    policy = _rendered(tmp_path, "aws-sg", "--host", "dc01")
    base = ("audit", PTA, "--policy", str(policy))
    _one_line_error(run(*base, "--policy-format", "pf"), "'pf'")
    _one_line_error(run(*base, "--policy-format", "aws-sg", "--host", "nobody"), "nobody")
    _one_line_error(run(*base, "--policy-format", "aws-sg", "--interface", "eth0"), "IFNAME=CIDR")
    _one_line_error(
        run(*base, "--policy-format", "aws-sg", "--interface", "eth0=10.0.0.0/33"), "10.0.0.0/33"
    )
    _one_line_error(run(*base, "--policy-format", "aws-sg", "--profile", "home"), "home")
    _one_line_error(
        run("audit", PTA, "--policy", str(tmp_path / "missing.json"), "--policy-format", "aws-sg"),
        "missing.json",
    )
    _one_line_error(run("audit", PTA, "--policy", str(tmp_path), "--policy-format", "aws-sg"))
    _one_line_error(run("audit", PTA, "--policy-format", "aws-sg"), "--policy")


def test_every_parser_is_offered() -> None:
    helped = run("audit", "--help")
    assert helped.exit_code == 0
    for name in PARSERS:
        assert name in helped.stdout


SAMPLES = {
    "nftables-json": DATA / "nftables-json" / "gateway.json",
    "iptables-save": DATA / "iptables-save" / "gateway.save",
    "azure-nsg": DATA / "azure-nsg" / "nsg-show.json",
    "aws-sg": DATA / "aws-sg" / "describe-security-groups.json",
    "windows": DATA / "windows" / "dc01-ws2022-ps7.json",
}


@pytest.mark.parametrize("given", sorted(SAMPLES))
@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_a_file_of_another_format_is_refused(given: str, fmt: str) -> None:
    """Every sample parses as its own format and is refused, in one line, by every other."""
    result = run(
        "audit", PTA, "--policy", str(SAMPLES[given]), "--policy-format", fmt, "-f", "json"
    )
    if given == fmt:
        assert result.exit_code in (0, 1), result.stderr
        assert json.loads(result.stdout)["policy"]["format"] == fmt
    else:
        _one_line_error(result, str(SAMPLES[given]))


def test_truncated_exports_are_refused_with_their_line(tmp_path: Path) -> None:
    for fmt, sample in SAMPLES.items():
        text = sample.read_bytes()
        cut = tmp_path / f"cut-{sample.name}"
        cut.write_bytes(text[: len(text) * 2 // 3])
        result = run("audit", PTA, "--policy", str(cut), "--policy-format", fmt)
        _one_line_error(result, str(cut))
