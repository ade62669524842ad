"""HTTPS probe (§7.10): public, intercepted and untrusted chains from local TLS peers made here,
names, versions, non-TLS and non-HTTP peers, and the revocation URLs it records (§7.11)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from hybridports.model import Transport
from hybridports.probe.https import HttpsProbe, anchor_in, is_internal, public_name
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from tests.peers.local import (
    Handler,
    Route,
    check_bounded,
    close_at_once,
    replying,
    run_against_tcp,
    serving_http,
    silent,
    tcp_peer,
)
from tests.peers.pki import Ca, Leaf

NAME = "login.cloud.test"
CRL_URL = "http://crl.cloud.test/tlsca01.crl"
ROOT_CRL_URL = "http://crl.cloud.test/root.crl"
OCSP_URL = "http://ocsp.cloud.test/"


class Cloud:
    """A "public" root (passed as --public-ca), an issuing CA under it, and an inspection CA."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.root = Ca.root(directory, "HP Test Public Root G1")
        self.issuing = self.root.intermediate("HP Test TLS CA 01", crl_url=ROOT_CRL_URL)
        self.public_ca = self.root.pem_file("public-ca")
        self.inspection_root = Ca.root(directory, "Contoso Inspection Root", "Contoso")
        self.inspection = self.inspection_root.intermediate("Contoso Inspection CA")
        self.ca_bundle = self.inspection_root.pem_file("enterprise")

    def leaf(self, names: list[str] | None = None, days: int = 90) -> Leaf:
        return self.issuing.leaf(names or [NAME], CRL_URL, OCSP_URL, days)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Cloud:
    return Cloud(tmp_path_factory.mktemp("cloud-pki"))


def answer(status: int = 200, server: str = "test-front/1.0") -> Route:
    return lambda method, target, body: (status, [("Server", server)], b"hello")


async def https(
    handler: Handler,
    tls: ssl.SSLContext | None,
    server_name: str | None = NAME,
    timeout: float = 1.5,
    **settings: Any,
) -> tuple[Outcome, ProbeContext]:
    async with tcp_peer(handler, tls) as port:
        target = Target("peer", "127.0.0.1", port, Transport.TCP, server_name)
        ctx = ProbeContext(timeout=timeout, **settings)
        return await check_bounded(HttpsProbe(), target, ctx), ctx


def run(handler: Handler, tls: ssl.SSLContext | None, **settings: Any) -> Outcome:
    return asyncio.run(https(handler, tls, **settings))[0]


def test_public_chain_and_http_answer_is_open(cloud: Cloud) -> None:
    seen: list[str] = []
    context = cloud.issuing.server_context(cloud.leaf())
    outcome, ctx = asyncio.run(
        https(serving_http(answer(), seen), context, public_ca=cloud.public_ca)
    )
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    facts = outcome.facts
    assert outcome.detail == (
        f"TLS 1.3 {facts['cipher']}, {NAME} issued by HP Test TLS CA 01; HTTP 200 (test-front/1.0)"
    )
    assert seen == ["GET /"]
    assert facts["tls_version"] == "TLSv1.3" and facts["http_status"] == 200
    assert facts["server"] == "test-front/1.0" and facts["via_proxy"] is False
    assert facts["issuer"] == "CN=HP Test TLS CA 01,O=hybridports tests"
    assert facts["root"] == "CN=HP Test Public Root G1,O=hybridports tests"
    assert facts["san"] == [NAME] and facts["not_after"] and facts["sni"] == NAME
    # The revocation URLs of the leaf and of the intermediate, each with its issuer
    hints = {h.url: h for h in ctx.pki.for_host("crl.cloud.test")}
    assert set(hints) == {CRL_URL, ROOT_CRL_URL}
    assert hints[CRL_URL].issuer_der == cloud.issuing.der
    assert hints[ROOT_CRL_URL].issuer_der == cloud.root.der
    (ocsp,) = ctx.pki.for_host("ocsp.cloud.test")
    assert ocsp.kind == "ocsp" and ocsp.issuer_der == cloud.issuing.der
    assert ocsp.subject_der is not None and b"login.cloud.test" in ocsp.subject_der


def test_an_http_error_status_still_proves_the_endpoint(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf())
    outcome = run(
        serving_http(answer(404, "Microsoft-IIS/10.0")), context, public_ca=cloud.public_ca
    )
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail.endswith("; HTTP 404 (Microsoft-IIS/10.0)")


def test_wildcard_certificate_matches(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.issuing.leaf(["*.cloud.test"]))
    outcome = run(serving_http(answer()), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.OPEN, outcome.detail


def test_chain_trusted_only_through_the_ca_bundle_is_intercepted(cloud: Cloud) -> None:
    context = cloud.inspection.server_context(cloud.inspection.leaf([NAME]))
    outcome, ctx = asyncio.run(
        https(serving_http(answer()), context, public_ca=cloud.public_ca, ca_bundle=cloud.ca_bundle)
    )
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail == (
        "intercepted: chain ends in Contoso Inspection Root, trusted only through --ca-bundle "
        "(TLS inspection by Contoso Inspection CA?)"
    )
    assert outcome.facts["root"] == "CN=Contoso Inspection Root,O=Contoso"
    assert outcome.facts["trusted_by"] == "ca-bundle"
    assert ctx.pki.hosts() == []  # an inspected chain gives no revocation URLs to fetch


def test_unknown_root_is_untrusted_and_looks_like_inspection(cloud: Cloud) -> None:
    context = cloud.inspection.server_context(cloud.inspection.leaf([NAME]))
    outcome = run(serving_http(answer()), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail == (
        "untrusted certificate issued by Contoso Inspection CA (unable to get local issuer "
        "certificate): chain ends in Contoso Inspection Root, not a public CA of these names "
        "(TLS inspection?)"
    )
    assert outcome.facts["verify_error"] == "unable to get local issuer certificate"


def test_untrusted_chain_naming_a_public_root_is_not_called_inspection(
    cloud: Cloud, tmp_path: Path
) -> None:
    lookalike = Ca.root(tmp_path, "DigiCert Global Root G2", "DigiCert Inc")
    issuing = lookalike.intermediate("DigiCert Global G2 TLS RSA SHA256 2020 CA1")
    outcome = run(serving_http(answer()), issuing.server_context(issuing.leaf([NAME])))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith(f"untrusted certificate {NAME} issued by DigiCert Global G2")
    assert "(chain ends in DigiCert Global Root G2)" in outcome.detail
    assert "inspection" not in outcome.detail


def test_private_root_in_the_system_store_is_intercepted(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", cloud.ca_bundle)  # the machine's store: an enterprise root
    monkeypatch.setenv("SSL_CERT_DIR", str(cloud.directory / "none"))
    context = cloud.inspection.server_context(cloud.inspection.leaf([NAME]))
    outcome = run(serving_http(answer()), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail == (
        "intercepted: chain ends in Contoso Inspection Root, a root this machine's store trusts "
        "that is not a public CA of these names (TLS inspection by Contoso Inspection CA?)"
    )


def test_internal_name_may_chain_to_the_ca_bundle(cloud: Cloud) -> None:
    name = "adfs.corp.contoso.test"
    context = cloud.inspection.server_context(cloud.inspection.leaf([name]))
    outcome = run(
        serving_http(answer()),
        context,
        server_name=name,
        ca_bundle=cloud.ca_bundle,
        domain="corp.contoso.test",
    )
    assert outcome.verdict is Verdict.OPEN, outcome.detail


def test_name_mismatch(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf(["other.cloud.test"]))
    outcome = run(serving_http(answer()), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail == (
        "name mismatch: certificate other.cloud.test issued by HP Test TLS CA 01 names "
        f"other.cloud.test, not {NAME}"
    )


def test_expired_certificate(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf(days=-1))
    outcome = run(serving_http(answer()), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith(f"untrusted certificate {NAME} issued by HP Test TLS CA 01")
    assert "expired (notAfter" in outcome.detail


def test_missing_intermediate_is_untrusted(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf(), with_chain=False)
    outcome = run(serving_http(answer()), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert "unable to get local issuer certificate" in outcome.detail


def test_tls_1_0_only(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf(), legacy=True)
    outcome = run(serving_http(answer()), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith("TLS 1.0 only: the server does not offer TLS 1.2 or later")
    assert outcome.facts["tls_version"] == "TLSv1"


def test_tls_server_that_does_not_speak_http(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf())
    outcome = run(replying(b"\x00\x01garbage"), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert (
        "issued by HP Test TLS CA 01; but the server does not speak HTTP after TLS: not HTTP"
        in (outcome.detail)
    )


def test_tls_server_that_closes_after_the_handshake(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf())
    outcome = run(replying(b""), context, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith("but the server closed the connection without an HTTP answer")


def test_tls_server_silent_after_the_handshake(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf())
    started = time.monotonic()
    outcome = run(silent, context, public_ca=cloud.public_ca, timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith("but no HTTP answer to GET / within 1s")


def test_plain_http_on_443() -> None:
    outcome = run(replying(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), None)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail == (
        "answered, but not TLS: plain HTTP ('HTTP/1.1 400 Bad Request'): an HTTP service on a "
        "TLS port"
    )


def test_tcp_peer_that_never_speaks_tls() -> None:
    started = time.monotonic()
    outcome = run(silent, None, timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail == (
        f"TCP connected, but no answer to the TLS ClientHello (SNI {NAME}) within 1s: the port "
        "does not speak TLS, or a firewall filtering by SNI drops it"
    )


async def reset_after_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(4096)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (close_at_once, "then the TLS handshake was closed or reset before any reply"),
        (reset_after_hello, "then the TLS handshake was closed or reset before any reply"),
        (replying(b"\x16\x03\x03\x00\x10" + b"\x00" * 4), "handshake was aborted mid-way"),
        (replying(b"\x15\x03\x03\x00\x02\x02\x28"), "handshake_failure): no certificate for"),
        (replying(b"SSH-2.0-OpenSSH_9.2\r\n"), "answered, but not TLS: wrong_version_number"),
        (replying(b"\x16\x03\x03\x00\x10" + b"\x00" * 4, close=False), "stalled after 9+ bytes"),
    ],
)
def test_hostile_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = run(handler, None, timeout=1.0)
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail, outcome.detail


def _record(content: bytes, kind: int = 0x16) -> bytes:
    return struct.pack("!BHH", kind, 0x0303, len(content)) + content


def _handshake(kind: int, body: bytes) -> bytes:
    return struct.pack("!B", kind) + len(body).to_bytes(3, "big") + body


def truncated_certificate(leaf_der: bytes) -> Handler:
    """A TLS 1.2 server whose Certificate message carries half a certificate, framed right."""
    extensions = b"\xff\x01\x00\x01\x00"  # renegotiation_info: OpenSSL 3 insists on it
    hello = (
        b"\x03\x03" + b"\x42" * 32 + b"\x00" + b"\xc0\x2b" + b"\x00"
        + struct.pack("!H", len(extensions)) + extensions
    )  # fmt: skip
    half = leaf_der[: len(leaf_der) // 2]
    entry = len(half).to_bytes(3, "big") + half
    certificate = (len(entry)).to_bytes(3, "big") + entry
    flight = _record(_handshake(2, hello) + _handshake(11, certificate))
    return replying(flight, close=False)


def test_truncated_certificate(cloud: Cloud) -> None:
    outcome = run(truncated_certificate(cloud.leaf().der), None, public_ca=cloud.public_ca)
    assert outcome.verdict is Verdict.ERROR
    assert "TLS handshake failed" in outcome.detail or "not parse" in outcome.detail, outcome.detail


def test_unreadable_public_ca_file(tmp_path: Path) -> None:
    target = Target("peer", "127.0.0.1", 9, Transport.TCP, NAME)
    ctx = ProbeContext(timeout=0.5, public_ca=str(tmp_path / "none.pem"))
    outcome = asyncio.run(HttpsProbe().check(target, ctx))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith(f"cannot load --public-ca {tmp_path / 'none.pem'}")


def test_refused_port_is_closed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = Target("peer", "127.0.0.1", port, Transport.TCP, NAME)
    outcome = asyncio.run(HttpsProbe().check(target, ProbeContext(timeout=1)))
    assert outcome.verdict is Verdict.CLOSED, outcome.detail


def test_public_names_and_internal_names(cloud: Cloud) -> None:
    assert public_name(x509.Name.from_rfc4514_string("CN=Baltimore CyberTrust Root,O=Baltimore"))
    assert public_name(
        x509.Name.from_rfc4514_string("CN=ISRG Root X1,O=Internet Security Research Group")
    )
    assert public_name(
        x509.Name.from_rfc4514_string("CN=Microsoft RSA Root Certificate Authority 2017")
    )
    assert not public_name(cloud.inspection_root.cert.subject)
    assert is_internal("adfs.corp.test", "corp.test") and is_internal("corp.test.", "CORP.test")
    assert not is_internal("login.microsoftonline.com", "corp.test")
    assert not is_internal("evilcorp.test", "corp.test") and not is_internal("x.corp.test", None)


def test_anchor_search_follows_signatures_not_only_names(cloud: Cloud, tmp_path: Path) -> None:
    chain = [cloud.inspection.leaf([NAME]).cert, cloud.inspection.cert]
    assert anchor_in(chain, (cloud.inspection_root.cert,)) == cloud.inspection_root.cert
    impostor = Ca.root(tmp_path, "Contoso Inspection Root", "Contoso")  # same name, other key
    assert anchor_in(chain, (impostor.cert,)) is None
    assert anchor_in([], (impostor.cert,)) is None


def test_run_against_tcp_helper_works_with_tls(cloud: Cloud) -> None:
    context = cloud.issuing.server_context(cloud.leaf())
    outcome = asyncio.run(
        run_against_tcp(
            HttpsProbe(), serving_http(answer()), 1.5, NAME, context, public_ca=cloud.public_ca
        )
    )
    assert outcome.verdict is Verdict.OPEN, outcome.detail


def test_server_demanding_a_client_certificate(cloud: Cloud) -> None:
    """A blocking OpenSSL server (asyncio's would drop the alert) that requires a certificate."""
    context = cloud.issuing.server_context(cloud.leaf())
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cloud.public_ca)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):  # a copy: the failed TLS closes its own
            context.wrap_socket(conn.dup(), server_side=True).recv(100)
        conn.settimeout(0.5)
        with contextlib.suppress(OSError):
            conn.recv(4096)  # the request: closing with it unread would send a reset
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    target = Target("peer", "127.0.0.1", listener.getsockname()[1], Transport.TCP, NAME)
    ctx = ProbeContext(timeout=1.5, public_ca=cloud.public_ca)
    try:
        outcome = asyncio.run(check_bounded(HttpsProbe(), target, ctx))
    finally:
        thread.join(2)
        listener.close()
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith(
        "but a TLS alert came instead of HTTP: tlsv13_alert_certificate_required (the server "
        "wants a client certificate)"
    ), outcome.detail
