"""One HTTP/1.1 request and its response over a net.py stream, with h11 (RFC 9112, RFC 9110).

Used by the HTTPS check (§7.10, inside TLS) and the CRL/OCSP check (§7.11, plain or in
absolute form through a proxy). Reads are bounded: the head by h11's limit, the body by the
caller's cap and, when given, a time limit after which the part received so far is judged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import h11

from hybridports.probe.net import USER_AGENT, BadReply, ByteStream, hexdump

HEAD_CAP = 64 * 1024  # h11's own default; a real response head is a few hundred bytes


@dataclass(frozen=True)
class HttpReply:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names, repeated headers joined with ", "
    body: bytes
    complete: bool  # the whole body was read
    reusable: bool  # the connection can carry another request (keep-alive)
    version: str = "1.1"

    @property
    def status_line(self) -> str:
        """As the peer sent it: ``HTTP/1.1 403 Forbidden``."""
        return f"HTTP/{self.version} {self.status} {self.reason}".strip()

    @property
    def status_text(self) -> str:
        """``403 Forbidden``."""
        return f"{self.status} {self.reason}".strip()

    @property
    def server(self) -> str | None:
        return self.headers.get("server") or None


def request_headers(
    host: str, *extra: tuple[str, str], close: bool = True
) -> list[tuple[str, str]]:
    headers = [("Host", host), ("User-Agent", USER_AGENT), ("Accept", "*/*"), *extra]
    if close:
        headers.append(("Connection", "close"))
    return headers


def _reply(response: h11.Response, body: bytes, complete: bool, reusable: bool) -> HttpReply:
    headers: dict[str, str] = {}
    for raw_name, raw_value in response.headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    reason = response.reason.decode("latin-1", "replace").strip()
    version = response.http_version.decode("ascii", "replace")
    return HttpReply(response.status_code, reason, headers, body, complete, reusable, version)


async def exchange(
    stream: ByteStream,
    conn: h11.Connection,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    max_body: int = 0,
    until: float | None = None,
) -> HttpReply:
    """Send one request, return the response: its head only when ``max_body`` is 0, else up
    to ``max_body`` bytes of body, stopping early (``complete=False``) at loop time ``until``.

    BadReply when the peer does not speak HTTP; IncompleteReadError when it closes at once.
    """
    if body:
        headers = [*headers, ("Content-Length", str(len(body)))]
    wire = conn.send(h11.Request(method=method, target=target, headers=headers)) or b""
    if body:
        wire += conn.send(h11.Data(data=body)) or b""
    wire += conn.send(h11.EndOfMessage()) or b""
    await stream.send(wire)
    loop = asyncio.get_running_loop()
    received = b""  # the first bytes, to refuse a non-HTTP peer without waiting
    response: h11.Response | None = None
    data = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if response is not None:  # a body cut short: judge what came
                return _reply(response, bytes(data), False, False)
            raise BadReply(
                f"not a valid HTTP reply ({exc}; first bytes {hexdump(received)})"
            ) from None
        if event is h11.NEED_DATA:
            try:
                if response is not None and until is not None:
                    left = until - loop.time()
                    if left <= 0:
                        return _reply(response, bytes(data), False, False)
                    chunk = await asyncio.wait_for(stream.read_some(), left)
                else:
                    chunk = await stream.read_some()
            except TimeoutError:
                assert response is not None
                return _reply(response, bytes(data), False, False)
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
            response = event
            if max_body <= 0 or method == "HEAD":
                return _reply(response, b"", method == "HEAD", False)
        elif isinstance(event, h11.Data) and response is not None:
            data += event.data
            if len(data) > max_body:
                return _reply(response, bytes(data[:max_body]), False, False)
        elif isinstance(event, h11.EndOfMessage) and response is not None:
            reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE
            return _reply(response, bytes(data), True, reusable)
        elif isinstance(event, h11.ConnectionClosed):
            raise BadReply("the connection closed before a complete HTTP reply")
        # InformationalResponse (100 Continue): keep reading.
