"""WinRM Identify probe (§7.8): request, reply judgement, a WinRM-like HTTP server, the lab.

No WinRM server runs on Linux, and Samba has none: against the lab DC, 5985 is refused. The
`open` cases run against a small real HTTP server started by the test on 127.0.0.1 that
answers the way a Windows WinRM listener (HTTP.sys, ``Server: Microsoft-HTTPAPI/2.0``) does,
with a published IdentifyResponse body; it is a stand-in, not a Windows peer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import h11
import pytest

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from hybridports.probe.winrm import IDENTIFY, WinrmProbe, judge, parse_identify, request_bytes
from lab import Lab
from tests.peers.local import Handler, close_at_once, replying, run_against_tcp, silent
from tests.probe.conftest import probe_in_client

PROBE = "hybridports.probe.winrm:WinrmProbe"
# An anonymous IdentifyResponse of Windows Server 2012 R2 as published (knife-windows'
# wsman_test spec); an anonymous Identify hides the OS version ("OS: 0.0.0").
IDENTIFY_RESPONSE = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>'
    b'<wsmid:IdentifyResponse xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/'
    b'wsmanidentity.xsd"><wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'
    b"</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>"
    b"<wsmid:ProductVersion>OS: 0.0.0 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>"
    b"</wsmid:IdentifyResponse></s:Body></s:Envelope>"
)
HTTP_SYS = "Microsoft-HTTPAPI/2.0"


def _target(port: int = 5985, server_name: str | None = None, address: str = "127.0.0.1") -> Target:
    return Target("peer", address, port, Transport.TCP, server_name)


def test_request() -> None:
    wire = request_bytes(h11.Connection(h11.CLIENT), _target(5985, "ws01.example.test"))
    head, _, body = wire.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /wsman HTTP/1.1"
    assert b"host: ws01.example.test:5985" in [line.lower() for line in lines]
    assert b"Content-Type: application/soap+xml;charset=UTF-8" in lines
    assert b"WSMANIDENTIFY: unauthenticated" in lines
    assert body == IDENTIFY
    assert parse_identify(body) is None  # the request is Identify, not IdentifyResponse
    v6 = request_bytes(h11.Connection(h11.CLIENT), _target(5985, address="2001:db8::5"))
    assert b"Host: [2001:db8::5]:5985" in v6


def test_parse_identify() -> None:
    assert parse_identify(IDENTIFY_RESPONSE) == {
        "ProtocolVersion": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
        "ProductVendor": "Microsoft Corporation",
        "ProductVersion": "OS: 0.0.0 SP: 0.0 Stack: 3.0",
    }
    assert parse_identify(b"<html><body>It works</body></html>") is None
    assert parse_identify(b"\x00\x01garbage") is None
    assert parse_identify(IDENTIFY_RESPONSE[:-30]) is None  # truncated XML
    bomb = b'<!DOCTYPE s [<!ENTITY a "aaaa">]>' + IDENTIFY_RESPONSE
    assert parse_identify(bomb) is None


def _response(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    return h11.Response(status_code=status, headers=headers)


def test_judge() -> None:
    ok = judge(_response(200, [("Server", HTTP_SYS)]), IDENTIFY_RESPONSE)
    assert ok.verdict is Verdict.OPEN
    assert ok.facts["product_vendor"] == "Microsoft Corporation"
    auth = _response(401, [("Server", HTTP_SYS), ("WWW-Authenticate", "Negotiate"),
                           ("WWW-Authenticate", "Kerberos")])  # fmt: skip
    refused = judge(auth, b"")
    assert refused.verdict is Verdict.OPEN
    assert "anonymous Identify refused" in refused.detail
    assert refused.facts["auth_schemes"] == ["Kerberos", "Negotiate"]
    basic_only = judge(_response(401, [("Server", "nginx"), ("WWW-Authenticate", "Basic")]), b"")
    assert basic_only.verdict is Verdict.ERROR and "'nginx'" in basic_only.detail
    missing = judge(_response(404, [("Server", HTTP_SYS)]), b"")
    assert missing.verdict is Verdict.ERROR
    assert "HTTP.sys answers but no WinRM listener at /wsman" in missing.detail
    apache = judge(_response(404, [("Server", "Apache/2.4.62")]), b"")
    assert apache.verdict is Verdict.ERROR and "404" in apache.detail and "Apache" in apache.detail
    html = judge(_response(200, []), b"<html/>")
    assert html.verdict is Verdict.ERROR and "without a Server header" in html.detail


class _WinrmLike(BaseHTTPRequestHandler):
    """Answers like HTTP.sys with a WinRM listener on /wsman (modes set per test)."""

    server_version = HTTP_SYS
    sys_version = ""
    mode: ClassVar[str] = "identify"
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path != "/wsman" or self.mode == "no-listener":
            self._reply(404, b"<h2>Not Found</h2>", "text/html; charset=us-ascii")
        elif self.mode == "identify" and self.headers.get("WSMANIDENTIFY") == "unauthenticated":
            self._reply(200, IDENTIFY_RESPONSE, "application/soap+xml;charset=UTF-8")
        else:
            self.send_response(401, "")
            self.send_header("WWW-Authenticate", "Negotiate")
            self.send_header("WWW-Authenticate", "Kerberos")
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def winrm_like() -> Iterator[int]:
    _WinrmLike.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WinrmLike)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def _check(port: int, timeout: float = 2.0) -> Outcome:
    return asyncio.run(WinrmProbe().check(_target(port), ProbeContext(timeout=timeout)))


@pytest.mark.parametrize(
    ("mode", "verdict", "words"),
    [
        ("identify", Verdict.OPEN, "Microsoft Corporation OS: 0.0.0 SP: 0.0 Stack: 3.0"),
        ("auth-only", Verdict.OPEN, "anonymous Identify refused"),
        ("no-listener", Verdict.ERROR, "HTTP.sys answers but no WinRM listener at /wsman"),
    ],
)
def test_against_a_winrm_like_http_server(
    winrm_like: int, mode: str, verdict: Verdict, words: str
) -> None:
    _WinrmLike.mode = mode
    outcome = _check(winrm_like)
    assert outcome.verdict is verdict, outcome.detail
    assert words in outcome.detail
    (request,) = _WinrmLike.seen
    assert request["path"] == "/wsman"
    assert request["headers"]["Content-Type"] == "application/soap+xml;charset=UTF-8"
    assert request["body"] == IDENTIFY
    if mode == "identify":
        assert outcome.facts["product_version"] == "OS: 0.0.0 SP: 0.0 Stack: 3.0"
        assert outcome.facts["server"] == HTTP_SYS


async def _against(handler: Handler) -> Outcome:
    return await run_against_tcp(WinrmProbe(), handler)


HEAD_200 = b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\n"


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (replying(b"SSH-2.0-OpenSSH_9.2\r\n", close=False), "not HTTP"),
        (replying(b"\x16\x03\x01\x00\x05hello", close=False), "not HTTP"),
        (replying(b"HTTP/1.1 abc\r\n\r\n"), "not a valid HTTP reply"),
        (replying(HEAD_200 + b"Content-Length: 500\r\n\r\n<s:Env"), "not a valid HTTP reply"),
        (
            replying(HEAD_200 + b"Content-Length: 900000\r\n\r\n", b"<" * 300_000, close=False),
            "over 256 KiB",
        ),
        (replying(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000, close=False), "not a valid HTTP"),
        (replying(HEAD_200 + b"Content-Length: 7\r\n\r\n<html/>"), "no WS-Management"),
        (replying(b"HTTP/1.1 302 Found\r\nServer: nginx\r\n\r\n"), "HTTP 302 Found from 'nginx'"),
        (close_at_once, "closed the connection"),
        (replying(b"HTTP/1.1 200 OK\r\n", close=False), "no WinRM (HTTP) reply within"),
        (silent, "no WinRM (HTTP) reply within"),
    ],
)
def test_hostile_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = asyncio.run(_against(handler))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_dc_has_no_winrm(lab: Lab, address: str) -> None:
    outcome = probe_in_client(lab, PROBE, address, 5985, "tcp")
    assert outcome["verdict"] == "closed", outcome["detail"]


@pytest.mark.peers
def test_ldap_port_is_not_winrm(lab: Lab) -> None:
    """A real non-HTTP service: Samba's LDAP drops the unparseable request."""
    outcome = probe_in_client(lab, PROBE, "198.18.2.10", 389, "tcp")
    assert outcome["verdict"] == "error", outcome["detail"]
