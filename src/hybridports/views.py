"""Documents for the report formats: the catalog and a plan as JSON and as tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hybridports.catalog import Catalog
from hybridports.model import CatalogFlow, Cloud, Endpoint
from hybridports.plan import Plan, PlannedFlow
from hybridports.provenance import provenance

if TYPE_CHECKING:  # the probe machinery is imported only by the probe command
    from hybridports.probe.runner import CheckResult
    from hybridports.probe.session import ProbeRun
from hybridports.report.interface import Table


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _port(transport: str, ports: Any) -> str:
    return f"{ports}/{transport}"


def flow_json(flow: CatalogFlow) -> dict[str, Any]:
    return {
        "id": flow.id,
        "source": flow.source.value,
        "destination": flow.destination.value,
        "protocol": flow.protocol,
        "transport": flow.transport.value,
        "ports": flow.ports.as_list(),
        "features": list(flow.features),
        "condition": flow.condition,
        "purpose": flow.purpose,
        "reference": flow.reference,
        "note": flow.note,
        "phase": flow.phase.coarse,
        "phase_detail": flow.phase.value,
        "level": flow.level.value,
        "required": flow.level.required,
        "requires": list(flow.requires),
        "required_with": list(flow.required_with),
        "runtime_with": list(flow.runtime_with),
        "destination_note": flow.destination_note,
        "rpc_dynamic": flow.rpc_dynamic,
        "confidence": flow.confidence.value,
        "spec": list(flow.spec),
        "section": flow.section,
        "page_date": _iso(flow.page_date),
        "printed": flow.printed,
        "unclear": list(flow.unclear),
    }


def endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "feature": endpoint.feature,
        "cloud": endpoint.cloud.value,
        "host": endpoint.host,
        "transport": endpoint.transport.value,
        "ports": endpoint.ports.as_list(),
        "purpose": endpoint.purpose,
        "reference": endpoint.reference,
        "id": endpoint.id,
        "printed": endpoint.printed,
        "path": endpoint.path,
        "protocol": endpoint.protocol,
        "sources": [r.value for r in endpoint.sources],
        "group": endpoint.group,
        "level": endpoint.level.value,
        "required": endpoint.level.required,
        "required_with": list(endpoint.required_with),
        "phase": endpoint.phase.coarse,
        "phase_detail": endpoint.phase.value,
        "wildcard": endpoint.wildcard,
        "wildcard_apex": endpoint.wildcard_apex,
        "template": endpoint.template,
        "spec": list(endpoint.spec),
        "section": endpoint.section,
        "page_date": _iso(endpoint.page_date),
        "note": endpoint.note,
        "unclear": list(endpoint.unclear),
    }


@dataclass(frozen=True)
class CatalogDocument:
    catalog: Catalog
    cloud: Cloud | None = None

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        if self.cloud is None:
            return self.catalog.endpoints
        return self.catalog.endpoints_for(self.cloud)

    def to_json(self) -> dict[str, Any]:
        return {
            "flows": [flow_json(f) for f in self.catalog.flows],
            "endpoints": [endpoint_json(e) for e in self.endpoints],
            "facts": [
                {
                    "id": f.id,
                    "kind": f.kind,
                    "spec": list(f.spec),
                    "roles": [r.value for r in f.roles],
                    "cloud": f.cloud.value if f.cloud else None,
                    "features": list(f.features),
                    "text": f.text,
                    "reference": f.reference,
                    "section": f.section,
                    "page_date": _iso(f.page_date),
                }
                for f in self.catalog.facts
            ],
            "unclear": [u.model_dump(mode="json") for u in self.catalog.unclear],
        }

    def tables(self) -> list[Table]:
        flows = Table(
            "Flows",
            ("ID", "From → To", "Port", "Features", "Level", "Phase", "Spec"),
            wrap=("Features", "Spec"),
            rows=tuple(
                (
                    f.id,
                    f"{f.source.value} → {f.destination.value}",
                    _port(f.transport.value, f.ports),
                    " ".join((*f.features, *(f"+{r}" for r in f.requires))),
                    f.level.value,
                    f.phase.value,
                    " ".join(f.spec),
                )
                for f in self.catalog.flows
            ),
        )
        endpoints = Table(
            "Cloud endpoints",
            ("Cloud", "Feature", "From", "Name", "Port", "Level", "Spec"),
            wrap=("From", "Spec"),
            rows=tuple(
                (
                    e.cloud.value,
                    e.feature,
                    ", ".join(r.value for r in e.sources),
                    e.host + (e.path or ""),
                    _port(e.transport.value, e.ports),
                    e.level.value,
                    ", ".join(e.spec),
                )
                for e in self.endpoints
            ),
        )
        facts = Table(
            "Facts that are not flows",
            ("ID", "Kind", "Text"),
            tuple((f.id, f.kind, f.text) for f in self.catalog.facts),
        )
        unclear = Table(
            "Unclear points and decisions",
            ("ID", "Where", "Decision"),
            tuple((u.id, ", ".join(u.where), u.decision) for u in self.catalog.unclear),
        )
        return [flows, endpoints, facts, unclear]

    def flat_table(self) -> Table:
        columns = (
            "kind",
            "id",
            "spec",
            "source",
            "destination",
            "protocol",
            "transport",
            "ports",
            "features",
            "level",
            "phase",
            "cloud",
            "condition",
            "purpose",
            "reference",
        )
        rows = [
            (
                "flow",
                f.id,
                " ".join(f.spec),
                f.source.value,
                f.destination.value,
                f.protocol,
                f.transport.value,
                str(f.ports),
                " ".join((*f.features, *(f"+{r}" for r in f.requires))),
                f.level.value,
                f.phase.value,
                "",
                f.condition,
                f.purpose,
                f.reference,
            )
            for f in self.catalog.flows
        ]
        rows += [
            (
                "endpoint",
                e.id,
                " ".join(e.spec),
                " ".join(r.value for r in e.sources),
                e.host + (e.path or ""),
                e.protocol,
                e.transport.value,
                str(e.ports),
                e.feature,
                e.level.value,
                e.phase.value,
                e.cloud.value,
                "",
                e.purpose,
                e.reference,
            )
            for e in self.endpoints
        ]
        return Table("Catalog", columns, tuple(rows))

    def summary(self) -> list[str]:
        return [
            f"{len(self.catalog.flows)} flows, {len(self.endpoints)} cloud endpoints, "
            f"{len(self.catalog.facts)} facts, {len(self.catalog.unclear)} unclear points"
        ]


@dataclass(frozen=True)
class PlanDocument:
    plan: Plan

    def to_json(self) -> dict[str, Any]:
        return self.plan.to_json()

    def tables(self) -> list[Table]:
        rows = tuple(
            (
                f.source,
                f.destination,
                f.destination_address or "",
                f.protocol,
                _port(f.transport.value, f.ports),
                "yes" if f.required else "no",
                f.phase,
                f.catalog_id,
            )
            for f in self.plan.flows
        )
        styles = tuple(None if f.required else "dim" for f in self.plan.flows)
        tables = [
            Table(
                f"Planned flows for {self.plan.topology.name}",
                (
                    "Source",
                    "Destination",
                    "Address",
                    "Protocol",
                    "Port",
                    "Required",
                    "Phase",
                    "Catalog",
                ),
                rows,
                styles,
                wrap=("Destination", "Protocol", "Catalog"),
            )
        ]
        if self.plan.gaps:
            tables.append(
                Table(
                    "Undocumented for this cloud",
                    ("Cloud", "Feature", "From", "Detail"),
                    tuple((g.cloud, g.feature, g.role, g.detail) for g in self.plan.gaps),
                )
            )
        return tables

    def flat_table(self) -> Table:
        columns = (
            "source",
            "source_address",
            "destination",
            "destination_address",
            "protocol",
            "transport",
            "port_low",
            "port_high",
            "required",
            "level",
            "phase",
            "catalog_id",
            "catalog_ids",
            "spec",
            "via",
            "purpose",
            "reference",
        )
        return Table("Plan", columns, tuple(_plan_csv_row(f) for f in self.plan.flows))

    def summary(self) -> list[str]:
        flows = self.plan.flows
        required = sum(1 for f in flows if f.required)
        sources = len({f.source for f in flows})
        topo = self.plan.topology
        lines = [
            f"{len(flows)} flows ({required} required, {len(flows) - required} optional) "
            f"from {sources} source{'s' if sources != 1 else ''}; cloud {topo.cloud.value}; "
            f"features: {', '.join(sorted(f.value for f in topo.features)) or 'none'}"
        ]
        lines += [f"warning: {w}" for w in self.plan.warnings]
        return lines


def _plan_csv_row(f: PlannedFlow) -> tuple[str, ...]:
    return (
        f.source,
        f.source_address or "",
        f.destination,
        f.destination_address or "",
        f.protocol,
        f.transport.value,
        str(f.ports.low),
        str(f.ports.high),
        "true" if f.required else "false",
        f.level,
        f.phase,
        f.catalog_id,
        " ".join(f.catalog_ids),
        " ".join(f.spec),
        f.via or "",
        f.purpose,
        f.reference,
    )


VERDICT_STYLE = {
    "open": "green",
    "closed": "red",
    "filtered": "yellow",
    "error": "magenta",
    "skipped": "dim",
}


PROBE_COLUMNS = (
    "Destination",
    "Address",
    "Protocol",
    "Port",
    "Verdict",
    "Required",
    "Detail",
    "ms",
)


def _probe_row(r: CheckResult) -> tuple[str, ...]:
    port = f"{r.port}/{r.transport}" if r.port is not None else f"{r.flow_ports}/{r.transport}"
    return (
        r.destination,
        r.address or "",
        r.protocol,
        port,
        r.verdict.value,
        "yes" if r.required else "no",
        r.detail,
        f"{r.elapsed_ms:.0f}",
    )


@dataclass(frozen=True)
class ProbeDocument:
    run: ProbeRun

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VERDICT_STYLE, 0)
        for result in self.run.results:
            counts[result.verdict.value] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        topology = self.run.plan.topology
        host = topology.host(self.run.source)
        return {
            **provenance(topology, "probe"),
            "source": self.run.source,
            "source_address": host.address if host is not None else None,
            "topology": topology.name,
            "results": [r.to_json() for r in self.run.results],
            "summary": {
                **self.counts(),
                "checks": len(self.run.results),
                "required_failing": len(self.run.failing),
                "ready": not self.run.failing,
            },
        }

    def tables(self) -> list[Table]:
        """Every tested check; skipped checks with the same reason fold into one row."""
        shown: list[CheckResult] = []
        skipped: dict[str, list[CheckResult]] = {}
        for result in self.run.results:
            if result.verdict.value == "skipped":
                skipped.setdefault(result.detail, []).append(result)
            else:
                shown.append(result)
        rows = [_probe_row(r) for r in shown]
        styles: list[str | None] = [VERDICT_STYLE[r.verdict.value] for r in shown]
        for detail, group in skipped.items():
            if len(group) <= 2:
                rows += [_probe_row(r) for r in group]
            else:
                names = ", ".join(r.destination for r in group[:3])
                rows.append(
                    (
                        f"({len(group)} checks)",
                        "",
                        "",
                        "",
                        "skipped",
                        "",
                        f"{detail}: {names}, …",
                        "",
                    )
                )
            styles += ["dim"] * min(len(group), 1 if len(group) > 2 else len(group))
        title = f"Probe from {self.run.source} ({self.run.plan.topology.name})"
        return [
            Table(title, PROBE_COLUMNS, tuple(rows), tuple(styles), wrap=("Protocol", "Detail"))
        ]

    def flat_table(self) -> Table:
        rows = tuple(_probe_row(r) for r in self.run.results)
        return Table("Probe", PROBE_COLUMNS, rows)

    def summary(self) -> list[str]:
        counts = self.counts()
        parts = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        failing = self.run.failing
        verdict = "READY" if not failing else f"NOT READY: {len(failing)} required check(s) failing"
        return [f"{len(self.run.results)} checks: {parts}. {verdict}"]
