"""`hybridports probe` bad input: one error line, exit 2, nothing on stdout, before any check."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clirunner import run

TOPOLOGY = """\
name: t
features: [password-hash-sync]
hosts:
  sync01: {address: 127.0.0.1, roles: [connect]}
  dc01: {address: DC-NAME, roles: [dc]}
"""


@pytest.fixture
def topology(tmp_path: Path) -> Path:
    path = tmp_path / "topo.yaml"
    path.write_text(TOPOLOGY.replace("DC-NAME", "127.0.0.2"), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "nosuch"], "--from 'nosuch' is not a host"),
        (["--from", "sync01", "--dns-server", "dns.example"], "--dns-server 'dns.example'"),
        (["--from", "sync01", "--ca-bundle", "/nonexistent.pem"], "no such CA bundle"),
        (["--from", "sync01", "--proxy", "proxy:3128"], "--proxy"),
        (["--from", "sync01", "--format", "csv"], "'csv'"),
        (["--from", "sync01", "--timeout", "0"], "--timeout"),
        ([], "--from"),
    ],
)
def test_bad_probe_options(topology: Path, args: list[str], needle: str) -> None:
    result = run("probe", str(topology), *args)
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert needle in result.stderr


def test_ca_bundle_must_be_pem(topology: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    result = run("probe", str(topology), "--from", "sync01", "--ca-bundle", str(bundle))
    assert result.exit_code == 2 and result.stdout == ""
    assert (
        result.stderr == f"error: {bundle}: not a PEM certificate bundle (no BEGIN CERTIFICATE)\n"
    )


def test_unresolvable_destination_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "topo.yaml"
    path.write_text(TOPOLOGY.replace("DC-NAME", "dc01.does-not-exist.invalid"), encoding="utf-8")
    result = run("probe", str(path), "--from", "sync01", "--timeout", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: destination host 'dc01'")
    assert "dc01.does-not-exist.invalid" in result.stderr


def test_closed_ports_on_loopback_fail_the_run(topology: Path) -> None:
    # Given nothing listens on 127.0.0.2, When the run probes it, Then exit 1 with verdicts.
    import json

    result = run(
        "probe", str(topology), "--from", "sync01", "--format", "json", "--only", "ldap,dns"
    )
    assert result.exit_code == 1, result.stderr
    rows = json.loads(result.stdout)["results"]
    assert rows and all(r["verdict"] == "closed" for r in rows), rows
    assert {r["transport"] for r in rows} == {"tcp", "udp"}
