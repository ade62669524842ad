"""AMQP 1.0 over TLS on TCP 5671 (spec §7.12, §6 item 9; OASIS AMQP 1.0 §2.2 protocol header,
§2.3 frames, §1.6 type encodings, §5.3 SASL).

TLS first, with the HTTPS check's validation (public chain, no TLS inspection, the name:
https.py), then the SASL protocol header ``AMQP 3 1 0 0``. Any AMQP 1.0 header in reply
proves the peer (a server answers with the header it supports); the SASL frame that follows
names the mechanisms (Service Bus: MSSBCBS, ANONYMOUS, PLAIN, EXTERNAL).
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from typing import Any

from hybridports.probe.https import MARGIN, Trust, TrustFileError, load_trust, secure
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, ByteStream, hexdump, stream_check, via_proxy

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
PROTOCOLS = {0: "AMQP", 2: "TLS", 3: "SASL"}
SASL_FRAME = 0x01
SASL_MECHANISMS = 0x40  # descriptor code of sasl-mechanisms (§5.3.3.1)
MAX_FRAME = 64 * 1024  # a sasl-mechanisms frame is tens of bytes
SYM8, SYM32 = 0xA3, 0xB3


class _Reader:
    """AMQP type decoding (§1.6) over one frame body: just what sasl-mechanisms needs."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise BadReply("the SASL frame is cut short")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def size(self, wide: bool) -> int:
        return int(struct.unpack("!I", self.take(4))[0]) if wide else self.byte()

    def descriptor(self) -> int | str:
        """The code (ulong) or name (symbol) of a described type (§1.5)."""
        if self.byte() != 0x00:
            raise BadReply("not a described type")
        code = self.byte()
        if code == 0x53:  # smallulong
            return self.byte()
        if code == 0x80:  # ulong
            return int(struct.unpack("!Q", self.take(8))[0])
        if code in (SYM8, SYM32):
            return self.take(self.size(code == SYM32)).decode("ascii", "replace")
        raise BadReply(f"a descriptor of type 0x{code:02x}")

    def symbols(self) -> list[str]:
        """A symbol, an array of symbols, or null (multiple="true" fields, §1.6.20)."""
        code = self.byte()
        if code == 0x40:  # null
            return []
        if code in (SYM8, SYM32):
            return [self.take(self.size(code == SYM32)).decode("ascii", "replace")]
        if code in (0xE0, 0xF0):  # array8 / array32: size, count, one constructor
            wide = code == 0xF0
            self.size(wide)
            count = self.size(wide)
            element = self.byte()
            if element not in (SYM8, SYM32):
                raise BadReply(f"an array of type 0x{element:02x}, not of symbols")
            return [
                self.take(self.size(element == SYM32)).decode("ascii", "replace")
                for _ in range(count)
            ]
        raise BadReply(f"a field of type 0x{code:02x}, not symbols")


def parse_header(data: bytes) -> tuple[int, tuple[int, int, int]]:
    """(protocol id, version) of an 8-byte AMQP protocol header (§2.2); BadReply otherwise."""
    if len(data) != 8 or not data.startswith(b"AMQP"):
        raise BadReply(f"not an AMQP protocol header ({hexdump(data)})")
    protocol, major, minor, revision = data[4:8]
    return protocol, (major, minor, revision)


def parse_mechanisms(frame: bytes) -> list[str]:
    """The sasl-server-mechanisms of a SASL frame (header included, §2.3.1, §5.3.3.1)."""
    if len(frame) < 8:
        raise BadReply("a frame shorter than its header")
    _size, doff, kind = struct.unpack_from("!IBB", frame)
    if kind != SASL_FRAME:
        raise BadReply(f"a frame of type 0x{kind:02x}, not SASL")
    if doff < 2 or doff * 4 > len(frame):
        raise BadReply(f"a frame data offset of {doff}")
    body = _Reader(frame[doff * 4 :])
    descriptor = body.descriptor()
    if descriptor not in (SASL_MECHANISMS, "amqp:sasl-mechanisms:list"):
        raise BadReply(f"SASL performative {descriptor}, not sasl-mechanisms")
    code = body.byte()
    if code == 0x45:  # list0: the mandatory field is missing
        raise BadReply("a sasl-mechanisms frame without mechanisms")
    if code not in (0xC0, 0xD0):
        raise BadReply(f"sasl-mechanisms fields of type 0x{code:02x}, not a list")
    wide = code == 0xD0
    body.size(wide)
    if body.size(wide) < 1:
        raise BadReply("a sasl-mechanisms frame without mechanisms")
    return body.symbols()


async def read_frame(stream: ByteStream) -> bytes:
    head = await stream.read_exactly(8)
    size = int(struct.unpack_from("!I", head)[0])
    if not 8 <= size <= MAX_FRAME:
        raise BadReply(f"a frame announcing {size} bytes")
    return head + await stream.read_exactly(size - 8)


def _version(version: tuple[int, int, int]) -> str:
    return ".".join(str(v) for v in version)


async def _amqp(
    stream: ByteStream, target: Target, ctx: ProbeContext, trust: Trust, deadline: float
) -> Outcome:
    secured = await secure(stream, target, ctx, trust, deadline)
    if isinstance(secured, Outcome):
        return secured
    tls, summary, facts = secured.tls, secured.summary, secured.facts
    await tls.send(SASL_HEADER)
    try:
        async with asyncio.timeout_at(deadline - MARGIN):
            answer = await tls.read_exactly(8)
    except TimeoutError:
        return Outcome.error(
            f"{summary}; but no answer to the AMQP header within {ctx.timeout:g}s: not AMQP",
            **facts,
        )
    except asyncio.IncompleteReadError as exc:
        got = f" after {hexdump(exc.partial)}" if exc.partial else ""
        return Outcome.error(
            f"{summary}; but the server closed the connection{got} instead of an AMQP header",
            **facts,
        )
    except ssl.SSLError as exc:
        return Outcome.error(f"{summary}; but a TLS alert came: {exc.reason or exc}", **facts)
    try:
        protocol, version = parse_header(answer)
    except BadReply as exc:
        return Outcome.error(f"{summary}; but {exc}: not AMQP", **facts)
    name = PROTOCOLS.get(protocol, f"protocol {protocol}")
    facts.update(amqp_protocol=name, amqp_version=_version(version))
    if version != (1, 0, 0):
        return Outcome.error(
            f"{summary}; but the server answered an AMQP {_version(version)} header "
            f"({hexdump(answer)}), not AMQP 1.0: not Service Bus",
            **facts,
        )
    if protocol != 3:
        return Outcome.open(
            f"Service Bus reachable on {target.port}: AMQP 1.0 answered with the {name} header "
            f"instead of SASL; {summary}{via_proxy(ctx)}",
            **facts,
        )
    return Outcome.open(
        f"Service Bus reachable on {target.port}: AMQP 1.0 (SASL) answered, "
        f"{await _mechanisms(tls, deadline, facts)}; {summary}{via_proxy(ctx)}",
        **facts,
    )


async def _mechanisms(tls: ByteStream, deadline: float, facts: dict[str, Any]) -> str:
    """The SASL frame's mechanisms, worded; the header alone already proved AMQP."""
    try:
        async with asyncio.timeout_at(deadline - MARGIN):
            frame = await read_frame(tls)
        mechanisms = parse_mechanisms(frame)
    except TimeoutError:
        return "no sasl-mechanisms frame in time"
    except (asyncio.IncompleteReadError, ssl.SSLError, OSError):
        return "then the connection closed before sasl-mechanisms"
    except BadReply as exc:
        return f"then a SASL frame that does not decode ({exc})"
    facts["sasl_mechanisms"] = mechanisms
    return f"mechanisms {', '.join(mechanisms) or 'none'}"


class AmqpProbe(Probe):
    name = "amqp"
    description = "AMQP 1.0 over TLS (TCP 5671): public chain, SASL header and mechanisms"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        try:
            trust = load_trust(target, ctx, alpn=None)
        except TrustFileError as exc:
            return Outcome.error(str(exc))
        deadline = asyncio.get_running_loop().time() + ctx.timeout

        async def exchange(stream: ByteStream) -> Outcome:
            return await _amqp(stream, target, ctx, trust, deadline)

        return await stream_check(target, ctx, "AMQP", exchange)
