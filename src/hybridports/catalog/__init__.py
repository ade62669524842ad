"""The flow catalog: data files inside the package, validated once at load time."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hybridports._yaml import YamlDoc, read_yaml
from hybridports.errors import UserError
from hybridports.model import (
    ALWAYS,
    CatalogFlow,
    Cloud,
    Endpoint,
    Fact,
    Feature,
    PortRange,
    Role,
    Transport,
    Unclear,
)

DATA_DIR = Path(__file__).parent

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9*-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Catalog:
    flows: tuple[CatalogFlow, ...]
    endpoints: tuple[Endpoint, ...]
    facts: tuple[Fact, ...]
    unclear: tuple[Unclear, ...]
    # (endpoint id, source role) → id of the generic cloud flow it concretises
    endpoint_flow: dict[tuple[str, Role], str] = field(default_factory=dict)

    def flow(self, flow_id: str) -> CatalogFlow:
        return self._by_id[flow_id]

    @cached_property
    def _by_id(self) -> dict[str, CatalogFlow]:
        return {f.id: f for f in self.flows}

    def endpoints_for(self, cloud: Cloud) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.cloud is cloud)


@cache
def load_catalog(directory: Path = DATA_DIR) -> Catalog:
    """Load and cross-check the catalog; a broken entry is a UserError with file and line."""
    flows = tuple(_load_flows(read_yaml(directory / "flows.yaml", what="catalog file")))
    endpoints = tuple(_load_endpoints(read_yaml(directory / "endpoints.yaml", what="catalog file")))
    facts = tuple(_load_simple(read_yaml(directory / "facts.yaml", what="catalog file"), Fact))
    unclear = tuple(
        _load_simple(read_yaml(directory / "unclear.yaml", what="catalog file"), Unclear)
    )
    catalog = Catalog(flows, endpoints, facts, unclear)
    _check_unique(directory / "flows.yaml", (f.id for f in flows), "flow id")
    _check_unique(directory / "endpoints.yaml", (e.id for e in endpoints), "endpoint id")
    _check_unique(directory / "facts.yaml", (f.id for f in facts), "fact id")
    _check_unclear_refs(directory, catalog)
    catalog.endpoint_flow.update(_link_endpoints(directory / "endpoints.yaml", catalog))
    return catalog


def _items(doc: YamlDoc, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get(key), list):
        raise UserError(f"expected a top-level '{key}:' list", file=doc.file, line=1)
    for index, item in enumerate(doc.data[key]):
        if not isinstance(item, dict):
            raise doc.error((key, index), "entry is not a mapping")
        yield index, item


def _validated(doc: YamlDoc, path: tuple[str | int, ...], model: type[Any], data: dict[str, Any]):  # type: ignore[no-untyped-def]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first["loc"] if isinstance(p, str))
        field_path = (*path, *loc[:1])
        name = data.get("id") or data.get("printed") or "?"
        where = ".".join(str(p) for p in first["loc"]) or "entry"
        raise doc.error(
            field_path, f"catalog entry {name!r}: {where}: {first['msg']}", key=bool(loc) is False
        ) from None


def _load_flows(doc: YamlDoc) -> Iterator[CatalogFlow]:
    for index, item in _items(doc, "flows"):
        sources = item.get("source")
        if isinstance(sources, list):
            if "{source}" not in str(item.get("id", "")):
                raise doc.error(
                    ("flows", index, "id"), "a flow with several sources needs '{source}' in its id"
                )
            for source in sources:
                one = {
                    **item,
                    "source": source,
                    "id": str(item["id"]).replace("{source}", str(source)),
                }
                yield _validated(doc, ("flows", index), CatalogFlow, one)
        else:
            yield _validated(doc, ("flows", index), CatalogFlow, item)


def normalise_name(printed: str) -> dict[str, Any]:
    """Derive host, path, wildcard and implied port from a name as Microsoft prints it."""
    text = printed.strip()
    implied: int | None = None
    scheme = re.match(r"^(https?)://", text, re.IGNORECASE)
    if scheme:
        implied = 443 if scheme.group(1).lower() == "https" else 80
        text = text[scheme.end() :]
    path = None
    if "/" in text:
        text, _, rest = text.partition("/")
        path = "/" + rest.rstrip("/") if rest.strip("/") else None
    port_suffix = re.search(r":(\d+)$", text)
    if port_suffix:
        implied = int(port_suffix.group(1))
        text = text[: port_suffix.start()]
    host = re.sub(r"^\*+\.", "*.", text.lower())
    return {"host": host, "path": path, "implied_port": implied}


def _valid_name(host: str) -> bool:
    labels = host.split(".")
    return len(labels) >= 2 and all(_DNS_LABEL.match(label) for label in labels)


def _load_endpoints(doc: YamlDoc) -> Iterator[Endpoint]:
    for index, item in _items(doc, "endpoints"):
        hosts = item.get("hosts")
        if not isinstance(hosts, list) or not hosts:
            raise doc.error(("endpoints", index), "endpoint entry needs a non-empty 'hosts' list")
        shared = {k: v for k, v in item.items() if k != "hosts"}
        for h_index, entry in enumerate(hosts):
            path = ("endpoints", index, "hosts", h_index)
            spec = {"printed": entry} if isinstance(entry, str) else dict(entry)
            if not isinstance(spec.get("printed"), str):
                raise doc.error(path, "host entry needs a 'printed' name")
            derived = normalise_name(spec["printed"])
            implied = derived.pop("implied_port")
            record = {**shared, **derived, **spec}
            try:
                ports = PortRange.parse(record.get("ports"))
            except ValueError as exc:
                raise doc.error(("endpoints", index, "ports"), str(exc)) from None
            if implied is not None and not ports.covers(PortRange(implied, implied)):
                raise doc.error(
                    path, f"{spec['printed']!r} implies port {implied}, entry says {ports}"
                )
            host = str(record["host"])
            if not _valid_name(host.replace("*", "x")):
                raise doc.error(path, f"not a DNS name: {host!r}")
            record["wildcard"] = "*" in host
            record["id"] = f"{record.get('cloud')}-{record.get('feature')}-{host}-" + (
                f"{record.get('transport')}{ports}"
            )
            yield _validated(doc, path, Endpoint, record)


def _load_simple(doc: YamlDoc, model: type[Any]) -> Iterator[Any]:
    key = "facts" if model is Fact else "unclear"
    for index, item in _items(doc, key):
        yield _validated(doc, (key, index), model, item)


def _check_unique(file: Path, ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise UserError(f"duplicate {what} {value!r}", file=file)
        seen.add(value)


def _check_unclear_refs(directory: Path, catalog: Catalog) -> None:
    known = {u.id for u in catalog.unclear}
    records: tuple[CatalogFlow | Endpoint, ...] = (*catalog.flows, *catalog.endpoints)
    for record in records:
        for ref in record.unclear:
            if ref not in known:
                raise UserError(
                    f"{record.id}: unknown unclear item {ref!r}", file=directory / "unclear.yaml"
                )


def _link_endpoints(file: Path, catalog: Catalog) -> dict[tuple[str, Role], str]:
    """Each endpoint, for each of its source roles, must concretise one cloud flow."""
    links: dict[tuple[str, Role], str] = {}
    cloud_flows = [f for f in catalog.flows if f.destination is Role.ENTRA]
    for endpoint in catalog.endpoints:
        for role in endpoint.sources:
            candidates = [
                f
                for f in cloud_flows
                if f.source is role
                and f.transport is endpoint.transport
                and f.ports.covers(endpoint.ports)
                and _feature_matches(endpoint.feature, f.features)
            ]
            # Several generic flows can fit (registration vs. service names): the one that
            # shares a specification id with the endpoint is meant, else the first.
            shared = [f for f in candidates if set(f.spec) & set(endpoint.spec)]
            best = (shared or candidates)[:1]
            match = best[0].id if best else None
            if match is None:
                raise UserError(
                    f"endpoint {endpoint.id!r}: no cloud flow from {role} for feature "
                    f"{endpoint.feature} on {endpoint.transport} {endpoint.ports}",
                    file=file,
                )
            links[(endpoint.id, role)] = match
    return links


def _feature_matches(feature: str, flow_features: tuple[str, ...]) -> bool:
    if feature == ALWAYS:
        return ALWAYS in flow_features
    return feature in flow_features


__all__ = ["Catalog", "Cloud", "Feature", "Transport", "load_catalog", "normalise_name"]
