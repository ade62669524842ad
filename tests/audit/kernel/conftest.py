"""The kernel namespaces for the differential tests, and the coverage summary they print."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.audit.kernel.differential import STATS
from tests.audit.kernel.netns import KernelNet, unavailable_reason


@pytest.fixture(scope="session")
def kernel_net() -> Iterator[KernelNet]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"kernel differential test unavailable: {reason}")
    net = KernelNet()
    try:
        net.up()
        yield net
    finally:
        net.down()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, stats in sorted(STATS.items()):
        terminalreporter.write_line(f"kernel differential, {stats.line(name)}")
