"""Three network namespaces in a row — sender, firewall, receiver — to ask the kernel itself
what a ruleset does with a packet.

    hpk-src-N  up0 ══ lan0  hpk-fw-N  dmz0 ══ up0  hpk-dst-N

The sender owns every address of 10.1.0.0/16 and fd01::/48 (local routes on lo, non-local
bind allowed), so any sample can leave from its own address; the firewall forwards
10.2.0.0/16 and fd02::/48 to the receiver's gateway address (static neighbours, so no packet
waits for ARP or ND); the receiver records every TCP/UDP packet that arrives, at the raw
priority of prerouting, in a set keyed by the whole tuple, and drops it. What the set holds
after a batch is exactly what the firewall let through.

Everything done inside the namespaces (loading and listing rulesets, flushing conntrack,
sending packets) goes through one helper process, agent.py, so this process never changes
namespace and a command costs a pipe round trip rather than a fork.

The names never collide with the project lab (hp-*) nor with another test process (the
suffix is our pid); namespaces left by a process that died are removed on the next start.
"""

from __future__ import annotations

import ctypes.util
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/run/netns")
PREFIX = "hpk-"
FW_IN = "lan0"  # the firewall's interface towards the sender
FW_OUT = "dmz0"  # … and towards the receiver
SOURCE_POOL = {4: ipaddress.ip_network("10.1.0.0/16"), 6: ipaddress.ip_network("fd01::/48")}
DESTINATION_POOL = {4: ipaddress.ip_network("10.2.0.0/16"), 6: ipaddress.ip_network("fd02::/48")}
AGENT = Path(__file__).with_name("agent.py")

# Link addresses and fixed MACs (static neighbours need to know them in advance).
_LINKS = {
    "src": {4: "10.9.1.2", 6: "fd09:1::2", "mac": "02:00:00:09:01:02"},
    "lan": {4: "10.9.1.1", 6: "fd09:1::1", "mac": "02:00:00:09:01:01"},
    "dmz": {4: "10.9.2.1", 6: "fd09:2::1", "mac": "02:00:00:09:02:01"},
    "dst": {4: "10.9.2.2", 6: "fd09:2::2", "mac": "02:00:00:09:02:02"},
}

_KEY = {4: "ip saddr . ip daddr", 6: "ip6 saddr . ip6 daddr"}
_RECORDER = "\n".join(
    [
        "table inet hpk {",
        *(
            f"    set seen{f} {{ typeof {_KEY[f]} . meta l4proto . th sport . th dport; "
            "size 65535; flags dynamic; }"
            for f in (4, 6)
        ),
        "    chain pre {",
        "        type filter hook prerouting priority raw; policy accept;",
        *(
            f"        meta nfproto ipv{f} meta l4proto {{ tcp, udp }} "
            f"add @seen{f} {{ {_KEY[f]} . meta l4proto . th sport . th dport }} drop"
            for f in (4, 6)
        ),
        "    }",
        "}",
    ]
)


class KernelError(RuntimeError):
    """A command in a namespace failed (a generated ruleset the kernel refuses lands here)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One packet: the first packet of a flow from ``source:sport`` to ``destination:dport``."""

    family: int
    protocol: str  # tcp | udp
    source: str
    sport: int
    destination: str
    dport: int

    def key(self) -> tuple[str, str, str, int, int]:
        return (
            str(ipaddress.ip_address(self.source)),
            str(ipaddress.ip_address(self.destination)),
            self.protocol,
            self.sport,
            self.dport,
        )

    def as_list(self) -> list[object]:
        return [self.family, self.protocol, self.source, self.sport, self.destination, self.dport]


def unavailable_reason() -> str | None:
    """Why the kernel test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables)"
    for tool in ("ip", "nft", "unshare", "sysctl"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed"
    if ctypes.util.find_library("nftables") is None:
        return "libnftables is not installed (the namespace agent loads rulesets through it)"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    probe = subprocess.run(
        ["unshare", "--net", "nft", "list", "ruleset"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"cannot use nftables in a new network namespace: {probe.stderr.strip()}"
    return None


def iptables_unavailable_reason() -> str | None:
    for tool in ("iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed"
    version = subprocess.run(["iptables", "--version"], capture_output=True, text=True, check=False)
    if "nf_tables" not in version.stdout:
        # iptables-legacy would need its own flush; the harness only knows iptables-nft.
        return f"iptables is not iptables-nft: {version.stdout.strip()}"
    return None


def reap_stale() -> None:
    """Delete hpk-* namespaces whose owning process (the suffix) no longer runs."""
    if not NETNS_DIR.is_dir():
        return
    for entry in NETNS_DIR.iterdir():
        if not entry.name.startswith(PREFIX):
            continue
        pid = entry.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["ip", "netns", "delete", entry.name], capture_output=True, check=False)


class KernelNet:
    """The three namespaces and their agent; ``with KernelNet() as net`` or up()/down()."""

    def __init__(self, suffix: str | None = None) -> None:
        suffix = suffix or str(os.getpid())
        self.src = f"{PREFIX}src-{suffix}"
        self.fw = f"{PREFIX}fw-{suffix}"
        self.dst = f"{PREFIX}dst-{suffix}"
        self._agent: subprocess.Popen[str] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def up(self) -> KernelNet:
        reap_stale()
        self.down()
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        agent, self._agent = self._agent, None
        if agent is not None:
            for stream in (agent.stdin, agent.stdout):
                if stream is not None:
                    stream.close()
            try:
                agent.wait(timeout=5)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        for ns in (self.src, self.fw, self.dst):
            if (NETNS_DIR / ns).exists():
                subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)

    def __enter__(self) -> KernelNet:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def _build(self) -> None:
        for ns in (self.src, self.fw, self.dst):
            _run(["ip", "netns", "add", ns])
        src, lan, dmz, dst = (_LINKS[k] for k in ("src", "lan", "dmz", "dst"))
        # Each pair is created inside its namespaces, so the names never meet in the root one.
        for name, mine, peer_ns, peer in (
            (FW_IN, lan, self.src, src),
            (FW_OUT, dmz, self.dst, dst),
        ):
            _run(
                ["ip", "-n", self.fw, "link", "add", name, "address", str(mine["mac"]),
                 "type", "veth", "peer", "name", "up0", "netns", peer_ns, "address",
                 str(peer["mac"])]
            )  # fmt: skip
        sysctls = {
            self.src: ["net.ipv4.ip_nonlocal_bind=1", "net.ipv6.ip_nonlocal_bind=1"],
            self.fw: [
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                f"net.ipv4.conf.{FW_IN}.rp_filter=0",
                f"net.ipv4.conf.{FW_OUT}.rp_filter=0",
            ],
            self.dst: ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.up0.rp_filter=0"],
        }
        for ns, settings in sysctls.items():
            _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings])
        batch = {
            self.src: [
                f"addr add {src[4]}/30 dev up0",
                f"addr add {src[6]}/64 dev up0 nodad",
                "link set lo up",
                "link set up0 up",
                f"route add local {SOURCE_POOL[4]} dev lo",
                f"route add local {SOURCE_POOL[6]} dev lo",
                f"route add default via {lan[4]}",
                f"route add default via {lan[6]}",
                f"neigh replace {lan[4]} lladdr {lan['mac']} dev up0 nud permanent",
                f"neigh replace {lan[6]} lladdr {lan['mac']} dev up0 nud permanent",
            ],
            self.fw: [
                f"addr add {lan[4]}/30 dev {FW_IN}",
                f"addr add {lan[6]}/64 dev {FW_IN} nodad",
                f"addr add {dmz[4]}/30 dev {FW_OUT}",
                f"addr add {dmz[6]}/64 dev {FW_OUT} nodad",
                "link set lo up",
                f"link set {FW_IN} up",
                f"link set {FW_OUT} up",
                f"route add {SOURCE_POOL[4]} via {src[4]}",
                f"route add {SOURCE_POOL[6]} via {src[6]}",
                f"route add {DESTINATION_POOL[4]} via {dst[4]}",
                f"route add {DESTINATION_POOL[6]} via {dst[6]}",
                f"neigh replace {src[4]} lladdr {src['mac']} dev {FW_IN} nud permanent",
                f"neigh replace {src[6]} lladdr {src['mac']} dev {FW_IN} nud permanent",
                f"neigh replace {dst[4]} lladdr {dst['mac']} dev {FW_OUT} nud permanent",
                f"neigh replace {dst[6]} lladdr {dst['mac']} dev {FW_OUT} nud permanent",
            ],
            self.dst: [
                f"addr add {dst[4]}/30 dev up0",
                f"addr add {dst[6]}/64 dev up0 nodad",
                "link set lo up",
                "link set up0 up",
            ],
        }
        for ns, commands in batch.items():
            _run(["ip", "-n", ns, "-batch", "-"], "\n".join(commands) + "\n")
        paths = {"src": self.src, "fw": self.fw, "dst": self.dst}
        self._agent = subprocess.Popen(
            [
                sys.executable,
                str(AGENT),
                json.dumps({k: str(NETNS_DIR / v) for k, v in paths.items()}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.nft("dst", _RECORDER)

    # --- commands (through the agent) ------------------------------------------------------

    def _ask(self, request: dict[str, object]) -> dict[str, object]:
        agent = self._agent
        if agent is None or agent.stdin is None or agent.stdout is None:
            raise KernelError("the namespace agent is not running (call up() first)")
        agent.stdin.write(json.dumps(request) + "\n")
        agent.stdin.flush()
        line = agent.stdout.readline()
        if not line:
            raise KernelError(f"the namespace agent stopped (exit {agent.poll()})")
        answer: dict[str, object] = json.loads(line)
        if answer.get("rc") != 0:
            what = request.get("argv") or request["op"]
            raise KernelError(f"{what} in {request['ns']} failed: {answer.get('err', '')}".strip())
        return answer

    def nft(self, ns: str, text: str, as_json: bool = False) -> str:
        """Run nft commands (nft -f syntax) in ``ns`` ("src", "fw", "dst"); their output."""
        return str(self._ask({"op": "nft", "ns": ns, "text": text, "json": as_json})["out"])

    def exec(self, ns: str, argv: Sequence[str], stdin: str | None = None) -> str:
        answer = self._ask({"op": "exec", "ns": ns, "argv": list(argv), "stdin": stdin})
        return str(answer["out"])

    def clear(self) -> None:
        """No rules and no connections left in the firewall from an earlier case."""
        # ``flush ruleset`` also removes iptables-nft's tables; a conntrack entry left from
        # an earlier case would make a repeated tuple something other than ``new``.
        self.nft("fw", "flush ruleset")
        self._ask({"op": "ctflush", "ns": "fw"})

    def load_nft(self, text: str) -> None:
        self.clear()
        self.nft("fw", text)

    def load_iptables(self, v4: str | None, v6: str | None = None) -> None:
        self.clear()
        if v4 is not None:
            self.exec("fw", ["iptables-restore"], v4)
        if v6 is not None:
            self.exec("fw", ["ip6tables-restore"], v6)

    def nft_readback(self) -> str:
        return self.nft("fw", "list ruleset", as_json=True)

    def iptables_readback(self, family: int = 4) -> str:
        return self.exec("fw", ["iptables-save" if family == 4 else "ip6tables-save"])

    # --- packets --------------------------------------------------------------------------

    def send(self, samples: Iterable[Sample]) -> set[tuple[str, str, str, int, int]]:
        """Send the samples' packets; the keys of those that reached the receiver."""
        batch = list(samples)
        keys = [s.key() for s in batch]
        if len(set(keys)) != len(keys):
            raise ValueError("samples of one batch must differ in their tuple")
        self._ask({"op": "send", "ns": "src", "samples": [s.as_list() for s in batch]})
        return self.arrived()

    def arrived(self, settle: float = 0.0) -> set[tuple[str, str, str, int, int]]:
        """What the receiver recorded since the last call (which empties the record)."""
        if settle:
            time.sleep(settle)
        found: set[tuple[str, str, str, int, int]] = set()
        for name in ("seen4", "seen6"):
            text = self.nft("dst", f"list set inet hpk {name}", as_json=True)
            for item in json.loads(text)["nftables"]:
                for element in item.get("set", {}).get("elem", []):
                    saddr, daddr, proto, sport, dport = element["concat"]
                    found.add((str(saddr), str(daddr), str(proto), int(sport), int(dport)))
        self.nft("dst", "flush set inet hpk seen4; flush set inet hpk seen6")
        return found


def _run(argv: Sequence[str], stdin: str | None = None) -> str:
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KernelError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout
