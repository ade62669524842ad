"""kpasswd probe (§7.13, RFC 3244): framing, replies recorded from Samba, hostile peers, the lab."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime

import pytest
from pyasn1.codec.der import decoder

from hybridports.probe.interface import Outcome, Verdict
from hybridports.probe.kpasswd import ApReq, KpasswdProbe, KrbPriv, change_password_request, judge
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
)
from tests.probe.conftest import probe_in_client
from tests.probe.test_kerberos import UDP_REPLY, framed

PROBE = "hybridports.probe.kpasswd:KpasswdProbe"
REALM = "LAB.HYBRIDPORTS.TEST"
DOMAIN = "lab.hybridports.test"
# A change_password_request(REALM) and Samba 4.17's answers to it over UDP and TCP (length
# prefix removed): version 1, no AP-REP, a KRB-ERROR whose e-data holds result code 2.
KPW_REQ = bytes.fromhex(
    "015eff8000fd6e81fa3081f7a003020105a10302010ea20703050000000000a3819461819130818ea0030201"
    "05a1161b144c41422e485942524944504f5254532e54455354a21d301ba003020102a11430121b066b61646d"
    "696e1b086368616e67657077a350304ea003020112a103020101a242044035274d992021795ff4ae9dedbd4d"
    "3d63ca110943bfed820f40019c44dad6e790d674868aae9053345b6f17d92576e6b38f8e543fcf7964172c54"
    "8505db424adea44b3049a003020112a24204409da1a0ed1ff6b8444483c52b2042dbe6596f4aa353cfb9ac2e"
    "d037e25e3c492264e7af9b228c442547ae4dc199c0216c3aea053e3333acbf7951d449741d18ed75593057a0"
    "03020105a103020115a34b3049a003020112a24204407bf1f032ee652acde9074c1f114d0f0c98658a16f4b5"
    "5339a19c01af611b5ae30ccfe81d7e4cceeb9c97853ce34beb44dd94cafbfab7839f67f03eacc0383fc2"
)
KPW_UDP = bytes.fromhex(
    "00a1000100007e8198308195a003020105a10302011ea411180f32303236313132373039323534325aa50502"
    "030a01fca603020102a9161b144c41422e485942524944504f5254532e54455354aa1d301ba003020101a114"
    "30121b066b61646d696e1b086368616e67657077ac330431000267656e7365635f757064617465206661696c"
    "6564202d204e545f5354415455535f4c4f474f4e5f4641494c5552450a"
)
KPW_TCP = bytes.fromhex(
    "00a1000100007e8198308195a003020105a10302011ea411180f32303236313132373039323534325aa50502"
    "030a0c12a603020102a9161b144c41422e485942524944504f5254532e54455354aa1d301ba003020101a114"
    "30121b066b61646d696e1b086368616e67657077ac330431000267656e7365635f757064617465206661696c"
    "6564202d204e545f5354415455535f4c4f474f4e5f4641494c5552450a"
)
SAMBA_TIME = datetime(2026, 11, 27, 9, 25, 42, tzinfo=UTC).timestamp()
# Samba's AS-REQ answer: a bare KRB-ERROR, as MIT kadmind sends.
BARE_ERROR = UDP_REPLY


def test_request_framing() -> None:
    wire = change_password_request(REALM)
    length, version, ap_req_len = struct.unpack_from("!HHH", wire)
    assert (length, version) == (len(wire), 0xFF80)
    ap_req, rest = decoder.decode(wire[6 : 6 + ap_req_len], asn1Spec=ApReq())
    assert rest == b""
    assert (int(ap_req["pvno"]), int(ap_req["msg-type"])) == (5, 14)
    ticket = ap_req["ticket"]
    assert int(ticket["tkt-vno"]) == 5 and str(ticket["realm"]) == REALM
    assert [str(s) for s in ticket["sname"]["name-string"]] == ["kadmin", "changepw"]
    assert int(ticket["enc-part"]["etype"]) == 18
    priv, rest = decoder.decode(wire[6 + ap_req_len :], asn1Spec=KrbPriv())
    assert rest == b"" and int(priv["msg-type"]) == 21
    # Same shape as the request Samba answered, but fresh random "ciphertext" each time.
    assert len(wire) == len(KPW_REQ) and wire[:40] == KPW_REQ[:40]
    assert change_password_request(REALM) != wire


@pytest.mark.parametrize("reply", [KPW_UDP, KPW_TCP])
def test_recorded_samba_reply(reply: bytes) -> None:
    outcome = judge(reply, SAMBA_TIME)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    facts = outcome.facts
    assert facts["framing"] == "version 0x0001"
    assert facts["realm"] == REALM
    assert facts["result_code"] == 2 and facts["result_name"] == "KRB5_KPASSWD_HARDERROR"
    assert facts["result_string"] == "gensec_update failed - NT_STATUS_LOGON_FAILURE"
    assert facts["error_code"] == 2 and "error_name" not in facts  # Samba repeats the result
    assert abs(facts["skew_seconds"]) < 1
    assert "KRB5_KPASSWD_HARDERROR" in outcome.detail and "WARNING" not in outcome.detail


def test_bare_krb_error_is_open() -> None:
    outcome = judge(BARE_ERROR, SAMBA_TIME)
    assert outcome.verdict is Verdict.OPEN
    assert outcome.facts["framing"] == "bare KRB-ERROR"
    assert "KDC_ERR_C_PRINCIPAL_UNKNOWN" in outcome.detail


def test_clock_skew_warns() -> None:
    outcome = judge(KPW_UDP, SAMBA_TIME + 900)
    assert outcome.verdict is Verdict.OPEN and "WARNING" in outcome.detail


def test_ap_rep_is_open() -> None:
    body = b"\x6f\x02\x30\x00" + BARE_ERROR
    reply = struct.pack("!HHH", 6 + len(body), 1, 4) + body
    outcome = judge(reply, SAMBA_TIME)
    assert outcome.verdict is Verdict.OPEN and outcome.facts["ap_rep_length"] == 4


def _header(length: int | None = None, version: int = 1, ap_rep: int = 0) -> bytes:
    body = KPW_UDP[6:]
    return struct.pack("!HHH", len(KPW_UDP) if length is None else length, version, ap_rep) + body


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"\x00\x06\x00\x01",  # too short
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        _header(version=0x0005),
        _header(length=len(KPW_UDP) + 1),
        _header(ap_rep=0x4000),  # runs past the message
        _header(ap_rep=4),  # not an AP-REP
        KPW_UDP[:6] + b"\x30\x00" + KPW_UDP[8:],  # not a KRB-ERROR inside
        BARE_ERROR[:50],
    ],
)
def test_malformed_replies(reply: bytes) -> None:
    with pytest.raises(BadReply):
        judge(reply, SAMBA_TIME)


async def _against(handler: Handler) -> Outcome:
    return await run_against_tcp(KpasswdProbe(), handler, domain=DOMAIN)


def test_tcp_peer_speaking_kpasswd_is_open() -> None:
    outcome = asyncio.run(_against(replying(framed(KPW_TCP))))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.facts["result_code"] == 2


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (replying(b"SSH-2.0-OpenSSH_9.2\r\n"), "not kpasswd"),
        (replying(framed(b"\x00\x08\x00\x07\x00\x00\x00\x00")), "not RFC 3244"),
        (replying(b"\x7f\xff\xff\xff" + b"\x00" * 16, close=False), "not kpasswd"),  # huge
        (replying(b"\x80\x00\x00\x10" + b"\x00" * 16), "record mark"),
        (replying(framed(KPW_TCP)[:60]), "closed mid-reply"),
        (close_at_once, "closed the connection"),
        (silent, "no kpasswd reply within"),  # TCP accepted but silent
    ],
)
def test_hostile_tcp_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = asyncio.run(_against(handler))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


async def _udp_against(reply: bytes | None, timeout: float = 1.0) -> Outcome:
    return await run_against_udp(KpasswdProbe(), answering(reply), timeout, domain=DOMAIN)


def test_udp_peers() -> None:
    assert asyncio.run(_udp_against(KPW_UDP)).verdict is Verdict.OPEN
    garbage = asyncio.run(_udp_against(b"\x00" * 40))
    assert garbage.verdict is Verdict.ERROR and "not kpasswd" in garbage.detail
    assert asyncio.run(_udp_against(None, timeout=0.6)).verdict is Verdict.FILTERED


@pytest.mark.peers
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_kpasswd_is_open(lab: Lab, address: str, transport: str) -> None:
    outcome = probe_in_client(lab, PROBE, address, 464, transport, "--domain", lab.dns_domain)
    assert outcome["verdict"] == "open", outcome["detail"]
    facts = outcome["facts"]
    assert facts["framing"] == "version 0x0001"
    assert facts["realm"] == lab.realm
    assert facts["result_name"] == "KRB5_KPASSWD_HARDERROR"
    assert "NT_STATUS_LOGON_FAILURE" in facts["result_string"]


@pytest.mark.peers
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_port_without_listener_is_closed(lab: Lab, transport: str) -> None:
    outcome = probe_in_client(lab, PROBE, "198.18.2.10", 465, transport)
    assert outcome["verdict"] == "closed", outcome["detail"]
