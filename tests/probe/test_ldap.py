"""LDAP rootDSE (§7.4): encoding, BER framing, Samba's recorded reply, hostile peers, the lab."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from pyasn1.codec.ber import decoder, encoder
from pyasn1_modules import rfc2251  # type: ignore[import-untyped]

from hybridports.probe.interface import Outcome, Verdict
from hybridports.probe.ldap import codec
from hybridports.probe.ldap.rootdse import ATTRIBUTES, LdapProbe, judge, request
from hybridports.probe.net import BadReply
from lab import Lab
from tests.peers.local import Handler, close_at_once, replying, run_against_tcp, silent
from tests.probe.conftest import probe_in_client

PROBE = "hybridports.probe.ldap:LdapProbe"
DATA = Path(__file__).resolve().parent.parent / "data" / "probe" / "ldap"
# Samba 4.17's whole TCP answer to request() on 389 (3268 sent the same bytes).
SAMBA_ROOTDSE = (DATA / "rootdse_samba.bin").read_bytes()


class Replay:
    """A Channel that answers from recorded bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sent = b""

    async def send(self, data: bytes) -> None:
        self.sent += data

    async def read_exactly(self, count: int) -> bytes:
        if len(self.data) < count:
            raise asyncio.IncompleteReadError(self.data, count)
        head, self.data = self.data[:count], self.data[count:]
        return head


def search_reply(data: bytes) -> codec.SearchReply:
    return asyncio.run(codec.search_over(Replay(data), 1))


def rootdse_entry(attributes: dict[str, list[bytes]], message_id: int = 1) -> bytes:
    found = rfc2251.SearchResultEntry()
    found["objectName"] = ""
    for name, values in attributes.items():
        attribute = found["attributes"].getComponentType().clone()
        attribute["type"] = name
        for value in values:
            attribute["vals"].append(value)
        found["attributes"].append(attribute)
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    message["protocolOp"]["searchResEntry"] = found
    return bytes(encoder.encode(message))


def result_done(code: int = 0, text: str = "", message_id: int = 1) -> bytes:
    result = rfc2251.SearchResultDone()
    result["resultCode"] = code
    result["matchedDN"] = ""
    result["errorMessage"] = text
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    message["protocolOp"]["searchResDone"] = result
    return bytes(encoder.encode(message))


def notice_of_disconnection() -> bytes:
    response = rfc2251.ExtendedResponse()
    response["resultCode"] = 52  # unavailable
    response["matchedDN"] = ""
    response["errorMessage"] = "server shutting down"
    response["responseName"] = codec.NOTICE_OF_DISCONNECTION
    message = rfc2251.LDAPMessage()
    message["messageID"] = 0
    message["protocolOp"]["extendedResp"] = response
    return bytes(encoder.encode(message))


AD = [b"1.2.840.113556.1.4.800", b"1.2.840.113556.1.4.1670"]


def test_request_fields() -> None:
    message, rest = decoder.decode(request(), asn1Spec=rfc2251.LDAPMessage())
    assert rest == b""
    assert int(message["messageID"]) == 1
    search = message["protocolOp"]["searchRequest"]
    assert str(search["baseObject"]) == ""
    assert (int(search["scope"]), int(search["derefAliases"])) == (0, 0)
    assert (int(search["sizeLimit"]), int(search["timeLimit"])) == (0, 0)
    assert str(search["filter"]["present"]) == "objectClass"
    assert [str(a) for a in search["attributes"]] == ATTRIBUTES
    assert "supportedCapabilities" in ATTRIBUTES and "isGlobalCatalogReady" in ATTRIBUTES


def test_recorded_samba_rootdse() -> None:
    outcome = judge(search_reply(SAMBA_ROOTDSE), 389)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail == (
        "AD LDAP rootDSE from dc01.lab.hybridports.test (DC=lab,DC=hybridports,DC=test), "
        "forest level Windows Server 2008 R2"
    )
    facts = outcome.facts
    assert facts["dnsHostName"] == "dc01.lab.hybridports.test"
    assert facts["defaultNamingContext"] == facts["rootDomainNamingContext"]
    assert facts["isGlobalCatalogReady"] is True and facts["isSynchronized"] is True
    assert facts["domainFunctionality"] == facts["forestFunctionality"] == 4
    assert facts["domainControllerFunctionality"] == 4
    assert facts["supportedSASLMechanisms"] == ["GSS-SPNEGO", "GSSAPI", "NTLM"]
    assert facts["supportedLDAPVersion"] == ["2", "3"]
    assert "gc" not in facts


def test_recorded_samba_rootdse_on_the_gc_port() -> None:
    outcome = judge(search_reply(SAMBA_ROOTDSE), 3268)
    assert outcome.verdict is Verdict.OPEN
    assert outcome.facts["gc"] is True and "global catalog ready" in outcome.detail


def test_gc_port_without_a_ready_gc() -> None:
    reply = rootdse_entry({"supportedCapabilities": AD, "isGlobalCatalogReady": [b"FALSE"]})
    outcome = judge(search_reply(reply + result_done()), 3268)
    assert outcome.verdict is Verdict.OPEN
    assert outcome.facts["gc"] is False and "NOT a ready global catalog" in outcome.detail


def test_warnings_for_old_forest_and_unsynchronized_dc() -> None:
    reply = rootdse_entry(
        {
            "supportedCapabilities": AD,
            "forestFunctionality": [b"0"],
            "isSynchronized": [b"FALSE"],
            "dnsHostName": [b"dc9.example.test"],
        }
    )
    outcome = judge(search_reply(reply + result_done()), 389)
    assert outcome.verdict is Verdict.OPEN
    assert "forest level Windows Server 2000" in outcome.detail
    assert "below Windows Server 2003" in outcome.detail
    assert "isSynchronized FALSE" in outcome.detail


def test_ldap_that_is_not_active_directory() -> None:
    reply = rootdse_entry(
        {"supportedLDAPVersion": [b"3"], "supportedCapabilities": [b"1.3.6.1.4.1.4203.1.5.1"]}
    )
    outcome = judge(search_reply(reply + result_done()), 389)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith("LDAP server but not Active Directory")


def test_refused_rootdse_read() -> None:
    outcome = judge(search_reply(result_done(50, "anonymous access denied")), 389)
    assert outcome.verdict is Verdict.ERROR
    assert "insufficientAccessRights" in outcome.detail and "anonymous access" in outcome.detail


def test_no_entry_is_an_error() -> None:
    assert judge(search_reply(result_done()), 389).verdict is Verdict.ERROR


def test_references_are_skipped() -> None:
    reference = rfc2251.LDAPMessage()
    reference["messageID"] = 1
    reference["protocolOp"]["searchResRef"].append("ldap://other.example/")
    data = bytes(encoder.encode(reference)) + SAMBA_ROOTDSE
    assert judge(search_reply(data), 389).verdict is Verdict.OPEN


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x31\x03\x02\x01\x01", "not an LDAP message"),
        (b"\x30\x80\x02\x01\x01\x00\x00", "indefinite"),
        (b"\x30\x85\x01\x00\x00\x00\x00", "5-byte BER length"),
        (b"\x30\x84\x7f\xff\xff\xff", "more than any rootDSE"),
        (b"\x30\x03\x02\x01\x01", "malformed LDAP message"),
        (b"\x30\x03\x04\x01\x01", "malformed LDAP message"),
        (notice_of_disconnection(), "notice of disconnection (unavailable: server shutting"),
        (rootdse_entry({}, message_id=7), "not for our search"),
        (rootdse_entry({"forestFunctionality": [b"two"]}) + result_done(), "not a number"),
        (rootdse_entry({}) * 20, "no SearchResultDone after 16"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_malformed_replies(data: bytes, words: str) -> None:
    with pytest.raises(BadReply, match=re.escape(words)):
        judge(search_reply(data), 389)


def test_bind_response_is_not_a_search_reply() -> None:
    message = rfc2251.LDAPMessage()
    message["messageID"] = 1
    response = message["protocolOp"]["bindResponse"]
    response["resultCode"] = 0
    response["matchedDN"] = ""
    response["errorMessage"] = ""
    with pytest.raises(BadReply, match="bindResponse"):
        search_reply(bytes(encoder.encode(message)))


def test_truncated_reply_is_incomplete() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        search_reply(SAMBA_ROOTDSE[:500])


async def _ldap_against(handler: Handler) -> Outcome:
    return await run_against_tcp(LdapProbe(), handler)


def test_tcp_peer_replaying_samba_is_open() -> None:
    outcome = asyncio.run(_ldap_against(replying(SAMBA_ROOTDSE)))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.facts["dnsHostName"] == "dc01.lab.hybridports.test"


def test_tcp_peer_sending_in_small_pieces_is_open() -> None:
    pieces = [SAMBA_ROOTDSE[offset : offset + 7] for offset in range(0, len(SAMBA_ROOTDSE), 7)]
    trickle = replying(*pieces, close=False)
    assert asyncio.run(_ldap_against(trickle)).verdict is Verdict.OPEN


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (replying(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "not LDAP: not an LDAP message"),
        (replying(b"\x30\x84\x7f\xff\xff\xff" + b"\x00" * 16, close=False), "more than any"),
        (replying(SAMBA_ROOTDSE[:300]), "closed mid-reply"),
        (replying(b"\x16\x03\x01\x00\x05hello"), "not LDAP"),
        (close_at_once, "closed the connection"),
        (silent, "no LDAP reply within"),
    ],
)
def test_hostile_tcp_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = asyncio.run(_ldap_against(handler))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_rootdse_is_open(lab: Lab, address: str) -> None:
    outcome = probe_in_client(lab, PROBE, address, 389, "tcp")
    assert outcome["verdict"] == "open", outcome["detail"]
    facts = outcome["facts"]
    assert facts["dnsHostName"] == lab.dc_fqdn
    assert facts["defaultNamingContext"] == "DC=lab,DC=hybridports,DC=test"
    assert facts["forestFunctionality"] >= 2
    assert facts["isSynchronized"] is True
    assert "GSSAPI" in facts["supportedSASLMechanisms"]
    assert "warning" not in outcome["detail"]


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_global_catalog_is_open(lab: Lab, address: str) -> None:
    outcome = probe_in_client(lab, PROBE, address, 3268, "tcp")
    assert outcome["verdict"] == "open", outcome["detail"]
    assert outcome["facts"]["gc"] is True and outcome["facts"]["isGlobalCatalogReady"] is True
    assert "global catalog ready" in outcome["detail"]


@pytest.mark.peers
def test_ldaps_port_does_not_speak_plain_ldap(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 636, "tcp")
    assert outcome["verdict"] == "error", outcome["detail"]


@pytest.mark.peers
def test_port_without_listener_is_closed(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 390, "tcp")
    assert outcome["verdict"] == "closed", outcome["detail"]
