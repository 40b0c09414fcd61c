"""Benchmark the runtime axis: `dualstack run --runtime all -n 2` wall time, then each
runtime alone, and where the time goes (the sum of cell times per family). Not a test: it
reports, it does not assert. A runtime that cannot start here is reported as skipped.

    python tests/benchmarks/bench_runtimes.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from matrix import record


def run(*args: str) -> tuple[float, list[Path], str]:
    with tempfile.TemporaryDirectory(prefix="dualstack-bench-") as folder:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "-n", "2", "--out", folder, *args],
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        summaries = []
        for path in sorted(Path(folder).glob("*.json")):
            data = record.load(path)
            verdicts = Counter(r["verdict"] for r in data["results"])
            cells = defaultdict(float)
            for r in data["results"]:
                cells[r["family"]] += r.get("duration_ms", 0) / 1000
            summaries.append(f"  {path.name}: {dict(verdicts)}; cell time per family (s): "
                             + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cells.items())))
        return wall, summaries, f"exit {done.returncode}"


def main() -> int:
    for runtime in ("all", "host", "gvisor", "uml"):
        wall, summaries, status = run("--runtime", runtime)
        print(f"--runtime {runtime} -n 2: {wall:.1f} s wall ({status})")
        print("\n".join(summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
