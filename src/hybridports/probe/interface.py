"""What a probe is: one protocol-aware check of one destination port, giving an Outcome."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from hybridports.model import Transport
from hybridports.topology import Proxy


class Verdict(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def failing(self) -> bool:
        return self in (Verdict.CLOSED, Verdict.FILTERED, Verdict.ERROR)


@dataclass(frozen=True)
class Outcome:
    """A probe's answer: the verdict, a detail a network engineer can act on, and facts."""

    verdict: Verdict
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, detail: str, **facts: Any) -> Outcome:
        return cls(Verdict.OPEN, detail, facts)

    @classmethod
    def error(cls, detail: str, **facts: Any) -> Outcome:
        return cls(Verdict.ERROR, detail, facts)

    @classmethod
    def skipped(cls, detail: str, **facts: Any) -> Outcome:
        return cls(Verdict.SKIPPED, detail, facts)


@dataclass(frozen=True)
class Target:
    """Where one check goes."""

    destination: str  # the topology host (or endpoint name)
    address: str  # the IP address actually connected
    port: int
    transport: Transport
    server_name: str | None = None  # a DNS name for SNI / Via / SPN-like uses, when known


class RoundTrips:
    """The fastest TCP handshake seen per address in this run; it paces UDP resends."""

    def __init__(self) -> None:
        self._best: dict[str, float] = {}

    def record(self, address: str, seconds: float) -> None:
        self._best[address] = min(seconds, self._best.get(address, seconds))

    def get(self, address: str) -> float | None:
        return self._best.get(address)


@dataclass(frozen=True)
class PkiHint:
    """A revocation URL found in a certificate a TLS check received (CRL DP or OCSP)."""

    url: str
    kind: str  # "crl" or "ocsp"
    issuer_der: bytes  # the issuer's certificate: a CRL must be signed by it
    subject_der: bytes | None = None  # the certificate the URL came from (for OCSP)


class PkiHints:
    """Revocation URLs seen in this run's TLS chains, by host; CRL checks fetch these."""

    def __init__(self) -> None:
        self._by_host: dict[str, list[PkiHint]] = {}

    def add(self, hint: PkiHint) -> None:
        from urllib.parse import urlsplit

        host = (urlsplit(hint.url).hostname or "").lower()
        known = self._by_host.setdefault(host, [])
        if all(h.url != hint.url for h in known):
            known.append(hint)

    def for_host(self, host: str) -> list[PkiHint]:
        return list(self._by_host.get(host.lower(), []))

    def hosts(self) -> list[str]:
        return sorted(self._by_host)


@dataclass(frozen=True)
class ProbeContext:
    """Settings shared by every check of one run."""

    timeout: float = 3.0
    domain: str | None = None  # the AD DNS domain, when the topology gives it
    dns_server: str | None = None
    ca_bundle: str | None = None
    round_trips: RoundTrips = field(default_factory=RoundTrips, compare=False, repr=False)
    # Cloud checks: the proxy for this check (None: direct), the roots that count as the
    # public CAs of the cloud names (beside the system store), and revocation URLs seen.
    proxy: Proxy | None = None
    public_ca: str | None = None
    pki: PkiHints = field(default_factory=PkiHints, compare=False, repr=False)


class Probe(ABC):
    """One protocol. Register it in ``hybridports.probe.PROBES``.

    ``check`` must return within ``ctx.timeout`` (the runner enforces it as well), open at
    most one connection, and return ``open`` only when the peer spoke the protocol.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    async def check(self, target: Target, ctx: ProbeContext) -> Outcome: ...
