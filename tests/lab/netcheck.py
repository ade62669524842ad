"""Socket checks run *inside* a lab namespace (stdlib only):

    python3 netcheck.py '[{"kind": "tcp", "host": "198.18.2.10", "port": 389}, ...]'

prints one JSON result per check, all checks run concurrently (so time-outs overlap).

* ``tcp``: connect with a time-out -> ``connected`` | ``refused`` | ``timeout`` |
  ``unreachable`` (any other errno; ``errno`` names it).
* ``udp``: connected socket with IP(V6)_RECVERR, send a real request (``payload``: ``dns``
  or ``cldap``), wait -> ``reply`` | ``timeout`` | ``icmp`` (with the ICMP type, code and
  the address of the host that sent it, read from the socket's error queue) .
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cldap

SOL_IP, IP_RECVERR = 0, 11
SOL_IPV6, IPV6_RECVERR = 41, 25
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
MSG_ERRQUEUE = 0x2000


def dns_query(name: str, qtype: int = 33) -> bytes:
    header = struct.pack(">HHHHHH", 0x4850, 0x0100, 1, 0, 0, 0)  # id, RD, one question
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + qname + struct.pack(">HH", qtype, 1)


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_tcp(host: str, port: int, timeout: float = 1.5) -> dict[str, Any]:
    start = time.monotonic()
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
            result, err = "connected", 0
        except TimeoutError:
            result, err = "timeout", errno.ETIMEDOUT
        except OSError as exc:
            err = exc.errno or 0
            result = "refused" if err == errno.ECONNREFUSED else "unreachable"
    return {
        "result": result,
        "errno": errno.errorcode.get(err, str(err)) if err else None,
        "seconds": round(time.monotonic() - start, 3),
    }


def _read_errqueue(sock: socket.socket, v6: bool) -> dict[str, Any]:
    _, ancdata, _, _ = sock.recvmsg(1024, 1024, MSG_ERRQUEUE)
    for _level, _type, data in ancdata:
        ee_errno, origin, icmp_type, icmp_code = struct.unpack_from("=IBBB", data, 0)
        offender = data[16:]
        if v6:
            sender = socket.inet_ntop(socket.AF_INET6, offender[8:24])
        else:
            sender = socket.inet_ntop(socket.AF_INET, offender[4:8])
        return {
            "result": "icmp",
            "errno": errno.errorcode.get(ee_errno, str(ee_errno)),
            "icmp_type": icmp_type,
            "icmp_code": icmp_code,
            "icmp_from": sender,
            "origin": "icmp6" if origin == SO_EE_ORIGIN_ICMP6 else "icmp",
        }
    return {"result": "icmp", "errno": None}


def check_udp(host: str, port: int, payload: str, timeout: float = 1.5) -> dict[str, Any]:
    start = time.monotonic()
    v6 = _family(host) == socket.AF_INET6
    if payload == "dns":
        data = dns_query("_ldap._tcp.dc._msdcs.lab.hybridports.test")
    elif payload == "cldap":
        data = cldap.request("lab.hybridports.test")
    else:
        data = bytes.fromhex(payload)
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        if v6:
            sock.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
        else:
            sock.setsockopt(SOL_IP, IP_RECVERR, 1)
        sock.connect((host, port))
        sock.send(data)
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR)
        events = poller.poll(int(timeout * 1000))
        if not events:
            out: dict[str, Any] = {"result": "timeout", "errno": None}
        elif events[0][1] & select.POLLERR:
            out = _read_errqueue(sock, v6)
        else:
            reply = sock.recv(65535)
            out = {"result": "reply", "errno": None, "bytes": len(reply)}
    out["seconds"] = round(time.monotonic() - start, 3)
    return out


def run_check(check: dict[str, Any]) -> dict[str, Any]:
    kind = check["kind"]
    if kind == "tcp":
        result = check_tcp(check["host"], check["port"], check.get("timeout", 1.5))
    elif kind == "udp":
        result = check_udp(
            check["host"], check["port"], check.get("payload", "dns"), check.get("timeout", 1.5)
        )
    else:
        raise ValueError(f"unknown check kind {kind!r}")
    return {**check, **result}


def main() -> None:
    checks = json.loads(sys.argv[1])
    with ThreadPoolExecutor(max_workers=max(1, len(checks))) as pool:
        results = list(pool.map(run_check, checks))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
