"""net.py: the one place where socket outcomes become verdicts."""

from __future__ import annotations

import asyncio
import socket
import struct

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from hybridports.probe.net import (
    IcmpError,
    _parse_extended_error,
    classify_icmp,
    tcp_check,
    udp_check,
)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tcp_rst_is_closed() -> None:
    port = _free_port(socket.SOCK_STREAM)
    target = Target("t", "127.0.0.1", port, Transport.TCP)

    async def never(_stream: object) -> Outcome:
        raise AssertionError("no exchange after a refused connect")

    outcome = asyncio.run(tcp_check(target, ProbeContext(timeout=1), "X", never))  # type: ignore[arg-type]
    assert outcome.verdict is Verdict.CLOSED and "TCP RST" in outcome.detail


def test_udp_port_unreachable_from_the_target_is_closed() -> None:
    port = _free_port(socket.SOCK_DGRAM)
    target = Target("t", "127.0.0.1", port, Transport.UDP)
    outcome = asyncio.run(
        udp_check(target, ProbeContext(timeout=1), "X", b"x", lambda d: Outcome.open(""))
    )
    assert outcome.verdict is Verdict.CLOSED
    assert outcome.facts["icmp_sender"] == "127.0.0.1"


def test_udp_silence_is_filtered_after_three_datagrams_within_the_timeout() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.setblocking(False)
    target = Target("t", "127.0.0.1", silent.getsockname()[1], Transport.UDP)
    try:
        for known_round_trip in (None, 0.001):
            ctx = ProbeContext(timeout=1.0)
            if known_round_trip is not None:
                ctx.round_trips.record("127.0.0.1", known_round_trip)
            outcome = asyncio.run(udp_check(target, ctx, "X", b"x", lambda d: Outcome.open("")))
            # Then: filtered, three datagrams sent, and the check kept to its timeout
            assert outcome.verdict is Verdict.FILTERED, outcome.detail
            assert "3 datagrams" in outcome.detail
            waited = float(outcome.detail.split("within ")[1].split("s")[0])
            assert waited <= 1.0 + 0.05
            received = 0
            while True:
                try:
                    silent.recv(16)
                except BlockingIOError:
                    break
                received += 1
            assert received == 3
    finally:
        silent.close()


def test_icmp_sender_decides_closed_or_filtered() -> None:
    mine = IcmpError(3, 3, "198.18.2.10", 4)
    theirs = IcmpError(3, 3, "198.18.1.1", 4)
    admin = IcmpError(1, 1, "2001:db8:1::1", 6)
    assert classify_icmp(mine, "198.18.2.10", "UDP 53").verdict is Verdict.CLOSED
    filtered = classify_icmp(theirs, "198.18.2.10", "UDP 53")
    assert filtered.verdict is Verdict.FILTERED and "198.18.1.1" in filtered.detail
    prohibited = classify_icmp(admin, "2001:db8:2::10", "TCP 389")
    assert prohibited.verdict is Verdict.FILTERED and "admin-prohibited" in prohibited.detail


def test_extended_error_parsing() -> None:
    # struct sock_extended_err + sockaddr_in of the offender, as the kernel queues it
    header = struct.pack("=IBBBBII", 111, 2, 3, 13, 0, 0, 0)
    offender = struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton("198.18.1.1"))
    parsed = _parse_extended_error(header + offender)
    assert parsed == IcmpError(3, 13, "198.18.1.1", 4)
    assert parsed.name == "admin-prohibited" and not parsed.port_unreachable
    local = struct.pack("=IBBBBII", 90, 1, 0, 0, 0, 0, 0)  # SO_EE_ORIGIN_LOCAL: not ICMP
    assert _parse_extended_error(local) is None
    assert _parse_extended_error(b"short") is None
