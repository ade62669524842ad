"""The evaluator on hand-built rulesets, and against a port-by-port reference (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hybridports.audit.evaluate import PORTLESS, Evaluator, Query, Side
from hybridports.audit.interface import (
    FORWARD_PATH,
    Action,
    AddressMatch,
    Chain,
    InterfaceMatch,
    Match,
    Rule,
    Ruleset,
)
from hybridports.audit.intervals import ALL_V4, Intervals, network_interval
from hybridports.audit.queries import PUBLIC_V4


def _ruleset(*chains: Chain, hooks: dict[str, tuple[str, ...]] | None = None) -> Ruleset:
    return Ruleset("test", "t", {c.key: c for c in chains}, hooks or {"forward": (chains[0].key,)})


def _chain(key: str, *rules: Rule, policy: Action | None = Action.DROP) -> Chain:
    return Chain(key, rules, policy, f"{key} policy {policy.value if policy else '-'}")


def _rule(label: str, action: Action = Action.ACCEPT, target: str | None = None, **match) -> Rule:  # type: ignore[no-untyped-def]
    return Rule(Match(**match), action, label, target)


def _ip(text: str) -> AddressMatch:
    return AddressMatch(network_interval(text))


def _query(
    src: str = "10.0.0.1", dst: str = "10.0.1.1", proto: str = "tcp", ports=(88, 88), **kw
) -> Query:  # type: ignore[no-untyped-def]
    return Query(
        Side(network_interval(src), name=src),
        Side(network_interval(dst), name=dst),
        proto,
        Intervals.span(*ports) if proto in ("tcp", "udp") else PORTLESS,
        6 if ":" in src else 4,
        **kw,
    )


def _ports(ruleset: Ruleset, query: Query, positions=FORWARD_PATH) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    outcome = Evaluator(ruleset).evaluate(query, positions)
    allowed, blocked, unknown = outcome.ports(query)
    return str(allowed), str(blocked), str(unknown)


def test_first_match_splits_a_port_range() -> None:
    rs = _ruleset(
        _chain(
            "fwd",
            _rule("drop 50000", Action.DROP, ports=Intervals.span(50000, 50000)),
            _rule("accept rpc", ports=Intervals.span(49152, 65535), protocols=frozenset({"tcp"})),
        )
    )
    assert _ports(rs, _query(ports=(49152, 65535))) == ("49152-49999,50001-65535", "50000", "")
    assert _ports(rs, _query(proto="udp", ports=(49152, 65535))) == ("", "49152-65535", "")


def test_jump_return_goto_and_policy() -> None:
    rs = _ruleset(
        _chain(
            "fwd",
            _rule("to dc", Action.JUMP, target="dc", destination=_ip("10.0.1.0/24")),
            _rule("accept 389", ports=Intervals.span(389, 389)),
            policy=Action.DROP,
        ),
        _chain(
            "dc",
            _rule("back for 389", Action.RETURN, ports=Intervals.span(389, 389)),
            _rule("accept kerberos", ports=Intervals.span(88, 88)),
            policy=None,
        ),
    )
    assert _ports(rs, _query()) == ("88", "", "")
    assert _ports(rs, _query(ports=(389, 389))) == ("389", "", "")
    assert _ports(rs, _query(ports=(445, 445))) == ("", "445", "")
    goto = _ruleset(
        _chain("fwd", _rule("go", Action.GOTO, target="sub"), _rule("accept all")),
        _chain("sub", _rule("accept 88", ports=Intervals.span(88, 88)), policy=None),
    )
    # After a goto, what the target does not decide meets the *base* chain's policy.
    assert _ports(goto, _query(ports=(88, 89))) == ("88", "89", "")


def test_accept_ends_only_its_base_chain_and_drop_is_final() -> None:
    first = _chain("a", _rule("accept everything"), policy=Action.ACCEPT)
    second = _chain(
        "b", _rule("drop 445", Action.DROP, ports=Intervals.span(445, 445)), policy=Action.ACCEPT
    )
    rs = _ruleset(first, second, hooks={"forward": ("a", "b")})
    assert _ports(rs, _query(ports=(444, 446))) == ("444,446", "445", "")


def test_unknown_construct_never_allows() -> None:
    rs = _ruleset(
        _chain(
            "fwd",
            _rule("odd", unknown="meta mark 0x1", ports=Intervals.span(88, 88)),
            _rule("accept 89", ports=Intervals.span(89, 89)),
        )
    )
    query = _query(ports=(87, 89))
    outcome = Evaluator(rs).evaluate(query, FORWARD_PATH)
    assert [str(x) for x in outcome.ports(query)] == ["89", "87", "88"]
    assert "odd" in outcome.undecidable


def test_an_undecidable_rule_that_cannot_change_the_verdict_does_not_matter() -> None:
    rs = _ruleset(
        _chain(
            "fwd",
            _rule("odd accept", unknown="meta mark 0x1"),
            _rule("odd drop", Action.DROP, unknown="meta mark 0x2", ports=Intervals.span(90, 99)),
            _rule("accept all"),
        )
    )
    query = _query(ports=(80, 89))
    outcome = Evaluator(rs).evaluate(query, FORWARD_PATH)
    assert [str(x) for x in outcome.ports(query)] == ["80-89", "", ""]
    assert not outcome.undecidable
    query = _query(ports=(88, 92))
    outcome = Evaluator(rs).evaluate(query, FORWARD_PATH)
    assert [str(x) for x in outcome.ports(query)] == ["88-89", "", "90-92"]
    assert set(outcome.undecidable) == {"odd drop"}


def test_program_rules_are_decided_by_the_serving_process() -> None:
    rs = _ruleset(
        _chain("in", _rule("ldap", program="lsass.exe", ports=Intervals.span(389, 389))),
        hooks={"input": ("in",)},
    )
    lsass = Query(
        Side(network_interval("10.0.0.1")),
        Side(network_interval("10.0.1.1"), process=("lsass.exe", None)),
        "tcp",
        Intervals.span(389, 389),
        4,
    )
    assert _ports(rs, lsass, ("input",)) == ("389", "", "")
    other = replace(lsass, destination=replace(lsass.destination, process=("dns.exe", "dns")))
    assert _ports(rs, other, ("input",)) == ("", "389", "")
    unknown = replace(lsass, destination=replace(lsass.destination, process=None))
    assert _ports(rs, unknown, ("input",)) == ("", "", "389")


def test_interfaces_need_a_map_except_loopback() -> None:
    rs = _ruleset(
        _chain(
            "fwd",
            _rule("lo", in_interface=InterfaceMatch(frozenset({"lo"}))),
            _rule("lan", in_interface=InterfaceMatch(frozenset({"lan*"}))),
        )
    )
    assert _ports(rs, _query()) == ("", "", "88")
    mapped = Query(
        Side(network_interval("10.0.0.1"), interface="lan0"),
        Side(network_interval("10.0.1.1"), interface="dmz"),
        "tcp",
        Intervals.span(88, 88),
        4,
    )
    assert _ports(rs, mapped) == ("88", "", "")


def test_cloud_names_match_any_or_their_tag_else_unknown() -> None:
    cloud = Query(
        Side(network_interval("10.0.0.1")),
        Side(
            PUBLIC_V4,
            exact=False,
            name="login.microsoftonline.com",
            tags=frozenset({"azureactivedirectory"}),
        ),
        "tcp",
        Intervals.span(443, 443),
        4,
    )
    anywhere = _ruleset(_chain("fwd", _rule("any", destination=AddressMatch(ALL_V4))))
    assert _ports(anywhere, cloud) == ("443", "", "")
    tag = _ruleset(
        _chain(
            "fwd",
            _rule(
                "aad", destination=AddressMatch(Intervals(), frozenset({"azureactivedirectory"}))
            ),
        )
    )
    assert _ports(tag, cloud) == ("443", "", "")
    specific = _ruleset(_chain("fwd", _rule("one ip", destination=_ip("20.190.128.0/18"))))
    assert _ports(specific, cloud) == ("", "", "443")
    private = _ruleset(_chain("fwd", _rule("lan", destination=_ip("10.0.0.0/8"))))
    assert _ports(private, cloud) == ("", "443", "")


def test_source_network_partly_allowed_is_blocked_for_those_ports() -> None:
    rs = _ruleset(_chain("fwd", _rule("half", source=_ip("10.0.0.0/25"))))
    assert _ports(rs, _query(src="10.0.0.0/24")) == ("", "88", "")


def test_rpc_keyword_and_icmp() -> None:
    rs = _ruleset(
        _chain("fwd", _rule("rpc", rpc_dynamic=True), _rule("icmp", protocols=frozenset({"icmp"})))
    )
    assert _ports(rs, _query(ports=(49152, 65535), rpc_dynamic=True)) == ("49152-65535", "", "")
    assert _ports(rs, _query(ports=(49152, 65535))) == ("", "49152-65535", "")
    assert _ports(rs, _query(proto="icmp")) == ("0", "", "")


def test_families_and_established_only() -> None:
    rs = _ruleset(
        _chain(
            "fwd",
            _rule("v6 only", families=frozenset({6})),
            _rule("established", new_connection=False),
        )
    )
    assert _ports(rs, _query()) == ("", "88", "")
    assert _ports(rs, _query(src="2001:db8::1", dst="2001:db8::2")) == ("88", "", "")


# --- reference: the same semantics, one address and one port at a time ---------------------

ADDRS = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.1.2"]
NETS = ["10.0.0.0/24", "10.0.1.0/24", "10.0.0.2/32", "10.0.1.1/32", "0.0.0.0/0"]


def _reference(rs: Ruleset, src: int, dst: int, proto: str, port: int) -> str:
    def matches(m: Match) -> bool:
        if m.protocols is not None and (proto in m.protocols) == m.negate_protocols:
            return False
        if m.ports is not None and port not in m.ports:
            return False
        if m.source is not None and src not in m.source.addresses:
            return False
        return not (m.destination is not None and dst not in m.destination.addresses)

    def run(chain: Chain, depth: int) -> str | None:
        for rule in chain.rules:
            if not matches(rule.match):
                continue
            if rule.action is Action.ACCEPT:
                return "accept"
            if rule.action is Action.DROP:
                return "drop"
            if rule.action is Action.RETURN:
                return None
            if rule.action in (Action.JUMP, Action.GOTO):
                got = run(rs.chains[rule.target or ""], depth + 1)
                if got is not None or rule.action is Action.GOTO:
                    return got
        return None

    for key in rs.hooks["forward"]:
        chain = rs.chains[key]
        got = run(chain, 0)
        if got is None:
            got = "accept" if chain.policy is Action.ACCEPT else "drop"
        if got == "drop":
            return "drop"
    return "accept"


@st.composite
def _rulesets(draw: st.DrawFn) -> Ruleset:
    def rule(targets: list[str]) -> Rule:
        actions = [Action.ACCEPT, Action.DROP, Action.RETURN] + [Action.JUMP, Action.GOTO] * bool(
            targets
        )
        action = draw(st.sampled_from(actions))
        low = draw(st.integers(80, 100))
        return _rule(
            f"r{draw(st.integers(0, 999))}",
            action,
            draw(st.sampled_from(targets)) if action in (Action.JUMP, Action.GOTO) else None,
            source=draw(st.none() | st.sampled_from(NETS).map(_ip)),
            destination=draw(st.none() | st.sampled_from(NETS).map(_ip)),
            protocols=draw(st.none() | st.sampled_from([frozenset({"tcp"}), frozenset({"udp"})])),
            ports=draw(st.none() | st.integers(0, 10).map(lambda w: Intervals.span(low, low + w))),
        )

    leaf = _chain("leaf", *[rule([]) for _ in range(draw(st.integers(0, 4)))], policy=None)
    mid = _chain("mid", *[rule(["leaf"]) for _ in range(draw(st.integers(0, 4)))], policy=None)
    base = _chain(
        "base",
        *[rule(["mid", "leaf"]) for _ in range(draw(st.integers(0, 6)))],
        policy=draw(st.sampled_from([Action.ACCEPT, Action.DROP])),
    )
    second = _chain(
        "second", *[rule([]) for _ in range(draw(st.integers(0, 3)))], policy=Action.ACCEPT
    )
    return _ruleset(base, mid, leaf, second, hooks={"forward": ("base", "second")})


@settings(max_examples=300, deadline=None)
@given(_rulesets(), st.sampled_from(ADDRS), st.sampled_from(ADDRS), st.sampled_from(["tcp", "udp"]))
def test_evaluator_equals_port_by_port_reference(
    rs: Ruleset, src: str, dst: str, proto: str
) -> None:
    query = _query(src, dst, proto, (78, 112))
    allowed, blocked, unknown = Evaluator(rs).evaluate(query, FORWARD_PATH).ports(query)
    assert not unknown
    s, d = network_interval(src).low, network_interval(dst).low
    for port in range(78, 113):
        expected = _reference(rs, s, d, proto, port)
        assert (port in allowed) == (expected == "accept"), (port, expected)
        assert (port in blocked) == (expected == "drop")
