"""Benchmark the report: merge and render 50 full-size run records (every family, every
cell), and report the time and the peak resident memory. Not a test: it reports, it does not
assert. The records are made from one real run of this machine, each with its own
platform key and a share of changed observations so that rows differ.

    python tests/benchmarks/bench_report.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from matrix import merge, render


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50, help="run records to merge (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--out", str(folder / "base.json"),
                        "-n", "2", "--", "-q"], check=True, capture_output=True)
        base = json.loads((folder / "base.json").read_text())
        paths = make_records(base, args.records, folder)
        rss_before = peak_rss_mib()
        start = time.perf_counter()
        matrix = merge.merge(merge.load_runs(paths))
        merged = time.perf_counter()
        outputs = {"md": render.markdown(matrix), "html": render.html(matrix), "svg": render.svg(matrix),
                   "json": json.dumps(matrix)}
        done = time.perf_counter()
        rss_after = peak_rss_mib()
    sizes = ", ".join(f"{k} {len(v) / 1e6:.1f} MB" for k, v in outputs.items())
    print(f"report: {len(paths)} records x {len(base['results'])} cells: load+validate+merge "
          f"{merged - start:.2f} s, render {done - merged:.2f} s, total {done - start:.2f} s; "
          f"peak RSS {rss_after:.0f} MiB (was {rss_before:.0f} MiB before loading) ({sizes})")


if __name__ == "__main__":
    main()
