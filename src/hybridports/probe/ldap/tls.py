"""TLS on the stream net.py opened, and what the peer certificate says (RFC 8446/5246, RFC 5280,
RFC 6125 §6.4 for the name check).

The handshake runs through ``ssl.MemoryBIO`` rather than ``start_tls`` because a failed
verification must still name the certificate's issuer, and only the SSLObject that failed
still holds the chain the peer sent. The socket itself stays net.py's, so a connection that
is refused or dropped keeps net.py's verdicts.
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

from hybridports.probe.net import MAX_REPLY, BadReply, Stream

VERSIONS = {
    "SSLv3": "SSL 3.0",
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}
MODERN = ("TLSv1.2", "TLSv1.3")


def client_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Chain checked against the system store plus the operator's bundle; names checked by us.

    Versions below 1.2 are allowed in the handshake only so that the verdict can name the
    version a legacy server offers; such a session is reported as an error and not used.
    """
    context = ssl.create_default_context()  # system store, CERT_REQUIRED, serverAuth purpose
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    context.check_hostname = False
    with warnings.catch_warnings():  # TLSv1 is deprecated: that is what we want to detect
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


class TlsStream:
    """A TLS client over a net.Stream, with the same send/read_exactly calls."""

    def __init__(self, stream: Stream, context: ssl.SSLContext, server_name: str | None) -> None:
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
            self.first_bytes = data[:16]
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

    async def read_exactly(self, count: int) -> bytes:
        if count > MAX_REPLY:
            raise BadReply(f"announces a {count}-byte reply, more than any real answer")
        while len(self._plain) < count:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                await self._flush()  # TLS 1.3 post-handshake messages may need an answer
                try:
                    await self._feed()
                except asyncio.IncompleteReadError:
                    raise asyncio.IncompleteReadError(bytes(self._plain), count) from None
                continue
            except ssl.SSLZeroReturnError:
                chunk = b""
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(self._plain), count)
            self._plain += chunk
        data = bytes(self._plain[:count])
        del self._plain[:count]
        return data

    def peer_chain(self) -> list[bytes]:
        """The certificates the peer sent (DER), even after a failed verification."""
        getter: Any = getattr(self.tls, "get_unverified_chain", None)  # public from 3.13
        if getter is None:  # 3.10-3.12 keep it on the private C object
            getter = getattr(getattr(self.tls, "_sslobj", None), "get_unverified_chain", None)
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


def _cn(name: x509.Name) -> str:
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
        subject_cn=_cn(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_cn=_cn(cert.issuer),
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
