"""Interrupt soak: N runs of ``dualstack run`` interrupted at random moments (half under
-n 2; half by a terminal's Ctrl-C to the process group, half by SIGINT to dualstack
alone), then the counts of what was left behind. Not a test: it reports.

    python tests/benchmarks/soak_interrupts.py [--runs 50] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from tests.interrupts import interrupt  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="interrupts (default 50)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the moments (default: random)")
    parser.add_argument("--longest", type=float, default=8.0, help="latest moment, seconds (default 8)")
    args = parser.parse_args()
    moments = random.Random(args.seed)
    totals: Counter[str] = Counter()
    exits: Counter[int | None] = Counter()
    for i in range(args.runs):
        trial = interrupt(moments.uniform(0.2, args.longest), workers=i % 2 == 1, whole_group=(i // 2) % 2 == 1)
        exits[trial.exit_status] += 1
        totals.update(processes=trial.processes, sockets=trial.sockets, scratch=trial.scratch,
                      damaged=int(trial.record_damaged))
        print(f"{i + 1:3}/{args.runs} at {trial.delay:4.1f} s, {'-n 2' if trial.workers else 'serial'}, "
              f"{'group' if trial.whole_group else 'dualstack'}: exit {trial.exit_status}"
              + ("" if trial.clean else f"  LEFT: {trial}"), flush=True)
    print(f"{args.runs} interrupts: exit statuses {dict(sorted(exits.items(), key=str))}; leaked processes "
          f"{totals['processes']}, bound sockets {totals['sockets']}, scratch folders {totals['scratch']}, "
          f"damaged records {totals['damaged']}")
    return 0 if sum(totals.values()) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
