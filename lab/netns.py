"""The four network namespaces, their veth links, addresses and routes.

Nothing here touches the host's own network namespace: the veth pairs are created with
``ip -n NS link add ... peer name ... netns NS2`` so both ends are born inside lab
namespaces, and forwarding is switched on only inside hp-router (its sysctls are per
namespace). The only host-visible traces are the namespace handles in /run/netns/ that
``ip netns add`` makes and ``ip netns del`` removes.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from . import config
from ._util import LabError, LabUnavailable, debug, log, run

NETNS_DIR = Path("/run/netns")
ICMP_NO_RATELIMIT = (
    "net.ipv4.icmp_ratelimit=0",
    "net.ipv6.icmp.ratelimit=0",
    "net.ipv4.icmp_msgs_per_sec=100000",
    "net.ipv4.icmp_msgs_burst=10000",
)


def unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, nftables, samba)"
    if shutil.which("ip") is None:
        return "'ip' (iproute2) is not installed"
    if shutil.which("unshare") is None:
        return "'unshare' (util-linux) is not installed"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    # Creating an anonymous network namespace proves we may; it vanishes when 'true' exits.
    proc = run(["unshare", "--net", "true"], check=False, timeout=20)
    if proc.returncode != 0:
        return f"cannot create a network namespace here: {proc.stderr.strip()}"
    return None


def exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def existing() -> list[str]:
    return [ns for ns in config.NAMESPACES if exists(ns)]


def inode(ns: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / ns).st_ino
    except OSError:
        return None


def pids(ns: str) -> list[int]:
    """pids of the processes inside ``ns`` (``ip netns pids``)."""
    if not exists(ns):
        return []
    proc = run(["ip", "netns", "pids", ns], check=False, timeout=20)
    return [int(p) for p in proc.stdout.split() if p.isdigit() and int(p) != os.getpid()]


def pid_in(pid: int, ns: str) -> bool:
    want = inode(ns)
    try:
        return want is not None and os.stat(f"/proc/{pid}/ns/net").st_ino == want
    except OSError:
        return False


def kill_all(ns: str, grace: float = 3.0) -> list[int]:
    """End every process inside ``ns`` (they are all the lab's own): TERM, then KILL."""
    victims = pids(ns)
    if not victims:
        return []
    debug(f"{ns}: terminating pids {victims}")
    for pid in victims:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not [p for p in victims if _alive(p)]:
            break
        time.sleep(0.1)
    for pid in victims:
        if _alive(pid) and pid_in(pid, ns):
            _signal(pid, signal.SIGKILL)
    for pid in pids(ns):  # children forked while we were killing their parents
        _signal(pid, signal.SIGKILL)
    return victims


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def delete_all() -> None:
    """Kill the processes in, then delete, every lab namespace. Safe on partial/stale state."""
    for ns in config.NAMESPACES:
        if exists(ns):
            kill_all(ns)
    for ns in config.NAMESPACES:
        if exists(ns):
            proc = run(["ip", "netns", "del", ns], check=False)
            if proc.returncode != 0 and exists(ns):
                # A handle whose namespace is already gone (after a crash mid-delete) can
                # still be a bind mount: unmount and remove the file by hand.
                run(["umount", str(NETNS_DIR / ns)], check=False)
                (NETNS_DIR / ns).unlink(missing_ok=True)
        if exists(ns):
            raise LabError(f"could not delete network namespace {ns}")


def _ip(ns: str, *args: str) -> None:
    run(["ip", "-n", ns, *args])


def create_all() -> None:
    """Build the topology. The namespaces must not exist yet (call delete_all first)."""
    left = existing()
    if left:
        raise LabError(f"namespaces already exist: {left}")
    c, r, d, cl = config.NS_CLIENT, config.NS_ROUTER, config.NS_DC, config.NS_CLOUD
    try:
        for ns in config.NAMESPACES:
            run(["ip", "netns", "add", ns])
            _ip(ns, "link", "set", "lo", "up")
        _ip(c, "link", "add", config.IF_CLIENT, "type", "veth",
            "peer", "name", config.IF_ROUTER_CLIENT, "netns", r)  # fmt: skip
        _ip(d, "link", "add", config.IF_DC, "type", "veth",
            "peer", "name", config.IF_ROUTER_DC, "netns", r)  # fmt: skip
        _ip(cl, "link", "add", config.IF_CLOUD, "type", "veth",
            "peer", "name", config.IF_ROUTER_CLOUD, "netns", r)  # fmt: skip
        # Forwarding only inside hp-router; these sysctls are per network namespace.
        run(["ip", "netns", "exec", r, "sysctl", "-q", "-w",
             "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])  # fmt: skip
        # No ICMP rate limiting in the router, the DC and the cloud: every rejected packet
        # gets its ICMP error, so the reject scenarios answer deterministically even when a
        # probe fires many ports at once (the kernel default lets ~6 errors per peer
        # through, then one per second). Per namespace too; the host keeps its own values.
        for ns in (r, d, cl):
            run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *ICMP_NO_RATELIMIT])
        for ns in (c, d, cl):
            # No router advertisements or autoconfiguration: addresses are static.
            run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                 "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
                 "net.ipv6.conf.all.autoconf=0", "net.ipv6.conf.default.autoconf=0"])  # fmt: skip
        for ns, dev, v4s, v6s in _plan():
            for v4 in v4s:
                _ip(ns, "addr", "add", f"{v4}/24", "dev", dev)
            for v6 in v6s:
                # nodad: usable at once, so the services can bind it as soon as they start.
                _ip(ns, "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            _ip(ns, "link", "set", dev, "up")
        # Default routes point at hp-router, which has no route anywhere but the three lab
        # subnets: whatever a lab host sends stays inside the lab.
        for ns, net in ((c, config.CLIENT_NET), (d, config.DC_NET), (cl, config.CLOUD_NET)):
            _ip(ns, "route", "add", "default", "via", net.router_v4)
            _ip(ns, "-6", "route", "add", "default", "via", net.router_v6)
    except LabError:
        log("building the namespaces failed; removing what was made")
        delete_all()
        raise
    except FileNotFoundError as exc:  # pragma: no cover - ip vanished
        delete_all()
        raise LabUnavailable(str(exc)) from exc


def _plan() -> tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...]:
    """(namespace, device, IPv4 addresses, IPv6 addresses) of every lab link end."""
    client, dc, cloud = config.CLIENT_NET, config.DC_NET, config.CLOUD_NET
    proxies = config.PROXY_ADDRESSES
    return (
        (config.NS_CLIENT, config.IF_CLIENT, (client.host_v4,), (client.host_v6,)),
        (config.NS_ROUTER, config.IF_ROUTER_CLIENT, (client.router_v4,), (client.router_v6,)),
        (config.NS_ROUTER, config.IF_ROUTER_DC, (dc.router_v4,), (dc.router_v6,)),
        (config.NS_ROUTER, config.IF_ROUTER_CLOUD, (cloud.router_v4,), (cloud.router_v6,)),
        (config.NS_DC, config.IF_DC, (dc.host_v4,), (dc.host_v6,)),
        # The cloud's services, then the two proxies' addresses on the same link.
        (config.NS_CLOUD, config.IF_CLOUD, (cloud.host_v4, *proxies), (cloud.host_v6,)),
    )


def topology_ok() -> bool:
    """All namespaces exist and their links are up with the expected addresses."""
    if existing() != list(config.NAMESPACES):
        return False
    for ns, dev, v4s, v6s in _plan():
        proc = run(["ip", "-n", ns, "-o", "addr", "show", "dev", dev, "up"], check=False)
        if proc.returncode != 0:
            return False
        if any(f" {address}/" not in proc.stdout for address in (*v4s, *v6s)):
            return False
    return True
