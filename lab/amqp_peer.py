"""A small AMQP 1.0 peer over TLS (amqps, 5671) for hp-cloud, on Apache Qpid Proton.

Run by lab/cloud.py with Debian's Python (``/usr/bin/python3``, package
``python3-qpid-proton``), inside hp-cloud::

    amqp_peer.py --cert CHAIN.pem --key KEY.pem --listen 198.18.3.10 --listen 2001:db8:3::10

It is a real AMQP 1.0 container: TLS first (amqps), then the SASL layer (Proton's built-in
SASL: ANONYMOUS; Debian builds Proton without Cyrus SASL, whose server side PLAIN would
need), then AMQP open/begin/attach. It accepts every link (a sender's target and a
receiver's source are echoed back) and accepts and drops every message it receives, which
is all a connectivity probe or client test needs from "Service Bus".

Proton's Python IO layer only listens on IPv4 sockets; ``_listen`` below adds IPv6.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from typing import Any

from proton import SSLDomain, _io  # type: ignore[import-not-found]
from proton.handlers import MessagingHandler  # type: ignore[import-not-found]
from proton.reactor import Container  # type: ignore[import-not-found]


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    _io.IO._setupsocket(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


_io.IO.listen = staticmethod(_listen)
CONTAINER_ID = "hybridports-lab-servicebus"


class Peer(MessagingHandler):  # type: ignore[misc]
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(auto_accept=True)
        self.args = args
        self.received = 0

    def on_start(self, event: Any) -> None:
        domain = SSLDomain(SSLDomain.MODE_SERVER)
        domain.set_credentials(self.args.cert, self.args.key, None)
        domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
        for host in self.args.listen:
            shown = f"[{host}]" if ":" in host else host
            event.container.listen(f"amqps://{shown}:{self.args.port}", ssl_domain=domain)
        logging.info("listening on %s port %s (amqps)", self.args.listen, self.args.port)
        if self.args.pid_file:
            with open(self.args.pid_file, "w") as handle:
                handle.write(f"{os.getpid()}\n")

    def on_connection_bound(self, event: Any) -> None:
        # Proton names only the connections it opens itself; ours answer as "Service Bus".
        event.connection.container = CONTAINER_ID
        sasl = event.transport.sasl()
        sasl.allow_insecure_mechs = False
        sasl.allowed_mechs(self.args.mechs)

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_sender:
            link.source.copy(link.remote_source)
        else:
            link.target.copy(link.remote_target)

    def on_message(self, event: Any) -> None:
        self.received += 1
        logging.info("message %d on %s", self.received, event.link.target.address)


def main() -> int:
    parser = argparse.ArgumentParser(prog="amqp_peer.py")
    parser.add_argument("--cert", required=True, help="PEM: server certificate + chain")
    parser.add_argument("--key", required=True)
    parser.add_argument("--listen", action="append", required=True, help="address (repeat)")
    parser.add_argument("--port", type=int, default=5671)
    parser.add_argument("--mechs", default="ANONYMOUS")
    parser.add_argument("--pid-file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s amqp_peer %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Container(Peer(args)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
