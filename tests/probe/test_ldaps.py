"""LDAPS probe (§7.5): certificate checks against TLS peers made here, hostile peers, the lab."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import struct
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from hybridports.probe.ldap.ldaps import LdapsProbe
from hybridports.probe.tls import cert_info
from lab import Lab
from tests.peers.local import Handler, close_at_once, replying, run_against_tcp, silent
from tests.probe.conftest import probe_in_client
from tests.probe.test_ldap import SAMBA_ROOTDSE

PROBE = "hybridports.probe.ldap:LdapsProbe"
NAME = "dc.hostile.test"
NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class Pki:
    """A throw-away CA that issues the certificates the test TLS peers present."""

    def __init__(self, directory: Path, cn: str = "Hostile Test CA") -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = directory / f"{cn.replace(' ', '-')}.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        cn: str,
        names: list[str] | None = None,
        eku: list[x509.ObjectIdentifier] | None = None,
        days: int = 30,
        self_signed: bool = False,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=60))
            .not_valid_after(NOW + dt.timedelta(days=days))
            .add_extension(
                x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        )
        if names is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
        cert = builder.sign(key if self_signed else self.key, hashes.SHA256())
        stem = self.directory / f"{cn.replace('*', 'star')}-{x509.random_serial_number()}"
        issued = Issued(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def server_context(issued: Issued, legacy: bool = False) -> tuple[ssl.SSLContext, list[str | None]]:
    """A TLS server context presenting ``issued``; the list collects the SNI each client sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    seen: list[str | None] = []

    def on_sni(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        seen.append(name)

    context.sni_callback = on_sni
    if legacy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context, seen


async def _against(
    handler: Handler,
    tls: ssl.SSLContext | None,
    server_name: str | None = NAME,
    ca_bundle: Path | str | None = None,
    timeout: float = 1.5,
) -> Outcome:
    bundle = str(ca_bundle) if ca_bundle else None
    return await run_against_tcp(LdapsProbe(), handler, timeout, server_name, tls, ca_bundle=bundle)


def ldaps(
    issued: Issued,
    server_name: str | None = NAME,
    ca_bundle: Path | str | None = None,
    legacy: bool = False,
) -> tuple[Outcome, list[str | None]]:
    context, seen = server_context(issued, legacy)
    outcome = asyncio.run(_against(replying(SAMBA_ROOTDSE), context, server_name, ca_bundle))
    return outcome, seen


def test_trusted_certificate_and_rootdse_is_open(pki: Pki) -> None:
    outcome, seen = ldaps(pki.issue(NAME, [NAME]), ca_bundle=pki.bundle)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen == [NAME]
    facts = outcome.facts
    assert facts["tls_version"] == "TLSv1.3" and facts["cipher"]
    assert facts["subject"] == f"CN={NAME}" and facts["issuer"] == "CN=Hostile Test CA"
    assert facts["san"] == [NAME] and facts["sni"] == NAME
    assert dt.datetime.fromisoformat(facts["not_after"]) > NOW
    assert facts["eku"] == ["1.3.6.1.5.5.7.3.1"]
    assert facts["dnsHostName"] == "dc01.lab.hybridports.test"  # the recorded rootDSE
    assert outcome.detail.startswith(f"TLS 1.3 {facts['cipher']}, certificate {NAME} issued by")
    assert "AD LDAPS rootDSE from dc01.lab.hybridports.test" in outcome.detail


def test_wildcard_certificate_matches(pki: Pki) -> None:
    outcome, _ = ldaps(pki.issue("*.hostile.test", ["*.hostile.test"]), ca_bundle=pki.bundle)
    assert outcome.verdict is Verdict.OPEN, outcome.detail


def test_certificate_about_to_expire_is_open_with_a_note(pki: Pki) -> None:
    outcome, _ = ldaps(pki.issue(NAME, [NAME], days=5), ca_bundle=pki.bundle)
    assert outcome.verdict is Verdict.OPEN
    assert "(expires in 4 days)" in outcome.detail or "(expires in 5 days)" in outcome.detail


def test_internal_ca_without_bundle_is_untrusted(pki: Pki) -> None:
    outcome, _ = ldaps(pki.issue(NAME, [NAME]))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith("untrusted certificate issued by Hostile Test CA")
    assert "pass its PEM certificate with --ca-bundle" in outcome.detail
    assert outcome.facts["subject"] == f"CN={NAME}"
    assert outcome.facts["verify_error"] == "unable to get local issuer certificate"


def test_certificate_from_another_ca_than_the_bundle(pki: Pki, tmp_path: Path) -> None:
    other = Pki(tmp_path, "Other CA")
    outcome, _ = ldaps(other.issue(NAME, [NAME]), ca_bundle=pki.bundle)
    assert outcome.verdict is Verdict.ERROR
    assert "untrusted certificate issued by Other CA" in outcome.detail
    assert f"not trusted by --ca-bundle {pki.bundle}" in outcome.detail


def test_self_signed_certificate(pki: Pki) -> None:
    outcome, _ = ldaps(pki.issue(NAME, [NAME], self_signed=True))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith(f"untrusted self-signed certificate {NAME}")


def test_name_mismatch(pki: Pki) -> None:
    outcome, seen = ldaps(pki.issue(NAME, [NAME, "ldap.hostile.test"]), "wrong.example", pki.bundle)
    assert outcome.verdict is Verdict.ERROR
    assert seen == ["wrong.example"]
    assert outcome.detail == (
        f"name mismatch: certificate names {NAME}, ldap.hostile.test, not wrong.example"
    )


def test_certificate_without_san(pki: Pki) -> None:
    outcome, _ = ldaps(pki.issue(NAME, None), ca_bundle=pki.bundle)
    assert outcome.verdict is Verdict.ERROR
    assert f"certificate names no SAN (subject CN {NAME})" in outcome.detail


def test_client_auth_only_certificate(pki: Pki) -> None:
    issued = pki.issue(NAME, [NAME], eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    outcome, _ = ldaps(issued, ca_bundle=pki.bundle)
    assert outcome.verdict is Verdict.ERROR
    assert "does not allow server authentication (EKU 1.3.6.1.5.5.7.3.2)" in outcome.detail


def test_expired_certificate(pki: Pki) -> None:
    outcome, _ = ldaps(pki.issue(NAME, [NAME], days=-1), ca_bundle=pki.bundle)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith(f"expired certificate {NAME}")


def test_tls_1_0_only(pki: Pki) -> None:
    outcome, _ = ldaps(pki.issue(NAME, [NAME]), ca_bundle=pki.bundle, legacy=True)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.startswith("TLS 1.0 only")
    assert outcome.facts["tls_version"] == "TLSv1"


def test_no_server_name_sends_no_sni(pki: Pki) -> None:
    outcome, seen = ldaps(pki.issue(NAME, [NAME]), None, pki.bundle)
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert seen == [None]
    assert outcome.facts["sni"] is None
    assert "no SNI sent and the name not checked" in outcome.detail


def test_tls_peer_that_is_not_active_directory(pki: Pki) -> None:
    context, _ = server_context(pki.issue(NAME, [NAME]))
    outcome = asyncio.run(_against(replying(b"\x30\x03\x02\x01\x01"), context, NAME, pki.bundle))
    assert outcome.verdict is Verdict.ERROR
    assert "not LDAPS" in outcome.detail


def test_tls_peer_that_closes_after_the_handshake(pki: Pki) -> None:
    context, _ = server_context(pki.issue(NAME, [NAME]))
    outcome = asyncio.run(_against(replying(b""), context, NAME, pki.bundle))
    assert outcome.verdict is Verdict.ERROR
    assert "closed the connection" in outcome.detail


def test_missing_bundle_file(tmp_path: Path) -> None:
    target = Target("peer", "127.0.0.1", 9, Transport.TCP, NAME)
    ctx = ProbeContext(timeout=0.5, ca_bundle=str(tmp_path / "none.pem"))
    outcome = asyncio.run(LdapsProbe().check(target, ctx))
    assert outcome.verdict is Verdict.ERROR and "cannot load --ca-bundle" in outcome.detail


async def reset_after_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(4096)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (close_at_once, "LDAPS listener without a usable certificate"),
        (reset_after_hello, "LDAPS listener without a usable certificate"),
        (replying(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "answered, but not TLS"),
        (replying(b"\x15\x03\x03\x00\x02\x02\x28"), "handshake_failure): LDAPS listener"),
        (replying(b"\x15\x03\x03\x00\x02\x02\x46"), "no TLS version this client accepts"),
        (replying(b"\x30\x0c\x02\x01\x01\x65\x07\x0a\x01\x00\x04\x00\x04\x00"), "not TLS"),
        (replying(b"\x16\x03\x03\x00\x10" + b"\x00" * 4), "handshake was aborted mid-way"),
        (replying(b"\x16\x03\x03\x00\x10" + b"\x00" * 4, close=False), "no LDAPS reply within"),
    ],
)
def test_hostile_tcp_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = asyncio.run(_against(handler, None))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


def test_plain_tcp_peer_that_never_speaks_tls_times_out() -> None:
    started = time.monotonic()
    outcome = asyncio.run(_against(silent, None, timeout=1.0))
    assert time.monotonic() - started < 1.8
    assert outcome.verdict is Verdict.ERROR
    assert "no LDAPS reply within 1s" in outcome.detail


def test_name_matching_rules(pki: Pki) -> None:
    info = cert_info(
        x509.load_pem_x509_certificate(
            pki.issue("x", ["*.hostile.test", "DC01.Lab.Test"]).cert.read_bytes()
        ).public_bytes(serialization.Encoding.DER)
    )
    assert info.matches("dc.hostile.test") and info.matches("DC.HOSTILE.TEST.")
    assert not info.matches("hostile.test") and not info.matches("a.dc.hostile.test")
    assert info.matches("dc01.lab.test") and not info.matches("198.18.2.10")


@pytest.mark.peers
@pytest.mark.parametrize(("address", "port"), [("198.18.2.10", 636), ("2001:db8:2::10", 3269)])
def test_samba_ldaps_is_open_with_the_lab_ca(lab: Lab, address: str, port: int) -> None:
    extra = ("--server-name", lab.dc_fqdn, "--ca-bundle", str(lab.ca_cert))
    outcome = probe_in_client(lab, PROBE, address, port, "tcp", *extra)
    assert outcome["verdict"] == "open", outcome["detail"]
    facts = outcome["facts"]
    assert facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert lab.dc_fqdn in facts["san"] and facts["sni"] == lab.dc_fqdn
    assert "hybridports lab CA" in facts["issuer"]
    assert facts["dnsHostName"] == lab.dc_fqdn
    assert (port == 3269) == ("gc" in facts)


@pytest.mark.peers
def test_samba_ldaps_without_the_bundle_is_untrusted(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 636, "tcp", "--server-name", lab.dc_fqdn)
    assert outcome["verdict"] == "error"
    assert outcome["detail"].startswith("untrusted certificate issued by hybridports lab CA")
    assert "--ca-bundle" in outcome["detail"]


@pytest.mark.peers
def test_samba_ldaps_with_a_wrong_name(lab: Lab) -> None:
    extra = ("--server-name", "wrong.example", "--ca-bundle", str(lab.ca_cert))
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 636, "tcp", *extra)
    assert outcome["verdict"] == "error"
    assert outcome["detail"].startswith(f"name mismatch: certificate names {lab.dc_fqdn}")
    assert outcome["detail"].endswith("not wrong.example")


@pytest.mark.peers
def test_plain_ldap_port_is_not_ldaps(lab: Lab) -> None:
    outcome = probe_in_client(
        lab, PROBE, lab.dc_address, 389, "tcp", "--ca-bundle", str(lab.ca_cert)
    )
    assert outcome["verdict"] == "error", outcome["detail"]


@pytest.mark.peers
def test_port_without_listener_is_closed(lab: Lab) -> None:
    outcome = probe_in_client(lab, PROBE, lab.dc_address, 637, "tcp")
    assert outcome["verdict"] == "closed", outcome["detail"]
