"""The network security groups in an Azure export, before any rule is interpreted.

Three shapes hold them: an ARM template (NSG resources with ``properties.securityRules``,
child ``securityRules`` resources, separate ``networkSecurityGroups/securityRules``
resources, nested deployments), ``az network nsg show`` (one NSG, rules flattened, with
``defaultSecurityRules``) and ``az network nsg list`` (an array of those). Property names
are compared without case: the REST API, the CLI and PowerShell disagree on it.

ARM expressions are resolved only to name things (``[parameters('nsgName')]`` → its default
value): deployment parameters can override defaults, so a rule field holding an expression
is left to the parser to report, never evaluated here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hybridports.audit.interface import PolicyError
from hybridports.audit.jsontext import line_of

NSG_TYPE = "microsoft.network/networksecuritygroups"
RULE_TYPE = "microsoft.network/networksecuritygroups/securityrules"
DEPLOYMENT_TYPE = "microsoft.resources/deployments"
MAX_DEPTH = 8  # nested deployments and expressions; real templates use one or two levels
NOT_NSG = "not an Azure NSG export (no securityRules)"


@dataclass
class RawRule:
    """One security rule as written: its properties with lower-case names."""

    name: str
    fields: dict[str, Any]
    line: int | None
    default: bool = False  # listed under defaultSecurityRules, or added by the parser


@dataclass
class RawNsg:
    name: str
    line: int | None
    rules: dict[tuple[bool, str], RawRule] = field(default_factory=dict)

    def add(self, rule: RawRule, file: str, replace: bool = False) -> None:
        """One rule per name, as Azure keeps them. An exported template lists each rule
        twice (inline and as a resource); a separate resource (``replace``) is deployed
        after its NSG and wins. Two different rules of one name in one list are an error."""
        key = (rule.default, rule.name.lower())
        before = self.rules.get(key)
        if before is not None and not replace and _essence(before) != _essence(rule):
            raise PolicyError(
                f"nsg {self.name}: two different rules named {rule.name}",
                file=file,
                line=rule.line,
            )
        self.rules[key] = rule


# The properties that make a rule what it is (ids, etags and descriptions do not).
_ESSENTIAL = (
    "priority",
    "direction",
    "access",
    "protocol",
    "sourceaddressprefix",
    "sourceaddressprefixes",
    "sourceportrange",
    "sourceportranges",
    "sourceapplicationsecuritygroups",
    "destinationaddressprefix",
    "destinationaddressprefixes",
    "destinationportrange",
    "destinationportranges",
    "destinationapplicationsecuritygroups",
)


def _essence(rule: RawRule) -> tuple[Any, ...]:
    return tuple(rule.fields.get(name) or None for name in _ESSENTIAL)


def lower(obj: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


def is_expression(value: object) -> bool:
    """An ARM template expression: "[...]" (a leading "[[" escapes a literal bracket)."""
    return (
        isinstance(value, str)
        and value.startswith("[")
        and value.endswith("]")
        and not value.startswith("[[")
    )


def read_nsgs(document: Any, file: str) -> list[RawNsg]:
    """Every NSG of the document with its rules; PolicyError when there are none."""
    if isinstance(document, list):
        if not document:
            raise PolicyError(
                "an empty list: no network security groups (az network nsg list output?)",
                file=file,
                line=1,
            )
        if not any(isinstance(item, dict) and _is_nsg(item) for item in document):
            raise PolicyError(NOT_NSG, file=file)
        nsgs = []
        for index, item in enumerate(document, 1):
            if not isinstance(item, dict) or not _is_nsg(item):
                raise PolicyError(
                    f"list item {index} is not a network security group",
                    file=file,
                    line=line_of(item),
                )
            nsgs.append(_shown(item, file, index))
        return nsgs
    if not isinstance(document, dict):
        raise PolicyError(NOT_NSG, file=file)
    top = lower(document)
    if "resources" in top:
        nsgs = _Template(file).read(document)
        if not nsgs:
            raise PolicyError(NOT_NSG + ": an ARM template without NSG resources", file=file)
        return nsgs
    if _is_nsg(document):
        return [_shown(document, file, 1)]
    raise PolicyError(NOT_NSG, file=file)


def _properties(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's properties: nested under "properties" (REST, ARM) or flattened (CLI)."""
    fields = lower(obj)
    nested = fields.get("properties")
    if isinstance(nested, dict):
        return {**fields, **lower(nested)}
    return fields


def _is_nsg(obj: dict[str, Any]) -> bool:
    fields = _properties(obj)
    kind = fields.get("type")
    return (
        "securityrules" in fields
        or "defaultsecurityrules" in fields
        or (isinstance(kind, str) and kind.lower() == NSG_TYPE)
    )


def _shown(obj: dict[str, Any], file: str, index: int) -> RawNsg:
    """One NSG as az network nsg show prints it (or as the REST API returns it)."""
    fields = _properties(obj)
    name = fields.get("name")
    if not isinstance(name, str) or not name:
        name = f"#{index}"
    nsg = RawNsg(name, line_of(obj))
    for key, default in (("securityRules", False), ("defaultSecurityRules", True)):
        for item in _rule_list(fields.get(key.lower()), key, nsg, file, line_of(obj)):
            nsg.add(_rule(item, file, nsg.name, default, None), file)
    return nsg


def _rule_list(
    value: Any, key: str, nsg: RawNsg, file: str, line: int | None
) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PolicyError(
            f"nsg {nsg.name}: {key} must be a list of rule objects", file=file, line=line
        )
    return value


def _rule(obj: dict[str, Any], file: str, nsg: str, default: bool, scope: _Scope | None) -> RawRule:
    fields = _properties(obj)
    name = fields.pop("name", None)
    fields.pop("properties", None)
    if not isinstance(name, str) or not name:
        raise PolicyError(
            f"nsg {nsg}: a security rule without a name", file=file, line=line_of(obj)
        )
    resolved = scope.resolve(name) if scope is not None else name
    # "nsg/rule" names the rule by its last part; an unresolved expression stays whole.
    name = name if resolved is None else resolved.rsplit("/", 1)[-1]
    return RawRule(name, fields, line_of(obj), default)


class _Template:
    """An ARM template's NSGs, including separate rule resources and nested deployments."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.nsgs: dict[str, RawNsg] = {}  # by lower-case name
        # Separate rule resources: (NSG name if it could be resolved, the rule).
        self.separate: list[tuple[str | None, str, RawRule]] = []

    def read(self, template: dict[str, Any]) -> list[RawNsg]:
        self._template(template, 0)
        for nsg_name, written, rule in self.separate:
            if nsg_name is None and len(self.nsgs) == 1:
                nsg = next(iter(self.nsgs.values()))  # the one NSG the template declares
            else:
                key = nsg_name or written
                nsg = self.nsgs.get(key.lower()) or RawNsg(key, rule.line)
                self.nsgs.setdefault(key.lower(), nsg)
            nsg.add(rule, self.file, replace=True)
        return list(self.nsgs.values())

    def _template(self, template: dict[str, Any], depth: int) -> None:
        fields = lower(template)
        scope = _Scope(fields.get("parameters"), fields.get("variables"))
        resources = fields.get("resources")
        if isinstance(resources, dict):  # languageVersion 2.0: symbolic names
            resources = list(resources.values())
        if not isinstance(resources, list):
            return
        for resource in resources:
            if isinstance(resource, dict):
                self._resource(resource, scope, depth)

    def _resource(self, resource: dict[str, Any], scope: _Scope, depth: int) -> None:
        fields = lower(resource)
        kind = fields.get("type")
        kind = kind.lower() if isinstance(kind, str) else ""
        written = fields.get("name")
        written = written if isinstance(written, str) else ""
        name = scope.resolve(written) if written else None
        if kind == NSG_TYPE:
            nsg_name = name or written or f"#{len(self.nsgs) + 1}"
            nsg = self.nsgs.setdefault(nsg_name.lower(), RawNsg(nsg_name, line_of(resource)))
            properties = fields.get("properties")
            listed = (
                lower(properties).get("securityrules") if isinstance(properties, dict) else None
            )
            for item in _rule_list(listed, "securityRules", nsg, self.file, line_of(resource)):
                nsg.add(_rule(item, self.file, nsg.name, False, scope), self.file)
            children = fields.get("resources")
            for child in children if isinstance(children, list) else []:
                child_kind = lower(child).get("type") if isinstance(child, dict) else None
                if isinstance(child_kind, str) and child_kind.lower() in (
                    "securityrules",
                    RULE_TYPE,
                ):
                    nsg.add(_rule(child, self.file, nsg.name, False, scope), self.file, True)
        elif kind == RULE_TYPE:
            rule = _rule(resource, self.file, "?", False, scope)
            owner = name.split("/", 1)[0] if name and "/" in name else None
            self.separate.append((owner, written, rule))
        elif kind == DEPLOYMENT_TYPE and depth < MAX_DEPTH:
            properties = fields.get("properties")
            inner = lower(properties).get("template") if isinstance(properties, dict) else None
            if isinstance(inner, dict):
                self._template(inner, depth + 1)


class _Unresolved(Exception):
    pass


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"-?\d+")
_PLACEHOLDER = re.compile(r"\{(\d+)(?::[^}]*)?\}")


class _Scope:
    """Parameters' default values and variables: enough to name NSGs and their rules."""

    def __init__(self, parameters: Any, variables: Any) -> None:
        self.parameters = lower(parameters) if isinstance(parameters, dict) else {}
        self.variables = lower(variables) if isinstance(variables, dict) else {}

    def resolve(self, text: str, depth: int = 0) -> str | None:
        """The string an expression stands for, None when it needs more than we know."""
        if not is_expression(text):
            return text[1:] if text.startswith("[[") else text
        if depth > MAX_DEPTH:
            return None
        try:
            parser = _Expression(text[1:-1], self, depth)
            value = parser.value()
            parser.skip()
            if parser.position != len(parser.text):
                return None
        except (_Unresolved, IndexError, RecursionError):
            return None
        return value if isinstance(value, str) else None


class _Expression:
    """A recursive-descent reader of the few ARM functions that build names."""

    def __init__(self, text: str, scope: _Scope, depth: int) -> None:
        self.text, self.scope, self.depth = text, scope, depth
        self.position = 0

    def skip(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def value(self) -> str | int:
        self.skip()
        if self.text[self.position] == "'":
            return self._string()
        number = _NUMBER.match(self.text, self.position)
        if number:
            self.position = number.end()
            return int(number.group())
        ident = _IDENT.match(self.text, self.position)
        if not ident:
            raise _Unresolved
        self.position = ident.end()
        self.skip()
        if self.text[self.position] != "(":
            raise _Unresolved
        self.position += 1
        args: list[str | int] = []
        self.skip()
        if self.text[self.position] == ")":
            self.position += 1
        else:
            while True:
                args.append(self.value())
                self.skip()
                char = self.text[self.position]
                self.position += 1
                if char == ")":
                    break
                if char != ",":
                    raise _Unresolved
        return self._call(ident.group().lower(), args)

    def _string(self) -> str:
        out: list[str] = []
        self.position += 1
        while True:
            char = self.text[self.position]
            self.position += 1
            if char == "'":
                if self.position < len(self.text) and self.text[self.position] == "'":
                    out.append("'")
                    self.position += 1
                    continue
                return "".join(out)
            out.append(char)

    def _call(self, function: str, args: list[str | int]) -> str:
        texts = [a if isinstance(a, str) else str(a) for a in args]
        if function in ("parameters", "variables") and len(args) == 1:
            found = self.scope.parameters if function == "parameters" else self.scope.variables
            value = found.get(texts[0].lower())
            if function == "parameters":
                value = lower(value).get("defaultvalue") if isinstance(value, dict) else None
            resolved = self.scope.resolve(value, self.depth + 1) if isinstance(value, str) else None
            if resolved is None:
                raise _Unresolved
            return resolved
        if function == "concat":
            return "".join(texts)
        if function == "format" and texts:
            rest = texts[1:]

            def fill(match: re.Match[str]) -> str:
                index = int(match.group(1))
                if index >= len(rest):
                    raise _Unresolved
                return rest[index]

            return _PLACEHOLDER.sub(fill, texts[0])
        if function == "tolower" and len(texts) == 1:
            return texts[0].lower()
        if function == "toupper" and len(texts) == 1:
            return texts[0].upper()
        raise _Unresolved
