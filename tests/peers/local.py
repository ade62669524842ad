"""Small local peers for probe tests: servers on 127.0.0.1 that answer as a test needs.

TCP peers are handlers (``Handler``) run by ``tcp_peer``: ``replying(...)`` answers the
request with given bytes, ``silent`` accepts and never answers, ``close_at_once`` accepts
and closes. UDP peers are responders (``Responder``): a function from the request datagram
to the reply (None: no reply), run by ``udp_peer``; ``answering(data)`` always replies
``data``. ``run_against_tcp``/``run_against_udp`` start such a peer on a free port and run
a probe's ``check()`` against it, bounded by the probe's timeout plus one second.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target

LOCALHOST = "127.0.0.1"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Responder = Callable[[bytes], bytes | None]


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
