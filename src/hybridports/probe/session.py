"""One probe run from one source host: pick the flows, resolve, run, collect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hybridports.errors import UserError
from hybridports.model import Role
from hybridports.plan import Plan
from hybridports.probe.cloud import CloudSettings
from hybridports.probe.interface import ProbeContext
from hybridports.probe.resolve import resolve_hosts, resolve_name
from hybridports.probe.runner import CheckResult, Runner


@dataclass(frozen=True)
class ProbeRun:
    plan: Plan
    source: str
    results: tuple[CheckResult, ...]

    @property
    def failing(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.failing)


async def probe_from(
    plan: Plan,
    source: str,
    ctx: ProbeContext,
    *,
    concurrency: int = 64,
    only: set[str] | None = None,
    on_done: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    cloud: CloudSettings | None = None,
) -> ProbeRun:
    topology = plan.topology
    host = topology.host(source)
    if host is None:
        known = ", ".join(h.name for h in topology.hosts)
        raise UserError(
            f"--from {source!r} is not a host of the topology ({known})", file=topology.file
        )
    flows = list(plan.flows_from(source))
    destinations = {f.destination for f in flows}
    hosts = [h for h in topology.hosts if h.name in destinations]
    addresses = await resolve_hosts(hosts, ctx.dns_server, ctx.timeout, topology.file)
    for flow in flows:
        if flow.destination_role is Role.PROXY and flow.destination not in addresses:
            addresses[flow.destination] = await _proxy_address(flow.destination, ctx)
    runner = Runner(ctx, concurrency, on_done, cloud)
    if on_start is not None:
        on_start(len(flows))
    names = {h.name: h.address for h in hosts if h.kind == "dns"}
    results = await runner.run(flows, addresses, {o.lower() for o in (only or set())}, names)
    return ProbeRun(plan, source, tuple(results))


async def _proxy_address(name: str, ctx: ProbeContext) -> str:
    try:
        return await resolve_name(name, ctx.dns_server, ctx.timeout)
    except LookupError as exc:
        raise UserError(f"the proxy host does not resolve: {exc}") from None
