"""Probe tests against real peers: the lab's Samba AD DC, behind the lab's nftables router.

Probes run inside the lab's client namespace (``ip netns exec hp-client``), as a user runs
them on the Entra Connect server. Without root or network namespaces these tests skip and
say why. Set HP_LAB_SHARED=1 to reuse a running lab without taking it down afterwards.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from lab import Lab


def probe_in_client(
    lab: Lab,
    probe: str,
    address: str,
    port: int,
    transport: str,
    *extra: str,
    timeout: float = 2.0,
) -> dict[str, Any]:
    """Run one probe from the client namespace; the outcome as a dict (verdict, detail, facts)."""
    argv = [
        sys.executable, "-m", "hybridports.probe.one", probe, address, str(port), transport,
        "--timeout", str(timeout), *extra,
    ]  # fmt: skip
    proc = lab.run("client", argv, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
