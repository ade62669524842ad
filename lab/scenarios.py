"""Firewall scenarios for hp-router, kept as data.

Each scenario says what happens to traffic from hp-client to hp-dc (``rules``, first match
wins, then ``default``), whether return traffic of allowed flows is let back
(``stateful``), and what happens to every other forwarded packet (``other``). A cloud
scenario also says what happens to traffic from hp-client to hp-cloud (``cloud_rules``, then
``cloud_default``; each rule may name its destination: ``"cloud"`` = the cloud's service
address, ``"proxy"`` = the proxies' addresses); without ``cloud_default`` that traffic is
"other" traffic, as it was before the cloud existed. The same data renders the nftables
ruleset (``Scenario.nft_ruleset()``) and tells the tests what a client socket should see
(``Scenario.expect(proto, port, to="dc"|"cloud"|"proxy")``), so the two cannot drift apart.

``SCENARIOS`` holds the DC scenarios (unchanged since the DC tests were written, and what
they iterate over); ``CLOUD_SCENARIOS`` the cloud ones; ``ALL_SCENARIOS`` both, and ``get()``
knows every name. The proxies live in hp-cloud, so their own traffic to the cloud's services
never crosses the router: "proxy-only" scenarios keep working through the proxies.

Every scenario replaces the whole ``inet hp_lab`` table in one ``nft -f`` transaction
(``table``/``delete table``/``table {...}``), so there is never a moment without rules and
never a mix of two scenarios.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from . import config

# --- destinations of client traffic -------------------------------------------------------------
TO_DC = "dc"  # hp-dc
TO_CLOUD = "cloud"  # hp-cloud's service address (DNS, web, AMQP): CLOUD_ADDRESS(6)
TO_PROXY = "proxy"  # hp-cloud's proxy addresses (squid, mitmproxy)
DESTINATIONS = (TO_DC, TO_CLOUD, TO_PROXY)
_CLOUD_TARGETS = {
    TO_CLOUD: ((config.CLOUD_ADDRESS,), (config.CLOUD_ADDRESS6,)),
    TO_PROXY: (config.PROXY_ADDRESSES, ()),
}

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
    """One rule: protocol ("tcp", "udp" or "any"), optional port ranges, action.

    ``to`` only matters in ``cloud_rules``: "cloud" or "proxy" limits the rule to those
    addresses of hp-cloud; None matches the whole of hp-cloud.
    """

    proto: str
    action: str
    ports: tuple[PortRange, ...] | None = None  # None: every port (or a port-less protocol)
    to: str | None = None

    def __post_init__(self) -> None:
        if self.to is not None and self.to not in _CLOUD_TARGETS:
            raise ValueError(f"bad destination {self.to!r}")
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

    def nft_lines(self) -> list[str]:
        """The rule as nft lines: one, or one per address family when ``to`` is set."""
        if self.to is None:
            return [self.nft()]
        v4, v6 = _CLOUD_TARGETS[self.to]
        lines = []
        for family, addresses in (("ip", v4), ("ip6", v6)):
            if addresses:
                lines.append(f"{family} daddr {{ {', '.join(addresses)} }} {self.nft()}")
        return lines


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    rules: tuple[Rule, ...] = ()  # client->dc, first match wins
    default: str = ACCEPT  # client->dc packets that no rule matched
    stateful: bool = True  # accept ct state established,related before anything else
    other: str = ACCEPT  # every other forwarded packet (dc->client new flows, ...)
    notes: tuple[str, ...] = field(default=())
    cloud_rules: tuple[Rule, ...] = ()  # client->cloud, first match wins
    cloud_default: str | None = None  # None: client->cloud is "other" traffic (no own chain)

    def __post_init__(self) -> None:
        if self.default not in ACTIONS or self.other not in (ACCEPT, DROP):
            raise ValueError(f"scenario {self.name}: bad default/other action")
        if self.cloud_default is not None and self.cloud_default not in ACTIONS:
            raise ValueError(f"scenario {self.name}: bad cloud_default action")
        if self.cloud_rules and self.cloud_default is None:
            raise ValueError(f"scenario {self.name}: cloud_rules need a cloud_default")
        if any(rule.to is not None for rule in self.rules):
            raise ValueError(f"scenario {self.name}: client->dc rules take no destination")

    @property
    def has_cloud_chain(self) -> bool:
        return self.cloud_default is not None

    # -- what happens ---------------------------------------------------------------------
    def action(self, proto: str, port: int | None = None, to: str = TO_DC) -> str:
        """hp-router's action for a new client packet (proto "tcp", "udp", "icmp"...) to
        ``to``: "dc" (hp-dc), "cloud" (the cloud's service address) or "proxy" (the
        proxies' addresses in hp-cloud)."""
        if to == TO_DC:
            for rule in self.rules:
                if rule.matches(proto, port):
                    return rule.action
            return self.default
        if to not in _CLOUD_TARGETS:
            raise ValueError(f"bad destination {to!r} (known: {', '.join(DESTINATIONS)})")
        if self.cloud_default is None:
            return self.other
        for rule in self.cloud_rules:
            if rule.to in (None, to) and rule.matches(proto, port):
                return rule.action
        return self.cloud_default

    def expect(self, proto: str, port: int | None = None, to: str = TO_DC) -> str:
        """What a socket on hp-client sees: PASS, TIMEOUT, REFUSED or UNREACHABLE."""
        return OUTCOME_OF_ACTION[self.action(proto, port, to)]

    def allows(self, proto: str, port: int | None = None, to: str = TO_DC) -> bool:
        return self.action(proto, port, to) == ACCEPT

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
        if self.has_cloud_chain:
            lines.append(
                f'\t\tiifname "{config.IF_ROUTER_CLIENT}" oifname "{config.IF_ROUTER_CLOUD}"'
                " jump client_to_cloud"
            )
        lines += ["\t}", "\tchain client_to_dc {"]
        lines += [f"\t\t{rule.nft()}" for rule in self.rules]
        lines += [f"\t\t{_NFT_STATEMENT[self.default]}", "\t}"]
        if self.has_cloud_chain:
            assert self.cloud_default is not None
            lines.append("\tchain client_to_cloud {")
            lines += [f"\t\t{line}" for rule in self.cloud_rules for line in rule.nft_lines()]
            lines += [f"\t\t{_NFT_STATEMENT[self.cloud_default]}", "\t}"]
        lines += ["}", ""]
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

# --- the cloud side (spec §4, §7.10-§7.12) ---------------------------------------------------
# The client reaches hp-dc freely in all of them. DNS to the cloud's dnsmasq (udp/tcp 53)
# always passes; what changes is the client's direct path to the cloud's web (80, 443) and
# AMQP (5671) services, and to the proxies.
CLOUD_DNS = (
    Rule("udp", ACCEPT, _ranges(53), to=TO_CLOUD),
    Rule("tcp", ACCEPT, _ranges(53), to=TO_CLOUD),
)
CLOUD_PROXY_PORTS = _ranges(*config.PROXY_PORTS)


def _blocked(port: int, what: str) -> Scenario:
    return Scenario(
        f"cloud-{port}-blocked",
        f"client->cloud TCP {port} ({what}) silently dropped; DNS, the other cloud ports, "
        "the proxies and the DC pass",
        cloud_rules=(*CLOUD_DNS, Rule("tcp", DROP, _ranges(port), to=TO_CLOUD)),
        cloud_default=ACCEPT,
    )


CLOUD_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _blocked(443, "HTTPS"),
        _blocked(80, "HTTP: CRL/OCSP"),
        _blocked(5671, "AMQP over TLS"),
        Scenario(
            "cloud-proxy-only",
            "the client reaches the cloud only through the proxies (TCP 3128, 3129, 8080) and "
            "its DNS (53); everything else client->cloud is silently dropped; the DC passes",
            cloud_rules=(*CLOUD_DNS, Rule("tcp", ACCEPT, CLOUD_PROXY_PORTS, to=TO_PROXY)),
            cloud_default=DROP,
        ),
    )
}

ALL_SCENARIOS: dict[str, Scenario] = {**SCENARIOS, **CLOUD_SCENARIOS}
ALIASES = {"reject-tcp-reset": "reject-reset"}
DEFAULT_SCENARIO = "open"


def get(name: str) -> Scenario:
    try:
        return ALL_SCENARIOS[ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(ALL_SCENARIOS)
        raise KeyError(f"unknown scenario {name!r} (known: {known})") from None
