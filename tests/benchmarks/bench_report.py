"""Benchmark the report: merge and render this machine's committed records
(reports/runs/) and then 50 full-size run records (every family, every cell), and report
the render time, the peak resident memory, the sizes, and when the HTML page is usable
(DOMContentLoaded, median of 5 loads in headless Chromium). Not a test: it reports, it does
not assert. The 50 records are copies of this machine's default record, each with its own
platform key and a share of changed observations so that rows differ.

    python tests/benchmarks/bench_report.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from conformance.documented import documented_columns
from matrix import merge, picture, render

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "reports" / "runs"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (Linux and macOS report it in different units)."""
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def make_records(base: dict, count: int, folder: Path) -> list[Path]:
    paths = []
    for i in range(count):
        data = json.loads(json.dumps(base))
        data["platform"]["variant"] = f"bench{i:02d}"
        for j, result in enumerate(data["results"]):
            if (i + j) % 17 == 0 and result["verdict"] == "conforms" and result["observed"]["outcome"] == "ok":
                result["observed"] = {"outcome": "refused", "errno": "ECONNREFUSED"}
                result["verdict"] = "deviates"
        path = folder / f"run-{i:02d}.json"
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def dom_content_loaded_ms(page: Path) -> float | None:
    """Median DOMContentLoaded of five loads of the page in headless Chromium, or None
    without Playwright or a Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            times = []
            for _ in range(5):
                tab = browser.new_page(viewport={"width": 1400, "height": 900})
                tab.goto(page.as_uri())
                times.append(tab.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"))
                tab.close()
        finally:
            browser.close()
    return statistics.median(times)


def measure(name: str, paths: list[Path], folder: Path) -> None:
    rss_before = peak_rss_mib()
    start = time.perf_counter()
    runs = merge.load_runs(paths)
    matrix = merge.merge(runs, documented_columns({data["platform"]["os"] for _, data in runs}))
    merged = time.perf_counter()
    outputs = {"md": render.markdown(matrix), "html": render.html(matrix), "svg": picture.svg(matrix),
               "json": json.dumps(matrix)}
    done = time.perf_counter()
    rss_after = peak_rss_mib()
    page = folder / f"{name}.html"
    page.write_text(outputs["html"], encoding="utf-8")
    loaded = dom_content_loaded_ms(page)
    sizes = ", ".join(f"{k} {len(v.encode()) / 1e6:.2f} MB" for k, v in outputs.items())
    usable = f"DOMContentLoaded {loaded:.0f} ms" if loaded is not None else "DOMContentLoaded not measured " \
        "(pip install playwright; apt-get install chromium)"
    print(f"report, {name}: {len(paths)} records x {len(matrix['rows'])} cells: load+validate+merge "
          f"{merged - start:.2f} s, render {done - merged:.2f} s; peak RSS {rss_after:.0f} MiB (was "
          f"{rss_before:.0f} MiB before loading); {usable}; {sizes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50, help="run records to merge (default 50)")
    args = parser.parse_args()
    committed = sorted(RUNS.glob("*.json"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        measure("this machine", committed, folder)
        base = json.loads(next(p for p in committed if p.stem.endswith("-default")).read_text())
        measure(f"{args.records} records", make_records(base, args.records, folder), folder)


if __name__ == "__main__":
    main()
