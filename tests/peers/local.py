"""Small local peers for probe tests: servers on 127.0.0.1 that answer as a test needs.

TCP peers are handlers (``Handler``) run by ``tcp_peer``: ``replying(...)`` answers the
request with given bytes, ``silent`` accepts and never answers, ``close_at_once`` accepts
and closes. UDP peers are responders (``Responder``): a function from the request datagram
to the reply (None: no reply), run by ``udp_peer``; ``answering(data)`` always replies
``data``. ``run_against_tcp``/``run_against_udp`` start such a peer on a free port and run
a probe's ``check()`` against it, bounded by the probe's timeout plus one second.

HTTP: ``serving_http(route)`` is a keep-alive HTTP/1.1 server handler; ``http_proxy(mode)``
serves a forward proxy (CONNECT tunnels and absolute-form requests, relayed to 127.0.0.1
whatever the name asked for) that can also refuse with 403, 407 or 502.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import urlsplit

import h11

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target

LOCALHOST = "127.0.0.1"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Responder = Callable[[bytes], bytes | None]
Route = Callable[[str, str, bytes], tuple[int, list[tuple[str, str]], bytes]]


@asynccontextmanager
async def tcp_peer(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve ``handler`` on a free TCP port of 127.0.0.1 (over TLS with ``tls``); the port."""
    server = await asyncio.start_server(handler, LOCALHOST, 0, ssl=tls)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        yield port


def replying(*parts: bytes, close: bool = True) -> Handler:
    """A peer that reads the request, then writes ``parts`` one by one (each drained).

    With ``close=False`` it then holds the connection open until the probe closes it.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        for part in parts:
            writer.write(part)
            await writer.drain()
        if not close:
            await reader.read()  # until the probe closes
        writer.close()

    return handler


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A peer that accepts and never answers, until the probe gives up and closes."""
    await reader.read()
    writer.close()


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A peer that accepts the connection and closes it without reading."""
    writer.close()


class _UdpPeer(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.responder(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@asynccontextmanager
async def udp_peer(responder: Responder) -> AsyncIterator[int]:
    """Answer each datagram on a free UDP port of 127.0.0.1 with ``responder``; the port."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _UdpPeer(responder), local_addr=(LOCALHOST, 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def answering(data: bytes | None) -> Responder:
    """A responder that replies ``data`` to every datagram (None: stays silent)."""
    return lambda request: data


async def check_bounded(probe: Probe, target: Target, ctx: ProbeContext) -> Outcome:
    """``probe.check()``, failing the test if it overruns its own timeout by a second."""
    return await asyncio.wait_for(probe.check(target, ctx), ctx.timeout + 1)


async def run_against_tcp(
    probe: Probe,
    handler: Handler,
    timeout: float = 1.0,
    server_name: str | None = None,
    tls: ssl.SSLContext | None = None,
    **settings: Any,
) -> Outcome:
    """Run ``probe`` against ``handler`` served on 127.0.0.1 (``settings``: ProbeContext's)."""
    async with tcp_peer(handler, tls) as port:
        target = Target("peer", LOCALHOST, port, Transport.TCP, server_name)
        return await check_bounded(probe, target, ProbeContext(timeout=timeout, **settings))


async def run_against_udp(
    probe: Probe, responder: Responder, timeout: float = 1.0, **settings: Any
) -> Outcome:
    """Run ``probe`` against ``responder`` on a UDP port of 127.0.0.1."""
    async with udp_peer(responder) as port:
        target = Target("peer", LOCALHOST, port, Transport.UDP)
        return await check_bounded(probe, target, ProbeContext(timeout=timeout, **settings))


def serving_http(route: Route, seen: list[str] | None = None) -> Handler:
    """An HTTP/1.1 peer with keep-alive: ``route(method, target, body)`` gives the status,
    headers and body of each answer; ``seen`` collects "METHOD target" of each request."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Request):
                    request, body = event, bytearray()
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage) and request is not None:
                    method, target = request.method.decode(), request.target.decode()
                    if seen is not None:
                        seen.append(f"{method} {target}")
                    status, headers, payload = route(method, target, bytes(body))
                    headers = [*headers, ("Content-Length", str(len(payload)))]
                    reason = (
                        HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
                    )
                    head = h11.Response(status_code=status, headers=headers, reason=reason)
                    writer.write(conn.send(head) or b"")
                    writer.write(conn.send(h11.Data(data=payload)) or b"")
                    writer.write(conn.send(h11.EndOfMessage()) or b"")
                    await writer.drain()
                    if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                        break
                    conn.start_next_cycle()
                else:
                    break
        except (h11.ProtocolError, ConnectionError):
            pass
        finally:
            writer.close()

    return handler


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@asynccontextmanager
async def http_proxy(
    mode: str = "allow",
    credentials: str | None = None,
    seen: list[str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[int]:
    """A forward proxy on 127.0.0.1; its port. Modes: allow, deny (403), bad-gateway (502),
    garbage (not HTTP), silent. With ``credentials`` ("user:password") it answers 407 to
    requests without them. ``seen`` collects each request line; ``tls`` makes it an
    https:// proxy."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        if seen is not None:
            seen.append(lines[0])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        answer: bytes | None = None
        wanted = "Basic " + base64.b64encode((credentials or "").encode()).decode()
        if mode == "silent":
            await reader.read()
        elif mode == "garbage":
            answer = b"\x00\xffSSH-2.0-nonsense\r\n\r\n"
        elif credentials is not None and headers.get("proxy-authorization") != wanted:
            answer = (
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nProxy-Authenticate: Negotiate\r\n'
                b"Content-Length: 0\r\n\r\n"
            )
        elif mode == "deny":
            answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
        elif mode == "bad-gateway":
            answer = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
        if answer is not None or mode == "silent":
            writer.write(answer or b"")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        if method == "CONNECT":
            port = int(target.rpartition(":")[2])
            first = b"HTTP/1.1 200 Connection established\r\n\r\n"
        else:  # absolute form: relay in origin form
            url = urlsplit(target)
            port = url.port or 80
            origin = (url.path or "/") + (f"?{url.query}" if url.query else "")
            rest = head.split(b"\r\n", 1)[1]
            first = b""
        try:
            up_reader, up_writer = await asyncio.open_connection(LOCALHOST, port)
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if method == "CONNECT":
            writer.write(first)
        else:
            up_writer.write(f"{method} {origin} {version}\r\n".encode() + rest)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except asyncio.CancelledError:  # the test's loop ends first: not worth a traceback
            writer.close()
            up_writer.close()

    async with tcp_peer(handler, tls) as port:
        yield port
