"""Firewall scenarios for hp-router, kept as data.

Each scenario says what happens to traffic from hp-client to hp-dc (``rules``, first match
wins, then ``default``), whether return traffic of allowed flows is let back
(``stateful``), and what happens to every other forwarded packet (``other``). The same data
renders the nftables ruleset (``Scenario.nft_ruleset()``) and tells the tests what a client
socket should see (``Scenario.expect()``), so the two cannot drift apart.

Every scenario replaces the whole ``inet hp_lab`` table in one ``nft -f`` transaction
(``table``/``delete table``/``table {...}``), so there is never a moment without rules and
never a mix of two scenarios.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from . import config

# --- actions (what hp-router does with a client->dc packet) ---------------------------------
ACCEPT = "accept"
DROP = "drop"
REJECT_TCP_RESET = "reject-tcp-reset"  # router answers a TCP segment with a RST (src = DC)
REJECT_PORT_UNREACHABLE = "reject-port-unreachable"  # router sends ICMP(v6) port-unreachable
REJECT_ADMIN_PROHIBITED = "reject-admin-prohibited"  # router sends ICMP(v6) admin-prohibited
ACTIONS = (ACCEPT, DROP, REJECT_TCP_RESET, REJECT_PORT_UNREACHABLE, REJECT_ADMIN_PROHIBITED)

_NFT_STATEMENT = {
    ACCEPT: "accept",
    DROP: "drop",
    REJECT_TCP_RESET: "reject with tcp reset",
    REJECT_PORT_UNREACHABLE: "reject with icmpx port-unreachable",
    REJECT_ADMIN_PROHIBITED: "reject with icmpx admin-prohibited",
}

# --- outcomes (what a socket on hp-client sees) ---------------------------------------------
PASS = "pass"  # the packet reaches the DC; the DC itself answers (service, or its own RST)
TIMEOUT = "timeout"  # nothing comes back
REFUSED = "refused"  # ECONNREFUSED: a TCP RST, or ICMP port-unreachable (connected UDP too)
UNREACHABLE = "unreachable"  # an ICMP error other than port-unreachable (admin-prohibited)

OUTCOME_OF_ACTION = {
    ACCEPT: PASS,
    DROP: TIMEOUT,
    REJECT_TCP_RESET: REFUSED,
    REJECT_PORT_UNREACHABLE: REFUSED,
    REJECT_ADMIN_PROHIBITED: UNREACHABLE,
}

# errno a Linux socket on hp-client gets, per outcome and address family (4 or 6).
# admin-prohibited: ICMP type 3 code 13 maps to EHOSTUNREACH; ICMPv6 type 1 code 1 to EACCES.
ERRNO_OF_OUTCOME = {
    (REFUSED, 4): errno.ECONNREFUSED,
    (REFUSED, 6): errno.ECONNREFUSED,
    (UNREACHABLE, 4): errno.EHOSTUNREACH,
    (UNREACHABLE, 6): errno.EACCES,
}

# Who sends the rejection the client sees: hp-router, from its address on the client subnet.
# (A TCP RST made by ``reject with tcp reset`` carries the DC's address as its source, so it
# cannot be told apart from the DC's own RST; ICMP errors name the router as their sender.)
REJECT_SENDER_V4 = config.ROUTER_CLIENT_ADDRESS
REJECT_SENDER_V6 = config.CLIENT_NET.router_v6

PortRange = tuple[int, int]


def _ranges(*items: int | PortRange) -> tuple[PortRange, ...]:
    return tuple((item, item) if isinstance(item, int) else item for item in items)


@dataclass(frozen=True)
class Rule:
    """One client->dc rule: protocol ("tcp", "udp" or "any"), optional port ranges, action."""

    proto: str
    action: str
    ports: tuple[PortRange, ...] | None = None  # None: every port (or a port-less protocol)

    def __post_init__(self) -> None:
        if self.proto not in ("tcp", "udp", "any"):
            raise ValueError(f"bad proto {self.proto!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"bad action {self.action!r}")
        if self.action == REJECT_TCP_RESET and self.proto != "tcp":
            raise ValueError("'reject with tcp reset' only applies to tcp rules")
        if self.ports is not None and self.proto == "any":
            raise ValueError("ports need a protocol")

    def matches(self, proto: str, port: int | None) -> bool:
        if self.proto != "any" and self.proto != proto:
            return False
        if self.ports is None:
            return True
        return port is not None and any(lo <= port <= hi for lo, hi in self.ports)

    def nft(self) -> str:
        if self.proto == "any":
            match = ""
        elif self.ports is None:
            match = f"meta l4proto {self.proto} "
        else:
            items = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ports)
            match = f"{self.proto} dport {{ {items} }} "
        return match + _NFT_STATEMENT[self.action]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    rules: tuple[Rule, ...] = ()  # client->dc, first match wins
    default: str = ACCEPT  # client->dc packets that no rule matched
    stateful: bool = True  # accept ct state established,related before anything else
    other: str = ACCEPT  # every other forwarded packet (dc->client new flows, ...)
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.default not in ACTIONS or self.other not in (ACCEPT, DROP):
            raise ValueError(f"scenario {self.name}: bad default/other action")

    # -- what happens ---------------------------------------------------------------------
    def action(self, proto: str, port: int | None = None) -> str:
        """hp-router's action for a new client->dc packet (proto "tcp", "udp", "icmp"...)."""
        for rule in self.rules:
            if rule.matches(proto, port):
                return rule.action
        return self.default

    def expect(self, proto: str, port: int | None = None) -> str:
        """What a socket on hp-client sees: PASS, TIMEOUT, REFUSED or UNREACHABLE."""
        return OUTCOME_OF_ACTION[self.action(proto, port)]

    def allows(self, proto: str, port: int | None = None) -> bool:
        return self.action(proto, port) == ACCEPT

    # -- nftables ---------------------------------------------------------------------------
    def nft_ruleset(self) -> str:
        t, c = config.NFT_TABLE, config.NFT_CHAIN
        lines = [
            f"# hybridports lab scenario {self.name}: {self.description}",
            f"table inet {t}",
            f"delete table inet {t}",
            f"table inet {t} {{",
            f'\tcomment "hp-scenario={self.name}"',
            f"\tchain {c} {{",
            f"\t\ttype filter hook forward priority 0; policy {self.other};",
        ]
        if self.stateful:
            lines.append("\t\tct state established,related accept")
        lines.append(
            f'\t\tiifname "{config.IF_ROUTER_CLIENT}" oifname "{config.IF_ROUTER_DC}"'
            " jump client_to_dc"
        )
        lines += ["\t}", "\tchain client_to_dc {"]
        lines += [f"\t\t{rule.nft()}" for rule in self.rules]
        lines += [f"\t\t{_NFT_STATEMENT[self.default]}", "\t}", "}", ""]
        return "\n".join(lines)


# --- the spec's Table 1 (Entra Connect -> DC) -------------------------------------------------
TABLE1_TCP = _ranges(53, 88, 135, 389, 445, 636, 3268, 5985, 9389, (49152, 65535))
TABLE1_TCP_NO_DYNAMIC = _ranges(53, 88, 135, 389, 445, 636, 3268, 5985, 9389)
TABLE1_UDP = _ranges(53, 88, 389)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "open",
            "forward everything",
            default=ACCEPT,
            other=ACCEPT,
        ),
        Scenario(
            "table1",
            "only the spec's Table 1 rows client->dc (RPC dynamic range 49152-65535), "
            "established/related back, everything else dropped",
            rules=(Rule("tcp", ACCEPT, TABLE1_TCP), Rule("udp", ACCEPT, TABLE1_UDP)),
            default=DROP,
            other=DROP,
        ),
        Scenario(
            "table1-no-rpc-dynamic",
            "as table1 but without the dynamic RPC range (135 passes, 49152-65535 dropped)",
            rules=(
                Rule("tcp", ACCEPT, TABLE1_TCP_NO_DYNAMIC),
                Rule("udp", ACCEPT, TABLE1_UDP),
            ),
            default=DROP,
            other=DROP,
        ),
        Scenario(
            "udp-blocked",
            "all client->dc UDP silently dropped, TCP (and the rest) forwarded",
            rules=(Rule("udp", DROP),),
            default=ACCEPT,
            other=ACCEPT,
        ),
        Scenario(
            "reject-reset",
            "client->dc TCP refused by the router with a TCP RST; UDP and everything else "
            "refused with ICMP(v6) port-unreachable sent by the router",
            rules=(Rule("tcp", REJECT_TCP_RESET),),
            default=REJECT_PORT_UNREACHABLE,
            other=ACCEPT,
        ),
        Scenario(
            "reject-port-unreachable",
            "everything client->dc refused with ICMP(v6) port-unreachable sent by the router",
            default=REJECT_PORT_UNREACHABLE,
            other=ACCEPT,
        ),
        Scenario(
            "reject-admin-prohibited",
            "everything client->dc refused with ICMP admin-prohibited (ICMPv6 type 1 code 1) "
            "sent by the router",
            default=REJECT_ADMIN_PROHIBITED,
            other=ACCEPT,
        ),
        Scenario(
            "drop",
            "everything forwarded is silently dropped, in both directions",
            default=DROP,
            stateful=False,
            other=DROP,
        ),
    )
}

ALIASES = {"reject-tcp-reset": "reject-reset"}
DEFAULT_SCENARIO = "open"


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise KeyError(f"unknown scenario {name!r} (known: {known})") from None
