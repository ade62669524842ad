"""One render: resolve what must be resolved, normalise the plan, hand it to the target."""

from __future__ import annotations

import asyncio

from hybridports.plan import Plan
from hybridports.render import RENDERERS
from hybridports.render.interface import EGRESS_MODES, RenderError, RenderOptions
from hybridports.render.rules import rules_for


async def _resolve_all(names: list[str], dns_server: str | None) -> dict[str, tuple[str, ...]]:
    from hybridports.probe.resolve import resolve_name

    async def one(name: str) -> tuple[str, tuple[str, ...]]:
        try:
            return name, (await resolve_name(name, dns_server, 3.0),)
        except LookupError:
            return name, ()

    return {name: found for name, found in await asyncio.gather(*(one(n) for n in names)) if found}


def render(
    plan: Plan,
    target: str,
    *,
    host: str | None = None,
    required_only: bool = False,
    cloud_egress: str | None = None,
    dns_server: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    renderer = RENDERERS[target]
    topology = plan.topology
    if renderer.host_only and host is None:
        raise RenderError(f"--target {target} writes a host's own rules: give --host HOST")
    egress = cloud_egress or renderer.default_egress
    if egress not in EGRESS_MODES:
        raise RenderError(f"--cloud-egress {egress!r} is not one of {', '.join(EGRESS_MODES)}")
    if egress not in renderer.egress_modes:
        modes = ", ".join(renderer.egress_modes)
        raise RenderError(
            f"--target {target} cannot express --cloud-egress {egress} (it can: {modes})"
        )
    names = [h.address for h in topology.hosts if h.kind == "dns"]
    if topology.proxy is not None:
        names.append(topology.proxy.host)
    if egress == "resolve":
        for flow in plan.flows:
            if flow.is_cloud:
                concrete = not (flow.wildcard or flow.template)
                names += (
                    [flow.destination]
                    if concrete
                    else topology.endpoint_samples.get(flow.destination, ())
                )
        names = sorted(set(names))
    resolved = asyncio.run(_resolve_all(names, dns_server)) if names else {}
    options = RenderOptions(host, required_only, egress, resolved, topology.endpoint_samples)
    rules = rules_for(plan, options, egress)
    title = f"hybridports {target} rules for {topology.name}" + (f", host {host}" if host else "")
    rendered = renderer.render(rules, title)
    return rendered.text, (*rules.warnings, *rendered.warnings)
