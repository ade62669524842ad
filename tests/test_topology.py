"""The topology file: good files load, every broken one is one exit-2 error with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridports._yaml import parse_yaml
from hybridports.errors import UserError
from hybridports.model import Feature, PortRange, Role
from hybridports.topology import load_topology, parse_proxy, parse_topology
from tests.clirunner import run
from tests.conftest import EXAMPLES

GOOD = """\
name: t
features: [password-hash-sync]
hosts:
  sync01: {address: 10.0.1.10, roles: [connect]}
  dc01: {address: 10.0.2.10, roles: [dc]}
"""

# (case id, file text, expected line, text the message must contain)
BAD: list[tuple[str, str, int, str]] = [
    ("syntax-error", "name: t\nhosts: [a, b\n", 3, "YAML syntax error"),
    ("tab-indent", "name: t\nhosts:\n\tsync01: x\n", 3, "YAML syntax error"),
    ("not-a-mapping", "- a\n- b\n", 1, "must be a mapping"),
    ("unknown-top-key", GOOD + "feature: [ldaps]\n", 6, "unknown key 'feature'"),
    (
        "unknown-role",
        GOOD.replace("roles: [dc]", "roles: [dcc]"),
        5,
        "unknown role 'dcc'",
    ),
    ("role-entra", GOOD.replace("roles: [dc]", "roles: [dc, entra]"), 5, "'entra'"),
    (
        "unknown-feature",
        "name: t\nfeatures:\n  - password-hash-sync\n  - sso\nhosts:\n"
        "  s: {address: 10.0.0.1, roles: [connect]}\n  d: {address: 10.0.0.2, roles: [dc]}\n",
        4,
        "unknown feature 'sso'",
    ),
    (
        "reserved-feature",
        GOOD.replace("[password-hash-sync]", "[device-writeback]"),
        2,
        "device-writeback",
    ),
    ("unknown-cloud", "cloud: germany\n" + GOOD, 1, "unknown cloud 'germany'"),
    ("bad-ipv4", GOOD.replace("10.0.2.10", "10.0.2.300"), 5, "'10.0.2.300'"),
    ("bad-address-chars", GOOD.replace("10.0.2.10", "dc 01!"), 5, "'dc 01!'"),
    ("address-not-string", GOOD.replace("10.0.2.10", "12"), 5, "12"),
    (
        "cidr-on-server",
        GOOD.replace("10.0.2.10", "10.0.2.0/24"),
        5,
        "'10.0.2.0/24'",
    ),
    (
        "cidr-host-bits",
        GOOD + "  users: {address: 10.9.0.1/16, roles: [client]}\n",
        6,
        "'10.9.0.1/16'",
    ),
    (
        "duplicate-host",
        GOOD + "  dc01: {address: 10.0.2.11, roles: [dc]}\n",
        6,
        "duplicate key 'dc01'",
    ),
    ("bad-port-range", "rpc_dynamic_ports: 65535-49152\n" + GOOD, 1, "'65535-49152'"),
    ("port-out-of-range", "rpc_dynamic_ports: 49152-70000\n" + GOOD, 1, "'49152-70000'"),
    ("port-not-a-range", "rpc_dynamic_ports: lots\n" + GOOD, 1, "'lots'"),
    (
        "feature-without-role",
        GOOD.replace("[password-hash-sync]", "[password-hash-sync, federation]"),
        2,
        "'federation' needs a host with role 'adfs'",
    ),
    (
        "implied-feature-without-role",
        GOOD.replace("[password-hash-sync]", "[group-provisioning]"),
        2,
        "'group-provisioning' needs a host with role 'cloud-sync-agent'",
    ),
    ("no-dc", GOOD.replace("roles: [dc]", "roles: [pta-agent]"), 3, "no host plays role 'dc'"),
    (
        "no-sync-host",
        GOOD.replace("roles: [connect]", "roles: [pta-agent]"),
        3,
        "'connect' or 'cloud-sync-agent'",
    ),
    ("hosts-not-mapping", "name: t\nhosts:\n  - sync01\n", 3, "hosts must be a non-empty mapping"),
    ("hosts-missing", "name: t\nfeatures: []\n", 1, "missing 'hosts:'"),
    (
        "unknown-host-key",
        GOOD + "  dc02:\n    address: 10.0.2.11\n    role: [dc]\n",
        8,
        "unknown key 'role'",
    ),
    ("host-without-roles", GOOD + "  dc02:\n    address: 10.0.2.11\n", 6, "has no 'roles'"),
    ("bad-proxy", "proxy: ftp://proxy:21\n" + GOOD, 1, "ftp://proxy:21"),
    ("proxy-without-port", "proxy: http://proxy.example\n" + GOOD, 1, "give the port"),
    (
        "sample-not-matching",
        'endpoint_samples:\n  "*.blob.core.windows.net": [example.com]\n' + GOOD,
        2,
        "'example.com' does not match",
    ),
    (
        "zone-on-server",
        GOOD.replace("roles: [dc]}", "roles: [dc], zone: internet}"),
        5,
        "zone applies to client hosts only",
    ),
    (
        "unknown-zone",
        GOOD + "  users: {address: 10.9.0.0/16, roles: [client], zone: dmz}\n",
        6,
        "unknown zone 'dmz'",
    ),
]


@pytest.mark.parametrize(("text", "line", "needle"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_topology_is_one_error_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    # Given a broken topology file
    path = tmp_path / "topo.yaml"
    path.write_text(text, encoding="utf-8")
    # When it is planned
    result = run("plan", str(path))
    # Then: exit 2, nothing on stdout, one error line naming file, line and value
    assert result.exit_code == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}:{line}: "), lines[0]
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("missing", "no such topology file"),
        ("directory", "is a directory"),
        ("empty", "empty topology file"),
        ("blank", "empty topology file"),
        ("binary", "binary data"),
        ("latin1", "not UTF-8"),
    ],
)
def test_unreadable_topology(tmp_path: Path, kind: str, needle: str) -> None:
    path = tmp_path / "topo.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "blank":
        path.write_bytes(b"\n   \n# only a comment\n")
    elif kind == "binary":
        path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" * 10)
    elif kind == "latin1":
        path.write_bytes(GOOD.encode() + "# caf\xe9\n".encode("latin-1"))
    result = run("plan", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: {path}")
    assert needle in result.stderr


def test_every_example_loads() -> None:
    for path in sorted(EXAMPLES.glob("*/topology.yaml")):
        topology = load_topology(path)
        assert topology.hosts, path


def test_features_imply_their_prerequisites(tmp_path: Path) -> None:
    text = GOOD.replace("[password-hash-sync]", "[adfs-gmsa-install]") + (
        "  adfs01: {address: 10.0.3.10, roles: [adfs]}\n"
    )
    topology = parse_topology(parse_yaml(text, "t.yaml"))
    assert Feature.ADFS_WIZARD in topology.features
    assert Feature.FEDERATION in topology.features
    assert topology.declared_features == (Feature.ADFS_GMSA_INSTALL,)


def test_host_roles_addresses_and_ranges() -> None:
    text = (
        "rpc_dynamic_ports: [50000-50999, 51000]\n"
        "hosts:\n"
        "  sync01: {address: SYNC01.Contoso.Example., roles: connect}\n"
        "  dc01: {address: '2001:db8::10', roles: [dc, dc], rpc_dynamic_ports: 49152-49200}\n"
        "  users: {address: '2001:db8:1::/48', roles: [client], zone: intranet}\n"
    )
    topology = parse_topology(parse_yaml(text, "t.yaml"))
    sync01, dc01, users = topology.hosts
    assert (sync01.address, sync01.kind, sync01.roles) == (
        "sync01.contoso.example",
        "dns",
        (Role.CONNECT,),
    )
    assert (dc01.kind, dc01.roles, dc01.ip_version) == ("ip", (Role.DC,), 6)
    assert dc01.rpc_dynamic_ports == (PortRange(49152, 49200),)
    assert topology.rpc_dynamic_ports == (PortRange(50000, 50999), PortRange(51000, 51000))
    assert (users.kind, users.zone) == ("network", "intranet")
    assert topology.name == "t"


def test_proxy_parsing_keeps_credentials_out_of_display() -> None:
    proxy = parse_proxy("http://svc%40corp:s3cret@proxy.corp.example:3128")
    assert (proxy.host, proxy.port, proxy.username, proxy.password) == (
        "proxy.corp.example",
        3128,
        "svc@corp",
        "s3cret",
    )
    assert "s3cret" not in proxy.display
    assert "s3cret" not in repr(proxy)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_topology_or_a_user_error(text: str) -> None:
    try:
        parse_topology(parse_yaml(text, "fuzz.yaml"))
    except UserError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith("fuzz.yaml")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["name", "cloud", "features", "hosts", "proxy", "rpc_dynamic_ports", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_any_structure_gives_a_topology_or_a_user_error(data: dict[str, object]) -> None:
    import yaml

    text = yaml.safe_dump(data)
    try:
        parse_topology(parse_yaml(text, "fuzz.yaml"))
    except UserError:
        pass
