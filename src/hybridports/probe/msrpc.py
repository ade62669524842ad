"""MS-RPC endpoint mapper on TCP 135 and the dynamic ports it hands out (§5.3, §7.6).

DCE/RPC connection-oriented PDUs (C706 ch. 12, MS-RPCE) are fixed little-endian structures:
we write the bind, the ept_map request and a tower by hand with ``struct`` rather than pull
in impacket for three messages (docs/decisions.md). No authentication is used.
"""

from __future__ import annotations

import itertools
import socket
import struct
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, Stream, hexdump, tcp_check

NDR = (uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860"), 2, 0)
EPM = (uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0)
# The interfaces a hybrid identity deployment uses on a DC (§5.3).
INTERFACES: dict[str, tuple[uuid.UUID, int, int]] = {
    "DRSUAPI": (uuid.UUID("e3514235-4b06-11d1-ab04-00c04fc2dcd2"), 4, 0),
    "NETLOGON": (uuid.UUID("12345678-1234-abcd-ef00-01234567cffb"), 1, 0),
    "LSARPC": (uuid.UUID("12345778-1234-abcd-ef00-0123456789ab"), 0, 0),
    "SAMR": (uuid.UUID("12345778-1234-abcd-ef00-0123456789ac"), 1, 0),
}
BIND, BIND_ACK, BIND_NAK, REQUEST, RESPONSE, FAULT = 11, 12, 13, 0, 2, 3
FIRST_LAST = 0x03
LAST_FRAG = 0x02
EPT_MAP = 3
EPT_S_NOT_REGISTERED = 0x16C9A0D6
MAX_FRAG = 4280
_call_ids = itertools.count(1)


def _syntax(syntax: tuple[uuid.UUID, int, int]) -> bytes:
    ident, major, minor = syntax
    return ident.bytes_le + struct.pack("<HH", major, minor)


def _pdu(ptype: int, body: bytes, call_id: int) -> bytes:
    header = struct.pack(
        "<BBBB4sHHI", 5, 0, ptype, FIRST_LAST, b"\x10\x00\x00\x00", 16 + len(body), 0, call_id
    )
    return header + body


def bind_pdu(interface: tuple[uuid.UUID, int, int], call_id: int) -> bytes:
    body = struct.pack("<HHI", MAX_FRAG, MAX_FRAG, 0)
    body += struct.pack("<BBH", 1, 0, 0)  # one presentation context
    body += struct.pack("<HBB", 0, 1, 0) + _syntax(interface) + _syntax(NDR)
    return _pdu(BIND, body, call_id)


def tower(interface: tuple[uuid.UUID, int, int]) -> bytes:
    """An ncacn_ip_tcp tower for the interface: port and address left zero for the mapper."""
    ident, major, minor = interface
    floors = [
        (b"\x0d" + ident.bytes_le + struct.pack("<H", major), struct.pack("<H", minor)),
        (b"\x0d" + NDR[0].bytes_le + struct.pack("<H", NDR[1]), struct.pack("<H", NDR[2])),
        (b"\x0b", b"\x00\x00"),  # RPC connection-oriented
        (b"\x07", b"\x00\x00"),  # TCP port (big-endian)
        (b"\x09", b"\x00\x00\x00\x00"),  # IPv4 address
    ]
    out = struct.pack("<H", len(floors))
    for lhs, rhs in floors:
        out += struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs
    return out


def ept_map_pdu(interface: tuple[uuid.UUID, int, int], call_id: int) -> bytes:
    octets = tower(interface)
    stub = struct.pack("<I", 1) + b"\x00" * 16  # object: referent + nil UUID
    stub += struct.pack("<III", 2, len(octets), len(octets)) + octets
    stub += b"\x00" * (-len(stub) % 4)
    stub += b"\x00" * 20  # entry handle
    stub += struct.pack("<I", 4)  # max towers
    body = struct.pack("<IHH", len(stub), 0, EPT_MAP) + stub
    return _pdu(REQUEST, body, call_id)


@dataclass(frozen=True)
class Pdu:
    ptype: int
    flags: int
    body: bytes


async def read_pdu(stream: Stream) -> Pdu:
    header = await stream.read_exactly(16)
    version, _minor, ptype, flags, drep, frag_len, _auth, _call = struct.unpack(
        "<BBBB4sHHI", header
    )
    if version != 5 or drep[0] & 0xF0 != 0x10:
        raise BadReply(f"not a DCE/RPC PDU (first bytes {hexdump(header)})")
    if frag_len < 16:
        raise BadReply(f"DCE/RPC fragment length {frag_len} is too short")
    return Pdu(ptype, flags, await stream.read_exactly(frag_len - 16))


async def bind(stream: Stream, interface: tuple[uuid.UUID, int, int]) -> tuple[bool, str]:
    """Bind; (accepted, description). A nak or fault still proves an RPC runtime."""
    await stream.send(bind_pdu(interface, next(_call_ids)))
    pdu = await read_pdu(stream)
    if pdu.ptype == BIND_ACK:
        return _bind_ack(pdu.body)
    if pdu.ptype == BIND_NAK:
        reason = struct.unpack_from("<H", pdu.body)[0] if len(pdu.body) >= 2 else -1
        return False, f"bind_nak (reason {reason})"
    if pdu.ptype == FAULT:
        return False, f"fault 0x{_fault_status(pdu.body):08x}"
    raise BadReply(f"unexpected DCE/RPC PDU type {pdu.ptype} in reply to bind")


def _bind_ack(body: bytes) -> tuple[bool, str]:
    if len(body) < 10:
        raise BadReply("truncated bind_ack")
    sec_len = struct.unpack_from("<H", body, 8)[0]
    offset = 10 + sec_len
    offset += -(16 + offset) % 4  # results start 4-aligned within the PDU
    if len(body) < offset + 6:
        raise BadReply("truncated bind_ack result list")
    count = body[offset]
    result, reason = struct.unpack_from("<HH", body, offset + 4)
    if count and result == 0:
        return True, "bind_ack (context accepted)"
    return False, f"bind_ack with the context rejected (result {result}, reason {reason})"


def _fault_status(body: bytes) -> int:
    return struct.unpack_from("<I", body, 8)[0] if len(body) >= 12 else 0


async def call(stream: Stream, request: bytes) -> bytes:
    """Send a request, gather the response stub across fragments."""
    await stream.send(request)
    stub = b""
    for _ in range(64):
        pdu = await read_pdu(stream)
        if pdu.ptype == FAULT:
            raise BadReply(f"DCE/RPC fault 0x{_fault_status(pdu.body):08x}")
        if pdu.ptype != RESPONSE or len(pdu.body) < 8:
            raise BadReply(f"unexpected DCE/RPC PDU type {pdu.ptype} in reply to a request")
        stub += pdu.body[8:]
        if pdu.flags & LAST_FRAG:
            return stub
    raise BadReply("DCE/RPC response in too many fragments")


def parse_towers(stub: bytes) -> tuple[int, list[tuple[int | None, str | None]]]:
    """(status, [(port, address)]) from an ept_map response stub."""
    if len(stub) < 20 + 4 + 12 + 4:
        raise BadReply("truncated ept_map response")
    status = struct.unpack_from("<I", stub, len(stub) - 4)[0]
    offset = 20
    (num_towers,) = struct.unpack_from("<I", stub, offset)
    _max, _first, actual = struct.unpack_from("<III", stub, offset + 4)
    offset += 16
    referents = struct.unpack_from(f"<{actual}I", stub, offset) if actual <= 500 else ()
    offset += 4 * len(referents)
    found: list[tuple[int | None, str | None]] = []
    for referent in referents[: min(num_towers, actual)]:
        if referent == 0:
            continue
        if offset + 8 > len(stub):
            break
        _conformance, length = struct.unpack_from("<II", stub, offset)
        octets = stub[offset + 8 : offset + 8 + length]
        offset += 8 + length
        offset += -offset % 4
        found.append(_tower_endpoint(octets))
    return status, found


def _tower_endpoint(octets: bytes) -> tuple[int | None, str | None]:
    port: int | None = None
    address: str | None = None
    if len(octets) < 2:
        return port, address
    (count,) = struct.unpack_from("<H", octets)
    offset = 2
    for _ in range(min(count, 16)):
        if offset + 2 > len(octets):
            break
        (lhs_len,) = struct.unpack_from("<H", octets, offset)
        lhs = octets[offset + 2 : offset + 2 + lhs_len]
        offset += 2 + lhs_len
        (rhs_len,) = struct.unpack_from("<H", octets, offset)
        rhs = octets[offset + 2 : offset + 2 + rhs_len]
        offset += 2 + rhs_len
        if lhs[:1] == b"\x07" and len(rhs) == 2:
            port = struct.unpack(">H", rhs)[0]
        elif lhs[:1] == b"\x09" and len(rhs) == 4:
            address = socket.inet_ntoa(rhs)
    return port, address


@dataclass(frozen=True)
class EndpointMap:
    """What the endpoint mapper said: the 135 verdict and the TCP endpoints it lists."""

    outcome: Outcome
    endpoints: tuple[tuple[str, int, str | None], ...] = field(default=())

    def by_port(self) -> list[tuple[int, tuple[str, ...], str | None]]:
        grouped: dict[int, list[str]] = defaultdict(list)
        addresses: dict[int, str | None] = {}
        for name, port, address in self.endpoints:
            grouped[port].append(name)
            addresses.setdefault(port, address)
        return [(port, tuple(grouped[port]), addresses[port]) for port in sorted(grouped)]


async def endpoint_map(target: Target, ctx: ProbeContext) -> EndpointMap:
    found: list[tuple[str, int, str | None]] = []

    async def exchange(stream: Stream) -> Outcome:
        accepted, how = await bind(stream, EPM)
        if not accepted:
            return Outcome.error(
                f"an RPC runtime answered on 135 but refused the endpoint mapper: {how}"
            )
        missing = []
        for name, interface in INTERFACES.items():
            status, towers = parse_towers(
                await call(stream, ept_map_pdu(interface, next(_call_ids)))
            )
            ports = [(p, a) for p, a in towers if p]
            if status == 0 and ports:
                found.extend((name, port, address) for port, address in ports)
            else:
                missing.append(
                    name
                    if status in (0, EPT_S_NOT_REGISTERED)
                    else f"{name} (status 0x{status:08x})"
                )
        listed = ", ".join(f"{n}→{p}" for n, p, _ in found) or "none"
        detail = f"endpoint mapper answered (bind_ack, ept_map): {listed}"
        if missing:
            detail += f"; not registered over TCP: {', '.join(missing)}"
        return Outcome.open(detail, endpoints={n: p for n, p, _ in found})

    outcome = await tcp_check(target, ctx, "DCE/RPC endpoint mapper", exchange)
    return EndpointMap(outcome, tuple(found) if outcome.verdict.value == "open" else ())


async def bind_check(target: Target, ctx: ProbeContext, interface_name: str) -> Outcome:
    """Prove an RPC server on a dynamic port by binding to the interface the mapper named."""

    async def exchange(stream: Stream) -> Outcome:
        accepted, how = await bind(stream, INTERFACES[interface_name])
        if accepted:
            return Outcome.open(f"RPC server accepted a bind to {interface_name} ({how})")
        return Outcome.open(f"RPC server answered a bind to {interface_name} with {how}")

    return await tcp_check(target, ctx, "DCE/RPC", exchange)


class EpmProbe(Probe):
    name = "epm"
    description = "MS-RPC endpoint mapper: bind + ept_map for DRSUAPI, NETLOGON, LSARPC, SAMR"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        return (await endpoint_map(target, ctx)).outcome
