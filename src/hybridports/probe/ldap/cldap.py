"""CLDAP "LDAP ping" on UDP 389 (spec §7.3; MS-ADTS 6.3.3, reply MS-ADTS 6.3.1.9).

One datagram holds an LDAPv3 SearchRequest of the rootDSE for the ``Netlogon`` attribute with
the filter ``(&(DnsDomain=<domain>)(NtVer=0x00000006))``; a DC answers with a
SearchResultEntry whose value is a NETLOGON_SAM_LOGON_RESPONSE_EX, then SearchResultDone.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Any

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.ldap import codec
from hybridports.probe.net import BadReply, udp_check

NT_VERSION = struct.pack("<I", 0x00000006)  # NETLOGON_NT_VERSION_5 | NETLOGON_NT_VERSION_5EX
MESSAGE_ID = 1
LOGON_SAM_LOGON_RESPONSE_EX = 23
LOGON_SAM_PAUSE_RESPONSE_EX = 24
LOGON_SAM_USER_UNKNOWN_EX = 25

# DS_FLAG bits (MS-ADTS 6.3.1.2), in the order they are reported.
DS_FLAGS: dict[int, str] = {
    0x00000001: "PDC",
    0x00000004: "GC",
    0x00000008: "LDAP",
    0x00000010: "DS",
    0x00000020: "KDC",
    0x00000040: "TIMESERV",
    0x00000080: "CLOSEST",
    0x00000100: "WRITABLE",
    0x00000200: "GOOD_TIMESERV",
    0x00000400: "NDNC",
    0x00000800: "SELECT_SECRET_DOMAIN_6",  # an RODC
    0x00001000: "FULL_SECRET_DOMAIN_6",
    0x00002000: "WS",  # Active Directory Web Services running
    0x00004000: "DS_8",
    0x00008000: "DS_9",
    0x00010000: "DS_10",
    0x00020000: "KEY_LIST",
    0x00040000: "DS_13",
    0x20000000: "DNS_CONTROLLER",
    0x40000000: "DNS_DOMAIN",
    0x80000000: "DNS_FOREST",
}
PDC, GC, KDC, TIMESERV, WRITABLE, RODC, ADWS = 0x1, 0x4, 0x20, 0x40, 0x100, 0x800, 0x2000
NAMES = (
    "forest",
    "domain",
    "host",
    "netbios_domain",
    "netbios_host",
    "user",
    "dc_site",
    "client_site",
)
MAX_POINTERS = 32  # a name never needs more jumps; more means a pointer loop


def flag_names(flags: int) -> list[str]:
    names = [name for bit, name in DS_FLAGS.items() if flags & bit]
    unknown = flags & ~sum(DS_FLAGS)
    if unknown:
        names.append(f"0x{unknown:08x}")
    return names


def ping_request(domain: str | None) -> bytes:
    """The LDAP ping; without a domain the ``and`` keeps NtVer alone (Samba needs the ``and``)."""
    items = [codec.equality("NtVer", NT_VERSION)]
    if domain:
        items.insert(0, codec.equality("DnsDomain", domain.encode()))
    return codec.base_search(MESSAGE_ID, codec.and_filter(*items), ["Netlogon"])


def read_name(blob: bytes, offset: int) -> tuple[str, int]:
    """An RFC 1035 §4.1.4 compressed name at ``offset``; (name, offset after it)."""
    labels: list[str] = []
    resume: int | None = None
    position = offset
    for _ in range(MAX_POINTERS + 64):
        if position >= len(blob):
            raise BadReply("Netlogon name runs past the end of the structure")
        length = blob[position]
        if length == 0:
            return ".".join(labels), resume if resume is not None else position + 1
        if length & 0xC0 == 0xC0:
            if position + 1 >= len(blob):
                raise BadReply("truncated compression pointer in a Netlogon name")
            pointer = ((length & 0x3F) << 8) | blob[position + 1]
            if pointer >= position:  # only backward pointers: forward ones can loop
                raise BadReply(f"Netlogon name pointer {pointer} does not point backwards")
            if resume is None:
                resume = position + 2
            position = pointer
            continue
        if length & 0xC0:
            raise BadReply(f"invalid label length byte 0x{length:02x} in a Netlogon name")
        label = blob[position + 1 : position + 1 + length]
        if len(label) != length:
            raise BadReply("Netlogon name label runs past the end of the structure")
        try:
            labels.append(label.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadReply("Netlogon name label is not UTF-8") from None
        position += 1 + length
    raise BadReply("Netlogon name has too many labels or pointers")


@dataclass(frozen=True)
class SamLogonResponseEx:
    """NETLOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9), the fields the probe reports."""

    opcode: int
    flags: int
    domain_guid: str
    names: dict[str, str]
    nt_version: int | None

    def facts(self) -> dict[str, Any]:
        return {
            "opcode": self.opcode,
            "flags": f"0x{self.flags:08x}",
            "flag_names": flag_names(self.flags),
            "writable": bool(self.flags & WRITABLE),
            "gc": bool(self.flags & GC),
            "adws": bool(self.flags & ADWS),
            "domain_guid": self.domain_guid,
            "forest": self.names["forest"],
            "domain": self.names["domain"],
            "host": self.names["host"],
            "netbios_domain": self.names["netbios_domain"],
            "netbios_host": self.names["netbios_host"],
            "dc_site": self.names["dc_site"],
            "client_site": self.names["client_site"],
        }


def parse_netlogon(blob: bytes) -> SamLogonResponseEx:
    if len(blob) < 24:
        raise BadReply(f"Netlogon value of {len(blob)} bytes is too short")
    opcode, _sbz, flags = struct.unpack_from("<HHI", blob)
    if opcode not in (
        LOGON_SAM_LOGON_RESPONSE_EX,
        LOGON_SAM_PAUSE_RESPONSE_EX,
        LOGON_SAM_USER_UNKNOWN_EX,
    ):
        raise BadReply(f"Netlogon opcode {opcode}, not a NETLOGON_SAM_LOGON_RESPONSE_EX (23)")
    guid = str(uuid.UUID(bytes_le=blob[8:24]))
    names: dict[str, str] = {}
    offset = 24
    for key in NAMES:
        names[key], offset = read_name(blob, offset)
    # NtVer 6 asks for neither the DC socket address nor the next closest site, so the
    # NtVersion field follows directly; other layouts are not needed for the verdict.
    nt_version = struct.unpack_from("<I", blob, offset)[0] if len(blob) >= offset + 4 else None
    return SamLogonResponseEx(opcode, flags, guid, names, nt_version)


def _roles(flags: int) -> str:
    roles = ["writable" if flags & WRITABLE else "read-only"]
    roles += [name for bit, name in ((GC, "GC"), (KDC, "KDC"), (PDC, "PDC")) if flags & bit]
    if flags & TIMESERV:
        roles.append("time server")
    if flags & ADWS:
        roles.append("ADWS")
    return ", ".join(roles)


def judge(data: bytes, ctx: ProbeContext) -> Outcome:
    reply = codec.parse_datagram(data, MESSAGE_ID)
    if reply.entries == 0:
        if reply.done:
            asked = f"domain {ctx.domain}" if ctx.domain else "any domain"
            return Outcome.error(
                f"LDAP server answered the LDAP ping with no Netlogon entry (result "
                f"{reply.result_name}): not a DC for {asked}",
                result_code=reply.result_code,
            )
        raise BadReply("an LDAP reply without SearchResultEntry or SearchResultDone")
    blob = reply.first("Netlogon")
    if blob is None:
        raise BadReply("SearchResultEntry without a Netlogon value")
    response = parse_netlogon(blob)
    facts = response.facts()
    if reply.done and reply.result_code != 0:
        raise BadReply(f"SearchResultDone with resultCode {reply.result_name}")
    names = response.names
    host = names["host"] or names["netbios_host"] or "?"
    if response.opcode == LOGON_SAM_PAUSE_RESPONSE_EX:
        return Outcome.error(
            f"DC {host} answered the LDAP ping, but its Netlogon service is paused", **facts
        )
    detail = f"DC {host} answered the LDAP ping: {_roles(response.flags)}"
    detail += f"; site {names['dc_site'] or '(none)'}"
    if not names["client_site"]:
        detail += "; this client's subnet maps to no AD site"
    elif names["client_site"] != names["dc_site"]:
        detail += f" (client site {names['client_site']})"
    if ctx.domain and names["domain"] and names["domain"].lower() != ctx.domain.lower():
        detail += f"; domain is {names['domain']}, not {ctx.domain}"
    if not response.flags & WRITABLE:
        detail += "; read-only DC: Entra Connect needs a writable DC"
    if not reply.done:
        detail += " (no SearchResultDone in the datagram)"
    return Outcome.open(detail, **facts)


class CldapProbe(Probe):
    name = "cldap"
    description = "CLDAP LDAP ping (UDP 389): Netlogon SAM_LOGON_RESPONSE_EX with the DC flags"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        if target.transport is not Transport.UDP:
            return Outcome.skipped("the LDAP ping runs over UDP only; TCP 389 is the ldap probe")
        request = ping_request(ctx.domain)
        return await udp_check(
            target, ctx, "CLDAP (LDAP ping)", request, lambda data: judge(data, ctx)
        )
