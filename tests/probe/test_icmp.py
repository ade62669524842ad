"""ICMP echo probe (§7.13): packet building and parsing, socket fallback, real pings.

Real peers: the lab DC (IPv4 and IPv6) and an address on the DC's subnet that no host owns,
which the router cannot resolve (silence, or host/address-unreachable from the router). The
lab's client namespace forbids unprivileged ping sockets (ping_group_range "1 0"), so the lab
tests use the raw-socket fallback; the ping-socket path is tested in a private, throwaway
network namespace (``unshare --net``) that allows it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from typing import Any

import pytest

from hybridports.model import Transport
from hybridports.probe import icmp
from hybridports.probe.icmp import IcmpProbe, checksum, echo_request, open_socket, parse_reply
from hybridports.probe.interface import ProbeContext, Target, Verdict
from lab import Lab
from lab import config as labconfig

RUN = """
import asyncio, json, sys
from hybridports.model import Transport
from hybridports.probe.icmp import IcmpProbe
from hybridports.probe.interface import ProbeContext, Target
for address in sys.argv[2:]:
    target = Target(address, address, 8, Transport.ICMP)
    outcome = asyncio.run(IcmpProbe().check(target, ProbeContext(timeout=float(sys.argv[1]))))
    print(json.dumps({"verdict": outcome.verdict.value, "detail": outcome.detail,
                      "facts": outcome.facts}))
"""


def _outcomes(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def icmp_in_client(lab: Lab, address: str, timeout: float = 2.0) -> dict[str, Any]:
    """The probe run in the lab's client namespace (probe.one has no ICMP transport)."""
    argv = [sys.executable, "-c", RUN, str(timeout), address]
    proc = lab.run("client", argv, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    (outcome,) = _outcomes(proc.stdout)
    return outcome


def test_checksum() -> None:
    # RFC 1071 §3 example: the one's complement sum of these words is 0xddf2.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF
    assert checksum(b"\x01") == ~0x0100 & 0xFFFF  # odd length: padded with a zero byte


def test_echo_request_v4() -> None:
    packet = echo_request(4, 0x1234, 2, b"payload")
    assert packet[:2] == b"\x08\x00"
    assert struct.unpack_from("!HH", packet, 4) == (0x1234, 2)
    assert checksum(packet) == 0  # a correct checksum sums to all ones
    assert packet[8:] == b"payload"


def test_echo_request_v6_leaves_the_checksum_to_the_kernel() -> None:
    packet = echo_request(6, 0x1234, 1, b"x")
    assert packet[:4] == b"\x80\x00\x00\x00"


def test_parse_reply() -> None:
    bare = b"\x00\x00\x00\x00\x12\x34\x00\x02payload"
    assert parse_reply(4, bare) == icmp.Echo(2, b"payload")
    ip_header = bytes([0x45]) + b"\x00" * 19
    assert parse_reply(4, ip_header + bare) == icmp.Echo(2, b"payload")
    assert parse_reply(6, b"\x81\x00\x00\x00\x12\x34\x00\x01xy") == icmp.Echo(1, b"xy")
    assert parse_reply(6, bare) is None  # type 0 is not an ICMPv6 echo reply
    assert parse_reply(4, b"\x08\x00" + bare[2:]) is None  # an echo request
    assert parse_reply(4, b"\x03\x01" + bare[2:]) is None  # host-unreachable
    assert parse_reply(4, b"\x00\x00\x00") is None  # truncated
    assert parse_reply(4, ip_header[:10]) is None
    assert parse_reply(4, b"") is None


class _Refused:
    def __init__(self, *refused: int) -> None:
        self.refused = refused
        self.calls: list[int] = []

    def __call__(self, family: int, kind: int, proto: int) -> Any:
        self.calls.append(kind)
        if kind in self.refused:
            raise PermissionError(1, "Operation not permitted")
        return "a socket"


def test_falls_back_to_a_raw_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Refused(socket.SOCK_DGRAM)
    monkeypatch.setattr(socket, "socket", fake)
    opened: Any = open_socket(socket.AF_INET)
    assert opened == ("a socket", "raw")
    assert fake.calls == [socket.SOCK_DGRAM, socket.SOCK_RAW]


def test_no_permission_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "socket", _Refused(socket.SOCK_DGRAM, socket.SOCK_RAW))
    with pytest.raises(PermissionError):
        open_socket(socket.AF_INET6)


def test_skipped_without_any_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(family: int) -> Any:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(icmp, "open_socket", refuse)  # not socket.socket: asyncio needs it
    target = Target("dc", "192.0.2.1", 8, Transport.ICMP)
    outcome = asyncio.run(IcmpProbe().check(target, ProbeContext(timeout=0.5)))
    assert outcome.verdict is Verdict.SKIPPED
    assert "ping_group_range" in outcome.detail and "CAP_NET_RAW" in outcome.detail


def _private_namespace_reason() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux"
    if not (shutil.which("unshare") and shutil.which("ip")):
        return "needs unshare and ip"
    return None


@pytest.mark.peers
@pytest.mark.skipif(_private_namespace_reason() is not None, reason="needs root and unshare")
def test_ping_socket_in_a_private_namespace() -> None:
    """Ping sockets, real kernel replies and local route errors, in a throwaway namespace."""
    script = (
        "ip link set lo up && sysctl -qw net.ipv4.ping_group_range='0 2147483647' && "
        "ip route add unreachable 198.51.100.0/24 && ip -6 route add prohibit 2001:db8:99::/48 "
        f'&& exec {sys.executable} -c "$0" 1 127.0.0.1 ::1 198.51.100.1 2001:db8:99::1'
    )
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script, RUN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    v4, v6, unreachable, prohibited = _outcomes(proc.stdout)
    for outcome in (v4, v6):
        assert outcome["verdict"] == "open", outcome["detail"]
        assert outcome["facts"]["socket"] == "ping"
        assert outcome["facts"]["rtt_ms"] >= 0
    assert unreachable["verdict"] == "filtered", unreachable["detail"]
    assert "no route to host" in unreachable["detail"]
    assert prohibited["verdict"] == "filtered", prohibited["detail"]


@pytest.mark.peers
@pytest.mark.parametrize("address", [labconfig.DC_ADDRESS, labconfig.DC_ADDRESS6])
def test_dc_answers_echo(lab: Lab, address: str) -> None:
    outcome = icmp_in_client(lab, address)
    assert outcome["verdict"] == "open", outcome["detail"]
    assert outcome["detail"].startswith(f"echo reply from {address} in ")
    assert outcome["facts"]["socket"] in ("ping", "raw")


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.99", "2001:db8:2::99"])
def test_missing_host_is_filtered(lab: Lab, address: str) -> None:
    outcome = icmp_in_client(lab, address)
    assert outcome["verdict"] == "filtered", outcome["detail"]


@pytest.mark.peers
@pytest.mark.parametrize(
    ("address", "router"),
    [
        ("198.18.2.99", labconfig.ROUTER_CLIENT_ADDRESS),
        ("2001:db8:2::99", labconfig.CLIENT_NET.router_v6),
    ],
)
def test_missing_host_names_the_router(lab: Lab, address: str, router: str) -> None:
    """Given time to give up on neighbour discovery (~3 s), the router says so by ICMP."""
    outcome = icmp_in_client(lab, address, timeout=6.0)
    assert outcome["verdict"] == "filtered", outcome["detail"]
    assert outcome["facts"]["icmp_sender"] == router
    assert outcome["facts"]["icmp"] in ("host-unreachable", "address-unreachable")
    assert f"from {router}" in outcome["detail"]
