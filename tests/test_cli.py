"""The command line contract: --help and --version everywhere, JSON alone on stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hybridports import __version__
from tests.clirunner import run
from tests.conftest import EXAMPLES

COMMANDS = ["catalog", "plan"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_and_version_everywhere(command: list[str]) -> None:
    helped = run(*command, "--help")
    assert helped.exit_code == 0 and "Usage:" in helped.stdout
    versioned = run(*command, "--version")
    assert versioned.exit_code == 0 and versioned.stdout.strip() == f"hybridports {__version__}"


def test_format_choices_come_from_the_registry() -> None:
    from hybridports.report import REPORTERS

    helped = run("plan", "--help")
    for name in ("table", "json", "csv", "markdown"):
        assert name in REPORTERS and name in helped.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plan", "--format", "xml", "x.yaml"], "'xml'"),
        (["plan"], "topology"),
        (["catalog", "--cloud", "germany"], "'germany'"),
        (["frobnicate"], "frobnicate"),
        (["plan", "x.yaml", "--no-such-option"], "--no-such-option"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert needle in result.stderr


def test_installed_console_script_and_module_entry_point() -> None:
    topology = str(EXAMPLES / "phs-small" / "topology.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "hybridports", "plan", topology, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["topology"] == "phs-small"
    bad = subprocess.run(
        [sys.executable, "-m", "hybridports", "plan", "/nonexistent/topo.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "error: /nonexistent/topo.yaml: no such topology file\n"
