"""CRL and OCSP download over plain HTTP on TCP 80 (spec §7.11, §6 item 8; RFC 5280 §5, OCSP
RFC 6960 / RFC 5019, HTTP RFC 9110/9112).

The URLs come from the chains the TLS checks received (``ctx.pki``, recorded by https.py).
Each is fetched on one keep-alive connection, directly or through the proxy in absolute form
(``GET http://host/path``: a proxy forwards plain HTTP without CONNECT). A CRL proves the
path only when it parses, is signed by the certificate's issuer and is not stale; an OCSP
responder only with responseStatus successful. An HTML page with status 200 is what a proxy
serves when it blocks (§7.11). A host with no known URL only proves that HTTP answers.

A CRL too large to read within the cap or the time left is judged from its first bytes:
the DER header names the issuer and the update times; its signature is then not checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import h11
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from hybridports.probe import http
from hybridports.probe.interface import Outcome, PkiHint, Probe, ProbeContext, Target
from hybridports.probe.net import (
    BadReply,
    ByteStream,
    authority,
    hexdump,
    open_forward,
    proxy_authorization,
    proxy_refusal,
    stream_check,
    via_proxy,
)
from hybridports.probe.tls import cn

CRL_CAP = 8 << 20  # bytes of a CRL read; a larger one is judged from its header
OCSP_CAP = 64 * 1024  # an OCSP response is a few KiB
PAGE_CAP = 64 * 1024
MAX_URLS = 4  # per check, on the one connection
READ_SHARE = 0.75  # of the timeout: then judge the part of a CRL received
PROXY_STATUSES = (403, 407, 502, 503, 504)
SIGNING_KEYS = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    dsa.DSAPublicKey,
)


@dataclass
class Fetched:
    """The judgement of one URL: ``outcome`` is open or error."""

    url: str
    outcome: Outcome
    reusable: bool = False


@dataclass
class Crl:
    """What a (possibly partial) CRL says."""

    issuer_der: bytes
    issuer: str | None
    this_update: datetime
    next_update: datetime | None
    revoked: int | None = None
    size: int | None = None
    signature: bool | None = None  # None: not checked


def _is_html(reply: http.HttpReply) -> bool:
    kind = reply.headers.get("content-type", "").lower()
    start = reply.body.lstrip()[:15].lower()
    return "html" in kind or start.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


# --- DER header of a CRL too large to read (RFC 5280 §5.1) ---


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, length) of the element at ``pos``; BadReply past the data."""
    if pos + 2 > len(data):
        raise BadReply("the header is cut short")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        return tag, pos, first
    count = first & 0x7F
    if not 1 <= count <= 4 or pos + count > len(data):
        raise BadReply("a DER length a CRL header cannot have")
    return tag, pos + count, int.from_bytes(data[pos : pos + count], "big")


def _time(tag: int, value: bytes) -> datetime:
    text = value.decode("ascii", "replace")
    try:
        if tag == 0x17:  # UTCTime, RFC 5280 §4.1.2.5.1
            parsed = datetime.strptime(text, "%y%m%d%H%M%SZ")
        elif tag == 0x18:
            parsed = datetime.strptime(text, "%Y%m%d%H%M%SZ")
        else:
            raise ValueError(text)
    except ValueError:
        raise BadReply(f"a time that is not one: {text!r}") from None
    return parsed.replace(tzinfo=UTC)


def crl_header(prefix: bytes) -> Crl:
    """The issuer name (DER) and update times from the first bytes of a DER CRL."""
    tag, pos, total = _tlv(prefix, 0)
    if tag != 0x30:
        raise BadReply(f"no DER CRL: first bytes {hexdump(prefix)}")
    size = pos + total
    tag, pos, _ = _tlv(prefix, pos)  # tbsCertList
    if tag != 0x30:
        raise BadReply(f"no DER CRL: first bytes {hexdump(prefix)}")
    tag, start, length = _tlv(prefix, pos)
    if tag == 0x02:  # version
        pos = start + length
        tag, start, length = _tlv(prefix, pos)
    if tag != 0x30:  # signature AlgorithmIdentifier
        raise BadReply("no signature algorithm")
    pos = start + length
    tag, start, length = _tlv(prefix, pos)  # issuer Name
    if tag != 0x30 or start + length > len(prefix):
        raise BadReply("no issuer name")
    issuer_der = prefix[pos : start + length]
    tag, start, length = _tlv(prefix, start + length)
    this_update = _time(tag, prefix[start : start + length])
    next_update = None
    if start + length < len(prefix):
        tag, begin, size_next = _tlv(prefix, start + length)
        if tag in (0x17, 0x18):
            next_update = _time(tag, prefix[begin : begin + size_next])
    return Crl(issuer_der, None, this_update, next_update, size=size)


def parse_crl(body: bytes, complete: bool, issuer: x509.Certificate | None) -> Crl:
    """A CRL from a body (DER or PEM), checked against ``issuer`` when it is known."""
    if not complete and not body.lstrip().startswith(b"-----BEGIN"):
        try:
            found = crl_header(body)
        except BadReply as exc:
            raise BadReply(f"not a CRL ({exc}; {len(body)} bytes received)") from None
        if issuer is not None:
            found.issuer = cn(issuer.subject)
            if found.issuer_der != issuer.subject.public_bytes():
                raise BadReply(f"the CRL is not issued by {found.issuer}")
        return found
    try:
        if body.lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(body.strip())
        else:
            crl = x509.load_der_x509_crl(body)
    except ValueError:
        raise BadReply(f"not a CRL ({len(body)} bytes, first bytes {hexdump(body)})") from None
    found = Crl(
        crl.issuer.public_bytes(),
        cn(crl.issuer),
        crl.last_update_utc,
        crl.next_update_utc,
        revoked=len(crl),
        size=len(body),
    )
    if issuer is not None:
        if crl.issuer != issuer.subject:
            raise BadReply(
                f"the CRL is issued by {cn(crl.issuer)}, not by {cn(issuer.subject)} "
                "(the certificate's issuer)"
            )
        key = issuer.public_key()
        try:
            valid = isinstance(key, SIGNING_KEYS) and crl.is_signature_valid(key)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            valid = False
        if not valid:
            raise BadReply(f"the CRL's signature does not verify with {cn(issuer.subject)}'s key")
        found.signature = True
    return found


def _issuer(hint: PkiHint) -> x509.Certificate | None:
    if not hint.issuer_der:
        return None
    try:
        return x509.load_der_x509_certificate(hint.issuer_der)
    except ValueError:
        return None


def judge_crl(hint: PkiHint, reply: http.HttpReply, now: datetime) -> Outcome:
    url = hint.url
    facts: dict[str, Any] = {"http_status": reply.status}
    issuer = _issuer(hint)
    try:
        crl = parse_crl(reply.body, reply.complete, issuer)
    except BadReply as exc:
        return Outcome.error(f"{url} answered HTTP 200, but {exc}", **facts)
    facts.update(
        crl_issuer=crl.issuer,
        next_update=crl.next_update.isoformat() if crl.next_update else None,
        revoked=crl.revoked,
        crl_bytes=crl.size,
        signature_checked=bool(crl.signature),
    )
    if crl.next_update is None or crl.next_update <= now:
        when = f"{crl.next_update:%Y-%m-%d %H:%M}" if crl.next_update else "never given"
        return Outcome.error(f"stale CRL at {url}: next update {when} (not refreshed)", **facts)
    what = f"{crl.revoked} revoked" if crl.revoked is not None else f"{crl.size or 0:,} bytes"
    signer = (
        f"signed by {crl.issuer}"
        if crl.signature
        else f"issuer {crl.issuer}"
        if crl.issuer
        else "issuer not known"
    )
    note = ""
    if not reply.complete:
        note = "; read in part, signature not checked"
    elif issuer is None:
        note = "; signature not checked (issuer certificate not known)"
    return Outcome.open(
        f"CRL {url} ({what}, next update {crl.next_update:%Y-%m-%d %H:%M}) {signer}{note}", **facts
    )


def ocsp_request(hint: PkiHint) -> bytes | None:
    """A DER OCSPRequest for the hint's certificate (SHA-1 CertID, as RFC 5019 asks)."""
    issuer = _issuer(hint)
    if issuer is None or hint.subject_der is None:
        return None
    try:
        subject = x509.load_der_x509_certificate(hint.subject_der)
    except ValueError:
        return None
    builder = ocsp.OCSPRequestBuilder().add_certificate(subject, issuer, hashes.SHA1())
    return builder.build().public_bytes(Encoding.DER)


def judge_ocsp(hint: PkiHint, reply: http.HttpReply) -> Outcome:
    url = hint.url
    facts: dict[str, Any] = {"http_status": reply.status}
    try:
        response = ocsp.load_der_ocsp_response(reply.body)
    except ValueError:
        return Outcome.error(
            f"{url} answered HTTP 200, but not an OCSP response ({len(reply.body)} bytes, first "
            f"bytes {hexdump(reply.body)})",
            **facts,
        )
    status = response.response_status
    facts["ocsp_status"] = status.name.lower()
    if status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Outcome.error(
            f"OCSP responder {url} answered responseStatus {status.name.lower()}", **facts
        )
    certificate = response.certificate_status.name.lower()
    facts.update(cert_status=certificate, next_update=_iso(response.next_update_utc))
    return Outcome.open(f"OCSP {url} answered: certificate {certificate}", **facts)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _refused(reply: http.HttpReply, url: str, ctx: ProbeContext) -> Outcome | None:
    """An error for a status only a proxy gives (through the proxy), else None."""
    if ctx.proxy is None or reply.status not in PROXY_STATUSES:
        return None
    detail = proxy_refusal(ctx.proxy, reply.status, reply.status_line, f"GET {url}", reply.headers)
    if reply.status == 403:
        detail += " (or the server itself refuses it)"
    return Outcome.error(detail, http_status=reply.status, proxy=ctx.proxy.display)


def _not_a_document(reply: http.HttpReply, url: str, kind: str) -> Outcome | None:
    facts = {"http_status": reply.status}
    if reply.status != 200:
        hint = ": no such file on this server" if reply.status == 404 else ""
        return Outcome.error(
            f"{url} answered HTTP {reply.status_text}{hint}, not a {kind}", **facts
        )
    if _is_html(reply):
        return Outcome.error(
            f"{url} answered with an HTML page, not a {kind} (proxy block page?)", **facts
        )
    return None


class Fetcher:
    """Requests on one connection, direct (origin form) or to the proxy (absolute form)."""

    def __init__(self, stream: ByteStream, ctx: ProbeContext, deadline: float) -> None:
        self.stream = stream
        self.ctx = ctx
        self.deadline = deadline
        self.conn = h11.Connection(h11.CLIENT)

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        body: bytes = b"",
        extra: tuple[tuple[str, str], ...] = (),
        cap: int = PAGE_CAP,
        last: bool = True,
    ) -> http.HttpReply:
        parts = urlsplit(url)
        target = (
            url
            if self.ctx.proxy
            else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        )
        headers = http.request_headers(parts.netloc, *extra, close=last)
        if self.ctx.proxy is not None:
            credentials = proxy_authorization(self.ctx.proxy)
            if credentials:
                headers.append(("Proxy-Authorization", credentials))
        loop = asyncio.get_running_loop()
        until = loop.time() + (self.deadline - loop.time()) * READ_SHARE
        reply = await http.exchange(
            self.stream, self.conn, method, target, headers, body, cap, until
        )
        if reply.reusable:
            self.conn.start_next_cycle()
        return reply

    async def check(self, hint: PkiHint, last: bool) -> Fetched:
        now = datetime.now(UTC)
        if hint.kind == "ocsp":
            request = ocsp_request(hint)
            if request is None:
                return Fetched(hint.url, Outcome.error(f"{hint.url}: no certificate to ask about"))
            extra = (("Content-Type", "application/ocsp-request"),)
            reply = await self.fetch(hint.url, "POST", request, extra, OCSP_CAP, last)
            found = _refused(reply, hint.url, self.ctx) or _not_a_document(
                reply, hint.url, "OCSP response"
            )
            return Fetched(hint.url, found or judge_ocsp(hint, reply), reply.reusable)
        reply = await self.fetch(hint.url, cap=CRL_CAP, last=last)
        found = _refused(reply, hint.url, self.ctx) or _not_a_document(reply, hint.url, "CRL")
        return Fetched(hint.url, found or judge_crl(hint, reply, now), reply.reusable)


def combine(results: list[Fetched], unchecked: list[str], ctx: ProbeContext) -> Outcome:
    """Open when every URL fetched proved itself; else the first failure, with the count."""
    failed = [r for r in results if r.outcome.verdict.failing]
    first = (failed or results)[0].outcome
    facts: dict[str, Any] = {
        "urls": {r.url: r.outcome.verdict.value for r in results},
        "via_proxy": ctx.proxy is not None,
        **first.facts,
    }
    if unchecked:
        facts["unchecked"] = unchecked
    more = ""
    if failed and len(results) > 1:
        more = f" ({len(failed)} of {len(results)} URLs failed)"
    elif len(results) > 1:
        more = f"; {len(results) - 1} more URL(s) good"
    if unchecked:
        more += f"; {len(unchecked)} not fetched (the server closed or time ran out)"
    via = "" if "proxy " in first.detail else f";{via_proxy(ctx)}" if ctx.proxy else ""
    return Outcome(first.verdict, f"{first.detail}{more}{via}", facts)


async def _fetch_all(
    stream: ByteStream, target: Target, ctx: ProbeContext, hints: list[PkiHint], deadline: float
) -> Outcome:
    fetcher = Fetcher(stream, ctx, deadline)
    if not hints:
        url = f"http://{authority(target).removesuffix(':80')}/"
        reply = await fetcher.fetch(url)
        refused = _refused(reply, url, ctx)
        if refused is not None:
            return refused
        server = f" ({reply.server})" if reply.server else ""
        return Outcome.open(
            f"HTTP answered on {target.port}{via_proxy(ctx)}: {reply.status_text}{server} "
            "(no CRL path known for this host)",
            http_status=reply.status,
            server=reply.server,
            urls=[url],
            via_proxy=ctx.proxy is not None,
        )
    loop = asyncio.get_running_loop()
    results: list[Fetched] = []
    chosen = hints[:MAX_URLS]
    for position, hint in enumerate(chosen):
        last = position == len(chosen) - 1
        results.append(await fetcher.check(hint, last))
        time_left = deadline - loop.time()
        if not results[-1].reusable or time_left < ctx.timeout * (1 - READ_SHARE):
            break
    unchecked = [h.url for h in hints[len(results) :]]
    return combine(results, unchecked, ctx)


class CrlProbe(Probe):
    name = "crl"
    description = "CRL/OCSP over HTTP 80: the revocation URLs of the TLS chains seen, else HTTP"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        deadline = asyncio.get_running_loop().time() + ctx.timeout
        host = target.server_name or target.address
        hints = [h for h in ctx.pki.for_host(host) if (urlsplit(h.url).port or 80) == target.port]

        async def exchange(stream: ByteStream) -> Outcome:
            return await _fetch_all(stream, target, ctx, hints, deadline)

        return await stream_check(target, ctx, "HTTP", exchange, opener=open_forward)
