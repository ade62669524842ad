"""AWS: security groups as JSON for the AWS CLI.

Without --host: one security group per role (hosts of a role share its group; a host with
two roles gets both). With --host: that host's own group. Each group carries the shapes the
CLI takes: ``IpPermissions`` for ``authorize-security-group-ingress --cli-input-json`` and
``IpPermissionsEgress`` for ``authorize-security-group-egress`` (where the key is again
``IpPermissions``); the document as a whole reads like ``describe-security-groups`` output.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from hybridports.model import Role, Transport
from hybridports.render.common import Network, collapse, icmp_type, mismatch_warning, split
from hybridports.render.interface import AllowRule, Rendered, Renderer, RenderError, RuleSet

MAX_DESCRIPTION = 255
MAX_GROUP_NAME = 255
RULES_PER_GROUP = 60  # default quota of inbound (and of outbound) rules per security group
# Characters AWS accepts in security group and rule descriptions (VPC).
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]")
# Roles whose hosts get no group: the cloud, the proxy, and client networks (their flows are
# the ingress of the groups they reach).
NO_GROUP = {Role.ENTRA.value, Role.PROXY.value, Role.CLIENT.value}
ANY = {4: "0.0.0.0/0", 6: "::/0"}
PROXY_ID = "proxy"  # the plan's host → proxy rows: no catalog flow, the proxy is no role's host


def clean(text: str) -> str:
    """Only the characters AWS accepts; apostrophes vanish, other characters become spaces."""
    text = _NOT_ALLOWED.sub(" ", text.replace("'", "").replace("\u2019", ""))
    return " ".join(text.split())


def shorten(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


@cache
def _catalog_roles() -> dict[str, tuple[str, str]]:
    """Catalog id → (source role, destination role): the catalog says whose flow it is."""
    from hybridports.catalog import load_catalog

    return {f.id: (f.source.value, f.destination.value) for f in load_catalog().flows}


@dataclass
class _Group:
    name: str
    role: str | None
    hosts: set[str] = field(default_factory=set)
    ingress: list[tuple[AllowRule, Network | None]] = field(default_factory=list)
    egress: list[tuple[AllowRule, Network | None]] = field(default_factory=list)


class AwsSgRenderer(Renderer):
    name: ClassVar[str] = "aws-sg"
    description: ClassVar[str] = "AWS security groups: JSON for the AWS CLI"

    def render(self, rules: RuleSet, title: str) -> Rendered:
        every = [*rules.forward, *rules.inbound, *rules.outbound]
        tagged = sorted({r.service_tag for r in every if r.service_tag})
        if tagged:
            raise RenderError(
                "--target aws-sg cannot express Azure service tags "
                f"({', '.join(tagged)}): use --cloud-egress any, resolve or proxy"
            )
        topology = rules.topology
        mismatches = []
        parts = {}
        for rule in every:
            parts[id(rule)], missed = split(rule)
            mismatches.extend(missed)
        if every and not any(parts.values()):
            raise RenderError(
                "no rule of this plan is expressible: every one pairs IPv4-only with IPv6-only "
                "addresses"
            )
        if rules.host is not None:
            group = _Group(_group_name(topology, rules.host), None, {rules.host})
            for rule in rules.inbound:
                group.ingress += _remotes(parts[id(rule)], source=True)
            for rule in rules.outbound:
                group.egress += _remotes(parts[id(rule)], source=False)
            groups = [group]
        else:
            groups = _role_groups(rules, topology, parts)
        warnings = []
        warning = mismatch_warning(mismatches)
        if warning:
            warnings.append(warning)
        documents = []
        for group in groups:
            ingress = _permissions(group.ingress, inbound=True)
            egress = _permissions(group.egress, inbound=False)
            for direction, permissions in (("inbound", ingress), ("outbound", egress)):
                count = sum(
                    len(p.get("IpRanges", ())) + len(p.get("Ipv6Ranges", ())) for p in permissions
                )
                if count > RULES_PER_GROUP:
                    warnings.append(
                        f"{group.name}: {count} {direction} rules, above the default quota of "
                        f"{RULES_PER_GROUP} per security group (raise the quota, or group hosts "
                        "into wider networks)"
                    )
            documents.append(_group_document(group, topology, ingress, egress))
        document = {
            "Comment": _comment(title, rules),
            "Usage": USAGE,
            "SecurityGroups": documents,
        }
        text = json.dumps(document, indent=2, ensure_ascii=True) + "\n"
        return Rendered(text, tuple(warnings))


USAGE = [
    "1. aws ec2 create-security-group --group-name <GroupName> --description <Description> "
    "--vpc-id <vpc-id>",
    "2. A new group allows all outbound traffic: aws ec2 revoke-security-group-egress "
    "--group-id <sg-id> --ip-permissions IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}] (and "
    "IpProtocol=-1,Ipv6Ranges=[{CidrIpv6=::/0}] in a VPC with IPv6)",
    '3. aws ec2 authorize-security-group-ingress --cli-input-json \'{"GroupId": "<sg-id>", '
    '"IpPermissions": <IpPermissions>}\'',
    '4. aws ec2 authorize-security-group-egress --cli-input-json \'{"GroupId": "<sg-id>", '
    '"IpPermissions": <IpPermissionsEgress>}\'',
    "5. Attach each group to the network interfaces of the hosts named in its hybridports:hosts "
    "tag.",
]


def _comment(title: str, rules: RuleSet) -> str:
    scope = (
        f"the security group of host {rules.host}"
        if rules.host
        else "one security group per role; a host with several roles gets each of their groups"
    )
    return (
        f"{title}: {scope}. Security groups are stateful (replies to allowed connections pass) "
        "and deny everything they do not allow. Cloud names cannot be matched: rules to them "
        "allow the planned ports to any address (0.0.0.0/0, ::/0), or to the addresses "
        "resolved at render time, and name the endpoints in their description."
    )


def _remotes(parts: list[Any], source: bool) -> list[tuple[AllowRule, Network | None]]:
    """(rule, remote network or None for any address), one per remote network of each part."""
    result: list[tuple[AllowRule, Network | None]] = []
    for part in parts:
        remote = part.sources if source else part.destinations
        if remote is None:
            result.append((part.rule, None))
        else:
            result += [(part.rule, n) for n in collapse(remote)]  # fewer rules, same addresses
    return result


def _host_roles(rules: RuleSet) -> dict[str, set[str]]:
    """Each host's roles, learned from the rules the catalog can attribute to one role."""
    known = _catalog_roles()
    roles: dict[str, set[str]] = defaultdict(set)
    for rule in rules.forward:
        pairs = {known[i] for i in rule.catalog_ids if i in known}
        for index, endpoint in ((0, rule.source), (1, rule.destination)):
            side = {pair[index] for pair in pairs}
            if len(side) == 1:
                for host in endpoint.hosts:
                    roles[host] |= side
    return roles


def _rule_roles(rule: AllowRule, host_roles: dict[str, set[str]]) -> tuple[set[str], set[str]]:
    """The roles on each side: from the catalog, or (the planned proxy rows, which no
    catalog flow names) from the roles of the hosts on that side."""
    known = _catalog_roles()
    pairs = [known[i] for i in rule.catalog_ids if i in known]
    sides: list[set[str]] = []
    for index, endpoint in ((0, rule.source), (1, rule.destination)):
        found = {pair[index] for pair in pairs}
        if not found and index == 1 and PROXY_ID in rule.catalog_ids:
            found = {Role.PROXY.value}
        if not found and not endpoint.any:
            found = set().union(*(host_roles.get(h, set()) for h in endpoint.hosts))
            if not found and endpoint.hosts:
                raise RenderError(
                    f"aws-sg: {', '.join(rule.catalog_ids)}: no role known for "
                    f"{', '.join(endpoint.hosts)}"
                )
        sides.append(found)
    return sides[0], sides[1]


def _role_groups(rules: RuleSet, topology: str, parts: dict[int, list[Any]]) -> list[_Group]:
    host_roles = _host_roles(rules)
    groups: dict[str, _Group] = {}

    def group(role: str) -> _Group:
        if role not in groups:
            groups[role] = _Group(_group_name(topology, role), role)
        return groups[role]

    for rule in rules.forward:
        source_roles, destination_roles = _rule_roles(rule, host_roles)
        for role in sorted(destination_roles - NO_GROUP):
            group(role).ingress += _remotes(parts[id(rule)], source=True)
            group(role).hosts.update(rule.destination.hosts)
        for role in sorted(source_roles - NO_GROUP):
            group(role).egress += _remotes(parts[id(rule)], source=False)
            group(role).hosts.update(rule.source.hosts)
    return [groups[role] for role in sorted(groups)]


def _group_name(topology: str, suffix: str) -> str:
    name = clean(f"hybridports-{topology}-{suffix}").replace(" ", "-")
    return name[:MAX_GROUP_NAME]


def _group_document(
    group: _Group, topology: str, ingress: list[dict[str, Any]], egress: list[dict[str, Any]]
) -> dict[str, Any]:
    what = f"role {group.role}" if group.role else f"host {', '.join(sorted(group.hosts))}"
    description = shorten(
        clean(
            f"hybridports {topology} {what}: allows only the planned flows. Stateful: replies "
            "pass. Deny by default: anything not listed is dropped."
        )
    )
    tags = [
        {"Key": "hybridports:topology", "Value": shorten(topology, 256)},
        {"Key": "hybridports:hosts", "Value": shorten(" ".join(sorted(group.hosts)), 256)},
    ]
    if group.role:
        tags.insert(1, {"Key": "hybridports:role", "Value": group.role})
    return {
        "GroupName": group.name,
        "Description": description,
        "Tags": tags,
        "IpPermissions": ingress,
        "IpPermissionsEgress": egress,
    }


PermissionKey = tuple[str, int, int]


@dataclass
class _Text:
    """What one address range of a permission stands for: merged from every rule behind it."""

    ids: list[str] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, rule: AllowRule, inbound: bool) -> None:
        remote = rule.source if inbound else rule.destination
        for target, values in (
            (self.ids, rule.catalog_ids),
            (self.purposes, rule.purposes),
            (self.names, remote.names),
        ):
            target.extend(v for v in values if v not in target)

    def description(self, inbound: bool) -> str:
        """Catalog ids, the cloud names, then purposes: each list cut to what fits."""
        text = _few(self.ids, 100)
        if self.names:
            text += (" from " if inbound else " to ") + _few(self.names, 90)
        return shorten(clean(f"{text}: {' / '.join(self.purposes)}"))


def _few(items: list[str], limit: int) -> str:
    """As many items as fit in ``limit`` characters, then "+N more"."""
    shown = len(items)
    text = ", ".join(items)
    while len(clean(text)) > limit and shown > 1:
        shown -= 1
        text = ", ".join(items[:shown]) + f" +{len(items) - shown} more"
    return text


def _permissions(
    entries: list[tuple[AllowRule, Network | None]], inbound: bool
) -> list[dict[str, Any]]:
    """One permission per protocol and port range; one range per address, texts merged."""
    texts: dict[PermissionKey, dict[tuple[int, str], _Text]] = defaultdict(dict)
    for rule, network in entries:
        versions = (4, 6) if network is None else (network.version,)
        for version in versions:
            key = _permission_key(rule, version)
            cidr = ANY[version] if network is None else str(network)  # AWS wants /32 too
            texts[key].setdefault((version, cidr), _Text()).add(rule, inbound)
    result = []
    for (protocol, low, high), ranges in sorted(texts.items()):
        permission: dict[str, Any] = {"IpProtocol": protocol, "FromPort": low, "ToPort": high}
        ordered = sorted(ranges.items(), key=lambda item: _sort_key(*item[0]))
        v4 = [(c, t.description(inbound)) for (v, c), t in ordered if v == 4]
        v6 = [(c, t.description(inbound)) for (v, c), t in ordered if v == 6]
        if v4:
            permission["IpRanges"] = [{"CidrIp": c, "Description": d} for c, d in v4]
        if v6:
            permission["Ipv6Ranges"] = [{"CidrIpv6": c, "Description": d} for c, d in v6]
        result.append(permission)
    return result


def _permission_key(rule: AllowRule, version: int) -> PermissionKey:
    ports = rule.ports[0]
    if rule.transport is Transport.ICMP:
        # ICMP: FromPort is the type, ToPort the code (-1: every code).
        return ("icmp" if version == 4 else "icmpv6", icmp_type(ports, version), -1)
    return (rule.transport.value, ports.low, ports.high)


def _sort_key(version: int, cidr: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(cidr)
    return (version, int(network.network_address), network.prefixlen)
