"""A helper process that works inside the test's network namespaces (started by netns.py).

The pytest process never changes namespace; this one does, with setns(2) through ctypes
(Python 3.11 has no os.setns), and keeps one libnftables context per namespace so a ruleset
load or listing costs a netlink round trip instead of a process. Requests and answers are
JSON lines on stdin/stdout:

    {"op": "nft", "ns": "fw", "text": "...", "json": false}  → {"rc": 0, "out": "", "err": ""}
    {"op": "exec", "ns": "fw", "argv": [...], "stdin": "..."} → {"rc": 0, "out": ..., "err": ...}
    {"op": "ctflush", "ns": "fw"}                             → {"rc": 0}
    {"op": "send", "ns": "src", "samples": [[family, protocol, source, sport, destination,
      dport], ...]}                                          → {"rc": 0}

``send``: TCP samples are SYNs from a non-blocking connect, UDP samples one datagram, each
from a socket bound to its own (source, sport). The sockets close before the answer; a
SYN_SENT socket closes without a packet, so nothing else reaches the firewall.
Only the standard library: it runs under the test's interpreter, outside pytest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import socket
import struct
import subprocess
import sys
from typing import Any

CLONE_NEWNET = 0x40000000
NFT_CTX_OUTPUT_JSON = 1 << 4
NETLINK_NETFILTER = 12
CT_DELETE = (1 << 8) | 2  # NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE: no tuple = flush all

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_nft = ctypes.CDLL("libnftables.so.1", use_errno=True)
_nft.nft_ctx_new.restype = ctypes.c_void_p
_nft.nft_ctx_new.argtypes = [ctypes.c_uint32]
for _name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
    getattr(_nft, _name).argtypes = [ctypes.c_void_p]
for _name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
    getattr(_nft, _name).argtypes = [ctypes.c_void_p]
    getattr(_nft, _name).restype = ctypes.c_char_p
_nft.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
_nft.nft_ctx_output_get_flags.argtypes = [ctypes.c_void_p]
_nft.nft_ctx_output_get_flags.restype = ctypes.c_uint
_nft.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]


class Agent:
    def __init__(self, namespaces: dict[str, str]) -> None:
        self.fds = {name: os.open(path, os.O_RDONLY) for name, path in namespaces.items()}
        self.contexts: dict[str, int] = {}
        self.current = ""

    def enter(self, ns: str) -> None:
        if ns != self.current:
            if _libc.setns(self.fds[ns], CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {ns}")
            self.current = ns

    def nft(self, ns: str, text: str, as_json: bool) -> dict[str, Any]:
        self.enter(ns)
        ctx = self.contexts.get(ns)
        if ctx is None:  # created inside the namespace: its netlink socket belongs there
            ctx = self.contexts[ns] = _nft.nft_ctx_new(0)
            _nft.nft_ctx_buffer_output(ctx)
            _nft.nft_ctx_buffer_error(ctx)
        flags = _nft.nft_ctx_output_get_flags(ctx)
        flags = flags | NFT_CTX_OUTPUT_JSON if as_json else flags & ~NFT_CTX_OUTPUT_JSON
        _nft.nft_ctx_output_set_flags(ctx, flags)
        rc = _nft.nft_run_cmd_from_buffer(ctx, text.encode())
        out = (_nft.nft_ctx_get_output_buffer(ctx) or b"").decode()
        err = (_nft.nft_ctx_get_error_buffer(ctx) or b"").decode()
        return {"rc": rc, "out": out, "err": err}

    def exec(self, ns: str, argv: list[str], stdin: str | None) -> dict[str, Any]:
        self.enter(ns)  # the child inherits this thread's namespace
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        return {"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr}

    def ctflush(self, ns: str) -> dict[str, Any]:
        self.enter(ns)
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
            body = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)  # nfgenmsg
            header = struct.pack("=IHHII", 16 + len(body), CT_DELETE, 0x1 | 0x4, 1, 0)
            sock.send(header + body)  # NLM_F_REQUEST | NLM_F_ACK
            reply = sock.recv(4096)
            error = struct.unpack_from("=i", reply, 16)[0]  # NLMSG_ERROR: 0 is the ACK
        return {"rc": 0 if error in (0, -2) else -error}  # -ENOENT: nothing to flush

    def send(self, ns: str, samples: list[list[Any]]) -> dict[str, Any]:
        self.enter(ns)  # sockets belong to the namespace they are created in
        sockets = [_send(sample) for sample in samples]
        for sock in sockets:
            sock.close()
        return {"rc": 0}


def _send(sample: list[Any]) -> socket.socket:
    family, protocol, source, sport, destination, dport = sample
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    sock = socket.socket(af, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((source, sport))
    if protocol == "tcp":
        sock.setblocking(False)
        sock.connect_ex((destination, dport))  # EINPROGRESS: the SYN has left
    else:
        sock.sendto(b"hpk", (destination, dport))
    return sock


def main() -> None:
    agent = Agent(json.loads(sys.argv[1]))
    for line in sys.stdin:
        request = json.loads(line)
        op, ns = request["op"], request["ns"]
        try:
            if op == "nft":
                answer = agent.nft(ns, request["text"], bool(request.get("json")))
            elif op == "exec":
                answer = agent.exec(ns, request["argv"], request.get("stdin"))
            elif op == "ctflush":
                answer = agent.ctflush(ns)
            elif op == "send":
                answer = agent.send(ns, request["samples"])
            else:
                answer = {"rc": 1, "err": f"unknown op {op}"}
        except OSError as exc:
            answer = {"rc": 1, "err": f"{op} in {ns}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
