"""The merge HTML report in headless Chromium: it loads clean, and its table filters and sorts.

Needs the Debian package chromium (scripts/system-deps.sh) and the Python package
playwright; the browser is the system one (no `playwright install`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clirunner import run
from tests.conftest import ROOT

pytestmark = pytest.mark.peers

CHROMIUM = "/usr/bin/chromium"
DATA = ROOT / "tests" / "data" / "merge"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed"
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _report(tmp_path: Path, *args: str, name: str = "report.html") -> Path:
    out = tmp_path / name
    result = run("merge", *args, "--format", "html", "--output", str(out))
    assert result.exit_code in (0, 1), result.stderr
    return out


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    pages: list[tuple[Any, list[str]]] = []

    def opener(path: Path) -> Any:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
        page.on(
            "request",
            lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(r.url),
        )
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        page.problems = problems
        pages.append((page, problems))
        return page

    yield opener
    for page, problems in pages:
        page.close()
        assert problems == [], problems


def _column(page: Any, index: int) -> list[str]:
    return page.eval_on_selector_all(
        "#table tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent)"
    )


def _choose(page: Any, column: int, label: str) -> None:
    """Pick the drop-down option whose label starts with ``label``."""
    select = f"select[data-column='{column}']"
    labels = page.eval_on_selector_all(f"{select} option", "os => os.map(o => o.textContent)")
    page.select_option(select, label=next(x for x in labels if x.startswith(label)))


def _status(page: Any) -> str:
    return str(page.text_content("#status"))


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return _report(
        tmp_path,
        str(DATA / "lab" / "sync01.json"),
        str(DATA / "lab" / "router-audit.json"),
        "--topology",
        str(ROOT / "examples" / "lab" / "topology.yaml"),
    )


@pytest.fixture
def farm(tmp_path: Path) -> Path:
    return _report(
        tmp_path,
        *(str(p) for p in sorted((DATA / "adfs-farm").glob("*.json"))),
        "--topology",
        str(ROOT / "examples" / "adfs-farm" / "topology.yaml"),
    )


def test_loads_clean_with_diagram_and_table(open_page: Any, lab: Path) -> None:
    page = open_page(lab)
    assert page.locator("svg#diagram").count() == 1
    assert page.locator("svg#diagram .node").count() >= 3
    assert page.locator("svg#diagram path.edge").count() >= 3
    assert page.locator("#table tbody tr").count() == 77
    assert _status(page).startswith("1\u201377 of 77")
    assert "NOT READY" in str(page.text_content(".banner.not-ready"))
    assert "allow tcp from 198.18.1.10 to 198.18.2.10 port 636" in str(page.content())


def test_filter_by_verdict(open_page: Any, lab: Path) -> None:
    page = open_page(lab)
    _choose(page, 0, "skipped (16)")
    assert set(_column(page, 0)) == {"skipped"}
    assert len(_column(page, 0)) == 16
    assert "(filtered from 77)" in _status(page)
    page.select_option("select[data-column='0']", value="failing")
    assert set(_column(page, 0)) == {"blocked", "filtered", "closed", "error", "partial", "unknown"}


def test_badge_sets_the_verdict_filter(open_page: Any, lab: Path) -> None:
    page = open_page(lab)
    page.click(".badge[data-verdict='blocked']")
    assert _column(page, 0) == ["blocked"]


def test_filter_by_text_and_by_source(open_page: Any, farm: Path) -> None:
    page = open_page(farm)
    page.fill("#text", "dc02")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('filtered')"
    )
    rows = page.eval_on_selector_all("#table tbody tr", "rows => rows.map(r => r.textContent)")
    assert rows and all("dc02" in r for r in rows)
    page.fill("#text", "")
    page.wait_for_function(
        "() => !document.getElementById('status').textContent.includes('filtered')"
    )
    _choose(page, 1, "wap01 (")
    assert set(_column(page, 1)) == {"wap01"}


def test_sort_by_port_and_by_verdict(open_page: Any, lab: Path) -> None:
    page = open_page(lab)
    page.click("th button[data-column='3']")
    ports = [int(p.split("/")[0].split("-")[0]) for p in _column(page, 3)]
    assert ports == sorted(ports)
    page.click("th button[data-column='3']")
    ports = [int(p.split("/")[0].split("-")[0]) for p in _column(page, 3)]
    assert ports == sorted(ports, reverse=True)
    page.click("th button[data-column='0']")
    verdicts = _column(page, 0)
    assert verdicts[:3] == ["blocked", "filtered", "closed"] and verdicts[-1] == "open"


def test_pages_of_rows(open_page: Any, farm: Path) -> None:
    page = open_page(farm)
    assert page.locator("#table tbody tr").count() == 100
    page.click("#next")
    page.click("#next")
    assert page.locator("#table tbody tr").count() == 64
    assert _status(page).startswith("201\u2013264 of 264")
    assert page.is_disabled("#next")


def test_diagram_node_filters_the_table(open_page: Any, farm: Path) -> None:
    page = open_page(farm)
    page.click("svg#diagram .node[data-filter='wap01']")
    rows = page.eval_on_selector_all("#table tbody tr", "rows => rows.map(r => r.textContent)")
    assert rows and all("wap01" in r for r in rows)
    assert page.input_value("#text") == "wap01"


def test_hostile_strings_stay_text(open_page: Any, tmp_path: Path) -> None:
    data = json.loads((DATA / "lab" / "sync01.json").read_text(encoding="utf-8"))
    hostile = '</script><script>alert(1)</script><img src=x onerror="alert(2)">'
    data["results"][0]["detail"] = hostile
    data["results"][0]["destination"] = "<svg onload=alert(3)>"
    source = tmp_path / "hostile.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    page = open_page(_report(tmp_path, str(source)))
    assert page.locator("img").count() == 0
    assert page.locator("main svg").count() == 1  # the diagram only
    page.fill("#text", "onerror")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('1\u20131 ')"
    )
    assert hostile in _column(page, 6)[0]
    assert "<svg onload=alert(3)>" in str(page.text_content("svg#diagram"))
