"""How the audit scales: ~10,000 planned flows against policies of 1,000 to 50,000 rules.

Policies are generated from the plan itself (rules that allow planned pairs, some drops,
unrelated noise rules), as `nft -j list ruleset` JSON and as `az network nsg show` JSON,
then parsed and audited exactly as `hybridports audit` does. Each case runs in its own
process so peak memory (ru_maxrss) is that case's alone.

Baseline, measured in the same run: the same evaluator with its rule index switched off,
so every flow scans every rule of the chain (cost rules x flows). It runs on a sample of
flows and is scaled to all of them.

    python benchmarks/audit_scale.py [--rules 1000,10000,50000] [--hosts 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hybridports.audit import PARSERS
from hybridports.audit.evaluate import ChainIndex, Evaluator
from hybridports.audit.interface import ParseOptions, Ruleset
from hybridports.audit.queries import InterfaceMap, placements
from hybridports.audit.run import audit
from hybridports.catalog import load_catalog
from hybridports.plan import Plan, PlannedFlow, plan
from plan_scale import topology

NOISE_PORTS = (22, 80, 443, 1433, 3389, 5985, 8080, 8443, 9000)


def _plan(hosts: int) -> Plan:
    return plan(topology(hosts), load_catalog())


def _rows(result: Plan, rules: int, seed: int = 7) -> list[dict[str, Any]]:
    """Abstract rules: allow planned pairs (skipping some), drop a few, add noise."""
    rng = random.Random(seed)
    flows = [f for f in result.flows if not f.via]
    out: list[dict[str, Any]] = []
    for index in range(rules):
        if index < len(flows) and rng.random() > 0.05:
            f = flows[index]
            out.append(_from_flow(f, "drop" if rng.random() < 0.03 else "accept"))
        else:
            a, b = rng.randrange(1, 250), rng.randrange(1, 250)
            port = rng.choice(NOISE_PORTS)
            out.append(
                {
                    "src": f"172.16.{a}.{b}",
                    "dst": f"172.17.{b}.{a}",
                    "proto": "tcp",
                    "ports": (port, port),
                    "action": "accept",
                }
            )
    return out


def _from_flow(f: PlannedFlow, action: str) -> dict[str, Any]:
    return {
        "src": f.source_address if f.source_address and "/" not in f.source_address else None,
        "src_net": f.source_address if f.source_address and "/" in f.source_address else None,
        "dst": f.destination_address if not f.is_cloud else None,
        "proto": f.transport.value,
        "ports": (f.ports.low, f.ports.high),
        "action": action,
    }


def nft_json(rows: list[dict[str, Any]]) -> str:
    items: list[dict[str, Any]] = [
        {
            "metainfo": {
                "version": "1.0.6",
                "release_name": "Lester Gooch #5",
                "json_schema_version": 1,
            }
        },
        {"table": {"family": "inet", "name": "filter", "handle": 1}},
        {
            "chain": {
                "family": "inet",
                "table": "filter",
                "name": "forward",
                "handle": 1,
                "type": "filter",
                "hook": "forward",
                "prio": 0,
                "policy": "drop",
            }
        },
    ]
    established = {
        "match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}
    }
    items.append(_nft_rule(2, [established, {"accept": None}]))
    for handle, row in enumerate(rows, start=3):
        expr: list[dict[str, Any]] = []
        for key, field in (("src", "saddr"), ("src_net", "saddr"), ("dst", "daddr")):
            value = row.get(key)
            if value:
                right: Any = value
                if "/" in value:
                    address, length = value.split("/")
                    right = {"prefix": {"addr": address, "len": int(length)}}
                expr.append(
                    {
                        "match": {
                            "op": "==",
                            "left": {"payload": {"protocol": "ip", "field": field}},
                            "right": right,
                        }
                    }
                )
        low, high = row["ports"]
        if row["proto"] in ("tcp", "udp"):
            ports: Any = low if low == high else {"range": [low, high]}
            expr.append(
                {
                    "match": {
                        "op": "==",
                        "left": {"payload": {"protocol": row["proto"], "field": "dport"}},
                        "right": ports,
                    }
                }
            )
        else:
            expr.append(
                {
                    "match": {
                        "op": "==",
                        "left": {"meta": {"key": "l4proto"}},
                        "right": "icmp",
                    }
                }
            )
        expr.append({row["action"]: None})
        items.append(_nft_rule(handle, expr))
    return json.dumps({"nftables": items})


def _nft_rule(handle: int, expr: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rule": {
            "family": "inet",
            "table": "filter",
            "chain": "forward",
            "handle": handle,
            "expr": expr,
        }
    }


def nsg_json(rows: list[dict[str, Any]]) -> str:
    """`az network nsg list` output: NSGs of at most 1,000 rules (Azure's limit) in a row."""
    groups: list[dict[str, Any]] = []
    for start in range(0, len(rows), 1000):
        rules = []
        for offset, row in enumerate(rows[start : start + 1000]):
            low, high = row["ports"]
            inbound = row["dst"] is not None
            rules.append(
                {
                    "name": f"rule{start + offset}",
                    "priority": 100 + offset,
                    "direction": "Inbound" if inbound else "Outbound",
                    "access": "Allow" if row["action"] == "accept" else "Deny",
                    "protocol": {"tcp": "Tcp", "udp": "Udp"}.get(row["proto"], "Icmp"),
                    "sourceAddressPrefix": row["src"] or row.get("src_net") or "*",
                    "destinationAddressPrefix": row["dst"] or "AzureCloud",
                    "sourcePortRange": "*",
                    "destinationPortRange": str(low) if low == high else f"{low}-{high}",
                }
            )
        groups.append(
            {"name": f"nsg{start // 1000}", "location": "westeurope", "securityRules": rules}
        )
    return json.dumps(groups)


def _naive(ruleset: Ruleset, result: Plan, sample: int) -> float:
    """Seconds per flow with the index off: every flow walks every rule."""
    original = ChainIndex.candidates
    ChainIndex.candidates = lambda self, query: list(self.rules)  # type: ignore[method-assign]
    try:
        placed, _ = placements(result, None, ruleset.host_policy, InterfaceMap())
        chosen = placed[:: max(1, len(placed) // sample)][:sample]
        evaluator = Evaluator(ruleset)
        started = time.perf_counter()
        for p in chosen:
            evaluator.evaluate(p.query, p.positions)
        return (time.perf_counter() - started) / max(1, len(chosen))
    finally:
        ChainIndex.candidates = original  # type: ignore[method-assign]


def run_case(fmt: str, rules: int, hosts: int) -> dict[str, Any]:
    result = _plan(hosts)
    rows = _rows(result, rules)
    text = nft_json(rows) if fmt == "nftables-json" else nsg_json(rows)
    started = time.perf_counter()
    ruleset = PARSERS[fmt].parse(text, f"generated-{rules}.json", ParseOptions())
    parsed = time.perf_counter()
    outcome = audit(result, ruleset, None, InterfaceMap())
    done = time.perf_counter()
    naive = _naive(ruleset, result, 200)
    return {
        "format": fmt,
        "rules": ruleset.rule_count(),
        "flows": len(outcome.results),
        "parse_s": parsed - started,
        "audit_s": done - parsed,
        "naive_s": naive * len(outcome.results),
        "findings": len(outcome.findings),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", default="1000,10000,50000")
    parser.add_argument("--hosts", type=int, default=1000, help="topology size (1000 → ~10k flows)")
    parser.add_argument("--case", nargs=2, metavar=("FORMAT", "RULES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.hosts)))
        return
    print(
        f"{'format':14} {'rules':>7} {'flows':>7} {'parse s':>8} {'audit s':>8} "
        f"{'µs/(rule+flow)':>15} {'naive s':>9} {'speed-up':>9} {'peak MiB':>9}"
    )
    for fmt in ("nftables-json", "azure-nsg"):
        for rules in (int(r) for r in args.rules.split(",")):
            out = subprocess.run(
                [sys.executable, __file__, "--case", fmt, str(rules), "--hosts", str(args.hosts)],
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
            )
            r = json.loads(out.stdout)
            total = r["parse_s"] + r["audit_s"]
            per = total / (r["rules"] + r["flows"]) * 1e6
            print(
                f"{r['format']:14} {r['rules']:>7} {r['flows']:>7} {r['parse_s']:>8.2f} "
                f"{r['audit_s']:>8.2f} {per:>15.1f} {r['naive_s']:>9.1f} "
                f"{r['naive_s'] / r['audit_s']:>8.1f}x {r['peak_mib']:>9.0f}"
            )
    print("naive: the same evaluator without its rule index (every flow scans every rule),")
    print("timed on 200 flows and scaled to all; speed-up = naive / audit.")


if __name__ == "__main__":
    main()
