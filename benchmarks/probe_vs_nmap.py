"""hybridports probe against nmap -sT -sU, same destinations and ports, same run, in the lab.

Baseline: nmap (Debian package) scanning the DC ports that the lab topology plans, with
`-sT -sU -Pn -n`. Both run from the lab's client namespace through the lab's router, under
two firewall scenarios: everything open, and all UDP dropped. Prints wall time of each, the
ratio, and every port where the two disagree (nmap's "open|filtered" is a disagreement:
hybridports must say which).

    sudo .venv/bin/python benchmarks/probe_vs_nmap.py [--scenarios open,udp-blocked]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import Lab  # noqa: E402
from lab import config as labconfig  # noqa: E402

TOPOLOGY = ROOT / "examples" / "lab" / "topology.yaml"


def ensure_nmap() -> str:
    found = shutil.which("nmap")
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nmap"],
        check=True,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return shutil.which("nmap") or "nmap"


def run_hybridports(lab: Lab) -> tuple[float, dict[tuple[str, int], str]]:
    argv = [
        sys.executable, "-m", "hybridports", "probe", str(TOPOLOGY), "--from", "sync01",
        "--format", "json", "--dns-server", labconfig.DC_ADDRESS, "--ca-bundle", str(lab.ca_cert),
    ]  # fmt: skip
    started = time.perf_counter()
    proc = lab.run("client", argv, timeout=300, check=False)
    seconds = time.perf_counter() - started
    verdicts: dict[tuple[str, int], str] = {}
    for row in json.loads(proc.stdout)["results"]:
        if row["destination"] == "dc01" and row["port"] and row["transport"] in ("tcp", "udp"):
            verdicts[(row["transport"], row["port"])] = row["verdict"]
    return seconds, verdicts


def run_nmap(
    lab: Lab, nmap: str, tcp: list[int], udp: list[int]
) -> tuple[float, dict[tuple[str, int], str]]:
    spec = "T:" + ",".join(map(str, tcp)) + ",U:" + ",".join(map(str, udp))
    argv = [nmap, "-sT", "-sU", "-Pn", "-n", "-p", spec, "-oX", "-", labconfig.DC_ADDRESS]
    started = time.perf_counter()
    proc = lab.run("client", argv, timeout=900, check=False)
    seconds = time.perf_counter() - started
    states: dict[tuple[str, int], str] = {}
    for port in ET.fromstring(proc.stdout).iter("port"):
        state = port.find("state")
        if state is not None:
            states[(port.get("protocol", ""), int(port.get("portid", "0")))] = state.get(
                "state", ""
            )
    return seconds, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="open,udp-blocked")
    args = parser.parse_args()
    reason = Lab.unavailable_reason()
    if reason:
        print(f"skipped: lab unavailable ({reason})")
        return
    nmap = ensure_nmap()
    version = subprocess.run([nmap, "--version"], capture_output=True, text=True, check=False)
    print(f"baseline: {version.stdout.splitlines()[0]}")
    with Lab() as lab:
        for name in args.scenarios.split(","):
            lab.scenario(name)
            ours_s, ours = run_hybridports(lab)
            tcp = sorted(p for t, p in ours if t == "tcp")
            udp = sorted(p for t, p in ours if t == "udp")
            nmap_s, theirs = run_nmap(lab, nmap, tcp, udp)
            print(f"\nscenario {name}: {len(tcp)} TCP + {len(udp)} UDP ports on dc01")
            print(f"  hybridports probe  {ours_s:7.2f} s  (protocol checks + EPM follow-through)")
            print(f"  nmap -sT -sU       {nmap_s:7.2f} s")
            print(f"  ratio nmap/hybridports: {nmap_s / ours_s:.1f}x")
            disagree = [
                (key, ours.get(key), theirs.get(key))
                for key in sorted(set(ours) | set(theirs))
                if ours.get(key) != theirs.get(key)
            ]
            for (transport, port), mine, other in disagree:
                print(f"  differ {port}/{transport}: hybridports {mine}, nmap {other}")
            if not disagree:
                print("  the two agree on every port")


if __name__ == "__main__":
    main()
