"""Kerberos change-password service on TCP/UDP 464 (RFC 3244, §7.13).

The request carries a syntactically valid AP-REQ whose ticket and authenticator are random
bytes: no real credential is ever sent, and the server can only refuse it. A refusal in
the protocol's own framing (a version field, then a KRB-ERROR) proves the service; so does
a bare KRB-ERROR, which some servers send for requests they cannot parse. This is weaker
than the AS-REQ of kerberos.py: the AP-REQ is never verified, only answered.
"""

from __future__ import annotations

import secrets
import struct
import time

from pyasn1.codec.der import encoder
from pyasn1.type import namedtype, univ

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.kerberos import (
    KRB_ERROR_TAG,
    NT_SRV_INST,
    EncryptedData,
    application,
    decode_krb_error,
    describe_krb_error,
    int_field,
    principal_field,
    realm_for,
    set_principal,
    string_field,
    tagged,
    tcp_exchange,
)
from hybridports.probe.net import BadReply, Stream, hexdump, tcp_check, udp_check

REQUEST_VERSION = 0xFF80  # RFC 3244 set-password / change-password
REPLY_VERSIONS = (0x0001, 0xFF80)  # servers answer 1 (RFC 3244 §2); accept an echo too
AP_REP_TAG = 0x6F  # [APPLICATION 15], constructed
AES256 = 18
# RFC 3244 §2 result codes, found in the KRB-ERROR's e-data (and RFC 3244 §3 extensions).
RESULT_NAMES = {
    0: "KRB5_KPASSWD_SUCCESS",
    1: "KRB5_KPASSWD_MALFORMED",
    2: "KRB5_KPASSWD_HARDERROR",
    3: "KRB5_KPASSWD_AUTHERROR",
    4: "KRB5_KPASSWD_SOFTERROR",
    5: "KRB5_KPASSWD_ACCESSDENIED",
    6: "KRB5_KPASSWD_BAD_VERSION",
    7: "KRB5_KPASSWD_INITIAL_FLAG_NEEDED",
}


class Ticket(univ.Sequence):
    tagSet = application(1)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("tkt-vno", int_field(0)),
        namedtype.NamedType("realm", string_field(1)),
        namedtype.NamedType("sname", principal_field(2)),
        namedtype.NamedType("enc-part", tagged(EncryptedData(), 3)),
    )


class ApReq(univ.Sequence):
    tagSet = application(14)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pvno", int_field(0)),
        namedtype.NamedType("msg-type", int_field(1)),
        namedtype.NamedType("ap-options", tagged(univ.BitString(), 2)),
        namedtype.NamedType("ticket", tagged(Ticket(), 3)),
        namedtype.NamedType("authenticator", tagged(EncryptedData(), 4)),
    )


class KrbPriv(univ.Sequence):
    tagSet = application(21)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pvno", int_field(0)),
        namedtype.NamedType("msg-type", int_field(1)),
        namedtype.NamedType("enc-part", tagged(EncryptedData(), 3)),
    )


def _fill_random(data: univ.Sequence, kvno: int | None = None) -> None:
    data["etype"] = AES256
    if kvno is not None:
        data["kvno"] = kvno
    data["cipher"] = secrets.token_bytes(64)  # ciphertext no key can open


def dummy_ap_req(realm: str) -> bytes:
    """An AP-REQ for kadmin/changepw@realm whose ticket and authenticator are random bytes."""
    request = ApReq()
    request["pvno"] = 5
    request["msg-type"] = 14
    request["ap-options"] = request["ap-options"].clone(hexValue="00000000")
    ticket = request["ticket"]
    ticket["tkt-vno"] = 5
    ticket["realm"] = realm
    set_principal(ticket["sname"], NT_SRV_INST, "kadmin", "changepw")
    _fill_random(ticket["enc-part"], kvno=1)
    _fill_random(request["authenticator"])
    return bytes(encoder.encode(request))


def dummy_krb_priv() -> bytes:
    priv = KrbPriv()
    priv["pvno"] = 5
    priv["msg-type"] = 21
    _fill_random(priv["enc-part"])
    return bytes(encoder.encode(priv))


def change_password_request(realm: str) -> bytes:
    """RFC 3244 framing: length, version 0xff80, AP-REQ length, AP-REQ, KRB-PRIV."""
    ap_req, priv = dummy_ap_req(realm), dummy_krb_priv()
    length = 6 + len(ap_req) + len(priv)
    return struct.pack("!HHH", length, REQUEST_VERSION, len(ap_req)) + ap_req + priv


def _result(e_data: bytes) -> dict[str, object]:
    """RFC 3244 puts a 2-byte result code and a result string in the KRB-ERROR's e-data."""
    if len(e_data) < 2:
        return {}
    (code,) = struct.unpack_from("!H", e_data)
    facts: dict[str, object] = {
        "result_code": code,
        "result_name": RESULT_NAMES.get(code, f"result {code}"),
    }
    text = e_data[2:].decode("utf-8", "replace").strip("\x00").strip()
    if text.isprintable() and text:
        facts["result_string"] = text[:200]
    return facts


def _krb_error(data: bytes, received: float, framing: str) -> Outcome:
    error = decode_krb_error(data)
    facts, warning = describe_krb_error(error, received)
    facts["framing"] = framing
    if error["e-data"].isValue:
        facts.update(_result(bytes(error["e-data"])))
    said = f"{facts['error_name']} ({facts['error_code']})"
    if "result_name" in facts:
        said = str(facts["result_name"])
        if "result_string" in facts:
            said += f' "{facts["result_string"]}"'
        if facts["result_code"] == facts["error_code"]:
            del facts["error_name"]  # Samba repeats the result there: not an RFC 4120 code
    return Outcome.open(
        f"kpasswd for realm {facts['realm']} answered ({framing}), refusing the dummy "
        f"request: {said}{warning}",
        **facts,
    )


def judge(data: bytes, received: float) -> Outcome:
    """Judge a reply to our change-password request (the TCP length prefix removed)."""
    if data[:1] == bytes([KRB_ERROR_TAG]):
        return _krb_error(data, received, "bare KRB-ERROR")
    if len(data) < 6:
        raise BadReply(f"a {len(data)}-byte reply, too short for RFC 3244 ({hexdump(data)})")
    length, version, ap_rep_len = struct.unpack_from("!HHH", data)
    if version not in REPLY_VERSIONS:
        raise BadReply(f"version 0x{version:04x} is not RFC 3244 (first bytes {hexdump(data)})")
    if length != len(data):
        raise BadReply(f"message length {length} but {len(data)} bytes received")
    if 6 + ap_rep_len > len(data):
        raise BadReply(f"AP-REP length {ap_rep_len} runs past the {len(data)}-byte message")
    rest = data[6 + ap_rep_len :]
    if ap_rep_len == 0:
        return _krb_error(rest, received, f"version 0x{version:04x}")
    if data[6] != AP_REP_TAG:
        raise BadReply(f"AP-REP field does not hold an AP-REP ({hexdump(data[6:])})")
    # Cannot happen with random ticket bytes; it would still be kpasswd speaking.
    return Outcome.open(
        f"kpasswd answered with an AP-REP (version 0x{version:04x}), unexpected for a dummy ticket",
        framing=f"version 0x{version:04x}",
        ap_rep_length=ap_rep_len,
    )


class KpasswdProbe(Probe):
    name = "kpasswd"
    description = "RFC 3244 change-password request with a dummy AP-REQ; any refusal proves it"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        wire = change_password_request(realm_for(ctx))
        if target.transport is Transport.UDP:
            return await udp_check(
                target, ctx, "kpasswd", wire, lambda data: judge(data, time.time())
            )

        async def exchange(stream: Stream) -> Outcome:
            return judge(await tcp_exchange(stream, wire), time.time())

        return await tcp_check(target, ctx, "kpasswd", exchange)
