"""Active Directory Web Services on TCP 9389: the net.tcp preamble (MC-NMF 2.2, MS-ADDM) (§7.9).

A few one-byte records with MC-NMF's variable-length sizes, written by hand: no Python
library speaks .NET Message Framing. The preamble asks to upgrade the connection to
``application/negotiate`` (SPNEGO); an Upgrade Response proves an ADWS endpoint at the Via
that accepts Windows authentication. We close there: no SPNEGO token is ever sent.
"""

from __future__ import annotations

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, Stream, authority, hexdump, tcp_check

VERSION = b"\x00\x01\x00"  # record 0x00, major 1, minor 0
MODE_DUPLEX = b"\x01\x02"
VIA = 0x02
KNOWN_ENCODING_BINARY = b"\x03\x08"  # binary SOAP with an in-band dictionary (session)
UPGRADE_REQUEST = 0x09
UPGRADE_RESPONSE = 0x0A
FAULT = 0x08
PREAMBLE_ACK = 0x0B
NEGOTIATE = "application/negotiate"
ENDPOINT = "ActiveDirectoryWebServices/Windows/Enumeration"
MAX_FAULT = 4096  # fault URIs are short; more is not a framing fault


def encode_size(value: int) -> bytes:
    """MC-NMF 2.2.2 record size: 7 bits per byte, least significant first, high bit = more."""
    if not 0 <= value <= 0x7FFFFFFF:
        raise ValueError(f"record size {value} out of range")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(kind: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return bytes([kind]) + encode_size(len(data)) + data


def via(target: Target) -> str:
    return f"net.tcp://{authority(target)}/{ENDPOINT}"


def preamble(target: Target) -> bytes:
    return (
        VERSION
        + MODE_DUPLEX
        + _string(VIA, via(target))
        + KNOWN_ENCODING_BINARY
        + _string(UPGRADE_REQUEST, NEGOTIATE)
    )


async def read_size(stream: Stream) -> int:
    value = 0
    for shift in range(0, 35, 7):
        byte = (await stream.read_exactly(1))[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    raise BadReply("an MC-NMF record size longer than 5 bytes")


def _fault_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


async def exchange(stream: Stream, target: Target) -> Outcome:
    address = via(target)
    await stream.send(preamble(target))
    record = (await stream.read_exactly(1))[0]
    if record == UPGRADE_RESPONSE:
        return Outcome.open(
            "ADWS endpoint accepts Windows authentication (net.tcp Upgrade Response to "
            "application/negotiate)",
            via=address,
            upgrade="application/negotiate",
        )
    if record == FAULT:
        size = await read_size(stream)
        if size > MAX_FAULT:
            raise BadReply(f"a {size}-byte MC-NMF fault record")
        try:
            uri = (await stream.read_exactly(size)).decode("utf-8")
        except UnicodeDecodeError:
            raise BadReply("an MC-NMF fault record that is not UTF-8") from None
        return Outcome.error(
            f"net.tcp listener, but not the ADWS endpoint: {_fault_name(uri)} ({uri})",
            via=address,
            fault=uri,
        )
    if record == PREAMBLE_ACK:
        raise BadReply("a net.tcp Preamble Ack without answering the upgrade request")
    raise BadReply(f"not a .NET Message Framing record (first byte {hexdump(bytes([record]))})")


class AdwsProbe(Probe):
    name = "adws"
    description = "ADWS net.tcp preamble: Via .../Windows/Enumeration, upgrade to Negotiate"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        return await tcp_check(target, ctx, "ADWS (net.tcp)", lambda s: exchange(s, target))
