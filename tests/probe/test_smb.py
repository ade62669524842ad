"""SMB2 NEGOTIATE probe (§7.7): encoding, a reply recorded from Samba, hostile peers, the lab."""

from __future__ import annotations

import asyncio
import struct

import pytest

from hybridports.probe.interface import Outcome, Verdict
from hybridports.probe.net import BadReply
from hybridports.probe.smb import SmbProbe, negotiate_request, parse_negotiate_response
from lab import Lab
from tests.peers.local import Handler, close_at_once, replying, run_against_tcp, silent
from tests.probe.conftest import probe_in_client

PROBE = "hybridports.probe.smb:SmbProbe"
# Samba 4.17 (lab DC) answering negotiate_request(client_guid=11.., salt=22..), Direct TCP
# header included.
SAMBA_REPLY = bytes.fromhex(
    "0000011cfe534d424000000000000000000001000100000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000004100030011030200646330310000000000"
    "000000000000000700000000008000000080000000800028cc3612517edd010000000000000000800060"
    "00e0000000605e06062b0601050502a0543052a024302206092a864882f71201020206092a864886f712"
    "010202060a2b06010401823702020aa32a3028a0261b246e6f745f646566696e65645f696e5f52464334"
    "31373840706c656173655f69676e6f726501002600000000000100200001008b63ec49c3de5288b20ac8"
    "1868516e7f3784aefeccfe8ec805c309e27f36cbf30000020004000000000001000200"
)
MESSAGE = SAMBA_REPLY[4:]


def test_request_layout() -> None:
    wire = negotiate_request(client_guid=b"\x11" * 16, salt=b"\x22" * 32)
    assert wire[0] == 0 and int.from_bytes(wire[1:4], "big") == len(wire) - 4
    smb = wire[4:]
    assert smb[:4] == b"\xfeSMB"
    size, _charge, status, command = struct.unpack_from("<HHIH", smb, 4)
    assert (size, status, command) == (64, 0, 0)
    assert struct.unpack_from("<Q", smb, 24)[0] == 0  # MessageId
    body = smb[64:]
    structure, count, security_mode = struct.unpack_from("<HHH", body)
    assert (structure, count, security_mode) == (36, 5, 1)
    assert body[12:28] == b"\x11" * 16
    offset, contexts = struct.unpack_from("<IH", body, 28)
    assert offset % 8 == 0 and contexts == 2
    dialects = struct.unpack_from("<5H", body, 36)
    assert dialects == (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)
    kind, length = struct.unpack_from("<HH", smb, offset)
    assert (kind, length) == (1, 38)  # preauth integrity: 1 hash, 32-byte salt
    assert struct.unpack_from("<HHH", smb, offset + 8) == (1, 32, 0x0001)  # SHA-512
    assert smb[offset + 14 : offset + 46] == b"\x22" * 32
    assert len(negotiate_request(encryption=False)) < len(wire)


def test_request_is_random() -> None:
    guid = slice(4 + 64 + 12, 4 + 64 + 28)
    assert negotiate_request()[guid] != negotiate_request()[guid]


def test_recorded_samba_reply() -> None:
    outcome = parse_negotiate_response(MESSAGE)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.facts["dialect"] == "3.1.1"
    assert outcome.facts["signing_required"] is True
    assert outcome.facts["server_guid"] == "31306364-0000-0000-0000-000000000000"
    assert outcome.facts["security_blob_spnego"] is True
    assert outcome.facts["max_read_size"] == 8388608
    assert outcome.facts["cipher"] == "AES-128-GCM"
    assert "signing required" in outcome.detail


def _with_dialect(dialect: int, security_mode: int = 1) -> bytes:
    changed = bytearray(MESSAGE)
    struct.pack_into("<HH", changed, 66, security_mode, dialect)
    return bytes(changed)


def test_older_dialect_and_optional_signing() -> None:
    outcome = parse_negotiate_response(_with_dialect(0x0210))
    assert outcome.facts["dialect"] == "2.1"
    assert outcome.facts["signing_required"] is False
    assert "cipher" not in outcome.facts
    assert "signing NOT required" in outcome.detail


def test_smb1_reply_is_an_error() -> None:
    outcome = parse_negotiate_response(b"\xffSMBr" + b"\x00" * 40)
    assert outcome.verdict is Verdict.ERROR and "SMB1 only" in outcome.detail


def test_refused_status_is_an_error() -> None:
    changed = bytearray(MESSAGE)
    struct.pack_into("<I", changed, 8, 0xC00000BB)  # STATUS_NOT_SUPPORTED
    outcome = parse_negotiate_response(bytes(changed))
    assert outcome.verdict is Verdict.ERROR and "0xc00000bb" in outcome.detail


@pytest.mark.parametrize(
    "message",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        MESSAGE[:40],  # truncated header
        MESSAGE[:100],  # truncated negotiate response
        MESSAGE[:-40],  # security blob or contexts cut off
        MESSAGE[:12] + b"\x05\x00" + MESSAGE[14:],  # not NEGOTIATE
        MESSAGE[:64] + b"\x11\x00" + MESSAGE[66:],  # StructureSize 17
        _with_dialect(0x0201),  # a dialect nobody offered
    ],
)
def test_malformed_replies(message: bytes) -> None:
    with pytest.raises(BadReply):
        parse_negotiate_response(message)


async def _against(handler: Handler) -> Outcome:
    return await run_against_tcp(SmbProbe(), handler)


def test_peer_speaking_smb2_is_open() -> None:
    outcome = asyncio.run(_against(replying(SAMBA_REPLY)))
    assert outcome.verdict is Verdict.OPEN, outcome.detail


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (replying(b"SSH-2.0-OpenSSH_9.2\r\n"), "not SMB2"),
        (replying(b"\x00\xff\xff\xff" + b"\x00" * 64, close=False), "not SMB2"),  # huge
        (replying(SAMBA_REPLY[:120]), "closed mid-reply"),  # truncated, then closed
        (replying(b"\x00\x00\x00\x2f\xffSMBr" + b"\x00" * 42), "SMB1 only"),
        (close_at_once, "closed the connection"),
        (silent, "no SMB2 reply within"),
    ],
)
def test_hostile_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = asyncio.run(_against(handler))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_dc_is_open(lab: Lab, address: str) -> None:
    outcome = probe_in_client(lab, PROBE, address, 445, "tcp")
    assert outcome["verdict"] == "open", outcome["detail"]
    assert outcome["facts"]["dialect"] == "3.1.1"
    assert outcome["facts"]["signing_required"] is True  # a DC requires signing
    assert outcome["facts"]["security_blob"] is True
    assert outcome["facts"]["server_guid"]


@pytest.mark.peers
def test_port_without_listener_is_closed(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, "198.18.2.10", 446, "tcp")
    assert outcome["verdict"] == "closed", outcome["detail"]
