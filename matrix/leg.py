"""What a deviation does to a CI leg: the policy the workflow applies to every job that
writes run records, so that one platform's surprise never keeps the matrix from being
published.

A leg's records are always uploaded and merged. The leg itself fails only for
  - a harness error: a cell with verdict ``error``, or a run that did not complete
    (``run.exit_status`` other than 0 or 1);
  - a missing promised column: a variant the job promised (``--promise``) with no record;
  - an unexplained deviation: a ``deviates`` cell that does not say what differed
    (``differences``) or where the expectation comes from (``expected.source``/``sources``).
An explained deviation is recorded and reported: a ``::warning::`` annotation on the leg,
the cell in the report, the leg green.

    python -m matrix.leg [--promise VARIANT[,VARIANT...]] FOLDER
exit status: 0 the leg passes, 1 it fails, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matrix import record


def explained(result: dict) -> bool:
    expected = result.get("expected") or {}
    return bool(result.get("differences")) and bool(expected.get("source") or expected.get("sources"))


def judge(runs: list[tuple[Path, dict]], promised: list[str]) -> tuple[list[str], list[str]]:
    """(warnings, failures) for a leg's records, each a one-line message."""
    warnings, failures = [], []
    seen = {data["platform"]["variant"] for _, data in runs}
    failures += [f"no record of the promised column {variant!r}" for variant in promised if variant not in seen]
    for path, data in runs:
        status = data["run"].get("exit_status")
        if status not in (0, 1):
            failures.append(f"{path.name}: the run did not complete (exit status {status})")
        for result in data["results"]:
            where = f"{path.name}: {result['id']}"
            if result["verdict"] == "error":
                failures.append(f"{where}: harness error: {result.get('reason')}")
            elif result["verdict"] == "deviates" and explained(result):
                warnings.append(f"{where}: deviates from {result['expected'].get('source')}")
            elif result["verdict"] == "deviates":
                failures.append(f"{where}: deviates, and the record does not say how or against what source")
    return warnings, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matrix.leg", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", metavar="FOLDER", help="the leg's run records")
    parser.add_argument("--promise", default="", help="variants the leg must have recorded, comma-separated")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"matrix.leg: {folder}: not a folder", file=sys.stderr)
        return 2
    try:
        runs = [(path, record.load(path)) for path in sorted(folder.glob("*.json"))]
    except record.RecordError as exc:
        print(f"matrix.leg: {exc}", file=sys.stderr)
        return 2
    warnings, failures = judge(runs, [v for v in args.promise.split(",") if v])
    for message in warnings:
        print(f"::warning title=Deviation (recorded, reported)::{message}")
    for message in failures:
        print(f"::error title=Leg fails::{message}")
    print(f"{len(runs)} record(s): {len(warnings)} explained deviation(s), {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
