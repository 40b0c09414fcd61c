"""Compare two run records cell by cell: what was observed and the verdict, ignoring what
changes from run to run (timings, notes): ``python -m matrix.compare OLD.json NEW.json``.
Exit 0 when every cell they share was observed and judged alike, 1 otherwise; cells only
one of them has are listed. Used to show that moving code changed no behaviour (the
expectations' wording and sources may change; ``dualstack diff`` compares matrices)."""

from __future__ import annotations

import sys
from typing import Any

from matrix import record

COMPARED = ("params", "observed", "verdict")
VOLATILE_OBSERVED = {"notes"}


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    kept = {k: entry.get(k) for k in COMPARED}
    kept["observed"] = {k: v for k, v in entry["observed"].items() if k not in VOLATILE_OBSERVED}
    return kept


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per difference; empty when the records agree."""
    before = {e["id"]: comparable(e) for e in old["results"]}
    after = {e["id"]: comparable(e) for e in new["results"]}
    lines = [f"only in old: {cell}" for cell in sorted(before.keys() - after.keys())]
    lines += [f"only in new: {cell}" for cell in sorted(after.keys() - before.keys())]
    for cell in sorted(before.keys() & after.keys()):
        for key in sorted(before[cell].keys() | after[cell].keys()):
            if before[cell].get(key) != after[cell].get(key):
                lines.append(f"{cell}: {key}: {before[cell].get(key)!r} -> {after[cell].get(key)!r}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m matrix.compare OLD.json NEW.json", file=sys.stderr)
        return 2
    try:
        old, new = (record.load(path) for path in argv)
    except record.RecordError as exc:
        print(f"matrix.compare: {exc}", file=sys.stderr)
        return 2
    lines = compare(old, new)
    print("\n".join(lines) if lines else f"{len(old['results'])} cells: identical apart from timings")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
