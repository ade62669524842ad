"""How planning scales: topologies of 10 to 10,000 hosts, time and flows per second.

Baseline, measured in the same run: a naive planner that, for every host and every catalog
flow, scans every other host for the destination role (what a first attempt does). It runs
up to 1,000 hosts only; beyond that it takes minutes.

    python benchmarks/plan_scale.py [--sizes 10,100,1000,10000]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from hybridports.catalog import Catalog, load_catalog
from hybridports.model import Cloud, Feature, Role
from hybridports.plan import Plan, plan
from hybridports.topology import Host, Topology

FEATURES = frozenset(
    {
        Feature.PASSWORD_HASH_SYNC,
        Feature.PASS_THROUGH_AUTH,
        Feature.SEAMLESS_SSO,
        Feature.PASSWORD_WRITEBACK,
        Feature.FEDERATION,
        Feature.HEALTH_AGENT,
        Feature.CLOUD_SYNC,
    }
)


def topology(size: int) -> Topology:
    """Many DCs, agents and client networks; proportions stay fixed as the size grows."""
    counts = {
        Role.DC: max(2, size // 100),
        Role.CONNECT: 2,
        Role.PTA_AGENT: max(1, size // 40),
        Role.CLOUD_SYNC_AGENT: max(1, size // 40),
        Role.ADFS: max(1, size // 500),
        Role.WAP: max(1, size // 500),
    }
    hosts: list[Host] = []
    serial = 0
    for role, count in counts.items():
        for _ in range(count):
            serial += 1
            address = f"10.{serial // 65536 % 256}.{serial // 256 % 256}.{serial % 256}"
            hosts.append(Host(f"{role.value}{serial}", address, "ip", (role,)))
    intranet = max(1, size // 100)
    for index in range(size - len(hosts)):
        zone = "intranet" if index < intranet else "internet"
        hosts.append(
            Host(
                f"net{index}",
                f"100.{index // 256 % 256}.{index % 256}.0/24",
                "network",
                (Role.CLIENT,),
                zone,
            )
        )
    return Topology(
        name=f"bench-{size}",
        file="<bench>",
        cloud=Cloud.PUBLIC,
        declared_features=tuple(sorted(FEATURES)),
        features=FEATURES,
        hosts=tuple(hosts),
    )


def naive_count(topo: Topology, catalog: Catalog) -> int:
    """The baseline: no role index, every host scanned for every flow of every host."""
    rows = 0
    for source in topo.hosts:
        for flow in catalog.flows:
            if flow.source not in source.roles or not flow.enabled(topo.features):
                continue
            for destination in topo.hosts:
                if destination is not source and flow.destination in destination.roles:
                    rows += 1
    return rows


def timed(function: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    args = parser.parse_args()
    catalog = load_catalog()
    print(
        f"{'hosts':>7} {'flows':>9} {'seconds':>9} {'flows/s':>10} {'us/flow':>8} "
        f"{'naive s':>9} {'ratio':>7}"
    )
    per_flow: list[float] = []
    for size in (int(s) for s in args.sizes.split(",")):
        topo = topology(size)
        seconds, result = timed(lambda topo=topo: plan(topo, catalog))  # type: ignore[misc]
        assert isinstance(result, Plan)
        flows = len(result.flows)
        per_flow.append(seconds / flows * 1e6)
        naive = ratio = "-"
        if size <= 1000:
            naive_seconds, _ = timed(lambda topo=topo: naive_count(topo, catalog))  # type: ignore[misc]
            naive = f"{naive_seconds:.3f}"
            ratio = f"{naive_seconds / seconds:.1f}x"
        print(
            f"{size:>7} {flows:>9} {seconds:>9.3f} {flows / seconds:>10.0f} "
            f"{per_flow[-1]:>8.2f} {naive:>9} {ratio:>7}"
        )
    print(
        f"cost per flow, largest vs smallest run: {per_flow[-1] / per_flow[0]:.2f} "
        "(about 1 means linear in flows produced)"
    )
    print(
        "ratio = naive baseline time / hybridports plan time (baseline counts rows only, no merge)"
    )


if __name__ == "__main__":
    main()
