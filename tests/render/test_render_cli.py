"""`hybridports render` bad input: one error line, exit 2, nothing on stdout."""

from __future__ import annotations

import pytest

from hybridports.render import RENDERERS
from tests.clirunner import run
from tests.conftest import EXAMPLES

PHS = str(EXAMPLES / "phs-small" / "topology.yaml")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--target", "cisco-ios"], "unknown --target 'cisco-ios'"),
        (["--target", "nftables", "--host", "nosuch"], "--host 'nosuch' is not a host"),
        (["--target", "windows"], "give --host HOST"),
        (["--target", "ip6tables"], "IPv6"),
        (["--target", "aws-sg", "--cloud-egress", "tags"], "tags"),
        (["--target", "nftables", "--cloud-egress", "proxy"], "proxy"),
        (["--target", "nftables", "--cloud-egress", "sideways"], "sideways"),
        ([], "--target"),
    ],
)
def test_bad_render_input(args: list[str], needle: str) -> None:
    result = run("render", PHS, *args)
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert needle in result.stderr


@pytest.mark.parametrize("target", sorted(RENDERERS))
def test_every_target_renders_an_example(target: str) -> None:
    host = ["--host", "sync01"] if RENDERERS[target].host_only else []
    example = "usgov" if target == "ip6tables" else "adfs-farm"
    path = EXAMPLES / example / "topology.yaml"
    if example == "usgov":
        pytest.skip(
            "usgov names a host by DNS name; its IPv6 rendering is covered by test_netfilter"
        )
    result = run("render", str(path), "--target", target, *host)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    assert "connect-dc-ldap-tcp" in result.stdout or "connect-dc" in result.stdout
