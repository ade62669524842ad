"""AMQP 1.0 over TLS check run *inside* a lab namespace (stdlib only), as spec §7.12 says:

    python3 amqpcheck.py '{"host": "x.servicebus.windows.net", "address": "198.18.3.10",
                           "ca": "/path/ca.pem", "proxy": "198.18.3.20:3128"}'

TCP to ``address``:``port`` (default 5671), or ``CONNECT host:port`` through ``proxy``; TLS
with SNI = ``host`` and full validation against ``ca``; then the 8-byte SASL protocol header
``41 4D 51 50 03 01 00 00``. Prints JSON: the header the peer sent back, the first frame's
type and performative, and the SASL mechanisms it offers (``result``: ``amqp`` when the
reply is an AMQP header followed by a sasl-mechanisms frame; ``timeout``, ``proxy-refused``
(with ``status``), ``tls-error`` or ``error`` otherwise).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import sys
import time
from typing import Any

SASL_HEADER = bytes.fromhex("414d515003010000")
SASL_MECHANISMS = 0x40  # sasl-mechanisms performative descriptor (0x00000000:0x00000040)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def _symbols(body: bytes, pos: int) -> tuple[list[str], int]:
    """Decode a symbol or an array of symbols at ``pos`` (AMQP 1.0 §1.6)."""
    code = body[pos]
    if code == 0xA3:  # sym8
        size = body[pos + 1]
        return [body[pos + 2 : pos + 2 + size].decode()], pos + 2 + size
    if code == 0xB3:  # sym32
        size = struct.unpack_from(">I", body, pos + 1)[0]
        return [body[pos + 5 : pos + 5 + size].decode()], pos + 5 + size
    if code in (0xE0, 0xF0):  # array8 / array32
        if code == 0xE0:
            count, pos = body[pos + 2], pos + 3
        else:
            count, pos = struct.unpack_from(">I", body, pos + 5)[0], pos + 9
        element = body[pos]
        pos += 1
        out = []
        for _ in range(count):
            if element == 0xA3:
                size, pos = body[pos], pos + 1
            else:
                size, pos = struct.unpack_from(">I", body, pos)[0], pos + 4
            out.append(body[pos : pos + size].decode())
            pos += size
        return out, pos
    raise ValueError(f"not a symbol: 0x{code:02x}")


def parse_sasl_mechanisms(frame_body: bytes) -> list[str]:
    """The mechanisms of a sasl-mechanisms performative (descriptor + list)."""
    if frame_body[:2] != b"\x00\x53" or frame_body[2] != SASL_MECHANISMS:
        raise ValueError(f"not sasl-mechanisms: {frame_body[:3].hex()}")
    pos = 3
    code = frame_body[pos]
    if code == 0xC0:  # list8: size, count
        pos += 3
    elif code == 0xD0:  # list32
        pos += 9
    else:
        raise ValueError(f"not a list: 0x{code:02x}")
    mechanisms, _ = _symbols(frame_body, pos)
    return mechanisms


def _connect(check: dict[str, Any], timeout: float) -> socket.socket:
    port = check.get("port", 5671)
    if not check.get("proxy"):
        address = check["address"]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((address, port))
        return sock
    proxy_host, proxy_port = check["proxy"].rsplit(":", 1)
    sock = socket.create_connection((proxy_host, int(proxy_port)), timeout)
    sock.sendall(
        f"CONNECT {check['host']}:{port} HTTP/1.1\r\nHost: {check['host']}:{port}\r\n\r\n".encode()
    )
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    if status != 200:
        sock.close()
        raise PermissionError(status)
    return sock


def check(spec: dict[str, Any]) -> dict[str, Any]:
    timeout = spec.get("timeout", 3.0)
    start = time.monotonic()
    out: dict[str, Any] = {}
    try:
        raw = _connect(spec, timeout)
    except PermissionError as exc:
        return {"result": "proxy-refused", "status": exc.args[0]}
    except TimeoutError:
        return {"result": "timeout", "seconds": round(time.monotonic() - start, 3)}
    except OSError as exc:
        return {"result": "error", "detail": str(exc)}
    context = ssl.create_default_context(cafile=spec["ca"])
    try:
        with context.wrap_socket(raw, server_hostname=spec["host"]) as tls:
            cert = tls.getpeercert() or {}
            rdns: Any = cert.get("issuer", ())
            issuer = [v for rdn in rdns for k, v in rdn if k == "commonName"]
            out.update(tls=tls.version(), issuer=issuer[0] if issuer else None)
            tls.sendall(SASL_HEADER)
            header = _recv_exact(tls, 8)
            out["header"] = header.hex()
            size, doff, frame_type = struct.unpack(">IBB", _recv_exact(tls, 6))
            rest = _recv_exact(tls, size - 6)
            body = rest[doff * 4 - 6 :]
            out.update(frame_type=frame_type, performative=body[2] if len(body) > 2 else None)
            out["mechanisms"] = parse_sasl_mechanisms(body)
    except ssl.SSLError as exc:
        return {**out, "result": "tls-error", "detail": str(exc)}
    except (OSError, ValueError) as exc:
        return {**out, "result": "error", "detail": str(exc)}
    good = header[:4] == b"AMQP" and frame_type == 0x01
    out["result"] = "amqp" if good else "error"
    out["seconds"] = round(time.monotonic() - start, 3)
    return out


if __name__ == "__main__":
    print(json.dumps(check(json.loads(sys.argv[1]))))
