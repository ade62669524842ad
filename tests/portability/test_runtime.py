"""The probe engine and the CLI with Linux-only features taken away (see windows_like.py).

Real probes against local peers on 127.0.0.1: open, closed (RST / ICMP port-unreachable)
and filtered (silence) must come out as on Linux, and where the error queue would have
named the ICMP sender, the detail says this platform cannot. Each test runs twice: with
Linux' errno values, and with failures shaped as Windows' ProactorEventLoop raises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import dns.message
import pytest

from hybridports.model import Transport
from hybridports.probe import icmp, net
from hybridports.probe.dns import DnsProbe
from hybridports.probe.icmp import IcmpProbe
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target, Verdict
from hybridports.probe.tcp import TcpProbe
from tests.clirunner import run
from tests.peers.local import LOCALHOST, check_bounded, close_at_once, tcp_peer, udp_peer
from tests.portability.windows_like import WindowsLikeLoop, windows_like

SENDER_UNKNOWN = "sender unknown on this platform"
TOPOLOGY = """\
name: t
features: [password-hash-sync]
hosts:
  sync01: {address: 127.0.0.1, roles: [connect]}
  dc01: {address: 127.0.0.2, roles: [dc]}
"""


@pytest.fixture(params=["linux-errno", "win32-errors"])
def platform(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with windows_like(monkeypatch, win32_errors=request.param == "win32-errors") as attempts:
        yield str(request.param)
    assert attempts == [], "the error-queue options were set on a platform without them"


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _silent_tcp_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener with a full accept queue drops them."""
    server = socket.socket()
    server.bind((LOCALHOST, 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    filler, probe = socket.socket(), socket.socket()
    try:
        filler.connect((LOCALHOST, port))
        probe.settimeout(0.2)
        try:
            probe.connect((LOCALHOST, port))
        except TimeoutError:
            pass
        else:
            pytest.skip("this kernel answers SYNs beyond a full accept queue")
        yield port
    finally:
        for sock in (probe, filler, server):
            sock.close()


def _check(probe: Probe, port: int, transport: Transport, **settings: object) -> Outcome:
    target = Target("peer", LOCALHOST, port, transport)
    ctx = ProbeContext(timeout=0.6, **settings)  # type: ignore[arg-type]
    return asyncio.run(check_bounded(probe, target, ctx))


def _dns_reply(wire: bytes) -> bytes:
    return dns.message.make_response(dns.message.from_wire(wire)).to_wire()


async def _dns_over_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    (length,) = struct.unpack("!H", await reader.readexactly(2))
    reply = _dns_reply(await reader.readexactly(length))
    writer.write(struct.pack("!H", len(reply)) + reply)
    await writer.drain()
    writer.close()


def test_the_platform_is_windows_like(platform: str) -> None:
    async def inside() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, WindowsLikeLoop)
        with pytest.raises(NotImplementedError):
            loop.add_reader(0, print)

    asyncio.run(inside())
    assert not hasattr(socket, "MSG_ERRQUEUE") and not hasattr(socket, "IP_RECVERR")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert not hasattr(sock, "recvmsg")
    assert net.read_icmp_error(sock) is None


def test_tcp_open_closed_filtered(platform: str) -> None:
    async def open_check() -> Outcome:
        async with tcp_peer(close_at_once) as port:
            target = Target("peer", LOCALHOST, port, Transport.TCP)
            return await check_bounded(TcpProbe(), target, ProbeContext(timeout=0.6))

    opened = asyncio.run(open_check())
    assert opened.verdict is Verdict.OPEN, opened.detail

    closed = _check(TcpProbe(), _free_port(socket.SOCK_STREAM), Transport.TCP)
    assert closed.verdict is Verdict.CLOSED, closed.detail
    assert "TCP RST" in closed.detail

    with _silent_tcp_port() as port:
        filtered = _check(TcpProbe(), port, Transport.TCP)
    assert filtered.verdict is Verdict.FILTERED, filtered.detail
    assert "no answer to SYN" in filtered.detail


def test_a_tcp_exchange_through_streams(platform: str) -> None:
    async def check() -> Outcome:
        async with tcp_peer(_dns_over_tcp) as port:
            target = Target("peer", LOCALHOST, port, Transport.TCP)
            return await check_bounded(DnsProbe(), target, ProbeContext(timeout=0.6))

    outcome = asyncio.run(check())
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert "DNS server answered" in outcome.detail


def test_udp_open_closed_filtered(platform: str) -> None:
    async def open_check() -> Outcome:
        async with udp_peer(_dns_reply) as port:
            target = Target("peer", LOCALHOST, port, Transport.UDP)
            return await check_bounded(DnsProbe(), target, ProbeContext(timeout=0.6))

    opened = asyncio.run(open_check())
    assert opened.verdict is Verdict.OPEN, opened.detail

    closed = _check(DnsProbe(), _free_port(socket.SOCK_DGRAM), Transport.UDP)
    assert closed.verdict is Verdict.CLOSED, closed.detail
    assert SENDER_UNKNOWN in closed.detail and "icmp_sender" not in closed.facts

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((LOCALHOST, 0))
        filtered = _check(DnsProbe(), silent.getsockname()[1], Transport.UDP)
    assert filtered.verdict is Verdict.FILTERED, filtered.detail
    assert "3 datagrams" in filtered.detail


def test_icmp_echo_without_the_error_queue(platform: str) -> None:
    outcome = asyncio.run(
        IcmpProbe().check(Target("peer", LOCALHOST, 8, Transport.ICMP), ProbeContext(timeout=1))
    )
    assert outcome.verdict in (Verdict.OPEN, Verdict.SKIPPED), outcome.detail


def test_cli_catalog_plan_render(platform: str, tmp_path: Path) -> None:
    topology = tmp_path / "topo.yaml"
    topology.write_text(TOPOLOGY, encoding="utf-8")
    for args in (
        ["catalog"],
        ["catalog", "-f", "json"],
        ["plan", str(topology)],
        ["plan", str(topology), "-f", "csv"],
        ["render", str(topology), "-t", "nftables"],
        ["render", str(topology), "-t", "windows", "--host", "dc01"],
    ):
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert result.stdout.strip(), args


def test_cli_probe_against_a_closed_host(platform: str, tmp_path: Path) -> None:
    topology = tmp_path / "topo.yaml"
    topology.write_text(TOPOLOGY, encoding="utf-8")
    result = run(
        "probe", str(topology), "--from", "sync01", "-f", "json", "--only", "ldap,dns",
        "--timeout", "1",
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    rows = json.loads(result.stdout)["results"]
    assert rows and all(r["verdict"] == "closed" for r in rows), rows
    udp = [r for r in rows if r["transport"] == "udp"]
    tcp = [r for r in rows if r["transport"] == "tcp"]
    assert udp and all(SENDER_UNKNOWN in r["detail"] for r in udp), udp
    assert tcp and all("TCP RST" in r["detail"] for r in tcp), tcp


# --- What Windows reports that Linux never does: the words the details use there ---


def _win(exc: OSError, winerror: int) -> OSError:
    exc.winerror = winerror  # type: ignore[attr-defined]
    return exc


NO_SENDER = "ICMP sender unknown on this platform"
REFUSED = _win(ConnectionRefusedError(errno.EINVAL, "refused"), 1225)  # ConnectEx
PORT_UNREACHABLE = _win(OSError(errno.EINVAL, "no service"), 1234)  # overlapped WSARecv
RESET = _win(ConnectionResetError(errno.ECONNRESET, "reset"), 10054)  # plain recv/send
HOST_UNREACHABLE = _win(OSError(errno.EINVAL, "host unreachable"), 1232)
NET_UNREACHABLE = _win(OSError(errno.EINVAL, "network unreachable"), 1231)


@pytest.mark.parametrize(
    ("exc", "what", "verdict", "words"),
    [
        (REFUSED, "TCP 88", Verdict.CLOSED, "TCP RST"),
        (PORT_UNREACHABLE, "UDP 88", Verdict.CLOSED, SENDER_UNKNOWN),
        (RESET, "UDP 88", Verdict.CLOSED, SENDER_UNKNOWN),
        (HOST_UNREACHABLE, "TCP 88", Verdict.FILTERED, NO_SENDER),
        (NET_UNREACHABLE, "UDP 88", Verdict.FILTERED, NO_SENDER),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "TCP 88", Verdict.FILTERED, NO_SENDER),
    ],
)
def test_windows_failures_map_to_the_same_verdicts(
    monkeypatch: pytest.MonkeyPatch, exc: OSError, what: str, verdict: Verdict, words: str
) -> None:
    monkeypatch.setattr(net, "HAS_ERROR_QUEUE", False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        outcome = net.classify_os_error(exc, sock, "198.51.100.7", what)
    assert outcome.verdict is verdict and words in outcome.detail, outcome.detail


def test_linux_keeps_a_udp_reset_an_error() -> None:
    # With the error queue (Linux), a reset on UDP is not a port-unreachable: unchanged.
    if not net.HAS_ERROR_QUEUE:
        pytest.skip("Linux only")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        outcome = net.classify_os_error(
            ConnectionResetError(errno.ECONNRESET, "reset"), sock, "198.51.100.7", "UDP 88"
        )
    assert outcome.verdict is Verdict.ERROR


def test_windows_says_a_silent_syn_may_be_an_ignored_icmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net, "TCP_IGNORES_ICMP", True)
    with _silent_tcp_port() as port:
        outcome = _check(TcpProbe(), port, Transport.TCP)
    assert outcome.verdict is Verdict.FILTERED
    assert "rejected by ICMP, which Windows ignores" in outcome.detail
    assert "a refused port takes Windows about 2 s" in outcome.detail


def test_windows_says_why_icmp_was_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(family: int) -> object:
        raise PermissionError(errno.EACCES, "An attempt was made to access a socket")

    monkeypatch.setattr(icmp, "open_socket", refuse)
    monkeypatch.setattr(icmp, "sys", SimpleNamespace(platform="win32"))
    outcome = asyncio.run(
        IcmpProbe().check(Target("dc", "192.0.2.1", 8, Transport.ICMP), ProbeContext(timeout=0.5))
    )
    assert outcome.verdict is Verdict.SKIPPED
    assert "administrator" in outcome.detail and "ping_group_range" not in outcome.detail
