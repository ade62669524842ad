"""Windows text conventions: a cp1252 stdout (Python 3.11 writing to a file or pipe there),
and topology files saved by Notepad (UTF-8 with a BOM, CRLF line ends)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridports.console import utf8_output
from tests.clirunner import run

TOPOLOGY = """\
name: t
features: [password-hash-sync]
hosts:
  sync01: {address: 10.0.0.5, roles: [connect]}  # Entra Connect → DCs
  dc01: {address: 10.0.0.10, roles: [dc]}
"""
WRAPPED = (
    "from hybridports.console import utf8_output; utf8_output(); "
    "from hybridports.cli import main; main()"
)


def _cp1252_run(tmp_path: Path, entry: list[str], *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0", "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, *entry, *args], capture_output=True, env=env, timeout=60, cwd=tmp_path
    )


def _commands(tmp_path: Path) -> list[list[str]]:
    topology = tmp_path / "topo.yaml"
    topology.write_text(TOPOLOGY, encoding="utf-8")
    return [
        ["catalog"],
        ["catalog", "-f", "json"],
        ["plan", str(topology), "-f", "markdown"],
        ["render", str(topology), "-t", "windows", "--host", "dc01"],
    ]


def test_cp1252_stdout_gets_utf8_through_the_helper(tmp_path: Path) -> None:
    for args in _commands(tmp_path):
        done = _cp1252_run(tmp_path, ["-c", WRAPPED], *args)
        assert done.returncode == 0, (args, done.stderr.decode("utf-8", "replace")[-600:])
        text = done.stdout.decode("utf-8")  # UTF-8, whatever the code page
        assert text.strip(), args
    assert "→" in _cp1252_run(tmp_path, ["-c", WRAPPED], "catalog").stdout.decode("utf-8")


def test_cp1252_stdout_does_not_crash_the_real_entry_point(tmp_path: Path) -> None:
    for args in _commands(tmp_path):
        done = _cp1252_run(tmp_path, ["-m", "hybridports"], *args)
        assert done.returncode == 0, (args, done.stderr.decode("utf-8", "replace")[-600:])
        done.stdout.decode("utf-8")


class _Console(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True


def test_the_helper_only_touches_streams_that_cannot_write_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    console = _Console(io.BytesIO(), encoding="cp437", errors="strict")
    monkeypatch.setattr(sys, "stdout", pipe)
    monkeypatch.setattr(sys, "stderr", console)
    utf8_output()
    assert pipe.encoding == "utf-8" and pipe.errors == "strict"
    assert console.encoding == "cp437" and console.errors == "replace"
    console.write("→ …")  # a legacy console shows "?" rather than dying
    utf8 = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", utf8)
    monkeypatch.setattr(sys, "stderr", captured)
    utf8_output()
    assert utf8.encoding == "utf-8" and utf8.errors == "strict"


def test_a_notepad_topology_plans_like_a_unix_one(tmp_path: Path) -> None:
    unix = tmp_path / "unix.yaml"
    unix.write_text(TOPOLOGY, encoding="utf-8")
    notepad = tmp_path / "notepad.yaml"
    notepad.write_bytes(b"\xef\xbb\xbf" + TOPOLOGY.replace("\n", "\r\n").encode("utf-8"))
    expected = run("plan", str(unix), "-f", "json")
    actual = run("plan", str(notepad), "-f", "json")
    assert expected.exit_code == 0 and actual.exit_code == 0, actual.stderr
    assert actual.stdout == expected.stdout
