from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from lab import Lab

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# In CI, property tests draw the same examples every run: a red build is then about the
# change, not about the draw. Locally they keep exploring (and keep their database).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """tests/lab first: its modules bring the lab up and down themselves, and would wait
    forever for the session-wide ``lab`` fixture below once another module has taken it."""
    lab_tests = Path(__file__).parent / "lab"
    items.sort(key=lambda item: not item.path.is_relative_to(lab_tests))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files from the current output"
    )


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Output must not depend on the caller's terminal or proxy settings.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[Path, str], None]:
    """Compare text with a golden file; ``--update-golden`` rewrites it instead."""
    update = request.config.getoption("--update-golden")

    def check(path: Path, actual: str) -> None:
        if update or os.environ.get("UPDATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path} (run: make golden)"
        expected = path.read_text(encoding="utf-8")
        if expected != actual:
            path.with_name(path.name + ".actual").write_text(actual, encoding="utf-8")
        assert expected == actual, f"{path} differs; see {path.name}.actual (make golden to accept)"

    return check


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The network-namespace lab (lab/), shared by every test module that asks for it.

    One session-wide fixture, because ``with Lab()`` takes a machine-wide lock that a second
    holder in the same process would wait for forever. Without root or network namespaces
    the tests that use it skip and say why. HP_LAB_SHARED=1 reuses a running lab without
    taking it down (and without the lock: only for one person's manual runs).
    """
    reason = Lab.unavailable_reason()
    if reason:
        pytest.skip(f"lab unavailable: {reason}")
    if os.environ.get("HP_LAB_SHARED") == "1":
        shared = Lab()
        shared.up()
        yield shared
        return
    with Lab() as owned:
        yield owned
