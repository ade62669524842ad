"""The netfilter targets: nftables, iptables and ip6tables.

Golden files for every example, and the real tools as judges: `nft -c -f`,
`iptables-restore --test` and `ip6tables-restore --test` must accept every output, for the
forward path and for one host of each role, inside a throwaway network namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hybridports.model import PortRange, Transport
from hybridports.render import RENDERERS, RenderError
from hybridports.render.interface import AllowRule, Endpoint, Renderer, RuleSet
from hybridports.render.iptables import Ip6tablesRenderer, IptablesRenderer
from hybridports.render.nftables import NftablesRenderer
from hybridports.render.run import render
from hybridports.topology import load_topology
from tests.clirunner import run
from tests.conftest import EXAMPLES, ROOT
from tests.peers.netns import throwaway_namespace
from tests.render.cloud_support import planned, topology_path

GOLDEN = ROOT / "tests" / "golden" / "render"
TARGETS: dict[str, Renderer] = {
    "nftables": NftablesRenderer(),
    "iptables": IptablesRenderer(),
    "ip6tables": Ip6tablesRenderer(),
}
EXTENSION = {"nftables": "nft", "iptables": "rules", "ip6tables": "rules"}
EXAMPLE_NAMES = sorted(p.parent.name for p in EXAMPLES.glob("*/topology.yaml"))
# usgov names sync01 and its proxy by DNS names that resolve nowhere: the tests use a copy
# with addresses (render resolves names at run time, which a test must not depend on).
# Examples where IPv6 hosts talk to each other: the only ones ip6tables has rules for.
IPV6_EXAMPLES = {"usgov"}
FORWARD_GOLDEN = [
    (target, example)
    for target in sorted(TARGETS)
    for example in EXAMPLE_NAMES
    if target != "ip6tables" or example in IPV6_EXAMPLES
]
# A few host cases for the golden files (every role is checked by the real tools below).
HOST_GOLDEN = [
    ("nftables", "adfs-farm", "wap01"),
    ("nftables", "lab", "sync01"),
    ("nftables", "usgov", "pta01"),
    ("iptables", "adfs-farm", "wap01"),
    ("iptables", "phs-small", "dc01"),
    ("ip6tables", "usgov", "pta01"),
]


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The targets in the registry (a no-op once render/__init__.py lists them)."""
    for name, renderer in TARGETS.items():
        if name not in RENDERERS:
            monkeypatch.setitem(RENDERERS, name, renderer)


def rendered(
    example: str, target: str, tmp_path: Path, host: str | None = None
) -> tuple[str, tuple[str, ...]]:
    return render(planned(example, tmp_path), target, host=host)


def family_of_target(target: str) -> int | None:
    return {"iptables": 4, "ip6tables": 6}.get(target)


# ----------------------------------------------------------------------------- golden files


def expressible(example: str, target: str, tmp_path: Path, host: str | None = None) -> bool:
    """False when an IPv4/IPv6-only target has nothing of its family in this plan."""
    try:
        rendered(example, target, tmp_path, host)
    except RenderError as exc:
        assert family_of_target(target) is not None, exc
        assert "has nothing to write" in str(exc)
        return False
    return True


@pytest.mark.parametrize(("target", "example"), FORWARD_GOLDEN)
def test_golden_forward(
    example: str, target: str, tmp_path: Path, golden: Callable[[Path, str], None]
) -> None:
    text, _ = rendered(example, target, tmp_path)
    golden(GOLDEN / target / f"{example}.{EXTENSION[target]}", text)


@pytest.mark.parametrize(("target", "example", "host"), HOST_GOLDEN)
def test_golden_host(
    target: str, example: str, host: str, tmp_path: Path, golden: Callable[[Path, str], None]
) -> None:
    text, _ = rendered(example, target, tmp_path, host)
    golden(GOLDEN / target / f"{example}-{host}.{EXTENSION[target]}", text)


@pytest.mark.parametrize("example", sorted(set(EXAMPLE_NAMES) - IPV6_EXAMPLES))
def test_ip6tables_refuses_a_plan_without_ipv6(example: str, tmp_path: Path) -> None:
    # The lab has an IPv6 DC, but no IPv6 client talks to it: nothing for ip6tables.
    with pytest.raises(RenderError, match="no rule of this plan has IPv6 addresses at both ends"):
        rendered(example, "ip6tables", tmp_path)


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_output_is_deterministic(target: str, tmp_path: Path) -> None:
    # Two plans of the same topology, rendered separately: the same bytes.
    assert rendered("usgov", target, tmp_path) == rendered("usgov", target, tmp_path)


@pytest.mark.parametrize("target", ["nftables", "iptables"])
def test_every_rule_carries_its_catalog_ids_and_purpose(target: str, tmp_path: Path) -> None:
    result = planned("pta-sso", tmp_path)
    text, _ = render(result, target)
    lines = text.splitlines()
    rule_lines = [
        i
        for i, line in enumerate(lines)
        if (line.startswith("-A ") or "accept comment" in line) and "ACCEPT" in line.upper()
    ]
    boilerplate = ("return traffic", "no connection", "talking to itself", "neighbour")
    planned_ids = {i for row in result.flows for i in row.catalog_ids}
    seen: set[str] = set()
    for index in rule_lines:
        line = lines[index]
        assert 'comment "' in line, line
        comment = line.split('comment "', 1)[1].split('"', 1)[0]
        if any(word in comment for word in boilerplate):
            continue
        ids = [i.strip() for i in comment.split(":", 1)[0].split(",")]
        assert ids and all(i in planned_ids for i in ids), line
        seen.update(ids)
        # The purposes sit in the comment lines above the rule (or its family twin).
        above = index - 1
        while not lines[above].lstrip().startswith("#"):
            above -= 1
        assert lines[above].lstrip().startswith("#"), line
    # Every planned catalog flow shows up in some rule comment.
    assert seen == planned_ids


def test_nftables_comment_stays_within_128_characters() -> None:
    ids = tuple(f"some-long-catalog-identifier-{n:02}" for n in range(8))
    rule = AllowRule(
        Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        Endpoint(addresses=("10.0.0.2",), hosts=("b",)),
        Transport.TCP,
        (PortRange(443, 443),),
        ids,
        ("why",),
        True,
    )
    text = NftablesRenderer().render(RuleSet(forward=(rule,)), "t").text
    line = next(x for x in text.splitlines() if "tcp dport 443" in x)
    comment = line.split('comment "', 1)[1].rstrip('"')
    assert len(comment) <= 128 and comment.endswith("more")
    assert all(i in text.split("tcp dport 443")[0] for i in ids)  # all listed above the rule


def test_mixed_family_rule_is_split_and_named(tmp_path: Path) -> None:
    # pta01 (IPv6) → dc01 (IPv4) and dc02 (IPv6): only the IPv6 pair can exist.
    text, warnings = rendered("usgov", "nftables", tmp_path)
    assert "ip6 saddr 2001:db8:10::21 ip6 daddr 2001:db8:20::11 tcp dport 88" in text
    assert "ip saddr 10.0.1.10 ip daddr 10.0.2.10 tcp dport 88" in text
    assert any("IPv4 destinations 10.0.2.10 with sources 2001:db8:10::21" in w for w in warnings)
    v4, v4_warnings = rendered("usgov", "iptables", tmp_path)
    assert "2001:db8" not in v4.split("*filter", 1)[1]
    left_out = next(w for w in v4_warnings if w.startswith("left out") and "IPv6 rules" in w)
    assert "render them with --target ip6tables" in left_out
    assert "pta-agent-dc-pta-kerberos-tcp" in left_out
    v6, _ = rendered("usgov", "ip6tables", tmp_path)
    assert "10.0." not in v6.split("*filter", 1)[1]


def test_host_mode_matches_the_host_and_allows_loopback(tmp_path: Path) -> None:
    text, _ = rendered("adfs-farm", "nftables", tmp_path, "wap01")
    assert "chain forward" not in text
    assert "hook input priority filter; policy drop;" in text
    assert "hook output priority filter; policy drop;" in text
    assert 'iif "lo" accept' in text and 'oif "lo" accept' in text
    assert "ip daddr 192.0.2.10 tcp dport 443 accept" in text  # from the Microsoft cloud
    output = text.split("\tchain output {", 1)[1]
    rules = [line for line in output.splitlines() if "dport" in line]
    assert rules and all("ip saddr 192.0.2.10 " in line for line in rules)
    assert "nd-neighbor" not in text  # an IPv4-only host needs no neighbour discovery
    v6, _ = rendered("usgov", "nftables", tmp_path, "pta01")
    assert "nd-neighbor-solicit" in v6


def test_cloud_egress_any_lists_the_names_and_matches_no_address(tmp_path: Path) -> None:
    text, _ = rendered("phs-small", "nftables", tmp_path)
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if '"connect-entra-https"' in line)
    assert "daddr" not in lines[index] and "tcp dport 443" in lines[index]
    block = " ".join(lines[index - 8 : index])
    assert "login.microsoftonline.com" in block


def test_cloud_egress_proxy_allows_only_the_proxy(tmp_path: Path) -> None:
    result = planned("usgov", tmp_path)
    text, _ = render(result, "nftables", cloud_egress="proxy")
    rules = [line for line in text.splitlines() if "accept comment" in line]
    assert any("ip daddr 10.0.9.80 tcp dport 8080" in line for line in rules)
    allowed_anywhere = [line for line in rules if "daddr" not in line and "ct state" not in line]
    assert not allowed_anywhere, allowed_anywhere


def test_iptables_refuses_an_ipv6_only_topology(tmp_path: Path) -> None:
    path = tmp_path / "v6.yaml"
    path.write_text(
        "name: v6\nfeatures: [password-hash-sync]\nhosts:\n"
        '  sync01: {address: "2001:db8:1::10", roles: [connect]}\n'
        '  dc01: {address: "2001:db8:2::10", roles: [dc]}\n',
        encoding="utf-8",
    )
    result = run("render", str(path), "--target", "iptables")
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and "--target ip6tables" in result.stderr
    ok = run("render", str(path), "--target", "ip6tables")
    assert ok.exit_code == 0, ok.stderr
    assert "-s 2001:db8:1::10 -d 2001:db8:2::10 -p tcp -m tcp --dport 389" in ok.stdout


def test_long_address_lists_are_cut_for_iptables_restore() -> None:
    sources = tuple(f"10.1.{n // 256}.{n % 256}" for n in range(300))
    rule = AllowRule(
        Endpoint(addresses=sources, hosts=tuple(f"h{n}" for n in range(300))),
        Endpoint(addresses=("10.0.0.2",), hosts=("dc",)),
        Transport.TCP,
        (PortRange(389, 389),),
        ("x",),
        ("why",),
        True,
    )
    text = IptablesRenderer().render(RuleSet(forward=(rule,)), "t").text
    lines = [line for line in text.splitlines() if "--dport 389" in line]
    assert len(lines) > 1
    listed = [a for line in lines for a in line.split("-s ", 1)[1].split(" ", 1)[0].split(",")]
    assert listed == list(sources)
    assert all(len(line.split("-s ", 1)[1].split(" ", 1)[0]) <= 1000 for line in lines)


def many_pairs() -> RuleSet:
    """300 sources to 40 destinations: 12,000 pairs if iptables expanded them flat."""
    sources = tuple(f"10.1.{n // 256}.{n % 256}" for n in range(300))
    destinations = tuple(f"10.2.0.{n}" for n in range(1, 41))
    rule = AllowRule(
        Endpoint(addresses=sources, hosts=tuple(f"agent{n}" for n in range(300))),
        Endpoint(addresses=destinations, hosts=tuple(f"dc{n}" for n in range(1, 41))),
        Transport.ICMP,
        (PortRange(8, 8),),
        ("agent-dc-icmp",),
        ("ping",),
        False,
    )
    return RuleSet(forward=(rule,))


def test_many_pairs_go_through_a_chain() -> None:
    text = IptablesRenderer().render(many_pairs(), "t").text
    assert ":hp1-agent-dc-icmp - [0:0]" in text
    jumps = [x for x in text.splitlines() if x.startswith("-A FORWARD") and "-j hp1-" in x]
    checks = [x for x in text.splitlines() if x.startswith("-A hp1-agent-dc-icmp -s ")]
    assert len(jumps) == 1 and "-d 10.2.0.1,10.2.0.2," in jumps[0] and "-s " not in jumps[0]
    assert checks and all(x.endswith("-j ACCEPT") and "-d " not in x for x in checks)
    nft = NftablesRenderer().render(many_pairs(), "t").text
    assert "ip saddr @v4_agent0_and_299_more ip daddr @v4_dc1_and_39_more icmp type" in nft


def test_overlapping_networks_collapse_in_an_interval_set() -> None:
    rule = AllowRule(
        Endpoint(addresses=("10.0.0.0/8", "10.1.2.3", "192.0.2.0/24"), hosts=("a", "b", "c")),
        Endpoint(addresses=("198.51.100.1",), hosts=("d",)),
        Transport.UDP,
        (PortRange(53, 53), PortRange(88, 88)),
        ("x",),
        ("why",),
        False,
    )
    text = NftablesRenderer().render(RuleSet(forward=(rule,)), "t").text
    assert "flags interval" in text and "elements = { 10.0.0.0/8, 192.0.2.0/24 }" in text
    assert "ip saddr @v4_a_b_c ip daddr 198.51.100.1 udp dport { 53, 88 } accept" in text
    ipt = IptablesRenderer().render(RuleSet(forward=(rule,)), "t").text
    assert "-p udp -m multiport --dports 53,88" in ipt


def test_an_unresolved_name_is_an_error() -> None:
    rule = AllowRule(
        Endpoint(addresses=("10.0.0.1",), hosts=("a",)),
        Endpoint(addresses=("proxy.example",), hosts=("proxy.example",)),
        Transport.TCP,
        (PortRange(8080, 8080),),
        ("proxy",),
        ("why",),
        True,
    )
    for renderer in (NftablesRenderer(), IptablesRenderer()):
        with pytest.raises(RenderError, match="not an IP address"):
            renderer.render(RuleSet(forward=(rule,)), "t")


# ----------------------------------------------------------------------------- real tools

CHECKS = {
    "nftables": ["nft", "-c", "-f"],
    "iptables": ["iptables-restore", "--test"],
    "ip6tables": ["ip6tables-restore", "--test"],
}


def _tools_reason() -> str | None:
    if os.geteuid() != 0:
        return "checking with nft/iptables-restore needs root (a network namespace)"
    if shutil.which("ip") is None:
        return "'ip' (iproute2) is not installed"
    missing = [c[0] for c in CHECKS.values() if shutil.which(c[0]) is None]
    if missing and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nftables", "iptables"],
            capture_output=True,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            timeout=600,
        )
        missing = [c[0] for c in CHECKS.values() if shutil.which(c[0]) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (Debian packages nftables, iptables)"
    return None


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    """A throwaway network namespace: the tools check against a kernel, never the host's."""
    reason = _tools_reason()
    if reason:
        pytest.skip(reason)
    with throwaway_namespace("hp-render") as name:
        yield name


def role_hosts(example: str, tmp_path: Path) -> list[str]:
    """One host per role: the first by name."""
    hosts = load_topology(topology_path(example, tmp_path)).hosts
    chosen: dict[str, str] = {}
    for host in sorted(hosts, key=lambda h: h.name):
        for role in host.roles:
            chosen.setdefault(role.value, host.name)
    return sorted(set(chosen.values()))


@pytest.mark.peers
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_real_tools_accept_every_output(
    example: str, target: str, namespace: str, tmp_path: Path
) -> None:
    # The forward path, and one host of each of the example's roles.
    checked = 0
    for host in [None, *role_hosts(example, tmp_path)]:
        if not expressible(example, target, tmp_path, host):
            continue
        text, _ = rendered(example, target, tmp_path, host)
        path = tmp_path / f"{example}-{host or 'forward'}.{EXTENSION[target]}"
        path.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, *CHECKS[target], str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"{target} {example} --host {host}: {proc.stderr}"
        checked += 1
    if target != "ip6tables" or example in IPV6_EXAMPLES:
        assert checked, f"nothing of {example} was checked with {target}"


@pytest.mark.peers
def test_real_tools_accept_large_groups(namespace: str, tmp_path: Path) -> None:
    for target in ("nftables", "iptables"):
        path = tmp_path / f"many.{EXTENSION[target]}"
        path.write_text(TARGETS[target].render(many_pairs(), "many").text, encoding="utf-8")
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, *CHECKS[target], str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"{target}: {proc.stderr}"


@pytest.mark.peers
def test_nft_loads_and_reloads_atomically(namespace: str, tmp_path: Path) -> None:
    # Loaded twice, the second load replaces the table instead of failing on duplicates.
    text, _ = rendered("adfs-farm", "nftables", tmp_path)
    path = tmp_path / "adfs.nft"
    path.write_text(text, encoding="utf-8")
    for _ in range(2):
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, "nft", "-f", str(path)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
    listing = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "list", "table", "inet", "hybridports"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listing.count('comment "client-wap-certauth-49443"') == 1
    subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", "hybridports"],
        check=True,
    )
