"""NTP probe (§7.13, RFC 5905): packet layout, a recorded chrony reply, local peers, the lab."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from hybridports.probe.interface import Outcome, Verdict
from hybridports.probe.net import BadReply
from hybridports.probe.ntp import NtpProbe, client_packet, from_ntp, judge, to_ntp
from lab import Lab
from tests.peers.local import Responder, run_against_udp
from tests.probe.conftest import probe_in_client

PROBE = "hybridports.probe.ntp:NtpProbe"
# chronyd 4.3 (Debian 12, "local stratum 8", no upstream) answering client_packet(); the
# reply arrived at Unix time CHRONY_RECEIVED.
CHRONY_REQUEST = bytes.fromhex(
    "23000000000000000000000000000000000000000000000000000000000000000000000000000000eeb3cb58"
    "1d617000"
)
CHRONY_REPLY = bytes.fromhex(
    "240800e600000000000000007f7f0101eeb3cb56872dea92eeb3cb581d617000eeb3cb581d6bd9bbeeb3cb58"
    "1d74883c"
)
CHRONY_SENT = struct.unpack_from("!Q", CHRONY_REQUEST, 40)[0]
CHRONY_RECEIVED = 1795771608.1151521


def server_reply(
    request: bytes,
    *,
    mode: int = 4,
    stratum: int = 2,
    ref_id: bytes = bytes([192, 0, 2, 1]),
    leap: int = 0,
    skew: float = 0.0,
    echo: bool = True,
) -> bytes:
    """What a real server sends: our transmit timestamp as originate, its own clock after."""
    now = time.time() + skew
    origin = struct.unpack_from("!Q", request, 40)[0] if echo else 0
    first = (leap << 6) | (4 << 3) | mode
    return struct.pack(
        "!BBbb4s4s4sQQQQ",
        first, stratum, 6, -20, b"\x00" * 4, b"\x00" * 4, ref_id,
        to_ntp(now - 10), origin, to_ntp(now), to_ntp(now),
    )  # fmt: skip


def test_client_packet() -> None:
    wire, stamp = client_packet(1_700_000_000.25)
    assert len(wire) == 48 and wire[0] == 0x23  # LI 0, version 4, mode 3
    assert wire[1:40] == b"\x00" * 39  # only the transmit timestamp is set
    assert struct.unpack_from("!Q", wire, 40)[0] == stamp
    assert from_ntp(stamp) == pytest.approx(1_700_000_000.25, abs=1e-6)
    assert CHRONY_REQUEST[0] == 0x23 and len(CHRONY_REQUEST) == 48


def test_recorded_chrony_reply() -> None:
    outcome = judge(CHRONY_REPLY, CHRONY_SENT, CHRONY_RECEIVED)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.facts["stratum"] == 8
    assert outcome.facts["reference_id"] == "127.127.1.1"  # chrony's local reference
    assert outcome.facts["version"] == 4 and outcome.facts["leap"] == 0
    assert abs(outcome.facts["offset_seconds"]) < 0.01
    assert "stratum 8" in outcome.detail and "WARNING" not in outcome.detail


def test_offset_from_the_four_timestamps() -> None:
    _, sent = client_packet(1000.0)
    reply = bytearray(server_reply(b"\x00" * 40 + struct.pack("!Q", sent)))
    struct.pack_into("!QQ", reply, 32, to_ntp(1010.0), to_ntp(1010.5))  # receive, transmit
    outcome = judge(bytes(reply), sent, 1001.0)
    assert outcome.facts["offset_seconds"] == pytest.approx(9.75, abs=0.001)  # RFC 5905 §8
    assert outcome.facts["reference_id"] == "192.0.2.1"
    far = judge(bytes(reply), sent, 2000.0)
    assert far.verdict is Verdict.OPEN and "WARNING: offset beyond 300s" in far.detail


def test_kiss_of_death_and_unsynchronized() -> None:
    wire, sent = client_packet(time.time())
    kiss = judge(server_reply(wire, stratum=0, ref_id=b"RATE"), sent, time.time())
    assert kiss.verdict is Verdict.OPEN and kiss.facts["kiss_code"] == "RATE"
    unsynced = judge(server_reply(wire, leap=3), sent, time.time())
    assert unsynced.verdict is Verdict.OPEN and "unsynchronized" in unsynced.detail


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        CHRONY_REPLY[:47],  # short
        CHRONY_REQUEST,  # our own packet reflected: mode 3
        bytes([CHRONY_REPLY[0] & 0xF8 | 5]) + CHRONY_REPLY[1:],  # mode 5 (broadcast)
        bytes([0x0C]) + CHRONY_REPLY[1:],  # version 1
        CHRONY_REPLY[:24] + b"\x00" * 8 + CHRONY_REPLY[32:],  # originate not echoed
    ],
)
def test_malformed_replies(reply: bytes) -> None:
    with pytest.raises(BadReply):
        judge(reply, CHRONY_SENT, CHRONY_RECEIVED)


async def _against(answer: Responder, timeout: float = 1.0) -> Outcome:
    return await run_against_udp(NtpProbe(), answer, timeout)


def test_local_ntp_server_is_open() -> None:
    outcome = asyncio.run(_against(lambda request: server_reply(request, skew=2.5)))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.facts["stratum"] == 2
    assert outcome.facts["offset_seconds"] == pytest.approx(2.5, abs=0.2)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda request: server_reply(request, mode=3), "mode 3"),
        (lambda request: server_reply(request, echo=False), "does not echo"),
        (lambda request: request[:20], "shorter than an NTP packet"),
        (lambda request: b"\xff" * 48, "mode 7"),
    ],
)
def test_wrong_replies_are_errors(answer: Responder, words: str) -> None:
    outcome = asyncio.run(_against(answer))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


def test_silent_peer_is_filtered() -> None:
    started = time.monotonic()
    outcome = asyncio.run(_against(lambda request: None, timeout=0.6))
    assert outcome.verdict is Verdict.FILTERED
    assert time.monotonic() - started < 1.5


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_dc_has_no_ntp(lab: Lab, address: str) -> None:
    """Samba runs no NTP server: the DC's kernel answers port-unreachable."""
    outcome = probe_in_client(lab, PROBE, address, 123, "udp")
    assert outcome["verdict"] == "closed", outcome["detail"]
    assert outcome["facts"]["icmp_sender"] == address
