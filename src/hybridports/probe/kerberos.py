"""Kerberos KDC on TCP/UDP 88 (RFC 4120, §7.2).

An AS-REQ without pre-authentication for a random principal that cannot exist: any KDC
answers with a KRB-ERROR (normally 6 C_PRINCIPAL_UNKNOWN), which proves the service and
carries the KDC's clock and realm. No real name or password is ever sent.

The few RFC 4120 types we need are declared with pyasn1 (Kerberos' module uses EXPLICIT
TAGS); the DER encoder writes them. kpasswd.py reuses them.
"""

from __future__ import annotations

import secrets
import struct
import time
from datetime import UTC, datetime
from typing import TypeVar, cast

from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import base, char, namedtype, tag, univ, useful

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, Stream, hexdump, tcp_check, udp_check

NT_PRINCIPAL = 1
NT_SRV_INST = 2
ETYPES = (18, 17, 23)  # aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96, rc4-hmac
KDC_OPTIONS = "40000010"  # forwardable, renewable-ok: what a plain kinit asks for
TILL = "20370913024805Z"  # "far future", as MIT and Heimdal clients send
PLACEHOLDER_REALM = "HYBRIDPORTS.INVALID"
MAX_SKEW = 300.0  # Kerberos' default tolerance (seconds)
KRB_ERROR_TAG, AS_REP_TAG = 0x7E, 0x6B  # [APPLICATION 30] and [APPLICATION 11], constructed
RESPONSE_TOO_BIG = 52
WRONG_REALM = 68
T = TypeVar("T", bound=base.SimpleAsn1Type | base.ConstructedAsn1Type)

# RFC 4120 §7.5.9; 62-76 come from PKINIT (RFC 4556) and referrals (RFC 6806).
ERROR_NAMES = {
    0: "KDC_ERR_NONE",
    1: "KDC_ERR_NAME_EXP",
    2: "KDC_ERR_SERVICE_EXP",
    3: "KDC_ERR_BAD_PVNO",
    4: "KDC_ERR_C_OLD_MAST_KVNO",
    5: "KDC_ERR_S_OLD_MAST_KVNO",
    6: "KDC_ERR_C_PRINCIPAL_UNKNOWN",
    7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
    8: "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
    9: "KDC_ERR_NULL_KEY",
    10: "KDC_ERR_CANNOT_POSTDATE",
    11: "KDC_ERR_NEVER_VALID",
    12: "KDC_ERR_POLICY",
    13: "KDC_ERR_BADOPTION",
    14: "KDC_ERR_ETYPE_NOSUPP",
    15: "KDC_ERR_SUMTYPE_NOSUPP",
    16: "KDC_ERR_PADATA_TYPE_NOSUPP",
    17: "KDC_ERR_TRTYPE_NOSUPP",
    18: "KDC_ERR_CLIENT_REVOKED",
    19: "KDC_ERR_SERVICE_REVOKED",
    20: "KDC_ERR_TGT_REVOKED",
    21: "KDC_ERR_CLIENT_NOTYET",
    22: "KDC_ERR_SERVICE_NOTYET",
    23: "KDC_ERR_KEY_EXPIRED",
    24: "KDC_ERR_PREAUTH_FAILED",
    25: "KDC_ERR_PREAUTH_REQUIRED",
    26: "KDC_ERR_SERVER_NOMATCH",
    27: "KDC_ERR_MUST_USE_USER2USER",
    28: "KDC_ERR_PATH_NOT_ACCEPTED",
    29: "KDC_ERR_SVC_UNAVAILABLE",
    31: "KRB_AP_ERR_BAD_INTEGRITY",
    32: "KRB_AP_ERR_TKT_EXPIRED",
    33: "KRB_AP_ERR_TKT_NYV",
    34: "KRB_AP_ERR_REPEAT",
    35: "KRB_AP_ERR_NOT_US",
    36: "KRB_AP_ERR_BADMATCH",
    37: "KRB_AP_ERR_SKEW",
    38: "KRB_AP_ERR_BADADDR",
    39: "KRB_AP_ERR_BADVERSION",
    40: "KRB_AP_ERR_MSG_TYPE",
    41: "KRB_AP_ERR_MODIFIED",
    42: "KRB_AP_ERR_BADORDER",
    44: "KRB_AP_ERR_BADKEYVER",
    45: "KRB_AP_ERR_NOKEY",
    46: "KRB_AP_ERR_MUT_FAIL",
    47: "KRB_AP_ERR_BADDIRECTION",
    48: "KRB_AP_ERR_METHOD",
    49: "KRB_AP_ERR_BADSEQ",
    50: "KRB_AP_ERR_INAPP_CKSUM",
    51: "KRB_AP_PATH_NOT_ACCEPTED",
    52: "KRB_ERR_RESPONSE_TOO_BIG",
    60: "KRB_ERR_GENERIC",
    61: "KRB_ERR_FIELD_TOOLONG",
    62: "KDC_ERROR_CLIENT_NOT_TRUSTED",
    63: "KDC_ERROR_KDC_NOT_TRUSTED",
    64: "KDC_ERROR_INVALID_SIG",
    65: "KDC_ERR_KEY_TOO_WEAK",
    66: "KDC_ERR_CERTIFICATE_MISMATCH",
    67: "KRB_AP_ERR_NO_TGT",
    68: "KDC_ERR_WRONG_REALM",
    69: "KRB_AP_ERR_USER_TO_USER_REQUIRED",
    70: "KDC_ERR_CANT_VERIFY_CERTIFICATE",
    71: "KDC_ERR_INVALID_CERTIFICATE",
    72: "KDC_ERR_REVOKED_CERTIFICATE",
    73: "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
    74: "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE",
    75: "KDC_ERR_CLIENT_NAME_MISMATCH",
    76: "KDC_ERR_KDC_NAME_MISMATCH",
}


def ctx_tag(number: int) -> tag.Tag:
    return tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number)


def tagged(asn1: T, number: int) -> T:
    """``asn1`` with an EXPLICIT [number] tag: Kerberos' ASN.1 module uses EXPLICIT TAGS."""
    return cast(T, asn1.subtype(explicitTag=ctx_tag(number)))  # type: ignore[no-untyped-call]


def application(number: int) -> tag.TagSet:
    """The tag set of ``[APPLICATION number] SEQUENCE``."""
    outer = tag.Tag(tag.tagClassApplication, tag.tagFormatConstructed, number)
    return cast(tag.TagSet, univ.Sequence.tagSet.tagExplicitly(outer))  # type: ignore[no-untyped-call]


def int_field(number: int) -> univ.Integer:
    return tagged(univ.Integer(), number)


def string_field(number: int) -> char.GeneralString:
    return tagged(char.GeneralString(), number)


def time_field(number: int) -> useful.GeneralizedTime:
    return tagged(useful.GeneralizedTime(), number)


class PrincipalName(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("name-type", int_field(0)),
        namedtype.NamedType(
            "name-string",
            tagged(univ.SequenceOf(componentType=char.GeneralString()), 1),
        ),
    )


def principal_field(number: int) -> PrincipalName:
    return tagged(PrincipalName(), number)


class EncryptedData(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("etype", int_field(0)),
        namedtype.OptionalNamedType("kvno", int_field(1)),
        namedtype.NamedType("cipher", tagged(univ.OctetString(), 2)),
    )


class KdcReqBody(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("kdc-options", tagged(univ.BitString(), 0)),
        namedtype.OptionalNamedType("cname", principal_field(1)),
        namedtype.NamedType("realm", string_field(2)),
        namedtype.OptionalNamedType("sname", principal_field(3)),
        namedtype.OptionalNamedType("from", time_field(4)),
        namedtype.NamedType("till", time_field(5)),
        namedtype.OptionalNamedType("rtime", time_field(6)),
        namedtype.NamedType("nonce", int_field(7)),
        namedtype.NamedType("etype", tagged(univ.SequenceOf(componentType=univ.Integer()), 8)),
    )


class AsReq(univ.Sequence):
    """AS-REQ ::= [APPLICATION 10] KDC-REQ (padata left out: no pre-authentication)."""

    tagSet = application(10)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pvno", int_field(1)),
        namedtype.NamedType("msg-type", int_field(2)),
        namedtype.NamedType("req-body", tagged(KdcReqBody(), 4)),
    )


class KrbError(univ.Sequence):
    tagSet = application(30)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pvno", int_field(0)),
        namedtype.NamedType("msg-type", int_field(1)),
        namedtype.OptionalNamedType("ctime", time_field(2)),
        namedtype.OptionalNamedType("cusec", int_field(3)),
        namedtype.NamedType("stime", time_field(4)),
        namedtype.NamedType("susec", int_field(5)),
        namedtype.NamedType("error-code", int_field(6)),
        namedtype.OptionalNamedType("crealm", string_field(7)),
        namedtype.OptionalNamedType("cname", principal_field(8)),
        namedtype.NamedType("realm", string_field(9)),
        namedtype.NamedType("sname", principal_field(10)),
        namedtype.OptionalNamedType("e-text", string_field(11)),
        namedtype.OptionalNamedType("e-data", tagged(univ.OctetString(), 12)),
    )


class PaData(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("padata-type", int_field(1)),
        namedtype.NamedType("padata-value", tagged(univ.OctetString(), 2)),
    )


class AsRep(univ.Sequence):
    """AS-REP ::= [APPLICATION 11] KDC-REP; the ticket and encrypted part stay opaque."""

    tagSet = application(11)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pvno", int_field(0)),
        namedtype.NamedType("msg-type", int_field(1)),
        namedtype.OptionalNamedType("padata", tagged(univ.SequenceOf(componentType=PaData()), 2)),
        namedtype.NamedType("crealm", string_field(3)),
        namedtype.NamedType("cname", principal_field(4)),
        namedtype.NamedType("ticket", tagged(univ.Any(), 5)),
        namedtype.NamedType("enc-part", tagged(EncryptedData(), 6)),
    )


def set_principal(field: PrincipalName, name_type: int, *parts: str) -> None:
    field["name-type"] = name_type
    field["name-string"].extend(parts)


def error_name(code: int) -> str:
    return ERROR_NAMES.get(code, f"error {code}")


def realm_for(ctx: ProbeContext) -> str:
    return ctx.domain.upper() if ctx.domain else PLACEHOLDER_REALM


def as_req(realm: str, client: str, nonce: int) -> bytes:
    """A DER AS-REQ for ``client@realm`` asking for krbtgt/realm, no pre-authentication."""
    request = AsReq()
    request["pvno"] = 5
    request["msg-type"] = 10
    body = request["req-body"]
    body["kdc-options"] = body["kdc-options"].clone(hexValue=KDC_OPTIONS)  # keeps the [0] tag
    set_principal(body["cname"], NT_PRINCIPAL, client)
    body["realm"] = realm
    set_principal(body["sname"], NT_SRV_INST, "krbtgt", realm)
    body["till"] = TILL
    body["nonce"] = nonce
    body["etype"].extend(ETYPES)
    return bytes(encoder.encode(request))


def _decode(data: bytes, spec: univ.Sequence, what: str) -> univ.Sequence:
    try:
        message, rest = decoder.decode(data, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError) as exc:
        raise BadReply(f"malformed {what} ({type(exc).__name__}: {str(exc)[:80]})") from None
    if rest:
        raise BadReply(f"{len(rest)} stray bytes after the {what}")
    assert isinstance(message, univ.Sequence)
    return message


def _kdc_time(error: univ.Sequence) -> datetime:
    try:
        stime = cast(datetime, error["stime"].asDateTime)
    except (PyAsn1Error, ValueError) as exc:
        raise BadReply(f"KRB-ERROR with an unreadable stime ({exc})") from None
    if stime.tzinfo is None:
        stime = stime.replace(tzinfo=UTC)
    micro = int(error["susec"])
    if not 0 <= micro < 1_000_000:
        raise BadReply(f"KRB-ERROR with susec {micro} out of range")
    return stime.replace(microsecond=micro)


def decode_krb_error(data: bytes) -> univ.Sequence:
    """A KRB-ERROR with pvno 5 and msg-type 30, or BadReply."""
    error = _decode(data, KrbError(), "KRB-ERROR")
    if int(error["pvno"]) != 5 or int(error["msg-type"]) != 30:
        raise BadReply(
            f"KRB-ERROR with pvno {int(error['pvno'])}, msg-type {int(error['msg-type'])}"
        )
    return error


def describe_krb_error(error: univ.Sequence, received: float) -> tuple[dict[str, object], str]:
    """Facts of a KRB-ERROR (code, realm, KDC clock, skew) and a clock warning (or "")."""
    code = int(error["error-code"])
    kdc_time = _kdc_time(error)
    skew = round(kdc_time.timestamp() - received, 3) + 0.0  # no "-0.0"
    facts: dict[str, object] = {
        "error_code": code,
        "error_name": error_name(code),
        "realm": str(error["realm"]),
        "kdc_time": kdc_time.isoformat(),
        "skew_seconds": skew,
    }
    if error["e-text"].isValue and str(error["e-text"]):
        facts["e_text"] = str(error["e-text"])[:200]
    warning = ""
    if abs(skew) > MAX_SKEW:
        ahead = "ahead of" if skew > 0 else "behind"
        warning = (
            f"; WARNING: its clock is {abs(skew):.0f}s {ahead} this host "
            f"(Kerberos tolerates {MAX_SKEW:.0f}s)"
        )
    return facts, warning


async def tcp_exchange(stream: Stream, message: bytes) -> bytes:
    """Send ``message`` and read the reply with Kerberos' TCP framing (RFC 4120 §7.2.2): each
    message behind a 4-byte big-endian length whose high bit is reserved. kpasswd shares it
    (RFC 3244 §2)."""
    await stream.send(struct.pack("!I", len(message)) + message)
    (length,) = struct.unpack("!I", await stream.read_exactly(4))
    if length == 0 or length & 0x80000000:
        raise BadReply(f"record mark 0x{length:08x} is not a Kerberos TCP length")
    return await stream.read_exactly(length)


def judge(
    data: bytes, realm: str, realm_given: bool, transport: Transport, received: float
) -> Outcome:
    """Judge a reply to our AS-REQ (received at Unix time ``received``): a KRB-ERROR or an
    AS-REP proves a KDC."""
    if not data:
        raise BadReply("an empty reply")
    if data[0] == AS_REP_TAG:
        reply = _decode(data, AsRep(), "AS-REP")
        if int(reply["pvno"]) != 5 or int(reply["msg-type"]) != 11:
            raise BadReply("AS-REP with a wrong pvno or msg-type")
        return Outcome.open(
            f"KDC for realm {reply['crealm']} answered with an AS-REP "
            "(unexpected for a random client name, but still a KDC)",
            reply="AS-REP",
            realm=str(reply["crealm"]),
        )
    if data[0] != KRB_ERROR_TAG:
        raise BadReply(f"neither a KRB-ERROR nor an AS-REP (first bytes {hexdump(data)})")
    facts, warning = describe_krb_error(decode_krb_error(data), received)
    code, name, echoed = facts["error_code"], facts["error_name"], facts["realm"]
    said = f"{name} ({code})"
    if code == 6:
        said += ", as expected for a random client name"
    elif code == RESPONSE_TOO_BIG and transport is Transport.UDP:
        said += ": clients need TCP 88 for this realm"
    elif code == WRONG_REALM:
        said += f": it does not serve realm {realm}"
    if realm_given:
        detail = f"KDC for realm {echoed} answered {said}"
        if str(echoed).upper() != realm:
            detail += f" (asked for realm {realm})"
    else:
        detail = (
            f"KDC answered {said} (AD domain not given: asked for placeholder realm {realm}, "
            "so the realm is unconfirmed)"
        )
    return Outcome.open(detail + warning, **facts)


class KerberosProbe(Probe):
    name = "kerberos"
    description = "AS-REQ for a random principal; a KRB-ERROR proves a KDC (RFC 4120)"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        realm = realm_for(ctx)
        client = f"hybridports-probe-{secrets.token_hex(6)}"
        wire = as_req(realm, client, secrets.randbelow(2**31 - 1) + 1)

        def parse(data: bytes) -> Outcome:
            return judge(data, realm, ctx.domain is not None, target.transport, time.time())

        if target.transport is Transport.UDP:
            return await udp_check(target, ctx, "Kerberos", wire, parse)

        async def exchange(stream: Stream) -> Outcome:
            return parse(await tcp_exchange(stream, wire))

        return await tcp_check(target, ctx, "Kerberos", exchange)
