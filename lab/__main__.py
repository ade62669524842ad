"""python3 -m lab up|down|status|scenario [NAME]|scenarios|exec NS CMD...|tools"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import scenarios
from ._util import LabError, LabUnavailable
from .core import Lab

EXIT_UNAVAILABLE = 77  # the automake/ctest convention for "skipped"


def _print_timings(timings: dict[str, float]) -> None:
    shown = ", ".join(
        f"{k} {v:.2f}s"
        for k, v in timings.items()
        if k not in ("dc_cached", "cloud_cached", "reused")
    )
    extra = []
    if timings.get("reused"):
        extra.append("reused a running lab")
    elif "dc_cached" in timings:
        extra.append("DC from cache" if timings["dc_cached"] else "DC freshly provisioned")
    if not timings.get("reused") and "cloud_cached" in timings:
        extra.append("cloud PKI from cache" if timings["cloud_cached"] else "cloud PKI made")
    print(f"timings: {shown}" + (f" ({'; '.join(extra)})" if extra else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build the lab (idempotent); installs packages as root")
    p_up.add_argument("--scenario", default=scenarios.DEFAULT_SCENARIO)
    p_up.add_argument("--no-install", action="store_true", help="never run apt-get")
    p_up.add_argument("--tools", action="store_true", help="also install the check tools")
    p_down = sub.add_parser("down", help="stop samba and delete the namespaces")
    p_down.add_argument("--purge", action="store_true", help="also delete the state dir/cache")
    p_status = sub.add_parser("status", help="what is running")
    p_status.add_argument("--json", action="store_true")
    p_sc = sub.add_parser("scenario", help="load a firewall scenario into hp-router")
    p_sc.add_argument("name", nargs="?", help="omit to list the scenarios")
    p_sc.add_argument("--show", action="store_true", help="print the nft ruleset, load nothing")
    sub.add_parser("scenarios", help="list the scenarios")
    sub.add_parser("tools", help="install the check tools (dig, ldapsearch, kinit...)")
    p_exec = sub.add_parser("exec", help="run a command in a lab namespace")
    p_exec.add_argument("ns", help="client, router, dc, cloud (or hp-client, ...)")
    p_exec.add_argument(
        "--resolver",
        choices=("dc", "cloud"),
        help="DNS server in its /etc/resolv.conf (default: the DC; the cloud's in hp-cloud)",
    )
    p_exec.add_argument("command", nargs=argparse.REMAINDER)
    for p in (p_up, p_down, p_sc):
        p.add_argument("--force", action="store_true", help="even if a test session holds it")
    args = parser.parse_args(argv)
    args.force = getattr(args, "force", False)

    lab = Lab(install=not getattr(args, "no_install", False))
    mutating = args.cmd in ("up", "down") or (
        args.cmd == "scenario" and args.name and not args.show
    )
    holder = lab.in_use_by() if mutating else None
    if holder is not None and not args.force:
        print(
            f"lab error: the lab is in use by pid {holder} (a test session?); "
            "wait for it, or pass --force",
            file=sys.stderr,
        )
        return 1
    try:
        if args.cmd == "up":
            lab.up(args.scenario)
            if args.tools:
                lab.ensure_tools()
            print(
                f"lab up: client {lab.client_address} -> router -> DC {lab.dc_fqdn} "
                f"({lab.dc_address}, {lab.dc_address6}), realm {lab.realm}, "
                f"scenario {args.scenario}"
            )
            print(
                f"cloud: {lab.cloud_address} / {lab.cloud_address6} (DNS {lab.dns_server}), "
                f"proxies {lab.proxy_url} (auth :{lab.proxy_auth_port}) and {lab.mitm_url} "
                f"(intercepting); public CA {lab.public_ca}"
            )
            _print_timings(lab.timings)
        elif args.cmd == "down":
            lab.down(purge=args.purge)
            print("lab down" + (" (state dir purged)" if args.purge else ""))
        elif args.cmd == "status":
            status = lab.status()
            if args.json:
                print(json.dumps(status, indent=2, default=str))
            else:
                print(f"up: {status['up']}")
                print(f"namespaces: {' '.join(status['namespaces']) or '-'}")
                print(f"samba pid: {status['samba_pid'] or '-'}")
                print(f"DC tcp ports: {status['dc_tcp_ports']}")
                print(f"DC udp ports: {status['dc_udp_ports']}")
                print(f"scenario: {status['scenario'] or '-'}")
                cloud = status["cloud"]
                pids = " ".join(f"{k}={v or '-'}" for k, v in cloud["pids"].items()) or "-"
                print(f"cloud ({cloud['namespace'] or 'no namespace'}): up: {cloud['up']}; {pids}")
                if cloud["missing_tcp"] or cloud["missing_udp"]:
                    print(f"cloud not listening: {cloud['missing_tcp'] + cloud['missing_udp']}")
                print(f"state dir: {status['state_dir']} (DC cached: {status['dc_cached']})")
            return 0 if status["up"] else 1
        elif args.cmd == "scenarios" or (args.cmd == "scenario" and not args.name):
            for s in scenarios.ALL_SCENARIOS.values():
                print(f"{s.name:26} {s.description}")
        elif args.cmd == "scenario":
            chosen = scenarios.get(args.name)
            if args.show:
                print(chosen.nft_ruleset(), end="")
            else:
                lab.scenario(args.name)
                print(f"scenario {chosen.name} loaded")
        elif args.cmd == "tools":
            installed = lab.ensure_tools()
            print("installed: " + (" ".join(installed) if installed else "nothing (all present)"))
        elif args.cmd == "exec":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("exec needs a command")
            argv_ns = lab.command(args.ns, command, args.resolver)
            sys.stdout.flush()
            os.execvp(argv_ns[0], argv_ns)
    except LabUnavailable as exc:
        print(f"lab unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (LabError, KeyError) as exc:
        print(f"lab error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
