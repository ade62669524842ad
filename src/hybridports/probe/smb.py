"""SMB 2/3 NEGOTIATE on TCP 445 (MS-SMB2 2.2.3, 2.2.4; Direct TCP transport 2.1) (§7.7).

The request and the response are a few fixed little-endian structures, written with
``struct``: smbprotocol (or impacket) would own the socket, and we need net.py to tell RST,
silence and ICMP errors apart. One request, one response, no credentials: NEGOTIATE comes
before authentication, so no account is touched.
"""

from __future__ import annotations

import os
import struct
import uuid

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, Stream, hexdump, tcp_check

SMB2_MAGIC = b"\xfeSMB"
SMB1_MAGIC = b"\xffSMB"
HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")  # SMB2 sync header, 64 bytes
NEGOTIATE_RESPONSE = struct.Struct("<HHHH16sIIIIQQHHI")  # fixed part, 64 bytes
NEGOTIATE = 0x0000
STATUS_SUCCESS = 0
FLAGS_SERVER_TO_REDIR = 0x00000001
SIGNING_ENABLED, SIGNING_REQUIRED = 0x0001, 0x0002
# DFS | LEASING | LARGE_MTU | ENCRYPTION: what a plain Windows client announces, roughly.
CAPABILITIES = 0x00000001 | 0x00000002 | 0x00000004 | 0x00000040
DIALECTS = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}
PREAUTH_INTEGRITY, ENCRYPTION = 0x0001, 0x0002
SHA512 = 0x0001
CIPHERS = {
    0x0001: "AES-128-CCM",
    0x0002: "AES-128-GCM",
    0x0003: "AES-256-CCM",
    0x0004: "AES-256-GCM",
}
MAX_MESSAGE = 1 << 16  # a negotiate response is a few hundred bytes; Windows caps it at 64 KiB


def _context(kind: int, data: bytes) -> bytes:
    return struct.pack("<HHI", kind, len(data), 0) + data


def negotiate_request(
    client_guid: bytes | None = None, salt: bytes | None = None, encryption: bool = True
) -> bytes:
    """The framed NEGOTIATE request (Direct TCP header included)."""
    client_guid = client_guid or os.urandom(16)
    salt = salt or os.urandom(32)
    dialects = b"".join(struct.pack("<H", d) for d in DIALECTS)
    contexts = [
        _context(PREAUTH_INTEGRITY, struct.pack("<HHH", 1, len(salt), SHA512) + salt),
    ]
    if encryption:
        ciphers = (0x0002, 0x0001, 0x0004, 0x0003)  # GCM first, as Windows does
        contexts.append(
            _context(ENCRYPTION, struct.pack(f"<H{len(ciphers)}H", len(ciphers), *ciphers))
        )
    fixed_end = HEADER.size + 36 + len(dialects)
    context_offset = fixed_end + (-fixed_end % 8)  # contexts start 8-aligned from the header
    list_ = b""
    for context in contexts:
        list_ += b"\x00" * (-len(list_) % 8) + context
    body = struct.pack(
        "<HHHHI16sIHH", 36, len(DIALECTS), SIGNING_ENABLED, 0, CAPABILITIES, client_guid,
        context_offset, len(contexts), 0,
    )  # fmt: skip
    body += dialects + b"\x00" * (context_offset - fixed_end) + list_
    header = HEADER.pack(SMB2_MAGIC, 64, 0, 0, NEGOTIATE, 1, 0, 0, 0, 0, 0, 0, b"\x00" * 16)
    message = header + body
    return b"\x00" + len(message).to_bytes(3, "big") + message


def _contexts(message: bytes, offset: int, count: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for _ in range(min(count, 16)):
        offset += -offset % 8
        if offset + 8 > len(message):
            raise BadReply("negotiate context list runs past the end of the message")
        kind, length, _reserved = struct.unpack_from("<HHI", message, offset)
        data = message[offset + 8 : offset + 8 + length]
        if len(data) != length:
            raise BadReply("truncated negotiate context")
        found[kind] = data
        offset += 8 + length
    return found


def parse_negotiate_response(message: bytes) -> Outcome:
    """Judge one SMB message (Direct TCP header removed)."""
    if message[:4] == SMB1_MAGIC:
        return Outcome.error(
            "SMB1 only: the server answered the SMB2 NEGOTIATE in SMB1 (no SMB 2/3 support)",
            dialect="1",
        )
    if len(message) < HEADER.size or message[:4] != SMB2_MAGIC:
        raise BadReply(f"not an SMB2 message (first bytes {hexdump(message)})")
    _magic, size, _charge, status, command, _credits, flags, *_ = HEADER.unpack_from(message)
    if size != 64 or command != NEGOTIATE or not flags & FLAGS_SERVER_TO_REDIR:
        raise BadReply(f"SMB2 header that is not a NEGOTIATE response ({hexdump(message)})")
    if status != STATUS_SUCCESS:
        return Outcome.error(
            f"SMB2 server refused NEGOTIATE with status 0x{status:08x} (no common dialect?)",
            status=f"0x{status:08x}",
        )
    if len(message) < HEADER.size + NEGOTIATE_RESPONSE.size:
        raise BadReply("truncated SMB2 NEGOTIATE response")
    (
        structure_size, security_mode, dialect, context_count, server_guid, capabilities,
        max_transact, max_read, max_write, _time, _start, blob_offset, blob_length,
        context_offset,
    ) = NEGOTIATE_RESPONSE.unpack_from(message, HEADER.size)  # fmt: skip
    if structure_size != 65:
        raise BadReply(f"SMB2 NEGOTIATE response with StructureSize {structure_size}, not 65")
    if dialect not in DIALECTS:
        raise BadReply(f"SMB2 server chose dialect 0x{dialect:04x}, which was not offered")
    blob = message[blob_offset : blob_offset + blob_length]
    if len(blob) != blob_length:
        raise BadReply("SMB2 security buffer runs past the end of the message")
    signing_required = bool(security_mode & SIGNING_REQUIRED)
    facts: dict[str, object] = {
        "dialect": DIALECTS[dialect],
        "signing_enabled": bool(security_mode & (SIGNING_ENABLED | SIGNING_REQUIRED)),
        "signing_required": signing_required,
        "server_guid": str(uuid.UUID(bytes_le=server_guid)),
        "capabilities": f"0x{capabilities:08x}",
        "max_transact_size": max_transact,
        "max_read_size": max_read,
        "max_write_size": max_write,
        "security_blob": blob_length > 0,
        "security_blob_spnego": blob[:1] == b"\x60",  # GSS-API InitialContextToken
    }
    if dialect == 0x0311:
        contexts = _contexts(message, context_offset, context_count)
        cipher = contexts.get(ENCRYPTION, b"")
        if len(cipher) >= 4 and struct.unpack_from("<H", cipher)[0] >= 1:
            chosen = struct.unpack_from("<H", cipher, 2)[0]
            facts["cipher"] = CIPHERS.get(chosen, f"0x{chosen:04x}")
    signing = "signing required" if signing_required else "signing NOT required"
    blob_text = "SPNEGO security blob" if facts["security_blob_spnego"] else "no SPNEGO blob"
    return Outcome.open(
        f"SMB {facts['dialect']} NEGOTIATE answered ({signing}, {blob_text}, "
        f"server GUID {facts['server_guid']})",
        **facts,
    )


async def read_message(stream: Stream) -> bytes:
    frame = await stream.read_exactly(4)
    length = int.from_bytes(frame[1:], "big")
    if frame[0] != 0 or not 4 <= length <= MAX_MESSAGE:
        raise BadReply(f"not a Direct TCP SMB frame (first bytes {hexdump(frame)})")
    return await stream.read_exactly(length)


class SmbProbe(Probe):
    name = "smb"
    description = "SMB2/3 NEGOTIATE (dialects 2.0.2-3.1.1): dialect, signing, server GUID"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        async def exchange(stream: Stream) -> Outcome:
            await stream.send(negotiate_request())
            return parse_negotiate_response(await read_message(stream))

        return await tcp_check(target, ctx, "SMB2", exchange)
