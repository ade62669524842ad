"""Run the probe engine here as it runs on Windows: no Linux-only socket features, no loop
readers, and (optionally) failures shaped the way Windows' ProactorEventLoop reports them.

What it takes away: net.py's error queue (``HAS_ERROR_QUEUE``), the socket module's Linux-only
constants, ``recvmsg``/``sendmsg`` (Windows sockets have neither), and the event loop's
``add_reader``/``add_writer``/``add_signal_handler`` (ProactorEventLoop raises
NotImplementedError).
With ``win32_errors`` the loop also rewrites real failures into Windows' shapes: errno
EINVAL with ``winerror`` 1225 (refused), 1232 (host unreachable) and, for a UDP read after an
ICMP port-unreachable, a plain OSError with winerror 1234 (what overlapped WSARecv reports).
Every attempt to set the error-queue options is recorded; a test fails if there was any.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from hybridports.probe import net

LINUX_ONLY_SOCKET_NAMES = (
    "IP_RECVERR",
    "IPV6_RECVERR",
    "MSG_ERRQUEUE",
    "MSG_DONTWAIT",
    "MSG_CONFIRM",
    "SO_BINDTODEVICE",
    "AF_PACKET",
    "AF_NETLINK",
)  # not AF_UNIX: the loop's self-pipe (socketpair) needs it on Linux; the static scan covers it
MISSING_SOCKET_METHODS = ("recvmsg", "recvmsg_into", "sendmsg")
ERROR_QUEUE_OPTIONS = {(socket.IPPROTO_IP, net.IP_RECVERR), (socket.IPPROTO_IPV6, net.IPV6_RECVERR)}


class _Missing:
    """A descriptor that makes an attribute look absent, as on Windows."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        raise AttributeError(f"'socket' object has no attribute '{self.name}' (on Windows)")


def _refuse(*_args: object, **_kwargs: object) -> Any:
    raise NotImplementedError("not available on Windows' ProactorEventLoop")


def _win32(exc: OSError, sock: socket.socket) -> OSError:
    """``exc`` as ProactorEventLoop would raise it (Win32 code, errno EINVAL)."""
    shaped: OSError
    if exc.errno == errno.ECONNREFUSED and sock.type == socket.SOCK_DGRAM:
        shaped = OSError(
            errno.EINVAL, "No service is operating at the destination network endpoint"
        )
        shaped.winerror = 1234  # type: ignore[attr-defined]  # ERROR_PORT_UNREACHABLE
    elif exc.errno == errno.ECONNREFUSED:
        shaped = ConnectionRefusedError(errno.EINVAL, "The remote computer refused the connection")
        shaped.winerror = 1225  # type: ignore[attr-defined]  # ERROR_CONNECTION_REFUSED
    elif exc.errno == errno.EHOSTUNREACH:
        shaped = OSError(errno.EINVAL, "The remote system is not reachable by the transport")
        shaped.winerror = 1232  # type: ignore[attr-defined]  # ERROR_HOST_UNREACHABLE
    else:
        return exc
    return shaped


class WindowsLikeLoop(asyncio.SelectorEventLoop):
    """A selector loop without what ProactorEventLoop lacks; its sock_* methods still work
    (they use the private _add_reader, as the proactor uses IOCP)."""

    win32_errors = False

    # Only the add_* side: the stdlib's own sock_* callbacks call remove_reader/remove_writer,
    # which do nothing without an add (and the static scan forbids them in our code).
    add_reader = add_writer = add_signal_handler = _refuse

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        try:
            await super().sock_connect(sock, address)
        except OSError as exc:
            raise (_win32(exc, sock) if self.win32_errors else exc) from None

    async def sock_recv(self, sock: socket.socket, n: int) -> bytes:
        try:
            return await super().sock_recv(sock, n)
        except OSError as exc:
            raise (_win32(exc, sock) if self.win32_errors else exc) from None

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        try:
            return await super().sock_recvfrom(sock, bufsize)
        except OSError as exc:
            raise (_win32(exc, sock) if self.win32_errors else exc) from None


class Win32ErrorsLoop(WindowsLikeLoop):
    win32_errors = True


class _Policy(asyncio.DefaultEventLoopPolicy):
    def __init__(self, loop_class: type[WindowsLikeLoop]) -> None:
        super().__init__()
        self._loop_factory = loop_class


@contextmanager
def windows_like(monkeypatch: pytest.MonkeyPatch, *, win32_errors: bool) -> Iterator[list[Any]]:
    """Within: the engine sees a Windows-like platform. Yields the error-queue option
    attempts (``setsockopt`` calls), which must stay empty."""
    attempts: list[Any] = []
    monkeypatch.setattr(net, "HAS_ERROR_QUEUE", False)
    for name in LINUX_ONLY_SOCKET_NAMES:
        monkeypatch.delattr(socket, name, raising=False)
    for name in MISSING_SOCKET_METHODS:
        monkeypatch.setattr(socket.socket, name, _Missing(name), raising=False)
    setsockopt = socket.socket.setsockopt

    def watched(sock: socket.socket, level: int, option: int, *value: Any) -> None:
        if (level, option) in ERROR_QUEUE_OPTIONS:
            attempts.append((level, option))
        setsockopt(sock, level, option, *value)

    monkeypatch.setattr(socket.socket, "setsockopt", watched)
    asyncio.set_event_loop_policy(_Policy(Win32ErrorsLoop if win32_errors else WindowsLikeLoop))
    try:
        yield attempts
    finally:
        asyncio.set_event_loop_policy(None)
