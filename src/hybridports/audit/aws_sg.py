"""AWS security groups: ``aws ec2 describe-security-groups`` output.

Security groups only allow, and the groups of one network interface form a union: a packet
passes when any rule of any group allows it. So every group's ingress permissions go into
one base chain ``aws ingress`` (hooked at ``input``) and every egress permission into
``aws egress`` (``output``), all rules accept, and both chains drop what no rule matched.
Groups are stateful: replies pass, so only a connection's first packet is judged.

Each address range of a permission is one rule. References to other security groups and
to prefix lists are kept as unresolved matches: the file does not say which addresses they
hold. ICMP rules: FromPort is the type and ToPort the code (-1: all). The audit's ICMP flows
are echo requests; a rule for any other type or code keeps ``ports=EMPTY``, which matches
no ICMP query (ICMP carries no ports), rather than widening it to all of ICMP.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hybridports.audit.interface import (
    Action,
    AddressMatch,
    Chain,
    Finding,
    Match,
    ParseOptions,
    PolicyError,
    PolicyParser,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import ALL_PORTS, EMPTY, PORT_MAX, Intervals, network_interval
from hybridports.audit.jsontext import line_of, load_json

WHAT = "aws ec2 describe-security-groups output"
PROTOCOLS = {
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "icmp": "icmp",
    "1": "icmp",
    "icmpv6": "icmpv6",
    "58": "icmpv6",
}
ECHO_REQUEST = {"icmp": 8, "icmpv6": 128}
# (direction, key in the group, chain key, hook, whether the remote side is the source)
DIRECTIONS = (
    ("ingress", "IpPermissions", "aws ingress", "input", True),
    ("egress", "IpPermissionsEgress", "aws egress", "output", False),
)


class AwsSgParser(PolicyParser):
    name: ClassVar[str] = "aws-sg"
    description: ClassVar[str] = "aws ec2 describe-security-groups output"

    def parse(self, text: str, file: str, options: ParseOptions) -> Ruleset:
        groups = _groups(load_json(text, file, WHAT), file)
        reader = _Reader(file)
        for index, group in enumerate(groups, 1):
            reader.group(group, index)
        return reader.ruleset(len(groups))


def _groups(document: Any, file: str) -> list[Any]:
    if isinstance(document, dict) and "SecurityGroups" in document:
        groups = document["SecurityGroups"]
        if not isinstance(groups, list):
            raise PolicyError("SecurityGroups is not a list", file=file, line=line_of(document))
    elif (
        isinstance(document, list)
        and document
        and all(
            isinstance(g, dict) and ("IpPermissions" in g or "IpPermissionsEgress" in g)
            for g in document
        )
    ):
        groups = document  # the list alone, as --query SecurityGroups prints it
    else:
        raise PolicyError(f"not {WHAT}: no SecurityGroups key", file=file)
    if not groups:
        raise PolicyError("no security groups (SecurityGroups is empty)", file=file)
    return groups


@dataclass(frozen=True)
class _Service:
    """What a permission matches besides addresses, and how its label says it."""

    protocols: frozenset[str] | None
    ports: Intervals | None
    text: str
    unknown: str | None = None


@dataclass
class _Reader:
    file: str
    rules: dict[str, list[Rule]] = field(
        default_factory=lambda: {"aws ingress": [], "aws egress": []}
    )
    findings: list[Finding] = field(default_factory=list)

    def group(self, group: Any, index: int) -> None:
        if not isinstance(group, dict):
            raise PolicyError(f"security group {index} is not an object", file=self.file, line=None)
        gid, name = group.get("GroupId"), group.get("GroupName")
        gid = gid if isinstance(gid, str) and gid else None
        name = name if isinstance(name, str) and name else None
        title = f"{gid} ({name})" if gid and name else gid or name or f"security group {index}"
        owner = group.get("OwnerId")
        for direction, key, chain, _, remote_is_source in DIRECTIONS:
            permissions = group.get(key)
            if permissions is None:
                continue
            if not isinstance(permissions, list):
                raise PolicyError(
                    f"{title}: {key} is not a list", file=self.file, line=line_of(group)
                )
            number = 0
            for position, permission in enumerate(permissions, 1):
                where = f"{title}: {key} entry {position}"
                if not isinstance(permission, dict):
                    raise PolicyError(
                        f"{where} is not an object", file=self.file, line=line_of(group)
                    )
                service = _service(permission, where, self.file)
                for remote, families, entry, text in _remotes(permission, where, self.file, owner):
                    number += 1
                    toward = "from" if remote_is_source else "to"
                    label = f"{title} {direction} rule {number} {service.text} {toward} {text}"
                    match = Match(
                        source=remote if remote_is_source else None,
                        destination=None if remote_is_source else remote,
                        protocols=service.protocols,
                        ports=service.ports,
                        families=families,
                        unknown=service.unknown,
                    )
                    line = line_of(entry) or line_of(permission)
                    self.rules[chain].append(Rule(match, Action.ACCEPT, label, line=line))
                    self._findings(label, remote, service)

    def _findings(self, label: str, remote: AddressMatch, service: _Service) -> None:
        if remote.unresolved is not None:
            self.findings.append(
                Finding(
                    "unresolved-reference",
                    label,
                    f"{remote.unresolved}: its members' addresses are not in the file",
                )
            )
        if service.unknown is not None:
            self.findings.append(
                Finding("unknown-construct", label, f"not a protocol AWS names: {service.unknown}")
            )

    def ruleset(self, groups: int) -> Ruleset:
        chains = {
            key: Chain(
                key,
                tuple(rules),
                Action.DROP,
                f"{key} policy drop (no security group allows it)",
            )
            for key, rules in self.rules.items()
        }
        ingress, egress = (len(r) for r in self.rules.values())
        return Ruleset(
            format=AwsSgParser.name,
            file=self.file,
            chains=chains,
            hooks={hook: (chain,) for _, _, chain, hook, _ in DIRECTIONS},
            host_policy=True,
            findings=self.findings,
            summary=(
                f"{groups} security group{'s' if groups != 1 else ''} (a union), "
                f"{ingress} ingress and {egress} egress rules"
            ),
        )


def _number(permission: dict[str, Any], key: str, where: str, file: str) -> int | None:
    value = permission.get(key)
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(
            f"{where}: {key} {value!r} is not a number", file=file, line=line_of(permission)
        )
    return value


def _service(permission: dict[str, Any], where: str, file: str) -> _Service:
    raw = permission.get("IpProtocol")
    line = line_of(permission)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise PolicyError(
            f"{where}: IpProtocol {raw!r} is missing or not text", file=file, line=line
        )
    text = str(raw).strip().lower()
    low = _number(permission, "FromPort", where, file)
    high = _number(permission, "ToPort", where, file)
    if text in ("-1", "all"):
        return _Service(None, None, "all traffic")
    protocol = PROTOCOLS.get(text)
    if protocol in ("tcp", "udp"):
        if low is None or high is None:
            raise PolicyError(
                f"{where}: {protocol} without FromPort and ToPort", file=file, line=line
            )
        if not (0 <= low <= PORT_MAX and 0 <= high <= PORT_MAX):
            raise PolicyError(
                f"{where}: {protocol} ports {low}-{high} are not within 0-{PORT_MAX}",
                file=file,
                line=line,
            )
        if low > high:
            raise PolicyError(
                f"{where}: FromPort {low} is above ToPort {high}", file=file, line=line
            )
        ports = Intervals.span(low, high)
        shown = str(low) if low == high else f"{low}-{high}"
        return _Service(
            frozenset({protocol}), None if ports == ALL_PORTS else ports, f"{protocol} {shown}"
        )
    if protocol in ("icmp", "icmpv6"):
        return _icmp(protocol, low, high, where, file, line)
    if re.fullmatch(r"[0-9]+", text) and int(text) <= 255:
        return _Service(frozenset({str(int(text))}), None, f"protocol {int(text)}")
    return _Service(None, None, f"protocol {raw}", unknown=f"IpProtocol {raw}")


def _icmp(
    protocol: str, kind: int | None, code: int | None, where: str, file: str, line: int | None
) -> _Service:
    kind = -1 if kind is None else kind
    code = -1 if code is None else code
    for what, value in (("type (FromPort)", kind), ("code (ToPort)", code)):
        if not -1 <= value <= 255:
            raise PolicyError(
                f"{where}: {protocol} {what} {value} is not within -1 (all) to 255",
                file=file,
                line=line,
            )
    protocols = frozenset({protocol})
    if kind == -1:
        return _Service(protocols, None, f"{protocol} all")
    shown = f"{protocol} type {kind}" + (f" code {code}" if code != -1 else "")
    if kind == ECHO_REQUEST[protocol] and code in (-1, 0):
        return _Service(protocols, None, shown)
    # Matches no echo request, the only ICMP the audit asks about (see the module notes).
    return _Service(protocols, EMPTY, shown)


def _remotes(
    permission: dict[str, Any], where: str, file: str, owner: Any
) -> list[tuple[AddressMatch, frozenset[int] | None, Any, str]]:
    """(remote side, families, the entry, its text) for every range the permission lists."""
    found: list[tuple[AddressMatch, frozenset[int] | None, Any, str]] = []
    for key, field_name, version in (("IpRanges", "CidrIp", 4), ("Ipv6Ranges", "CidrIpv6", 6)):
        for entry in _entries(permission, key, where, file):
            cidr = entry.get(field_name)
            try:
                network = (
                    ipaddress.ip_network(cidr, strict=False) if isinstance(cidr, str) else None
                )
            except ValueError:
                network = None
            if network is None or network.version != version:
                raise PolicyError(
                    f"{where}: {key} {field_name} {cidr!r} is not an IPv{version} CIDR",
                    file=file,
                    line=line_of(entry),
                )
            found.append(
                (AddressMatch(network_interval(network)), frozenset({version}), entry, str(cidr))
            )
    for entry in _entries(permission, "PrefixListIds", where, file):
        ident = _text(entry, "PrefixListId", where, file)
        found.append((AddressMatch(EMPTY, unresolved=f"prefix list {ident}"), None, entry, ident))
    for entry in _entries(permission, "UserIdGroupPairs", where, file):
        found_id = entry.get("GroupId") or entry.get("GroupName")
        if not isinstance(found_id, str) or not found_id:
            raise PolicyError(
                f"{where}: a UserIdGroupPairs entry without GroupId", file=file, line=line_of(entry)
            )
        ident = found_id
        account = entry.get("UserId")
        if isinstance(account, str) and account and account != owner:
            ident = f"{account}/{ident}"  # a group of another account
        unresolved = f"security group {ident} (referenced)"
        found.append((AddressMatch(EMPTY, unresolved=unresolved), None, entry, ident))
    return found


def _entries(permission: dict[str, Any], key: str, where: str, file: str) -> list[dict[str, Any]]:
    value = permission.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise PolicyError(
            f"{where}: {key} is not a list of objects", file=file, line=line_of(permission)
        )
    return value


def _text(entry: dict[str, Any], key: str, where: str, file: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: an entry without {key}", file=file, line=line_of(entry))
    return value
