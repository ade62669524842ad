"""Golden files for every output format: the examples' plans and the catalog.

The plans' golden files live beside the examples (examples/<name>/expected/) so users can
read them; `make golden` rewrites them after an intended change, and the diff is reviewed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clirunner import run
from tests.conftest import EXAMPLES, ROOT

FORMATS = {"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}
EXAMPLE_NAMES = sorted(p.parent.name for p in EXAMPLES.glob("*/topology.yaml"))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_plan_golden(example: str, fmt: str, golden: Callable[[Path, str], None]) -> None:
    topology = EXAMPLES / example / "topology.yaml"
    result = run("plan", str(topology.relative_to(ROOT)), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    golden(EXAMPLES / example / "expected" / f"plan.{FORMATS[fmt]}", result.stdout)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_catalog_golden(fmt: str, golden: Callable[[Path, str], None]) -> None:
    result = run("catalog", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    golden(ROOT / "tests" / "golden" / "catalog" / f"catalog.{FORMATS[fmt]}", result.stdout)


def test_every_example_has_every_format() -> None:
    assert len(EXAMPLE_NAMES) >= 4
    for example in EXAMPLE_NAMES:
        for ext in FORMATS.values():
            assert (EXAMPLES / example / "expected" / f"plan.{ext}").exists(), (example, ext)
