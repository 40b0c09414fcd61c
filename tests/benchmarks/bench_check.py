"""Benchmark one `dualstack check` of a standard-library server in the default
environment: `python -m http.server --bind :: {port}`, started, waited for, probed from
the three clients, listed and ended. Not a test: it reports, it does not assert.

    python tests/benchmarks/bench_check.py [--rounds N]

Two timings: `check()` in this process (what the pytest fixture costs per call), and the
whole `dualstack check` command, interpreter start included (what a user or CI waits).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from conformance.check import check

SERVER = [sys.executable, "-m", "http.server", "--bind", "::", "{port}"]


def timed(run) -> float:
    start = time.perf_counter()
    status = run()
    assert status == 0, f"the check failed (exit {status}): the benchmark measures a passing check"
    return time.perf_counter() - start


def report(what: str, times: list[float]) -> None:
    print(f"{what}: median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms, "
          f"worst {max(times) * 1000:.0f} ms over {len(times)} rounds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="checks of each kind (default 10)")
    args = parser.parse_args()
    report("check() in-process", [timed(lambda: check(SERVER).exit_status) for _ in range(args.rounds)])
    command = [sys.executable, "-m", "conformance.cli", "check", "--", *SERVER]
    report("dualstack check command", [timed(lambda: subprocess.run(command, capture_output=True).returncode)
                                       for _ in range(args.rounds)])


if __name__ == "__main__":
    main()
