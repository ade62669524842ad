"""NTP on UDP 123 (RFC 5905, §7.13).

One 48-byte client packet (version 4, mode 3) whose transmit timestamp the server must echo
as the originate timestamp of its mode-4 reply: that echo proves an NTP server answered
this very request. The four timestamps give the clock offset (RFC 5905 §8).
"""

from __future__ import annotations

import ipaddress
import struct
import time

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, hexdump, udp_check

NTP_EPOCH = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
CLIENT_FIRST_BYTE = 0x23  # LI 0, version 4, mode 3 (client)
MODE_SERVER = 4
PACKET = struct.Struct("!BBbb4s4s4sQQQQ")  # RFC 5905 §7.3, extension fields ignored
MAX_OFFSET = 300.0  # Kerberos tolerates 5 minutes; a DC-time source further off is a problem
LEAP_UNSYNCHRONIZED = 3


def to_ntp(unix: float) -> int:
    """A 64-bit NTP timestamp (32.32 fixed point) for a Unix time."""
    seconds = unix + NTP_EPOCH
    return (int(seconds) << 32) | int((seconds % 1) * (1 << 32))


def from_ntp(stamp: int) -> float:
    return (stamp >> 32) - NTP_EPOCH + (stamp & 0xFFFFFFFF) / (1 << 32)


def client_packet(now: float) -> tuple[bytes, int]:
    """The request and its transmit timestamp (the only non-zero field, as RFC 5905 asks)."""
    stamp = to_ntp(now)
    return bytes([CLIENT_FIRST_BYTE]) + b"\x00" * 39 + struct.pack("!Q", stamp), stamp


def _reference(stratum: int, ref_id: bytes) -> str:
    # Stratum 0-1: ASCII code (kiss code or clock source); IPv4 upstream otherwise (an IPv6
    # upstream appears as the first 4 bytes of its MD5 hash: shown in hex).
    if stratum <= 1:
        return ref_id.rstrip(b"\x00").decode("ascii", "replace")
    if ref_id[0] in (0, 255) or stratum >= 16:
        return ref_id.hex()
    return str(ipaddress.IPv4Address(ref_id))


def judge(data: bytes, sent: int, received: float) -> Outcome:
    """A reply proves NTP when it is a mode-4 packet echoing our transmit timestamp."""
    if len(data) < PACKET.size:
        raise BadReply(f"a {len(data)}-byte reply, shorter than an NTP packet ({hexdump(data)})")
    first, stratum, _poll, _precision, _delay, _disp, ref_id, _ref, origin, rx, tx = (
        PACKET.unpack_from(data)
    )
    leap, version, mode = first >> 6, (first >> 3) & 7, first & 7
    if mode != MODE_SERVER:
        raise BadReply(f"NTP mode {mode}, not 4 (server) (first bytes {hexdump(data)})")
    if version not in (3, 4):
        raise BadReply(f"NTP version {version}")
    if origin != sent:
        raise BadReply("the originate timestamp does not echo our transmit timestamp")
    reference = _reference(stratum, ref_id)
    facts: dict[str, object] = {"stratum": stratum, "reference_id": reference, "version": version}
    if stratum == 0:  # kiss-o'-death (RFC 5905 §7.4): a server, refusing to serve time
        facts["kiss_code"] = reference
        return Outcome.open(
            f"NTP server answered with kiss-o'-death {reference}: it refuses to serve time "
            "to this host",
            **facts,
        )
    offset = ((from_ntp(rx) - from_ntp(sent)) + (from_ntp(tx) - received)) / 2
    facts["offset_seconds"] = round(offset, 3) + 0.0
    facts["leap"] = leap
    detail = f"NTP server answered: stratum {stratum}, reference {reference}, offset {offset:+.3f}s"
    if leap == LEAP_UNSYNCHRONIZED or stratum >= 16:
        detail += "; WARNING: the server says its clock is unsynchronized"
    if abs(offset) > MAX_OFFSET:
        detail += f"; WARNING: offset beyond {MAX_OFFSET:.0f}s (Kerberos clock tolerance)"
    return Outcome.open(detail, **facts)


class NtpProbe(Probe):
    name = "ntp"
    description = "NTPv4 client request; a mode-4 reply echoing our timestamp proves NTP"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        wire, sent = client_packet(time.time())
        return await udp_check(
            target, ctx, "NTP", wire, lambda data: judge(data, sent, time.time())
        )
