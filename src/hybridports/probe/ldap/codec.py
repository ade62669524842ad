"""LDAPv3 messages for the directory probes (RFC 4511 §4, BER per X.690 as RFC 4511 §5.1 limits it).

pyasn1 with the RFC 2251 module encodes and decodes; this module only adds the framing a
stream needs (one LDAPMessage is one BER SEQUENCE: read its tag and length, then the body)
and flattens a search reply into plain Python values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1_modules import rfc2251  # type: ignore[import-untyped]  # ships no stubs

from hybridports.probe.net import BadReply, hexdump

SEQUENCE = 0x30
MAX_MESSAGE = 256 * 1024  # a rootDSE entry is a few KB; more is not a real answer
MAX_MESSAGES = 16  # entries + references + done for a base-scope search
NOTICE_OF_DISCONNECTION = "1.3.6.1.4.1.1466.20036"  # RFC 4511 §4.4.1, sent with messageID 0


def _equality_match(choice: Any, attribute: str, value: bytes) -> Any:
    """``choice`` (a Filter, or an item of an ``and`` set) set to (attribute=value)."""
    assertion = choice["equalityMatch"]
    assertion["attributeDesc"] = attribute
    assertion["assertionValue"] = value
    return choice


def equality(attribute: str, value: bytes) -> Any:
    """An equalityMatch item for an ``and`` set (RFC 4511 §4.5.1.7.1)."""
    return _equality_match(rfc2251.Filter2(), attribute, value)


def and_filter(*items: Any) -> Any:
    filter_ = rfc2251.Filter()
    for item in items:
        filter_["and"].append(item)
    return filter_


def equality_filter(attribute: str, value: bytes) -> Any:
    return _equality_match(rfc2251.Filter(), attribute, value)


def present_filter(attribute: str) -> Any:
    filter_ = rfc2251.Filter()
    filter_["present"] = attribute
    return filter_


def base_search(message_id: int, filter_: Any, attributes: list[str]) -> bytes:
    """An anonymous base-scope SearchRequest of the entry ``""`` (the rootDSE, RFC 4512 §5.1)."""
    request = rfc2251.SearchRequest()
    request["baseObject"] = ""
    request["scope"] = "baseObject"
    request["derefAliases"] = "neverDerefAliases"
    request["sizeLimit"] = 0
    request["timeLimit"] = 0
    request["typesOnly"] = False
    request["filter"] = filter_
    for attribute in attributes:
        request["attributes"].append(attribute)
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    message["protocolOp"]["searchRequest"] = request
    return bytes(encoder.encode(message))


@dataclass
class SearchReply:
    """What a base search returned: the entry's attributes (lower-cased names) and the result."""

    attributes: dict[str, list[bytes]] = field(default_factory=dict)
    entries: int = 0
    result_code: int | None = None
    result_name: str = ""
    error_message: str = ""

    def first(self, name: str) -> bytes | None:
        values = self.attributes.get(name.lower())
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        value = self.first(name)
        return value.decode("utf-8", "replace") if value is not None else None

    def texts(self, name: str) -> list[str]:
        return [v.decode("utf-8", "replace") for v in self.attributes.get(name.lower(), [])]

    @property
    def done(self) -> bool:
        return self.result_code is not None


def decode_message(data: bytes) -> tuple[Any, bytes]:
    """One LDAPMessage from the front of ``data``; (message, the bytes after it)."""
    if not data or data[0] != SEQUENCE:
        raise BadReply(f"not an LDAP message (first bytes {hexdump(data)})")
    try:
        message, rest = decoder.decode(data, asn1Spec=rfc2251.LDAPMessage())
    except PyAsn1Error as exc:
        raise BadReply(f"malformed LDAP message ({_short(exc)}; {hexdump(data)})") from None
    return message, bytes(rest)


def absorb(reply: SearchReply, message: Any, message_id: int) -> None:
    """Fold one response message of our search into ``reply``."""
    op = message["protocolOp"]
    kind = op.getName()
    got_id = int(message["messageID"])
    if kind == "extendedResp" and got_id == 0:
        response = op["extendedResp"]
        text = _result_text(response)
        raise BadReply(f"the server sent a notice of disconnection ({text})")
    if got_id != message_id:
        raise BadReply(f"an LDAP {kind} for message {got_id}, not for our search {message_id}")
    if kind == "searchResEntry":
        reply.entries += 1
        for attribute in op["searchResEntry"]["attributes"]:
            name = str(attribute["type"]).lower()
            values = [bytes(v) for v in attribute["vals"]]
            reply.attributes.setdefault(name, []).extend(values)
    elif kind == "searchResDone":
        done = op["searchResDone"]
        reply.result_code = int(done["resultCode"])
        reply.result_name = _result_name(done)
        reply.error_message = bytes(done["errorMessage"]).decode("utf-8", "replace")
    elif kind != "searchResRef":
        raise BadReply(f"an LDAP {kind} in reply to a search request")


def parse_datagram(data: bytes, message_id: int) -> SearchReply:
    """All the LDAP messages of one CLDAP datagram (entry and done usually travel together)."""
    reply = SearchReply()
    rest = data
    for _ in range(MAX_MESSAGES):
        if not rest:
            return reply
        message, rest = decode_message(rest)
        absorb(reply, message, message_id)
    raise BadReply(f"more than {MAX_MESSAGES} LDAP messages in one datagram")


class Channel(Protocol):
    """What the LDAP exchange needs from a stream: net.Stream, or TLS on top of it."""

    async def send(self, data: bytes) -> None: ...

    async def read_exactly(self, count: int) -> bytes: ...


async def read_message(stream: Channel) -> bytes:
    """One BER-framed LDAPMessage from a stream: tag, length (definite form only), body."""
    head = await stream.read_exactly(2)
    if head[0] != SEQUENCE:
        raise BadReply(f"not an LDAP message (first bytes {hexdump(head)})")
    first = head[1]
    if first < 0x80:
        length, length_bytes = first, b""
    else:
        width = first & 0x7F
        if width == 0:
            raise BadReply("indefinite BER length, which LDAP forbids (RFC 4511 §5.1)")
        if width > 4:
            raise BadReply(f"a {width}-byte BER length: not a real LDAP reply")
        length_bytes = await stream.read_exactly(width)
        length = int.from_bytes(length_bytes, "big")
    if length > MAX_MESSAGE:
        raise BadReply(f"announces a {length}-byte LDAP message, more than any rootDSE")
    return head + length_bytes + await stream.read_exactly(length)


async def search_over(stream: Channel, message_id: int) -> SearchReply:
    """Read the replies to our search until SearchResultDone."""
    reply = SearchReply()
    for _ in range(MAX_MESSAGES):
        message, rest = decode_message(await read_message(stream))
        if rest:
            raise BadReply("trailing bytes inside an LDAP message frame")
        absorb(reply, message, message_id)
        if reply.done:
            return reply
    raise BadReply(f"no SearchResultDone after {MAX_MESSAGES} messages")


def _result_name(result: Any) -> str:
    code = result["resultCode"]
    try:
        return str(code.prettyPrint())
    except PyAsn1Error:
        return str(int(code))


def _result_text(result: Any) -> str:
    message = bytes(result["errorMessage"]).decode("utf-8", "replace").strip()
    name = _result_name(result)
    return f"{name}: {message}" if message else name


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "…"
