"""ICMP echo (RFC 792; ICMPv6 echo, RFC 4443 §4) towards the target (§7.13).

An unprivileged ping socket (``SOCK_DGRAM``/``IPPROTO_ICMP[V6]``, Linux and macOS; allowed
by ``net.ipv4.ping_group_range``) is tried first, a raw socket (needs CAP_NET_RAW or root)
second. ICMP errors are read from the error queue by net.py's helpers, as for UDP, so the
sender is named. Two echo requests at most; the target port is irrelevant. A failed echo is
a finding, never a reason to fail a required flow. Windows has no ping sockets: there the raw
socket needs an administrator, and the skipped detail says so.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target, Verdict
from hybridports.probe.net import (
    address_family,
    classify_icmp,
    classify_os_error,
    enable_error_queue,
    read_icmp_error,
)

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
ATTEMPTS = 2
WHAT = "ICMP echo"
# EPROTOTYPE and the WSA codes (errno holds them on Windows) cover Winsock's refusals.
_NOT_PERMITTED = (
    errno.EACCES,
    errno.EPERM,
    errno.EPROTONOSUPPORT,
    errno.ESOCKTNOSUPPORT,
    errno.EPROTOTYPE,
)
IPPROTO_ICMPV6 = getattr(socket, "IPPROTO_ICMPV6", 58)  # not in every Windows build


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(version: int, ident: int, seq: int, payload: bytes) -> bytes:
    """The echo request. The kernel fills the ICMPv6 checksum (it covers a pseudo-header),
    and a ping socket rewrites the identifier and the checksum itself."""
    header = struct.pack("!BBHHH", ECHO_REQUEST[version], 0, 0, ident, seq)
    if version == 4:
        header = header[:2] + struct.pack("!H", checksum(header + payload)) + header[4:]
    return header + payload


@dataclass(frozen=True)
class Echo:
    seq: int
    payload: bytes


def parse_reply(version: int, data: bytes) -> Echo | None:
    """An echo reply, or None for any other ICMP message (a raw socket sees them all)."""
    if version == 4 and data[:1] and data[0] >> 4 == 4:
        data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 (and macOS ping) sockets: IP header
    if len(data) < 8 or data[0] != ECHO_REPLY[version] or data[1] != 0:
        return None
    _type, _code, _sum, _ident, seq = struct.unpack_from("!BBHHH", data)
    return Echo(seq, data[8:])


def open_socket(family: socket.AddressFamily) -> tuple[socket.socket, str]:
    """A ping socket if this host allows it, else a raw socket; PermissionError if neither."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else IPPROTO_ICMPV6
    try:
        return socket.socket(family, socket.SOCK_DGRAM, proto), "ping"
    except OSError as exc:
        if exc.errno not in _NOT_PERMITTED:
            raise
    try:
        return socket.socket(family, socket.SOCK_RAW, proto), "raw"
    except OSError as exc:
        if exc.errno in _NOT_PERMITTED:
            raise PermissionError(exc.errno, exc.strerror) from None
        raise


def _same(a: str, b: str) -> bool:
    return ipaddress.ip_address(a.split("%")[0]) == ipaddress.ip_address(b.split("%")[0])


def _filtered(found: Outcome, kind: str) -> Outcome:
    # An echo has no port to be closed: any ICMP error, from whoever, is "filtered".
    detail = found.detail
    if found.verdict is Verdict.CLOSED:
        detail = detail.replace("port-unreachable", "unreachable")
    verdict = Verdict.ERROR if found.verdict is Verdict.ERROR else Verdict.FILTERED
    return Outcome(verdict, detail, {**found.facts, "socket": kind})


def _queued_error(sock: socket.socket, target: str, kind: str) -> Outcome | None:
    icmp = read_icmp_error(sock)
    return None if icmp is None else _filtered(classify_icmp(icmp, target, WHAT), kind)


def _os_failure(exc: OSError, sock: socket.socket, target: str, kind: str) -> Outcome:
    found = classify_os_error(exc, sock, target, WHAT)
    if found.verdict is Verdict.CLOSED and not found.facts:
        # ECONNREFUSED without a queued ICMP error: net.py would word it as a TCP RST.
        found = Outcome(Verdict.FILTERED, f"{WHAT}: {(exc.strerror or str(exc)).lower()}")
    return _filtered(found, kind)


async def echo(target: Target, ctx: ProbeContext) -> Outcome:
    family = address_family(target.address)
    version = 6 if family == socket.AF_INET6 else 4
    try:
        sock, kind = open_socket(family)
    except PermissionError:
        if sys.platform == "win32":
            return Outcome.skipped(
                f"{WHAT} not sent: Windows has no unprivileged ping sockets, and a raw socket "
                "needs an elevated (administrator) prompt"
            )
        return Outcome.skipped(
            f"{WHAT} not sent: this host allows neither unprivileged ping sockets "
            "(net.ipv4.ping_group_range) nor raw sockets (CAP_NET_RAW)"
        )
    loop = asyncio.get_running_loop()
    token = os.urandom(8)
    ident = int.from_bytes(token[:2], "big")
    payload = b"hybridports " + token
    sent: dict[int, float] = {}
    try:
        sock.setblocking(False)
        enable_error_queue(sock)
        sock.connect((target.address, 0))
        for seq in range(1, ATTEMPTS + 1):
            sock.send(echo_request(version, ident, seq, payload))
            sent[seq] = time.perf_counter()
            deadline = loop.time() + ctx.timeout / ATTEMPTS
            while (remaining := deadline - loop.time()) > 0:
                try:
                    data, source = await asyncio.wait_for(
                        loop.sock_recvfrom(sock, 65535), remaining
                    )
                except TimeoutError:
                    break
                except OSError as exc:
                    return _os_failure(exc, sock, target.address, kind)
                reply = parse_reply(version, data)
                if reply and reply.payload == payload and _same(source[0], target.address):
                    answered = reply.seq if reply.seq in sent else seq
                    rtt = (time.perf_counter() - sent[answered]) * 1000
                    return Outcome.open(
                        f"echo reply from {target.address} in {rtt:.1f} ms",
                        rtt_ms=round(rtt, 2),
                        socket=kind,
                        attempt=answered,
                    )
                failed = _queued_error(sock, target.address, kind)  # raw sockets see it
                if failed is not None:
                    return failed
        return Outcome(
            Verdict.FILTERED,
            f"{WHAT}: no reply to {ATTEMPTS} echo requests within {ctx.timeout:g}s "
            "(dropped silently, or the host does not answer ping)",
            {"socket": kind},
        )
    except OSError as exc:
        return _os_failure(exc, sock, target.address, kind)
    finally:
        sock.close()


class IcmpProbe(Probe):
    name = "icmp"
    description = "ICMP echo request (ping socket, else raw socket), two attempts"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        return await echo(target, ctx)
