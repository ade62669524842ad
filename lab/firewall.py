"""Loading scenarios into hp-router's nftables, and reading back which one is loaded."""

from __future__ import annotations

import re

from . import config
from ._util import run
from .scenarios import Scenario

_COMMENT = re.compile(r'comment "hp-scenario=([^"]+)"')


def apply(scenario: Scenario) -> None:
    """Replace the ``inet hp_lab`` table atomically (one nft transaction).

    Then forget the router's tracked connections: a flow the previous scenario let through
    (a UDP query reusing its source port, say) would otherwise still pass as "established".
    """
    run(["ip", "netns", "exec", config.NS_ROUTER, "nft", "-f", "-"], input=scenario.nft_ruleset())
    run(["ip", "netns", "exec", config.NS_ROUTER, "conntrack", "-F"], check=False)


def current() -> str | None:
    """Name of the scenario loaded in hp-router right now (from the table's comment)."""
    proc = run(
        ["ip", "netns", "exec", config.NS_ROUTER, "nft", "list", "table", "inet", config.NFT_TABLE],
        check=False,
    )
    if proc.returncode != 0:
        return None
    match = _COMMENT.search(proc.stdout)
    return match.group(1) if match else None


def ruleset() -> str:
    """The whole ruleset of hp-router, as ``nft list ruleset`` prints it."""
    return run(["ip", "netns", "exec", config.NS_ROUTER, "nft", "list", "ruleset"]).stdout
