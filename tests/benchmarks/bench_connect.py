"""Benchmark the connect family on this machine: cells per second, the slowest cell,
and the whole family's time (TCP and UDP). Not a test: it reports, it does not assert.

    python tests/benchmarks/bench_connect.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from conformance.families.connect import observe, scenarios
from conformance.machine import measure
from conformance.platform_model import load_platform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the family (default 20)")
    args = parser.parse_args()
    cells = list(scenarios())
    machine = measure()
    platform = load_platform(machine.os)
    per_cell: dict[str, list[float]] = {s.id: [] for s in cells}
    family_times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for scenario in cells:
            t0 = time.perf_counter()
            observe(scenario, machine, platform)
            per_cell[scenario.id].append(time.perf_counter() - t0)
        family_times.append(time.perf_counter() - start)
    slowest_id, slowest = max(((k, max(v)) for k, v in per_cell.items()), key=lambda kv: kv[1])
    median_family = statistics.median(family_times)
    for proto in ("tcp", "udp"):
        worst = [max(v) for k, v in per_cell.items() if k.startswith(f"connect/{proto}/")]
        print(f"{proto}: {len(worst)} cells, slowest {max(worst) * 1000:.1f} ms")
    print(f"connect family: {len(cells)} cells, median {median_family * 1000:.1f} ms per pass "
          f"({len(cells) / median_family:.0f} cells/s) over {args.rounds} passes, "
          f"worst pass {max(family_times) * 1000:.1f} ms")
    print(f"slowest cell: {slowest_id} {slowest * 1000:.1f} ms")


if __name__ == "__main__":
    main()
