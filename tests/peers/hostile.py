"""Misbehaving peers: TCP and UDP servers that answer every probe badly, on purpose.

    python tests/peers/hostile.py --address ADDR --mode MODE --tcp 53,88 --udp 53,88

Modes: garbage (random bytes at once / as the UDP reply), silent (accept, never answer),
close (accept and close at once), huge (an endless stream of bytes), truncated (a plausible
first few bytes of a reply, then close), http (an HTTP 200 to anything). Runs until killed;
prints "ready" on stdout once every socket is bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from typing import Any

CHUNK = b"\x30\x84\x7f\xff\xff\xff" + b"A" * 65530


async def tcp_handler(
    mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        if mode == "close":
            return
        if mode == "garbage":
            writer.write(os.urandom(64))
            await writer.drain()
            await reader.read(65536)
            await asyncio.sleep(30)
        elif mode == "silent":
            await asyncio.sleep(3600)
        elif mode == "huge":
            for _ in range(400):  # bounded: 26 MB at most
                writer.write(CHUNK)
                await writer.drain()
        elif mode == "truncated":
            await reader.read(65536)
            writer.write(b"\x00\x00\x10\x00\x30\x82\x0f")
            await writer.drain()
        elif mode == "http":
            await reader.read(65536)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: hostile\r\n\r\nok")
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class UdpHostile(asyncio.DatagramProtocol):
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # a datagram transport (not a DatagramTransport subclass)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.mode in ("garbage", "http"):
            self.transport.sendto(os.urandom(48), addr)
        elif self.mode == "truncated":
            self.transport.sendto(data[:3], addr)
        elif self.mode == "huge":
            self.transport.sendto(b"\x30" * 65000, addr)
        # silent and close: no answer


async def serve(address: str, mode: str, tcp_ports: list[int], udp_ports: list[int]) -> None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    servers = [
        await asyncio.start_server(
            lambda r, w: tcp_handler(mode, r, w), address, port, family=family, reuse_address=True
        )
        for port in tcp_ports
    ]
    for port in udp_ports:
        await loop.create_datagram_endpoint(lambda: UdpHostile(mode), local_addr=(address, port))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers), asyncio.Event().wait())


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument(
        "--mode", required=True, choices=["garbage", "silent", "close", "huge", "truncated", "http"]
    )
    parser.add_argument("--tcp", default="")
    parser.add_argument("--udp", default="")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.address, args.mode, _ports(args.tcp), _ports(args.udp)))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
