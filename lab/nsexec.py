"""Running a command inside a lab namespace, with the lab's view of /etc and /run.

``ip netns exec NS`` puts the command in the namespace's network stack. On top of that the
command gets private mount and UTS namespaces (``unshare --mount --uts``) in which:

* /etc/resolv.conf shows the lab's resolver file (nameserver = the lab DC), so a program
  that asks "the DNS server this host uses" gets the DC, as on a domain-joined server; in
  hp-cloud (and with ``resolver="cloud"``) it is the cloud's dnsmasq instead;
* /etc/samba/smb.conf shows the lab's file for that namespace (the DC's real config in
  hp-dc, a client config with workgroup LAB elsewhere), when the host has that file;
* in hp-dc, /run is a small private tmpfs whose samba/ directory is the DC's run directory
  in the state dir (Samba's client library looks for winbindd's socket at the compiled-in
  /run/samba/winbindd, whatever smb.conf says);
* in hp-cloud, /run is a private tmpfs too, and /run/hp-cloud is the cloud's directory in
  the state dir (configs, pid files, logs, certificates). The services' unprivileged
  workers (nginx as www-data, squid as proxy) reach their files through that bind mount,
  while the state dir itself stays 0700;
* the host name is the lab host's (dc01, connect01, router, cloud).

All these mounts exist only in that private mount namespace and vanish with its last
process: the host's own /etc and /run are never written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from . import config

_SCRIPT = r"""
set -e
if [ "$HP_LAB_TMPFS_RUN" = 1 ]; then
    mount -t tmpfs -o mode=0755,size=16m hp-lab-run /run
fi
while [ "$1" != "--" ]; do
    src=$1; dst=$2; shift 2
    case "$dst" in
        /run/*)
            mkdir -p "$(dirname "$dst")"
            if [ ! -e "$dst" ]; then
                if [ -d "$src" ]; then mkdir -p "$dst"; else : > "$dst"; fi
            fi ;;
    esac
    if [ -e "$dst" ]; then mount --bind "$src" "$dst"; fi
done
shift
if [ -n "$HP_LAB_HOSTNAME" ]; then hostname "$HP_LAB_HOSTNAME"; fi
exec "$@"
"""

HOSTNAMES = {
    config.NS_CLIENT: "connect01",
    config.NS_ROUTER: "router",
    config.NS_DC: "dc01",
    config.NS_CLOUD: "cloud",
}
PRIVATE_RUN = (config.NS_DC, config.NS_CLOUD)  # namespaces whose commands get a tmpfs /run
CLOUD_RUN = "/run/hp-cloud"  # the cloud's state directory, as seen inside hp-cloud
RESOLVERS = ("dc", "cloud")


def ns_name(name: str) -> str:
    """Accept 'client', 'router', 'dc' or the full 'hp-...' name."""
    full = name if name.startswith("hp-") else f"hp-{name}"
    if full not in config.NAMESPACES:
        raise KeyError(f"unknown lab namespace {name!r} (known: {', '.join(config.NAMESPACES)})")
    return full


def binds_for(ns: str, state: Path, resolver: str | None = None) -> list[tuple[Path, str]]:
    """(source in the state dir, target path as seen in the namespace) pairs.

    ``resolver``: whose DNS server /etc/resolv.conf names, "dc" or "cloud"; by default the
    cloud's in hp-cloud, the DC's everywhere else.
    """
    pairs: list[tuple[Path, str]] = []
    if resolver is None:
        resolver = "cloud" if ns == config.NS_CLOUD else "dc"
    if resolver not in RESOLVERS:
        raise ValueError(f"resolver must be one of {RESOLVERS}, not {resolver!r}")
    resolv = state / "cloud" / "resolv.conf" if resolver == "cloud" else state / "resolv.conf"
    if resolv.exists():
        # Resolve a symlinked /etc/resolv.conf (systemd-resolved) to the real file, before
        # /run is replaced by a tmpfs; the script then recreates it and mounts over it.
        pairs.append((resolv, os.path.realpath("/etc/resolv.conf")))
    if ns == config.NS_DC:
        pairs.append((state / "dc" / "run", "/run/samba"))
        conf = state / "dc" / "etc" / "smb.conf"
    elif ns == config.NS_CLOUD:
        pairs.append((state / "cloud", CLOUD_RUN))
        conf = state / "client" / "smb.conf"
    else:
        conf = state / "client" / "smb.conf"
    if conf.exists() and Path("/etc/samba/smb.conf").exists():
        pairs.append((conf, "/etc/samba/smb.conf"))
    # Some samba programs write to the compiled-in directories before (or regardless of)
    # reading smb.conf -- samba-dcerpcd logs its start-up to /var/log/samba, for one. In the
    # lab those directories are the namespace's own sandbox directories in the state dir.
    for target, source in sandbox_dirs(ns, state).items():
        if Path(target).is_dir():
            pairs.append((source, target))
    return [(src, dst) for src, dst in pairs if src.exists()]


def sandbox_dirs(ns: str, state: Path) -> dict[str, Path]:
    """Host samba directories -> their stand-ins for namespace ``ns`` (see binds_for)."""
    base = state / "dc" if ns == config.NS_DC else state / "client"
    return {
        "/var/log/samba": base / "log",
        "/var/lib/samba": base / "sandbox" / "var-lib-samba",
        "/var/cache/samba": base / "sandbox" / "var-cache-samba",
    }


def make_sandbox_dirs(ns: str, state: Path) -> None:
    for source in sandbox_dirs(ns, state).values():
        source.mkdir(parents=True, exist_ok=True)


def ns_argv(ns: str, argv: Sequence[str], state: Path, resolver: str | None = None) -> list[str]:
    """The argv that runs ``argv`` inside lab namespace ``ns`` (see the module doc)."""
    ns = ns_name(ns)
    env = [
        f"HP_LAB_HOSTNAME={HOSTNAMES[ns]}",
        f"HP_LAB_TMPFS_RUN={1 if ns in PRIVATE_RUN else 0}",
    ]
    krb5 = state / "krb5.conf"
    if krb5.exists():
        env.append(f"KRB5_CONFIG={krb5}")
    pair_args: list[str] = []
    for src, dst in binds_for(ns, state, resolver):
        pair_args += [str(src), dst]
    return [
        "ip", "netns", "exec", ns,
        "unshare", "--mount", "--uts", "--propagation", "private", "--",
        "env", *env,
        "/bin/sh", "-c", _SCRIPT, "hp-lab-" + ns,
        *pair_args, "--", *argv,
    ]  # fmt: skip
