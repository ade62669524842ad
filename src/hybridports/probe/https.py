"""HTTPS with certificate validation on TCP 443 (spec §7.10; §6 items 2, 4, 6 and 7; RFC 8446 /
5246, SNI RFC 6066, RFC 5280, RFC 6125, RFC 9110).

Direct or through the component's proxy (CONNECT, net.py), TLS 1.2+ with SNI, then the chain:
a cloud name must chain to one of the public CAs that serve Microsoft's names (the system
store plus ``--public-ca``). A chain that validates only through ``--ca-bundle``, or ends in a
root outside that public set, is TLS inspection: ``error`` naming the issuer (§6 item 7).
Names under the AD domain are internal, where ``--ca-bundle`` is the expected trust anchor.
Then ``GET /``: any well-formed HTTP response proves the endpoint, 4xx included. The CRL and
OCSP URLs of a trusted chain are recorded in ``ctx.pki`` for the CRL check (§7.11).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

import h11
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from hybridports.probe import http
from hybridports.probe.interface import Outcome, PkiHint, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, ByteStream, authority, stream_check, via_proxy
from hybridports.probe.tls import (
    MODERN,
    VERSIONS,
    CertInfo,
    TlsStream,
    cert_info,
    client_context,
    cn,
    days_left,
    handshake_failure,
)

# The CA organisations that issue the certificates of Microsoft's cloud names (spec §4.8,
# §7.10). A root whose subject names none of these (and is not in --public-ca) is not a
# public CA of these names. Matched case-insensitively in the root's O, OU and CN.
PUBLIC_CA_NAMES: tuple[str, ...] = (
    "Microsoft",
    "DigiCert",
    "Baltimore",
    "GlobalSign",
    "Entrust",
    "Sectigo",
    "Comodo",
    "USERTrust",
    "AddTrust",
    "GeoTrust",
    "VeriSign",
    "Symantec",
    "thawte",
    "IdenTrust",
    "Internet Security Research Group",
    "ISRG",
    "Let's Encrypt",
    "D-Trust",
    "Cybertrust",
    "Verizon",
)
EXPIRING_DAYS = 30
NO_CERTIFICATE = "no certificate for this name"
# OpenSSL X509_V_ERR_* codes worth their own wording.
NOT_YET_VALID, EXPIRED = 9, 10
MARGIN = 0.05  # inner deadlines end this much before net.py's, so our wording wins
_DER = Encoding.DER


class TrustFileError(Exception):
    """A trust file (--public-ca, --ca-bundle) cannot be read."""


@dataclass(frozen=True)
class Trust:
    """What one check trusts, and how it tells a public chain from an inspected one."""

    context: ssl.SSLContext  # the handshake's: system store + --public-ca (+ bundle if internal)
    public: tuple[x509.Certificate, ...]  # --public-ca certificates
    bundle: tuple[x509.Certificate, ...]  # --ca-bundle certificates (enterprise roots)
    internal: bool  # an AD-domain name: --ca-bundle is its legitimate anchor

    def is_public(self, root: x509.Certificate) -> bool:
        return root in self.public or public_name(root.subject)


def _read_pem(path: str, option: str) -> list[x509.Certificate]:
    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificates(handle.read())
    except (OSError, ValueError) as exc:
        raise TrustFileError(f"cannot load {option} {path}: {exc}") from None


def is_internal(server_name: str | None, domain: str | None) -> bool:
    if server_name is None:
        return True  # nothing to hold against a public name; the detail says so
    name, suffix = server_name.rstrip(".").lower(), (domain or "").rstrip(".").lower()
    return bool(suffix) and (name == suffix or name.endswith("." + suffix))


def load_trust(target: Target, ctx: ProbeContext, alpn: list[str] | None = None) -> Trust:
    """Raises TrustFileError naming the file and option when one cannot be used."""
    internal = is_internal(target.server_name, ctx.domain)
    public = _read_pem(ctx.public_ca, "--public-ca") if ctx.public_ca else []
    bundle = _read_pem(ctx.ca_bundle, "--ca-bundle") if ctx.ca_bundle else []
    try:
        context = client_context(ctx.public_ca, ctx.ca_bundle if internal else None, alpn=alpn)
    except (OSError, ssl.SSLError) as exc:
        raise TrustFileError(f"cannot load --public-ca/--ca-bundle: {exc}") from None
    return Trust(context, tuple(public), tuple(bundle), internal)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def anchor_in(
    chain: list[x509.Certificate], anchors: tuple[x509.Certificate, ...]
) -> x509.Certificate | None:
    """The anchor the presented chain leads to by issuer names and signatures, if any.

    Only to word a failure (intercepted vs. untrusted): OpenSSL has already refused the chain.
    """
    if not chain:
        return None
    cert, pool = chain[0], chain[1:]
    for _ in range(len(chain) + 1):
        for anchor in anchors:
            if anchor == cert or (anchor.subject == cert.issuer and _signed_by(cert, anchor)):
                return anchor
        step = next((c for c in pool if c.subject == cert.issuer and _signed_by(cert, c)), None)
        if step is None or step == cert:
            return None
        cert = step
    return None


def _attributes(name: x509.Name) -> list[str]:
    found: list[str] = []
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.COMMON_NAME):
        for attribute in name.get_attributes_for_oid(oid):
            value = attribute.value
            found.append(value if isinstance(value, str) else value.decode("utf-8", "replace"))
    return found


def public_name(name: x509.Name) -> bool:
    """Whether a root's subject names one of PUBLIC_CA_NAMES."""
    text = " | ".join(_attributes(name)).lower()
    return any(known.lower() in text for known in PUBLIC_CA_NAMES)


@dataclass
class Secured:
    """A TLS session whose chain, version and name were accepted."""

    tls: TlsStream
    leaf: CertInfo
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)


def _load(ders: list[bytes]) -> list[x509.Certificate]:
    certs = []
    for der in ders:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise BadReply("a certificate in the presented chain does not parse") from None
    return certs


def _top_issuer(chain: list[x509.Certificate]) -> x509.Name:
    """The name the presented chain ends in: its last certificate's issuer."""
    return chain[-1].issuer


def _untrusted(
    exc: ssl.SSLCertVerificationError, tls: TlsStream, trust: Trust, facts: dict[str, Any]
) -> Outcome:
    presented = _load(tls.peer_chain())
    facts["verify_error"] = exc.verify_message
    facts["chain"] = [c.subject.rfc4514_string() for c in presented]
    if not presented:
        return Outcome.error(f"certificate rejected: {exc.verify_message}", **facts)
    leaf = cert_info(presented[0].public_bytes(_DER))
    facts.update(leaf.facts())
    anchor = anchor_in(presented, trust.bundle)
    if anchor is not None and not trust.internal:
        facts["root"] = anchor.subject.rfc4514_string()
        facts["trusted_by"] = "ca-bundle"
        return Outcome.error(
            f"intercepted: chain ends in {cn(anchor.subject)}, trusted only through --ca-bundle "
            f"(TLS inspection by {leaf.issuer_cn}?)",
            **facts,
        )
    public = anchor_in(presented, trust.public)
    root = public.subject if public is not None else _top_issuer(presented)
    facts["root"] = root.rfc4514_string()
    if exc.verify_code == EXPIRED:
        reason = f"expired (notAfter {leaf.not_after:%Y-%m-%d})"
    elif exc.verify_code == NOT_YET_VALID:
        reason = f"not valid before {leaf.not_before:%Y-%m-%d}: check the clocks"
    else:
        reason = exc.verify_message
    if public is not None or public_name(root) or trust.internal:
        return Outcome.error(
            f"untrusted certificate {leaf.subject_cn} issued by {leaf.issuer_cn}: {reason} "
            f"(chain ends in {cn(root)})",
            **facts,
        )
    alone = presented[0].subject != presented[0].issuer and len(presented) == 1
    sent = " (the server sent no intermediate certificate)" if alone else ""
    return Outcome.error(
        f"untrusted certificate issued by {leaf.issuer_cn} ({reason}): chain ends in "
        f"{cn(root)}{sent}, not a public CA of these names (TLS inspection?)",
        **facts,
    )


def _interception(
    verified: list[x509.Certificate], leaf: CertInfo, trust: Trust, facts: dict[str, Any]
) -> Outcome | None:
    """An error when a chain OpenSSL accepted does not end in a public CA of cloud names."""
    if not verified:  # no verified chain from this Python: judge the name the leaf gives
        facts["root"] = leaf.issuer
        if trust.internal or any(k.lower() in leaf.issuer.lower() for k in PUBLIC_CA_NAMES):
            return None
        return Outcome.error(
            f"intercepted: issued by {leaf.issuer_cn}, not a public CA of these names "
            "(TLS inspection?)",
            **facts,
        )
    root = verified[-1]
    facts["root"] = root.subject.rfc4514_string()
    public, in_bundle = trust.is_public(root), root in trust.bundle
    facts["trusted_by"] = "public CA" if public else "ca-bundle" if in_bundle else "system store"
    if trust.internal or public:
        return None
    where = (
        "trusted only through --ca-bundle"
        if in_bundle
        else "a root this machine's store trusts that is not a public CA of these names"
    )
    return Outcome.error(
        f"intercepted: chain ends in {cn(root.subject)}, {where} "
        f"(TLS inspection by {leaf.issuer_cn}?)",
        **facts,
    )


def _urls(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The plain-HTTP CRL distribution points and OCSP responders a certificate names."""
    crls: list[str] = []
    ocsps: list[str] = []
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        for point in points:
            crls.extend(
                n.value
                for n in point.full_name or ()
                if isinstance(n, x509.UniformResourceIdentifier)
            )
    except (x509.ExtensionNotFound, ValueError):
        pass
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsps.extend(
            d.access_location.value
            for d in access
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        )
    except (x509.ExtensionNotFound, ValueError):
        pass
    keep = [u for u in crls if u.lower().startswith("http://")]
    return keep, [u for u in ocsps if u.lower().startswith("http://")]


def record_pki(chain: list[x509.Certificate], ctx: ProbeContext) -> None:
    """Every CRL and OCSP URL of the chain, with the issuer that signs what they serve.

    ``chain`` runs leaf to anchor (the verified chain, whose anchor comes from the trust
    store): each certificate's issuer is the next one. Without it, a CRL is still fetched
    (b"" as issuer: signature not checked) but OCSP is not (the request needs the issuer).
    """
    for position, cert in enumerate(chain):
        if cert.subject == cert.issuer and position > 0:
            break  # the anchor: nothing revokes it
        issuer = chain[position + 1] if position + 1 < len(chain) else None
        issuer_der = issuer.public_bytes(_DER) if issuer is not None else b""
        subject_der = cert.public_bytes(_DER)
        crls, ocsps = _urls(cert)
        for url in crls:
            ctx.pki.add(PkiHint(url, "crl", issuer_der, subject_der))
        if issuer is not None:
            for url in ocsps:
                ctx.pki.add(PkiHint(url, "ocsp", issuer_der, subject_der))


def _summary(info: CertInfo, tls: TlsStream, target: Target) -> str:
    version = VERSIONS.get(tls.version, tls.version)
    summary = f"{version} {tls.cipher}, {info.subject_cn} issued by {info.issuer_cn}"
    left = days_left(info)
    if left < EXPIRING_DAYS:
        summary += f" (expires in {left} days)"
    if not target.server_name:
        summary += " (no SNI sent and the name not checked: no server name known)"
    return summary


async def secure(
    stream: ByteStream, target: Target, ctx: ProbeContext, trust: Trust, deadline: float
) -> Secured | Outcome:
    """TLS with SNI, then version, chain (public or inspected) and name: a session or an error."""
    facts: dict[str, Any] = {"sni": target.server_name, "via_proxy": ctx.proxy is not None}
    tls = TlsStream(stream, trust.context, target.server_name)
    try:
        async with asyncio.timeout_at(deadline - MARGIN):
            await tls.handshake()
    except TimeoutError:
        if tls.first_bytes:
            return Outcome.error(
                f"the TLS handshake stalled after {len(tls.first_bytes)}+ bytes within "
                f"{ctx.timeout:g}s: a truncated or stalled certificate message",
                **facts,
            )
        sni = f" (SNI {target.server_name})" if target.server_name else ""
        return Outcome.error(
            f"TCP connected{via_proxy(ctx)}, but no answer to the TLS ClientHello{sni} within "
            f"{ctx.timeout:g}s: the port does not speak TLS, or a firewall filtering by SNI "
            "drops it",
            **facts,
        )
    except ssl.SSLCertVerificationError as exc:
        return _untrusted(exc, tls, trust, facts)
    except ssl.SSLError as exc:
        return Outcome.error(handshake_failure(exc, tls, NO_CERTIFICATE), **facts)
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        when = "aborted mid-way" if tls.first_bytes else "closed or reset before any reply"
        return Outcome.error(
            f"TCP connected{via_proxy(ctx)}, then the TLS handshake was {when}: no TLS service "
            "for this name, or a firewall that filters by SNI",
            **facts,
        )
    der = tls.leaf()
    if der is None:
        return Outcome.error("the server sent no certificate", **facts)
    info = cert_info(der)
    facts.update(tls_version=tls.version, cipher=tls.cipher, **info.facts())
    verified = _load(tls.verified_chain())
    facts["chain"] = [c.subject.rfc4514_string() for c in verified]
    if tls.version not in MODERN:
        return Outcome.error(
            f"{VERSIONS.get(tls.version, tls.version)} only: the server does not offer TLS 1.2 "
            "or later",
            **facts,
        )
    intercepted = _interception(verified, info, trust, facts)
    if intercepted is not None:
        return intercepted
    if target.server_name and not info.matches(target.server_name):
        shown = ", ".join(info.names) or f"no SAN (subject CN {info.subject_cn})"
        return Outcome.error(
            f"name mismatch: certificate {info.subject_cn} issued by {info.issuer_cn} names "
            f"{shown}, not {target.server_name}",
            **facts,
        )
    record_pki(verified or _load(tls.peer_chain()), ctx)
    return Secured(tls, info, _summary(info, tls, target), facts)


async def _https(
    stream: ByteStream, target: Target, ctx: ProbeContext, trust: Trust, deadline: float
) -> Outcome:
    secured = await secure(stream, target, ctx, trust, deadline)
    if isinstance(secured, Outcome):
        return secured
    summary, facts = secured.summary, secured.facts
    host = target.server_name if target.server_name and target.port == 443 else authority(target)
    try:
        async with asyncio.timeout_at(deadline - MARGIN):
            reply = await http.exchange(
                secured.tls, h11.Connection(h11.CLIENT), "GET", "/", http.request_headers(host)
            )
    except TimeoutError:
        return Outcome.error(
            f"{summary}; but no HTTP answer to GET / within {ctx.timeout:g}s", **facts
        )
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return Outcome.error(
            f"{summary}; but the server closed the connection without an HTTP answer", **facts
        )
    except BadReply as exc:
        return Outcome.error(
            f"{summary}; but the server does not speak HTTP after TLS: {exc}", **facts
        )
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).lower()
        wants = (
            " (the server wants a client certificate)" if "certificate_required" in reason else ""
        )
        return Outcome.error(
            f"{summary}; but a TLS alert came instead of HTTP: {reason}{wants}", **facts
        )
    facts.update(http_status=reply.status, server=reply.server)
    server = f" ({reply.server})" if reply.server else ""
    return Outcome.open(f"{summary}; HTTP {reply.status}{server}{via_proxy(ctx)}", **facts)


class HttpsProbe(Probe):
    name = "https"
    description = "HTTPS (TCP 443): TLS 1.2+, a public chain (no TLS inspection), the name, HTTP"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        try:
            trust = load_trust(target, ctx, alpn=["http/1.1"])
        except TrustFileError as exc:
            return Outcome.error(str(exc))
        deadline = asyncio.get_running_loop().time() + ctx.timeout

        async def exchange(stream: ByteStream) -> Outcome:
            return await _https(stream, target, ctx, trust, deadline)

        return await stream_check(target, ctx, "HTTPS", exchange)
