"""`hybridports merge`: bad input is one `error:` line and exit 2; the matrix is never
silently ready; a real probe's output merges."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.clirunner import Result, run
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "merge"
LAB = DATA / "lab" / "sync01.json"
AUDIT = DATA / "lab" / "router-audit.json"
FARM = DATA / "adfs-farm"


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def _bad(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def test_no_files() -> None:
    _bad(run("merge"), "Missing argument 'RESULT.json'")


def test_missing_file(tmp_path: Path) -> None:
    _bad(run("merge", str(tmp_path / "nope.json")), "nope.json: no such result file")


def test_directory(tmp_path: Path) -> None:
    _bad(run("merge", str(tmp_path)), f"{tmp_path}: is a directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("\n", encoding="utf-8")
    _bad(run("merge", str(path)), "empty.json: empty file")


def test_truncated_file_names_file_and_line(tmp_path: Path) -> None:
    text = LAB.read_text(encoding="utf-8")
    cut = text[: len(text) // 2]
    path = tmp_path / "cut.json"
    path.write_text(cut, encoding="utf-8")
    line = cut.count("\n") + 1
    _bad(run("merge", str(path)), f"cut.json:{line}: truncated JSON")


def test_corrupt_file_names_file_and_line(tmp_path: Path) -> None:
    lines = LAB.read_text(encoding="utf-8").splitlines()
    lines[10] = lines[10] + " garbage"
    path = tmp_path / "bad.json"
    path.write_text("\n".join(lines), encoding="utf-8")
    _bad(run("merge", str(path)), "bad.json:11: corrupt JSON")


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.json"
    path.write_bytes(b'{"a":\n"\xff\xfe"}')
    _bad(run("merge", str(path)), "bin.json:2: not UTF-8")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([1, 2], "not an object"),
        ({"results": []}, "no 'kind' key"),
        ({"kind": "plan"}, "unknown kind 'plan'"),
        ({"kind": "merge"}, "give the probe and audit files"),
        ({"kind": "probe"}, "no 'hybridports' version and schema"),
    ],
)
def test_not_a_result_file(tmp_path: Path, data: object, needle: str) -> None:
    _bad(run("merge", str(_write(tmp_path / "x.json", data))), needle)


def test_old_probe_file_without_provenance(tmp_path: Path) -> None:
    data = _load(LAB)
    for key in ("kind", "hybridports", "topology_digest"):
        del data[key]
    _bad(run("merge", str(_write(tmp_path / "old.json", data))), "older hybridports", "re-run")


def test_other_schema(tmp_path: Path) -> None:
    data = _load(LAB)
    data["hybridports"] = {"version": "9.0.0", "schema": 99}
    _bad(run("merge", str(_write(tmp_path / "new.json", data))), "schema 99", "9.0.0")


def test_different_topologies_name_both_files() -> None:
    _bad(run("merge", str(LAB), str(FARM / "wap01.json")), "wap01.json", "sync01.json", "topology")


def test_same_name_other_digest(tmp_path: Path) -> None:
    data = _load(FARM / "wap01.json")
    data["topology_digest"] = "0" * 64
    other = _write(tmp_path / "wap01-moved.json", data)
    _bad(
        run("merge", str(FARM / "adfs01.json"), str(other)),
        "wap01-moved.json",
        "digest 000000000000",
    )


def test_duplicate_source_names_both_files(tmp_path: Path) -> None:
    copy = tmp_path / "sync01-again.json"
    shutil.copy(LAB, copy)
    _bad(run("merge", str(LAB), str(copy)), "sync01-again.json", str(LAB), "'sync01'")


def test_same_file_twice() -> None:
    _bad(run("merge", str(LAB), str(LAB)), "given twice")


def test_same_policy_twice(tmp_path: Path) -> None:
    copy = tmp_path / "again.json"
    shutil.copy(AUDIT, copy)
    _bad(run("merge", str(AUDIT), str(copy)), "again.json", "audited twice")


def test_topology_digest_must_match() -> None:
    _bad(
        run("merge", str(LAB), "--topology", "examples/adfs-farm/topology.yaml"),
        "sync01.json",
        "adfs-farm",
        "re-run",
    )


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("verdict", "great", "results[0].verdict: 'great'"),
        ("flow_ports", [5, 1], "results[0].flow_ports"),
        ("required", "yes", "results[0].required"),
        ("destination", None, "results[0].destination"),
        ("port", "88", "results[0].port"),
    ],
)
def test_bad_probe_row(tmp_path: Path, field: str, value: object, needle: str) -> None:
    data = _load(LAB)
    data["results"][0][field] = value
    _bad(run("merge", str(_write(tmp_path / "row.json", data))), "row.json", needle)


def test_bad_audit_row(tmp_path: Path) -> None:
    data = _load(AUDIT)
    data["results"][1]["verdict"] = "open"  # a probe verdict in an audit file
    _bad(run("merge", str(_write(tmp_path / "a.json", data))), "results[1].verdict: 'open'")


def test_unknown_target() -> None:
    _bad(run("merge", str(LAB), "--target", "cisco"), "--target 'cisco'")


def test_target_needs_the_topology() -> None:
    _bad(run("merge", str(LAB), "--target", "iptables"), "--target needs --topology")


def test_unknown_format() -> None:
    _bad(run("merge", str(LAB), "--format", "pdf"), "'pdf'")


# -- the matrix is never silently ready ----------------------------------------------------


def _json(*args: str) -> tuple[int, dict[str, Any]]:
    result = run("merge", *args, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_all_open_without_topology_is_ready_but_says_coverage_unknown() -> None:
    code, data = _json(str(FARM / "sync01.json"))
    assert code == 0
    assert data["summary"]["ready"] is True
    assert data["coverage"]["detail"] == "coverage unknown: give --topology"
    table = run("merge", str(FARM / "sync01.json"))
    assert "coverage unknown: give --topology" in table.stdout


def test_hosts_not_probed_make_it_not_ready() -> None:
    code, data = _json(str(FARM / "sync01.json"), "--topology", "examples/adfs-farm/topology.yaml")
    assert code == 1
    assert data["summary"]["ready"] is False
    assert data["coverage"]["not_probed"] == ["dc01", "dc02", "adfs01", "adfs02", "wap01", "wap02"]
    gaps = [r for r in data["results"] if r["verdict"] == "not-probed"]
    assert gaps and {r["source"] for r in gaps} == set(data["coverage"]["not_probed"])
    assert all(r["evidence"][0]["kind"] == "plan" for r in gaps)
    # client networks and the cloud are never expected to run a probe
    assert not any(r["source"] in ("internet", "campus", "entra") for r in gaps)


def test_a_probe_that_left_flows_out_is_a_gap(tmp_path: Path) -> None:
    data = _load(FARM / "sync01.json")
    dropped = data["results"].pop(3)
    path = _write(tmp_path / "sync01.json", data)
    _, merged = _json(str(path))
    assert merged["summary"]["ready"] is True  # without the plan nobody knows
    _, merged = _json(str(path), "--topology", "examples/adfs-farm/topology.yaml")
    gap = next(
        r
        for r in merged["results"]
        if r["source"] == "sync01"
        and r["destination"] == dropped["destination"]
        and r["catalog_id"] == dropped["catalog_id"]
    )
    assert gap["verdict"] == "not-probed"
    assert "has no check for this flow" in gap["evidence"][0]["detail"]


def test_worst_verdict_wins_and_evidence_is_kept() -> None:
    _, data = _json(str(LAB), str(AUDIT))
    cell = next(
        r
        for r in data["results"]
        if r["destination"] == "dc01" and r["catalog_id"] == "connect-dc-ldaps"
    )
    assert cell["verdict"] == "blocked"  # the probe said filtered, the audit blocked
    assert [e["verdict"] for e in cell["evidence"]] == ["filtered", "blocked"]
    assert [e["kind"] for e in cell["evidence"]] == ["probe", "audit"]
    assert cell["change"] == "allow tcp from 198.18.1.10 to 198.18.2.10 port 636 (T1-06 LDAP/SSL)"
    assert data["verdict_order"][0] == "blocked" and data["verdict_order"][-1] == "open"


def test_partial_asks_for_the_blocked_ports_only() -> None:
    _, data = _json(str(LAB), str(AUDIT))
    change = next(
        c for c in data["changes"]["flows"] if c["catalog_id"] == "connect-dc-rpc-dynamic"
    )
    assert change["change"].endswith("ports 49171-49200 (T1-07 RPC)")


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run("merge", str(LAB), "--format", "html", "--output", str(out))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "NOT READY" in result.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".*partial"))


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    data = _load(LAB)
    hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
    data["results"][0]["detail"] = hostile
    data["results"][1]["destination"] = "<svg onload=alert(3)>"
    data["source"] = "sync01<b>"
    path = _write(tmp_path / "hostile.json", data)
    for fmt in ("html", "junit", "markdown", "csv", "json", "table"):
        result = run("merge", str(path), "--format", fmt)
        assert result.exit_code == 1, result.stderr
    html = run("merge", str(path), "--format", "html").stdout
    for raw in ("<script>alert", "<img src=x", "<svg onload", "<b>"):
        assert raw not in html, raw
    assert html.count("<script") == 2  # the data block and the page's own script


def test_real_probe_output_merges(tmp_path: Path) -> None:
    # Given a real probe against nothing on loopback, When merged, Then closed and not ready.
    topology = tmp_path / "topo.yaml"
    topology.write_text(
        "name: t\nfeatures: [password-hash-sync]\nhosts:\n"
        "  sync01: {address: 127.0.0.1, roles: [connect]}\n"
        "  dc01: {address: 127.0.0.2, roles: [dc]}\n",
        encoding="utf-8",
    )
    probe = run(
        "probe", str(topology), "--from", "sync01", "--format", "json", "--only", "ldap,kerberos"
    )
    assert probe.exit_code == 1, probe.stderr
    data = json.loads(probe.stdout)
    assert data["kind"] == "probe" and data["hybridports"]["schema"] == 1
    assert data["topology"] == "t" and len(data["topology_digest"]) == 64
    assert data["source"] == "sync01" and data["source_address"] == "127.0.0.1"
    path = tmp_path / "sync01.json"
    path.write_text(probe.stdout, encoding="utf-8")
    code, merged = _json(str(path), "--topology", str(topology))
    assert code == 1
    verdicts = {r["verdict"] for r in merged["results"]}
    assert "closed" in verdicts and "not-probed" in verdicts  # --only left the rest out
