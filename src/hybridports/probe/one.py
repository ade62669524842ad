"""Run one probe against one address and print the outcome as JSON (tests and debugging).

python -m hybridports.probe.one PROBE ADDRESS PORT {tcp,udp} [--domain D] [--timeout S]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time

from hybridports.model import Transport
from hybridports.probe import PROBES
from hybridports.probe.interface import Probe, ProbeContext, Target
from hybridports.topology import parse_proxy


def _probe(name: str) -> Probe:
    if ":" not in name:
        return PROBES[name]
    module, _, attribute = name.partition(":")
    probe: Probe = getattr(importlib.import_module(module), attribute)()
    return probe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", help=f"one of {', '.join(sorted(PROBES))}, or module:Class")
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("transport", choices=["tcp", "udp", "icmp"])
    parser.add_argument("--domain")
    parser.add_argument("--server-name")
    parser.add_argument("--ca-bundle")
    parser.add_argument("--public-ca")
    parser.add_argument("--proxy")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    ctx = ProbeContext(
        timeout=args.timeout,
        domain=args.domain,
        ca_bundle=args.ca_bundle,
        public_ca=args.public_ca,
        proxy=parse_proxy(args.proxy) if args.proxy else None,
    )
    target = Target(
        args.server_name or args.address,
        args.address,
        args.port,
        Transport(args.transport),
        args.server_name,
    )
    started = time.perf_counter()
    outcome = asyncio.run(_probe(args.probe).check(target, ctx))
    elapsed = (time.perf_counter() - started) * 1000
    json.dump(
        {
            "verdict": outcome.verdict.value,
            "detail": outcome.detail,
            "facts": outcome.facts,
            "elapsed_ms": round(elapsed, 1),
        },
        sys.stdout,
        default=str,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
