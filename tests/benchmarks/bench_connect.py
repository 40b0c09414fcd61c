"""Benchmark the connect family on this machine: cells per second, the slowest cell,
and the whole family's time (TCP and UDP). Not a test: it reports, it does not assert.

    python tests/benchmarks/bench_connect.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from conformance.probe import observe
from conformance.scenario import connect_scenarios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the family (default 20)")
    args = parser.parse_args()
    scenarios = list(connect_scenarios())
    per_cell: dict[str, list[float]] = {s.id: [] for s in scenarios}
    family_times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for scenario in scenarios:
            t0 = time.perf_counter()
            observe(scenario)
            per_cell[scenario.id].append(time.perf_counter() - t0)
        family_times.append(time.perf_counter() - start)
    slowest_id, slowest = max(((k, max(v)) for k, v in per_cell.items()), key=lambda kv: kv[1])
    median_family = statistics.median(family_times)
    for proto in ("tcp", "udp"):
        cells = [max(v) for k, v in per_cell.items() if k.startswith(f"connect/{proto}/")]
        print(f"{proto}: {len(cells)} cells, slowest {max(cells) * 1000:.1f} ms")
    print(f"connect family: {len(scenarios)} cells, median {median_family * 1000:.1f} ms per pass "
          f"({len(scenarios) / median_family:.0f} cells/s) over {args.rounds} passes, "
          f"worst pass {max(family_times) * 1000:.1f} ms")
    print(f"slowest cell: {slowest_id} {slowest * 1000:.1f} ms")


if __name__ == "__main__":
    main()
