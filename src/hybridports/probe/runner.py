"""Run every planned flow of one source host as concurrent protocol checks.

One check per flow and port; the DCs' dynamic RPC range is expanded by asking the endpoint
mapper on 135 which ports it hands out (never by scanning the range). A global semaphore
caps concurrency, a per-destination one keeps a single DC from being flooded, and every
check is bounded by the timeout, so a full run takes about one timeout.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hybridports.model import PortRange, Transport
from hybridports.plan import PlannedFlow
from hybridports.probe import PROBE_FOR_PORT, PROBES, msrpc
from hybridports.probe.cloud import CLOUD_PROBE_FOR_PORT, CloudSettings
from hybridports.probe.interface import Outcome, ProbeContext, Target, Verdict
from hybridports.probe.resolve import resolve_name
from hybridports.topology import Proxy

PER_DESTINATION = 16
TLS_PROBES = frozenset({"https", "amqp"})
# Probes that use the AD domain (SRV names, the Kerberos realm, the LDAP ping filter).
NEEDS_DOMAIN = frozenset({"dns", "kerberos", "kpasswd", "cldap"})


def domain_of(naming_context: object) -> str | None:
    """'DC=lab,DC=example,DC=test' → 'lab.example.test'."""
    if not isinstance(naming_context, str):
        return None
    labels = [
        part[3:] for part in naming_context.split(",") if part.strip().upper().startswith("DC=")
    ]
    return ".".join(labels).lower() or None


@dataclass(frozen=True)
class CheckResult:
    destination: str
    address: str | None
    protocol: str
    transport: str
    port: int | None
    flow_ports: PortRange
    required: bool
    verdict: Verdict
    detail: str
    elapsed_ms: float
    catalog_id: str
    probe: str
    tested_name: str | None = None
    via: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return self.required and self.verdict.failing

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "address": self.address,
            "protocol": self.protocol,
            "transport": self.transport,
            "port": self.port,
            "flow_ports": self.flow_ports.as_list(),
            "required": self.required,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "elapsed_ms": self.elapsed_ms,
            "catalog_id": self.catalog_id,
            "probe": self.probe,
            "tested_name": self.tested_name,
            "via": self.via,
            "facts": self.facts,
        }


@dataclass
class Check:
    """One unit of work: a flow, the port to test, and how."""

    flow: PlannedFlow
    probe: str
    port: int | None
    address: str | None
    skip_reason: str | None = None


def choose_probe(flow: PlannedFlow) -> tuple[str, str | None]:
    """The probe for a flow, or ("", reason) when it cannot be tested here."""
    if flow.rpc_dynamic:
        return "rpc-dynamic", None
    if flow.is_cloud:
        cloud = CLOUD_PROBE_FOR_PORT.get(flow.ports.low, "tcp")
        return (cloud if cloud in PROBES else "tcp"), None
    known = PROBE_FOR_PORT.get((flow.transport.value, flow.ports.low))
    if known is not None:
        return known, None
    if flow.transport is Transport.TCP:
        return "tcp", None
    return "", f"no UDP probe for {flow.protocol} on {flow.ports}"


def selected(flow: PlannedFlow, probe: str, only: set[str]) -> bool:
    if not only:
        return True
    names = {probe.lower(), flow.protocol.lower(), flow.catalog_id.lower()}
    if probe == "rpc-dynamic":
        names |= {"rpc", "msrpc", "epm"}
    return bool(names & only)


class Runner:
    def __init__(
        self,
        ctx: ProbeContext,
        concurrency: int = 64,
        on_done: Callable[[CheckResult], None] | None = None,
        cloud: CloudSettings | None = None,
    ) -> None:
        self.ctx = ctx
        self.limit = asyncio.Semaphore(max(concurrency, 1))
        self.per_destination: dict[str, asyncio.Semaphore] = {}
        self.epm: dict[str, asyncio.Task[msrpc.EndpointMap]] = {}
        self.on_done = on_done
        self.server_names: dict[str, str] = {}
        self.domains: dict[str, asyncio.Task[str | None]] = {}
        self.cloud = cloud or CloudSettings()

    async def run(
        self,
        flows: list[PlannedFlow],
        addresses: dict[str, str],
        only: set[str],
        server_names: dict[str, str] | None = None,
    ) -> list[CheckResult]:
        """``server_names``: destination → DNS name (for SNI and certificate names)."""
        self.server_names = dict(server_names or {})
        checks: list[Check] = []
        for flow in flows:
            probe, reason = choose_probe(flow)
            if probe and not selected(flow, probe, only):
                continue
            if not probe and only and not selected(flow, "", only):
                continue
            checks.append(
                Check(flow, probe, flow.ports.low, addresses.get(flow.destination), reason)
            )
        # CRL checks fetch the URLs the TLS checks find in certificates: they start when the
        # TLS checks are done, while everything else runs on.
        tasks: dict[int, asyncio.Task[list[CheckResult]]] = {}
        for index, check in enumerate(checks):
            if check.probe != "crl":
                tasks[index] = asyncio.create_task(self._run_flow(check))
        tls = [tasks[i] for i, c in enumerate(checks) if c.probe in TLS_PROBES and i in tasks]
        for index, check in enumerate(checks):
            if check.probe == "crl":
                tasks[index] = asyncio.create_task(self._after(tls, check))
        results: list[CheckResult] = []
        for index in range(len(checks)):  # plan order, whatever order they finish in
            results.extend(await tasks[index])
        return results

    async def _after(
        self, first: list[asyncio.Task[list[CheckResult]]], check: Check
    ) -> list[CheckResult]:
        if first:
            await asyncio.wait(first)
        return await self._run_flow(check)

    async def _run_flow(self, check: Check) -> list[CheckResult]:
        if check.flow.is_cloud and check.skip_reason is None:
            return [self._report(r) for r in await self._cloud_flow(check)]
        if check.skip_reason is not None or check.address is None:
            reason = check.skip_reason or f"no address for {check.flow.destination}"
            result = self._result(check, None, Outcome.skipped(reason), 0.0)
            return [self._report(result)]
        if check.probe == "rpc-dynamic":
            return [self._report(r) for r in await self._rpc_dynamic(check)]
        if check.probe == "epm":
            started = time.perf_counter()
            emap = await self._endpoint_map(check)
            outcome = emap.outcome
            return [self._report(self._result(check, check.port, outcome, _ms(started)))]
        return [self._report(await self._single(check, check.probe, check.port))]

    def _target(self, check: Check, port: int) -> Target:
        flow = check.flow
        assert check.address is not None
        server_name = self.server_names.get(flow.destination)
        if server_name is None and flow.is_cloud:
            server_name = flow.destination
        return Target(flow.destination, check.address, port, flow.transport, server_name)

    async def _guarded(
        self, destination: str, probe_name: str, target: Target, ctx: ProbeContext | None = None
    ) -> Outcome:
        ctx = ctx or self.ctx
        gate = self.per_destination.setdefault(destination, asyncio.Semaphore(PER_DESTINATION))
        async with self.limit, gate:
            probe = PROBES[probe_name]
            try:
                return await asyncio.wait_for(probe.check(target, ctx), ctx.timeout + 1.0)
            except TimeoutError:
                return Outcome.error(
                    f"{probe_name} check overran the {self.ctx.timeout:g}s timeout"
                )
            except Exception as exc:  # a probe bug must not stop the run
                last = traceback.extract_tb(exc.__traceback__)[-1:]
                where = (
                    f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
                )
                return Outcome.error(
                    f"internal error in {probe_name} probe: {type(exc).__name__}: {exc}{where}"
                )

    async def _single(self, check: Check, probe_name: str, port: int | None) -> CheckResult:
        assert port is not None
        started = time.perf_counter()
        ctx = self.ctx
        if ctx.domain is None and probe_name in NEEDS_DOMAIN:
            ctx = replace(ctx, domain=await self._learned_domain(check))
        outcome = await self._guarded(
            check.flow.destination, probe_name, self._target(check, port), ctx
        )
        return self._result(check, port, outcome, _ms(started))

    async def _learned_domain(self, check: Check) -> str | None:
        """Without ``domain:`` in the topology, ask the DC's rootDSE once (spec §7.2)."""
        key = check.flow.destination
        if key not in self.domains:

            async def ask() -> str | None:
                target = replace(self._target(check, 389), transport=Transport.TCP)
                quick = replace(self.ctx, timeout=min(self.ctx.timeout, 1.5))
                outcome = await self._guarded(key, "ldap", target, quick)
                return domain_of(outcome.facts.get("defaultNamingContext"))

            self.domains[key] = asyncio.create_task(ask())
        return await self.domains[key]

    async def _endpoint_map(self, check: Check) -> msrpc.EndpointMap:
        key = check.flow.destination
        if key not in self.epm:
            target = self._target(check, 135)

            async def lookup() -> msrpc.EndpointMap:
                gate = self.per_destination.setdefault(key, asyncio.Semaphore(PER_DESTINATION))
                async with self.limit, gate:
                    return await msrpc.endpoint_map(target, self.ctx)

            self.epm[key] = asyncio.create_task(lookup())
        return await self.epm[key]

    async def _rpc_dynamic(self, check: Check) -> list[CheckResult]:
        started = time.perf_counter()
        emap = await self._endpoint_map(check)
        if not emap.endpoints:
            reason = (
                f"dynamic RPC port not learned: endpoint mapper on 135 {emap.outcome.verdict.value}"
                f" ({emap.outcome.detail})"
                if emap.outcome.verdict is not Verdict.OPEN
                else "the endpoint mapper listed no TCP endpoint of the directory interfaces"
            )
            return [self._result(check, None, Outcome.skipped(reason), _ms(started))]
        results = []
        planned = check.flow.ports
        for port, interfaces, address in emap.by_port():
            started = time.perf_counter()
            target = self._target(check, port)
            outcome = await self._guarded_rpc(check.flow.destination, target, interfaces[0])
            notes = []
            if not planned.low <= port <= planned.high:
                notes.append(
                    f"port {port} lies outside the planned range {planned}: "
                    "the rule will not cover it"
                )
            if address and address not in ("0.0.0.0", check.address):
                notes.append(f"the mapper hands out address {address}, not {check.address} (NAT?)")
            facts = {**outcome.facts, "interfaces": list(interfaces)}
            detail = f"{', '.join(interfaces)} on {port}: {outcome.detail}"
            verdict = outcome.verdict
            if notes:
                detail += "; " + "; ".join(notes)
                if verdict is Verdict.OPEN:
                    verdict = Verdict.ERROR
            results.append(self._result(check, port, Outcome(verdict, detail, facts), _ms(started)))
        return results

    async def _guarded_rpc(self, destination: str, target: Target, interface: str) -> Outcome:
        gate = self.per_destination.setdefault(destination, asyncio.Semaphore(PER_DESTINATION))
        async with self.limit, gate:
            return await msrpc.bind_check(target, self.ctx, interface)

    async def _cloud_flow(self, check: Check) -> list[CheckResult]:
        """Each concrete name: through the proxy when one applies, and directly."""
        flow = check.flow
        names, reason = self.cloud.names(flow)
        if reason is not None:
            return [self._result(check, None, Outcome.skipped(reason), 0.0)]
        jobs = []
        for name in names:
            proxy = self.cloud.proxy_for(name, flow.ports.low)
            if proxy is not None:
                jobs.append(self._cloud_check(check, name, proxy))
            jobs.append(self._cloud_check(check, name, None, informational=proxy is not None))
        return list(await asyncio.gather(*jobs))

    async def _cloud_check(
        self, check: Check, name: str, proxy: Proxy | None, informational: bool = False
    ) -> CheckResult:
        flow = check.flow
        started = time.perf_counter()
        ctx = replace(self.ctx, proxy=proxy)
        address: str | None
        if proxy is not None:
            address = proxy.host  # the address actually connected
        else:
            try:
                address = await resolve_name(name, self.ctx.dns_server, self.ctx.timeout)
            except LookupError as exc:
                outcome = Outcome.error(f"{name} does not resolve: {exc}")
                return self._cloud_result(check, name, None, proxy, outcome, started, informational)
        target = Target(name, address, flow.ports.low, flow.transport, name)
        outcome = await self._guarded(name, check.probe, target, ctx)
        return self._cloud_result(check, name, address, proxy, outcome, started, informational)

    def _cloud_result(
        self,
        check: Check,
        name: str,
        address: str | None,
        proxy: Proxy | None,
        outcome: Outcome,
        started: float,
        informational: bool,
    ) -> CheckResult:
        result = self._result(check, check.port, outcome, _ms(started))
        detail = outcome.detail
        if informational:
            detail = f"direct path (a proxy is configured, so not required): {detail}"
        if check.probe == "amqp" and outcome.verdict.failing and not result.required:
            detail += "; 5671 is recommended only: current agents fall back to HTTPS 443"
        return replace(
            result,
            address=address,
            tested_name=name,
            via=proxy.display if proxy else None,
            required=result.required and not informational,
            detail=detail,
        )

    def _result(
        self, check: Check, port: int | None, outcome: Outcome, elapsed: float
    ) -> CheckResult:
        flow = check.flow
        return CheckResult(
            destination=flow.destination,
            address=check.address,
            protocol=flow.protocol,
            transport=flow.transport.value,
            port=port if outcome.verdict is not Verdict.SKIPPED or port else None,
            flow_ports=flow.ports,
            required=flow.required,
            verdict=outcome.verdict,
            detail=outcome.detail,
            elapsed_ms=round(elapsed, 1),
            catalog_id=flow.catalog_id,
            probe=check.probe or "none",
            tested_name=flow.destination if flow.is_cloud else None,
            via=None,
            facts=dict(outcome.facts),
        )

    def _report(self, result: CheckResult) -> CheckResult:
        if self.on_done is not None:
            self.on_done(result)
        return result


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
