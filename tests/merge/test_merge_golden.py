"""Golden files for every format of `hybridports merge` (rewrite: pytest --update-golden)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clirunner import run
from tests.conftest import ROOT

DATA = Path("tests/data/merge")
GOLDEN = ROOT / "tests" / "golden" / "merge"
FORMATS = {
    "table": "txt",
    "json": "json",
    "csv": "csv",
    "markdown": "md",
    "junit": "xml",
    "html": "html",
}
CASES = {
    # one probe, an audit of the router and a real audit of dc01's own rules, with the plan
    "lab": [
        str(DATA / "lab" / "sync01.json"),
        str(DATA / "lab" / "router-audit.json"),
        str(DATA / "lab" / "dc01-audit.json"),
        "--topology",
        "examples/lab/topology.yaml",
    ],
    # three of seven hosts probed, with the plan: four hosts are "not probed" gaps
    "adfs-farm": [
        str(DATA / "adfs-farm" / "adfs01.json"),
        str(DATA / "adfs-farm" / "sync01.json"),
        str(DATA / "adfs-farm" / "wap01.json"),
        "--topology",
        "examples/adfs-farm/topology.yaml",
    ],
    # the same files without the plan: coverage unknown, plain change lines
    "adfs-farm-no-topology": [
        str(DATA / "adfs-farm" / "adfs01.json"),
        str(DATA / "adfs-farm" / "sync01.json"),
        str(DATA / "adfs-farm" / "wap01.json"),
    ],
}


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # file names in the reports are as given: relative to the root


# Without the plan only the parts that change: coverage, change lines, no rendered rules.
PAIRS = [(c, f) for c in sorted(CASES) for f in sorted(FORMATS)]
PAIRS = [(c, f) for c, f in PAIRS if "no-topology" not in c or f in ("table", "json")]


@pytest.mark.parametrize(("case", "fmt"), PAIRS)
def test_merge_golden(case: str, fmt: str, golden: Callable[[Path, str], None]) -> None:
    result = run("merge", *CASES[case], "--format", fmt)
    assert result.exit_code == 1, result.stderr  # every case has a failing required flow
    assert result.stderr == ""
    golden(GOLDEN / f"{case}.{FORMATS[fmt]}", result.stdout)


def test_windows_target_writes_each_hosts_rules(golden: Callable[[Path, str], None]) -> None:
    result = run(
        "merge", *CASES["lab"], "--target", "windows", "--target", "iptables", "-f", "json"
    )
    assert result.exit_code == 1, result.stderr
    import json

    configs = json.loads(result.stdout)["changes"]["configs"]
    assert [(c["target"], c["host"]) for c in configs] == [
        ("windows", "sync01"),
        ("windows", "dc01"),
        ("iptables", None),
    ]
    assert "New-NetFirewallRule" in configs[0]["text"]
    assert "-A FORWARD" in configs[2]["text"]
