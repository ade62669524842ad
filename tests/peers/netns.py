"""A throwaway network namespace, so firewall tools load rules into a kernel that is not the
host's. Tests that cannot create one skip and say why."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def throwaway_namespace(prefix: str) -> Iterator[str]:
    """``ip netns add <prefix>-<random>``, deleted afterwards whatever happens."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    proc = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {proc.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
