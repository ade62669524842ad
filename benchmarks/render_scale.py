"""How rendering scales: the 10,000-host topology of plan_scale.py, rendered by every target.

Rule count must grow with distinct host groups, not with flows: every target consumes the
grouped allow rules (address sets), so a plan of ~750,000 flows becomes a few dozen rules.

Baseline, measured in the same run: one rule per planned flow (a naive renderer: its rule
count is the flow count, its time the formatting of one iptables line per flow).

    python benchmarks/render_scale.py [--size 10000]
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from hybridports.catalog import load_catalog
from hybridports.model import Role
from hybridports.plan import Plan, plan
from hybridports.render import RENDERERS
from hybridports.render.interface import Renderer, RenderError, RenderOptions, RuleSet
from hybridports.render.iptables import Ip6tablesRenderer, IptablesRenderer
from hybridports.render.nftables import NftablesRenderer
from hybridports.render.rules import rules_for
from plan_scale import topology

NETFILTER: dict[str, Renderer] = {
    "nftables": NftablesRenderer(),
    "iptables": IptablesRenderer(),
    "ip6tables": Ip6tablesRenderer(),
}


def timed(function: Callable[[], object]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def naive(result: Plan) -> list[str]:
    """The baseline renderer: one line per planned flow, no grouping."""
    return [
        f"-A FORWARD -s {f.source_address or f.source} -d {f.destination_address or f.destination}"
        f" -p {f.transport.value} --dport {f.ports.low}:{f.ports.high}"
        f' -m comment --comment "{f.catalog_id}" -j ACCEPT'
        for f in result.flows
    ]


def _count_json(value: Any, keys: tuple[str, ...]) -> int:
    if isinstance(value, dict):
        own = 1 if all(k in value for k in keys) else 0
        return own + sum(_count_json(v, keys) for v in value.values())
    if isinstance(value, list):
        return sum(_count_json(v, keys) for v in value)
    return 0


def count_rules(target: str, text: str) -> tuple[int, str]:
    """Rules in the output, and what was counted (each target's own notion of a rule)."""
    if target == "nftables":
        return len(re.findall(r'^\s+[^#\s].* (?:accept|drop) comment "', text, re.M)), "rules"
    if target in ("iptables", "ip6tables"):
        return sum(1 for line in text.splitlines() if line.startswith("-A ")), "-A lines"
    if target == "windows":
        return text.count("New-NetFirewallRule"), "New-NetFirewallRule"
    try:
        document = json.loads(text)
    except ValueError:
        lines = [x for x in text.splitlines() if x.strip() and not x.lstrip().startswith("#")]
        return len(lines), "lines"
    if target == "azure-nsg":
        return _count_json(document, ("priority", "access")), "securityRules"
    if target == "aws-sg":
        return _count_json(document, ("IpProtocol",)), "IpPermissions"
    return _count_json(document, ("name",)), "named objects"


def kernel_rules(text: str) -> int:
    """iptables expands comma address lists into one kernel rule per source/destination pair."""
    total = 0
    for line in text.splitlines():
        if not line.startswith("-A "):
            continue
        sources = re.search(r" -s (\S+)", line)
        destinations = re.search(r" -d (\S+)", line)
        total += (sources.group(1).count(",") + 1 if sources else 1) * (
            destinations.group(1).count(",") + 1 if destinations else 1
        )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000)
    args = parser.parse_args()
    targets = dict(RENDERERS)
    missing = [name for name in NETFILTER if name not in targets]
    for name in missing:
        targets[name] = NETFILTER[name]
    if missing:
        print(f"(not in the registry yet, added for this run: {', '.join(missing)})")
    catalog = load_catalog()
    topo = topology(args.size)
    plan_seconds, result = timed(lambda: plan(topo, catalog))
    flows = len(result.flows)
    connect = next(h.name for h in topo.hosts if Role.CONNECT in h.roles)
    print(f"{args.size} hosts, {flows} planned flows, planned in {plan_seconds:.2f} s")

    # The grouping is shared by every target with the same mode and cloud egress.
    grouped: dict[tuple[str | None, str], tuple[float, RuleSet]] = {}
    print(
        f"{'target':<12} {'mode':<18} {'group s':>8} {'render s':>9} {'rules':>7} "
        f"{'counted':<20} {'flows/rule':>11}"
    )
    naive_seconds, lines = timed(lambda: naive(result))
    print(
        f"{'baseline':<12} {'forward':<18} {'-':>8} {naive_seconds:>9.3f} {len(lines):>7} "
        f"{'one rule per flow':<20} {flows / len(lines):>11.1f}"
    )
    for name, renderer in sorted(targets.items()):
        host = connect if renderer.host_only else None
        egress = renderer.default_egress
        key = (host, egress)
        if key not in grouped:
            grouped[key] = timed(
                partial(rules_for, result, RenderOptions(host=host, cloud_egress=egress), egress)
            )
        group_seconds, rules = grouped[key]
        title = f"hybridports {name} rules for {topo.name}"
        mode = f"--host {host}" if host else "forward"
        try:
            seconds, rendered = timed(partial(renderer.render, rules, title))
        except RenderError as exc:  # ip6tables on an IPv4-only topology, say
            print(f"{name:<12} {mode:<18} {group_seconds:>8.2f} error: {exc}")
            continue
        count, what = count_rules(name, rendered.text)
        print(
            f"{name:<12} {mode:<18} {group_seconds:>8.2f} {seconds:>9.3f} {count:>7} "
            f"{what:<20} {flows / max(count, 1):>11.1f}"
        )
        if name in ("iptables", "ip6tables"):
            print(
                f"{'':<12} {'':<18} {'':>8} {'':>9} {kernel_rules(rendered.text):>7} kernel rules"
            )
    print(
        "group s: plan rows -> grouped allow rules (shared by targets with the same mode and "
        "egress); render s: the target itself"
    )
    print(
        "flows/rule: planned flows per rule written (baseline: one rule per planned flow, "
        "its time = formatting one line per flow)"
    )


if __name__ == "__main__":
    main()
