"""The HTML report in a real headless Chromium (Debian's, driven by Playwright; nothing
downloaded), built from the records committed in reports/runs/, at a desktop width
(1400 px) and a phone width (400 px): answers first, no sideways page, a detail panel that
opens where it is seen and closes on Esc, a matrix header that stays in view, the state
in the URL, no console errors, and an axe-core scan without serious or critical issues."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.families import all_scenarios
from tests.conftest import ROOT, run_dualstack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: apt-get install chromium "
                                                          "(.ci/run installs Debian's)")
CELL = "connect/tcp/bind=::/v6only=default/client=ipv4"
DEFAULT = "linux-6.18.44-fc-v657-py3.11-default"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
AXE = "axe-core@4.14.1"
DESKTOP, PHONE = {"width": 1400, "height": 900}, {"width": 400, "height": 850}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    """The report of the committed records, built once for this module."""
    out = tmp_path_factory.mktemp("report")
    done = run_dualstack("report", str(ROOT / "reports" / "runs"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return (out / "behavior-report.html").as_uri()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser, url: str, viewport: dict):
    """A page with its console errors collected in page.errors."""
    page = browser.new_page(viewport=viewport)
    page.errors = []
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url)
    return page


def inside_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and \
        box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5


def open_cell(page, row_id: str, column: str):
    """Open the cell's family and group (unless open), then click the cell."""
    group = page.evaluate("id => JSON.parse(document.getElementById('data').textContent).rows"
                          ".find(r => r.id === id).group", row_id)
    for toggle in (f'#matrix button[data-family="{row_id.split("/")[0]}"]', f'#matrix button[data-group="{group}"]'):
        if page.locator(toggle).get_attribute("aria-expanded") == "false":
            page.locator(toggle).click()
    cell = page.locator(f'#matrix tr.cellrow[data-id="{row_id}"]').locator(f'td[data-col="{column}"]')
    cell.click()
    return cell


def screenshot(page, name: str, tmp_path: Path) -> None:
    """The first screen, kept where DUALSTACK_SCREENSHOT_DIR says (the README's pictures)."""
    path = Path(os.environ.get("DUALSTACK_SCREENSHOT_DIR", tmp_path)) / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400px", "400px"])
def test_the_answers_grid_is_the_first_content_and_the_page_never_scrolls_sideways(browser, report, viewport,
                                                                                  tmp_path):
    page = open_page(browser, report, viewport)
    first = page.evaluate("document.querySelector('main').firstElementChild.id")
    assert first == "answers-section"
    grid = page.locator("#answers-grid").bounding_box()
    assert grid["y"] < viewport["height"] * 0.6  # on the first screen, below the title only
    assert page.locator("#answers-grid tbody th").first.inner_text().startswith("Default IPV6_V6ONLY")
    # the page itself is never wider than the window: wide tables scroll inside their box
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.evaluate("document.querySelectorAll('h1:not([id]), h2:not([id]), h3:not([id])').length") == 0
    # the filter bar folds on a phone and is open on a desktop
    assert page.locator("#filters").evaluate("d => d.open") == (viewport is DESKTOP)
    screenshot(page, f"report-first-screen-{viewport['width']}.png", tmp_path)
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400px", "400px"])
def test_a_clicked_cell_opens_inside_the_viewport_is_marked_and_esc_closes_it(browser, report, viewport):
    page = open_page(browser, report, viewport)
    cell = open_cell(page, CELL, DEFAULT)
    assert page.locator("#detail").is_visible() and inside_viewport(page, "#detail")
    assert "selected" in cell.get_attribute("class") and cell.get_attribute("aria-current") == "true"
    if viewport is PHONE:  # a bottom sheet: the full width, at the bottom, the page still above it
        box = page.locator("#detail").bounding_box()
        assert box["width"] == viewport["width"] and box["y"] > viewport["height"] * 0.3
    assert CELL in page.locator("#d-title").inner_text()
    assert "conforms" in page.locator("#d-verdict").inner_text()
    assert page.locator("#d-behaviour").inner_text() == "served"
    assert "::ffff:127.0.0.1" in page.locator("#d-observed").inner_text()
    assert "IPV6_V6ONLY" in page.locator("#d-because").inner_text()
    assert page.locator("#d-sources a").first.get_attribute("href").startswith("https://")
    assert "import socket" in page.locator("#d-repro").inner_text()
    assert page.locator("#d-test").inner_text() == "test_connect[tcp-bind=::-v6only=default-client=ipv4]"
    assert page.locator("#d-default").inner_text() == "this is the default column"
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden()
    assert "selected" not in cell.get_attribute("class")
    assert "cell=" not in page.url
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400px", "400px"])
def test_the_matrix_header_and_first_column_stay_visible_while_it_scrolls(browser, report, viewport):
    page = open_page(browser, report, viewport)
    if not page.locator("#filters").evaluate("d => d.open"):
        page.click("#filters summary")  # folded on a phone
    page.click("#expand-all")
    page.locator("#grid").scroll_into_view_if_needed()
    page.locator("#grid").evaluate("g => { g.scrollTop = 3000; g.scrollLeft = 600; }")
    grid = page.locator("#grid").bounding_box()
    header = page.locator("#matrix thead th[data-col]").first.bounding_box()
    assert abs(header["y"] - grid["y"]) <= 2  # still at the top of the scroll box
    assert inside_viewport(page, "#matrix thead th.corner")
    visible_row = page.evaluate("""() => {
        const g = document.getElementById('grid').getBoundingClientRect();
        const th = [...document.querySelectorAll('#matrix tr.cellrow:not([hidden]) th.id')]
            .find(t => t.getBoundingClientRect().top > g.top + 40);
        return [th.getBoundingClientRect().left - g.left, th.innerText];
    }""")
    assert abs(visible_row[0]) <= 2 and visible_row[1]  # the row names stay at the left edge
    assert page.locator("#matrix thead th.corner").bounding_box()["width"] < 300  # short labels
    assert page.errors == []
    page.close()


def test_the_hierarchy_is_collapsed_with_counts_and_filters_live_in_the_url(browser, report):
    page = open_page(browser, report, DESKTOP)
    assert page.locator("#matrix tr.cellrow:visible").count() == 0  # collapsed by default
    heads = page.locator("#matrix tr.fam-head").all_inner_texts()
    assert any(h.startswith("connect") and "88 rows" in h for h in heads)
    total = page.evaluate("JSON.parse(document.getElementById('data').textContent).rows.length")
    assert total == len(all_scenarios()) and page.locator("#matrix tr.cellrow").count() == 0  # built when opened
    assert page.locator("#count").inner_text() == f"{total} of {total} cells match"
    page.select_option("#f-family", "connect")
    page.select_option("#f-proto", "tcp")
    assert page.locator("#count").inner_text() == f"44 of {total} cells match"
    assert "family=connect" in page.url and "proto=tcp" in page.url
    page.check("#f-differ")  # only cells that differ from their platform's default column
    differing = int(page.locator("#count").inner_text().split()[0])
    assert 0 < differing < 44
    open_cell(page, "connect/tcp/bind=::1/v6only=0/client=ipv4", "linux-6.18.44-fc-v657-py3.11-disable_ipv6")
    assert page.locator("#d-default").inner_text().startswith("differs: ECONNREFUSED on Linux 6.18 · default")
    page.goto(page.url)  # a reload shows the same filters and the same open cell
    assert page.locator("#f-family").input_value() == "connect" and page.locator("#f-differ").is_checked()
    assert "bind=::1/v6only=0/client=ipv4" in page.locator("#d-title").inner_text()
    assert page.errors == []
    page.close()


def test_an_answer_opens_its_evidence_and_documented_columns_stay_apart(browser, report):
    page = open_page(browser, report, DESKTOP)
    row = page.locator("#answers-grid tbody tr").nth(1)  # [::] serves IPv4, OS default
    assert row.locator("td").nth(0).inner_text().strip().endswith("yes")  # Linux default column
    row.locator("td").nth(0).locator("a").click()
    assert page.locator("#d-answer").is_visible()
    evidence = page.locator("#d-evidence button")
    assert evidence.all_inner_texts() == [CELL]
    evidence.first.click()
    assert CELL in page.locator("#d-title").inner_text() and page.locator("#d-cell").is_visible()
    page.keyboard.press("Escape")
    documented = page.locator("#answers-grid thead th.doc")
    assert documented.count() >= 4 and "documented" in documented.first.inner_text()
    assert page.locator("#answers-grid td.doc .q").count() > 0  # "?" where a platform documents nothing
    assert page.locator("#answers-grid td.doc .low").count() > 0  # low confidence is shown
    open_cell(page, CELL, "documented-windows")
    assert "not observed on this platform" in page.locator("#d-observed").inner_text()
    assert page.errors == []
    page.close()


@pytest.fixture(scope="module")
def axe_source(tmp_path_factory) -> str:
    """axe-core from npm, installed into this test's own folder."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed, so axe-core cannot be: apt-get install npm, then npm install {AXE}")
    folder = tmp_path_factory.mktemp("axe")
    done = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder), AXE],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"npm install {AXE} failed: {done.stderr[-2000:]}"
    return (folder / "node_modules" / "axe-core" / "axe.min.js").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400px", "400px"])
def test_axe_finds_no_serious_or_critical_accessibility_issue(browser, report, axe_source, viewport):
    page = open_page(browser, report, viewport)
    open_cell(page, CELL, DEFAULT)  # the open panel, an open group and a selected cell are scanned too
    page.add_script_tag(content=axe_source)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["target"]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, indent=1)
    page.close()
