"""Helpers the lab's own tests share: the host snapshot, socket checks, timing lines."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab import Lab

NETCHECK = Path(__file__).resolve().parent / "netcheck.py"
HOST_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.icmp_ratelimit",
    "net.ipv4.icmp_msgs_per_sec",
)
HOST_FILES = (
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/hostname",
    "/etc/krb5.conf",
    "/etc/samba/smb.conf",
    "/etc/nginx/nginx.conf",
    "/etc/squid/squid.conf",
    "/etc/dnsmasq.conf",
)


def say(request: pytest.FixtureRequest, line: str) -> None:
    """Show a line (timings) even when pytest captures output."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover
        print(f"[lab] {line}", file=sys.stderr)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(f"[lab] {line}")


def sh(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    return proc.stdout


def digest(path: str) -> str:
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "absent"


def host_snapshot() -> dict[str, Any]:
    """What the lab must never change on the host."""
    return {
        "links": sh(["ip", "-br", "link"]),
        "addresses": sh(["ip", "-br", "addr"]),
        "routes4": sh(["ip", "-4", "route", "show", "table", "all"]),
        "routes6": sh(["ip", "-6", "route", "show", "table", "all"]),
        "sysctl": sh(["sysctl", *HOST_SYSCTLS]),
        "nft": sh(["nft", "list", "ruleset"]),
        "hostname": socket.gethostname(),
        "etc": {f: digest(f) for f in HOST_FILES},
    }


def netcheck(lab: Lab, checks: list[dict[str, Any]], ns: str = "client") -> list[dict[str, Any]]:
    """Run socket checks inside a lab namespace (concurrently); return their results."""
    proc = lab.run(ns, [sys.executable, str(NETCHECK), json.dumps(checks)], timeout=60)
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


def in_client(
    lab: Lab, argv: list[str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return lab.run("client", argv, timeout=30, input=stdin)
