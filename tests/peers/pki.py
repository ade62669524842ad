"""Throw-away certificate authorities for local TLS peers (cloud-style chains with CRL/OCSP URLs).

``Ca.root(...)`` makes a self-signed root, ``ca.intermediate(...)`` a CA under it, and
``ca.leaf(...)`` a server certificate; each can carry CRL distribution point and AIA/OCSP
URLs. ``ca.crl(...)`` signs a CRL and ``ca.ocsp_response(...)`` an OCSP answer. ``Ca.server
_context(leaf, chain)`` is a TLS server context presenting leaf + chain (files in ``directory``).
"""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def _name(cn: str, org: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attributes)


def _revocation(
    builder: x509.CertificateBuilder, crl_url: str | None, ocsp_url: str | None
) -> x509.CertificateBuilder:
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if ocsp_url:
        access = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    return builder


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(DER)


class Ca:
    """A CA certificate and its key; roots are self-signed."""

    def __init__(
        self,
        directory: Path,
        cert: x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
        parent: Ca | None = None,
    ) -> None:
        self.directory = directory
        self.cert = cert
        self.key = key
        self.parent = parent

    @classmethod
    def root(cls, directory: Path, cn: str, org: str | None = "hybridports tests") -> Ca:
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(cn, org)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(directory, cert, key)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(DER)

    @property
    def chain(self) -> list[x509.Certificate]:
        """This CA and its parents up to (not including) the root."""
        found: list[x509.Certificate] = []
        ca: Ca | None = self
        while ca is not None and ca.parent is not None:
            found.append(ca.cert)
            ca = ca.parent
        return found

    def pem_file(self, stem: str | None = None) -> str:
        path = self.directory / f"{stem or self.cert.serial_number}.pem"
        path.write_bytes(self.cert.public_bytes(PEM))
        return str(path)

    def _builder(
        self, subject: x509.Name, key: ec.EllipticCurvePrivateKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )

    def intermediate(self, cn: str, crl_url: str | None = None, ocsp_url: str | None = None) -> Ca:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._builder(_name(cn, "hybridports tests"), key)
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=1000))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
        )
        cert = _revocation(builder, crl_url, ocsp_url).sign(self.key, hashes.SHA256())
        return Ca(self.directory, cert, key, self)

    def leaf(
        self,
        names: list[str],
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        days: int = 90,
    ) -> Leaf:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._builder(_name(names[0], None), key)
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        )
        cert = _revocation(builder, crl_url, ocsp_url).sign(self.key, hashes.SHA256())
        return Leaf(cert, key)

    def crl(self, revoked: int = 2, next_update_days: int = 7, signer: Ca | None = None) -> bytes:
        """A DER CRL naming this CA as issuer (signed by ``signer``'s key to forge one)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(NOW - dt.timedelta(days=max(-next_update_days, 0) + 1))
            .next_update(NOW + dt.timedelta(days=next_update_days))
        )
        for serial in range(1, revoked + 1):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(NOW - dt.timedelta(days=2))
                .build()
            )
        key = (signer or self).key
        return builder.sign(key, hashes.SHA256()).public_bytes(DER)

    def ocsp_response(self, request_der: bytes, subject: x509.Certificate) -> bytes:
        request = ocsp.load_der_ocsp_request(request_der)
        assert request.serial_number == subject.serial_number
        response = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                subject,
                self.cert,
                hashes.SHA1(),
                ocsp.OCSPCertStatus.GOOD,
                NOW - dt.timedelta(hours=1),
                NOW + dt.timedelta(days=1),
                None,
                None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.cert)
            .sign(self.key, hashes.SHA256())
        )
        return response.public_bytes(DER)

    def server_context(
        self, leaf: Leaf, *, legacy: bool = False, with_chain: bool = True
    ) -> ssl.SSLContext:
        """A TLS server presenting ``leaf`` and this CA's chain (TLS 1.0 only if ``legacy``)."""
        stem = self.directory / f"leaf-{leaf.cert.serial_number}"
        chain = [leaf.cert, *(self.chain if with_chain else [])]
        stem.with_suffix(".crt").write_bytes(b"".join(c.public_bytes(PEM) for c in chain))
        stem.with_suffix(".key").write_bytes(
            leaf.key.private_bytes(
                PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        if legacy:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = ssl.TLSVersion.TLSv1
                context.maximum_version = ssl.TLSVersion.TLSv1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        return context
