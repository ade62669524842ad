"""A stdlib CLDAP "LDAP ping" (MS-ADTS 6.3.3): one UDP datagram to port 389 holding an LDAP
SearchRequest (base "", scope base, filter (&(DnsDomain=...)(NtVer=...)), attribute
Netlogon); the DC answers with a SearchResultEntry whose Netlogon value is a
NETLOGON_SAM_LOGON_RESPONSE_EX. Used by the lab tests; runnable as a script:

    python3 cldap.py 198.18.2.10 lab.hybridports.test
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import uuid
from typing import Any

NT_VERSION_5_5EX = b"\x06\x00\x00\x00"  # NETLOGON_NT_VERSION_5 | NETLOGON_NT_VERSION_5EX


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _eq(attr: str, value: bytes) -> bytes:  # equalityMatch [3]
    return _tlv(0xA3, _tlv(0x04, attr.encode()) + _tlv(0x04, value))


def request(domain: str, message_id: int = 1, ntver: bytes = NT_VERSION_5_5EX) -> bytes:
    search = b"".join(
        [
            _tlv(0x04, b""),  # baseObject ""
            _tlv(0x0A, b"\x00"),  # scope baseObject
            _tlv(0x0A, b"\x00"),  # derefAliases never
            _tlv(0x02, b"\x00"),  # sizeLimit 0
            _tlv(0x02, b"\x00"),  # timeLimit 0
            _tlv(0x01, b"\x00"),  # typesOnly FALSE
            _tlv(0xA0, _eq("DnsDomain", domain.encode()) + _eq("NtVer", ntver)),  # and [0]
            _tlv(0x30, _tlv(0x04, b"Netlogon")),  # attributes
        ]
    )
    return _tlv(0x30, _tlv(0x02, bytes([message_id])) + _tlv(0x63, search))


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One BER element at ``pos``: (tag, content, position after it)."""
    tag, n = data[pos], data[pos + 1]
    pos += 2
    if n & 0x80:
        width = n & 0x7F
        n = int.from_bytes(data[pos : pos + width], "big")
        pos += width
    return tag, data[pos : pos + n], pos + n


def _children(content: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(content):
        tag, value, pos = _read(content, pos)
        out.append((tag, value))
    return out


def parse_reply(data: bytes) -> dict[str, Any]:
    """Split the datagram into LDAP messages; return the Netlogon blob and the result code."""
    out: dict[str, Any] = {"ops": [], "netlogon": None, "result_code": None}
    pos = 0
    while pos < len(data):
        _, message, pos = _read(data, pos)
        (_, _msgid), (op_tag, op) = _children(message)[:2]
        out["ops"].append(op_tag)
        if op_tag == 0x64:  # SearchResultEntry: objectName, attributes
            for _, attribute in _children(_children(op)[1][1]):
                (_, name), (_, values) = _children(attribute)
                if name.lower() == b"netlogon":
                    out["netlogon"] = _children(values)[0][1]
        elif op_tag == 0x65:  # SearchResultDone: resultCode ENUMERATED first
            out["result_code"] = _children(op)[0][1][0]
    return out


def _name(blob: bytes, pos: int) -> tuple[str, int]:
    """A DNS-style (RFC 1035 compressed) name at ``pos``; returns (name, next position)."""
    labels: list[str] = []
    end = None
    while True:
        n = blob[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 == 0xC0:
            if end is None:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | blob[pos + 1]
            continue
        labels.append(blob[pos + 1 : pos + 1 + n].decode())
        pos += 1 + n
    return ".".join(labels), (end if end is not None else pos)


def parse_netlogon(blob: bytes) -> dict[str, Any]:
    """NETLOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9)."""
    opcode, _sbz, flags = struct.unpack_from("<HHI", blob, 0)
    guid = str(uuid.UUID(bytes_le=blob[8:24]))
    pos = 24
    names = {}
    for key in ("forest", "domain", "host", "netbios_domain", "netbios_host", "user", "dc_site"):
        names[key], pos = _name(blob, pos)
    names["client_site"], pos = _name(blob, pos)
    return {"opcode": opcode, "flags": flags, "domain_guid": guid, **names}


def ping(host: str, domain: str, timeout: float = 2.0, port: int = 389) -> dict[str, Any]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.send(request(domain))
        data = sock.recv(65535)
    reply = parse_reply(data)
    netlogon = reply.pop("netlogon")
    reply["netlogon"] = parse_netlogon(netlogon) if netlogon else None
    return reply


if __name__ == "__main__":
    print(json.dumps(ping(sys.argv[1], sys.argv[2]), indent=2))
