"""TLS on the stream net.py opened, and what the peer certificate says (RFC 8446/5246, RFC 5280,
RFC 6125 §6.4 for the name check). Shared by LDAPS (spec §7.5), HTTPS (§7.10), AMQPS (§7.12)
and https:// proxies.

The handshake runs through ``ssl.MemoryBIO`` rather than ``start_tls`` because a failed
verification must still name the certificate's issuer, and only the SSLObject that failed
still holds the chain the peer sent. The socket itself stays net.py's, so a connection that
is refused or dropped keeps net.py's verdicts; and since the TLS layer only needs a byte
stream, it runs as well inside a CONNECT tunnel or over TLS to an https:// proxy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hybridports.probe.interface import Outcome, ProbeContext
from hybridports.probe.net import MAX_REPLY, BadReply, ByteStream, Unreachable, hexdump
from hybridports.topology import Proxy

VERSIONS = {
    "SSLv3": "SSL 3.0",
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}
MODERN = ("TLSv1.2", "TLSv1.3")
# SSL reasons that mean "the peer is not speaking TLS at all".
NOT_TLS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
OLD_PROTOCOL = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}
# SSL reasons for handshake messages that do not parse (a certificate cut short, corrupted).
MALFORMED = {
    "LENGTH_MISMATCH",
    "BAD_PACKET_LENGTH",
    "BAD_LENGTH",
    "DECODE_ERROR",
    "CERT_LENGTH_MISMATCH",
    "EXCESSIVE_MESSAGE_SIZE",
    "UNEXPECTED_MESSAGE",
}


def client_context(
    ca_bundle: str | None, *extra: str | None, alpn: list[str] | None = None
) -> ssl.SSLContext:
    """Chain checked against the system store plus the operator's bundle(s); names checked by us.

    Versions below 1.2 are allowed in the handshake only so that the verdict can name the
    version a legacy server offers; such a session is reported as an error and not used.
    """
    context = ssl.create_default_context()  # system store, CERT_REQUIRED, serverAuth purpose
    for cafile in (ca_bundle, *extra):
        if cafile:
            context.load_verify_locations(cafile=cafile)
    if alpn:
        context.set_alpn_protocols(alpn)
    context.check_hostname = False
    with warnings.catch_warnings():  # TLSv1 is deprecated: that is what we want to detect
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


class TlsStream:
    """A TLS client over a net.py stream, itself a stream (send/read_exactly/read_some/close)."""

    def __init__(
        self, stream: ByteStream, context: ssl.SSLContext, server_name: str | None
    ) -> None:
        self.stream = stream
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_name)
        self.first_bytes = b""  # what the peer sent first: shows a non-TLS service
        self._plain = bytearray()

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self.stream.send(data)

    async def _feed(self) -> None:
        data = await self.stream.read_some()
        if not self.first_bytes:
            self.first_bytes = data[:64]
        self._incoming.write(data)

    async def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                await self._feed()
                continue
            except ssl.SSLError:
                # Let the peer see our alert (bad certificate, protocol version) if it can.
                try:
                    await self._flush()
                except OSError:
                    pass
                raise
            await self._flush()
            return

    async def send(self, data: bytes) -> None:
        self.tls.write(data)
        await self._flush()

    async def _fill(self, want: int) -> None:
        """Decrypt until ``want`` plaintext bytes are buffered; IncompleteReadError at the end."""
        while len(self._plain) < want:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                await self._flush()  # TLS 1.3 post-handshake messages may need an answer
                try:
                    await self._feed()
                except asyncio.IncompleteReadError:
                    raise asyncio.IncompleteReadError(bytes(self._plain), want) from None
                continue
            except ssl.SSLZeroReturnError:
                chunk = b""
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(self._plain), want)
            self._plain += chunk

    async def read_exactly(self, count: int) -> bytes:
        if count > MAX_REPLY:
            raise BadReply(f"announces a {count}-byte reply, more than any real answer")
        await self._fill(count)
        data = bytes(self._plain[:count])
        del self._plain[:count]
        return data

    async def read_some(self, limit: int = 65536) -> bytes:
        if not self._plain:
            await self._fill(1)
        data = bytes(self._plain[:limit])
        del self._plain[:limit]
        return data

    async def close(self) -> None:
        await self.stream.close()

    @property
    def version(self) -> str:
        return self.tls.version() or "unknown"

    @property
    def cipher(self) -> str:
        return (self.tls.cipher() or ("unknown",))[0]

    def peer_chain(self) -> list[bytes]:
        """The certificates the peer sent (DER), even after a failed verification."""
        return self._chain("get_unverified_chain")

    def verified_chain(self) -> list[bytes]:
        """The chain OpenSSL built, leaf to trust anchor (DER); empty when not verified."""
        return self._chain("get_verified_chain")

    def _chain(self, name: str) -> list[bytes]:
        getter: Any = getattr(self.tls, name, None)  # public from 3.13
        if getter is None:  # 3.10-3.12 keep it on the private C object
            getter = getattr(getattr(self.tls, "_sslobj", None), name, None)
        if getter is None:
            return []
        try:
            chain = getter() or []
        except (ValueError, ssl.SSLError):
            return []
        # The private objects export PEM by default; the public 3.13 call returns DER.
        return [
            c if isinstance(c, bytes) else ssl.PEM_cert_to_DER_cert(c.public_bytes()) for c in chain
        ]

    def leaf(self) -> bytes | None:
        try:
            der = self.tls.getpeercert(binary_form=True)
        except ValueError:
            der = None
        if der:
            return der
        chain = self.peer_chain()
        return chain[0] if chain else None


def cn(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if values:
        value = values[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string() or "(empty name)"


@dataclass(frozen=True)
class CertInfo:
    subject: str
    subject_cn: str
    issuer: str
    issuer_cn: str
    dns_names: tuple[str, ...]
    ip_names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    eku: tuple[str, ...] | None  # None: no EKU extension (any purpose)
    key: str
    signature_hash: str | None

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.ip_names

    @property
    def server_auth(self) -> bool:
        if self.eku is None:
            return True
        allowed = (
            ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string,
        )
        return any(oid in allowed for oid in self.eku)

    def facts(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "san": list(self.names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "eku": list(self.eku) if self.eku is not None else None,
            "key": self.key,
            "signature_hash": self.signature_hash,
        }

    def matches(self, server_name: str) -> bool:
        """RFC 6125 §6.4: SAN dNSName (wildcard in the left-most label only) or iPAddress."""
        try:
            address = ipaddress.ip_address(server_name)
        except ValueError:
            address = None
        if address is not None:
            return any(ipaddress.ip_address(ip) == address for ip in self.ip_names)
        wanted = server_name.rstrip(".").lower()
        for pattern in (n.rstrip(".").lower() for n in self.dns_names):
            if pattern == wanted:
                return True
            if pattern.startswith("*.") and pattern.count(".") >= 2:
                head, _, rest = wanted.partition(".")
                if head and rest == pattern[2:]:
                    return True
        return False


def cert_info(der: bytes) -> CertInfo:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise BadReply(f"the peer certificate does not parse ({exc})") from None
    dns_names: list[str] = []
    ip_names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        ip_names = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    eku: tuple[str, ...] | None = None
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku = tuple(oid.dotted_string for oid in usages)
    except x509.ExtensionNotFound:
        pass
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        key = f"RSA {public_key.key_size}"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        key = f"EC {public_key.curve.name}"
    else:
        key = type(public_key).__name__.lstrip("_")
    algorithm = cert.signature_hash_algorithm
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        subject_cn=cn(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_cn=cn(cert.issuer),
        dns_names=tuple(dns_names),
        ip_names=tuple(ip_names),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        eku=eku,
        key=key,
        signature_hash=algorithm.name if algorithm is not None else None,
    )


def days_left(info: CertInfo, now: datetime | None = None) -> int:
    return (info.not_after - (now or datetime.now(UTC))).days


def _library_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's words when Python has no reason code: '[SSL] ASN1 lib (_ssl.c:1006)'."""
    text = str(exc.strerror or "").removeprefix("[SSL] ").split(" (_ssl.c")[0].strip()
    return text.upper().replace(" ", "_") if text else type(exc).__name__


def handshake_failure(exc: ssl.SSLError, tls: TlsStream, no_certificate: str) -> str:
    """Why a handshake failed, for a detail: not TLS at all, versions, or no certificate."""
    reason = exc.reason or _library_reason(exc)
    if reason in MALFORMED or "ASN1" in reason:
        return (
            f"TLS handshake failed ({reason.lower()}): the server's handshake messages do not "
            "parse (a truncated or corrupted certificate?)"
        )
    if reason in NOT_TLS:
        if tls.first_bytes.startswith(b"HTTP/"):
            line = tls.first_bytes.split(b"\r\n")[0].decode("latin-1")
            return f"answered, but not TLS: plain HTTP ('{line}'): an HTTP service on a TLS port"
        seen = f" (first bytes {hexdump(tls.first_bytes)})" if tls.first_bytes else ""
        return f"answered, but not TLS: {reason.lower()}{seen}"
    if reason in OLD_PROTOCOL:
        return (
            f"TLS handshake refused ({reason.lower()}): the server offers no TLS version "
            "this client accepts"
        )
    return (
        f"TLS handshake failed ({reason.lower()}): {no_certificate}, "
        "or no TLS version or cipher in common"
    )


async def proxy_tls(stream: ByteStream, proxy: Proxy, ctx: ProbeContext) -> TlsStream:
    """TLS to an https:// proxy: system store plus --ca-bundle, TLS 1.2+, the proxy's name."""

    def refused(reason: str) -> Unreachable:
        return Unreachable(
            Outcome.error(
                f"proxy {proxy.display}: TLS to the proxy failed: {reason}", proxy=proxy.display
            )
        )

    try:
        context = client_context(ctx.ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise refused(f"cannot load --ca-bundle {ctx.ca_bundle}: {exc}") from None
    tls = TlsStream(stream, context, proxy.host)
    try:
        await tls.handshake()
    except ssl.SSLCertVerificationError as exc:
        chain = tls.peer_chain()
        try:
            issuer = f" issued by {cert_info(chain[0]).issuer_cn}" if chain else ""
        except BadReply:
            issuer = ""
        raise refused(f"untrusted certificate{issuer} ({exc.verify_message})") from None
    except ssl.SSLError as exc:
        raise refused(handshake_failure(exc, tls, "no usable certificate")) from None
    except (asyncio.IncompleteReadError, OSError):
        raise refused("the proxy closed the connection during the handshake") from None
    der = tls.leaf()
    if tls.version not in MODERN:
        raise refused(f"{VERSIONS.get(tls.version, tls.version)} only")
    try:
        named = der is not None and cert_info(der).matches(proxy.host)
    except BadReply:
        named = False
    if not named:
        raise refused(f"its certificate does not name {proxy.host}")
    return tls
