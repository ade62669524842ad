"""Windows Firewall: a ``Get-NetFirewallRule`` export (JSON) with each rule's filters.

The export format is ours; docs/audit-windows-export.md has the PowerShell script that writes
it. One JSON object::

    {"Host": "DC01", "Profile": ["Domain"],
     "Profiles": [{"Name": "Domain", "Enabled": "True", "DefaultInboundAction": "Block",
                   "DefaultOutboundAction": "Allow", "AllowInboundRules": "True",
                   "AllowLocalFirewallRules": "True"}, ...],
     "Rules": [{"Name": "ADDS-LDAP-TCP-In", "DisplayName": "...", "Enabled": "True",
                "Direction": "Inbound", "Action": "Allow", "Profile": "Any",
                "PolicyStoreSourceType": "Local",
                "PortFilter": {"Protocol": "TCP", "LocalPort": ["389"], "RemotePort": ["Any"],
                               "IcmpType": ["Any"], "DynamicTarget": "Any"},
                "AddressFilter": {"LocalAddress": ["Any"], "RemoteAddress": ["Any"]},
                "ApplicationFilter": {"Program": "...\\lsass.exe", "Package": null},
                "ServiceFilter": {"Service": "Any"},
                "InterfaceTypeFilter": {"InterfaceType": "Any"},
                "InterfaceFilter": {"InterfaceAlias": ["Any"]},
                "SecurityFilter": {"Authentication": "NotRequired", ...}}, ...]}

A bare array of rule objects is accepted too (profile defaults then: firewall on, inbound
Block, outbound Allow). Hand-made exports vary, so values are read leniently: enums as names
(PowerShell 7, or our script's string conversion) or numbers (Windows PowerShell 5.1
``ConvertTo-Json``), one-element arrays collapsed to scalars, 5.1's ``{"value": [...],
"Count": n}`` array wrapper, property names in any case. A file that is not UTF-8 (5.1 writes
UTF-16 with ``>`` and ``Out-File``) must go through :func:`decode_export` first.

Model. Windows applies authenticated-bypass rules, then block rules, then allow rules, then
the profile's default action; within a class the order does not matter. Each direction is one
first-match base chain: bypass rules (always ``unknown``: they depend on IPsec), block rules,
allow rules, policy = the default action. Inbound hooks at ``input``, outbound at ``output``.

The audited profile is ``ParseOptions.windows_profile`` when it is not the default
(``domain``); at the default, the export's ``Profile`` (the host's active profile from
``Get-NetConnectionProfile``) decides, so a member server on a Private network is audited as
it runs. Only enabled rules whose Profile includes it are kept; the rest are counted.

What a rule matches that the flow cannot tell (a program, a service, an interface, ICMP types,
IPsec conditions, port keywords other than RPC/RPCEPMap) keeps the rule with ``Match.unknown``
and an ``unknown-construct`` finding; an address keyword (LocalSubnet, DNS, ...) becomes
``AddressMatch.unresolved`` with an ``undecidable`` finding.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field, replace
from typing import ClassVar, TypeVar

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
from hybridports.audit.intervals import EMPTY, Intervals, address_range, network_interval
from hybridports.audit.jsontext import line_of, load_json

INBOUND_KEY = "windows inbound"
OUTBOUND_KEY = "windows outbound"
PROFILES = ("Domain", "Private", "Public")
_PROFILE_BITS = {"domain": 1, "private": 2, "public": 4}
EPMAP_PORT = 135
EXPORT_DOC = "docs/audit-windows-export.md"

# The keywords Windows resolves on the host itself (MS-FASP FW_ADDRESS_KEYWORD).
ADDRESS_KEYWORDS = (
    "LocalSubnet",
    "DNS",
    "DHCP",
    "WINS",
    "DefaultGateway",
    "Internet",
    "Intranet",
    "IntranetRemoteAccess",
    "PlayToDevice",
)
_ADDRESS_KEYWORDS = {k.lower(): k for k in ADDRESS_KEYWORDS}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PORT = re.compile(r"(\d{1,6})(?:\s*-\s*(\d{1,6}))?")
# Protocol names Get-NetFirewallPortFilter prints instead of numbers.
_PROTOCOL_NAMES = {
    "hopopt": 0,
    "icmp": 1,
    "icmpv4": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "ipv6": 41,
    "ipv6-route": 43,
    "ipv6-frag": 44,
    "gre": 47,
    "icmpv6": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "vrrp": 112,
    "pgm": 113,
    "l2tp": 115,
}
_PROTOCOL_MATCH: dict[int, tuple[str, frozenset[int] | None]] = {
    1: ("icmp", frozenset({4})),
    6: ("tcp", None),
    17: ("udp", None),
    58: ("icmpv6", frozenset({6})),
}

# Enums: CIM numbers (Windows PowerShell 5.1) and names (PowerShell 7, our script).
_RULE_ENABLED: tuple[dict[str, bool], dict[int, bool]] = (
    {"true": True, "false": False},
    {1: True, 2: False},
)
_GPO_BOOLEAN = (
    {"true": "true", "false": "false", "notconfigured": "notconfigured"},
    {0: "false", 1: "true", 2: "notconfigured"},
)
_DIRECTION = ({"inbound": "in", "in": "in", "outbound": "out", "out": "out"}, {1: "in", 2: "out"})
_ACTION = (
    {"allow": "allow", "block": "block", "notconfigured": "notconfigured"},
    {0: "notconfigured", 2: "allow", 4: "block"},
)
_NETWORK_CATEGORY = {0: "Public", 1: "Private", 2: "Domain"}  # Get-NetConnectionProfile
_STORE_TYPE_LOCAL = 1  # PolicyStoreSourceType Local: rules from the host's own store
_T = TypeVar("_T")
# UTF-32 first: its little-endian BOM starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_export(data: bytes, file: str | None = None) -> str:
    """The export's text, whatever PowerShell wrote: UTF-8 with or without a BOM, UTF-16
    (Windows PowerShell 5.1 ``>`` and ``Out-File``), UTF-32, or the ANSI code page
    (5.1 ``Set-Content``)."""
    found = next(((bom, enc) for bom, enc in _BOMS if data.startswith(bom)), None)
    if found is not None:
        bom, encoding = found
    elif len(data) >= 2 and data[0] and not data[1]:
        # JSON starts with an ASCII character: a NUL beside it betrays UTF-16 without a BOM.
        bom, encoding = b"", "utf-16-le"
    elif len(data) >= 2 and not data[0] and data[1]:
        bom, encoding = b"", "utf-16-be"
    else:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            return data.decode("cp1252")  # the ANSI code page of Western Windows
        except UnicodeDecodeError:
            return data.decode("latin-1")  # takes the five bytes cp1252 leaves undefined
    try:
        return data[len(bom) :].decode(encoding)
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"not valid {encoding} text (byte {exc.start + len(bom)})", file=file
        ) from None


class _Obj:
    """A JSON object read as PowerShell reads it: property names in any case."""

    def __init__(self, data: dict[str, object]) -> None:
        self._values = {k.lower(): v for k, v in data.items()}
        self.keys = list(data)

    def get(self, name: str) -> object:
        return _unwrap(self._values.get(name.lower()))

    def has(self, name: str) -> bool:
        return name.lower() in self._values


def _unwrap(value: object) -> object:
    """Windows PowerShell 5.1 may write an array as ``{"value": [...], "Count": n}``."""
    if isinstance(value, dict) and {k.lower() for k in value} == {"value", "count"}:
        return next(v for k, v in value.items() if k.lower() == "value")
    return value


@dataclass(frozen=True)
class _Where:
    """Where a value came from, for error messages."""

    file: str
    line: int | None
    label: str

    def error(self, message: str) -> PolicyError:
        return PolicyError(f"{self.label}: {message}", file=self.file, line=self.line)


def _scalar_text(value: object, name: str, where: _Where) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    raise where.error(f"{name} {_show(value)} is not text or a number")


def _tokens(value: object, name: str, where: _Where) -> list[str]:
    """A list property as its entries: arrays, collapsed scalars and "a,b" text alike."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        text = _scalar_text(_unwrap(item), name, where)
        if text:
            out.extend(t.strip() for t in text.split(",") if t.strip())
    return out


def _text(value: object, name: str, where: _Where) -> str:
    """A scalar property (a collapsed one-element array is fine); "" when absent."""
    tokens = value if isinstance(value, list) else [value]
    texts = [t for t in (_scalar_text(_unwrap(v), name, where) for v in tokens) if t]
    if len(texts) > 1:
        raise where.error(f"{name} {_show(value)} has several values")
    return texts[0] if texts else ""


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _enum(
    value: object,
    table: tuple[dict[str, _T], dict[int, _T]],
    name: str,
    where: _Where,
) -> _T:
    names, numbers = table
    if isinstance(value, bool) and "true" in names:
        return names["true" if value else "false"]
    text = _text(value, name, where)
    if re.fullmatch(r"-?\d+", text) and int(text) in numbers:
        return numbers[int(text)]
    if text.lower() in names:
        return names[text.lower()]
    accepted = ", ".join(sorted({str(k) for k in names} | {str(n) for n in numbers}))
    raise where.error(f"{name} {_show(value)} is not one of {accepted}")


def _profile_mask(value: object, where: _Where) -> int:
    """Rule Profile: a bitmask (0 Any, 1 Domain, 2 Private, 4 Public) or names."""
    if isinstance(value, bool):
        raise where.error(f"Profile {_show(value)} is not a profile")
    mask = 0
    for token in _tokens(value, "Profile", where):
        lowered = token.lower()
        if re.fullmatch(r"\d+", token):
            bits = int(token)
            mask |= 7 if bits == 0 or bits > 7 else bits  # 0 Any; 0x7FFFFFFF All
        elif lowered in ("any", "all", "notapplicable"):
            mask |= 7
        elif lowered in _PROFILE_BITS:
            mask |= _PROFILE_BITS[lowered]
        else:
            raise where.error(f"Profile {token!r} is not Any, Domain, Private or Public")
    return mask or 7  # absent: Any, as New-NetFirewallRule defaults


# --- Reading the file ----------------------------------------------------------------------


def _load(text: str, file: str) -> object:
    if "\x00" in text[:200]:
        raise PolicyError(
            "the text has NUL characters: a UTF-16 file read as 8-bit text "
            "(decode it with hybridports.audit.windows.decode_export)",
            file=file,
        )
    try:
        return load_json(text, file, "a Windows Firewall export")
    except PolicyError:
        raise
    except ValueError as exc:  # a number too long for int(): not a firewall export
        raise PolicyError(f"not valid JSON: {exc}", file=file) from None


@dataclass
class _Export:
    rules: list[tuple[object, int | None]]
    active: list[str]  # the host's active profiles, as the export says
    profiles: dict[str, tuple[_Obj, int | None]]  # lower-case name → settings, line
    bare: bool  # a bare array: no profile settings at all
    host: str = ""


def _read_export(data: object, file: str) -> _Export:
    data = _unwrap(data)
    where = _Where(file, None, "export")
    if isinstance(data, list):
        items: list[object] = data
        bare = True
        top: _Obj | None = None
    elif isinstance(data, dict):
        top = _Obj(data)
        if top.has("Rules"):
            rules = top.get("Rules")
            items = rules if isinstance(rules, list) else [] if rules is None else [rules]
            bare = False
        elif top.has("Direction") or top.has("Action"):
            items, bare, top = [data], True, None  # one rule: PowerShell dropped the array
        else:
            keys = ", ".join(top.keys[:8]) or "none"
            raise PolicyError(
                "not a Windows Firewall export: expected an object with Rules (and Profiles) "
                f"or an array of rules with Name, Direction and Action; found keys: {keys} "
                f"(see {EXPORT_DOC})",
                file=file,
                line=1,
            )
    else:
        raise PolicyError(
            f"not a Windows Firewall export: the JSON is {_show(data)}, expected an object "
            f"with Rules or an array of rules (see {EXPORT_DOC})",
            file=file,
            line=1,
        )
    if bare and not items:
        raise PolicyError("no rules: the JSON array is empty", file=file, line=1)
    export = _Export([(item, line_of(item)) for item in items], [], {}, bare)
    if top is None:
        return export
    export.active = _active_profiles(top.get("Profile"), where)
    export.host = " ".join(_text(top.get("Host"), "Host", where).split())
    raw_profiles = top.get("Profiles")
    entries = raw_profiles if isinstance(raw_profiles, list) else [raw_profiles]
    for entry in entries:
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise where.error(f"Profiles entry {_show(entry)} is not an object")
        settings = _Obj(entry)
        name = _profile_name(settings.get("Name"), replace(where, line=line_of(entry)))
        export.profiles[name.lower()] = (settings, line_of(entry))
    if not items and not export.profiles:
        raise PolicyError("nothing to audit: no Rules and no Profiles", file=file, line=1)
    return export


def _profile_name(value: object, where: _Where) -> str:
    text = _text(value, "profile Name", where)
    by_number = {"1": "Domain", "2": "Private", "4": "Public"}
    for name in PROFILES:
        if text.lower() == name.lower():
            return name
    if text in by_number:
        return by_number[text]
    raise where.error(f"Profiles entry Name {_show(value)} is not Domain, Private or Public")


def _active_profiles(value: object, where: _Where) -> list[str]:
    """The export's Profile: names, DomainAuthenticated, or NetworkCategory numbers."""
    out: list[str] = []
    for token in _tokens(value, "Profile", where):
        lowered = token.lower()
        if re.fullmatch(r"\d+", token) and int(token) in _NETWORK_CATEGORY:
            name = _NETWORK_CATEGORY[int(token)]
        elif lowered in ("domain", "domainauthenticated"):
            name = "Domain"
        elif lowered in ("private", "public"):
            name = lowered.capitalize()
        else:
            raise where.error(f"Profile {token!r} is not Domain, Private or Public")
        if name not in out:
            out.append(name)
    return out


# --- The audited profile --------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    name: str  # Domain, Private, Public
    enabled: bool
    inbound: Action
    outbound: Action
    inbound_label: str
    outbound_label: str
    allow_inbound_rules: bool
    allow_local_rules: bool


def _choose_profile(options: ParseOptions, export: _Export, findings: list[Finding]) -> str:
    requested = options.windows_profile.strip().lower()
    if requested not in _PROFILE_BITS:
        raise PolicyError(
            f"Windows profile {options.windows_profile!r}: use domain, private or public"
        )
    chosen = requested.capitalize()
    active = export.active
    default = ParseOptions().windows_profile
    if requested == default and active and chosen not in active:
        chosen = active[0]
        findings.append(
            Finding(
                "profile",
                "",
                f"the export says the host's active profile is {', '.join(active)}: audited "
                f"{chosen} (--profile private or public audits another profile)",
                "info",
            )
        )
    elif active and chosen not in active:
        findings.append(
            Finding(
                "profile",
                "",
                f"audited profile {chosen} is not active on the host (active: {', '.join(active)})",
            )
        )
    if len(active) > 1:
        findings.append(
            Finding(
                "profile",
                "",
                f"the host has several active profiles ({', '.join(active)}), one per network: "
                f"this audit covers the {chosen} profile only",
                "info",
            )
        )
    return chosen


def _settings(export: _Export, name: str, file: str, findings: list[Finding]) -> _Settings:
    found = export.profiles.get(name.lower())
    if found is None:
        what = "no profile settings" if not export.profiles else f"no settings for profile {name}"
        findings.append(
            Finding("profile", "", f"the export has {what}: assumed Windows defaults", "info")
        )
        label = f"profile {name} (not in the export: Windows default"
        return _Settings(
            name,
            True,
            Action.DROP,
            Action.ACCEPT,
            f"{label} Block inbound)",
            f"{label} Allow outbound)",
            True,
            True,
        )
    entry, line = found
    where = _Where(file, line, f"profile {name}")

    def gpo_bool(key: str) -> bool:
        if not entry.has(key) or entry.get(key) is None:
            return True
        return _enum(entry.get(key), _GPO_BOOLEAN, key, where) != "false"

    def default_action(key: str, windows_default: Action) -> tuple[Action, str]:
        value = entry.get(key)
        action = "notconfigured" if value is None else _enum(value, _ACTION, key, where)
        if action == "allow":
            return Action.ACCEPT, f"profile {name} {key} Allow"
        if action == "block":
            return Action.DROP, f"profile {name} {key} Block"
        word = "Block" if windows_default is Action.DROP else "Allow"
        return windows_default, f"profile {name} {key} NotConfigured (Windows default {word})"

    inbound, inbound_label = default_action("DefaultInboundAction", Action.DROP)
    outbound, outbound_label = default_action("DefaultOutboundAction", Action.ACCEPT)
    return _Settings(
        name,
        gpo_bool("Enabled"),
        inbound,
        outbound,
        inbound_label,
        outbound_label,
        gpo_bool("AllowInboundRules"),
        gpo_bool("AllowLocalFirewallRules"),
    )


# --- One rule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    obj: _Obj
    where: _Where
    inbound: bool
    action: str  # allow, block, notconfigured
    enabled: bool
    profiles: int
    local: bool  # from the host's own store (ignored when AllowLocalFirewallRules is False)


def _head(item: object, line: int | None, file: str) -> _Head:
    at = _Where(file, line, "rule")
    if not isinstance(item, dict):
        raise at.error(f"{_show(item)} is not a rule object")
    obj = _Obj(item)
    missing = [k for k in ("Name", "Direction", "Action") if obj.get(k) in (None, "")]
    if missing:
        raise at.error(
            f"no {', '.join(missing)}: not a Get-NetFirewallRule export (keys: "
            f"{', '.join(obj.keys[:8]) or 'none'}; see {EXPORT_DOC})"
        )
    name = " ".join(_text(obj.get("Name"), "Name", at).split())
    shown = " ".join(_text(obj.get("DisplayName"), "DisplayName", at).split())
    label = f"rule {name!r}" + (f" ({shown})" if shown and shown != name else "")
    where = _Where(file, line, label)
    enabled = obj.get("Enabled")
    store = _text(obj.get("PolicyStoreSourceType"), "PolicyStoreSourceType", where)
    if store:
        local = store.lower() == "local" or store == str(_STORE_TYPE_LOCAL)
    else:  # hand-made exports: the store's name says it
        source = _text(obj.get("PolicyStoreSource"), "PolicyStoreSource", where)
        local = source.lower() == "persistentstore"
    return _Head(
        obj,
        where,
        _enum(obj.get("Direction"), _DIRECTION, "Direction", where) == "in",
        _enum(obj.get("Action"), _ACTION, "Action", where),
        True if enabled is None else _enum(enabled, _RULE_ENABLED, "Enabled", where),
        _profile_mask(obj.get("Profile"), where),
        local,
    )


@dataclass
class _Ports:
    ports: Intervals | None = None  # None: Any
    rpc: bool = False
    epmap: bool = False
    keywords: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.ports is None and not (self.rpc or self.epmap or self.keywords)


def _ports(value: object, name: str, where: _Where) -> _Ports:
    tokens = _tokens(value, name, where)
    if not tokens or any(t.lower() in ("any", "*") for t in tokens):
        return _Ports()
    out = _Ports(EMPTY)
    for token in tokens:
        match = _PORT.fullmatch(token)
        if match:
            low = int(match.group(1))
            high = int(match.group(2) or low)
            if high > 65535 or low > high:
                raise where.error(f"{name} {token!r} is not a port or port range")
            out.ports = (out.ports or EMPTY) | Intervals.span(low, high)
        elif token.lower() == "rpc":
            out.rpc = True
        elif token.lower() in ("rpcepmap", "rpc-epmap"):
            out.epmap = True
        elif _WORD.fullmatch(token):
            out.keywords.append(token)
        else:
            raise where.error(f"{name} {token!r} is not a port, port range or keyword")
    if not out.ports:
        out.ports = None if (out.rpc or out.epmap or out.keywords) else out.ports
    return out


def _protocol(
    value: object, where: _Where, unknown: list[str]
) -> tuple[frozenset[str] | None, frozenset[int] | None]:
    text = _text(value, "Protocol", where)
    if not text or text.lower() in ("any", "*", "256"):
        return None, None
    number = int(text) if text.isdigit() else _PROTOCOL_NAMES.get(text.lower())
    if number is None:
        unknown.append(f"Protocol {text}")
        return None, None
    if number > 255:
        raise where.error(f"Protocol {text!r} is not a protocol number (0-255)")
    name, families = _PROTOCOL_MATCH.get(number, (str(number), None))
    return frozenset({name}), families


def _addresses(
    value: object, name: str, where: _Where, findings: list[Finding]
) -> AddressMatch | None:
    tokens = _tokens(value, name, where)
    if not tokens or any(t.lower() in ("any", "*") for t in tokens):
        return None
    addresses = EMPTY
    keywords: list[str] = []
    strange: list[str] = []
    for token in tokens:
        try:
            if "-" in token:
                first, last = (part.strip() for part in token.split("-", 1))
                span = address_range(first, last)
                if not span:
                    raise ValueError("range runs backwards")
                addresses |= span
                continue
            addresses |= network_interval(token)
            continue
        except ValueError:
            if not _WORD.fullmatch(token):
                raise where.error(
                    f"{name} {token!r} is not an address, subnet, range or keyword"
                ) from None
        known = _ADDRESS_KEYWORDS.get(token.lower())
        (keywords if known else strange).append(known or token)
    if keywords:
        findings.append(
            Finding(
                "undecidable",
                where.label,
                f"{name} {', '.join(keywords)}: a set Windows resolves on the host at run time; "
                "whether a flow's address is in it cannot be told from the export",
            )
        )
    if strange:
        findings.append(
            Finding(
                "unknown-construct",
                where.label,
                f"{name} {', '.join(strange)}: not an address keyword this parser knows",
            )
        )
    unresolved = ", ".join(keywords + strange) or None
    return AddressMatch(addresses, unresolved=unresolved)


def _icmp_types(tokens: list[str], unknown: list[str]) -> frozenset[int] | None:
    """IcmpType "8" or "8:0" (type:code): the types; anything else is unknown."""
    types: set[int] = set()
    for token in tokens:
        kind, _, code = token.partition(":")
        if not re.fullmatch(r"[0-9]{1,3}", kind) or (code and code not in ("*", "0")):
            unknown.append(f"IcmpType {token}")
            return None
        types.add(int(kind))
    return frozenset(types)


def _is_any(text: str) -> bool:
    return text.lower() in ("", "any", "*")


def _conditions(
    head: _Head, unknown: list[str], findings: list[Finding]
) -> tuple[str | None, str | None]:
    """Filters the flow cannot tell (interface, IPsec condition) go to ``unknown``; the
    program and service filters are returned, as the evaluator's lower-case names."""
    obj, where = head.obj, head.where
    program_name: str | None = None
    service_name: str | None = None
    application = _filter(obj, "ApplicationFilter", where, unknown, required=True)
    if application:
        program = _text(application.get("Program"), "Program", where)
        if not _is_any(program):
            program_name = _program_name(program)
        package = _text(application.get("Package"), "Package", where)
        if not _is_any(package):
            unknown.append(f"Package {package}")
    service = _filter(obj, "ServiceFilter", where, unknown, required=True)
    if service:
        name = _text(service.get("Service"), "Service", where)
        if name == "*":
            unknown.append("Service * (services only)")
        elif not _is_any(name):
            service_name = name.lower()
    interface_type = _filter(obj, "InterfaceTypeFilter", where, unknown, required=True)
    if interface_type:
        kind = _text(interface_type.get("InterfaceType"), "InterfaceType", where)
        if not _is_any(kind) and kind != "0":
            unknown.append(f"InterfaceType {kind}")
    interface = _filter(obj, "InterfaceFilter", where, unknown, required=False)
    if interface:
        aliases = _tokens(interface.get("InterfaceAlias"), "InterfaceAlias", where)
        if aliases and not any(_is_any(a) for a in aliases):
            unknown.append(f"InterfaceAlias {', '.join(aliases)}")
    security = _filter(obj, "SecurityFilter", where, unknown, required=False)
    if security:
        for key, allowed in (("Authentication", ("notrequired", "0")),
                             ("Encryption", ("notrequired", "0"))):  # fmt: skip
            value = _text(security.get(key), key, where)
            if value and value.lower() not in allowed:
                unknown.append(f"{key} {value} (IPsec)")
        for key in ("LocalUser", "RemoteUser", "RemoteMachine"):
            value = _text(security.get(key), key, where)
            if not _is_any(value):
                unknown.append(f"{key} {value}")
    keywords = _tokens(obj.get("RemoteDynamicKeywordAddresses"), "dynamic keywords", where)
    if keywords:
        unknown.append(f"RemoteDynamicKeywordAddresses {', '.join(keywords)}")
    return program_name, service_name


def _program_name(path: str) -> str:
    """'%SystemRoot%\\System32\\lsass.exe' → 'lsass.exe'; 'System' → 'system'."""
    return path.replace("/", "\\").rsplit("\\", 1)[-1].strip().lower()


def _filter(obj: _Obj, key: str, where: _Where, unknown: list[str], required: bool) -> _Obj | None:
    value = obj.get(key)
    if isinstance(value, list) and len(value) == 1:
        value = _unwrap(value[0])
    if value is None:
        if required:
            unknown.append(f"no {key} in the export")
        return None
    if isinstance(value, str):
        raise where.error(
            f"{key} is the text {_show(value)}, not an object: export with ConvertTo-Json "
            "-Depth 6 or more"
        )
    if not isinstance(value, dict):
        raise where.error(f"{key} {_show(value)} is not an object")
    return _Obj(value)


def _override(head: _Head) -> bool:
    security = head.obj.get("SecurityFilter")
    if isinstance(security, list) and len(security) == 1:
        security = security[0]
    if not isinstance(security, dict):
        return False
    value = _Obj(security).get("OverrideBlockRules")
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


def _compile(head: _Head, findings: list[Finding]) -> list[Rule]:
    """One Windows rule as one or more model rules (split where one Match cannot hold it,
    e.g. ``LocalPort RPC, 135``; same action and label, so first-match order is unchanged)."""
    obj, where, inbound = head.obj, head.where, head.inbound
    unknown: list[str] = []
    if head.action == "notconfigured":
        unknown.append("Action NotConfigured")
    protocols: frozenset[str] | None = None
    families: frozenset[int] | None = None
    dest, src = _Ports(), _Ports()
    local_port, remote_port = "LocalPort", "RemotePort"
    dest_name, src_name = (local_port, remote_port) if inbound else (remote_port, local_port)
    icmp_types: frozenset[int] | None = None
    ports = _filter(obj, "PortFilter", where, unknown, required=True)
    if ports:
        protocols, families = _protocol(ports.get("Protocol"), where, unknown)
        dest = _ports(ports.get(dest_name), dest_name, where)
        src = _ports(ports.get(src_name), src_name, where)
        icmp = _tokens(ports.get("IcmpType"), "IcmpType", where)
        if icmp and not any(_is_any(t) for t in icmp):
            icmp_types = _icmp_types(icmp, unknown)
        target = _text(ports.get("DynamicTarget"), "DynamicTarget", where)
        if not _is_any(target) and target != "0":
            unknown.append(f"DynamicTarget {target}")
    source = destination = None
    addresses = _filter(obj, "AddressFilter", where, unknown, required=True)
    if addresses:
        local = _addresses(addresses.get("LocalAddress"), "LocalAddress", where, findings)
        remote = _addresses(addresses.get("RemoteAddress"), "RemoteAddress", where, findings)
        source, destination = (remote, local) if inbound else (local, remote)
    program, service = _conditions(head, unknown, findings)
    if src.rpc or src.epmap or src.keywords:
        words = (["RPC"] if src.rpc else []) + (["RPCEPMap"] if src.epmap else []) + src.keywords
        unknown.append(f"{src_name} {', '.join(words)}")
    if _override(head):
        unknown.append(
            "OverrideBlockRules (authenticated bypass: passes IPsec-authenticated peers only, "
            "even past block rules)"
        )

    # Destination ports: numbers, the RPC keywords, or keywords we cannot resolve.
    rpc_here = inbound and protocols == frozenset({"tcp"})
    variants: list[tuple[Intervals | None, bool, str | None]] = []
    if dest.any:
        variants.append((None, False, None))
    else:
        numbers = dest.ports or EMPTY
        keywords = list(dest.keywords)
        if dest.epmap:
            if rpc_here:
                numbers |= Intervals.span(EPMAP_PORT, EPMAP_PORT)
            else:
                keywords.append("RPCEPMap")
        if numbers:
            variants.append((numbers, False, None))
        if dest.rpc:
            if rpc_here:
                variants.append((None, True, None))
            else:
                keywords.append("RPC")
        if keywords:
            variants.append((None, False, f"{dest_name} {', '.join(keywords)}"))
    base = Match(
        source=source,
        destination=destination,
        protocols=protocols,
        source_ports=src.ports,
        families=families,
        icmp_types=icmp_types,
        program=program,
        service=service,
    )
    action = Action.ACCEPT if head.action == "allow" else Action.DROP
    rules: list[Rule] = []
    for port_set, rpc, extra in variants:
        reasons = unknown + ([extra] if extra else [])
        match = replace(base, ports=port_set, rpc_dynamic=rpc, unknown="; ".join(reasons) or None)
        rules.append(Rule(match, action, where.label, line=where.line))
    reasons = unknown + [extra for _, _, extra in variants if extra]
    if reasons:
        findings.append(
            Finding(
                "unknown-construct",
                where.label,
                f"{'; '.join(reasons)}: the rule may or may not match a flow it otherwise "
                "would, so its verdict is unknown",
            )
        )
    return rules


# --- The parser -----------------------------------------------------------------------------


@dataclass
class _Counts:
    total: int = 0
    disabled: int = 0
    other_profile: int = 0
    local_ignored: int = 0
    shielded: int = 0
    kept: dict[str, int] = field(default_factory=lambda: {"block": 0, "allow": 0, "bypass": 0})


class WindowsFirewallParser(PolicyParser):
    name: ClassVar[str] = "windows"
    description: ClassVar[str] = "Get-NetFirewallRule export (JSON) with port and address filters"

    def parse(self, text: str, file: str, options: ParseOptions) -> Ruleset:
        text = text.removeprefix("\ufeff")
        export = _read_export(_load(text, file), file)
        findings: list[Finding] = []
        profile = _choose_profile(options, export, findings)
        settings = _settings(export, profile, file, findings)
        heads = [_head(item, line, file) for item, line in export.rules]
        if heads and not any(h.obj.has("PortFilter") or h.obj.has("AddressFilter") for h in heads):
            raise PolicyError(
                "the rules carry no PortFilter or AddressFilter: a plain Get-NetFirewallRule "
                f"dump cannot be audited; export with the script in {EXPORT_DOC}",
                file=file,
            )
        if heads and not any(h.obj.has("SecurityFilter") for h in heads):
            findings.append(
                Finding(
                    "unknown-construct",
                    "",
                    "the export has no SecurityFilter: IPsec conditions and authenticated-bypass "
                    "rules were not checked",
                    "info",
                )
            )
        counts = _Counts(total=len(heads))
        sections: dict[bool, dict[str, list[Rule]]] = {
            d: {"bypass": [], "block": [], "allow": []} for d in (True, False)
        }
        bit = _PROFILE_BITS[profile.lower()]
        for head in heads:
            if not head.enabled:
                counts.disabled += 1
            elif not head.profiles & bit:
                counts.other_profile += 1
            elif head.local and not settings.allow_local_rules:
                counts.local_ignored += 1
            elif (
                head.inbound
                and head.action == "allow"
                and not settings.allow_inbound_rules
                and not _override(head)
            ):
                counts.shielded += 1
            else:
                kind = "bypass" if head.action == "allow" and _override(head) else head.action
                kind = "block" if kind == "notconfigured" else kind
                counts.kept[kind] += 1
                sections[head.inbound][kind].extend(_compile(head, findings))
        findings.extend(_profile_findings(settings, counts))
        chains: dict[str, Chain] = {}
        for inbound, key in ((True, INBOUND_KEY), (False, OUTBOUND_KEY)):
            parts = sections[inbound]
            if settings.enabled:
                rules = tuple(parts["bypass"] + parts["block"] + parts["allow"])
                policy = settings.inbound if inbound else settings.outbound
                label = settings.inbound_label if inbound else settings.outbound_label
            else:
                rules, policy = (), Action.ACCEPT
                label = f"profile {settings.name} Enabled False (firewall off)"
            chains[key] = Chain(key, rules, policy, label)
        return Ruleset(
            format=self.name,
            file=file,
            chains=chains,
            hooks={"input": (INBOUND_KEY,), "output": (OUTBOUND_KEY,)},
            host_policy=True,
            findings=findings,
            summary=(f"host {export.host}, " if export.host else "") + _summary(settings, counts),
        )


def _profile_findings(settings: _Settings, counts: _Counts) -> list[Finding]:
    out: list[Finding] = []
    name = settings.name
    if not settings.enabled:
        out.append(
            Finding(
                "firewall-disabled",
                f"profile {name} Enabled False (firewall off)",
                f"Windows Firewall is off for the {name} profile: every flow passes and the "
                f"{counts.total} rules in the export do not apply",
                "error",
            )
        )
        return out
    if settings.inbound is Action.ACCEPT:
        out.append(
            Finding(
                "overly-permissive",
                settings.inbound_label,
                f"the {name} profile accepts every inbound connection no block rule stops",
            )
        )
    if counts.shielded:
        out.append(
            Finding(
                "ignored-rules",
                f"profile {name} AllowInboundRules False",
                f"the {name} profile blocks all inbound connections: {counts.shielded} inbound "
                "allow rules do not apply",
                "info",
            )
        )
    if counts.local_ignored:
        out.append(
            Finding(
                "ignored-rules",
                f"profile {name} AllowLocalFirewallRules False",
                f"{counts.local_ignored} rules from the host's own store do not apply: Group "
                "Policy turned off local rule merging",
                "info",
            )
        )
    return out


def _summary(settings: _Settings, counts: _Counts) -> str:
    state = "" if settings.enabled else ", firewall off"
    kept = counts.kept
    parts = [
        f"profile {settings.name}{state}: {counts.total} rules",
        f"{kept['block']} block, {kept['allow']} allow"
        + (f", {kept['bypass']} authenticated bypass" if kept["bypass"] else "")
        + " in force",
        f"{counts.disabled} disabled",
        f"{counts.other_profile} for other profiles",
    ]
    if counts.local_ignored:
        parts.append(f"{counts.local_ignored} local rules not merged")
    if counts.shielded:
        parts.append(f"{counts.shielded} inbound allow rules shielded")
    return ", ".join(parts)
