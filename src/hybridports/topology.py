"""The topology file: which hosts play which roles, which features and cloud are used.

Validation is done by hand rather than by a schema library so that every message names
the offending value in the user's words, with the line it stands on.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hybridports._yaml import YamlDoc, read_yaml
from hybridports.model import (
    HOST_ROLES,
    RESERVED_FEATURES,
    Cloud,
    Feature,
    PortRange,
    Role,
)

TOP_KEYS = (
    "name",
    "domain",
    "cloud",
    "features",
    "rpc_dynamic_ports",
    "proxy",
    "endpoint_samples",
    "hosts",
)
HOST_KEYS = ("address", "roles", "zone", "rpc_dynamic_ports", "description")
ZONES = ("any", "intranet", "internet")

# A feature switches these on too (domain specification §1.5).
IMPLIES: dict[Feature, tuple[Feature, ...]] = {
    Feature.ADFS_GMSA_INSTALL: (Feature.ADFS_WIZARD,),
    Feature.ADFS_WIZARD: (Feature.FEDERATION,),
    Feature.CERT_AUTH: (Feature.FEDERATION,),
    Feature.GROUP_PROVISIONING: (Feature.CLOUD_SYNC,),
}

# A feature is meaningless without a host playing this role (interface: Validation).
ESSENTIAL_ROLE: dict[Feature, Role] = {
    Feature.FEDERATION: Role.ADFS,
    Feature.ADFS_WIZARD: Role.ADFS,
    Feature.ADFS_GMSA_INSTALL: Role.ADFS,
    Feature.CERT_AUTH: Role.ADFS,
    Feature.CLOUD_SYNC: Role.CLOUD_SYNC_AGENT,
    Feature.GROUP_PROVISIONING: Role.CLOUD_SYNC_AGENT,
    Feature.REMOTE_SQL: Role.SQL,
}

_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    address: str
    kind: str  # "ip", "network" or "dns"
    roles: tuple[Role, ...]
    zone: str = "any"
    rpc_dynamic_ports: tuple[PortRange, ...] | None = None

    @property
    def ip_version(self) -> int | None:
        if self.kind == "ip":
            return ipaddress.ip_address(self.address).version
        if self.kind == "network":
            return ipaddress.ip_network(self.address).version
        return None


@dataclass(frozen=True, slots=True)
class Proxy:
    url: str = field(repr=False)
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """The URL without credentials, safe to print."""
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Topology:
    name: str
    file: str
    cloud: Cloud
    declared_features: tuple[Feature, ...]
    features: frozenset[Feature]
    hosts: tuple[Host, ...]
    rpc_dynamic_ports: tuple[PortRange, ...] | None = None
    proxy: Proxy | None = None
    endpoint_samples: dict[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    domain: str | None = None  # the AD DNS domain (realm), used by the probes

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def hosts_with(self, role: Role) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if role in h.roles)


def load_topology(path: str | Path) -> Topology:
    return parse_topology(read_yaml(path, what="topology file"))


def parse_topology(doc: YamlDoc) -> Topology:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a topology must be a mapping of keys (name, cloud, features, hosts…)")
    for key in data:
        if key not in TOP_KEYS:
            raise doc.error(
                (key,), f"unknown key {key!r} (expected one of: {', '.join(TOP_KEYS)})", key=True
            )
    warnings: list[str] = []
    name = _name(doc, data)
    domain = _domain(doc, data.get("domain"))
    cloud = _cloud(doc, data)
    declared = _features(doc, data)
    features = _closure(declared)
    hosts = _hosts(doc, data)
    rpc = _rpc_ports(doc, ("rpc_dynamic_ports",), data.get("rpc_dynamic_ports"))
    proxy = _proxy(doc, data.get("proxy"))
    samples = _samples(doc, data.get("endpoint_samples"))
    _check_roles(doc, declared, hosts)
    if Feature.SEAMLESS_SSO in features and Feature.FEDERATION in features:
        warnings.append(
            "seamless-sso and federation are mutually exclusive for one domain (SSOFAQ); "
            "planning both"
        )
    return Topology(
        name=name,
        file=doc.file,
        cloud=cloud,
        declared_features=declared,
        features=features,
        hosts=hosts,
        rpc_dynamic_ports=rpc,
        proxy=proxy,
        endpoint_samples=samples,
        warnings=tuple(warnings),
        domain=domain,
    )


def _domain(doc: YamlDoc, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _is_dns_name(value) or "." not in value.strip("."):
        raise doc.error(("domain",), f"domain must be the AD DNS domain name, not {value!r}")
    return value.strip().rstrip(".").lower()


def _name(doc: YamlDoc, data: dict[str, Any]) -> str:
    if "name" not in data:
        return Path(doc.file).stem
    value = data["name"]
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise doc.error(("name",), f"name must be a non-empty string, not {value!r}")
    return str(value).strip()


def _cloud(doc: YamlDoc, data: dict[str, Any]) -> Cloud:
    value = data.get("cloud", "public")
    try:
        return Cloud(value)
    except ValueError:
        choices = ", ".join(c.value for c in Cloud)
        raise doc.error(
            ("cloud",), f"unknown cloud {value!r} (expected one of: {choices})"
        ) from None


def _features(doc: YamlDoc, data: dict[str, Any]) -> tuple[Feature, ...]:
    value = data.get("features", [])
    if value is None:
        value = []
    if not isinstance(value, list):
        raise doc.error(("features",), f"features must be a list, not {value!r}")
    result: list[Feature] = []
    for index, item in enumerate(value):
        if isinstance(item, str) and item in RESERVED_FEATURES:
            raise doc.error(("features", index), f"feature {item!r} is {RESERVED_FEATURES[item]}")
        try:
            feature = Feature(item)
        except ValueError:
            choices = ", ".join(f.value for f in Feature)
            raise doc.error(
                ("features", index), f"unknown feature {item!r} (expected one of: {choices})"
            ) from None
        if feature not in result:
            result.append(feature)
    return tuple(result)


def _closure(declared: tuple[Feature, ...]) -> frozenset[Feature]:
    result = set(declared)
    pending = list(declared)
    while pending:
        for implied in IMPLIES.get(pending.pop(), ()):
            if implied not in result:
                result.add(implied)
                pending.append(implied)
    return frozenset(result)


def _hosts(doc: YamlDoc, data: dict[str, Any]) -> tuple[Host, ...]:
    if "hosts" not in data:
        raise doc.error((), "missing 'hosts:' (a mapping of host name to address and roles)")
    value = data["hosts"]
    if not isinstance(value, dict) or not value:
        raise doc.error(
            ("hosts",), f"hosts must be a non-empty mapping of host names, not {value!r}"
        )
    return tuple(_host(doc, str(name), entry) for name, entry in value.items())


def _host(doc: YamlDoc, name: str, entry: Any) -> Host:
    path = ("hosts", name)
    if not _HOST_NAME.match(name):
        raise doc.error(path, f"bad host name {name!r} (letters, digits, '.', '-', '_')", key=True)
    if not isinstance(entry, dict):
        raise doc.error(path, f"host {name!r} must be a mapping with address and roles")
    for key in entry:
        if key not in HOST_KEYS:
            raise doc.error(
                (*path, key),
                f"unknown key {key!r} in host {name!r} (expected one of: {', '.join(HOST_KEYS)})",
                key=True,
            )
    if "roles" not in entry:
        raise doc.error(path, f"host {name!r} has no 'roles'", key=True)
    roles = _roles(doc, path, entry["roles"])
    if "address" not in entry:
        raise doc.error(path, f"host {name!r} has no 'address'", key=True)
    address, kind = _address(doc, (*path, "address"), entry["address"])
    if kind == "network" and roles != (Role.CLIENT,):
        raise doc.error(
            (*path, "address"),
            f"network {address!r} on host {name!r}: a CIDR is only allowed for role client",
        )
    zone = entry.get("zone", "any")
    if zone not in ZONES:
        raise doc.error(
            (*path, "zone"), f"unknown zone {zone!r} (expected one of: {', '.join(ZONES)})"
        )
    if "zone" in entry and Role.CLIENT not in roles:
        raise doc.error(
            (*path, "zone"), f"zone applies to client hosts only, not {name!r}", key=True
        )
    rpc = _rpc_ports(doc, (*path, "rpc_dynamic_ports"), entry.get("rpc_dynamic_ports"))
    if rpc is not None and Role.DC not in roles:
        raise doc.error(
            (*path, "rpc_dynamic_ports"),
            f"rpc_dynamic_ports applies to dc hosts only, not {name!r}",
            key=True,
        )
    return Host(
        name=name, address=address, kind=kind, roles=roles, zone=zone, rpc_dynamic_ports=rpc
    )


def _roles(doc: YamlDoc, path: tuple[str, ...], value: Any) -> tuple[Role, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise doc.error((*path, "roles"), f"roles must be a non-empty list, not {value!r}")
    roles: list[Role] = []
    for index, item in enumerate(value):
        if item == Role.ENTRA.value:
            raise doc.error(
                (*path, "roles", index),
                "role 'entra' is the Microsoft cloud; it is never declared as a host",
            )
        try:
            role = Role(item)
        except ValueError:
            choices = ", ".join(r.value for r in HOST_ROLES)
            raise doc.error(
                (*path, "roles", index), f"unknown role {item!r} (expected one of: {choices})"
            ) from None
        if role not in roles:
            roles.append(role)
    return tuple(roles)


def _address(doc: YamlDoc, path: tuple[str, ...], value: Any) -> tuple[str, str]:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(path, f"address must be an IP address, a CIDR or a DNS name, not {value!r}")
    text = value.strip()
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise doc.error(path, f"bad network address {text!r}: {exc}") from None
        return str(network), "network"
    try:
        return str(ipaddress.ip_address(text)), "ip"
    except ValueError:
        pass
    if _is_dns_name(text):
        return text.rstrip(".").lower(), "dns"
    raise doc.error(path, f"bad address {text!r}: not an IP address, a CIDR or a DNS name")


def _is_dns_name(text: str) -> bool:
    name = text.rstrip(".")
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if all(label.isdigit() for label in labels):
        return False  # looks like a mistyped IPv4 address
    return all(_DNS_LABEL.match(label) for label in labels)


def _rpc_ports(doc: YamlDoc, path: tuple[str, ...], value: Any) -> tuple[PortRange, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        raise doc.error(path, "rpc_dynamic_ports must not be empty")
    ranges: list[PortRange] = []
    for index, item in enumerate(items):
        where: tuple[str | int, ...] = (*path, index) if isinstance(value, list) else path
        if isinstance(item, list):
            raise doc.error(where, f"bad port range {item!r}: write 'LOW-HIGH' or a port")
        try:
            ranges.append(PortRange.parse(item))
        except ValueError as exc:
            raise doc.error(where, f"bad port range {item!r}: {exc}") from None
    return tuple(sorted(set(ranges)))


def _proxy(doc: YamlDoc, value: Any) -> Proxy | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise doc.error(("proxy",), f"proxy must be a URL like http://proxy:3128, not {value!r}")
    try:
        return parse_proxy(value)
    except ValueError as exc:
        raise doc.error(("proxy",), str(exc)) from None


def parse_proxy(value: str) -> Proxy:
    """Parse ``http://[user:password@]host:port``; ValueError with a readable reason."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"bad proxy URL {value!r}: scheme must be http or https")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad proxy URL {value!r}: port is not a number 1-65535") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"bad proxy URL {value!r}: no host")
    if port is None:
        raise ValueError(
            f"bad proxy URL {value!r}: give the port, e.g. {parts.scheme}://{host}:3128"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"bad proxy URL {value!r}: a proxy URL has no path")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _is_dns_name(host):
            raise ValueError(f"bad proxy URL {value!r}: bad host {host!r}") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return Proxy(
        url=value.strip(),
        scheme=parts.scheme,
        host=host,
        port=port,
        username=user,
        password=password,
    )


def _samples(doc: YamlDoc, value: Any) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(
            ("endpoint_samples",), "endpoint_samples must map an endpoint name to names"
        )
    result: dict[str, tuple[str, ...]] = {}
    for pattern, names in value.items():
        path = ("endpoint_samples", str(pattern))
        key = str(pattern).lower()
        if not _is_dns_name(key.replace("*", "x")):
            raise doc.error(path, f"bad endpoint name {pattern!r}", key=True)
        items = [names] if isinstance(names, str) else names
        if not isinstance(items, list) or not items:
            raise doc.error(path, f"samples for {pattern!r} must be a non-empty list of names")
        concrete: list[str] = []
        for index, name in enumerate(items):
            if not isinstance(name, str) or "*" in name or not _is_dns_name(name):
                raise doc.error((*path, index), f"bad sample name {name!r} for {pattern!r}")
            if "*" in key and not fnmatch.fnmatchcase(name.lower(), key):
                raise doc.error((*path, index), f"sample {name!r} does not match {pattern!r}")
            concrete.append(name.lower().rstrip("."))
        result[key] = tuple(concrete)
    return result


def _check_roles(doc: YamlDoc, declared: tuple[Feature, ...], hosts: tuple[Host, ...]) -> None:
    played = {role for host in hosts for role in host.roles}
    if Role.DC not in played:
        raise doc.error(
            ("hosts",),
            "no host plays role 'dc': every topology needs a domain controller",
            key=True,
        )
    if Role.CONNECT not in played and Role.CLOUD_SYNC_AGENT not in played:
        raise doc.error(
            ("hosts",),
            "no host plays role 'connect' or 'cloud-sync-agent': "
            "nothing synchronises the directory",
            key=True,
        )
    written = doc.data.get("features") or []
    for feature in declared:
        index = written.index(feature.value)
        for needed in (feature, *_closure((feature,))):
            role = ESSENTIAL_ROLE.get(needed)
            if role is not None and role not in played:
                raise doc.error(
                    ("features", index),
                    f"feature {feature.value!r} needs a host with role {role.value!r}",
                )
