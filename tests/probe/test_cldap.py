"""CLDAP LDAP ping (§7.3): encoding, Samba's recorded reply, malformed and hostile peers, lab."""

from __future__ import annotations

import asyncio
import struct

import pytest
from pyasn1.codec.ber import decoder, encoder
from pyasn1_modules import rfc2251  # type: ignore[import-untyped]

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from hybridports.probe.ldap.cldap import (
    CldapProbe,
    flag_names,
    judge,
    parse_netlogon,
    ping_request,
    read_name,
)
from hybridports.probe.net import BadReply
from lab import Lab
from tests.peers.local import answering, run_against_udp
from tests.probe.conftest import probe_in_client

PROBE = "hybridports.probe.ldap:CldapProbe"
DOMAIN = "lab.hybridports.test"
CTX = ProbeContext(timeout=1.0, domain=DOMAIN)
# ping_request(DOMAIN) (identical to tests/lab/cldap.py's hand-written encoder), and Samba
# 4.17's answer: SearchResultEntry (Netlogon) + SearchResultDone in one datagram.
REQUEST = bytes.fromhex(
    "3056020101635104000a01000a0100020100020100010100a032a3210409446e73446f6d61696e04146c6162"
    "2e687962726964706f7274732e74657374a30d04054e74566572040406000000300a04084e65746c6f676f6e"
)
SAMBA_REPLY = bytes.fromhex(
    "307f020101647a04003076307404086e65746c6f676f6e3168046617000000fd130000bc9d5e3bb5b73f40a5"
    "430d7792eefe22036c61620b687962726964706f727473047465737400c0180464633031c018034c41420004"
    "4443303100001744656661756c742d46697273742d536974652d4e616d6500c04305000000ffffffff300c02"
    "010165070a010004000400"
)
# Samba's answer to ping_request("wrong.example"): SearchResultDone alone.
SAMBA_WRONG_DOMAIN = bytes.fromhex("300c02010165070a010004000400")
NETLOGON = SAMBA_REPLY[0x1B : 0x1B + 0x66]


def entry(blob: bytes | None, message_id: int = 1) -> bytes:
    found = rfc2251.SearchResultEntry()
    found["objectName"] = ""
    if blob is not None:
        attribute = found["attributes"].getComponentType().clone()
        attribute["type"] = "netlogon"
        attribute["vals"].append(blob)
        found["attributes"].append(attribute)
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    message["protocolOp"]["searchResEntry"] = found
    return bytes(encoder.encode(message))


def done(code: int = 0, message_id: int = 1) -> bytes:
    result = rfc2251.SearchResultDone()
    result["resultCode"] = code
    result["matchedDN"] = ""
    result["errorMessage"] = ""
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    message["protocolOp"]["searchResDone"] = result
    return bytes(encoder.encode(message))


def with_flags(flags: int) -> bytes:
    return NETLOGON[:4] + struct.pack("<I", flags) + NETLOGON[8:]


def test_request_matches_the_recorded_one() -> None:
    assert ping_request(DOMAIN) == REQUEST


def test_request_without_a_domain_keeps_the_and() -> None:
    message, rest = decoder.decode(ping_request(None), asn1Spec=rfc2251.LDAPMessage())
    assert rest == b""
    search = message["protocolOp"]["searchRequest"]
    assert str(search["baseObject"]) == ""
    assert int(search["scope"]) == 0 and int(search["derefAliases"]) == 0
    assert int(search["sizeLimit"]) == 0 and int(search["timeLimit"]) == 0
    assert not bool(search["typesOnly"])
    items = search["filter"]["and"]
    assert len(items) == 1  # Samba ignores a bare (NtVer=...) but answers (&(NtVer=...))
    assert str(items[0]["equalityMatch"]["attributeDesc"]) == "NtVer"
    assert bytes(items[0]["equalityMatch"]["assertionValue"]) == b"\x06\x00\x00\x00"
    assert [str(a) for a in search["attributes"]] == ["Netlogon"]


def test_recorded_samba_reply() -> None:
    outcome = judge(SAMBA_REPLY, CTX)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail == (
        "DC dc01.lab.hybridports.test answered the LDAP ping: writable, GC, KDC, PDC, "
        "time server; site Default-First-Site-Name"
    )
    facts = outcome.facts
    assert facts["opcode"] == 23
    assert facts["flags"] == "0x000013fd"
    assert facts["flag_names"] == [
        "PDC", "GC", "LDAP", "DS", "KDC", "TIMESERV", "CLOSEST", "WRITABLE", "GOOD_TIMESERV",
        "FULL_SECRET_DOMAIN_6",
    ]  # fmt: skip
    assert (facts["writable"], facts["gc"], facts["adws"]) == (True, True, False)
    assert facts["domain_guid"] == "3b5e9dbc-b7b5-403f-a543-0d7792eefe22"
    assert (facts["forest"], facts["domain"]) == (DOMAIN, DOMAIN)
    assert facts["host"] == "dc01.lab.hybridports.test"
    assert (facts["netbios_domain"], facts["netbios_host"]) == ("LAB", "DC01")
    assert facts["dc_site"] == facts["client_site"] == "Default-First-Site-Name"


def test_netlogon_structure() -> None:
    parsed = parse_netlogon(NETLOGON)
    assert parsed.names["user"] == ""
    assert parsed.nt_version == 5  # NETLOGON_NT_VERSION_1 | NETLOGON_NT_VERSION_5EX


def test_read_only_dc_is_open_with_a_warning() -> None:
    rodc = (0x13FD & ~0x100 & ~0x1000) | 0x800 | 0x2000
    outcome = judge(entry(with_flags(rodc)) + done(), CTX)
    assert outcome.verdict is Verdict.OPEN
    assert "read-only" in outcome.detail and "ADWS" in outcome.detail
    assert "read-only DC: Entra Connect needs a writable DC" in outcome.detail
    assert outcome.facts["writable"] is False and outcome.facts["adws"] is True
    assert "SELECT_SECRET_DOMAIN_6" in outcome.facts["flag_names"]


def test_flag_names_keep_unknown_bits() -> None:
    assert flag_names(0xE0000000 | 0x100000) == [
        "DNS_CONTROLLER",
        "DNS_DOMAIN",
        "DNS_FOREST",
        "0x00100000",
    ]


def test_paused_netlogon_is_an_error() -> None:
    paused = struct.pack("<H", 24) + NETLOGON[2:]
    outcome = judge(entry(paused) + done(), CTX)
    assert outcome.verdict is Verdict.ERROR and "paused" in outcome.detail


def test_user_unknown_opcode_is_accepted() -> None:
    assert judge(entry(struct.pack("<H", 25) + NETLOGON[2:]) + done(), CTX).verdict is Verdict.OPEN


def test_wrong_domain_is_an_error_naming_it() -> None:
    outcome = judge(SAMBA_WRONG_DOMAIN, ProbeContext(domain="wrong.example"))
    assert outcome.verdict is Verdict.ERROR
    assert "not a DC for domain wrong.example" in outcome.detail


def test_another_domain_in_the_reply_is_named() -> None:
    outcome = judge(SAMBA_REPLY, ProbeContext(domain="other.test"))
    assert outcome.verdict is Verdict.OPEN
    assert "domain is lab.hybridports.test, not other.test" in outcome.detail


def test_unmapped_client_subnet_is_named() -> None:
    no_client_site = NETLOGON[: NETLOGON.index(b"\xc0\x43")] + b"\x00" + NETLOGON[-8:]
    outcome = judge(entry(no_client_site) + done(), CTX)
    assert outcome.verdict is Verdict.OPEN
    assert outcome.facts["client_site"] == ""
    assert "maps to no AD site" in outcome.detail


def test_compressed_names() -> None:
    blob = b"\x03lab\x04test\x00\x04dc01\xc0\x00"
    assert read_name(blob, 0) == ("lab.test", 10)
    assert read_name(blob, 10) == ("dc01.lab.test", 17)


@pytest.mark.parametrize(
    "blob",
    [
        b"\x03lab\x04te",  # label past the end
        b"\x03lab",  # no terminating zero
        b"\xc0\x00",  # pointer to itself
        b"\x00\xc0\x05",  # pointer forwards
        b"\x03ab",  # truncated label
        b"\x41abc\x00",  # reserved length bits
        b"\x02\xff\xfe\x00",  # not UTF-8
        b"\xc0",  # truncated pointer
    ],
)
def test_malformed_names(blob: bytes) -> None:
    start = 1 if blob.startswith(b"\x00") else 0
    with pytest.raises(BadReply):
        read_name(blob, start)


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"garbage",
        b"\x30\x03\x02\x01",  # truncated
        SAMBA_REPLY[:100],
        SAMBA_REPLY[:-3],
        b"\x00\x00\x81\x80\x00\x01\x00\x00",  # a DNS header
        entry(NETLOGON, message_id=2) + done(message_id=2),  # not our message
        entry(None) + done(),  # entry without Netlogon
        entry(NETLOGON[:20]) + done(),  # Netlogon too short
        entry(struct.pack("<H", 19) + NETLOGON[2:]) + done(),  # old NT4-style opcode
        entry(NETLOGON[:40]) + done(),  # names cut
        entry(NETLOGON) + done(code=1),  # operationsError
        done(code=0)[:-1],
    ],
)
def test_malformed_replies(reply: bytes) -> None:
    with pytest.raises(BadReply):
        judge(reply, CTX)


async def _udp_against(reply: bytes | None, timeout: float = 1.0) -> Outcome:
    return await run_against_udp(CldapProbe(), answering(reply), timeout, domain=DOMAIN)


def test_udp_peers() -> None:
    assert asyncio.run(_udp_against(SAMBA_REPLY)).verdict is Verdict.OPEN
    garbage = asyncio.run(_udp_against(b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 32))
    assert garbage.verdict is Verdict.ERROR and "not CLDAP" in garbage.detail
    truncated = asyncio.run(_udp_against(SAMBA_REPLY[:60]))
    assert truncated.verdict is Verdict.ERROR
    silent = asyncio.run(_udp_against(None, timeout=0.6))
    assert silent.verdict is Verdict.FILTERED


def test_tcp_target_is_skipped() -> None:
    target = Target("peer", "127.0.0.1", 389, Transport.TCP)
    assert asyncio.run(CldapProbe().check(target, CTX)).verdict is Verdict.SKIPPED


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_answers_the_ldap_ping(lab: Lab, address: str) -> None:
    outcome = probe_in_client(lab, PROBE, address, 389, "udp", "--domain", lab.dns_domain)
    assert outcome["verdict"] == "open", outcome["detail"]
    facts = outcome["facts"]
    assert facts["host"] == lab.dc_fqdn
    assert facts["domain"] == facts["forest"] == lab.dns_domain
    assert facts["writable"] is True and facts["gc"] is True
    assert facts["opcode"] == 23
    assert facts["dc_site"] == "Default-First-Site-Name"
    assert f"DC {lab.dc_fqdn} answered the LDAP ping: writable, GC, KDC" in outcome["detail"]


@pytest.mark.peers
def test_samba_answers_without_a_domain(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 389, "udp")
    assert outcome["verdict"] == "open", outcome["detail"]
    assert outcome["facts"]["domain"] == lab.dns_domain


@pytest.mark.peers
def test_samba_with_a_wrong_domain_is_an_error(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 389, "udp", "--domain", "wrong.example")
    assert outcome["verdict"] == "error"
    assert "not a DC for domain wrong.example" in outcome["detail"]


@pytest.mark.peers
def test_port_without_listener_is_closed(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 390, "udp", "--domain", lab.dns_domain)
    assert outcome["verdict"] == "closed", outcome["detail"]
