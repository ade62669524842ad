"""Vendor firewalls through aerleon (optional extra ``aerleon``; Apache-2.0).

Only stateful, group-based platforms are exposed: a Juniper SRX global policy and a Palo
Alto security rulebase. Both keep return traffic implicit, as the plan's contract says, and
reference address groups, so the rule count follows host groups. Stateless ACL targets
(Juniper firewall filters, Cisco IOS ACLs) would need reverse "established" terms that let
in more than the plan, and aerleon's Cisco ASA output repeats a line per host pair: neither
is exposed. Forward path only: these are network firewalls between the hosts.

aerleon logs, rather than raises, when it leaves a term out (an address family it cannot
render, say): every such message becomes a RenderError, so nothing is dropped silently.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from hybridports.model import Transport
from hybridports.render.common import (
    Network,
    Part,
    icmp_type,
    mismatch_warning,
    split,
)
from hybridports.render.interface import AllowRule, Rendered, Renderer, RenderError, RuleSet

TERM_NAME_MAX = 63  # PAN-OS rule names and SRX policy names
COMMENT_MAX = 1000  # PAN-OS rule descriptions hold 1024
_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")
_DROPPED = ("will not be rendered", "skipping", "No generator found")


def _clean(text: str) -> str:
    """Comment text that neither Junos comments nor XML can choke on, in ASCII."""
    text = " ".join(text.split()).replace("*/", "* /").replace("/*", "/ *").replace('"', "'")
    return text.encode("ascii", "replace").decode("ascii")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


class AerleonRenderer(Renderer):
    """One aerleon platform; subclasses name it and its filter options."""

    platform: ClassVar[str]
    options: ClassVar[str]
    # aerleon has no ICMPv6 for some platforms: then IPv6 echo is refused, not dropped.
    egress_modes: ClassVar[tuple[str, ...]] = ("any", "resolve", "proxy")

    def render(self, rules: RuleSet, title: str) -> Rendered:
        if rules.host is not None:
            raise RenderError(
                f"--target {self.name} is a network firewall between the hosts: leave out --host"
            )
        try:
            from aerleon import api  # type: ignore[import-not-found, unused-ignore]
            from aerleon.lib import naming  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise RenderError(
                f"--target {self.name} needs the optional extra: pip install 'hybridports[aerleon]'"
            ) from None
        policy, definitions, warnings = _policy(rules, title, self.platform, self.options)
        names = naming.Naming()
        names.ParseDefinitionsObject(definitions, "hybridports")
        capture = _Capture()
        logger = logging.getLogger("absl")
        propagate = logger.propagate
        logger.addHandler(capture)
        logger.propagate = False  # aerleon's messages are ours to report, not stderr noise
        try:
            configs = api.Generate([policy], names)  # type: ignore[list-item]  # a TypedDict
        except Exception as error:  # aerleon raises its own ACLParserError/ACLGeneratorError
            raise RenderError(f"aerleon could not render --target {self.name}: {error}") from None
        finally:
            logger.removeHandler(capture)
            logger.propagate = propagate
        dropped = [m for m in capture.messages if any(d in m for d in _DROPPED)]
        if dropped:
            raise RenderError(f"aerleon left rules out of --target {self.name}: {dropped[0]}")
        warnings += [f"aerleon: {m}" for m in capture.messages]
        if not configs or len(configs) != 1:
            raise RenderError(f"aerleon wrote no configuration for --target {self.name}")
        (text,) = configs.values()
        return Rendered(text.rstrip("\n") + "\n", tuple(warnings))


class JuniperSrxRenderer(AerleonRenderer):
    name: ClassVar[str] = "juniper-srx"
    description: ClassVar[str] = "Juniper SRX: global security policy (through aerleon)"
    platform: ClassVar[str] = "srx"
    options: ClassVar[str] = "from-zone all to-zone all address-book-global"


class PaloAltoRenderer(AerleonRenderer):
    name: ClassVar[str] = "paloalto"
    description: ClassVar[str] = "Palo Alto PAN-OS: security rulebase XML (through aerleon)"
    platform: ClassVar[str] = "paloalto"
    # "mixed": IPv4 and IPv6 rules, and a deny-all that covers both families.
    options: ClassVar[str] = "from-zone any to-zone any mixed"


def _policy(
    rules: RuleSet, title: str, platform: str, options: str
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    networks: dict[tuple[Network, ...], str] = {}
    network_defs: dict[str, Any] = {}
    services: dict[str, Any] = {}
    terms: list[dict[str, Any]] = []
    mismatches = []
    expressible = False
    for number, rule in enumerate(rules.forward, 1):
        parts, missed = split(rule)
        mismatches.extend(missed)
        expressible = expressible or bool(parts)
        for part in parts:
            term = _term(rule, part, number, len(parts) > 1, networks, network_defs, services)
            terms.append(term)
    if rules.forward and not expressible:
        raise RenderError(
            "no rule of this plan is expressible: every one pairs IPv4-only with IPv6-only "
            "addresses"
        )
    terms.append(
        {
            "name": "hp-deny-all",
            "comment": "hybridports: nothing outside the plan",
            "action": "deny",
        }
    )
    header = {"targets": {platform: options}, "comment": _clean(title)}
    policy = {"filename": "hybridports", "filters": [{"header": header, "terms": terms}]}
    definitions = {"networks": network_defs, "services": services}
    warning = mismatch_warning(mismatches)
    return policy, definitions, [warning] if warning else []


def _term(
    rule: AllowRule,
    part: Part,
    number: int,
    per_family: bool,
    networks: dict[tuple[Network, ...], str],
    network_defs: dict[str, Any],
    services: dict[str, Any],
) -> dict[str, Any]:
    suffix = f"-v{part.family}" if per_family else ""
    name = f"hp-{number:03d}-{_TOKEN.sub('-', rule.catalog_ids[0])}"
    name = name[: TERM_NAME_MAX - len(suffix)].rstrip("-") + suffix
    term: dict[str, Any] = {"name": name, "comment": _comment(rule), "action": "accept"}
    for key, members, endpoint in (
        ("source-address", part.sources, rule.source),
        ("destination-address", part.destinations, rule.destination),
    ):
        if members is not None:
            term[key] = _network(members, endpoint.hosts or endpoint.names, networks, network_defs)
    if rule.transport is Transport.ICMP:
        families = [part.family] if part.family else [4, 6]
        if len(families) != 1:
            raise RenderError(f"{', '.join(rule.catalog_ids)}: ICMP needs one address family")
        icmp_type(rule.ports[0], families[0])  # refuses types without a counterpart
        term["protocol"] = "icmp" if families[0] == 4 else "icmpv6"
        term["icmp-type"] = "echo-request"
        return term
    low, high = rule.ports[0].low, rule.ports[0].high
    service = f"HP_{rule.transport.value.upper()}_{low}" + (f"_{high}" if high != low else "")
    port = str(low) if low == high else f"{low}-{high}"
    services[service] = [{"port": port, "protocol": rule.transport.value}]
    term["protocol"] = rule.transport.value
    term["destination-port"] = service
    return term


def _network(
    members: tuple[Network, ...],
    labels: tuple[str, ...],
    networks: dict[tuple[Network, ...], str],
    network_defs: dict[str, Any],
) -> str:
    """One named address group per distinct member list, named after its hosts."""
    name = networks.get(members)
    if name is None:
        base = _TOKEN.sub("_", "_".join(labels[:3]) or "addresses").upper()[:40]
        if len(labels) > 3:
            base += f"_AND_{len(labels) - 3}_MORE"
        base = f"HP_V{members[0].version}_{base}"
        name, serial = base, 1
        while name in network_defs:
            serial += 1
            name = f"{base}_{serial}"
        networks[members] = name
        network_defs[name] = {"values": [{"address": str(m)} for m in members]}
    return name


def _comment(rule: AllowRule) -> str:
    need = "required" if rule.required else "optional"
    text = f"{', '.join(rule.catalog_ids)} ({need}): {' / '.join(rule.purposes)}"
    for label, endpoint in (("from", rule.source), ("to", rule.destination)):
        if endpoint.any and endpoint.names:
            text += f"; {label} any address, standing for {', '.join(endpoint.names)}"
        elif endpoint.hosts:
            text += f"; {label} {', '.join(endpoint.hosts)}"
        elif endpoint.names:  # --cloud-egress resolve: pinned addresses of these names
            text += f"; {label} addresses resolved from {', '.join(endpoint.names)}"
    if rule.note:
        text += f"; {rule.note}"
    text = _clean(text)
    return text if len(text) <= COMMENT_MAX else text[: COMMENT_MAX - 3] + "..."
