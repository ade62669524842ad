"""Cloud checks through the component's proxy (§6 items 2 and 4, §7.0): CONNECT tunnels for
HTTPS and AMQPS, absolute-form GET for CRLs, and the proxy's refusals (403, 407, 502), silence,
garbage and unreachability, against a small forward proxy on 127.0.0.1 (tests/peers/local.py)."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from hybridports.model import Transport
from hybridports.probe.amqp import SASL_HEADER, AmqpProbe
from hybridports.probe.crl import CrlProbe
from hybridports.probe.https import HttpsProbe
from hybridports.probe.interface import Outcome, PkiHint, Probe, ProbeContext, Target, Verdict
from hybridports.probe.net import Unreachable, open_stream, proxy_authorization
from hybridports.topology import Proxy, parse_proxy
from tests.peers.local import (
    Handler,
    check_bounded,
    http_proxy,
    serving_http,
    tcp_peer,
)
from tests.peers.pki import Ca, Leaf
from tests.probe.test_amqp import MECHANISMS_FRAME, amqp_peer

NAME = "login.cloud.test"
CRL_HOST = "crl.cloud.test"


class Pki:
    def __init__(self, directory: Path) -> None:
        self.root = Ca.root(directory, "HP Test Public Root G1")
        self.issuing = self.root.intermediate("HP Test TLS CA 01")
        self.public_ca = self.root.pem_file("public-ca")
        self.leaf = self.issuing.leaf([NAME, "localhost"])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("proxy-pki"))


def website(status: int = 200) -> Handler:
    return serving_http(lambda method, target, body: (status, [("Server", "cloud-front")], b"ok"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def through(
    proxy: Callable[[int], Proxy] | Proxy,
    probe: Probe,
    handler: Handler,
    leaf: Leaf | None,
    pki: Pki,
    mode: str = "allow",
    credentials: str | None = None,
    seen: list[str] | None = None,
    server_name: str = NAME,
    timeout: float = 1.5,
    hints: list[PkiHint] | None = None,
    proxy_tls: Leaf | None = None,
) -> Outcome:
    """Run ``probe`` at a peer (TLS with ``leaf``) through a proxy in ``mode``."""
    tls = pki.issuing.server_context(leaf) if leaf else None
    proxy_context = pki.issuing.server_context(proxy_tls) if proxy_tls else None
    async with (
        tcp_peer(handler, tls) as port,
        http_proxy(mode, credentials, seen, proxy_context) as proxy_port,
    ):
        chosen = proxy(proxy_port) if callable(proxy) else proxy
        ctx = ProbeContext(
            timeout=timeout, proxy=chosen, public_ca=pki.public_ca, ca_bundle=pki.public_ca
        )
        for hint in hints or []:
            ctx.pki.add(PkiHint(hint.url.format(port=port), hint.kind, hint.issuer_der))
        target = Target(server_name, "192.0.2.1", port, Transport.TCP, server_name)
        return await check_bounded(probe, target, ctx)


def http_proxy_at(
    user: str = "", host: str = "127.0.0.1", scheme: str = "http"
) -> Callable[[int], Proxy]:
    def at(port: int) -> Proxy:
        return parse_proxy(f"{scheme}://{user}{host}:{port}")

    return at


def run(coroutine: Coroutine[Any, Any, Outcome]) -> Outcome:
    return asyncio.run(coroutine)


def test_https_through_the_proxy_is_open(pki: Pki) -> None:
    seen: list[str] = []
    outcome = run(through(http_proxy_at(), HttpsProbe(), website(), pki.leaf, pki, seen=seen))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen[0].startswith(f"CONNECT {NAME}:") and seen[0].endswith(" HTTP/1.1")
    assert "; HTTP 200 (cloud-front) through proxy http://127.0.0.1:" in outcome.detail
    assert outcome.facts["via_proxy"] is True


def test_proxy_denying_the_name(pki: Pki) -> None:
    outcome = run(through(http_proxy_at(), HttpsProbe(), website(), pki.leaf, pki, mode="deny"))
    assert outcome.verdict is Verdict.ERROR
    assert "answered 'HTTP/1.1 403 Forbidden' to CONNECT login.cloud.test:" in outcome.detail
    assert outcome.detail.endswith(": the proxy denies this name: add it to the proxy's allow-list")
    assert outcome.detail.startswith("proxy http://127.0.0.1:")
    assert outcome.facts["proxy_status"] == 403


def test_proxy_wanting_authentication(pki: Pki) -> None:
    outcome = run(
        through(http_proxy_at(), HttpsProbe(), website(), pki.leaf, pki, credentials="svc:pw")
    )
    assert outcome.verdict is Verdict.ERROR
    assert "answered 'HTTP/1.1 407 Proxy Authentication Required' to CONNECT" in outcome.detail
    assert outcome.detail.endswith(
        ": the proxy wants authentication (offers Basic, Negotiate): give user:password in the "
        "proxy URL / the agent's proxy configuration"
    )


def test_proxy_refusing_the_credentials(pki: Pki) -> None:
    proxy = http_proxy_at("svc:wrong@")
    outcome = run(through(proxy, HttpsProbe(), website(), pki.leaf, pki, credentials="svc:pw"))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith(
        ": the proxy refused the credentials of svc (offers Basic, Negotiate)"
    )


def test_proxy_with_the_right_credentials(pki: Pki) -> None:
    proxy = http_proxy_at("svc:p%40ss@")  # URL-encoded password: p@ss
    outcome = run(through(proxy, HttpsProbe(), website(), pki.leaf, pki, credentials="svc:p@ss"))
    assert outcome.verdict is Verdict.OPEN, outcome.detail


def test_proxy_that_cannot_reach_the_destination(pki: Pki) -> None:
    outcome = run(
        through(http_proxy_at(), HttpsProbe(), website(), pki.leaf, pki, mode="bad-gateway")
    )
    assert outcome.verdict is Verdict.ERROR
    assert "answered 'HTTP/1.1 502 Bad Gateway' to CONNECT login.cloud.test:" in outcome.detail
    assert "the proxy could not reach it (its DNS or its upstream firewall)" in outcome.detail


def test_silent_proxy(pki: Pki) -> None:
    outcome = run(
        through(http_proxy_at(), HttpsProbe(), website(), pki.leaf, pki, mode="silent", timeout=1)
    )
    assert outcome.verdict is Verdict.ERROR
    assert ": no answer to CONNECT login.cloud.test:" in outcome.detail
    assert " within 1s (the proxy may still be resolving or connecting to it" in outcome.detail


def test_proxy_that_does_not_speak_http(pki: Pki) -> None:
    outcome = run(through(http_proxy_at(), HttpsProbe(), website(), pki.leaf, pki, mode="garbage"))
    assert outcome.verdict is Verdict.ERROR
    assert "the proxy's answer to CONNECT login.cloud.test:" in outcome.detail
    assert "is not HTTP: first bytes 00 ff 53 53 48" in outcome.detail


def test_refused_proxy_port_is_closed_and_names_the_proxy() -> None:
    port = free_port()
    proxy = parse_proxy(f"http://127.0.0.1:{port}")
    target = Target(NAME, "192.0.2.1", 443, Transport.TCP, NAME)
    outcome = asyncio.run(HttpsProbe().check(target, ProbeContext(timeout=1, proxy=proxy)))
    assert outcome.verdict is Verdict.CLOSED
    assert outcome.detail == (
        f"proxy http://127.0.0.1:{port} unreachable: TCP {port}: TCP RST (connection refused by "
        "127.0.0.1)"
    )
    assert outcome.facts["proxy"] == f"http://127.0.0.1:{port}"


def test_unresolvable_proxy_name_is_an_error() -> None:
    proxy = parse_proxy("http://proxy.invalid:3128")
    target = Target(NAME, "192.0.2.1", 443, Transport.TCP, NAME)
    outcome = asyncio.run(HttpsProbe().check(target, ProbeContext(timeout=2, proxy=proxy)))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith(
        "proxy http://proxy.invalid:3128 unreachable: cannot resolve proxy.invalid ("
    ) or outcome.detail.startswith("proxy http://proxy.invalid:3128 unreachable: no DNS answer")


def test_proxy_given_by_name(pki: Pki) -> None:
    proxy = http_proxy_at(host="localhost")
    outcome = run(through(proxy, HttpsProbe(), website(), pki.leaf, pki))
    assert outcome.verdict is Verdict.OPEN, outcome.detail


def test_https_proxy_tunnels_tls_in_tls(pki: Pki) -> None:
    proxy = http_proxy_at(host="localhost", scheme="https")
    seen: list[str] = []
    outcome = run(
        through(proxy, HttpsProbe(), website(), pki.leaf, pki, seen=seen, proxy_tls=pki.leaf)
    )
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen and seen[0].startswith("CONNECT login.cloud.test:")


def test_https_proxy_with_an_untrusted_certificate(pki: Pki, tmp_path: Path) -> None:
    other = Ca.root(tmp_path, "Other Root").intermediate("Other CA")
    proxy = http_proxy_at(host="localhost", scheme="https")

    async def scenario() -> Outcome:
        async with (
            tcp_peer(website(), pki.issuing.server_context(pki.leaf)) as port,
            http_proxy(tls=other.server_context(other.leaf(["localhost"]))) as proxy_port,
        ):
            ctx = ProbeContext(timeout=1.5, proxy=proxy(proxy_port), public_ca=pki.public_ca)
            target = Target(NAME, "192.0.2.1", port, Transport.TCP, NAME)
            return await check_bounded(HttpsProbe(), target, ctx)

    outcome = asyncio.run(scenario())
    assert outcome.verdict is Verdict.ERROR
    assert "TLS to the proxy failed: untrusted certificate issued by Other CA" in outcome.detail


def test_amqp_through_the_proxy(pki: Pki) -> None:
    seen: list[str] = []
    handler = amqp_peer(SASL_HEADER, MECHANISMS_FRAME)
    outcome = run(through(http_proxy_at(), AmqpProbe(), handler, pki.leaf, pki, seen=seen))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert "mechanisms MSSBCBS, ANONYMOUS, PLAIN, EXTERNAL" in outcome.detail
    assert "through proxy http://127.0.0.1:" in outcome.detail
    assert seen[0].startswith(f"CONNECT {NAME}:")


def crl_site(pki: Pki) -> Handler:
    crl = pki.issuing.crl()
    return serving_http(
        lambda method, target, body: (200, [("Content-Type", "application/pkix-crl")], crl)
    )


def test_crl_through_the_proxy_uses_absolute_form(pki: Pki) -> None:
    seen: list[str] = []
    hint = PkiHint(f"http://{CRL_HOST}:{{port}}/ca.crl", "crl", pki.issuing.der)
    outcome = run(
        through(
            http_proxy_at(),
            CrlProbe(),
            crl_site(pki),
            None,
            pki,
            seen=seen,
            server_name=CRL_HOST,
            hints=[hint],
        )
    )
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen[0].startswith(f"GET http://{CRL_HOST}:") and seen[0].endswith("/ca.crl HTTP/1.1")
    assert "signed by HP Test TLS CA 01; through proxy http://127.0.0.1:" in outcome.detail
    assert outcome.facts["via_proxy"] is True


@pytest.mark.parametrize(
    ("mode", "credentials", "words"),
    [
        ("deny", None, "answered 'HTTP/1.1 403 Forbidden' to GET http://crl.cloud.test:"),
        ("allow", "svc:pw", "answered 'HTTP/1.1 407 Proxy Authentication Required' to GET http://"),
        ("bad-gateway", None, "the proxy could not reach it"),
    ],
)
def test_crl_refused_by_the_proxy(pki: Pki, mode: str, credentials: str | None, words: str) -> None:
    hint = PkiHint(f"http://{CRL_HOST}:{{port}}/ca.crl", "crl", pki.issuing.der)
    outcome = run(
        through(
            http_proxy_at(),
            CrlProbe(),
            crl_site(pki),
            None,
            pki,
            mode=mode,
            credentials=credentials,
            server_name=CRL_HOST,
            hints=[hint],
        )
    )
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail, outcome.detail
    assert outcome.detail.startswith("proxy http://127.0.0.1:")


def test_crl_host_without_url_through_the_proxy(pki: Pki) -> None:
    seen: list[str] = []
    outcome = run(
        through(
            http_proxy_at(), CrlProbe(), crl_site(pki), None, pki, seen=seen, server_name=CRL_HOST
        )
    )
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen[0].startswith(f"GET http://{CRL_HOST}:") and seen[0].endswith("/ HTTP/1.1")
    assert "through proxy" in outcome.detail and "no CRL path known" in outcome.detail


def test_connect_request_names_the_target_and_carries_basic_credentials() -> None:
    received: list[bytes] = []

    async def proxy_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.0 200 Connection established\r\nVia: 1.1 test\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    async def scenario() -> None:
        async with tcp_peer(proxy_peer) as port:
            proxy = parse_proxy(f"http://svc:p%40ss@127.0.0.1:{port}")
            ctx = ProbeContext(timeout=1, proxy=proxy)
            for target in (
                Target("v6", "2001:db8::1", 443, Transport.TCP, None),
                Target("named", "192.0.2.1", 5671, Transport.TCP, "sb.cloud.test"),
            ):
                stream = await open_stream(target, ctx)
                await stream.close()

    asyncio.run(scenario())
    token = base64.b64encode(b"svc:p@ss").decode()
    assert received[0].startswith(
        b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n"
    )
    assert f"Proxy-Authorization: Basic {token}\r\n".encode() in received[0]
    assert b"User-Agent: hybridports/" in received[0]
    assert received[1].startswith(b"CONNECT sb.cloud.test:5671 HTTP/1.1\r\n")
    assert proxy_authorization(parse_proxy("http://p:1")) is None


def test_proxy_head_too_large_is_refused() -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 40000 + b"\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    async def scenario() -> str:
        async with tcp_peer(chatty) as port:
            ctx = ProbeContext(timeout=1, proxy=parse_proxy(f"http://127.0.0.1:{port}"))
            with pytest.raises(Unreachable) as caught:
                await open_stream(Target("t", "192.0.2.1", 443, Transport.TCP, NAME), ctx)
            return caught.value.outcome.detail

    assert "a reply head over 16 KiB" in asyncio.run(scenario())


def test_proxy_offering_only_windows_authentication() -> None:
    async def negotiate_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\n"
            b"Proxy-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    async def scenario() -> Outcome:
        async with tcp_peer(negotiate_only) as port:
            ctx = ProbeContext(timeout=1, proxy=parse_proxy(f"http://svc:pw@127.0.0.1:{port}"))
            return await HttpsProbe().check(
                Target(NAME, "192.0.2.1", 443, Transport.TCP, NAME), ctx
            )

    outcome = asyncio.run(scenario())
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith(
        "to CONNECT login.cloud.test:443: the proxy refused the credentials of svc (offers "
        "NTLM, Negotiate; not Basic, the one scheme this check can send)"
    )
