"""All cloud checks of a full-featured topology in one run, in the lab.

Every endpoint of every feature of the public cloud (wildcards get a sample name, which the
lab's DNS answers), checked by `hybridports probe` from the lab's client. Printed: wall
time of the run, the sum of the per-check times (what a one-at-a-time tool would spend),
and — the named baseline, measured in the same run — a plain `curl` loop over the same
HTTPS and HTTP names.

    sudo .venv/bin/python benchmarks/cloud_checks.py
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hybridports.catalog import load_catalog  # noqa: E402
from hybridports.model import Cloud, Feature  # noqa: E402
from lab import Lab  # noqa: E402

FEATURES = [
    f.value
    for f in Feature
    if f not in (Feature.FEDERATION, Feature.ADFS_WIZARD, Feature.ADFS_GMSA_INSTALL)
    and f not in (Feature.CERT_AUTH, Feature.REMOTE_SQL, Feature.GROUP_PROVISIONING)
]


def topology_text() -> str:
    wildcards = sorted({e.host for e in load_catalog().endpoints_for(Cloud.PUBLIC) if e.wildcard})
    samples = "\n".join(f'  "{w}": [hpbench.{w[2:]}]' for w in wildcards)
    return (
        "name: bench-cloud\ndomain: lab.hybridports.test\n"
        f"features: [{', '.join(FEATURES)}]\n"
        f"endpoint_samples:\n{samples}\n"
        "hosts:\n"
        "  sync01: {address: 198.18.1.10, roles: [connect, pta-agent, cloud-sync-agent]}\n"
        "  dc01: {address: 198.18.2.10, roles: [dc]}\n"
    )


def main() -> None:
    reason = Lab.unavailable_reason()
    if reason:
        print(f"skipped: lab unavailable ({reason})")
        return
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        topology = Path(tmp) / "bench.yaml"
        topology.write_text(topology_text(), encoding="utf-8")
        argv = [
            sys.executable, "-m", "hybridports", "probe", str(topology), "--from", "sync01",
            "--format", "json", "--only", "https,crl,amqp,tcp", "--dns-server", lab.dns_server,
            "--public-ca", str(lab.public_ca),
        ]  # fmt: skip
        started = time.perf_counter()
        proc = lab.run("client", argv, timeout=600, check=False)
        wall = time.perf_counter() - started
        started = time.perf_counter()
        lab.run("client", [*argv, "--concurrency", "1"], timeout=900, check=False)
        one_at_a_time = time.perf_counter() - started
        rows = [r for r in json.loads(proc.stdout)["results"] if r["verdict"] != "skipped"]
        summed = sum(r["elapsed_ms"] for r in rows) / 1000
        verdicts: dict[str, int] = {}
        for row in rows:
            verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
        targets = sorted({(r["tested_name"], r["port"]) for r in rows if r["port"] in (80, 443)})
        ca = shlex.quote(str(lab.public_ca))
        script = "\n".join(
            f"curl -s -o /dev/null --max-time 3 --cacert {ca} https://{name}/"
            if port == 443
            else f"curl -s -o /dev/null --max-time 3 http://{name}/"
            for name, port in targets
        )
        started = time.perf_counter()
        lab.run("client", ["sh", "-c", script], timeout=900, check=False, resolver="cloud")
        curl = time.perf_counter() - started
    print(f"checks: {len(rows)} ({', '.join(f'{n} {v}' for v, n in sorted(verdicts.items()))})")
    print(f"hybridports probe, one run:      {wall:7.2f} s wall")
    print(f"sum of the per-check times:      {summed:7.2f} s  ({summed / wall:.1f}x the wall time;")
    print("   each check's time includes waiting for the event loop's other handshakes)")
    print(f"the same run, --concurrency 1:   {one_at_a_time:7.2f} s")
    print(f"baseline: curl loop, {len(targets)} URLs: {curl:7.2f} s")
    print(f"ratio curl loop / hybridports: {curl / wall:.2f}x")
    print("(curl only fetches; hybridports also validates chains, follows CRLs and speaks AMQP)")


if __name__ == "__main__":
    main()
