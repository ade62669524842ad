"""The only place that turns socket outcomes into verdicts.

TCP: an RST is ``closed``; silence is ``filtered``; an ICMP error is read from the kernel's
error queue (Linux ``IP_RECVERR``/``IPV6_RECVERR``) so that the sender is named, and a
port-unreachable counts as ``closed`` only when the target itself sent it. UDP uses a
connected socket the same way, with one resend before silence is called ``filtered``.
Elsewhere (Windows, macOS) there is no error queue: the detail says the sender is unknown.
Windows reports failures of its overlapped sockets as Win32 codes (``OSError.winerror``, with
``errno`` EINVAL) and a UDP port-unreachable as a connection reset: these map to the same
verdicts. It ignores ICMP errors to a TCP SYN and resends a SYN answered by RST for about two
seconds (Microsoft KB 175523): a silent SYN's detail there says both.

Cloud checks may go through the component's proxy (spec §6 items 2 and 4, §7.0): HTTP
CONNECT (RFC 9110 §9.3.6) with Basic credentials (RFC 7617) from the proxy URL. A proxy that
refuses the tunnel is ``error`` with its status line; a proxy that cannot be reached keeps
closed/filtered, and the detail names the proxy rather than the destination.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import ipaddress
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from hybridports import __version__
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from hybridports.topology import Proxy

IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
HAS_ERROR_QUEUE = sys.platform.startswith("linux") and hasattr(socket, "MSG_ERRQUEUE")
TCP_IGNORES_ICMP = sys.platform == "win32"  # and it resends a SYN answered by RST (~2 s)
# Win32 codes of overlapped (proactor) sockets, and the WSA codes of plain ones.
WIN_REFUSED = frozenset({1225, 10061})  # ERROR_CONNECTION_REFUSED, WSAECONNREFUSED
WIN_UNREACHABLE = frozenset({1231, 1232, 1233, 10051, 10065})  # network/host/protocol
WIN_PORT_UNREACHABLE = frozenset({1234, 10054})  # ERROR_PORT_UNREACHABLE, WSAECONNRESET (UDP)
MAX_REPLY = 1 << 20  # no protocol answer we read is larger; more is a hostile peer

ICMP4 = {
    (3, 0): "net-unreachable",
    (3, 1): "host-unreachable",
    (3, 2): "protocol-unreachable",
    (3, 3): "port-unreachable",
    (3, 9): "net-prohibited",
    (3, 10): "host-prohibited",
    (3, 13): "admin-prohibited",
    (11, 0): "ttl-exceeded",
}
ICMP6 = {
    (1, 0): "no-route",
    (1, 1): "admin-prohibited",
    (1, 3): "address-unreachable",
    (1, 4): "port-unreachable",
    (1, 5): "policy-fail",
    (1, 6): "reject-route",
    (3, 0): "hop-limit-exceeded",
}


class BadReply(Exception):
    """The peer answered, but not in the expected protocol (or not acceptably)."""


class Unreachable(Exception):
    """Connecting failed; ``outcome`` says how (closed or filtered) and who answered."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


@dataclass(frozen=True)
class IcmpError:
    type: int
    code: int
    offender: str | None
    version: int

    @property
    def name(self) -> str:
        table = ICMP4 if self.version == 4 else ICMP6
        return table.get((self.type, self.code), f"type {self.type} code {self.code}")

    @property
    def port_unreachable(self) -> bool:
        return (self.type, self.code) == ((3, 3) if self.version == 4 else (1, 4))


def hexdump(data: bytes, limit: int = 16) -> str:
    shown = " ".join(f"{b:02x}" for b in data[:limit])
    return shown + (" …" if len(data) > limit else "")


def address_family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def authority(target: Target) -> str:
    """``host:port`` as a URI or an HTTP Host header names the target: its server name when
    known, else its address, an IPv6 literal in brackets (RFC 3986 §3.2.2)."""
    host = target.server_name or target.address
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"{host}:{target.port}"


def enable_error_queue(sock: socket.socket) -> None:
    if not HAS_ERROR_QUEUE:
        return
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        # v4-mapped traffic on a v6 socket reports through the IPv4 option.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)


def read_icmp_error(sock: socket.socket) -> IcmpError | None:
    """The newest ICMP error queued on the socket, with who sent it (Linux only)."""
    if not HAS_ERROR_QUEUE:
        return None
    found: IcmpError | None = None
    for _ in range(8):  # drain: several resends can queue several errors
        try:
            _, ancdata, _, _ = sock.recvmsg(512, 1024, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except OSError:
            break
        for level, kind, data in ancdata:
            if (level, kind) in (
                (socket.IPPROTO_IP, IP_RECVERR),
                (socket.IPPROTO_IPV6, IPV6_RECVERR),
            ):
                parsed = _parse_extended_error(data)
                if parsed is not None:
                    found = parsed
    return found


def _parse_extended_error(data: bytes) -> IcmpError | None:
    if len(data) < 16:
        return None
    _errno, origin, icmp_type, icmp_code, _pad, _info, _data = struct.unpack_from("=IBBBBII", data)
    if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
        return None
    offender = None
    rest = data[16:]
    if len(rest) >= 8:
        family = struct.unpack_from("=H", rest)[0]
        if family == socket.AF_INET:
            offender = socket.inet_ntop(socket.AF_INET, rest[4:8])
        elif family == socket.AF_INET6 and len(rest) >= 24:
            offender = socket.inet_ntop(socket.AF_INET6, rest[8:24])
    version = 4 if origin == SO_EE_ORIGIN_ICMP else 6
    return IcmpError(icmp_type, icmp_code, offender, version)


def _same_address(a: str | None, b: str) -> bool:
    if a is None:
        return False
    try:
        left, right = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    if isinstance(left, ipaddress.IPv6Address) and left.ipv4_mapped:
        left = left.ipv4_mapped
    if isinstance(right, ipaddress.IPv6Address) and right.ipv4_mapped:
        right = right.ipv4_mapped
    return left == right


def classify_icmp(icmp: IcmpError, target: str, what: str) -> Outcome:
    sender = icmp.offender or "an unknown sender"
    facts = {"icmp": icmp.name, "icmp_sender": icmp.offender}
    if icmp.port_unreachable and _same_address(icmp.offender, target):
        return Outcome(
            Verdict.CLOSED, f"{what}: ICMP port-unreachable from the target itself", facts
        )
    if icmp.port_unreachable:
        return Outcome(
            Verdict.FILTERED,
            f"{what}: ICMP port-unreachable sent by {sender}, not by the target "
            "(a firewall rejects it)",
            facts,
        )
    by = "the target" if _same_address(icmp.offender, target) else sender
    return Outcome(Verdict.FILTERED, f"{what}: ICMP {icmp.name} from {by}", facts)


def classify_os_error(exc: OSError, sock: socket.socket, target: str, what: str) -> Outcome:
    icmp = read_icmp_error(sock)
    if icmp is not None:
        return classify_icmp(icmp, target, what)
    code = exc.errno
    winerror = getattr(exc, "winerror", None)  # set on Windows only
    udp = what.startswith("UDP")
    refused = code == errno.ECONNREFUSED or winerror in WIN_REFUSED
    if udp and not HAS_ERROR_QUEUE:
        # Windows: a connected UDP socket reports port-unreachable as a reset.
        refused = refused or code == errno.ECONNRESET or winerror in WIN_PORT_UNREACHABLE
    if refused:
        if udp and not HAS_ERROR_QUEUE:
            detail = (
                f"{what}: ICMP port-unreachable (sender unknown on this platform: "
                "the target, or a firewall that rejects)"
            )
        elif udp:
            detail = f"{what}: ICMP port-unreachable"
        else:
            detail = f"{what}: TCP RST (connection refused by {target})"
        return Outcome(Verdict.CLOSED, detail)
    if (
        code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM)
        or winerror in WIN_UNREACHABLE
    ):
        reason = exc.strerror or errno.errorcode.get(code or 0, "unreachable")
        unknown = (
            "no ICMP sender known" if HAS_ERROR_QUEUE else "ICMP sender unknown on this platform"
        )
        return Outcome(Verdict.FILTERED, f"{what}: {reason.lower()} ({unknown})")
    reason = exc.strerror or str(exc)
    return Outcome(Verdict.ERROR, f"{what}: {reason}")


class Stream:
    """A connected TCP stream whose reads never run past the check's deadline."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_exactly(self, count: int) -> bytes:
        if count > MAX_REPLY:
            raise BadReply(f"announces a {count}-byte reply, more than any real answer")
        return await self.reader.readexactly(count)

    async def read_some(self, limit: int = 65536) -> bytes:
        data = await self.reader.read(limit)
        if not data:
            raise asyncio.IncompleteReadError(b"", limit)
        return data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 0.5)


async def connect_tcp(address: str, port: int, timeout: float) -> Stream:
    """Connect, or raise Unreachable with a closed/filtered outcome naming who answered."""
    what = f"TCP {port}"
    sock = socket.socket(address_family(address), socket.SOCK_STREAM)
    sock.setblocking(False)
    enable_error_queue(sock)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
    except TimeoutError:
        sock.close()
        why = (
            "dropped, or rejected by ICMP, which Windows ignores; a refused port takes "
            "Windows about 2 s to report, as it resends a SYN answered by RST"
            if TCP_IGNORES_ICMP
            else "dropped"
        )
        raise Unreachable(
            Outcome(Verdict.FILTERED, f"{what}: no answer to SYN within {timeout:g}s ({why})")
        ) from None
    except OSError as exc:
        outcome = classify_os_error(exc, sock, address, what)
        sock.close()
        raise Unreachable(outcome) from None
    reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_REPLY)
    return Stream(reader, writer)


Exchange = Callable[[Stream], Awaitable[Outcome]]


async def tcp_check(target: Target, ctx: ProbeContext, what: str, exchange: Exchange) -> Outcome:
    """Connect, run one request/response exchange, and map every failure to a verdict."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + ctx.timeout
    try:
        stream = await connect_tcp(target.address, target.port, ctx.timeout)
    except Unreachable as exc:
        return exc.outcome
    ctx.round_trips.record(target.address, loop.time() - started)
    return await _run_exchange(stream, exchange(stream), ctx.timeout, deadline, what, "")


async def _run_exchange(
    stream: ByteStream,
    exchange: Awaitable[Outcome],
    timeout: float,
    deadline: float,
    what: str,
    via: str,
) -> Outcome:
    """Await ``exchange`` on ``stream`` until ``deadline``; every failure becomes an error."""
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(exchange, max(deadline - loop.time(), 0.05))
    except TimeoutError:
        return Outcome.error(f"TCP connected{via}, but no {what} reply within {timeout:g}s")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            return Outcome.error(
                f"TCP connected{via}, but the peer closed mid-reply after {len(exc.partial)} "
                f"bytes ({hexdump(exc.partial)}): not {what}"
            )
        return Outcome.error(
            f"TCP connected{via}, but the peer closed the connection: no {what} reply"
        )
    except (ConnectionResetError, BrokenPipeError):
        return Outcome.error(f"TCP connected{via}, then reset by the peer: no {what} reply")
    except asyncio.LimitOverrunError:
        return Outcome.error(f"answered with an oversized reply: not {what}")
    except BadReply as exc:
        return Outcome.error(f"answered, but not {what}: {exc}")
    except OSError as exc:
        return Outcome.error(f"TCP connected{via}, then failed: {exc.strerror or exc}")
    finally:
        await stream.close()


# --- Streams through the component's proxy (spec §6 items 2 and 4, §7.0; RFC 9110 §9.3.6) ---


class ByteStream(Protocol):
    """What the probes read and write: a TCP Stream, or TLS on top of one (tls.py)."""

    async def send(self, data: bytes) -> None: ...

    async def read_exactly(self, count: int) -> bytes: ...

    async def read_some(self, limit: int = 65536) -> bytes: ...

    async def close(self) -> None: ...


StreamExchange = Callable[[ByteStream], Awaitable[Outcome]]
Opener = Callable[[Target, ProbeContext], Awaitable[ByteStream]]
PROXY_HEAD_CAP = 16 * 1024  # a CONNECT answer is a status line and a few headers
USER_AGENT = f"hybridports/{__version__}"


def via_proxy(ctx: ProbeContext) -> str:
    """`` through proxy <display>`` for details, or nothing on the direct path."""
    return f" through proxy {ctx.proxy.display}" if ctx.proxy else ""


def proxy_authorization(proxy: Proxy) -> str | None:
    """The ``Proxy-Authorization`` value (Basic, RFC 7617), when the proxy URL has a user."""
    if proxy.username is None:
        return None
    pair = f"{proxy.username}:{proxy.password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def proxy_refusal(
    proxy: Proxy, status: int, status_line: str, request: str, headers: dict[str, str]
) -> str:
    """One line for a proxy's refusal: its status line, then what to change (spec §6 item 4)."""
    detail = f"proxy {proxy.display} answered '{status_line}' to {request}"
    if status == 403:
        return detail + ": the proxy denies this name: add it to the proxy's allow-list"
    if status == 407:
        offered = headers.get("proxy-authenticate", "")
        # Challenges and their auth-params share the commas: keep the scheme tokens.
        words = [c.split() for c in offered.split(",")]
        schemes = sorted({w[0] for w in words if w and "=" not in w[0]})
        offers = ""
        if schemes:
            basic = "basic" in {s.lower() for s in schemes}
            but = "" if basic else "; not Basic, the one scheme this check can send"
            offers = f" (offers {', '.join(schemes)}{but})"
        if proxy.username is not None:
            return detail + f": the proxy refused the credentials of {proxy.username}{offers}"
        return (
            detail + f": the proxy wants authentication{offers}: give user:password in the "
            "proxy URL / the agent's proxy configuration"
        )
    if status in (502, 503, 504):
        return detail + ": the proxy could not reach it (its DNS or its upstream firewall)"
    return detail


async def resolve_proxy(proxy: Proxy, timeout: float) -> str:
    """The proxy's address (its host may be a name); Unreachable with an error if it has none."""
    try:
        ipaddress.ip_address(proxy.host)
        return proxy.host
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError:
        reason = f"no DNS answer for {proxy.host} within {timeout:g}s"
    except (socket.gaierror, UnicodeError) as exc:
        strerror = getattr(exc, "strerror", None)
        reason = f"cannot resolve {proxy.host} ({strerror or exc})"
    else:
        if infos:
            return str(infos[0][4][0])
        reason = f"{proxy.host} has no address"
    raise Unreachable(
        Outcome.error(f"proxy {proxy.display} unreachable: {reason}", proxy=proxy.display)
    )


async def connect_proxy(proxy: Proxy, ctx: ProbeContext, timeout: float) -> ByteStream:
    """A stream to the proxy itself (TLS first for an https:// proxy).

    A refused or silent proxy port keeps its closed/filtered verdict, but the detail names
    the proxy: the path to the destination was never tested.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    address = await resolve_proxy(proxy, timeout)
    started = loop.time()
    try:
        stream = await connect_tcp(address, proxy.port, max(deadline - started, 0.05))
    except Unreachable as exc:
        seen = exc.outcome
        raise Unreachable(
            Outcome(
                seen.verdict,
                f"proxy {proxy.display} unreachable: {seen.detail}",
                {**seen.facts, "proxy": proxy.display},
            )
        ) from None
    ctx.round_trips.record(address, loop.time() - started)
    if proxy.scheme != "https":
        return stream
    from hybridports.probe.tls import proxy_tls  # tls.py builds on this module

    try:
        return await asyncio.wait_for(proxy_tls(stream, proxy, ctx), deadline - loop.time())
    except TimeoutError:
        await stream.close()
        raise Unreachable(
            Outcome.error(
                f"proxy {proxy.display}: no TLS handshake within {timeout:g}s",
                proxy=proxy.display,
            )
        ) from None
    except Unreachable:
        await stream.close()
        raise


async def read_head(stream: ByteStream, cap: int = PROXY_HEAD_CAP) -> bytes:
    """An HTTP message head, up to its blank line, reading nothing past it (it is the tunnel's)."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n") and not head.endswith(b"\n\n"):
        if len(head) >= cap:
            raise BadReply(f"a reply head over {cap // 1024} KiB ({hexdump(bytes(head))})")
        try:
            head += await stream.read_exactly(1)
        except asyncio.IncompleteReadError:
            raise asyncio.IncompleteReadError(bytes(head), None) from None
        if len(head) == 5 and not head.startswith(b"HTTP/"):
            raise BadReply(f"first bytes {hexdump(bytes(head))}")
    return bytes(head)


def parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    """Status code, status line and headers (lower-case names, repeats joined by ', ')."""
    lines = head.decode("latin-1").splitlines()
    status_line = lines[0].strip() if lines else ""
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadReply(f"status line {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return int(parts[1]), status_line, headers


async def _tunnel(stream: ByteStream, target: Target, proxy: Proxy) -> None:
    where = authority(target)
    lines = [f"CONNECT {where} HTTP/1.1", f"Host: {where}", f"User-Agent: {USER_AGENT}"]
    credentials = proxy_authorization(proxy)
    if credentials:
        lines.append(f"Proxy-Authorization: {credentials}")
    await stream.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    status, status_line, headers = parse_head(await read_head(stream))
    if not 200 <= status < 300:  # any 2xx opens the tunnel (RFC 9110 §9.3.6)
        detail = proxy_refusal(proxy, status, status_line, f"CONNECT {where}", headers)
        raise Unreachable(
            Outcome.error(
                detail, proxy=proxy.display, proxy_status=status, proxy_status_line=status_line
            )
        )


async def open_stream(target: Target, ctx: ProbeContext) -> ByteStream:
    """A stream to the target: direct, or through ``ctx.proxy`` with HTTP CONNECT.

    Raises Unreachable: closed/filtered when the target (or the proxy) cannot be reached,
    error when the proxy refuses the tunnel (403, 407, 5xx) or does not speak HTTP.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    if ctx.proxy is None:
        stream: ByteStream = await connect_tcp(target.address, target.port, ctx.timeout)
        ctx.round_trips.record(target.address, loop.time() - started)
        return stream
    proxy = ctx.proxy
    stream = await connect_proxy(proxy, ctx, ctx.timeout)
    what = f"CONNECT {authority(target)}"
    try:
        await asyncio.wait_for(
            _tunnel(stream, target, proxy), max(started + ctx.timeout - loop.time(), 0.05)
        )
        return stream
    except Unreachable:
        await stream.close()
        raise
    except (TimeoutError, asyncio.IncompleteReadError, BadReply, OSError) as exc:
        await stream.close()
        if isinstance(exc, TimeoutError):
            reason = (
                f"no answer to {what} within {ctx.timeout:g}s (the proxy may still be resolving "
                "or connecting to it: a silently dropped path beyond the proxy)"
            )
        elif isinstance(exc, asyncio.IncompleteReadError):
            reason = f"the proxy closed the connection without answering {what}"
        elif isinstance(exc, BadReply):
            reason = f"the proxy's answer to {what} is not HTTP: {exc}"
        else:
            reason = f"the connection failed during {what}: {exc.strerror or exc}"
        raise Unreachable(
            Outcome.error(f"proxy {proxy.display}: {reason}", proxy=proxy.display)
        ) from None


async def open_forward(target: Target, ctx: ProbeContext) -> ByteStream:
    """For plain HTTP: a stream to the target, or to the proxy itself (absolute-form requests)."""
    if ctx.proxy is None:
        return await open_stream(target, ctx)
    return await connect_proxy(ctx.proxy, ctx, ctx.timeout)


async def stream_check(
    target: Target,
    ctx: ProbeContext,
    what: str,
    exchange: StreamExchange,
    opener: Opener = open_stream,
) -> Outcome:
    """``tcp_check`` on the proxied or direct path: ``opener`` gives the stream."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.timeout
    try:
        stream = await opener(target, ctx)
    except Unreachable as exc:
        return exc.outcome
    return await _run_exchange(
        stream, exchange(stream), ctx.timeout, deadline, what, via_proxy(ctx)
    )


Parse = Callable[[bytes], Outcome]


UDP_ATTEMPTS = 3
MIN_RESEND = 0.25  # never resend faster than this, however short the round trip


async def udp_check(
    target: Target, ctx: ProbeContext, what: str, request: bytes, parse: Parse
) -> Outcome:
    """Send a datagram (three times at most) and judge the first reply with ``parse``.

    The first datagram gets a third of the timeout to be answered; resends only cover loss,
    so once a TCP handshake to the same address has shown the round trip, they wait ten
    round trips (at least 0.25 s). Replies to earlier datagrams still count. Silence after
    the last wait is ``filtered``; the whole check never exceeds the timeout.
    """
    label = f"UDP {target.port}"
    sock = socket.socket(address_family(target.address), socket.SOCK_DGRAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + ctx.timeout
    first = ctx.timeout / UDP_ATTEMPTS
    sent = 0
    try:
        enable_error_queue(sock)
        sock.connect((target.address, target.port))
        for attempt in range(UDP_ATTEMPTS):
            rtt = ctx.round_trips.get(target.address)
            slot = first if attempt == 0 or rtt is None else max(MIN_RESEND, min(first, 10 * rtt))
            slot = min(slot, deadline - loop.time())
            if slot <= 0:
                break
            sock.send(request)
            sent += 1
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 65535), slot)
            except TimeoutError:
                continue
            except OSError as exc:
                return classify_os_error(exc, sock, target.address, label)
            try:
                return parse(data)
            except BadReply as exc:
                return Outcome.error(f"{label} answered, but not {what}: {exc}")
        waited = loop.time() - started
        return Outcome(
            Verdict.FILTERED,
            f"{label}: no {what} reply to {sent} datagrams within {waited:.1f}s (dropped silently)",
        )
    except OSError as exc:
        return classify_os_error(exc, sock, target.address, label)
    finally:
        sock.close()
