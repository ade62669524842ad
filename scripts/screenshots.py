"""Regenerate docs/screenshots/: the merge HTML report of the examples, in headless Chromium.

    .venv/bin/python scripts/screenshots.py

Needs the Debian package chromium and the Python package playwright (the system browser
is used; no `playwright install`). The reports come from the merge test data
(tests/data/merge/) and, for the grouped diagram, from 60 generated hosts.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from hybridports.merge import merge  # noqa: E402
from hybridports.report import REPORTERS, RenderOptions  # noqa: E402
from merge_scale import write_files  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "docs" / "screenshots"
DATA = ROOT / "tests" / "data" / "merge"


def report(paths: list[Path], topology: Path, target: Path) -> Path:
    document = merge(paths, topology, None)
    target.write_text(REPORTERS["html"].render(document, RenderOptions()), encoding="utf-8")
    return target


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    os.chdir(DATA)  # the reports name the files as given: short relative names
    here = Path()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lab = report(
            [here / "lab" / n for n in ("sync01.json", "router-audit.json", "dc01-audit.json")],
            ROOT / "examples" / "lab" / "topology.yaml",
            work / "lab.html",
        )
        farm = report(
            sorted((here / "adfs-farm").glob("*.json")),
            ROOT / "examples" / "adfs-farm" / "topology.yaml",
            work / "adfs-farm.html",
        )
        topology, paths, _ = write_files(work, 60, 0)
        fleet = report(paths, topology, work / "fleet.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def open_report(path: Path) -> None:
                page.goto(path.as_uri())
                page.wait_for_selector("body[data-ready=true]")

            open_report(lab)
            page.screenshot(path=str(OUT / "merge-lab.png"))
            page.select_option("select[data-column='0']", value="failing")
            page.locator("#checks").screenshot(path=str(OUT / "merge-lab-failing.png"))
            page.locator("section", has_text="Firewall changes to request").screenshot(
                path=str(OUT / "merge-lab-changes.png")
            )
            open_report(farm)
            page.screenshot(path=str(OUT / "merge-adfs-farm.png"))
            open_report(fleet)
            page.locator("#diagram-section").screenshot(path=str(OUT / "merge-fleet-diagram.png"))
            browser.close()
    for path in sorted(OUT.glob("merge-*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
