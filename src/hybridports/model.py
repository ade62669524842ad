"""Value types shared by every stage: ids, port ranges and the catalog records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer


class Role(StrEnum):
    CONNECT = "connect"
    DC = "dc"
    ADFS = "adfs"
    WAP = "wap"
    PTA_AGENT = "pta-agent"
    CLOUD_SYNC_AGENT = "cloud-sync-agent"
    CLIENT = "client"
    SQL = "sql"
    # The Microsoft cloud: a flow end in the catalog, never a topology host.
    ENTRA = "entra"
    # The topology's outbound proxy (S-07): planned from the topology's `proxy:`, not a host.
    PROXY = "proxy"


HOST_ROLES: tuple[Role, ...] = tuple(r for r in Role if r not in (Role.ENTRA, Role.PROXY))


class Feature(StrEnum):
    PASSWORD_HASH_SYNC = "password-hash-sync"
    PASS_THROUGH_AUTH = "pass-through-auth"
    SEAMLESS_SSO = "seamless-sso"
    PASSWORD_WRITEBACK = "password-writeback"
    FEDERATION = "federation"
    HEALTH_AGENT = "health-agent"
    LDAPS = "ldaps"
    ADFS_GMSA_INSTALL = "adfs-gmsa-install"
    CLOUD_SYNC = "cloud-sync"
    ADFS_WIZARD = "adfs-wizard"
    CERT_AUTH = "cert-auth"
    GROUP_PROVISIONING = "group-provisioning"
    REMOTE_SQL = "remote-sql"
    LEGACY_AGENTS = "legacy-agents"
    DOMAIN_MEMBER = "domain-member"


ALWAYS = "*"
"""In a ``features`` list: needed whenever the roles exist."""

# Feature ids that the specification reserves without defining (§1.5).
RESERVED_FEATURES = {"device-writeback": "reserved: no source describes a device-writeback flow"}


class Cloud(StrEnum):
    PUBLIC = "public"
    USGOV = "usgov"
    CHINA = "china"


class Transport(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"


class Level(StrEnum):
    REQUIRED = "required"
    CONDITIONAL = "conditional"
    OPTIONAL = "optional"
    ADVISORY = "advisory"

    @property
    def required(self) -> bool:
        """Required whenever the flow is planned (its features are on)."""
        return self in (Level.REQUIRED, Level.CONDITIONAL)


class Phase(StrEnum):
    INSTALL = "install"
    REGISTRATION = "registration"
    RUNTIME = "runtime"
    MAINTENANCE = "maintenance"
    ALWAYS = "always"

    @property
    def coarse(self) -> str:
        """The interface's three phases: install, runtime or always."""
        return {
            Phase.REGISTRATION: "install",
            Phase.MAINTENANCE: "runtime",
        }.get(self, self.value)


class Confidence(StrEnum):
    DOC = "doc"
    DOC_DEFECT = "doc-defect"
    REPORTED = "reported"
    INFERRED = "inferred"


_RANGE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")


@dataclass(frozen=True, slots=True, order=True)
class PortRange:
    """An inclusive port range; JSON form is ``[low, high]``."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high <= 65535):
            raise ValueError(f"bad port range {self.low}-{self.high}")

    @classmethod
    def parse(cls, value: object) -> PortRange:
        """Accept ``389``, ``"389"``, ``"49152-65535"`` or ``[low, high]``."""
        if isinstance(value, PortRange):
            return value
        if isinstance(value, bool):
            raise ValueError(f"not a port or port range: {value!r}")
        if isinstance(value, int):
            return cls._checked(value, value, value)
        if isinstance(value, list | tuple) and len(value) == 2:
            low, high = value
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
                return cls._checked(low, high, value)
        if isinstance(value, str):
            match = _RANGE.match(value)
            if match:
                low = int(match.group(1))
                high = int(match.group(2)) if match.group(2) else low
                return cls._checked(low, high, value)
        raise ValueError(f"not a port or port range: {value!r}")

    @classmethod
    def _checked(cls, low: int, high: int, raw: object) -> PortRange:
        if not 1 <= low <= 65535 or not 1 <= high <= 65535:
            raise ValueError(f"port out of range 1-65535: {raw!r}")
        if low > high:
            raise ValueError(f"port range runs backwards: {raw!r}")
        return cls(low, high)

    def overlaps(self, other: PortRange) -> bool:
        return self.low <= other.high and other.low <= self.high

    def covers(self, other: PortRange) -> bool:
        return self.low <= other.low and other.high <= self.high

    def as_list(self) -> list[int]:
        return [self.low, self.high]

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


Ports = Annotated[
    PortRange,
    BeforeValidator(PortRange.parse),
    PlainSerializer(lambda p: p.as_list(), return_type=list[int]),
]


def _features(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


FeatureOrAlways = Literal["*"] | Feature


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CatalogFlow(_Record):
    """One flow of the catalog: a role talks to a role (or to the cloud) on one port range."""

    id: Annotated[str, BeforeValidator(str)]
    spec: tuple[str, ...]
    source: Role
    destination: Role
    destination_note: str | None = None
    protocol: str
    transport: Transport
    ports: Ports
    features: Annotated[tuple[FeatureOrAlways, ...], BeforeValidator(_features)]
    requires: tuple[Feature, ...] = ()
    level: Level
    required_with: tuple[Feature, ...] = ()
    phase: Phase
    runtime_with: tuple[Feature, ...] = ()
    condition: str
    purpose: str
    confidence: Confidence
    reference: str
    section: str
    page_date: date | None = None
    printed: str | None = None
    note: str | None = None
    unclear: tuple[str, ...] = ()
    # Not planned when any of these features is on (an alternative takes its place).
    unless: tuple[Feature, ...] = ()
    # The DC's dynamic RPC range: the topology's rpc_dynamic_ports replace these ports.
    rpc_dynamic: bool = False
    # Only an allow-list entry on an outbound proxy: planned only when the topology has one.
    only_with_proxy: bool = False

    def enabled(self, features: frozenset[Feature]) -> bool:
        wanted = any(f == ALWAYS or f in features for f in self.features)
        return (
            wanted
            and all(f in features for f in self.requires)
            and not any(f in features for f in self.unless)
        )

    def is_required(self, features: frozenset[Feature]) -> bool:
        return self.level.required or any(f in features for f in self.required_with)

    def phase_for(self, features: frozenset[Feature]) -> Phase:
        if any(f in features for f in self.runtime_with):
            return Phase.ALWAYS
        return self.phase


class Endpoint(_Record):
    """A named cloud destination for one feature, cloud and set of source roles."""

    id: str
    cloud: Cloud
    feature: FeatureOrAlways
    sources: tuple[Role, ...]
    group: str
    host: str
    printed: str
    path: str | None = None
    wildcard: bool = False
    wildcard_apex: bool = False
    template: bool = False
    protocol: str
    transport: Transport
    ports: Ports
    level: Level
    required_with: tuple[Feature, ...] = ()
    phase: Phase
    purpose: str
    spec: tuple[str, ...]
    reference: str
    section: str
    page_date: date | None = None
    note: str | None = None
    unclear: tuple[str, ...] = ()

    def enabled(self, features: frozenset[Feature]) -> bool:
        return self.feature == ALWAYS or self.feature in features

    def is_required(self, features: frozenset[Feature]) -> bool:
        return self.level.required or any(f in features for f in self.required_with)


class Fact(_Record):
    """A stated fact that is not a planned flow (fan-out rule, local listener, cloud gap…)."""

    id: str
    spec: tuple[str, ...]
    kind: str
    roles: tuple[Role, ...] = ()
    cloud: Cloud | None = None
    features: tuple[FeatureOrAlways, ...] = ()
    text: str
    reference: str | None = None
    section: str | None = None
    page_date: date | None = None


class Unclear(_Record):
    """An Appendix-A item: what the sources disagree on, and what the tool does about it."""

    id: str
    where: tuple[str, ...]
    reading_1: str
    reading_2: str
    decision: str
