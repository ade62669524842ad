"""WinRM over HTTP on TCP 5985: an anonymous WS-Management Identify (DMTF DSP0226, MS-WSMV) (§7.8).

HTTP/1.1 is spoken with h11 (sans-IO) over net.py's stream, so the socket verdicts stay
net.py's. The Identify request needs no credentials (``WSMANIDENTIFY: unauthenticated``);
a listener that insists on authentication still proves itself with a 401 that offers
Negotiate/Kerberos from HTTP.sys (``Microsoft-HTTPAPI/2.0``).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import h11

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, Stream, authority, hexdump, tcp_check

WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
IDENTIFY = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    f'xmlns:wsmid="{WSMID}"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>'
).encode()
PATH = "/wsman"
MAX_BODY = 256 * 1024  # an IdentifyResponse is under 1 KiB
HTTP_SYS = "Microsoft-HTTPAPI"


def request_bytes(conn: h11.Connection, target: Target) -> bytes:
    headers = [
        ("Host", authority(target)),
        ("Content-Type", "application/soap+xml;charset=UTF-8"),
        ("WSMANIDENTIFY", "unauthenticated"),
        ("Content-Length", str(len(IDENTIFY))),
        ("User-Agent", "hybridports"),
        ("Connection", "close"),
    ]
    wire = conn.send(h11.Request(method="POST", target=PATH, headers=headers)) or b""
    wire += conn.send(h11.Data(data=IDENTIFY)) or b""
    wire += conn.send(h11.EndOfMessage()) or b""
    return wire


def parse_identify(body: bytes) -> dict[str, str] | None:
    """ProtocolVersion, ProductVendor, ProductVersion of an IdentifyResponse, else None."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None  # a SOAP reply never has a DTD; refuse entity expansion outright
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    found = root if root.tag == f"{{{WSMID}}}IdentifyResponse" else None
    found = found if found is not None else root.find(f".//{{{WSMID}}}IdentifyResponse")
    if found is None:
        return None
    facts: dict[str, str] = {}
    for field in ("ProtocolVersion", "ProductVendor", "ProductVersion"):
        element = found.find(f"{{{WSMID}}}{field}")
        if element is not None and element.text:
            facts[field] = element.text.strip()
    return facts


def _header(response: h11.Response, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in response.headers if k == name]


def judge(response: h11.Response, body: bytes) -> Outcome:
    status = response.status_code
    server = ", ".join(_header(response, b"server"))
    facts: dict[str, object] = {"http_status": status, "server": server or None}
    from_http_sys = server.startswith(HTTP_SYS)
    banner = f"'{server}'" if server else "a server without a Server header"
    if status == 200:
        identify = parse_identify(body)
        if identify is not None:
            facts.update(
                protocol_version=identify.get("ProtocolVersion"),
                product_vendor=identify.get("ProductVendor"),
                product_version=identify.get("ProductVersion"),
            )
            product = " ".join(
                v for v in (identify.get("ProductVendor"), identify.get("ProductVersion")) if v
            )
            return Outcome.open(
                f"WinRM answered an anonymous Identify at {PATH}: {product or 'no product'}",
                **facts,
            )
        return Outcome.error(
            f"HTTP 200 from {banner} at {PATH}, but no WS-Management IdentifyResponse: not WinRM",
            **facts,
        )
    schemes = sorted(
        {
            words[0]
            for value in _header(response, b"www-authenticate")
            for challenge in value.split(",")  # also splits auth-params: keep scheme tokens
            if (words := challenge.split()) and "=" not in words[0]
        }
    )
    facts["auth_schemes"] = schemes
    if status == 401 and from_http_sys and {"Negotiate", "Kerberos"} & set(schemes):
        return Outcome.open(
            f"WinRM listener, anonymous Identify refused (401 from {server}, offers "
            f"{', '.join(schemes)})",
            **facts,
        )
    if status == 404 and from_http_sys:
        return Outcome.error(
            f"HTTP.sys answers but no WinRM listener at {PATH} (404 from {server}): "
            "WinRM not configured on this address",
            **facts,
        )
    reason = response.reason.decode("latin-1", "replace").strip()
    return Outcome.error(
        f"HTTP {status}{' ' + reason if reason else ''} from {banner} at {PATH}: "
        "not a WinRM listener",
        **facts,
    )


async def identify(stream: Stream, target: Target) -> Outcome:
    conn = h11.Connection(h11.CLIENT)
    await stream.send(request_bytes(conn, target))
    received = b""  # the first bytes, to refuse a non-HTTP peer without waiting
    response: h11.Response | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise BadReply(
                f"not a valid HTTP reply ({exc}; first bytes {hexdump(received)})"
            ) from None
        if event is h11.NEED_DATA:
            try:
                chunk = await stream.read_some()
            except asyncio.IncompleteReadError:
                if not received:
                    raise
                chunk = b""  # let h11 decide whether the reply was complete
            if len(received) < 16:
                received += chunk[: 16 - len(received)]
                if not b"HTTP/".startswith(received[:5]):
                    raise BadReply(f"not HTTP (first bytes {hexdump(received)})")
            conn.receive_data(chunk)
        elif isinstance(event, h11.Response):
            if event.status_code != 200:
                return judge(event, b"")  # headers say all; the body is an error page
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise BadReply(f"a reply body over {MAX_BODY // 1024} KiB")
        elif isinstance(event, h11.EndOfMessage) and response is not None:
            return judge(response, bytes(body))
        elif isinstance(event, h11.ConnectionClosed):
            raise BadReply("the connection closed before a complete HTTP reply")
        # InformationalResponse (100 Continue): keep reading.


class WinrmProbe(Probe):
    name = "winrm"
    description = "WinRM HTTP: anonymous WS-Management Identify on POST /wsman"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        return await tcp_check(target, ctx, "WinRM (HTTP)", lambda s: identify(s, target))
