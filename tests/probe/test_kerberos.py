"""Kerberos AS-REQ probe (§7.2): encoding, replies recorded from Samba, hostile peers, the lab."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime

import pytest
from pyasn1.codec.der import decoder, encoder

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from hybridports.probe.kerberos import (
    AsRep,
    AsReq,
    KerberosProbe,
    KrbError,
    PaData,
    as_req,
    decode_krb_error,
    judge,
    set_principal,
)
from hybridports.probe.net import BadReply
from lab import Lab
from tests.peers.local import (
    Handler,
    answering,
    close_at_once,
    replying,
    run_against_tcp,
    run_against_udp,
    silent,
    udp_peer,
)
from tests.probe.conftest import probe_in_client

PROBE = "hybridports.probe.kerberos:KerberosProbe"
REALM = "LAB.HYBRIDPORTS.TEST"
# as_req(REALM, "hybridports-probe-0123456789ab", 123456789), and Samba 4.17's answers to it
# over UDP and TCP (length prefix removed); PLACEHOLDER_REPLY answers the same request for
# realm HYBRIDPORTS.INVALID; PREAUTH_REPLY answers one for the lab's Administrator.
AS_REQ = bytes.fromhex(
    "6a81b43081b1a103020105a20302010aa481a43081a1a00703050040000010a12b3029a003020101a1223020"
    "1b1e687962726964706f7274732d70726f62652d303132333435363738396162a2161b144c41422e48594252"
    "4944504f5254532e54455354a3293027a003020102a120301e1b066b72627467741b144c41422e4859425249"
    "44504f5254532e54455354a511180f32303337303931333032343830355aa7060204075bcd15a80b30090201"
    "12020111020117"
)
UDP_REPLY = bytes.fromhex(
    "7e81b43081b1a003020105a10302011ea411180f32303236313132373039323534325aa505020309ea88a603"
    "020106a7161b144c41422e485942524944504f5254532e54455354a82b3029a003020101a12230201b1e6879"
    "62726964706f7274732d70726f62652d303132333435363738396162a9161b144c41422e485942524944504f"
    "5254532e54455354aa293027a003020102a120301e1b066b72627467741b144c41422e485942524944504f52"
    "54532e54455354"
)
TCP_REPLY = bytes.fromhex(
    "7e81b43081b1a003020105a10302011ea411180f32303236313132373039323534325aa505020309f233a603"
    "020106a7161b144c41422e485942524944504f5254532e54455354a82b3029a003020101a12230201b1e6879"
    "62726964706f7274732d70726f62652d303132333435363738396162a9161b144c41422e485942524944504f"
    "5254532e54455354aa293027a003020102a120301e1b066b72627467741b144c41422e485942524944504f52"
    "54532e54455354"
)
PLACEHOLDER_REPLY = bytes.fromhex(
    "7e81b13081aea003020105a10302011ea411180f32303236313132373039323534325aa505020309f686a603"
    "020106a7151b13485942524944504f5254532e494e56414c4944a82b3029a003020101a12230201b1e687962"
    "726964706f7274732d70726f62652d303132333435363738396162a9151b13485942524944504f5254532e49"
    "4e56414c4944aa283026a003020102a11f301d1b066b72627467741b13485942524944504f5254532e494e56"
    "414c4944"
)
PREAUTH_REPLY = bytes.fromhex(
    "7e8201603082015ca003020105a10302011ea411180f32303236313132373039323534395aa505020306f249"
    "a603020119a7161b144c41422e485942524944504f5254532e54455354a81a3018a003020101a111300f1b0d"
    "41646d696e6973747261746f72a9161b144c41422e485942524944504f5254532e54455354aa293027a00302"
    "0102a120301e1b066b72627467741b144c41422e485942524944504f5254532e54455354ab2b1b294e656564"
    "20746f207573652050412d454e432d54494d455354414d502f50412d504b2d41532d524551ac818c04818930"
    "81863009a103020110a20204003009a10302010fa2020400300aa10402020093a20204003009a103020102a2"
    "020400300aa10402020088a2020400300aa1040202028fa2020400303fa103020113a238043630343032a003"
    "020112a1231b214c41422e485942524944504f5254532e5445535441646d696e6973747261746f72a2060404"
    "00001000"
)
DOMAIN = "lab.hybridports.test"
SAMBA_TIME = datetime(2026, 11, 27, 9, 25, 42, 649864, tzinfo=UTC).timestamp()


def _judge(data: bytes, transport: Transport = Transport.UDP, **kwargs: object) -> Outcome:
    received = kwargs.get("received", SAMBA_TIME)
    assert isinstance(received, float)
    given = kwargs.get("realm_given", True)
    assert isinstance(given, bool)
    return judge(data, REALM, given, transport, received)


def krb_error(code: int, stime: str = "20261127092542Z", susec: int = 0) -> bytes:
    """A KRB-ERROR as a KDC would build it (for codes Samba cannot be made to send)."""
    error = KrbError()
    error["pvno"] = 5
    error["msg-type"] = 30
    error["stime"] = stime
    error["susec"] = susec
    error["error-code"] = code
    error["realm"] = REALM
    set_principal(error["sname"], 2, "krbtgt", REALM)
    return bytes(encoder.encode(error))


def test_request_matches_the_recorded_one() -> None:
    assert as_req(REALM, "hybridports-probe-0123456789ab", 123456789) == AS_REQ


def test_request_fields() -> None:
    request, rest = decoder.decode(AS_REQ, asn1Spec=AsReq())
    assert rest == b"" and AS_REQ[0] == 0x6A  # [APPLICATION 10]
    assert (int(request["pvno"]), int(request["msg-type"])) == (5, 10)
    body = request["req-body"]
    assert int(body["cname"]["name-type"]) == 1  # NT-PRINCIPAL
    assert [str(s) for s in body["cname"]["name-string"]] == ["hybridports-probe-0123456789ab"]
    assert str(body["realm"]) == REALM
    assert int(body["sname"]["name-type"]) == 2  # NT-SRV-INST
    assert [str(s) for s in body["sname"]["name-string"]] == ["krbtgt", REALM]
    assert [int(e) for e in body["etype"]] == [18, 17, 23]
    assert int(body["nonce"]) == 123456789
    assert str(body["till"]).startswith("2037")
    assert len(body["kdc-options"]) == 32  # KerberosFlags: at least 32 bits on the wire


def test_requests_are_fresh() -> None:
    async def two_requests() -> list[bytes]:
        seen: list[bytes] = []

        def catch(data: bytes) -> None:
            seen.append(data)

        async with udp_peer(catch) as port:
            target = Target("peer", "127.0.0.1", port, Transport.UDP)
            for _ in range(2):
                await KerberosProbe().check(target, ProbeContext(timeout=0.2, domain="x.test"))
        return seen

    # Each check resends the same datagram; the two checks' requests must differ.
    seen = asyncio.run(two_requests())
    first, second = (decoder.decode(d, asn1Spec=AsReq())[0] for d in (seen[0], seen[-1]))
    assert first["req-body"]["nonce"] != second["req-body"]["nonce"]
    assert first["req-body"]["cname"] != second["req-body"]["cname"]
    assert str(first["req-body"]["realm"]) == "X.TEST"


@pytest.mark.parametrize("reply", [UDP_REPLY, TCP_REPLY])
def test_recorded_samba_reply(reply: bytes) -> None:
    outcome = _judge(reply)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.facts["error_code"] == 6
    assert outcome.facts["error_name"] == "KDC_ERR_C_PRINCIPAL_UNKNOWN"
    assert outcome.facts["realm"] == REALM
    assert outcome.facts["kdc_time"].startswith("2026-11-27T09:25:42.6")
    assert abs(outcome.facts["skew_seconds"]) < 0.01
    assert outcome.detail.startswith(f"KDC for realm {REALM} answered")
    assert "WARNING" not in outcome.detail


def test_existing_name_needs_preauthentication() -> None:
    outcome = _judge(PREAUTH_REPLY, received=SAMBA_TIME + 7)
    assert outcome.verdict is Verdict.OPEN
    assert (outcome.facts["error_code"], outcome.facts["error_name"]) == (
        25,
        "KDC_ERR_PREAUTH_REQUIRED",
    )
    assert "PA-ENC-TIMESTAMP" in outcome.facts["e_text"]


def test_placeholder_realm_says_the_realm_was_not_given() -> None:
    outcome = judge(PLACEHOLDER_REPLY, "HYBRIDPORTS.INVALID", False, Transport.UDP, SAMBA_TIME)
    assert outcome.verdict is Verdict.OPEN
    assert "AD domain not given" in outcome.detail and "unconfirmed" in outcome.detail


def test_clock_skew_is_a_warning_not_a_failure() -> None:
    outcome = _judge(UDP_REPLY, received=SAMBA_TIME - 3600)
    assert outcome.verdict is Verdict.OPEN
    assert outcome.facts["skew_seconds"] == pytest.approx(3600, abs=0.01)
    assert "WARNING" in outcome.detail and "3600s ahead of" in outcome.detail
    behind = _judge(UDP_REPLY, received=SAMBA_TIME + 301)
    assert "301s behind" in behind.detail


def test_response_too_big_over_udp_asks_for_tcp() -> None:
    outcome = _judge(krb_error(52), received=SAMBA_TIME)
    assert outcome.verdict is Verdict.OPEN
    assert outcome.facts["error_name"] == "KRB_ERR_RESPONSE_TOO_BIG"
    assert "TCP 88" in outcome.detail


@pytest.mark.parametrize(
    ("code", "name"),
    [(68, "KDC_ERR_WRONG_REALM"), (14, "KDC_ERR_ETYPE_NOSUPP"), (18, "KDC_ERR_CLIENT_REVOKED")],
)
def test_other_errors_still_prove_a_kdc(code: int, name: str) -> None:
    outcome = _judge(krb_error(code), Transport.TCP)
    assert outcome.verdict is Verdict.OPEN
    assert outcome.facts["error_name"] == name and name in outcome.detail


def test_as_rep_proves_a_kdc() -> None:
    reply = AsRep()
    reply["pvno"] = 5
    reply["msg-type"] = 11
    reply["crealm"] = REALM
    set_principal(reply["cname"], 1, "someone")
    reply["padata"].extend([PaData()])
    reply["padata"][0]["padata-type"] = 19
    reply["padata"][0]["padata-value"] = b"\x30\x00"
    reply["ticket"] = b"\x61\x02\x30\x00"  # opaque: never decoded
    reply["enc-part"]["etype"] = 18
    reply["enc-part"]["cipher"] = b"\x00" * 32
    outcome = _judge(bytes(encoder.encode(reply)))
    assert outcome.verdict is Verdict.OPEN and outcome.facts["reply"] == "AS-REP"


def _modified(pvno: int = 5, msg_type: int = 30) -> bytes:
    error = decode_krb_error(UDP_REPLY)
    error["pvno"] = pvno
    error["msg-type"] = msg_type
    return bytes(encoder.encode(error))


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"\x00\x00\x81\x80\x00\x01",  # a DNS header
        b"SSH-2.0-OpenSSH_9.2\r\n",
        UDP_REPLY[:60],  # truncated
        UDP_REPLY + b"\x00",  # trailing garbage
        b"\x7e\x03\x30\x01\x00",  # KRB-ERROR tag, nonsense inside
        b"\x6b\x02\x30\x00",  # AS-REP tag, empty
        _modified(pvno=4),
        _modified(msg_type=31),
        krb_error(6, susec=1_000_000),
    ],
)
def test_malformed_replies(reply: bytes) -> None:
    with pytest.raises(BadReply):
        _judge(reply)


async def _against(handler: Handler) -> Outcome:
    return await run_against_tcp(KerberosProbe(), handler, domain=DOMAIN)


def framed(data: bytes) -> bytes:
    """``data`` behind Kerberos' TCP record mark (RFC 4120 §7.2.2), as a KDC sends it."""
    return struct.pack("!I", len(data)) + data


def test_tcp_peer_speaking_kerberos_is_open() -> None:
    outcome = asyncio.run(_against(replying(framed(TCP_REPLY))))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.facts["error_code"] == 6


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (replying(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "not Kerberos"),
        (replying(framed(b"\x30\x03\x02\x01\x05")), "neither a KRB-ERROR nor an AS-REP"),
        (replying(b"\x7f\xff\xff\xff" + b"\x00" * 16, close=False), "not Kerberos"),  # huge
        (replying(b"\x80\x00\x00\x10" + b"\x00" * 16), "record mark"),  # reserved bit
        (replying(framed(TCP_REPLY)[:80]), "closed mid-reply"),
        (close_at_once, "closed the connection"),
        (silent, "no Kerberos reply within"),
    ],
)
def test_hostile_tcp_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = asyncio.run(_against(handler))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


async def _udp_against(reply: bytes | None, timeout: float = 1.0) -> Outcome:
    return await run_against_udp(KerberosProbe(), answering(reply), timeout, domain=DOMAIN)


def test_udp_peers() -> None:
    assert asyncio.run(_udp_against(UDP_REPLY)).verdict is Verdict.OPEN
    garbage = asyncio.run(_udp_against(b"\x00" * 40))
    assert garbage.verdict is Verdict.ERROR and "not Kerberos" in garbage.detail
    silent = asyncio.run(_udp_against(None, timeout=0.6))
    assert silent.verdict is Verdict.FILTERED


@pytest.mark.peers
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_kdc_is_open(lab: Lab, address: str, transport: str) -> None:
    outcome = probe_in_client(lab, PROBE, address, 88, transport, "--domain", lab.dns_domain)
    assert outcome["verdict"] == "open", outcome["detail"]
    facts = outcome["facts"]
    assert facts["error_code"] == 6
    assert facts["error_name"] == "KDC_ERR_C_PRINCIPAL_UNKNOWN"
    assert facts["realm"] == lab.realm
    assert abs(facts["skew_seconds"]) < 5  # the DC shares this host's clock
    assert datetime.fromisoformat(facts["kdc_time"]).tzinfo is not None


@pytest.mark.peers
def test_samba_kdc_without_a_domain(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, "198.18.2.10", 88, "udp")
    assert outcome["verdict"] == "open", outcome["detail"]
    assert "AD domain not given" in outcome["detail"]


@pytest.mark.peers
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_port_without_listener_is_closed(lab: Lab, transport: str) -> None:
    outcome = probe_in_client(lab, PROBE, "198.18.2.10", 87, transport, "--domain", lab.dns_domain)
    assert outcome["verdict"] == "closed", outcome["detail"]
