"""Destination addresses for a probe run: IPs as written, DNS names resolved up front.

An on-premises destination that does not resolve is bad input (exit 2), reported before
any check runs: every later verdict would be meaningless.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import dns.asyncresolver
import dns.exception
import dns.resolver

from hybridports.errors import UserError
from hybridports.topology import Host


async def resolve_name(name: str, dns_server: str | None, timeout: float) -> str:
    """First address of a name, through ``dns_server`` when given, else the system resolver."""
    if dns_server:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns_server]
        resolver.lifetime = timeout
        for kind in ("A", "AAAA"):
            try:
                answer = await resolver.resolve(name, kind)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as exc:
                raise LookupError(f"{dns_server} did not answer for {name!r}: {exc}") from None
            return str(answer[0])
        raise LookupError(f"{name!r} does not resolve through {dns_server}")
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), timeout
        )
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or "lookup timed out"
        raise LookupError(f"{name!r} does not resolve: {reason}") from None
    return str(infos[0][4][0])


async def resolve_hosts(
    hosts: list[Host], dns_server: str | None, timeout: float, file: str
) -> dict[str, str]:
    """Host name → address to connect; a name that does not resolve is a UserError."""
    addresses: dict[str, str] = {}
    pending: dict[str, asyncio.Task[str]] = {}
    for host in hosts:
        if host.kind == "ip":
            addresses[host.name] = str(ipaddress.ip_address(host.address))
        elif host.kind == "dns":
            pending[host.name] = asyncio.create_task(
                resolve_name(host.address, dns_server, timeout)
            )
    for name, task in pending.items():
        try:
            addresses[name] = await task
        except LookupError as exc:
            raise UserError(f"destination host {name!r}: {exc}", file=file) from None
    return addresses
