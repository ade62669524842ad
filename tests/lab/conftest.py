"""The lab's own tests: each module gets its own, exclusive lab (module scope).

It is brought up, used and taken down, and the host must look exactly as before — apart
from what installing the lab's Debian packages puts in /etc, which is why the packages are
installed before the snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab import Lab, LabUnavailable, config, packages
from tests.lab.support import host_snapshot, say


@pytest.fixture(scope="module")
def host_before() -> dict[str, Any]:
    reason = Lab.unavailable_reason()
    if reason:
        pytest.skip(f"lab unavailable: {reason}")
    try:
        # apt's own files in /etc are not the lab's doing: install before taking the picture.
        packages.ensure((*config.PACKAGES_LAB, *config.PACKAGES_TOOLS))
    except LabUnavailable as exc:
        pytest.skip(f"lab unavailable: {exc}")
    return host_snapshot()


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, host_before: dict[str, Any]) -> Iterator[Lab]:
    the_lab = Lab()
    holder = the_lab.in_use_by()
    if holder is not None:
        say(request, f"the lab is in use by pid {holder}; waiting for it")
    start = time.monotonic()
    try:
        # Exclusive: a concurrent test run on this machine waits instead of colliding.
        the_lab.__enter__()
    except LabUnavailable as exc:
        pytest.skip(f"lab unavailable: {exc}")
    try:
        up_timings = dict(the_lab.timings)
        the_lab.ensure_tools()
        say(request, f"up in {time.monotonic() - start:.1f}s; steps: {up_timings}")
        yield the_lab
    finally:
        start = time.monotonic()
        the_lab.__exit__(None, None, None)
        say(request, f"down in {time.monotonic() - start:.1f}s")


@pytest.fixture
def open_lab(lab: Lab) -> Lab:
    lab.scenario("open")
    return lab
