"""LDAP over implicit TLS on TCP 636 and the global catalog on 3269 (spec §7.5; RFC 8446 / 5246,
RFC 5280, RFC 6125).

TLS first (SNI = the DC's name when known), the chain checked against the system store plus
``--ca-bundle`` (DC certificates usually come from an internal CA), then the DC's name in the
SAN, server-authentication EKU, TLS 1.2 or later, and finally the rootDSE query of §7.4.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.ldap import rootdse
from hybridports.probe.net import Stream, tcp_check
from hybridports.probe.tls import (
    MODERN,
    VERSIONS,
    CertInfo,
    TlsStream,
    cert_info,
    client_context,
    days_left,
    handshake_failure,
)

NO_CERTIFICATE = "LDAPS listener without a usable certificate"
EXPIRING_DAYS = 30
# OpenSSL X509_V_ERR_* codes worth their own wording.
NOT_YET_VALID, EXPIRED, SELF_SIGNED, INVALID_PURPOSE = 9, 10, 18, 26


def _bundle_hint(ctx: ProbeContext, issuer: str) -> str:
    if ctx.ca_bundle:
        return f"not trusted by --ca-bundle {ctx.ca_bundle} nor the system store"
    return f"if '{issuer}' is your internal CA, pass its PEM certificate with --ca-bundle"


def _verify_failed(exc: ssl.SSLCertVerificationError, tls: TlsStream, ctx: ProbeContext) -> Outcome:
    chain = tls.peer_chain()
    infos = [cert_info(der) for der in chain]
    facts: dict[str, Any] = infos[0].facts() if infos else {}
    facts["verify_error"] = exc.verify_message
    facts["chain"] = [info.subject for info in infos]
    if not infos:
        return Outcome.error(f"certificate rejected: {exc.verify_message}", **facts)
    leaf, top = infos[0], infos[-1]
    code = exc.verify_code
    if code == EXPIRED:
        return Outcome.error(
            f"expired certificate {leaf.subject_cn} (notAfter {leaf.not_after:%Y-%m-%d}) "
            f"issued by {leaf.issuer_cn}",
            **facts,
        )
    if code == NOT_YET_VALID:
        return Outcome.error(
            f"certificate {leaf.subject_cn} not valid before {leaf.not_before:%Y-%m-%d}: "
            "check the clocks",
            **facts,
        )
    if code == INVALID_PURPOSE:
        return Outcome.error(
            f"certificate {leaf.subject_cn} does not allow server authentication "
            f"(EKU {', '.join(leaf.eku or ()) or 'none'})",
            **facts,
        )
    if code == SELF_SIGNED:
        return Outcome.error(
            f"untrusted self-signed certificate {leaf.subject_cn}; "
            f"{_bundle_hint(ctx, leaf.subject_cn)}",
            **facts,
        )
    return Outcome.error(
        f"untrusted certificate issued by {leaf.issuer_cn} ({exc.verify_message}); "
        f"{_bundle_hint(ctx, top.issuer_cn)}",
        **facts,
    )


def _check_certificate(
    info: CertInfo, target: Target, version: str, facts: dict[str, Any]
) -> Outcome | None:
    """An error outcome when the session is not acceptable, else None."""
    if version not in MODERN:
        return Outcome.error(
            f"{VERSIONS.get(version, version)} only: the server does not offer TLS 1.2 or later",
            **facts,
        )
    if target.server_name and not info.matches(target.server_name):
        shown = ", ".join(info.names) or f"no SAN (subject CN {info.subject_cn})"
        return Outcome.error(
            f"name mismatch: certificate names {shown}, not {target.server_name}", **facts
        )
    if not info.server_auth:
        return Outcome.error(
            f"certificate {info.subject_cn} does not allow server authentication "
            f"(EKU {', '.join(info.eku or ())})",
            **facts,
        )
    return None


def _tls_summary(info: CertInfo, target: Target, version: str, cipher: str) -> str:
    summary = (
        f"{VERSIONS.get(version, version)} {cipher}, certificate {info.subject_cn} "
        f"issued by {info.issuer_cn}, valid until {info.not_after:%Y-%m-%d}"
    )
    left = days_left(info)
    if left < EXPIRING_DAYS:
        summary += f" (expires in {left} days)"
    if not target.server_name:
        summary += "; no SNI sent and the name not checked (no server name known)"
    return summary


async def ldaps_exchange(
    stream: Stream, target: Target, ctx: ProbeContext, context: ssl.SSLContext
) -> Outcome:
    tls = TlsStream(stream, context, target.server_name)
    try:
        await tls.handshake()
    except ssl.SSLCertVerificationError as exc:
        return _verify_failed(exc, tls, ctx)
    except ssl.SSLError as exc:
        return Outcome.error(handshake_failure(exc, tls, NO_CERTIFICATE))
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        when = "aborted mid-way" if tls.first_bytes else "closed or reset before any reply"
        return Outcome.error(
            f"{NO_CERTIFICATE}: TCP accepted, then the TLS handshake was {when} "
            "(or the port does not speak TLS)"
        )
    version = tls.tls.version() or "unknown"
    cipher = (tls.tls.cipher() or ("unknown",))[0]
    der = tls.leaf()
    if der is None:
        return Outcome.error(f"{NO_CERTIFICATE}: the server sent no certificate")
    info = cert_info(der)
    facts: dict[str, Any] = {
        "tls_version": version,
        "cipher": cipher,
        "sni": target.server_name,
        **info.facts(),
    }
    refused = _check_certificate(info, target, version, facts)
    if refused is not None:
        return refused
    summary = _tls_summary(info, target, version, cipher)
    found = rootdse.judge(await rootdse.query(tls), target.port, label="LDAPS")
    return Outcome(found.verdict, f"{summary}; {found.detail}", {**facts, **found.facts})


class LdapsProbe(Probe):
    name = "ldaps"
    description = "LDAPS (TCP 636, GC 3269): TLS 1.2+, trusted chain, DC name, then the rootDSE"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        try:
            context = client_context(ctx.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            return Outcome.error(f"cannot load --ca-bundle {ctx.ca_bundle}: {exc}")

        async def exchange(stream: Stream) -> Outcome:
            return await ldaps_exchange(stream, target, ctx, context)

        return await tcp_check(target, ctx, "LDAPS", exchange)
