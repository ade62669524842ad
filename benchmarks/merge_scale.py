"""How merge scales: 500 source hosts, about 200 checks each, into every format.

Generates a topology of 500 hosts (14 DCs, 8 AD FS, 8 WAP, the rest Connect and PTA
servers: about 100,000 planned checks, 200 per source on average), writes one probe
result file per host in a temporary directory (the JSON `probe --format json`
writes, with verdicts drawn deterministically: mostly open, some filtered, closed, error,
skipped), merges them with and without --topology and renders every format. Prints time,
peak memory (the process's peak RSS) and output sizes.

Then opens the HTML report in headless Chromium (/usr/bin/chromium through Playwright)
and times loading it and filtering its table. Baseline, measured in the same run: the
same rows as a plain static HTML table without any script, which is what the simplest
possible report costs a browser to open; the ratio says what the interactive report costs
on top of that (below 1: it is cheaper, because only one page of rows is ever in the DOM).

    python benchmarks/merge_scale.py [--sources 500] [--checks 200] [--no-browser]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import html
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridports.catalog import load_catalog
from hybridports.merge import merge
from hybridports.plan import PlannedFlow, plan
from hybridports.provenance import provenance
from hybridports.report import REPORTERS, RenderOptions
from hybridports.topology import load_topology

CHROMIUM = "/usr/bin/chromium"
LIMIT_MS = 300_000  # a page that takes longer than this to open is not usable anyway
ROLES = ("connect", "pta-agent")


DCS, ADFS, WAP = 14, 8, 8  # the rest: Connect and PTA servers, alternately


def topology_yaml(sources: int) -> str:
    lines = [
        "name: fleet",
        "features: [password-hash-sync, pass-through-auth, federation, health-agent]",
        "rpc_dynamic_ports: 49152-49200",
        "hosts:",
    ]
    for prefix, count, net in (("dc", DCS, 1), ("adfs", ADFS, 2), ("wap", WAP, 3)):
        for i in range(count):
            lines += [f"  {prefix}{i:02d}:", f"    address: 10.1.{net}.{10 + i}"]
            lines += [f"    roles: [{prefix}]"]
    for i in range(sources - DCS - ADFS - WAP):
        lines += [
            f"  {ROLES[i % 2].split('-')[0]}{i:03d}:",
            f"    address: 10.{2 + i // 2500}.{i // 10 % 250}.{10 + i % 10}",
            f"    roles: [{ROLES[i % 2]}]",
        ]
    return "\n".join(lines) + "\n"


def _verdict(key: str) -> tuple[str, str]:
    roll = int(hashlib.sha256(key.encode()).hexdigest()[:4], 16) % 1000
    if roll < 20:
        return "filtered", "no answer within 3s"
    if roll < 30:
        return "closed", "connection refused: TCP RST from the target"
    if roll < 35:
        return "error", "TCP connected, but no LDAP reply within 3s"
    if roll < 50:
        return "skipped", "a wildcard name: give a concrete name in endpoint_samples to test it"
    return "open", "the service answered in its own protocol"


def _row(flow: PlannedFlow, port: int) -> dict[str, Any]:
    verdict, detail = _verdict(f"{flow.source}|{flow.destination}|{flow.catalog_id}|{port}")
    return {
        "destination": flow.destination,
        "address": flow.destination_address,
        "protocol": flow.protocol,
        "transport": flow.transport.value,
        "port": None if verdict == "skipped" else port,
        "flow_ports": flow.ports.as_list(),
        "required": flow.required,
        "verdict": verdict,
        "detail": detail,
        "elapsed_ms": 1.0,
        "catalog_id": flow.catalog_id,
        "probe": "tcp",
        "tested_name": None,
        "via": None,
        "facts": {},
    }


def write_files(directory: Path, sources: int, checks: int) -> tuple[Path, list[Path], int]:
    topo_path = directory / "fleet.yaml"
    topo_path.write_text(topology_yaml(sources), encoding="utf-8")
    topology = load_topology(topo_path)
    result = plan(topology, load_catalog())
    head = provenance(topology, "probe")
    paths, total = [], 0
    for host in topology.hosts:
        rows: list[dict[str, Any]] = []
        for flow in result.flows_from(host.name):
            rows.append(_row(flow, flow.ports.low))
            if flow.rpc_dynamic:  # the endpoint mapper hands out a second port
                rows.append(_row(flow, flow.ports.low + 1))
        rows = rows[:checks] if checks else rows
        total += len(rows)
        data = {**head, "source": host.name, "source_address": host.address, "results": rows}
        path = directory / f"{host.name}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        paths.append(path)
    return topo_path, paths, total


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def static_table(document: Any) -> str:
    """The baseline page: every row of the matrix as plain HTML, no script."""
    table = document.flat_table()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>\n"
        for row in table.rows
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>baseline</title></head>'
        f"<body><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )


FILTER_JS = """async ([selector, value, kind]) => {
  const element = document.querySelector(selector);
  const status = document.getElementById('status');
  const changed = new Promise(resolve => new MutationObserver((_, o) => {
    o.disconnect();
    resolve();
  }).observe(status, {childList: true, characterData: true, subtree: true}));
  const start = performance.now();
  element.value = value;
  element.dispatchEvent(new Event(kind));
  await changed;
  await new Promise(requestAnimationFrame);
  return performance.now() - start;
}"""

SORT_JS = """async (selector) => {
  const start = performance.now();
  document.querySelector(selector).click();
  await new Promise(requestAnimationFrame);
  return performance.now() - start;
}"""


def browser(report: Path, baseline: Path) -> None:
    try:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser: skipped (pip install playwright)")
        return
    if not Path(CHROMIUM).exists():
        print(f"browser: skipped (no {CHROMIUM}; apt-get install chromium)")
        return
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

        def load(path: Path, ready: str) -> tuple[float, Any]:
            page = chromium.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            page.goto(path.as_uri(), timeout=LIMIT_MS)
            page.wait_for_selector(ready, state="attached", timeout=LIMIT_MS)
            page.evaluate("() => new Promise(requestAnimationFrame)")
            return time.perf_counter() - start, page

        warm = chromium.new_page()  # the first page pays the browser's start, not a baseline
        warm.goto("about:blank")
        warm.close()
        try:
            base_s, base_page = load(baseline, "table")
            base_page.close()
        except PlaywrightTimeout:
            base_s = float("inf")
        ours_s, page = load(report, "body[data-ready=true]")
        verdict = page.eval_on_selector(
            "select[data-column='0']",
            "s => Array.from(s.options).find(o => o.textContent.startsWith('filtered')).value",
        )
        text_ms = page.evaluate(FILTER_JS, ["#text", "dc03", "input"])
        clear_ms = page.evaluate(FILTER_JS, ["#text", "", "input"])
        sort_ms = page.evaluate(SORT_JS, "th button[data-column='3']")  # every row
        select_ms = page.evaluate(FILTER_JS, ["select[data-column='0']", verdict, "change"])
        shown = page.text_content("#status")
        page.close()
        chromium.close()
    base = f"{base_s:.2f} s" if base_s != float("inf") else f"> {LIMIT_MS // 1000} s (gave up)"
    print(
        f"browser: load the report {ours_s:.2f} s; baseline (static table) {base}; "
        f"ratio {ours_s / base_s:.3f}"
    )
    print(
        f"browser: text filter 'dc03' {text_ms:.0f} ms (includes the 120 ms typing pause), "
        f"clear {clear_ms:.0f} ms, sort every row by port {sort_ms:.0f} ms, verdict filter "
        f"{select_ms:.0f} ms; status after: {shown}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=500)
    parser.add_argument(
        "--checks", type=int, default=0, help="at most this many checks per source (0: all)"
    )
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        seconds, (topo, paths, total) = timed(
            lambda: write_files(directory, args.sources, args.checks)
        )
        size = sum(p.stat().st_size for p in paths)
        print(
            f"input: {len(paths)} probe files, {total} checks, {size / 1e6:.1f} MB "
            f"(written in {seconds:.1f} s)"
        )
        for label, topology in (("without --topology", None), ("with --topology", topo)):
            before = peak_mb()
            seconds, document = timed(lambda t=topology: merge(paths, t, None))
            m = document.matrix
            print(
                f"merge {label}: {seconds:.2f} s, {len(m.cells)} cells, "
                f"{len(m.failing)} required failing, {len(document.changes.rules)} changes, "
                f"peak RSS {peak_mb():.0f} MB (was {before:.0f})"
            )
        for name in ("table", "json", "csv", "markdown", "junit", "html"):
            seconds, text = timed(
                lambda n=name: REPORTERS[n].render(document, RenderOptions(width=160))
            )
            print(
                f"  {name:9s} {seconds:6.2f} s  {len(text.encode()) / 1e6:7.2f} MB  "
                f"peak RSS {peak_mb():.0f} MB"
            )
            if name == "html":
                report = directory / "report.html"
                report.write_text(text, encoding="utf-8")
        baseline = directory / "baseline.html"
        baseline.write_text(static_table(document), encoding="utf-8")
        print(
            f"html: report {report.stat().st_size / 1e6:.2f} MB; "
            f"baseline static table {baseline.stat().st_size / 1e6:.2f} MB"
        )
        if not args.no_browser:
            browser(report, baseline)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
