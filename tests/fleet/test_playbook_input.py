"""The fleet playbook's checks that need no host: syntax, and a bad topology stopping the run
before any host is touched (no root, no lab)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.fleet.support import ANSIBLE_DIR, PLAYBOOK, ansible_playbook


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [ansible_playbook(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp,
        check=False,
    )


@pytest.mark.parametrize("inventory", ["example.yml", "lab.yml"])
def test_syntax(tmp_path: Path, inventory: str) -> None:
    proc = run(
        tmp_path, "--syntax-check", "-i", str(ANSIBLE_DIR / "inventory" / inventory), str(PLAYBOOK)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_bad_topology_stops_the_run_before_any_host(tmp_path: Path) -> None:
    topology = tmp_path / "bad.yaml"
    topology.write_text("name: x\nhosts: [1\n", encoding="utf-8")
    # A host the probe play could never reach: had the run gone on, it would say so.
    (tmp_path / "inventory.yml").write_text(
        "all:\n  children:\n    hybridports:\n      hosts:\n"
        "        sync01: {ansible_connection: netns, ansible_netns: hp-never}\n",
        encoding="utf-8",
    )
    proc = run(
        tmp_path,
        "-i", str(tmp_path / "inventory.yml"), str(PLAYBOOK),
        "-e", f"hybridports_topology={topology}",
        "-e", f"hybridports_output_dir={tmp_path / 'out'}",
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"error: {topology}:3: YAML syntax error" in output, output[-3000:]
    assert "sync01" not in output.split("PLAY RECAP")[0], output[-3000:]


def test_no_topology_is_an_error(tmp_path: Path) -> None:
    proc = run(
        tmp_path,
        "-i",
        str(ANSIBLE_DIR / "inventory" / "example.yml"),
        str(PLAYBOOK),
        "-e",
        "hybridports_topology=",
        "-e",
        f"hybridports_output_dir={tmp_path / 'out'}",
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "error: set hybridports_topology to the topology file" in output, output[-3000:]
