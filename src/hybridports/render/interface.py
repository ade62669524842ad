"""What every render target consumes: the plan, normalised into grouped allow rules.

A target never walks plan rows itself. ``rules_for`` turns the plan into ``AllowRule``s:
one per (catalog flows, transport, ports, source set, destination set), so the rule count
grows with distinct host groups, not with flows, and every rule keeps the catalog ids and
purposes for its comment. Whatever a target cannot express raises RenderError (exit 2):
nothing is ever dropped silently.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from hybridports.errors import UserError
from hybridports.model import PortRange, Transport


class RenderError(UserError):
    """The target cannot express this plan (an IPv6 host in an IPv4-only target, …)."""


EGRESS_MODES = ("any", "resolve", "proxy", "tags")


@dataclass(frozen=True)
class Endpoint:
    """One side of a rule: addresses (IPs or CIDRs), or cloud names, or any address."""

    addresses: tuple[str, ...] = ()  # IPs and CIDRs, sorted
    names: tuple[str, ...] = ()  # cloud endpoint names (comment, FQDN rules, tags)
    hosts: tuple[str, ...] = ()  # topology host names behind the addresses (for comments)
    any: bool = False  # any address (cloud egress "any", F-07 from the Microsoft cloud)


@dataclass(frozen=True)
class AllowRule:
    """Allow new connections from ``source`` to ``destination`` on transport/ports."""

    source: Endpoint
    destination: Endpoint
    transport: Transport
    ports: tuple[PortRange, ...]
    catalog_ids: tuple[str, ...]
    purposes: tuple[str, ...]
    required: bool
    rpc_dynamic: bool = False  # the DCs' dynamic RPC range (Windows: the RPC keyword)
    service_tag: str | None = None  # Azure service tag for cloud egress in "tags" mode
    note: str | None = None  # e.g. "addresses resolved on <date>, they change"


@dataclass(frozen=True)
class RenderOptions:
    host: str | None = None  # None: a firewall between the hosts (forward path)
    required_only: bool = False
    cloud_egress: str | None = None  # None: the target's default
    resolved: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> addresses
    samples: dict[str, tuple[str, ...]] = field(default_factory=dict)  # wildcard -> names


@dataclass(frozen=True)
class RuleSet:
    """The normalised rules for one render: inbound/outbound for a host, or forward."""

    forward: tuple[AllowRule, ...] = ()
    inbound: tuple[AllowRule, ...] = ()
    outbound: tuple[AllowRule, ...] = ()
    host: str | None = None
    host_addresses: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    topology: str = ""  # the topology's name (security group and NSG names)


@dataclass(frozen=True)
class Rendered:
    text: str
    warnings: tuple[str, ...] = ()  # printed on stderr, e.g. what an IPv4-only target left out


class Renderer(ABC):
    """One firewall platform. Register it in ``hybridports.render.RENDERERS``."""

    name: ClassVar[str]
    description: ClassVar[str]
    host_only: ClassVar[bool] = False  # needs --host (Windows Firewall)
    default_egress: ClassVar[str] = "any"
    egress_modes: ClassVar[tuple[str, ...]] = ("any", "resolve", "proxy")
    ip_versions: ClassVar[tuple[int, ...]] = (4, 6)

    @abstractmethod
    def render(self, rules: RuleSet, title: str) -> Rendered:
        """The whole configuration text (deterministic: same plan, same bytes)."""
