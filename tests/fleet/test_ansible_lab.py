"""The fleet playbook (deploy/ansible/fleet.yml) run for real with ansible-playbook.

The inventory is the lab's network namespaces (deploy/ansible/inventory/lab.yml, reached
with the netns connection plugin): sync01 in hp-client plays the Connect server, lab-dc in
hp-dc plays dc01 (topology name != inventory name), whose Connect Health agent has cloud
flows of its own. With the router dropping client->cloud TCP 443 (scenario
cloud-443-blocked) but forwarding the DC's traffic, the same cloud names must be filtered
from sync01 and open from dc01 -- in each fetched result and in the merged report.

sync01 gets a real install (a wheel of this checkout and an offline wheelhouse built on the
controller: the lab has no route to a package index); lab-dc uses the documented test
shortcut (hybridports_install=existing: the repository's .venv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import Lab
from tests.fleet.support import ANSIBLE_DIR, PLAYBOOK, ansible_playbook

pytestmark = pytest.mark.peers

LAB_INVENTORY = ANSIBLE_DIR / "inventory" / "lab.yml"
SCENARIO = "cloud-443-blocked"
ADDRESSES = {"sync01": "198.18.1.10", "dc01": "198.18.2.10"}
FAILING = ("closed", "filtered", "error")


def merge_available() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "hybridports", "merge", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode == 0


@dataclass
class Run:
    code: int
    output: str
    out_dir: Path
    seconds: float

    def result(self, source: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out_dir / "results" / f"{source}.json").read_text())
        return data

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out_dir / "report.json").read_text())
        return data


def run_playbook(
    tmp: Path, overlay: str, *extra: str, merge: bool = True, timeout: float = 300
) -> Run:
    """ansible-playbook with the lab inventory plus ``overlay`` (more host vars, more hosts)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "overlay.yml").write_text(overlay, encoding="utf-8")
    out_dir = tmp / "out"
    argv = [
        ansible_playbook(),
        "-i", str(LAB_INVENTORY), "-i", str(tmp / "overlay.yml"), str(PLAYBOOK),
        "-e", f"hybridports_output_dir={out_dir}",
        *(() if merge else ("--skip-tags", "merge")),
        *extra,
    ]  # fmt: skip
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_NOCOLOR": "1",
    }
    started = time.monotonic()
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp, check=False
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, out_dir, time.monotonic() - started)


def venv_of_this_python() -> str:
    return sys.prefix


@pytest.fixture(scope="module")
def fleet(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One full run: install on both hosts, probe, fetch, merge (when merge exists)."""
    ansible_playbook()
    lab.scenario(SCENARIO)
    tmp = tmp_path_factory.mktemp("fleet")
    overlay = f"""\
all:
  hosts:
    sync01:
      hybridports_root: {tmp}/hosts/sync01
    lab-dc:
      hybridports_root: {tmp}/hosts/lab-dc
      hybridports_install: existing
      hybridports_venv: {venv_of_this_python()}
"""
    try:
        run = run_playbook(
            tmp, overlay, "-e", "hybridports_wheelhouse=build", merge=merge_available()
        )
    finally:
        lab.scenario("open")
    assert run.code == 0, run.output[-6000:]
    return run


def cloud_rows(result: dict[str, Any], port: int) -> dict[str, str]:
    """tested name -> verdict of the result's checks of cloud names on ``port``."""
    return {
        r["tested_name"]: r["verdict"]
        for r in result["results"]
        if r.get("tested_name") and r["port"] == port
    }


def test_each_host_probes_from_its_own_network_position(fleet: Run) -> None:
    # Given the router drops client->cloud 443 and forwards the DC's traffic
    sync01, dc01 = fleet.result("sync01"), fleet.result("dc01")
    # Then each fetched result is the host's own (topology name, not inventory name)
    assert (sync01["source"], dc01["source"]) == ("sync01", "dc01")
    assert sync01["topology"] == dc01["topology"] == "lab-fleet"
    # And the same cloud names on 443 are filtered from the client side, open from the DC
    from_client, from_dc = cloud_rows(sync01, 443), cloud_rows(dc01, 443)
    common = set(from_client) & set(from_dc)
    assert len(common) >= 5, (sorted(from_client), sorted(from_dc))
    # (dropped: filtered, or "error" when a starved machine lets the check overrun its time)
    assert {from_client[name] for name in common} <= set(FAILING), from_client
    assert "filtered" in {from_client[name] for name in common}, from_client
    assert {from_dc[name] for name in common} == {"open"}, from_dc
    # And port 80 (CRLs), which the scenario lets through, is open from both
    assert set(cloud_rows(sync01, 80).values()) == {"open"}
    assert set(cloud_rows(dc01, 80).values()) == {"open"}
    # And the client's own DC checks went through the router (its Kerberos answered)
    kerberos = [r for r in sync01["results"] if r["port"] == 88 and r["destination"] == "dc01"]
    assert kerberos and {r["verdict"] for r in kerberos} == {"open"}
    # And exit code 1 of a probe (flows failing) did not fail the play
    assert sync01["summary"]["ready"] is False and dc01["summary"]["ready"] is True


def test_the_install_is_real_on_the_wheel_host(fleet: Run) -> None:
    venv = fleet.out_dir.parent / "hosts" / "sync01" / "venv"
    # The wheel of this checkout, installed offline from the controller's wheelhouse
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "hybridports", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and "hybridports" in proc.stdout, proc.stderr
    wheels = {p.name.split("-")[0] for p in (fleet.out_dir / "build" / "wheelhouse").glob("*.whl")}
    assert {"hybridports", "pydantic", "cryptography"} <= wheels
    # The shortcut host installed nothing
    assert not (fleet.out_dir.parent / "hosts" / "lab-dc" / "venv").exists()


def test_the_merged_report_shows_the_difference_per_source(fleet: Run) -> None:
    if not merge_available():
        pytest.skip("`hybridports merge` is not in this checkout yet: probe and fetch only")
    report = fleet.report()
    assert report["summary"]["sources"] == 2
    assert report["summary"]["ready"] is False
    assert report["coverage"]["not_probed"] == []
    rows = [r for r in report["results"] if r["destination_address"] is None]
    by_source: dict[str, set[str]] = {"sync01": set(), "dc01": set()}
    for row in rows:
        if row["ports"] == [443, 443] and row["verdict"] != "skipped":
            by_source[row["source"]].add(row["verdict"])
    # Every cloud 443 flow of the client that was tested is failing, none of the DC's is
    assert by_source["sync01"] and by_source["sync01"] <= set(FAILING), by_source
    assert by_source["dc01"] == {"open"}, by_source
    # The firewall changes to request are the client's 443 flows only
    changes = report["changes"]["flows"]
    assert changes and {c["source"] for c in changes} == {"sync01"}
    assert all(c["ports"] == [443, 443] for c in changes if c["destination"] != "dc01")
    # The HTML report stands alone and names both sources
    html = (fleet.out_dir / "report.html").read_text(encoding="utf-8")
    assert "sync01" in html and "dc01" in html
    assert "<script src=" not in html and '<link rel="stylesheet" href=' not in html


def test_a_missing_or_unknown_host_fails_the_run_and_names_it(
    lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given one good host, one that plays dc01 from a namespace that does not exist, and one
    # that plays a host the topology does not have (no install, no wheel: fast)
    ansible_playbook()
    tmp = tmp_path_factory.mktemp("fleet-gaps")
    overlay = f"""\
all:
  children:
    hybridports:
      hosts:
        ghost:
          ansible_netns: hp-nosuch
          hybridports_host: dc01
        stranger:
          ansible_netns: hp-client
          hybridports_host: nosuch01
  hosts:
    sync01:
      hybridports_root: {tmp}/hosts/sync01
  vars:
    hybridports_install: existing
    hybridports_venv: {venv_of_this_python()}
    hybridports_build_wheel: false
    hybridports_only: [kerberos]
"""
    run = run_playbook(tmp, overlay, "-e", "hybridports_hosts=sync01:ghost:stranger")
    # Then the run fails, and says why for each
    assert run.code != 0, run.output[-4000:]
    assert "'nosuch01', which is not a host of the topology" in run.output, run.output[-4000:]
    assert "network namespace 'hp-nosuch' does not exist" in run.output, run.output[-4000:]
    # And the good host's result is fetched; the two others are named as missing
    assert run.result("sync01")["source"] == "sync01"
    assert sorted(p.name for p in (run.out_dir / "results").iterdir()) == ["sync01.json"]
    if merge_available():
        assert "no result from dc01, nosuch01" in run.output, run.output[-4000:]
        # And the merged report marks dc01 as not probed instead of calling it ready
        report = run.report()
        assert report["summary"]["ready"] is False
        assert "dc01" in json.dumps(report["coverage"]["not_probed"])


def test_two_inventory_hosts_playing_one_topology_host_is_an_error(
    lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ansible_playbook()
    tmp = tmp_path_factory.mktemp("fleet-twins")
    overlay = """\
all:
  children:
    hybridports:
      hosts:
        twin:
          ansible_netns: hp-client
          hybridports_host: sync01
  vars:
    hybridports_build_wheel: false
"""
    run = run_playbook(tmp, overlay, "-e", "hybridports_hosts=sync01:twin")
    assert run.code != 0
    assert "several inventory hosts play the same topology host: sync01, sync01" in run.output
    assert not (run.out_dir / "results" / "sync01.json").exists()
