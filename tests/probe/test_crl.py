"""CRL/OCSP probe (§7.11): CRLs and OCSP answers served over HTTP on 127.0.0.1, block pages,
garbage, stale or forged CRLs, and the URLs the HTTPS probe records from a real TLS peer."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from hybridports.model import Transport
from hybridports.probe import crl as crl_module
from hybridports.probe.crl import CrlProbe, crl_header
from hybridports.probe.https import HttpsProbe
from hybridports.probe.interface import Outcome, PkiHint, ProbeContext, Target, Verdict
from hybridports.probe.net import BadReply
from tests.peers.local import (
    Handler,
    Route,
    check_bounded,
    close_at_once,
    replying,
    serving_http,
    silent,
    tcp_peer,
)
from tests.peers.pki import Ca

HOST = "crl.cloud.test"


class Pki:
    def __init__(self, directory: Path) -> None:
        self.root = Ca.root(directory, "HP Test Public Root G1")
        self.issuing = self.root.intermediate("HP Test TLS CA 01")
        self.leaf = self.issuing.leaf(["login.cloud.test"])
        self.public_ca = self.root.pem_file("public-ca")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("crl-pki"))


def serve(documents: dict[str, tuple[int, str, bytes]]) -> Route:
    """Answer each path with (status, content type, body); anything else is a 404."""

    def route(method: str, target: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        status, kind, payload = documents.get(target, (404, "text/plain", b"not found"))
        return status, [("Content-Type", kind), ("Server", "crl-test")], payload

    return route


@asynccontextmanager
async def counted(handler: Handler, connections: list[int]) -> AsyncIterator[int]:
    async def wrapper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await handler(reader, writer)

    async with tcp_peer(wrapper) as port:
        yield port


async def fetch(
    handler: Handler,
    hints: Sequence[tuple[str, str, bytes, bytes | None]],
    timeout: float = 1.5,
    connections: list[int] | None = None,
) -> Outcome:
    """The CRL probe at ``HOST`` served by ``handler``; hints: (kind, path, issuer, subject)."""
    async with counted(handler, connections if connections is not None else []) as port:
        ctx = ProbeContext(timeout=timeout)
        for kind, path, issuer, subject in hints:
            ctx.pki.add(PkiHint(f"http://{HOST}:{port}{path}", kind, issuer, subject))
        target = Target(HOST, "127.0.0.1", port, Transport.TCP, HOST)
        return await check_bounded(CrlProbe(), target, ctx)


def one_crl(pki: Pki, handler: Handler, issuer: bytes | None = None) -> Outcome:
    der = pki.issuing.der if issuer is None else issuer
    return asyncio.run(fetch(handler, [("crl", "/ca.crl", der, pki.leaf.der)]))


def test_valid_crl_signed_by_the_issuer_is_open(pki: Pki) -> None:
    documents = {"/ca.crl": (200, "application/pkix-crl", pki.issuing.crl(revoked=3))}
    outcome = one_crl(pki, serving_http(serve(documents)))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail.startswith(f"CRL http://{HOST}:")
    assert "/ca.crl (3 revoked, next update " in outcome.detail
    assert outcome.detail.endswith(") signed by HP Test TLS CA 01")
    facts = outcome.facts
    assert facts["crl_issuer"] == "HP Test TLS CA 01" and facts["http_status"] == 200
    assert dt.datetime.fromisoformat(facts["next_update"]) > dt.datetime.now(dt.UTC)
    assert list(facts["urls"].values()) == ["open"] and facts["signature_checked"] is True


def test_pem_crl_is_accepted(pki: Pki) -> None:
    pem = x509.load_der_x509_crl(pki.issuing.crl()).public_bytes(Encoding.PEM)
    outcome = one_crl(pki, serving_http(serve({"/ca.crl": (200, "text/plain", pem)})))
    assert outcome.verdict is Verdict.OPEN, outcome.detail


def test_crl_without_known_issuer_is_open_without_signature_check(pki: Pki) -> None:
    documents = {"/ca.crl": (200, "application/pkix-crl", pki.issuing.crl())}
    outcome = one_crl(pki, serving_http(serve(documents)), issuer=b"")
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail.endswith(
        "issuer HP Test TLS CA 01; signature not checked (issuer certificate not known)"
    )


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ((200, "application/pkix-crl", b"\x00garbage" * 10), "answered HTTP 200, but not a CRL"),
        (
            (200, "text/html", b"<html><body>Blocked by policy</body></html>"),
            "answered with an HTML page, not a CRL (proxy block page?)",
        ),
        (
            (200, "application/octet-stream", b"\n<!DOCTYPE html><title>Denied</title>"),
            "answered with an HTML page, not a CRL (proxy block page?)",
        ),
        ((404, "text/plain", b"nope"), "/ca.crl answered HTTP 404 Not Found: no such file on"),
        ((200, "application/pkix-crl", b""), "answered HTTP 200, but not a CRL (0 bytes"),
    ],
)
def test_what_is_not_a_crl_is_an_error(
    pki: Pki, document: tuple[int, str, bytes], words: str
) -> None:
    outcome = one_crl(pki, serving_http(serve({"/ca.crl": document})))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail, outcome.detail


def test_forged_crl_signature_is_an_error(pki: Pki, tmp_path: Path) -> None:
    forger = Ca.root(tmp_path, "Forger")
    forged = pki.issuing.crl(signer=forger)
    outcome = one_crl(pki, serving_http(serve({"/ca.crl": (200, "application/pkix-crl", forged)})))
    assert outcome.verdict is Verdict.ERROR
    assert "the CRL's signature does not verify with HP Test TLS CA 01's key" in outcome.detail


def test_crl_of_another_issuer_is_an_error(pki: Pki) -> None:
    other = pki.root.crl()
    outcome = one_crl(pki, serving_http(serve({"/ca.crl": (200, "application/pkix-crl", other)})))
    assert outcome.verdict is Verdict.ERROR
    assert "the CRL is issued by HP Test Public Root G1, not by HP Test TLS CA 01" in outcome.detail


def test_stale_crl_is_an_error(pki: Pki) -> None:
    stale = pki.issuing.crl(next_update_days=-1)
    outcome = one_crl(pki, serving_http(serve({"/ca.crl": (200, "application/pkix-crl", stale)})))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith(f"stale CRL at http://{HOST}:")


def test_large_crl_is_judged_from_its_header(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    big = pki.issuing.crl(revoked=400)
    monkeypatch.setattr(crl_module, "CRL_CAP", 300)
    outcome = one_crl(pki, serving_http(serve({"/ca.crl": (200, "application/pkix-crl", big)})))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert f"({len(big):,} bytes, next update" in outcome.detail
    assert outcome.detail.endswith("issuer HP Test TLS CA 01; read in part, signature not checked")


def test_large_crl_of_another_issuer_is_an_error(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crl_module, "CRL_CAP", 300)
    big = pki.root.crl(revoked=400)
    outcome = one_crl(pki, serving_http(serve({"/ca.crl": (200, "application/pkix-crl", big)})))
    assert outcome.verdict is Verdict.ERROR
    assert "the CRL is not issued by HP Test TLS CA 01" in outcome.detail


def test_crl_header_parser(pki: Pki) -> None:
    der = pki.issuing.crl()
    header = crl_header(der[:200])
    assert header.issuer_der == pki.issuing.cert.subject.public_bytes()
    assert header.next_update is not None and header.this_update < header.next_update
    assert header.size == len(der)
    for bad in (b"", b"\x30", b"\x04\x03abc", der[:12], b"\x30\x85\x01\x02\x03\x04\x05"):
        with pytest.raises(BadReply):
            crl_header(bad)


def ocsp_route(pki: Pki, status: ocsp.OCSPResponseStatus | None = None) -> Route:
    def route(method: str, target: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        assert method == "POST"
        if status is not None:
            answer = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
            return (
                200,
                [("Content-Type", "application/ocsp-response")],
                answer.public_bytes(Encoding.DER),
            )
        reply = pki.issuing.ocsp_response(body, pki.leaf.cert)
        return 200, [("Content-Type", "application/ocsp-response")], reply

    return route


def test_ocsp_successful_response_is_open(pki: Pki) -> None:
    hint = ("ocsp", "/", pki.issuing.der, pki.leaf.der)
    outcome = asyncio.run(fetch(serving_http(ocsp_route(pki)), [hint]))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail.startswith(f"OCSP http://{HOST}:")
    assert outcome.detail.endswith("/ answered: certificate good")
    assert outcome.facts["ocsp_status"] == "successful"


def test_ocsp_unsuccessful_status_is_an_error(pki: Pki) -> None:
    hint = ("ocsp", "/", pki.issuing.der, pki.leaf.der)
    route = ocsp_route(pki, ocsp.OCSPResponseStatus.UNAUTHORIZED)
    outcome = asyncio.run(fetch(serving_http(route), [hint]))
    assert outcome.verdict is Verdict.ERROR
    assert "answered responseStatus unauthorized" in outcome.detail


def test_ocsp_garbage_is_an_error(pki: Pki) -> None:
    hint = ("ocsp", "/", pki.issuing.der, pki.leaf.der)
    documents = {"/": (200, "application/ocsp-response", b"\x30\x03\x0a\x01")}
    outcome = asyncio.run(fetch(serving_http(serve(documents)), [hint]))
    assert outcome.verdict is Verdict.ERROR
    assert "answered HTTP 200, but not an OCSP response" in outcome.detail


def test_several_urls_share_one_keep_alive_connection(pki: Pki) -> None:
    documents = {
        "/ca.crl": (200, "application/pkix-crl", pki.issuing.crl()),
        "/root.crl": (200, "application/pkix-crl", pki.root.crl()),
    }

    def route(method: str, target: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        if method == "POST":
            return ocsp_route(pki)(method, target, body)
        return serve(documents)(method, target, body)

    seen: list[str] = []
    connections: list[int] = []
    hints = [
        ("crl", "/ca.crl", pki.issuing.der, pki.leaf.der),
        ("ocsp", "/ocsp", pki.issuing.der, pki.leaf.der),
        ("crl", "/root.crl", pki.root.der, pki.issuing.der),
    ]
    outcome = asyncio.run(fetch(serving_http(route, seen), hints, connections=connections))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen == ["GET /ca.crl", "POST /ocsp", "GET /root.crl"] and len(connections) == 1
    assert outcome.detail.endswith("signed by HP Test TLS CA 01; 2 more URL(s) good")
    assert list(outcome.facts["urls"].values()) == ["open", "open", "open"]


def test_one_bad_url_among_several_fails_the_check(pki: Pki) -> None:
    documents = {"/ca.crl": (200, "application/pkix-crl", pki.issuing.crl())}
    hints = [
        ("crl", "/ca.crl", pki.issuing.der, pki.leaf.der),
        ("crl", "/gone.crl", pki.root.der, pki.issuing.der),
    ]
    outcome = asyncio.run(fetch(serving_http(serve(documents)), hints))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith(
        "/gone.crl answered HTTP 404 Not Found: no such file on this "
        "server, not a CRL (1 of 2 URLs failed)"
    )


def test_host_without_known_url_needs_any_http_answer() -> None:
    seen: list[str] = []
    outcome = asyncio.run(fetch(serving_http(serve({}), seen), []))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen == ["GET /"]
    assert outcome.detail.endswith(": 404 Not Found (crl-test) (no CRL path known for this host)")
    assert outcome.detail.startswith("HTTP answered on ")


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (replying(b"\x16\x03\x01\x02\x00garbage"), "answered, but not HTTP: not HTTP (first bytes"),
        (close_at_once, "the peer closed the connection: no HTTP reply"),
        (replying(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n\x30\x82"), "not a CRL"),
    ],
)
def test_hostile_http_peers_are_errors(pki: Pki, handler: Handler, words: str) -> None:
    outcome = one_crl(pki, handler)
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail, outcome.detail


def test_silent_peer_is_an_error_within_the_timeout(pki: Pki) -> None:
    started = time.monotonic()
    outcome = asyncio.run(fetch(silent, [("crl", "/ca.crl", pki.issuing.der, None)], timeout=1.0))
    assert time.monotonic() - started < 1.6
    assert outcome.verdict is Verdict.ERROR
    assert "no HTTP reply within 1s" in outcome.detail


def test_urls_recorded_by_the_https_probe_are_fetched(tmp_path: Path) -> None:
    """End to end: HTTPS receives a chain with CDP/OCSP URLs, then the CRL check fetches them."""

    async def scenario() -> tuple[Outcome, Outcome, list[str]]:
        seen: list[str] = []
        holder: dict[str, Ca] = {}
        leaf_holder: list[x509.Certificate] = []

        def route(
            method: str, target: str, body: bytes
        ) -> tuple[int, list[tuple[str, str]], bytes]:
            if method == "POST":
                return 200, [], holder["issuing"].ocsp_response(body, leaf_holder[0])
            ca = holder["root"] if target == "/root.crl" else holder["issuing"]
            return 200, [("Content-Type", "application/pkix-crl")], ca.crl()

        async with tcp_peer(serving_http(route, seen)) as crl_port:
            base = f"http://{HOST}:{crl_port}"
            root = Ca.root(tmp_path, "HP Test Public Root G1")
            issuing = root.intermediate("HP Test TLS CA 01", crl_url=f"{base}/root.crl")
            leaf = issuing.leaf(["login.cloud.test"], f"{base}/ca.crl", f"{base}/ocsp")
            holder.update(root=root, issuing=issuing)
            leaf_holder.append(leaf.cert)
            ctx = ProbeContext(timeout=2.0, public_ca=root.pem_file("public"))
            website = serving_http(lambda m, t, b: (200, [], b"ok"))
            async with tcp_peer(website, issuing.server_context(leaf)) as https_port:
                site = Target("login", "127.0.0.1", https_port, Transport.TCP, "login.cloud.test")
                https = await check_bounded(HttpsProbe(), site, ctx)
            target = Target(HOST, "127.0.0.1", crl_port, Transport.TCP, HOST)
            return https, await check_bounded(CrlProbe(), target, ctx), seen

    https, crl, seen = asyncio.run(scenario())
    assert https.verdict is Verdict.OPEN, https.detail
    assert crl.verdict is Verdict.OPEN, crl.detail
    assert seen == ["GET /ca.crl", "POST /ocsp", "GET /root.crl"]
    assert "; 2 more URL(s) good" in crl.detail
